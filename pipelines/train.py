"""Train one model: `python pipelines/train.py model=resnet20 trainer.epochs=3` (or `make train`).

With `--multirun` (`make sweep`) each job is one trial of a sweep and returns its validation
metric (`sweep.metric`) to the sweeper.
"""

import hydra
from omegaconf import DictConfig

from cnnlab import cli, native_logs
from cnnlab.config import typed


@hydra.main(config_path="../conf", config_name="train", version_base="1.3")
@cli.one_line_errors
def main(cfg: DictConfig) -> float | None:
    """Return the sweep objective in a sweep's job; None in a single run."""
    run_cfg = typed(cfg)  # the typed config, every value checked, before the heavy imports
    native_logs.import_tensorflow()  # only once Hydra has parsed the command line
    from cnnlab.training import train

    if not cli.in_multirun_job():
        train(run_cfg)
        return None
    from cnnlab.training.objective import require_validation_split, sweep_objective
    from hydra_plugins.cnnlab_optuna_sweeper import trial_callbacks

    require_validation_split(run_cfg)
    return sweep_objective(train(run_cfg, callbacks=trial_callbacks(run_cfg)), run_cfg.sweep)


if __name__ == "__main__":
    cli.run(main, config_name="train")
