"""An ensemble: `python pipelines/ensemble.py ensemble.members=5` (or `make ensemble`)."""

import hydra
from omegaconf import DictConfig

import cnnlab.config.ensemble  # noqa: F401  (registers the `ensemble` schema)
from cnnlab.cli import precheck_command_line, user_errors_exit


@hydra.main(config_path="../conf", config_name="ensemble", version_base="1.3")
@user_errors_exit
def main(cfg: DictConfig) -> float:
    """Return the ensemble's test accuracy."""
    from hydra.core.hydra_config import HydraConfig

    from cnnlab.ensemble import build_ensemble

    result = build_ensemble(cfg, output_dir=HydraConfig.get().runtime.output_dir)
    return result.accuracy[cfg.ensemble.export]


if __name__ == "__main__":
    precheck_command_line()
    main()
