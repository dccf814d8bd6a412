"""Im2ColConv2D, Im2ColDepthwiseConv2D and Im2ColPool2D against tf.nn, Keras and the NumPy reference.

Property tests run the layers eagerly without XLA (`jit_compile=False`: the backend-neutral
`keras.ops` code); the parametrized ones run the default XLA-compiled ops, chunked.
"""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from support.im2col_cases import (
    COMPILED_CONVS,
    POLICY_TOLERANCE,
    conv_cases,
    pool_cases,
    tf_conv,
)

from cnnlab.errors import ConfigError, GeometryError
from cnnlab.layers import Im2ColConv2D, Im2ColDepthwiseConv2D, Im2ColPool2D
from cnnlab.reference import conv_backward_naive, conv_forward_naive, pool_forward, relative_error

RTOL = 1e-5  # float32 relative error
RNG = np.random.default_rng(0)
EXAMPLES = settings(max_examples=25, deadline=None, derandomize=True)


@pytest.fixture(autouse=True)
def _same_draws_in_any_order():
    """Each test draws the same inputs and weights whichever tests ran before it on its worker."""
    RNG.bit_generator.state = np.random.default_rng(0).bit_generator.state
    keras.utils.set_random_seed(0)


def random(shape) -> tf.Tensor:
    return tf.constant(RNG.standard_normal(shape), tf.float32)


def forward_and_gradients(fn, x: tf.Tensor, weights=()):
    """fn(x) and the gradients of sum(fn(x) * r) for x and `weights`, r the same random upstream
    gradient for every fn of the same output shape."""
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = fn(x)
        loss = tf.reduce_sum(y * tf.random.stateless_normal(y.shape, (1, 2), dtype=y.dtype))
    return [y, *tape.gradient(loss, [x, *weights])]


def assert_close(got, want, rtol=RTOL):
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape
        assert relative_error(g, w) < rtol


def check_conv_against_tf_and_the_numpy_reference(case):
    shape, filters, kernel, strides, padding, dilation, groups = case
    layer = Im2ColConv2D(
        filters, kernel, strides, padding, dilation_rate=dilation, groups=groups,
        bias_initializer="random_normal", exact_fit=False, jit_compile=False,
    )  # fmt: skip
    x = random(shape)
    layer.build(shape)
    got = forward_and_gradients(layer, x, [layer.kernel, layer.bias])
    want = forward_and_gradients(
        lambda v: tf_conv(v, layer.kernel, layer.bias, strides, padding, dilation, groups), x,
        [layer.kernel, layer.bias],
    )  # fmt: skip
    assert_close(got, want)
    x64, kernel64 = (np.asarray(v, np.float64) for v in (x, layer.kernel))
    pads = layer.geometry(shape).pads
    reference = conv_forward_naive(
        x64, kernel64, layer.bias.numpy(), strides, pads, dilation, groups
    )
    upstream = tf.random.stateless_normal(reference.shape, (1, 2)).numpy()
    reference_grads = conv_backward_naive(upstream, x64, kernel64, strides, pads, dilation, groups)
    assert_close(got, [reference, *reference_grads])


@given(conv_cases())
@settings(max_examples=15, deadline=None, derandomize=True)
def test_conv_matches_tf_nn_conv2d_and_the_numpy_reference(case):
    check_conv_against_tf_and_the_numpy_reference(case)


@given(conv_cases(dilated=True))
@settings(max_examples=10, deadline=None, derandomize=True)
def test_dilated_conv_matches_tf_nn_conv2d_and_the_numpy_reference(case):
    check_conv_against_tf_and_the_numpy_reference(case)


@given(pool_cases())
@EXAMPLES
def test_pool_matches_tf_nn_pools_and_the_numpy_reference(case):
    shape, pool, strides, padding, mode = case
    layer = Im2ColPool2D(pool, strides, padding, mode, exact_fit=False, jit_compile=False)
    x = random(shape)  # continuous: no ties, where frameworks may differ
    got = forward_and_gradients(layer, x)
    reference = pool_forward(
        x.numpy().astype(np.float64), pool, strides, layer.geometry(shape).pads, mode
    )
    assert relative_error(got[0], reference) < RTOL
    if isinstance(padding, str):  # tf.nn pools take no explicit padding
        tf_pool = tf.nn.max_pool2d if mode == "max" else tf.nn.avg_pool2d
        want = forward_and_gradients(lambda v: tf_pool(v, pool, strides, padding.upper()), x)
        assert_close(got, want)


