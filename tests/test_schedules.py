"""Every schedule config trains on digits and logs, per epoch, the lr its formula gives."""

import math

import mlflow
import numpy as np
import pytest

from cnnlab import tracking
from cnnlab.training import train

LR, EPOCHS, STEPS, WARMUP = 0.05, 4, 2, 2


def warmup(t: float, w: int) -> float:
    """Linear warm-up over w epochs: step s (t = s / STEPS) runs at lr * (s + 1) / (w * STEPS)."""
    return min(1.0, (t + 1 / STEPS) / w) if w else 1.0


def progress(t: float, w: int) -> float:
    """0 -> 1 over the epochs after a w-epoch warm-up."""
    return min(max((t - w) / (EPOCHS - w), 0.0), 1.0)


# lr at fractional epoch t after a w-epoch warm-up, before the warm-up factor
# (the logged lr of epoch e is the one of the next step, t = e + 1).
FORMULAS = {
    "constant": ([], lambda t, w: LR),
    "step": (
        ["schedule.milestones=[1,3]", "schedule.gamma=0.1"],
        lambda t, w: LR * 0.1 ** sum(t >= m for m in (1, 3)),
    ),
    "exponential": (["schedule.gamma=0.5"], lambda t, w: LR * 0.5 ** math.floor(t)),
    "cosine": (
        ["schedule.min_lr_fraction=0.1"],
        lambda t, w: LR * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress(t, w)))),
    ),
    "polynomial": (
        ["schedule.power=2.0", "schedule.min_lr_fraction=0.2"],
        lambda t, w: LR * (0.2 + 0.8 * (1 - progress(t, w)) ** 2),
    ),
    # min_delta so large that only the first epoch improves: the lr halves after each later epoch.
    "plateau": (
        ["schedule.factor=0.5", "schedule.patience=1", "schedule.min_delta=1e9"],
        lambda t, w: LR * 0.5 ** (t - 1),
    ),
}


# Each schedule once; the warm-up in front of a constant, a cosine and a polynomial decay.
CASES = [
    *((name, False) for name in sorted(FORMULAS)),
    *((n, True) for n in ("constant", "cosine", "polynomial")),
]


@pytest.mark.parametrize(("name", "warm"), CASES, ids=[f"{n}{'+warmup' * w}" for n, w in CASES])
def test_logged_lr_follows_the_schedule_formula(make_cfg, tmp_path, name, warm):
    overrides, formula = FORMULAS[name]
    cfg = make_cfg(
        f"schedule={name}",
        *overrides,
        "schedule.warmup_epochs=" + str(WARMUP if warm else 0),
        f"optimizer.lr={LR}",
        f"trainer.epochs={EPOCHS}",
        f"trainer.steps_per_epoch={STEPS}",
        "trainer.batch_size=16",
        "tracking.log_model=false",
    )
    run_id = train(cfg, output_dir=tmp_path).run_id
    tracking.use_store(cfg.tracking)
    logged = mlflow.MlflowClient().get_metric_history(run_id, "lr")
    assert [m.step for m in logged] == list(range(EPOCHS))
    w = WARMUP if warm else 0
    expected = [formula(e + 1, w) * warmup(e + 1, w) for e in range(EPOCHS)]
    np.testing.assert_allclose([m.value for m in logged], expected, rtol=1e-5)
