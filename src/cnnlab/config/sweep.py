"""Schema of the `sweep` group: what a hyperparameter sweep optimizes and where its study lives.

Registered as `sweep/schema`; `conf/sweep/default.yaml` starts from it. Hydra's sweepers read
`sweep.metric` and `sweep.direction`; the cnnlab Optuna sweeper also `sweep.study_name` and
`sweep.storage`, and it sets `sweep.trial` in each job it launches.
"""

import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cnnlab.config.tracking import TrackingConfig


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


@dataclass
class Multirun:
    """What a sweep's MLflow bookkeeping reads of Hydra's config of a multirun or of one of its
    jobs, as plain values (built by `cnnlab.cli.SweepTracking`, where Hydra calls in)."""

    tracking: TrackingConfig
    sweep: SweepConfig
    overrides: list[str]  # the command line's (a job's: its own values)
    hydra_overrides: list[str]  # the command line's `hydra.*` overrides
    choices: dict[str, str | None]  # the chosen option of each config group
    sweeper: dict[str, Any]  # `hydra.sweeper`'s settings, `_target_` included
    launcher: str  # the launcher's class path
    sweep_dir: str

    @property
    def study(self) -> str | None:
        """The Optuna study that the sweep runs; None for a sweeper without one (Hydra's basic
        sweeper)."""
        return self.sweep.study_name if "study_name" in self.sweeper else None
