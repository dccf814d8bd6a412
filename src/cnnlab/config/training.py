"""Schemas of the `trainer`, `optimizer` and `schedule` groups: each default lives here once.

The optimizer schemas take exactly their Keras class's keyword arguments (less the learning
rate, which the schedule drives), so `cnnlab.training.optimizers` passes them through unchanged.
"""

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from omegaconf import MISSING

from cnnlab.checks import Checked


class Precision(StrEnum):
    auto = "auto"  # mixed_float16 on a GPU, float32 on the CPU
    float32 = "float32"
    mixed_float16 = "mixed_float16"
    mixed_bfloat16 = "mixed_bfloat16"


class Strategy(StrEnum):
    auto = "auto"  # mirrored over several GPUs, else one device
    one_device = "one_device"
    mirrored = "mirrored"  # the devices of one machine
    multi_worker = "multi_worker"  # several processes or machines, from TF_CONFIG


class LrScaling(StrEnum):
    none = "none"
    linear = "linear"  # lr times the number of replicas (Goyal et al., 2017, Sec. 2.1)


VERBOSITY = ("auto", "0", "1", "2")
CLIPPING = ("clipnorm", "global_clipnorm", "clipvalue")


@dataclass
class EarlyStoppingConfig(Checked):
    GROUP = "trainer.early_stopping"

    monitor: str = "val_loss"  # any epoch metric; *accuracy is maximized, the rest minimized
    patience: int | None = None  # None: off; else stop after this many epochs, keep the best
    min_delta: float = 0.0

    def __post_init__(self) -> None:
        self.require(
            "patience", self.patience is None or self.patience >= 1, "an integer >= 1 or null (off)"
        )
        self.require("min_delta", self.min_delta >= 0, "a number >= 0")


@dataclass
class TrainerConfig(Checked):
    GROUP = "trainer"

    epochs: int = 30
    batch_size: int = 32
    precision: Precision = Precision.auto
    jit_compile: bool = False  # XLA: its CPU kernels replace oneDNN's (see docs/training.md)
    label_smoothing: float = 0.0
    steps_per_epoch: int | None = None  # None: one pass over the train split
    eval_steps: int | None = None  # batches of the val and test splits to score; None: all
    verbose: str = "auto"  # auto: a progress bar on a terminal, one line per epoch otherwise
    strategy: Strategy = Strategy.auto  # batch_size is the global batch, split over replicas
    deterministic: bool = False  # bit-identical weights for the same config on the same machine
    resume: Any = False  # true: this command's newest unfinished run | a run id
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)
    # fine-tuning (cnnlab.training.freeze): after this many epochs, model.freeze's layers train
    # again at the learning rate times unfreeze_lr_factor; None: they stay frozen
    unfreeze_at_epoch: int | None = None
    unfreeze_lr_factor: float = 0.1

    def __post_init__(self) -> None:
        self.require("epochs", self.epochs >= 1, "an integer >= 1")
        self.require("batch_size", self.batch_size >= 1, "an integer >= 1")
        self.require("label_smoothing", 0 <= self.label_smoothing < 1, "a number in [0, 1)")
        self.require(
            "steps_per_epoch",
            self.steps_per_epoch is None or self.steps_per_epoch >= 1,
            "an integer >= 1 or null",
        )
        self.require(
            "eval_steps",
            self.eval_steps is None or self.eval_steps >= 1,
            "an integer >= 1 or null",
        )
        self.require("verbose", self.verbose in VERBOSITY, "one of " + ", ".join(VERBOSITY))
        self.require(
            "unfreeze_at_epoch",
            self.unfreeze_at_epoch is None or self.unfreeze_at_epoch >= 1,
            "an integer >= 1 or null",
        )
        self.require("unfreeze_lr_factor", 0 < self.unfreeze_lr_factor <= 1, "a number in (0, 1]")
        self.require(
            "resume",
            isinstance(self.resume, bool) or (isinstance(self.resume, str) and self.resume.strip()),
            "true, false or an MLflow run id",
        )
        self.require(
            "resume",
            not (self.resume and self.strategy == Strategy.multi_worker),
            "false with trainer.strategy=multi_worker (resuming a multi-worker run is not "
            "supported yet)",
        )


@dataclass
class OptimizerConfig(Checked):
    """What every optimizer takes; `name` picks the Keras class."""

    GROUP = "optimizer"

    name: str = MISSING
    lr: float = MISSING
    weight_decay: float | None = None  # decoupled weight decay (Keras's `weight_decay`)
    clipnorm: float | None = None  # gradient clipping: per variable,
    global_clipnorm: float | None = None  # or over all gradients together,
    clipvalue: float | None = None  # or element-wise (at most one of the three)
    scale_lr: LrScaling = LrScaling.none

    def __post_init__(self) -> None:
        self.require("lr", self.lr > 0, "a number > 0")
        self.require(
            "weight_decay",
            self.weight_decay is None or self.weight_decay >= 0,
            "a number >= 0 or null",
        )
        for key in CLIPPING:
            value = getattr(self, key)
            self.require(key, value is None or value > 0, "a number > 0 or null")
        clipping = sorted(key for key in CLIPPING if getattr(self, key) is not None)
        if len(clipping) > 1:
            self.require(
                clipping[1],
                False,
                f"null when optimizer.{clipping[0]} is set (one of {', '.join(CLIPPING)})",
            )


