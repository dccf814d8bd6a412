"""The NumPy reference ops: worked textbook examples, loops against im2col, and every
backward pass against a centered-difference numerical gradient (float64)."""

import numpy as np
import pytest

from cnnlab.errors import ConfigError, GeometryError
from cnnlab.reference import (
    Window,
    col2im,
    conv_backward_im2col,
    conv_backward_naive,
    conv_forward_im2col,
    conv_forward_naive,
    im2col,
    numerical_gradient,
    output_size,
    pool_backward,
    pool_forward,
    relative_error,
)

# Saitoh, "Deep Learning from Scratch" (2016), Figs. 7-3 to 7-6 and 7-12: a 4x4 input,
# a 3x3 filter, the 2x2 output, the same with bias 3, the 4x4 output with padding 1,
# and 2x2 max pooling with stride 2 of another 4x4 input.
BOOK_INPUT = np.array([[1, 2, 3, 0], [0, 1, 2, 3], [3, 0, 1, 2], [2, 3, 0, 1]], float)
BOOK_FILTER = np.array([[2, 0, 1], [0, 1, 2], [1, 0, 2]], float)
BOOK_OUTPUT = np.array([[15, 16], [6, 15]], float)
BOOK_OUTPUT_PAD_1 = np.array(
    [[7, 12, 10, 2], [4, 15, 16, 10], [10, 6, 15, 6], [8, 10, 4, 3]], float
)
BOOK_POOL_INPUT = np.array([[1, 2, 1, 0], [0, 1, 2, 3], [3, 0, 1, 2], [2, 4, 0, 1]], float)
BOOK_POOL_OUTPUT = np.array([[2, 3], [4, 2]], float)

# (x shape, kernel shape, stride, pad, dilation, groups): square and non-square kernels
# and strides, asymmetric padding, dilation, floor geometry, grouped convolution.
CONV_CASES = [
    ((2, 5, 5, 3), (3, 3, 3, 4), 1, 1, 1, 1),
    ((1, 7, 6, 2), (3, 2, 2, 3), (2, 1), (1, 0), 1, 1),
    ((2, 6, 7, 2), (2, 3, 2, 2), 2, ((0, 1), (1, 2)), 1, 1),
    ((1, 8, 8, 1), (3, 3, 1, 2), 1, 2, 2, 1),
    ((1, 9, 9, 2), (3, 3, 2, 2), 2, 1, 2, 1),
    ((2, 6, 6, 4), (3, 3, 2, 4), 1, 1, 1, 2),
    ((1, 7, 7, 2), (4, 4, 2, 1), 3, 0, 1, 1),
]
POOL_CASES = [  # (x shape, pool size, stride, pad)
    ((2, 4, 4, 3), 2, None, 0),
    ((1, 7, 6, 2), 3, 2, 1),
    ((1, 5, 7, 2), (2, 3), (1, 2), (1, 1)),
    ((2, 6, 6, 1), 3, 3, ((0, 1), (1, 0))),
]


def book(array: np.ndarray) -> np.ndarray:
    return array[None, :, :, None]


def test_output_size_matches_the_books_examples():
    assert output_size(4, 3, 1, 1) == 4
    assert output_size(7, 3, 0, 2) == 3
    assert (output_size(28, 5, 2, 3), output_size(31, 5, 2, 3)) == (10, 11)


def test_output_size_refuses_an_inexact_fit_showing_the_formula():
    with pytest.raises(GeometryError, match=r"\(28 \+ 2\*0 - 5\) / 2 \+ 1 = 12.5"):
        output_size(28, 5, 0, 2)
    with pytest.raises(GeometryError, match=r"\(28 \+ 2\*1 - 5\) / 2 \+ 1 = 13.5 is not"):
        output_size(28, 5, 1, 2)
    assert output_size(28, 5, 0, 2, exact_fit=False) == 12


def test_output_size_refuses_a_window_larger_than_the_padded_input():
    with pytest.raises(GeometryError, match=r"larger than the padded input N \+ 2P = 6$"):
        output_size(2, 7, 2, 1)
    assert output_size(3, 5, 1, 1) == 1  # as large as the padded input: one position


@pytest.mark.parametrize(
    ("n", "f", "p", "s"), [(0, 1, 0, 1), (4, 0, 0, 1), (4, 1, 0, 0), (4, 1, -1, 1)]
)
def test_output_size_refuses_non_positive_sizes_and_negative_padding(n, f, p, s):
    message = rf"^sizes must be positive \(N={n}, F={f}, S={s}\) and P={p} >= 0$"
    with pytest.raises(GeometryError, match=message):
        output_size(n, f, p, s)


