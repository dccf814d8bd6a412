"""The value a sweep optimizes: a validation metric of the finished run, never a test metric
(a search that picks by test accuracy overfits the test split it then reports)."""

from cnnlab.config import TrainConfig
from cnnlab.config.sweep import SweepConfig
from cnnlab.errors import ConfigError
from cnnlab.training.fit import RunResult

VALIDATION_PREFIX = "val_"


def require_validation_split(cfg: TrainConfig) -> None:
    """Before a swept run starts: its objective must be a validation metric, and its data must
    hold out a validation split."""
    metric = cfg.sweep.metric
    if not metric.startswith(VALIDATION_PREFIX):
        raise ConfigError(
            f"sweep.metric={metric!r} is invalid: expected a validation metric "
            f"({VALIDATION_PREFIX}accuracy, {VALIDATION_PREFIX}loss, ...), never a test one"
        )
    from_folders = getattr(cfg.data, "split", None) == "folders"
    if cfg.data.val_fraction == 0 and not from_folders:
        raise ConfigError(
            f"data.val_fraction=0 is invalid in a sweep: expected > 0, since the objective "
            f"sweep.metric={metric} is measured on the validation split"
        )


def sweep_objective(result: RunResult, sweep_cfg: SweepConfig) -> float:
    """The last epoch's `sweep.metric` (the model the run saved is the last epoch's)."""
    values = result.history.get(sweep_cfg.metric)
    if not values:
        raise ConfigError(
            f"sweep.metric={sweep_cfg.metric!r} is invalid: the run logged no such metric "
            f"(it logged {', '.join(sorted(result.history))}); does the data have a validation split?"
        )
    return values[-1]
