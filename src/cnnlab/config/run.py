"""Schemas of the root configs of the pipelines other than training (`conf/<pipeline>.yaml`).

Groups are typed by their own schemas (`<group>/schema` in the ConfigStore); a root declares
them as `Any` so that each group's schema (one per data source, per optimizer, per model, ...)
stays whole. The training and ensemble roots are in `cnnlab.config.train`.
"""

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from omegaconf import MISSING

from cnnlab.checks import Checked
from cnnlab.config.augment import TestTime


@dataclass
class ProfileConfig(Checked):
    model: Any = MISSING
    tracking: Any = MISSING
    input_shape: list[int] | None = None  # [height, width, channels]; None = the paper's input
    num_classes: int | None = None  # None = the paper's
    batch_size: int = (
        32  # the batch model.conv_impl=auto times the kernels at (the trainer's default)
    )
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
        self.require("batch_size", self.batch_size >= 1, "an integer >= 1")


@dataclass
class NotesConfig:
    """`conf/notes.yaml`: the notes' worked numbers, recomputed (`make notes`)."""

    tracking: Any = MISSING
    output: str = MISSING  # the Markdown table; conf/notes.yaml puts it in the job's folder
    log: bool = True  # log the table and the counts to MLflow as a kind=notes run


@dataclass
class VisualizeConfig:
    viz: Any = MISSING
    tracking: Any = MISSING
    run: str | None = None  # the training run's id or unique name; none for viz.model=random:<name>
    log: bool = True  # log the pictures and parameters to MLflow (the run's artifacts, viz/<name>/)


class EvaluateSplit(StrEnum):
    train = "train"
    val = "val"
    test = "test"


# `make evaluate` takes the stored images as they are, so it has no larger load size to cut
# AlexNet's ten crops from: the test-time modes of `augment.test_time` but `ten_crop`.
EvaluateTestTime = StrEnum(
    "EvaluateTestTime",
    {mode.name: mode.value for mode in TestTime if mode != TestTime.ten_crop},
    module=__name__,
)


@dataclass
class EvaluateConfig(Checked):
    """`conf/evaluate.yaml`: a run's logged model on a split of its data (or of `data`)."""

    tracking: Any = MISSING
    data: Any = None  # None: the data the run was trained on (its logged config)
    run: str = MISSING  # the training run's id or unique name (MLflow)
    split: EvaluateSplit = EvaluateSplit.test
    test_time: EvaluateTestTime = EvaluateTestTime.none
    most_confused: int = 16  # how many of the most confidently wrong examples to show
    data_dir: str | None = None  # TFDS data dir, if not the run's

    def __post_init__(self) -> None:
        self.require("most_confused", self.most_confused >= 0, "an integer >= 0")


@dataclass
class PredictConfig(Checked):
    """`conf/predict.yaml`: class and top-k probabilities of image files by a run's model."""

    tracking: Any = MISSING
    run: str = MISSING  # the training run's id or unique name (MLflow)
    images: Any = MISSING  # a file, a folder (searched recursively) or a list of them
    top_k: int = 3
    output: str = MISSING  # the CSV; conf/predict.yaml puts it in the job's folder

    def __post_init__(self) -> None:
        self.require("top_k", self.top_k >= 1, "an integer >= 1")
