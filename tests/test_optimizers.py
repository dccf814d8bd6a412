"""Every optimizer config builds the Keras optimizer it names and trains on digits."""

from pathlib import Path

import keras
import numpy as np
import pytest
from omegaconf import OmegaConf

from cnnlab import tracking
from cnnlab.errors import ConfigError
from cnnlab.training import train
from cnnlab.training.optimizers import build_optimizer, scaled_lr

OPTIMIZER_CONFIGS = sorted(
    p.stem for p in (Path(__file__).parents[1] / "conf" / "optimizer").glob("*.yaml")
)


def test_every_optimizer_the_code_knows_has_a_config():
    from cnnlab.training.optimizers import OPTIMIZERS

    assert set(OPTIMIZERS) | {"sgd_nesterov"} == set(OPTIMIZER_CONFIGS)


@pytest.mark.slow  # test_every_option.py trains every optimizer config in `make test`
@pytest.mark.parametrize("name", OPTIMIZER_CONFIGS)
def test_optimizer_config_trains_on_digits(make_cfg, tmp_path, name):
    cfg = make_cfg(
        f"optimizer={name}",
        "debug=fast",
        "trainer.batch_size=16",
        "tracking.log_model=false",
    )
    result = train(cfg, output_dir=tmp_path)
    run = tracking.get_run(result.run_id, cfg.tracking)
    assert run.info.status == "FINISHED"
    assert run.data.params["optimizer.name"] == cfg.optimizer.name
    assert np.isfinite(run.data.metrics["loss"])


def test_sgd_nesterov_is_sgd_with_nesterov_momentum(make_cfg):
    optimizer = build_optimizer(make_cfg("optimizer=sgd_nesterov").optimizer, 0.1)
    assert isinstance(optimizer, keras.optimizers.SGD) and optimizer.nesterov
    assert optimizer.momentum == 0.9


@pytest.mark.parametrize("key", ["clipnorm", "global_clipnorm", "clipvalue"])
def test_clipping_option_reaches_the_optimizer(make_cfg, key):
    optimizer = build_optimizer(make_cfg("optimizer=adam", f"optimizer.{key}=0.5").optimizer, 0.1)
    assert getattr(optimizer, key) == 0.5


def test_two_clipping_options_are_one_line_error(make_cfg):
    with pytest.raises(
        ConfigError, match=r"optimizer.global_clipnorm=1.0 is invalid: expected null"
    ):
        make_cfg("optimizer.clipvalue=0.5", "optimizer.global_clipnorm=1.0")


def test_clipvalue_bounds_every_gradient_element():
    optimizer = keras.optimizers.SGD(learning_rate=1.0, clipvalue=0.5)
    weight = keras.Variable(np.zeros(3, np.float32))
    optimizer.apply_gradients([(np.array([3.0, -0.2, -9.0], np.float32), weight)])
    np.testing.assert_allclose(weight.numpy(), [-0.5, 0.2, 0.5])


def test_linear_lr_scaling_multiplies_by_the_replicas():
    cfg = OmegaConf.create({"lr": 0.1, "scale_lr": "linear"})
    assert scaled_lr(cfg, 4) == pytest.approx(0.4)
    assert scaled_lr(OmegaConf.create({"lr": 0.1, "scale_lr": "none"}), 4) == pytest.approx(0.1)


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw"])
def test_weight_decay_shrinks_a_weight_without_gradient_by_lr_times_decay(make_cfg, name):
    """Decoupled decay (Loshchilov & Hutter, 2019): w <- w - lr * weight_decay * w, outside the
    gradient, so Adam's per-weight rescaling does not touch it (an L2 term in the loss would
    give a zero gradient's weight Adam's full step of about lr instead)."""
    cfg = make_cfg(f"optimizer={name}", "optimizer.weight_decay=0.1")
    optimizer = build_optimizer(cfg.optimizer, 0.5)
    weight = keras.Variable(np.array([2.0, -4.0], np.float32))
    optimizer.apply_gradients([(np.zeros(2, np.float32), weight)])
    np.testing.assert_allclose(weight.numpy(), np.array([2.0, -4.0]) * (1 - 0.5 * 0.1), rtol=1e-6)
