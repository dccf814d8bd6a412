"""The classic architectures: their published sizes, their small-input rules, one training step.

Published parameter counts, pinned here (ImageNet models: 1,000 classes at the paper's input):
- keras.applications with weights=None (offline): VGG16, VGG19, ResNet50/101/152, MobileNet,
  InceptionV3, InceptionResNetV2 (the slow tests also build them side by side).
- ResNet: the paper's models have no conv bias (BN follows every conv; torchvision's counts,
  trainable parameters); keras.applications adds a bias to every conv, which the slow test
  accounts for exactly.
- AlexNet: the two-GPU model of the paper as released in Caffe (bvlc_alexnet), 60,965,224.
- VGG: Table 2 (millions, rounded). CIFAR ResNets: Table 6 (millions, rounded).
- Inception v2 (BN-Inception): the released Caffe model as ported by imgclsmob/pytorchcv
  (`bninception`, 11,295,240 trainable parameters, asserted in its own test), which keeps a bias
  in every conv before batch norm; ours has none, the difference being exactly those biases.
- Inception v4: timm's `inception_v4` and keras-hub's `inception_v4_imagenet` preset,
  42,679,816 (the paper gives no count).
"""

import sys

import keras
import numpy as np
import pytest
from omegaconf import OmegaConf
from support.model_builds import CONF_MODEL, config_options, paper_model, per_family, small_model

from cnnlab import models
from cnnlab.config.model import MODEL_SCHEMAS
from cnnlab.errors import ConfigError, GeometryError
from cnnlab.layers import Im2ColConv2D, Im2ColDepthwiseConv2D, Im2ColPool2D
from cnnlab.models import _registry, alexnet, googlenet, inception_v3, inception_v4
from cnnlab.models.blocks.auxiliary import with_auxiliary_outputs
from cnnlab.models.blocks.heads import softmax_classifier
from cnnlab.models.resnet import ZeroPadShortcut
from cnnlab.training.compile import compile_model

KERAS_APPLICATIONS = {  # name: (keras.applications builder, input side, parameters)
    "vgg16": ("VGG16", 224, 138_357_544),
    "vgg19": ("VGG19", 224, 143_667_240),
    "mobilenet": ("MobileNet", 224, 4_253_864),
    "inception_v3": ("InceptionV3", 299, 23_851_784),
    "inception_resnet_v2": ("InceptionResNetV2", 299, 55_873_736),
}
RESNET_TRAINABLE = {  # the paper's models without conv biases (torchvision's published counts)
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
}
KERAS_RESNETS = {"resnet50": "ResNet50", "resnet101": "ResNet101", "resnet152": "ResNet152"}
VGG_TABLE_2 = {  # millions of parameters
    "vgg11": 133,
    "vgg11_lrn": 133,
    "vgg13": 133,
    "vgg16_c": 134,
    "vgg16": 138,
    "vgg19": 144,
}
CIFAR_TABLE_6 = {  # millions of parameters, as printed
    "resnet20": "0.27",
    "resnet32": "0.46",
    "resnet44": "0.66",
    "resnet56": "0.85",
    "resnet110": "1.7",
    "resnet1202": "19.4",
}


def trainable_count(model: keras.Model) -> int:
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def labels_for(model: keras.Model, labels: np.ndarray):
    return dict.fromkeys(models.loss_weights(model), labels) or labels


# Every registered model ---------------------------------------------------------------------


def one_worker_for_resnet1202(names):
    """ResNet-1202 takes a minute to build: its tests share one worker, hence one build, in
    `make test-all` (the same builder and formula are checked at the smaller depths)."""
    marks = [pytest.mark.xdist_group("resnet1202"), pytest.mark.slow]
    return [pytest.param(n, marks=marks) if n == "resnet1202" else n for n in names]


