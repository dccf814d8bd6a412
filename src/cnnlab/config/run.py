"""Schemas of the root configs of the pipelines other than training (`conf/<pipeline>.yaml`).

Groups are typed by their own schemas (`<group>/schema` in the ConfigStore); a root declares
them as `Any` so that each group's schema (one per data source, per optimizer, ...) stays whole.
The training root (`conf/train.yaml`) has no schema of its own, so that other roots can extend
it (`conf/ensemble.yaml`); its one run-level value, `seed`, is checked by `validate`. The model
group is typed by its builder's signature, checked by `cnnlab.models.build`.
"""

from dataclasses import dataclass
from typing import Any

from omegaconf import MISSING

from cnnlab.config.checks import Checked


@dataclass
class ProfileConfig(Checked):
    model: Any = MISSING
    tracking: Any = MISSING
    input_shape: list[int] | None = None  # [height, width, channels]; None = the paper's input
    num_classes: int | None = None  # None = the paper's
    log: bool = False  # log the totals and the table to MLflow

    def __post_init__(self) -> None:
        self.require(
            "input_shape",
            self.input_shape is None or (len(self.input_shape) == 3 and min(self.input_shape) >= 1),
            "[height, width, channels] with integers >= 1, or null",
        )
        self.require(
            "num_classes", self.num_classes is None or self.num_classes >= 1, "an integer >= 1"
        )


@dataclass
class VisualizeConfig:
    viz: Any = MISSING
    tracking: Any = MISSING
    run: str | None = (
        None  # the training run's id (MLflow); not needed with viz.model=random:<name>
    )
    log: bool = True  # log the pictures and parameters to MLflow (the run's artifacts, viz/<name>/)