# `backward="autodiff"` differentiates the unfold itself: the first four cases take each of its
# geometries (padding, strides with bands, dilation with groups, 1x1 bands); the later ones test
# branches of the explicit backward that autodiff never reaches.
AUTODIFF_CASES = 4


def compiled_conv_cases():
    for index, case in enumerate(COMPILED_CONVS):
        for backward in ("col2im", "autodiff")[: 2 if index < AUTODIFF_CASES else 1]:
            yield pytest.param(*case, backward, id=f"case{index}-{backward}")


@pytest.mark.parametrize(
    ("shape", "arguments", "max_unfold_bytes", "backward"), compiled_conv_cases()
)
def test_compiled_chunked_conv_equals_keras_conv2d(shape, arguments, max_unfold_bytes, backward):
    native = keras.layers.Conv2D(**arguments, bias_initializer="random_normal")
    layer = Im2ColConv2D(
        **arguments, exact_fit=False, backward=backward, max_unfold_bytes=max_unfold_bytes
    )
    native.build(shape)
    layer.build(shape)
    layer.set_weights(native.get_weights())
    spec = layer.op_spec(shape)
    assert spec.chunk < shape[0] * (spec.bands.count if spec.bands else 1)  # really split
    assert layer.unfold_bytes(shape) <= max_unfold_bytes
    x = random(shape)
    assert_close(
        forward_and_gradients(tf.function(layer), x, layer.trainable_weights),
        forward_and_gradients(native, x, native.trainable_weights),
    )


@pytest.mark.parametrize(
    ("native", "layer"),
    [
        (keras.layers.MaxPooling2D(3, 2, "same"), Im2ColPool2D(3, 2, "same", max_unfold_bytes=900)),
        (
            keras.layers.AveragePooling2D(2),
            Im2ColPool2D(2, mode="avg", exact_fit=False, max_unfold_bytes=900),
        ),
    ],
)
def test_compiled_chunked_pool_equals_keras_pooling(native, layer):
    x = random((5, 9, 9, 3))
    assert_close(forward_and_gradients(tf.function(layer), x), forward_and_gradients(native, x))


@pytest.mark.parametrize(("mode", "padding"), [("max", "same"), ("avg", "valid")])
def test_tiling_pool_windows_on_many_channels_equal_keras_pooling(mode, padding):
    # stride = window on >= 16 channels: unfolded by a reshape; padded, or floored (7 = 3*2 + 1)
    native = {"max": keras.layers.MaxPooling2D, "avg": keras.layers.AveragePooling2D}[mode]
    layer = Im2ColPool2D(2, padding=padding, mode=mode, exact_fit=False)
    x = tf.nn.relu(random((2, 7, 7, 16)))  # ties at zero go to the first maximum
    assert_close(
        forward_and_gradients(tf.function(layer), x),
        forward_and_gradients(native(2, padding=padding), x),
    )


@pytest.mark.parametrize(
    "arguments",
    [
        {"kernel_size": 3, "strides": 2, "padding": "same", "depth_multiplier": 2},
        # stride 1, multiplier 1: dX as a depthwise conv of dY with the flipped kernel
        {"kernel_size": (3, 2), "padding": "same", "dilation_rate": 2},
    ],
)
def test_depthwise_conv_equals_keras_depthwise_conv(arguments):
    native = keras.layers.DepthwiseConv2D(**arguments, bias_initializer="random_normal")
    layer = Im2ColDepthwiseConv2D(**arguments)
    shape = (3, 9, 10, 4)
    native.build(shape)
    layer.build(shape)
    layer.set_weights(native.get_weights())
    x = random(shape)
    assert_close(
        forward_and_gradients(layer, x, layer.trainable_weights),
        forward_and_gradients(native, x, native.trainable_weights),
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda backward: Im2ColConv2D(3, (3, 2), 2, 1, exact_fit=False, backward=backward),
        lambda backward: Im2ColPool2D(3, 2, "same", backward=backward),
        lambda backward: Im2ColPool2D(2, mode="avg", exact_fit=False, backward=backward),
    ],
)
def test_col2im_gradient_equals_the_autodiff_gradient(make):
    x = random((2, 9, 9, 3))
    explicit, autodiff = make("col2im"), make("autodiff")
    explicit.build(x.shape)
    autodiff.build(x.shape)
    autodiff.set_weights(explicit.get_weights())
    assert_close(
        forward_and_gradients(explicit, x, explicit.trainable_weights),
        forward_and_gradients(autodiff, x, autodiff.trainable_weights),
    )


