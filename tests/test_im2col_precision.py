"""The im2col layers under mixed precision: computed in the policy's dtype, variables in float32.

Each case is compared with `tf.nn.conv2d` (one call per group, the dilation written into the
kernel, so that TensorFlow differentiates it on every CPU) and TensorFlow's pools, computed in
float32 on the same inputs rounded to the policy's dtype, forward and backward: the error is at
most a few units of that dtype's precision, relative to the size of the terms each value sums.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from support.im2col_cases import (
    COMPILED_CONVS,
    POLICY_TOLERANCE,
    conv_cases,
    pool_cases,
    tf_conv,
)

from cnnlab.layers import Im2ColConv2D, Im2ColDepthwiseConv2D, Im2ColPool2D

POLICIES = ("mixed_float16", "mixed_bfloat16")
EXAMPLES = settings(  # the policy fixture holds for every example of a test
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
RNG = np.random.default_rng(1)


@pytest.fixture(autouse=True)
def _same_draws_in_any_order():
    """Each test draws the same inputs and initial weights whichever tests ran before it on its
    xdist worker (a float16 bias gradient drawn after other tests missed its tolerance)."""
    RNG.bit_generator.state = np.random.default_rng(1).bit_generator.state
    keras.utils.set_random_seed(1)


@pytest.fixture
def policy(request):
    keras.mixed_precision.set_global_policy(request.param)
    yield keras.mixed_precision.global_policy().compute_dtype
    keras.mixed_precision.set_global_policy("float32")


def rounded(value, dtype: str) -> tf.Tensor:
    """`value` as float32 holding exactly what the policy's dtype can hold."""
    return tf.cast(tf.cast(tf.convert_to_tensor(value, tf.float32), dtype), tf.float32)


def outputs_and_gradients(fn, x, weights, upstream):
    """fn(x) in float32 and the gradients of sum(fn(x) * upstream) for x and `weights`."""
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = fn(x)
        loss = tf.reduce_sum(tf.cast(y, tf.float32) * upstream)
    return [tf.cast(y, tf.float32), *tape.gradient(loss, [x, *weights])]


def check_against(layer, reference, shape, dtype):
    """The layer (policy dtype) against `reference(x, weights)` in float32 on rounded values."""
    x = tf.constant(RNG.standard_normal(shape), tf.float32)
    weights = layer.trainable_weights
    assert all(w.dtype == "float32" for w in weights)
    y = layer(x)
    assert y.dtype == dtype
    upstream = rounded(RNG.standard_normal(y.shape), dtype)
    got = outputs_and_gradients(layer, x, weights, upstream)
    x32 = rounded(x, dtype)
    w32 = [tf.Variable(rounded(w, dtype)) for w in weights]
    want = outputs_and_gradients(lambda v: reference(v, *w32), x32, w32, upstream)
    scales = error_scales(reference, x32, w32, upstream)
    for g, w, scale in zip(got, want, scales, strict=True):
        assert g.shape == w.shape
        assert np.max(np.abs(g - w)) <= POLICY_TOLERANCE[dtype] * scale


def error_scales(reference, x, weights, upstream) -> list[float]:
    """The largest value of each output and gradient computed on absolute values: for every sum
    the layer rounds, the sum of its terms' sizes, which its rounding error is proportional to.
    A sum that cancels (a bias gradient near 0) keeps an error of its terms' size, so its own
    value is no scale for that error."""
    magnitudes = [tf.Variable(tf.abs(w)) for w in weights]
    return [
        float(tf.reduce_max(v))
        for v in outputs_and_gradients(
            lambda v: reference(v, *magnitudes), tf.abs(x), magnitudes, tf.abs(upstream)
        )
    ]


@pytest.mark.parametrize("dilated", [False, True], ids=["undilated", "dilated"])
@pytest.mark.parametrize("policy", POLICIES, indirect=True)
@given(data=st.data())
@settings(EXAMPLES, max_examples=6)
def test_conv_matches_tf_nn_conv2d_in_the_policy_dtype(policy, dilated, data):
    shape, filters, kernel, strides, padding, dilation, groups = data.draw(conv_cases(dilated))
    layer = Im2ColConv2D(
        filters, kernel, strides, padding, dilation_rate=dilation, groups=groups,
        bias_initializer="random_normal", exact_fit=False, jit_compile=False,
    )  # fmt: skip
    layer.build(shape)
    check_against(
        layer,
        lambda v, k, b: tf_conv(v, k, b, strides, padding, dilation, groups),
        shape,
        policy,
    )


@pytest.mark.parametrize("policy", POLICIES, indirect=True)
@pytest.mark.parametrize(("shape", "arguments", "max_unfold_bytes"), COMPILED_CONVS)
def test_compiled_chunked_conv_matches_tf_nn_conv2d_in_the_policy_dtype(
    policy, shape, arguments, max_unfold_bytes
):
    layer = Im2ColConv2D(
        **arguments,
        exact_fit=False,
        bias_initializer="random_normal",
        max_unfold_bytes=max_unfold_bytes,
    )
    layer.build(shape)
    spec = layer.op_spec(shape)
    assert spec.jit and spec.chunk < shape[0] * (spec.bands.count if spec.bands else 1)
    strides = arguments.get("strides", 1)
    dilation = arguments.get("dilation_rate", 1)
    padding = arguments.get("padding", "valid")
    groups = arguments.get("groups", 1)
    check_against(
        layer,
        lambda v, k, b: tf_conv(v, k, b, strides, padding, dilation, groups),
        shape,
        policy,
    )


@pytest.mark.parametrize("stride, multiplier", [(2, 2), (1, 1)])
@pytest.mark.parametrize("policy", POLICIES, indirect=True)
def test_depthwise_conv_matches_tf_depthwise_conv2d_in_the_policy_dtype(policy, stride, multiplier):
    layer = Im2ColDepthwiseConv2D(
        3,
        strides=stride,
        padding="same",
        depth_multiplier=multiplier,
        bias_initializer="random_normal",
    )
    layer.build((3, 9, 10, 4))
    check_against(
        layer,
        lambda v, k, b: tf.nn.depthwise_conv2d(v, k, (1, stride, stride, 1), "SAME") + b,
        (3, 9, 10, 4),
        policy,
    )


@pytest.mark.parametrize("policy", POLICIES, indirect=True)
@given(case=pool_cases())
@EXAMPLES
def test_pool_matches_tf_nn_pools_in_the_policy_dtype(policy, case):
    shape, pool, strides, padding, mode = case
    assume(isinstance(padding, str))  # tf.nn pools take no explicit padding
    layer = Im2ColPool2D(pool, strides, padding, mode, exact_fit=False, jit_compile=False)
    tf_pool = tf.nn.max_pool2d if mode == "max" else tf.nn.avg_pool2d
    check_against(layer, lambda v: tf_pool(v, pool, strides, padding.upper()), shape, policy)


@pytest.mark.parametrize("policy", POLICIES, indirect=True)
def test_tiling_max_pool_on_many_channels_matches_tf_in_the_policy_dtype(policy):
    layer = Im2ColPool2D(2, padding="same")  # stride = window, 16 channels: the reshape unfold
    check_against(layer, lambda v: tf.nn.max_pool2d(v, 2, 2, "SAME"), (2, 7, 7, 16), policy)