@pytest.mark.parametrize("name", per_family(models.available()))
def test_every_model_builds_at_32x32x3_from_its_config_and_trains_one_step(rng, name, make_cfg):
    limit = sys.getrecursionlimit()
    model = small_model(name)
    assert sys.getrecursionlimit() == limit  # ResNet-1202 raises it only while it builds
    assert models.inference_model(model).output_shape == (None, 10)

    compile_model(model, make_cfg(f"model={name}"), steps_per_epoch=1, replicas=1)
    model.run_eagerly = True  # one step: tracing a graph of up to 4,000 layers takes longer
    first = model.trainable_weights[0]
    before = np.array(first)
    images = rng.random((2, 32, 32, 3), dtype=np.float32)
    labels = np.eye(10, dtype=np.float32)[[3, 7]]
    logs = model.train_on_batch(images, labels_for(model, labels), return_dict=True)
    assert np.isfinite(logs["loss"])
    assert not np.array_equal(np.array(first), before)


def test_every_model_has_a_config_file_naming_it():
    for name in models.available():
        assert OmegaConf.load(CONF_MODEL / f"{name}.yaml").name == name


# Published parameter counts -----------------------------------------------------------------


def cifar_resnet_trainable(n: int, classes: int = 10) -> int:
    """Sec. 4.2 with option A shortcuts, counted by hand: 3x3 convs without bias, BN gamma and
    beta, FC; the shortcuts add nothing."""
    total, width_in = 3 * 9 * 16 + 2 * 16, 16
    for width in (16, 32, 64):
        for _ in range(n):
            total += 9 * width_in * width + 2 * width + 9 * width * width + 2 * width
            width_in = width
    return total + 64 * classes + classes


