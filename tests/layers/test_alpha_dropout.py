"""Alpha dropout: the affine correction, mean 0 and variance 1 kept (on standard-normal inputs and on
SELU-ed ones), the fraction at the dropped value, exact outputs, gradients, dtypes, modes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dropout_lab import assert_gradient_close, dropout_mask
from dropout_lab.errors import InvalidArgumentError, InvalidTypeError
from dropout_lab.layers import (
    SELU_ALPHA,
    SELU_LAMBDA,
    alpha_dropout,
    alpha_dropout_affine,
    alpha_dropout_backward,
    selu_forward,
)

from ._stats import assert_binomial, assert_mean, assert_variance

ALPHA_PRIME = -SELU_LAMBDA * SELU_ALPHA
KEEPS = [0.5, 0.8, 0.9, 0.95]


@pytest.mark.parametrize("keep_prob", [*KEEPS, 0.1, 1.0])
def test_the_correction_gives_mean_0_and_variance_1_in_closed_form(keep_prob):
    """For x of mean 0 and variance 1, x' = x (kept, prob q) or alpha' (dropped) has mean (1 - q) alpha'
    and variance q + alpha'**2 q (1 - q); a x' + b then has mean 0 and variance 1."""
    q = keep_prob
    a, b = alpha_dropout_affine(q)
    assert a == pytest.approx((q + ALPHA_PRIME**2 * q * (1 - q)) ** -0.5, rel=1e-15)
    assert b == pytest.approx(-a * (1 - q) * ALPHA_PRIME, rel=1e-15, abs=0)
    assert abs(a * (1 - q) * ALPHA_PRIME + b) < 1e-15
    assert a**2 * (q + ALPHA_PRIME**2 * q * (1 - q)) == pytest.approx(1, rel=1e-15)


@pytest.mark.parametrize("inputs", ["standard normal", "selu of standard normal"])
@pytest.mark.parametrize("keep_prob", KEEPS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mean_0_and_variance_1_are_kept(inputs, keep_prob, dtype):
    """The self-normalizing property: standard-normal inputs (the paper's statement) and SELU-ed
    standard-normal ones (mean 0, variance 1 at SELU's fixed point) come out with mean 0, variance 1."""
    x = np.random.default_rng(0).standard_normal((1000, 1000)).astype(dtype)
    if inputs != "standard normal":
        x, _ = selu_forward(x)
    out, cache = alpha_dropout(x, keep_prob, train=True, rng=np.random.default_rng(1))
    assert out.dtype == dtype
    assert_mean(out, 0.0, 1.0, "alpha dropout's output")
    assert_variance(out, 1.0, "alpha dropout's output")
    a, b = alpha_dropout_affine(keep_prob)
    dropped = out == dtype(a * ALPHA_PRIME + b)
    assert np.array_equal(dropped, ~cache.mask)
    assert_binomial(int(dropped.sum()), dropped.size, 1 - keep_prob, "dropped units")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_output_exactly_and_the_mask_stream_of_dropout(dtype):
    x = np.random.default_rng(2).standard_normal((9, 11)).astype(dtype)
    out, cache = alpha_dropout(x, 0.7, train=True, rng=np.random.default_rng(3))
    mask = dropout_mask(x.shape, 0.7, np.random.default_rng(3))
    assert np.array_equal(cache.mask, mask)
    a, b = alpha_dropout_affine(0.7)
    kept = x * dtype(a) + dtype(b)
    assert np.array_equal(out, np.where(mask, kept, dtype(a * ALPHA_PRIME + b)))
    dx = alpha_dropout_backward(np.ones_like(x), cache)
    assert dx.dtype == dtype and np.array_equal(dx, np.where(mask, dtype(a), dtype(0)))


def test_test_mode_and_keep_1_are_the_identity_and_draw_nothing():
    x = np.random.default_rng(0).standard_normal((5, 4))
    rng = np.random.default_rng(3)
    state = rng.bit_generator.state
    for keep_prob, train in ((0.5, False), (1.0, True)):
        out, cache = alpha_dropout(x, keep_prob, train=train, rng=rng)
        assert np.array_equal(out, x) and out is not x and cache.mask is None
        assert np.array_equal(alpha_dropout_backward(np.ones_like(x), cache), np.ones_like(x))
    assert rng.bit_generator.state == state


def test_the_same_seed_gives_the_same_mask():
    x = np.ones((20, 30))
    a, _ = alpha_dropout(x, 0.5, train=True, rng=np.random.default_rng(5))
    b, _ = alpha_dropout(x, 0.5, train=True, rng=np.random.default_rng(5))
    assert np.array_equal(a, b)


@pytest.mark.parametrize("keep_prob", [0.5, 0.95])
def test_gradient(keep_prob):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((6, 7))
    dout = rng.standard_normal(x.shape)
    _, cache = alpha_dropout(x, keep_prob, train=True, rng=np.random.default_rng(9))

    def f(v):
        return alpha_dropout(v, keep_prob, train=True, rng=np.random.default_rng(9))[0]

    assert_gradient_close(f, x, alpha_dropout_backward(dout, cache), df=dout, tol=1e-8)


def test_bad_calls_name_the_argument():
    x = np.ones((2, 3))
    with pytest.raises(InvalidArgumentError, match="rng is required"):
        alpha_dropout(x, 0.5, train=True)
    _, cache = alpha_dropout(x, 0.5, train=True, rng=np.random.default_rng(0))
    with pytest.raises(InvalidArgumentError, match="dout"):
        alpha_dropout_backward(np.ones((3, 3)), cache)
    with pytest.raises(InvalidTypeError, match="cache"):
        alpha_dropout_backward(x, None)
    with pytest.raises(InvalidArgumentError, match="keep_prob"):
        alpha_dropout_affine(0.0)


@given(
    x=hnp.arrays(st.sampled_from([np.float32, np.float64]), hnp.array_shapes(min_dims=1, max_dims=4, max_side=6),
                 elements=st.floats(-100, 100, width=32)),
    keep_prob=st.floats(0.01, 1.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_property_shapes_dtypes_and_values(x, keep_prob, seed):
    out, cache = alpha_dropout(x, keep_prob, train=True, rng=np.random.default_rng(seed))
    assert out.shape == x.shape and out.dtype == x.dtype and np.all(np.isfinite(out))
    if cache.mask is not None:
        a, b = alpha_dropout_affine(keep_prob)
        assert np.all(out[~cache.mask] == x.dtype.type(a * ALPHA_PRIME + b))
        assert math.isclose(float(cache.a), a, rel_tol=1e-6)
