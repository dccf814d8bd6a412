"""Geometries and references shared by the im2col tests: random conv and pool cases drawn by
Hypothesis, the compiled (chunked, banded) conv cases, and `tf.nn` references that TensorFlow
differentiates on every CPU."""

import tensorflow as tf
from hypothesis import strategies as st

# 16-bit policies: 4 units of each compute dtype's precision (eps = 2^-10 and 2^-7) of the
# values' scale; the im2col layers' largest errors were 0.43 (float16) and 0.54 (bfloat16) units
# of the precision tests' scale, 0.48 and 0.70 units of a small model's largest output.
POLICY_TOLERANCE = {"float16": 4 * 2.0**-10, "bfloat16": 4 * 2.0**-7}


def tf_padding(padding):
    """tf.nn's padding argument for a layer padding: 'SAME', 'VALID' or explicit pairs."""
    if isinstance(padding, str):
        return padding.upper()
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    return [[0, 0], [ph, ph], [pw, pw], [0, 0]]


def pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def dilated(kernel: tf.Tensor, dilation) -> tf.Tensor:
    """The kernel with d - 1 zero taps between its taps along each axis of dilation d: the same
    convolution with no dilation argument."""
    for axis, d in enumerate(pair(dilation)):
        if d > 1:
            zeros = tf.zeros_like(tf.gather(kernel, [0], axis=axis))
            taps = tf.split(kernel, kernel.shape[axis], axis=axis)
            spaced = [t for tap in taps[:-1] for t in (tap, *[zeros] * (d - 1))] + taps[-1:]
            kernel = tf.concat(spaced, axis=axis)
    return kernel


def tf_conv(x, kernel, bias, strides, padding, dilation=1, groups=1):
    """tf.nn.conv2d with the dilation written into the kernel and one call per group: a reference
    that TensorFlow differentiates on every CPU and at every stride. Its own CPU kernel (oneDNN
    off, as on CPUs without AVX-512) has no gradient for a dilated or a grouped conv2d."""
    xs = tf.split(x, groups, axis=-1)
    ks = tf.split(dilated(kernel, dilation), groups, axis=-1)
    ys = [tf.nn.conv2d(xg, kg, strides, tf_padding(padding)) for xg, kg in zip(xs, ks, strict=True)]
    return tf.concat(ys, axis=-1) + bias


@st.composite
def conv_cases(draw, dilated: bool = False):
    """A random Conv2D geometry; `dilated` draws a dilation rate above 1 on at least one axis
    (at any stride: the im2col layer takes both, where Keras's Conv2D refuses the pair)."""
    groups = draw(st.sampled_from([1, 1, 2]))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    strides = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (1, 1)
    if dilated:
        dilation = draw(st.sampled_from([(2, 1), (1, 2), (2, 2), (3, 2)]))
    padding = draw(
        st.one_of(
            st.sampled_from(["valid", "same"]),
            st.integers(0, 2),
            st.tuples(st.integers(0, 2), st.integers(0, 2)),
        )
    )
    pads = {"valid": (0, 0), "same": (0, 0)}.get(padding, padding)
    pads = (pads, pads) if isinstance(pads, int) else pads
    smallest = [(k - 1) * d + 1 - 2 * p for k, d, p in zip(kernel, dilation, pads, strict=True)]
    shape = (
        draw(st.integers(1, 3)),
        draw(st.integers(max(1, smallest[0]), 9)),
        draw(st.integers(max(1, smallest[1]), 9)),
        groups * draw(st.integers(1, 3)),
    )
    filters = groups * draw(st.integers(1, 3))
    return shape, filters, kernel, strides, padding, dilation, groups


@st.composite
def pool_cases(draw):
    pool = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    strides = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = draw(st.sampled_from(["valid", "same", "explicit"]))
    if padding == "explicit":
        padding = tuple(draw(st.integers(0, p - 1)) for p in pool)
    pads = padding if isinstance(padding, tuple) else (0, 0)
    shape = (
        draw(st.integers(1, 3)),
        draw(st.integers(max(1, pool[0] - 2 * pads[0]), 8)),
        draw(st.integers(max(1, pool[1] - 2 * pads[1]), 8)),
        draw(st.integers(1, 3)),
    )
    return shape, pool, strides, padding, draw(st.sampled_from(["max", "avg"]))


COMPILED_CONVS = [  # (input shape, Conv2D arguments, max_unfold_bytes): the default XLA path
    (
        (5, 12, 11, 3),
        {"filters": 4, "kernel_size": 3, "padding": "same"},
        30_000,
    ),  # 2 + 2 + 1 images
    ((4, 13, 13, 2), {"filters": 3, "kernel_size": (5, 3), "strides": (2, 3)}, 1_000),  # 3 bands
    ((3, 10, 10, 4), {"filters": 4, "kernel_size": 3, "dilation_rate": 2, "groups": 2}, 6_000),
    ((6, 8, 8, 8), {"filters": 16, "kernel_size": 1}, 700),  # 4 bands of 2 rows
    # stride 1 with >= 8 channels per group: dX as the conv of dY with the flipped kernel
    (
        (4, 9, 8, 8),
        {"filters": 5, "kernel_size": 3, "padding": "same", "dilation_rate": (2, 1)},
        50_000,
    ),
    ((3, 7, 7, 16), {"filters": 8, "kernel_size": 3, "groups": 2}, 30_000),
    # depth kh*kw*C/g >= 256: dW by TensorFlow's matmul outside XLA; 2 chunks, 2 groups, 2 bands
    ((4, 6, 6, 32), {"filters": 8, "kernel_size": 3, "padding": "same"}, 90_000),
    ((3, 6, 6, 64), {"filters": 8, "kernel_size": 3, "padding": "same", "groups": 2}, 100_000),
    ((2, 9, 9, 32), {"filters": 4, "kernel_size": 3, "strides": 2}, 10_000),
]