@pytest.mark.parametrize("name", one_worker_for_resnet1202(CIFAR_TABLE_6))
def test_cifar_resnets_have_the_parameters_of_table_6(name):
    depth = int(name.removeprefix("resnet"))
    count = trainable_count(small_model(name))
    assert count == cifar_resnet_trainable((depth - 2) // 6)
    printed = CIFAR_TABLE_6[name]
    assert f"{count / 1e6:.{len(printed.split('.')[1])}f}" == printed


def test_cifar_resnet_shortcut_b_adds_two_projections():
    a = models.build("resnet20", (32, 32, 3), 10, shortcut="A").count_params()
    b = models.build("resnet20", (32, 32, 3), 10, shortcut="B").count_params()
    # 16 -> 32 and 32 -> 64 1x1 convs, each with BN (gamma, beta, moving mean and variance).
    assert b - a == (16 * 32 + 4 * 32) + (32 * 64 + 4 * 64)


def test_option_a_shortcut_subsamples_and_zero_pads_the_identity(rng):
    x = rng.normal(size=(2, 5, 5, 3)).astype(np.float32)
    expected = np.concatenate([x[:, ::2, ::2, :], np.zeros((2, 3, 3, 5), np.float32)], axis=-1)
    np.testing.assert_array_equal(ZeroPadShortcut(8, 2)(x), expected)


@pytest.mark.parametrize("side", [227, 224])
def test_alexnet_has_the_released_two_gpu_parameter_count_at_227_and_224(side):
    assert paper_model("alexnet", side).count_params() == 60_965_224


def test_alexnet_one_gpu_variant_has_full_convolutions():
    model = models.build("alexnet", (227, 227, 3), 1000, grouped=False)
    # conv2, conv4, conv5 see all 96, 384, 384 input maps instead of half of them.
    extra = 5 * 5 * 48 * 256 + 3 * 3 * 192 * 384 + 3 * 3 * 192 * 256
    assert model.count_params() == 60_965_224 + extra
    assert model.get_layer("conv2").kernel.shape == (5, 5, 96, 256)


@pytest.mark.parametrize("side", [227, 224])
def test_alexnet_feature_maps_are_those_of_fig_2(side):
    model = paper_model("alexnet", side)
    names = ("conv1", "pool1", "conv2", "pool2", "conv5", "pool5")
    shapes = {name: model.get_layer(name).output.shape[1:] for name in names}
    assert shapes == {
        "conv1": (55, 55, 96),
        "pool1": (27, 27, 96),
        "conv2": (27, 27, 256),
        "pool2": (13, 13, 256),
        "conv5": (13, 13, 256),
        "pool5": (6, 6, 256),
    }
    assert model.get_layer("conv2").kernel.shape == (5, 5, 48, 256)  # each GPU's half
    # Caffe's 227 needs no padding; at 224 conv1 pads 2 pixels as torchvision does.
    padded = "conv1_pad" in [layer.name for layer in model.layers]
    assert padded == (side == 224)


def test_zfnet_feature_maps_are_those_of_fig_3():
    model = models.build("zfnet", (224, 224, 3), 1000)
    expected = {
        "conv1": (110, 110, 96),
        "pool1": (55, 55, 96),
        "conv2": (26, 26, 256),
        "pool2": (13, 13, 256),
        "conv5": (13, 13, 256),
        "pool5": (6, 6, 256),
    }
    assert {name: model.get_layer(name).output.shape[1:] for name in expected} == expected


@pytest.mark.parametrize("name", ["resnet18", "resnet34", "resnet50"])
def test_imagenet_resnets_have_the_published_parameter_counts(name):
    assert trainable_count(paper_model(name, 224)) == RESNET_TRAINABLE[name]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet101", "resnet152"])
def test_deep_imagenet_resnets_have_the_published_parameter_counts(name):
    assert trainable_count(models.build(name, (224, 224, 3), 1000)) == RESNET_TRAINABLE[name]


@pytest.mark.parametrize("name", ["mobilenet", "inception_v3"])
def test_counts_equal_keras_applications(name):
    _, side, expected = KERAS_APPLICATIONS[name]
    assert paper_model(name, side).count_params() == expected


@pytest.mark.slow
@pytest.mark.parametrize("name", ["vgg16", "vgg19", "inception_resnet_v2"])
def test_large_models_count_equal_keras_applications(name):
    _, side, expected = KERAS_APPLICATIONS[name]
    assert models.build(name, (side, side, 3), 1000).count_params() == expected


@pytest.mark.slow
@pytest.mark.parametrize("name", KERAS_APPLICATIONS)
def test_side_by_side_with_keras_applications(name):
    builder, side, expected = KERAS_APPLICATIONS[name]
    reference = getattr(keras.applications, builder)(weights=None, input_shape=(side, side, 3))
    assert reference.count_params() == expected
    assert models.build(name, (side, side, 3), 1000).count_params() == expected


@pytest.mark.slow
@pytest.mark.parametrize("name", KERAS_RESNETS)
def test_resnets_equal_keras_applications_but_for_its_conv_biases(name):
    reference = getattr(keras.applications, KERAS_RESNETS[name])(weights=None)
    conv_biases = sum(
        layer.bias.shape[0]
        for layer in reference.layers
        if isinstance(layer, keras.layers.Conv2D) and layer.use_bias
    )
    ours = models.build(name, (224, 224, 3), 1000)
    assert ours.count_params() + conv_biases == reference.count_params()


@pytest.mark.slow
@pytest.mark.parametrize("name", VGG_TABLE_2)
def test_vgg_configurations_have_the_parameters_of_table_2(name):
    count = models.build(name, (224, 224, 3), 1000).count_params()
    assert round(count / 1e6) == VGG_TABLE_2[name]


def test_vgg_configuration_c_adds_three_1x1_convolutions_to_b():
    # Table 1: C = B + conv1-256, conv1-512, conv1-512; at 32x32 the FC layers are the same.
    b = small_model("vgg13").count_params()
    c = small_model("vgg16_c").count_params()
    assert c - b == (256 * 256 + 256) + 2 * (512 * 512 + 512)


def test_vgg_a_lrn_differs_from_a_only_by_its_lrn_layer():
    a, lrn = small_model("vgg11"), small_model("vgg11_lrn")
    assert a.count_params() == lrn.count_params()
    assert [type(layer).__name__ for layer in lrn.layers if "lrn" in layer.name] == ["LRN"]


# GoogLeNet's auxiliary classifiers ---------------------------------------------------------


def test_googlenet_auxiliary_classifiers_are_training_outputs_only():
    model = paper_model("googlenet", 224)
    assert model.output_names == ["predictions", "aux1", "aux2"]
    assert models.loss_weights(model) == {"predictions": 1.0, "aux1": 0.3, "aux2": 0.3}
    # Sec. 5: 5x5/3 average pools give 4x4x512 on 4a and 4x4x528 on 4d.
    assert model.get_layer("aux1_pool").output.shape[1:] == (4, 4, 512)
    assert model.get_layer("aux2_pool").output.shape[1:] == (4, 4, 528)
    assert model.get_layer("aux1_fc_dropout").rate == 0.7
    inference = models.inference_model(model)
    plain = paper_model("googlenet", 224, aux_weight=0.0)
    assert inference.output_names == ["predictions"]
    assert inference.count_params() == plain.count_params()
    assert models.loss_weights(plain) == {}


def test_googlenet_modules_have_the_depths_of_table_1():
    model = paper_model("googlenet", 224, aux_weight=0.0)
    depths = {m: model.get_layer(f"inception_{m}").output.shape[1:] for m in ("3a", "4e", "5b")}
    assert depths == {"3a": (28, 28, 256), "4e": (14, 14, 832), "5b": (7, 7, 1024)}
    assert model.get_layer("dropout").rate == 0.4


# Inception v2 (BN-Inception) and v4 ---------------------------------------------------------


def test_inception_v2_is_the_caffe_bn_inception_without_conv_biases():
    model = paper_model("inception_v2", 224)
    conv_biases = sum(
        layer.filters for layer in model.layers if isinstance(layer, keras.layers.Conv2D)
    )
    assert not any(
        layer.use_bias for layer in model.layers if isinstance(layer, keras.layers.Conv2D)
    )
    assert trainable_count(model) + conv_biases == 11_295_240
    assert trainable_count(model) == 11_285_224


def test_inception_v2_modules_follow_fig_5():
    model = paper_model("inception_v2", 224)
    depths = {m: model.get_layer(f"inception_{m}").output.shape[1:] for m in ("3a", "3b", "3c")}
    assert depths == {"3a": (28, 28, 256), "3b": (28, 28, 320), "3c": (14, 14, 576)}
    # The 5x5 is two 3x3 (the "double 3x3" columns); no 5x5 kernel is left anywhere.
    kernels = {
        layer.kernel_size for layer in model.layers if isinstance(layer, keras.layers.Conv2D)
    }
    assert kernels == {(7, 7), (3, 3), (1, 1)}
    # 4c and 4d hold 608 maps and 4e 1,056 (its pass-through adds 4d's 608 to 192 + 256), as in
    # the released Caffe model's channel list.
    assert model.get_layer("inception_4d").output.shape[1:] == (14, 14, 608)
    assert model.get_layer("inception_4e").output.shape[1:] == (7, 7, 1056)
    assert model.get_layer("inception_5b").output.shape[1:] == (7, 7, 1024)
    assert isinstance(model.get_layer("inception_5b_pool"), keras.layers.MaxPooling2D)
    assert isinstance(model.get_layer("inception_5a_pool"), keras.layers.AveragePooling2D)
    assert not [layer for layer in model.layers if "lrn" in layer.name or "dropout" in layer.name]


def test_inception_v4_has_timms_parameter_count_and_fig_9_grids():
    model = paper_model("inception_v4", 299)
    assert trainable_count(model) == 42_679_816
    grids = ("stem_mixed1", "stem_mixed2", "stem_mixed3", "reduction_a", "reduction_b")
    shapes = {name: model.get_layer(name).output.shape[1:] for name in grids}
    assert shapes == {
        "stem_mixed1": (73, 73, 160),
        "stem_mixed2": (71, 71, 192),
        "stem_mixed3": (35, 35, 384),
        "reduction_a": (17, 17, 1024),
        "reduction_b": (8, 8, 1536),
    }
    assert model.get_layer("inception_c3").output.shape[1:] == (8, 8, 1536)
    assert model.get_layer("dropout").rate == 0.2


# Small inputs and the stems --------------------------------------------------------------------


def test_auto_stem_keeps_the_imagenet_stem_from_64_pixels():
    small = models.build("resnet18", (32, 32, 3), 10)
    large = models.build("resnet18", (64, 64, 3), 10)
    assert small.get_layer("conv1").output.shape[1:3] == (32, 32)
    assert "pool1" not in [layer.name for layer in small.layers]
    assert large.get_layer("pool1").output.shape[1:3] == (16, 16)


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("alexnet", {}),
        ("zfnet", {}),
        ("vgg11", {}),
        ("googlenet", {"aux_weight": 0.3}),
        ("mobilenet", {}),
        ("resnet20", {}),
        ("resnet18", {}),
        ("inception_v3", {}),
        ("inception_v2", {}),
        ("inception_v4", {}),
    ],
)
def test_models_build_for_28x28_grey_digits(name, options):
    model = models.build(name, (28, 28, 1), 10, **options)
    assert models.inference_model(model).output_shape == (None, 10)