def test_conv_reproduces_the_books_worked_examples():
    x, w = book(BOOK_INPUT), BOOK_FILTER[:, :, None, None]
    for forward in (conv_forward_naive, conv_forward_im2col):
        np.testing.assert_array_equal(forward(x, w)[0, :, :, 0], BOOK_OUTPUT)
        np.testing.assert_array_equal(forward(x, w, np.array([3.0]))[0, :, :, 0], BOOK_OUTPUT + 3)
        np.testing.assert_array_equal(forward(x, w, pad=1)[0, :, :, 0], BOOK_OUTPUT_PAD_1)


def test_max_pool_reproduces_the_books_worked_example():
    np.testing.assert_array_equal(
        pool_forward(book(BOOK_POOL_INPUT), 2)[0, :, :, 0], BOOK_POOL_OUTPUT
    )


def test_im2col_rows_are_receptive_fields_in_kernel_order(rng):
    x = rng.standard_normal((2, 4, 5, 3))
    cols = im2col(x, Window.of(3, 1, 0))
    assert cols.shape == (2 * 2 * 3, 3 * 3 * 3)
    np.testing.assert_array_equal(cols[4], x[0, 1:4, 1:4, :].reshape(-1))  # n=0, oh=1, ow=1


@pytest.mark.parametrize(("x_shape", "w_shape", "stride", "pad", "dilation", "groups"), CONV_CASES)
def test_col2im_is_the_adjoint_of_im2col(rng, x_shape, w_shape, stride, pad, dilation, groups):
    window = Window.of(w_shape[:2], stride, pad, dilation)
    x = rng.standard_normal(x_shape)
    cols = rng.standard_normal(im2col(x, window).shape)
    # <im2col(x), cols> == <x, col2im(cols)>: col2im routes every entry back where it came from.
    assert np.vdot(im2col(x, window), cols) == pytest.approx(
        np.vdot(x, col2im(cols, x_shape, window))
    )


@pytest.mark.parametrize(("x_shape", "w_shape", "stride", "pad", "dilation", "groups"), CONV_CASES)
def test_im2col_conv_equals_the_explicit_loops(
    rng, x_shape, w_shape, stride, pad, dilation, groups
):
    x, w, b = (
        rng.standard_normal(x_shape),
        rng.standard_normal(w_shape),
        rng.standard_normal(w_shape[3]),
    )
    dout = rng.standard_normal(conv_forward_naive(x, w, b, stride, pad, dilation, groups).shape)
    np.testing.assert_allclose(
        conv_forward_im2col(x, w, b, stride, pad, dilation, groups),
        conv_forward_naive(x, w, b, stride, pad, dilation, groups),
        rtol=1e-12,
    )
    for got, want in zip(
        conv_backward_im2col(dout, x, w, stride, pad, dilation, groups),
        conv_backward_naive(dout, x, w, stride, pad, dilation, groups),
        strict=True,
    ):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("x_shape", "w_shape", "stride", "pad", "dilation", "groups"), CONV_CASES)
def test_conv_backward_equals_the_numerical_gradient(
    rng, x_shape, w_shape, stride, pad, dilation, groups
):
    x, w, b = (
        rng.standard_normal(x_shape),
        rng.standard_normal(w_shape),
        rng.standard_normal(w_shape[3]),
    )
    dout = rng.standard_normal(conv_forward_naive(x, w, b, stride, pad, dilation, groups).shape)

    def loss(x, w, b):
        return float(np.sum(conv_forward_naive(x, w, b, stride, pad, dilation, groups) * dout))

    dx, dw, db = conv_backward_naive(dout, x, w, stride, pad, dilation, groups)
    assert relative_error(dx, numerical_gradient(lambda v: loss(v, w, b), x)) < 1e-7
    assert relative_error(dw, numerical_gradient(lambda v: loss(x, v, b), w)) < 1e-7
    assert relative_error(db, numerical_gradient(lambda v: loss(x, w, v), b)) < 1e-7


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize(("x_shape", "pool", "stride", "pad"), POOL_CASES)
def test_pool_backward_equals_the_numerical_gradient(rng, x_shape, pool, stride, pad, mode):
    x = rng.standard_normal(x_shape)  # continuous: no two inputs of a window tie
    dout = rng.standard_normal(pool_forward(x, pool, stride, pad, mode).shape)
    dx = pool_backward(dout, x, pool, stride, pad, mode)

    def loss(v):
        return float(np.sum(pool_forward(v, pool, stride, pad, mode) * dout))

    assert relative_error(dx, numerical_gradient(loss, x)) < 1e-7


