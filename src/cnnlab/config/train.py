"""Schemas of the training root (`conf/train.yaml`) and the ensemble root that extends it.

Every group is typed: `data`, `optimizer`, `schedule` and `model` by the schema of the chosen
option (one per source, optimizer, schedule and model), the others by their one schema. The
four are `Any` here, each commented with the base class its schemas share: a field typed with
the base would turn the chosen schema back into the base when the ensemble root is merged
over it (OmegaConf 2.3). A key added to the root (`+foo=1`) is refused, as in a group.
The fields have no defaults here (`MISSING`): the groups' options and `conf/train.yaml` give
them, and `EnsembleRunConfig`, merged over a composed training root, keeps what it holds.
"""

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

from cnnlab.checks import Checked
from cnnlab.config.augment import AugmentConfig
from cnnlab.config.ensemble import EnsembleConfig
from cnnlab.config.sweep import SweepConfig
from cnnlab.config.tracking import TrackingConfig
from cnnlab.config.training import TrainerConfig


@dataclass
class TrainConfig(Checked):
    """One training run: what `cnnlab.training.train` receives."""

    seed: int = MISSING  # conf/train.yaml: 42
    data: Any = MISSING  # a DataConfig: the schema of data.source
    augment: AugmentConfig = MISSING
    model: Any = MISSING  # a ModelConfig: the schema of model.name
    optimizer: Any = MISSING  # an OptimizerConfig: the schema of optimizer.name
    schedule: Any = MISSING  # a ScheduleConfig: the schema of schedule.name
    trainer: TrainerConfig = MISSING
    tracking: TrackingConfig = MISSING
    sweep: SweepConfig = MISSING

    def __post_init__(self) -> None:
        self.require("seed", self.seed >= 0, "an integer >= 0")


@dataclass
class EnsembleRunConfig(TrainConfig):
    """`conf/ensemble.yaml`: the members' training config and how they are gathered."""

    ensemble: EnsembleConfig = field(default_factory=EnsembleConfig)