MINIMUM_SIDES = [
    ("alexnet", "imagenet", {}, alexnet.MINIMUM_SIDE["alexnet"]["imagenet"]),
    ("alexnet", "small", {}, alexnet.MINIMUM_SIDE["alexnet"]["small"]),
    ("zfnet", "imagenet", {}, alexnet.MINIMUM_SIDE["zfnet"]["imagenet"]),
    ("zfnet", "small", {}, alexnet.MINIMUM_SIDE["zfnet"]["small"]),
    ("googlenet", "imagenet", {"aux_weight": 0.3}, googlenet.MINIMUM_SIDE["imagenet"]),
    ("googlenet", "small", {"aux_weight": 0.3}, googlenet.MINIMUM_SIDE["small"]),
    ("inception_v3", "imagenet", {}, inception_v3.MINIMUM_SIDE["imagenet"]),
    ("inception_v3", "small", {}, inception_v3.MINIMUM_SIDE["small"]),
    ("inception_v4", "imagenet", {}, inception_v4.MINIMUM_SIDE["imagenet"]),
    ("inception_v4", "small", {}, inception_v4.MINIMUM_SIDE["small"]),
]


@pytest.mark.parametrize(("name", "stem", "options", "side"), MINIMUM_SIDES)
def test_too_small_input_is_refused_naming_the_minimum(name, stem, options, side):
    with pytest.raises(
        GeometryError, match=rf"model={name} \(stem={stem}\).* at least {side}x{side}"
    ):
        models.build(name, (side - 1, side - 1, 3), 10, stem=stem, **options)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "stem", "options", "side"), MINIMUM_SIDES)