def test_max_pool_gradient_follows_tf_on_ties_the_first_maximum():
    # After a ReLU many windows are all zeros: tf.nn.max_pool2d (and this layer) send a tied
    # window's whole gradient to its first maximum in row-major order.
    x = tf.nn.relu(random((2, 6, 6, 3)))
    layer = Im2ColPool2D(2)
    got = forward_and_gradients(layer, x)
    want = forward_and_gradients(lambda v: tf.nn.max_pool2d(v, 2, 2, "VALID"), x)
    np.testing.assert_array_equal(got[1], want[1])
    tied = forward_and_gradients(layer, tf.zeros((1, 2, 2, 1)))[1].numpy()[0, :, :, 0]
    assert np.count_nonzero(tied) == 1 and tied[0, 0] != 0


def test_chunks_bound_the_unfolded_matrix_and_change_no_result():
    x = random((7, 10, 10, 3))
    whole = Im2ColConv2D(4, 3, padding="same", max_unfold_bytes=None)
    chunked = Im2ColConv2D(4, 3, padding="same", max_unfold_bytes=3 * 10 * 10 * 27 * 4)
    whole.build(x.shape)
    chunked.build(x.shape)
    chunked.set_weights(whole.get_weights())
    image = 10 * 10 * 27 * 4  # OH*OW rows of kh*kw*C float32 entries
    assert whole.unfold_bytes(x.shape) == 7 * image
    assert chunked.unfold_bytes(x.shape) == 2 * image  # a power of two of images within 3
    banded = Im2ColConv2D(4, 3, padding="same", max_unfold_bytes=image // 3)
    banded.build(x.shape)
    banded.set_weights(whole.get_weights())
    assert banded.op_spec(x.shape).bands.count == 4  # 3 rows of 10 per band
    assert banded.unfold_bytes(x.shape) == 3 * image // 10
    want = forward_and_gradients(whole, x, whole.trainable_weights)
    assert_close(forward_and_gradients(banded, x, banded.trainable_weights), want)
    # also when the batch size is unknown while tracing (7 images, chunks of 2: 2 + 2 + 2 + 1)
    dynamic = tf.function(chunked, input_signature=[tf.TensorSpec((None, 10, 10, 3))])
    assert_close(forward_and_gradients(dynamic, x, chunked.trainable_weights), want)


def test_layers_reproduce_the_books_worked_examples():
    x = tf.constant([[1, 2, 3, 0], [0, 1, 2, 3], [3, 0, 1, 2], [2, 3, 0, 1]], tf.float32)
    kernel = np.array([[2, 0, 1], [0, 1, 2], [1, 0, 2]], np.float32)[:, :, None, None]
    padded = Im2ColConv2D(1, 3, padding=1, use_bias=False)
    padded.build((1, 4, 4, 1))
    padded.set_weights([kernel])
    expected = [[7, 12, 10, 2], [4, 15, 16, 10], [10, 6, 15, 6], [8, 10, 4, 3]]
    assert padded(x[None, :, :, None])[0, :, :, 0].numpy().tolist() == expected
    biased = Im2ColConv2D(1, 3)
    biased.build((1, 4, 4, 1))
    biased.set_weights([kernel, np.array([3.0], np.float32)])
    assert biased(x[None, :, :, None])[0, :, :, 0].numpy().tolist() == [[18, 19], [9, 18]]
    pool_input = tf.constant([[1, 2, 1, 0], [0, 1, 2, 3], [3, 0, 1, 2], [2, 4, 0, 1]], tf.float32)
    pooled = Im2ColPool2D(2)(pool_input[None, :, :, None])
    assert pooled[0, :, :, 0].numpy().tolist() == [[2, 3], [4, 2]]


def test_weights_transfer_both_ways_with_keras_conv2d():
    x = random((2, 8, 8, 3))
    native = keras.layers.Conv2D(5, 3, padding="same", bias_initializer="random_normal")
    layer = Im2ColConv2D(5, 3, padding="same")
    native.build(x.shape)
    layer.build(x.shape)
    layer.set_weights(native.get_weights())
    np.testing.assert_allclose(layer(x), native(x), rtol=RTOL, atol=1e-6)
    other = keras.layers.Conv2D(5, 3, padding="same")
    other.build(x.shape)
    other.set_weights(layer.get_weights())
    np.testing.assert_allclose(other(x), layer(x), rtol=RTOL, atol=1e-6)


def small_model() -> keras.Model:
    inputs = keras.Input((12, 12, 3))
    x = Im2ColConv2D(6, 3, padding="same", activation="relu", kernel_regularizer="l2")(inputs)
    x = Im2ColDepthwiseConv2D(3, padding="same", depth_multiplier=2)(x)
    x = Im2ColPool2D(2, mode="avg")(x)
    x = Im2ColConv2D(4, (3, 2), strides=(2, 1), padding=(1, 0), exact_fit=False, groups=2)(x)
    x = Im2ColPool2D(2, padding="same", max_unfold_bytes=None, backward="autodiff")(x)
    return keras.Model(inputs, keras.layers.Flatten()(x))


def test_saved_model_loads_back_and_predicts_identically(tmp_path):
    model = small_model()
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = RNG.random((3, 12, 12, 3), dtype=np.float32)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    for original, restored in zip(model.layers, loaded.layers, strict=True):
        assert restored.get_config() == original.get_config()


@pytest.fixture
def policy():
    yield keras.mixed_precision.set_global_policy
    keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("name", ["mixed_float16", "mixed_bfloat16"])
def test_layers_compute_in_the_mixed_precision_policy(name, policy):
    x = RNG.random((2, 12, 12, 3), dtype=np.float32)
    reference = small_model()
    policy(name)
    model = small_model()
    model.set_weights(reference.get_weights())
    assert model.layers[1].kernel.dtype == "float32"
    with tf.GradientTape() as tape:
        y = model(x)
        loss = tf.reduce_sum(tf.cast(y, tf.float32) ** 2)
    dtype = name.removeprefix("mixed_")
    assert y.dtype == dtype
    assert relative_error(tf.cast(y, tf.float32), reference(x)) < POLICY_TOLERANCE[dtype]
    assert all(np.isfinite(g).all() for g in tape.gradient(loss, model.trainable_weights))


# ---------------------------------------------------------------- geometry errors


def test_inexact_fit_raises_showing_the_formula_with_its_numbers():
    layer = Im2ColConv2D(4, 5, strides=2, name="c1")
    with pytest.raises(
        GeometryError,
        match=r"Im2ColConv2D 'c1': height output \(N \+ 2P - F\) / S \+ 1 = "
        r"\(28 \+ 2\*0 - 5\) / 2 \+ 1 = 12.5 is not a whole number.*exact_fit=False",
    ):
        layer(keras.Input((28, 28, 1)))


def test_exact_fit_false_floors_like_keras():
    for padding in ("valid", "same"):
        native = keras.layers.Conv2D(4, 5, strides=2, padding=padding)
        layer = Im2ColConv2D(4, 5, strides=2, padding=padding, exact_fit=False)
        assert layer.compute_output_shape((None, 28, 27, 1)) == native.compute_output_shape(
            (None, 28, 27, 1)
        )


def test_dilated_kernel_larger_than_the_padded_input_is_refused():
    with pytest.raises(GeometryError, match=r"width window F = 2\*\(3-1\)\+1 = 5 is larger than the padded input N \+ 2P = 3 \+ 2\*0 = 3"):  # fmt: skip
        Im2ColConv2D(2, 3, dilation_rate=2)(keras.Input((9, 3, 1)))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Im2ColConv2D(0, 3), r"filters=0 is invalid"),
        (lambda: Im2ColConv2D(4, 0), r"kernel_size=0 is invalid"),
        (lambda: Im2ColConv2D(4, (3, -1)), r"kernel_size=\(3, -1\) is invalid"),
        (lambda: Im2ColConv2D(4, 3, strides=0), r"strides=0 is invalid"),
        (lambda: Im2ColConv2D(4, 3, padding=-1), r"padding=-1 is invalid"),
        (lambda: Im2ColConv2D(4, 3, padding="full"), r"padding='full' is invalid"),
        (lambda: Im2ColConv2D(4, 3, dilation_rate=0), r"dilation_rate=0 is invalid"),
        (lambda: Im2ColConv2D(4, 3, groups=3), r"filters=4 is not divisible by groups=3"),
        (lambda: Im2ColConv2D(4, 3, data_format="channels_first"), r"NHWC"),
        (lambda: Im2ColConv2D(4, 3, max_unfold_bytes=0), r"max_unfold_bytes=0 is invalid"),
        (lambda: Im2ColDepthwiseConv2D(3, depth_multiplier=0), r"depth_multiplier=0"),
        (lambda: Im2ColPool2D(0), r"pool_size=0 is invalid"),
        (lambda: Im2ColPool2D(2, padding=2), r"padding=2 must be smaller than pool_size=2"),
    ],
)
def test_impossible_sizes_are_refused_when_the_layer_is_made(make, message):
    with pytest.raises(GeometryError, match=message):
        make()