def test_padding_never_wins_a_max_or_counts_in_an_average():
    x = -np.ones((1, 2, 2, 1))  # every real input is below the zero padding
    assert pool_forward(x, 2, 1, 1, "max").max() == -1
    np.testing.assert_array_equal(pool_forward(x, 2, 1, 1, "avg"), -np.ones((1, 3, 3, 1)))


def test_max_pool_sends_a_tied_windows_gradient_to_its_first_maximum():
    x = np.zeros((1, 2, 2, 1))  # one window, four tied maxima (as after a ReLU)
    dx = pool_backward(np.ones((1, 1, 1, 1)), x, 2)
    np.testing.assert_array_equal(dx[0, :, :, 0], [[1, 0], [0, 0]])


def test_average_pool_spreads_the_gradient_evenly(rng):
    dx = pool_backward(np.full((1, 1, 1, 1), 8.0), rng.standard_normal((1, 2, 2, 1)), 2, mode="avg")
    np.testing.assert_array_equal(dx[0, :, :, 0], np.full((2, 2), 2.0))


def test_the_ops_keep_float32_and_widen_to_the_wider_operand(rng):
    x = rng.standard_normal((1, 5, 5, 2)).astype(np.float32)
    w = rng.standard_normal((3, 3, 2, 4)).astype(np.float32)
    dout = rng.standard_normal((1, 3, 3, 4)).astype(np.float32)
    window = Window.of(3)
    assert im2col(x, window).dtype == col2im(im2col(x, window), x.shape, window).dtype == np.float32
    for backward in (conv_backward_im2col, conv_backward_naive):
        dx, dw, _ = backward(dout, x, w)
        assert dx.dtype == dw.dtype == np.float32, backward.__name__
        dx, dw, _ = backward(dout.astype(np.float64), x, w)
        assert dx.dtype == dw.dtype == np.float64, backward.__name__
        dx, dw, _ = backward(dout, x.astype(np.float64), w.astype(np.float64))
        assert dx.dtype == dw.dtype == np.float64, backward.__name__


def test_a_float64_gradient_of_float32_operands_is_summed_in_float64(rng):
    # float32 widens to float64 exactly, so the sums must equal those of widened operands: a
    # float32 buffer would round each of them at about 1e-7
    x = rng.standard_normal((2, 6, 6, 3)).astype(np.float32)
    w = rng.standard_normal((3, 3, 3, 4)).astype(np.float32)
    dout = rng.standard_normal((2, 4, 4, 4))
    for backward in (conv_backward_im2col, conv_backward_naive):
        widened = backward(dout, x.astype(np.float64), w.astype(np.float64))
        for got, want in zip(backward(dout, x, w), widened, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-14)


def test_conv_defaults_are_stride_1_no_padding_no_dilation_one_group(rng):
    x, w = rng.standard_normal((1, 5, 5, 2)), rng.standard_normal((3, 3, 2, 4))
    dout = rng.standard_normal((1, 3, 3, 4))
    np.testing.assert_array_equal(
        conv_forward_im2col(x, w), conv_forward_im2col(x, w, None, 1, 0, 1, 1)
    )
    np.testing.assert_array_equal(
        conv_forward_naive(x, w), conv_forward_naive(x, w, None, 1, 0, 1, 1)
    )
    for default, explicit in (
        (conv_backward_im2col(dout, x, w), conv_backward_im2col(dout, x, w, 1, 0, 1, 1)),
        (conv_backward_naive(dout, x, w), conv_backward_naive(dout, x, w, 1, 0, 1, 1)),
    ):
        for a, b in zip(default, explicit, strict=True):
            np.testing.assert_array_equal(a, b)


def test_unknown_pool_mode_names_the_key_and_the_modes():
    for pool in (pool_forward, lambda *a, **k: pool_backward(np.ones((1, 1, 1, 1)), *a, **k)):
        with pytest.raises(ConfigError, match=r"^mode='median' is unknown; available: max, avg$"):
            pool(np.ones((1, 2, 2, 1)), 2, mode="median")
