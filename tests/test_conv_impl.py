"""`conv_impl=im2col`: every registered model runs on cnnlab's im2col layers, unchanged.

Built both ways, a model has the same parameters, and given the native model's weights the
im2col model computes the same outputs (float32 tolerance).
"""

import keras
import numpy as np
import pytest
from support.model_builds import REPRESENTATIVES, config_options

from cnnlab import models, tracking
from cnnlab.layers import Im2ColConv2D, Im2ColDepthwiseConv2D, Im2ColPool2D
from cnnlab.training import train

SLOW_TO_BUILD = {  # 10 s or more of building and compiling each on the shared 2-core CPU
    "alexnet",
    "googlenet",
    "inception_resnet_v2",
    "inception_v3",
    "inception_v4",
    "resnet101",
    "resnet110",
    "resnet1202",
    "resnet152",
}
IM2COL_LAYERS = (Im2ColConv2D, Im2ColDepthwiseConv2D, Im2ColPool2D)
NATIVE_LAYERS = (
    keras.layers.Conv2D,
    keras.layers.DepthwiseConv2D,
    keras.layers.MaxPooling2D,
    keras.layers.AveragePooling2D,
)


def build(name: str, conv_impl: str) -> keras.Model:
    options = {**config_options(name), "conv_impl": conv_impl}
    return models.build(name, (32, 32, 3), 10, **options)


def count(model: keras.Model, kinds: tuple) -> int:
    return sum(isinstance(layer, kinds) for layer in model._flatten_layers())


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(name, marks=pytest.mark.slow)
        if name in SLOW_TO_BUILD or name not in REPRESENTATIVES
        else name
        for name in models.available()
    ],
)
def test_im2col_model_equals_native_model_given_its_weights(name):
    native, im2col = build(name, "native"), build(name, "im2col")
    assert im2col.count_params() == native.count_params()
    assert count(im2col, NATIVE_LAYERS) == 0
    assert count(im2col, IM2COL_LAYERS) == count(native, NATIVE_LAYERS) > 0

    im2col.set_weights(native.get_weights())
    images = np.random.default_rng(0).random((2, 32, 32, 3), dtype=np.float32)
    expected = native(images, training=False)
    got = im2col(images, training=False)
    for e, g in zip(keras.tree.flatten(expected), keras.tree.flatten(got), strict=True):
        np.testing.assert_allclose(np.asarray(g), np.asarray(e), rtol=1e-4, atol=1e-6)


def test_im2col_model_trains_through_the_training_loop(make_cfg, tmp_path):
    cfg = make_cfg("debug=fast", "model.conv_impl=im2col")
    result = train(cfg, output_dir=tmp_path)
    assert np.isfinite(result.history["loss"]).all()
    model = keras.saving.load_model(result.model_path)
    assert count(model, IM2COL_LAYERS) == 4  # LeNet-5: c1, s2, c3, s4
    batch = np.random.default_rng(0).random((3, 28, 28, 1), dtype=np.float32)
    assert model.predict(batch, verbose=0).shape == (3, 10)


@pytest.mark.slow  # 30 s idle, minutes on a busy machine
@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16"])
def test_resnet20_on_im2col_trains_on_synthetic_data(make_cfg, tmp_path, precision):
    # `make train ARGS="model=resnet20 model.conv_impl=im2col data=synthetic trainer.epochs=1"`
    # at debug size: the whole run, from config to a FINISHED MLflow run.
    cfg = make_cfg(
        "model=resnet20",
        "model.conv_impl=im2col",
        "data=synthetic",
        "data.train_size=64",
        "data.test_size=16",
        "trainer.epochs=1",
        "trainer.steps_per_epoch=2",
        "trainer.batch_size=16",
        f"trainer.precision={precision}",
    )
    result = train(cfg, output_dir=tmp_path)
    assert tracking.get_run(result.run_id, cfg.tracking).info.status == "FINISHED"
    assert np.isfinite(result.history["loss"]).all()
    model = keras.saving.load_model(result.model_path)
    assert count(model, IM2COL_LAYERS) == count(build("resnet20", "native"), NATIVE_LAYERS)