@pytest.mark.parametrize(
    "make",
    [lambda: Im2ColPool2D(2, mode="median"), lambda: Im2ColConv2D(4, 3, backward="numeric")],
)
def test_unknown_choices_list_the_allowed_ones(make):
    with pytest.raises(ConfigError, match="available: "):
        make()


def test_channels_not_divisible_by_groups_are_refused():
    with pytest.raises(GeometryError, match=r"input's 3 channels are not divisible by groups=2"):
        Im2ColConv2D(4, 3, groups=2)(keras.Input((8, 8, 3)))


def test_loading_weights_for_another_channel_count_names_both(tmp_path):
    rgb = keras.Sequential([keras.Input((8, 8, 3)), Im2ColConv2D(4, 3, name="conv")])
    rgb.save_weights(tmp_path / "rgb.weights.h5")
    grey = keras.Sequential([keras.Input((8, 8, 1)), Im2ColConv2D(4, 3, name="conv")])
    message = r"loaded kernel has shape \(3, 3, 3, 4\) but this layer, built for 1 input channel"
    with pytest.raises(ValueError, match=message):  # Keras wraps the layer's GeometryError
        grey.load_weights(tmp_path / "rgb.weights.h5")
    with pytest.raises(GeometryError, match=message):
        grey.layers[0].set_weights(rgb.layers[0].get_weights())


