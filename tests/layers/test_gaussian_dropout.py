"""Gaussian dropout: the multiplier's mean and variance, exact outputs, gradients, dtypes, modes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dropout_lab import assert_gradient_close
from dropout_lab.errors import InvalidArgumentError, InvalidTypeError
from dropout_lab.layers import GaussianDropoutCache, gaussian_dropout, gaussian_dropout_backward

from ._stats import assert_mean, assert_variance


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("keep_prob", [0.2, 0.5, 0.8, 0.95])
def test_the_multiplier_has_mean_1_and_variance_1_minus_p_over_p(dtype, keep_prob):
    x = np.ones((400, 500), dtype=dtype)
    out, cache = gaussian_dropout(x, keep_prob, train=True, rng=np.random.default_rng(11))
    variance = (1 - keep_prob) / keep_prob
    assert_mean(cache.multiplier, 1.0, math.sqrt(variance), "multiplier")
    # The multiplier is normal: its sample variance's standard error is sigma**2 * sqrt(2 / n).
    assert_variance(cache.multiplier, variance, "multiplier")
    assert np.array_equal(out, x * cache.multiplier)


def test_keras_stddev_is_the_same_noise():
    """Keras's GaussianDropout(rate) draws N(1, rate / (1 - rate)): rate = 1 - keep_prob."""
    keep_prob = 0.7
    rate = 1 - keep_prob
    _, cache = gaussian_dropout(np.ones(200_000), keep_prob, train=True, rng=np.random.default_rng(2))
    assert_variance(cache.multiplier, rate / (1 - rate), "multiplier")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_output_is_x_times_the_multiplier_and_dtypes_are_kept(dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((7, 9)).astype(dtype)
    out, cache = gaussian_dropout(x, 0.6, train=True, rng=np.random.default_rng(1))
    assert out.dtype == dtype and cache.multiplier.dtype == dtype
    assert np.array_equal(out, x * cache.multiplier)
    dout = rng.standard_normal(x.shape).astype(dtype)
    dx = gaussian_dropout_backward(dout, cache)
    assert dx.dtype == dtype and np.array_equal(dx, dout * cache.multiplier)
    # float32 noise is drawn as float32 (not a float64 draw cast down): the stream's own float32 normals.
    expected = np.random.default_rng(1).standard_normal(x.shape, dtype=dtype)
    expected *= dtype(math.sqrt(0.4 / 0.6))
    expected += dtype(1)
    assert np.array_equal(cache.multiplier, expected)


def test_test_mode_and_keep_1_are_the_identity_and_draw_nothing():
    x = np.random.default_rng(0).standard_normal((5, 4))
    rng = np.random.default_rng(3)
    state = rng.bit_generator.state
    for kwargs in ({"keep_prob": 0.5, "train": False}, {"keep_prob": 1.0, "train": True}):
        out, cache = gaussian_dropout(x, rng=rng, **kwargs)
        assert np.array_equal(out, x) and out is not x and cache.multiplier is None
        dout = np.ones_like(x)
        assert np.array_equal(gaussian_dropout_backward(dout, cache), dout)
    assert rng.bit_generator.state == state
    out, _ = gaussian_dropout(x, 0.5, train=False)  # test mode needs no generator
    assert np.array_equal(out, x)


def test_the_same_seed_gives_the_same_noise_and_each_call_fresh_noise():
    x = np.ones((30, 20))
    a, _ = gaussian_dropout(x, 0.5, train=True, rng=np.random.default_rng(5))
    b, _ = gaussian_dropout(x, 0.5, train=True, rng=np.random.default_rng(5))
    assert np.array_equal(a, b)
    rng = np.random.default_rng(5)
    c, _ = gaussian_dropout(x, 0.5, train=True, rng=rng)
    d, _ = gaussian_dropout(x, 0.5, train=True, rng=rng)
    assert np.array_equal(a, c) and not np.array_equal(c, d)


@pytest.mark.parametrize("keep_prob", [0.3, 0.8])
def test_gradient(keep_prob):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((6, 7))
    dout = rng.standard_normal(x.shape)

    def f(v):  # the same noise at every probe: a fresh generator from the same seed
        return gaussian_dropout(v, keep_prob, train=True, rng=np.random.default_rng(9))[0]

    _, cache = gaussian_dropout(x, keep_prob, train=True, rng=np.random.default_rng(9))
    assert_gradient_close(f, x, gaussian_dropout_backward(dout, cache), df=dout, tol=1e-8)


def test_bad_calls_name_the_argument():
    x = np.ones((2, 3))
    with pytest.raises(InvalidArgumentError, match="rng is required"):
        gaussian_dropout(x, 0.5, train=True)
    with pytest.raises(InvalidTypeError, match="train"):
        gaussian_dropout(x, 0.5, train=1)
    _, cache = gaussian_dropout(x, 0.5, train=True, rng=np.random.default_rng(0))
    with pytest.raises(InvalidArgumentError, match="dout"):
        gaussian_dropout_backward(np.ones((3, 3)), cache)
    with pytest.raises(InvalidTypeError, match="dout"):
        gaussian_dropout_backward(np.ones((2, 3), dtype=np.float32), cache)
    with pytest.raises(InvalidTypeError, match="cache"):
        gaussian_dropout_backward(x, (None,))
    assert isinstance(cache, GaussianDropoutCache)


@given(
    x=hnp.arrays(
        st.sampled_from([np.float32, np.float64]),
        hnp.array_shapes(min_dims=1, max_dims=4, max_side=6),
        elements=st.floats(-100, 100, width=32),
    ),
    keep_prob=st.floats(0.01, 1.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_property_shapes_dtypes_and_values(x, keep_prob, seed):
    out, cache = gaussian_dropout(x, keep_prob, train=True, rng=np.random.default_rng(seed))
    assert out.shape == x.shape and out.dtype == x.dtype and np.all(np.isfinite(out))
    if cache.multiplier is not None:
        assert np.array_equal(out, x * cache.multiplier)
    dx = gaussian_dropout_backward(np.ones_like(x), cache)
    assert dx.shape == x.shape and dx.dtype == x.dtype
