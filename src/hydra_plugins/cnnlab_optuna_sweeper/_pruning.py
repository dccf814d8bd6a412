"""The job side of a trial: a Keras callback that reports each epoch's validation metric to
the Optuna trial and stops the run when the study's pruner judges it hopeless."""

import keras
import optuna
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate

from cnnlab.config.sweep import SweepConfig
from cnnlab.errors import ConfigError
from hydra_plugins.cnnlab_optuna_sweeper._impl import open_storage, running_trial


class ReportToTrial(keras.callbacks.Callback):
    """`trial.report(logs[metric], epoch)`; raises optuna.TrialPruned when the pruner says so.

    Runs after cnnlab's tracking callback, so a pruned run keeps its last epoch's metrics.
    """

    def __init__(self, trial: optuna.Trial, metric: str) -> None:
        super().__init__()
        self.trial = trial
        self.metric = metric

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        if self.metric not in logs:
            raise ConfigError(
                f"sweep.metric={self.metric!r} is invalid: the run logs no such metric "
                f"(it logs {', '.join(sorted(logs))}); a sweep needs a validation split"
            )
        value = float(logs[self.metric])
        self.trial.report(value, step=epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned(
                f"trial {self.trial.number} pruned after epoch {epoch + 1}: "
                f"{self.metric}={value:.4f}"
            )


def trial_callback(sweep_cfg: SweepConfig) -> ReportToTrial:
    """The callback for the trial named by `sweep.trial` in the study that the sweeper runs;
    the pruner is the sweeper's (`hydra.sweeper.pruner`), rebuilt in this job's process."""
    pruner = instantiate(HydraConfig.get().sweeper.pruner)
    study = optuna.load_study(
        study_name=sweep_cfg.study_name, storage=open_storage(sweep_cfg.storage), pruner=pruner
    )
    return ReportToTrial(running_trial(study, sweep_cfg.trial), sweep_cfg.metric)