def test_minimum_sides_are_the_smallest_that_build(name, stem, options, side, monkeypatch):
    # Without the up-front check, the registry's search finds where the layers themselves fail.
    monkeypatch.setattr("cnnlab.models.blocks.stems.check_input_side", lambda *args: None)
    found = models.minimum_input_side(name, 3, limit=2 * side, stem=stem, **options)
    assert found == side


def test_the_auto_stem_never_refuses_what_the_small_stem_accepts():
    side = alexnet.MINIMUM_SIDE["alexnet"]["small"]
    assert models.build("alexnet", (side, side, 3), 10).output_shape == (None, 10)


# Options ------------------------------------------------------------------------------------


def test_lenet5_maxout_doubles_every_layer_before_an_activation():
    model = models.build("lenet5", (28, 28, 1), 10, activation="maxout")
    c1, c3, f5, f6 = 5 * 5 * 1 * 12 + 12, 5 * 5 * 6 * 32 + 32, 400 * 240 + 240, 120 * 168 + 168
    assert model.count_params() == c1 + c3 + f5 + f6 + 84 * 10 + 10


def test_prelu_learns_one_slope_per_channel():
    model = models.build("lenet5", (28, 28, 1), 10, activation="prelu")
    assert model.count_params() == 61_706 + 6 + 16 + 120 + 84
    assert model.get_layer("c1_prelu").alpha.shape == (1, 1, 6)


