"""`model.init`: kernels redrawn with the variance each scheme promises, biases left alone."""

import keras
import numpy as np
import pytest

from cnnlab import models
from cnnlab.errors import ConfigError


def kernels(model: keras.Model) -> dict[str, np.ndarray]:
    return {
        layer.name: keras.ops.convert_to_numpy(layer.kernel)
        for layer in model.layers
        if getattr(layer, "kernel", None) is not None
    }


def fan_in(kernel: np.ndarray, depthwise: bool) -> int:
    receptive = int(np.prod(kernel.shape[:-2]))
    return receptive if depthwise else receptive * kernel.shape[-2]


@pytest.mark.parametrize("conv_impl", ["native", "im2col"])
def test_he_init_has_variance_two_over_fan_in_even_for_depthwise_kernels(conv_impl):
    """He et al. (2015): Var[w] = 2 / fan_in, with a depthwise kernel's fan-in kh*kw."""
    keras.utils.set_random_seed(0)
    model = models.build(
        "mobilenet", (32, 32, 3), 10, conv_impl=conv_impl, alpha=0.5, init="he_normal"
    )
    depthwise = {
        layer.name
        for layer in model.layers
        if isinstance(layer, keras.layers.DepthwiseConv2D) or "Depthwise" in type(layer).__name__
    }
    assert depthwise, "mobilenet should have depthwise convolutions"
    for name, kernel in kernels(model).items():
        if kernel.size < 2000:  # too few draws for a variance check
            continue
        expected = 2.0 / fan_in(kernel, name in depthwise)
        # he_normal truncates at 2 std, which keeps 0.774 of the variance it rescales for
        assert kernel.var() == pytest.approx(expected, rel=0.15), name


def test_auto_init_gives_squashing_models_glorot_variance():
    keras.utils.set_random_seed(0)
    model = models.build("lenet5", (28, 28, 1), 10, flavor="original")
    kernel = kernels(model)["f5"]  # 400 -> 120
    fan_in, fan_out = kernel.shape
    assert kernel.var() == pytest.approx(2.0 / (fan_in + fan_out), rel=0.1)


def test_he_init_doubles_glorots_variance_and_keeps_biases_zero():
    keras.utils.set_random_seed(0)
    he = models.build("vgg11", (32, 32, 1), 10, init="he_normal")
    glorot = models.build("vgg11", (32, 32, 1), 10, init="glorot_uniform")
    he_kernel = kernels(he)["block4_conv1"]  # 3x3x256 -> 512
    glorot_kernel = kernels(glorot)["block4_conv1"]
    fan_in, fan_out = 9 * 256, 9 * 512
    assert he_kernel.var() == pytest.approx(2.0 / fan_in, rel=0.05)
    assert glorot_kernel.var() == pytest.approx(2.0 / (fan_in + fan_out), rel=0.05)
    bias = keras.ops.convert_to_numpy(he.get_layer("block4_conv1").bias)
    assert not bias.any()


@pytest.mark.parametrize("init", ["keras", "auto"])
def test_batch_normalized_models_keep_keras_glorot_under_auto(init):
    keras.utils.set_random_seed(0)
    model = models.build("resnet20", (32, 32, 3), 10, init=init)
    kernel = kernels(model)["conv4_block3_2"]
    fan_in, fan_out = 9 * 64, 9 * 64
    assert kernel.var() == pytest.approx(2.0 / (fan_in + fan_out), rel=0.1)


def test_auto_init_gives_plain_relu_models_he_variance():
    keras.utils.set_random_seed(0)
    model = models.build("googlenet", (32, 32, 3), 10)
    kernel = kernels(model)["inception_4e_3x3"]  # 3x3x160 -> 320
    assert kernel.var() == pytest.approx(2.0 / (9 * 160), rel=0.05)


def test_a_relu_vgg_passes_signal_through_its_depth_only_with_he_init():
    """The reason for the default: with Glorot, a plain ReLU stack's activations shrink."""
    images = np.random.default_rng(0).uniform(size=(8, 32, 32, 1)).astype("float32")
    spreads = {}
    for init in ("he_normal", "glorot_uniform"):
        keras.utils.set_random_seed(0)
        model = models.build("vgg16", (32, 32, 1), 10, init=init, dropout=0.0)
        probe = keras.Model(model.inputs, model.get_layer("block5_conv3").output)
        spreads[init] = float(np.std(probe.predict(images, verbose=0)))
    assert spreads["glorot_uniform"] < 0.1 * spreads["he_normal"]


def test_unknown_init_is_one_clear_error():
    with pytest.raises(ConfigError, match=r"model.init='xavier'.*he_normal"):
        models.build("lenet5", (28, 28, 1), 10, init="xavier")


def test_normal_init_draws_every_kernel_with_the_given_std_whatever_its_fan_in():
    """The notes' weight_scale: W = 0.01 * randn(fan_in, fan_out), for every layer alike."""
    keras.utils.set_random_seed(0)
    model = models.build("lenet5", (32, 32, 1), 10, init="normal:0.01")
    for name in ("c1", "c3", "f5"):  # fan-ins 25, 150 and 400; 150 to 48,000 weights
        kernel = kernels(model)[name]
        assert kernel.std() == pytest.approx(0.01, rel=0.15 if kernel.size < 1000 else 0.02), name
        assert abs(kernel.mean()) < 0.003
    assert not keras.ops.convert_to_numpy(model.get_layer("f5").bias).any()


@pytest.mark.parametrize("init", ["normal:0", "normal:-0.1", "normal:wide", "normal:"])
def test_normal_init_needs_a_positive_std(init):
    with pytest.raises(
        ConfigError, match=rf"model.init='{init}' is invalid: .*normal:<std> with std > 0"
    ):
        models.build("lenet5", (28, 28, 1), 10, init=init)