# ---------------------------------------------------------------- other backends


@pytest.mark.slow
def test_layers_run_on_the_jax_backend():
    pytest.importorskip("jax")
    script = textwrap.dedent(
        """
        import numpy as np, keras
        from cnnlab.layers import Im2ColConv2D, Im2ColPool2D
        from cnnlab.reference import conv_backward_naive, conv_forward_naive, pool_forward, relative_error
        x = np.random.default_rng(0).standard_normal((2, 7, 7, 3)).astype("float32")
        conv = Im2ColConv2D(4, 3, padding="same", max_unfold_bytes=700)
        y = conv(x)
        want = conv_forward_naive(x, conv.kernel.numpy(), conv.bias.numpy(), 1, 1)
        assert relative_error(np.asarray(y), want) < 1e-5
        pooled = Im2ColPool2D(3, 2, "same")(x)
        assert relative_error(np.asarray(pooled), pool_forward(x, 3, 2, ((1, 1), (1, 1)))) < 1e-5
        model = keras.Sequential([keras.Input((7, 7, 3)), conv, Im2ColPool2D(2, exact_fit=False),
                                  keras.layers.Flatten(), keras.layers.Dense(2)])
        model.compile("sgd", "mse")
        model.fit(x, np.zeros((2, 2)), verbose=0)
        print("ok")
        """
    )
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert done.stdout.strip().endswith("ok"), done.stderr[-2000:]
