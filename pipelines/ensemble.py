"""An ensemble: `python pipelines/ensemble.py ensemble.members=5` (or `make ensemble`)."""

import hydra
from omegaconf import DictConfig

from cnnlab import cli, native_logs
from cnnlab.config import EnsembleRunConfig, typed


@hydra.main(config_path="../conf", config_name="ensemble", version_base="1.3")
@cli.one_line_errors
def main(cfg: DictConfig) -> float:
    """Return the ensemble's test accuracy."""
    from hydra.core.hydra_config import HydraConfig

    run_cfg = typed(cfg, EnsembleRunConfig)  # every value checked, before the heavy imports
    native_logs.import_tensorflow()
    from cnnlab.ensemble import build_ensemble

    result = build_ensemble(run_cfg, output_dir=HydraConfig.get().runtime.output_dir)
    return result.accuracy[run_cfg.ensemble.export]


if __name__ == "__main__":
    cli.run(main)
