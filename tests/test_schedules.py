"""The lr schedules against the papers' closed forms: point values worked out by hand for
`EpochSchedule` itself, and every schedule config trained on digits, logging per epoch the lr
its formula gives."""

import math

import keras
import mlflow
import numpy as np
import pytest

from cnnlab import tracking
from cnnlab.training import train
from cnnlab.training.schedules import EpochSchedule, build_schedule

# -- EpochSchedule at chosen steps: 0.1 for 8 epochs of 4 steps -------------------------------

BASE, EPOCHS_8, STEPS_4 = 0.1, 8, 4
COS_QUARTER = 0.5 * (1 + math.cos(math.pi / 4))  # cosine factor a quarter of the way: 0.8536

# (schedule arguments, {step: lr}); a step is epoch * 4, and training ends at step 32.
POINTS = {
    "constant": ({}, {0: 0.1, 17: 0.1, 40: 0.1}),
    # ResNet (He et al. 2016, §4.2): divided by 10 at each milestone (default gamma), from the
    # milestone's first step on.
    "step": (
        {"milestones": [2, 6]},
        {0: 0.1, 7: 0.1, 8: 0.01, 23: 0.01, 24: 0.001, 40: 0.001},
    ),
    # Inception / MobileNet: times gamma after each whole epoch.
    "exponential": ({"gamma": 0.5}, {3: 0.1, 4: 0.05, 10: 0.025, 12: 0.0125}),
    # SGDR (Loshchilov & Hutter 2017, eq. 5) without restarts, down to 0 by default.
    "cosine": ({}, {0: 0.1, 8: 0.1 * COS_QUARTER, 16: 0.05, 32: 0.0, 40: 0.0}),
    "cosine to a floor": (
        {"name": "cosine", "min_lr_fraction": 0.1},
        {16: 0.1 * (0.1 + 0.9 * 0.5), 32: 0.01, 40: 0.01},
    ),
    # (1 - progress) ** power, linear by default.
    "polynomial": ({}, {8: 0.075, 16: 0.05, 32: 0.0, 40: 0.0}),
    "polynomial squared to a floor": (
        {"name": "polynomial", "power": 2.0, "min_lr_fraction": 0.2},
        {8: 0.1 * (0.2 + 0.8 * 0.75**2), 16: 0.1 * (0.2 + 0.8 * 0.25), 32: 0.02},
    ),
    # Goyal et al. 2017, §2.2: linear warm-up, step s of w epochs at lr * (s + 1) / (4 * w);
    # the decay starts after it and spans the 6 epochs left.
    "warm-up then cosine": (
        {"name": "cosine", "warmup_epochs": 2},
        {0: 0.1 / 8, 3: 0.1 * 4 / 8, 7: 0.1, 8: 0.1, 14: 0.1 * COS_QUARTER, 20: 0.05, 32: 0.0},
    ),
    "plateau": ({}, {0: 0.1, 40: 0.1}),  # only ReduceOnPlateau lowers it (its scale)
}


def schedule(case: str) -> EpochSchedule:
    arguments = {"name": case, **POINTS[case][0]}
    return EpochSchedule(BASE, STEPS_4, EPOCHS_8, **arguments)


@pytest.mark.parametrize("case", sorted(POINTS))
def test_schedule_gives_the_papers_lr_at_each_step(case):
    lr = schedule(case)
    expected = POINTS[case][1]
    got = {step: float(lr(step)) for step in expected}
    assert got == pytest.approx(expected, rel=1e-5, abs=1e-9)


def test_scale_multiplies_the_lr_and_serializing_keeps_the_schedule():
    lr = schedule("warm-up then cosine")
    lr.scale.assign(0.5)  # as ReduceOnPlateau does
    assert float(lr(20)) == pytest.approx(0.025, rel=1e-6)
    again = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(lr))
    assert isinstance(again, EpochSchedule) and again.get_config() == lr.get_config()
    assert [float(again(s)) for s in range(0, 40, 3)] == pytest.approx(
        [float(schedule("warm-up then cosine")(s)) for s in range(0, 40, 3)], rel=1e-6
    )


def test_build_schedule_takes_the_configs_options(make_cfg):
    step = build_schedule(
        make_cfg("schedule=step", "schedule.milestones=[2,6]").schedule, 0.1, 4, 8
    )
    assert step.get_config() == {
        **EpochSchedule(0.1, 4, 8).get_config(),
        "name": "step",
        "milestones": [2, 6],
    }
    plateau = build_schedule(make_cfg("schedule=plateau").schedule, 0.1, 4, 8)
    assert plateau.get_config() == {**EpochSchedule(0.1, 4, 8).get_config(), "name": "plateau"}


# -- every schedule config through train() -----------------------------------------------------

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


# Each schedule once; the warm-up in front of a constant, a cosine and a polynomial decay. The
# closed-form tests above hold every formula at chosen steps in milliseconds; through a real run
# (a few seconds each), `make test` keeps the plateau schedule, which a callback drives, and a
# warmed-up cosine, and `make test-all` runs the rest.
FAST_CASES = {("plateau", False), ("cosine", True)}
CASES = [
    pytest.param(
        name,
        warm,
        id=f"{name}{'+warmup' * warm}",
        marks=() if (name, warm) in FAST_CASES else pytest.mark.slow,
    )
    for name, warm in [
        *((name, False) for name in sorted(FORMULAS)),
        *((n, True) for n in ("constant", "cosine", "polynomial")),
    ]
]


@pytest.mark.parametrize(("name", "warm"), CASES)
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
