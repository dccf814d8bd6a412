"""Training: optimizers, schedules, precision policy, callbacks and the fit loop."""

from cnnlab.training.fit import RunResult, train

__all__ = ["RunResult", "train"]
