"""An ensemble: `python pipelines/ensemble.py ensemble.members=5` (or `make ensemble`)."""

import hydra
from omegaconf import DictConfig

from cnnlab import cli, native_logs


@hydra.main(config_path="../conf", config_name="ensemble", version_base="1.3")
@cli.one_line_errors
def main(cfg: DictConfig) -> float:
    """Return the ensemble's test accuracy."""
    from hydra.core.hydra_config import HydraConfig

    native_logs.import_tensorflow()
    from cnnlab.ensemble import build_ensemble

    result = build_ensemble(cfg, output_dir=HydraConfig.get().runtime.output_dir)
    return result.accuracy[cfg.ensemble.export]


if __name__ == "__main__":
    cli.run(main)
