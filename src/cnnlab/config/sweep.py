"""Schema of the `sweep` group: what a hyperparameter sweep optimizes and where its study lives.

Registered as `sweep/schema`; `conf/sweep/default.yaml` starts from it. Hydra's sweepers read
`sweep.metric` and `sweep.direction`; the cnnlab Optuna sweeper also `sweep.study_name` and
`sweep.storage`, and it sets `sweep.trial` in each job it launches.
"""

import time
from dataclasses import dataclass
from enum import StrEnum


class Direction(StrEnum):
    maximize = "maximize"
    minimize = "minimize"


DIRECTIONS = tuple(Direction)
# Overrides a sweeper adds to each job for its own bookkeeping: not part of a trial's name.
SWEEPER_KEYS = ("sweep.trial", "sweep.study_name", "sweep.storage")


def new_study_name(job_name: str) -> str:
    """A new study's name when `sweep.study_name` is null, e.g. train-20261205-103844."""
    return f"{job_name}-{time.strftime('%Y%m%d-%H%M%S')}"


@dataclass
class SweepConfig:
    # A validation metric logged per epoch (never a test metric: tuning on test overfits it).
    metric: str = "val_accuracy"
    direction: Direction = Direction.maximize
    # An Optuna study; null = a new one per sweep (its name is logged and tagged `optuna.study`
    # on the sweep's MLflow run). Rerun with the same name to continue it, under the same run.
    study_name: str | None = None
    # Optuna storage: an SQLAlchemy URL (relative SQLite paths are made absolute) or a
    # journal file `journal:<path>` (for file systems without SQLite locking, e.g. NFS).
    storage: str = "sqlite:///optuna.db"
    # Set by the cnnlab Optuna sweeper in each job: the number of the Optuna trial that its
    # epochs report to (the number the sweep's log and the trial's run tag `optuna.trial` show).
    trial: int | None = None