@dataclass
class SGDConfig(OptimizerConfig):
    name: str = "sgd"
    momentum: float = 0.0
    nesterov: bool = False


@dataclass
class AdamConfig(OptimizerConfig):
    name: str = "adam"
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-7
    amsgrad: bool = False


@dataclass
class AdamWConfig(AdamConfig):
    name: str = "adamw"
    weight_decay: float | None = 0.004  # Keras's AdamW default


@dataclass
class RMSpropConfig(OptimizerConfig):
    name: str = "rmsprop"
    rho: float = 0.9
    momentum: float = 0.0
    epsilon: float = 1e-7
    centered: bool = False


@dataclass
class AdagradConfig(OptimizerConfig):
    name: str = "adagrad"
    initial_accumulator_value: float = 0.1
    epsilon: float = 1e-7


@dataclass
class AdadeltaConfig(OptimizerConfig):
    name: str = "adadelta"
    rho: float = 0.95
    epsilon: float = 1e-7


@dataclass
class NadamConfig(OptimizerConfig):
    name: str = "nadam"
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-7


@dataclass
class FtrlConfig(OptimizerConfig):
    """FTRL-Proximal (McMahan et al., 2013, Algorithm 1)."""

    name: str = "ftrl"
    learning_rate_power: float = -0.5
    initial_accumulator_value: float = 0.1
    l1_regularization_strength: float = 0.0
    l2_regularization_strength: float = 0.0
    l2_shrinkage_regularization_strength: float = 0.0
    beta: float = 0.0


OPTIMIZER_SCHEMAS: dict[str, type[OptimizerConfig]] = {
    "sgd": SGDConfig,
    "adam": AdamConfig,
    "adamw": AdamWConfig,
    "rmsprop": RMSpropConfig,
    "adagrad": AdagradConfig,
    "adadelta": AdadeltaConfig,
    "nadam": NadamConfig,
    "ftrl": FtrlConfig,
}


@dataclass
class ScheduleConfig(Checked):
    """A per-step learning-rate schedule by `name`, with an optional linear warm-up."""

    GROUP = "schedule"

    name: str = MISSING
    warmup_epochs: float = 0.0

    def __post_init__(self) -> None:
        self.require("warmup_epochs", self.warmup_epochs >= 0, "a number >= 0")


@dataclass
class ConstantScheduleConfig(ScheduleConfig):
    name: str = "constant"


@dataclass
class StepScheduleConfig(ScheduleConfig):
    name: str = "step"
    milestones: list[int] = field(default_factory=lambda: [30, 60, 90])  # epochs
    gamma: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        self.require("gamma", 0 < self.gamma <= 1, "a number in (0, 1]")


@dataclass
class ExponentialScheduleConfig(ScheduleConfig):
    name: str = "exponential"
    gamma: float = 0.95  # per epoch

    def __post_init__(self) -> None:
        super().__post_init__()
        self.require("gamma", 0 < self.gamma <= 1, "a number in (0, 1]")


@dataclass
class CosineScheduleConfig(ScheduleConfig):
    name: str = "cosine"
    min_lr_fraction: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        self.require("min_lr_fraction", 0 <= self.min_lr_fraction <= 1, "a number in [0, 1]")


@dataclass
class PolynomialScheduleConfig(ScheduleConfig):
    """lr * (f + (1 - f) * (1 - progress)^power) after the warm-up; power 1 is linear decay."""

    name: str = "polynomial"
    power: float = 1.0
    min_lr_fraction: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        self.require("power", self.power > 0, "a number > 0")
        self.require("min_lr_fraction", 0 <= self.min_lr_fraction <= 1, "a number in [0, 1]")


@dataclass
class PlateauScheduleConfig(ScheduleConfig):
    """Multiply the lr by `factor` when `monitor` has not improved for `patience` epochs."""

    name: str = "plateau"
    monitor: str = "val_loss"  # *accuracy is maximized, the rest minimized
    factor: float = 0.1
    patience: int = 3
    min_delta: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        self.require("factor", 0 < self.factor < 1, "a number in (0, 1)")
        self.require("patience", self.patience >= 1, "an integer >= 1")


SCHEDULE_SCHEMAS: dict[str, type[ScheduleConfig]] = {
    "constant": ConstantScheduleConfig,
    "step": StepScheduleConfig,
    "exponential": ExponentialScheduleConfig,
    "cosine": CosineScheduleConfig,
    "polynomial": PolynomialScheduleConfig,
    "plateau": PlateauScheduleConfig,
}
