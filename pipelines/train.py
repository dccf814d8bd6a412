"""Train one model: `python pipelines/train.py model=resnet20 trainer.epochs=3` (or `make train`).

With `--multirun` (`make sweep`) each job is one trial of a sweep and returns its validation
metric (`sweep.metric`) to the sweeper.
"""

import hydra
from omegaconf import DictConfig

import cnnlab.config.sweep  # noqa: F401  (registers the sweep/base schema before Hydra composes)
from cnnlab.cli import in_multirun_job, precheck_command_line, user_errors_exit
from cnnlab.training import train
from cnnlab.training.objective import require_validation_split, sweep_objective


@hydra.main(config_path="../conf", config_name="train", version_base="1.3")
@user_errors_exit
def main(cfg: DictConfig) -> float | None:
    """Return the sweep objective in a sweep's job; None in a single run."""
    if not in_multirun_job():
        train(cfg)
        return None
    from hydra_plugins.cnnlab_optuna_sweeper import trial_callbacks

    require_validation_split(cfg)
    return sweep_objective(train(cfg, callbacks=trial_callbacks(cfg)), cfg.sweep)


if __name__ == "__main__":
    precheck_command_line()
    main()