# Each activation as its paper defines it, at a freshly built (inference-mode) model.
ACTIVATION_REFERENCES = {
    "relu": lambda x: np.maximum(x, 0),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.01 * x),  # Maas et al. (2013): slope 0.01
    "prelu": lambda x: np.where(x > 0, x, 0.25 * x),  # He et al. (2015): slopes start at 0.25
    "rrelu": lambda x: np.where(x >= 0, x, x * (1 / 8 + 1 / 3) / 2),  # Xu et al.: the mean slope
    "elu": lambda x: np.where(x > 0, x, np.expm1(x)),
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "tanh": np.tanh,
    # Goodfellow et al. (2013): the max over groups of consecutive channels, 2 pieces each
    "maxout": lambda x: x.reshape(*x.shape[:-1], x.shape[-1] // 2, 2).max(axis=-1),
}


@pytest.mark.parametrize("activation", sorted(ACTIVATION_REFERENCES))
def test_every_activation_computes_its_papers_function_inside_the_model(rng, activation):
    model = models.build("vgg11", (32, 32, 3), 10, activation=activation, batch_norm=True)
    layer = model.get_layer(f"block1_conv1_{activation}")
    taps = keras.Model(model.inputs, [layer.input, layer.output])
    before, after = taps.predict(rng.random((2, 32, 32, 3), dtype=np.float32), verbose=0)
    assert before.min() < 0 < before.max()  # both branches of the piecewise functions are used
    np.testing.assert_allclose(
        after, ACTIVATION_REFERENCES[activation](before), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("name", ["resnet20", "mobilenet", "inception_resnet_v2"])
def test_fixed_width_models_refuse_maxout(name):
    with pytest.raises(
        ConfigError, match=rf"model.activation='maxout' is not available for model={name}"
    ):
        models.build(name, (32, 32, 3), 10, activation="maxout")


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("stem", "tiny", r"model.stem='tiny' is unknown; available: auto, imagenet, small"),
        ("shortcut", "C", r"model.shortcut='C' is unknown; available: A, B, none"),
        ("activation", "swish", r"model.activation='swish' is unknown; available: relu"),
    ],
)
def test_bad_options_are_one_clear_error(option, value, message):
    with pytest.raises(ConfigError, match=message):
        models.build("resnet18", (32, 32, 3), 10, **{option: value})


def test_mobilenet_width_multiplier_thins_every_layer():
    model = models.build("mobilenet", (32, 32, 3), 10, alpha=0.5)
    assert model.get_layer("conv1").kernel.shape == (3, 3, 3, 16)
    assert model.get_layer("conv14_pw").kernel.shape == (1, 1, 512, 512)


def test_mobilenet_resolution_multiplier_resizes_the_input():
    model = models.build("mobilenet", (224, 224, 3), 1000, resolution_multiplier=160 / 224)
    assert model.get_layer("conv1").output.shape[1:3] == (80, 80)


def test_inception_resnet_v2_block_counts_make_a_smaller_variant():
    model = models.build("inception_resnet_v2", (32, 32, 3), 10, blocks=(1, 2, 1))
    names = [layer.name for layer in model.layers if layer.name.endswith("_add")]
    assert names == ["block35_1_add", "block17_1_add", "block17_2_add", "block8_1_add"]


@pytest.mark.parametrize(
    "name",
    [
        "alexnet",
        "zfnet",
        "vgg11_lrn",
        "googlenet",
        "inception_v2",
        "resnet20",
        "plain20",
        "mobilenet",
    ],
)
def test_im2col_builds_every_conv_and_pool_from_cnnlab_layers(name):
    options = config_options(name) | {"conv_impl": "im2col"}
    model = models.build(name, (32, 32, 3), 10, **options)
    native = small_model(name)
    pools = (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)
    native_kinds = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, *pools)
    assert not [layer.name for layer in model.layers if isinstance(layer, native_kinds)]

    def count(model, kinds):
        return sum(isinstance(layer, kinds) for layer in model.layers)

    assert count(model, Im2ColConv2D) == count(native, keras.layers.Conv2D)
    assert count(model, Im2ColDepthwiseConv2D) == count(native, keras.layers.DepthwiseConv2D)
    assert count(model, Im2ColPool2D) == count(native, pools)
    assert model.count_params() == native.count_params()


# Training with auxiliary classifiers through the training loop -----------------------------


def tiny_auxiliary_net(
    input_shape, num_classes, conv_impl="native", filters=8, kernel_size=3, hidden_units=0
):
    """A two-output stand-in for GoogLeNet that builds and trains in seconds."""
    inputs = keras.Input(input_shape)
    x = models.ConvLayers(conv_impl).conv2d(filters, kernel_size, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    main = softmax_classifier(x, num_classes)
    aux = softmax_classifier(x, num_classes, name="aux1")
    return with_auxiliary_outputs(inputs, main, {"aux1": aux}, 0.3, "tiny")


def test_training_a_model_with_auxiliary_classifiers(make_cfg, tmp_path, monkeypatch):
    from cnnlab import tracking
    from cnnlab.training import train

    monkeypatch.setitem(_registry._MODELS, "tiny_auxiliary_net", tiny_auxiliary_net)
    # its options are simple_convnet's: that schema checks them when the config is composed
    monkeypatch.setitem(MODEL_SCHEMAS, "tiny_auxiliary_net", MODEL_SCHEMAS["simple_convnet"])
    cfg = make_cfg("model=simple_convnet", "model.name=tiny_auxiliary_net", "debug=fast")
    result = train(cfg, output_dir=tmp_path)

    metrics = tracking.get_run(result.run_id, cfg.tracking).data.metrics
    assert {
        "loss",
        "accuracy",
        "predictions_loss",
        "aux1_loss",
        "val_accuracy",
        "test_accuracy",
    } <= set(metrics)
    # The loss is the main loss plus 0.3 x the auxiliary loss (Sec. 5); Keras averages the
    # total and the per-output losses over batches a little differently (the last is partial).
    t = result.test_metrics
    main_plus_aux = t["test_predictions_loss"] + 0.3 * t["test_aux1_loss"]
    assert t["test_loss"] == pytest.approx(main_plus_aux, rel=5e-3)
    exported = keras.saving.load_model(result.model_path)
    assert exported.output_names == ["predictions"] and exported.output_shape == (None, 10)


@pytest.mark.slow
def test_googlenet_trains_with_its_auxiliary_losses_logged(make_cfg, tmp_path):
    from cnnlab import tracking
    from cnnlab.training import train

    cfg = make_cfg("model=googlenet", "debug=fast", "trainer.batch_size=8")
    result = train(cfg, output_dir=tmp_path)
    metrics = tracking.get_run(result.run_id, cfg.tracking).data.metrics
    assert {"aux1_loss", "aux2_loss", "predictions_loss", "accuracy", "test_accuracy"} <= set(
        metrics
    )
    assert keras.saving.load_model(result.model_path).output_shape == (None, 10)


# Plain nets (He et al., 2016, Sec. 4.2, Fig. 6 left) -----------------------------------------


@pytest.mark.parametrize("depth", [20, 56])
def test_plain_net_is_the_resnet_without_its_shortcuts(depth):
    plain = small_model(f"plain{depth}")
    resnet = small_model(f"resnet{depth}")
    # Option A shortcuts add no parameter, so the plain net has exactly the ResNet's weights.
    assert plain.count_params() == resnet.count_params()
    assert trainable_count(plain) == cifar_resnet_trainable((depth - 2) // 6)
    kinds = {type(layer).__name__ for layer in plain.layers}
    assert "Add" not in kinds and "ZeroPadShortcut" not in kinds
    convs = [layer for layer in plain.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convs) == depth - 1  # and the FC layer: depth weighted layers
    assert plain.name == f"plain{depth}"


def test_shortcut_none_builds_the_plain_net():
    model = models.build("resnet20", (32, 32, 3), 10, shortcut="none")
    plain = small_model("plain20")
    assert [layer.name for layer in model.layers] == [layer.name for layer in plain.layers]
