"""DropConnect affine layer: the weight mask's keep rate, E[out] = x @ w + b, exact outputs,
gradients, dtypes, modes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dropout_lab import assert_gradient_close, dropout_mask
from dropout_lab.errors import InvalidArgumentError, InvalidTypeError
from dropout_lab.layers import affine_forward, dropconnect_affine, dropconnect_affine_backward

from ._stats import assert_binomial, z_for


def _data(seed=0, n=4, d=6, m=5, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, d)).astype(dtype), rng.standard_normal((d, m)).astype(dtype),
            rng.standard_normal(m).astype(dtype))


@pytest.mark.parametrize("keep_prob", [0.3, 0.5, 0.75, 0.9])
def test_the_weight_mask_keeps_keep_prob_of_the_weights(keep_prob):
    x, _, _ = _data()
    w = np.ones((300, 400))
    _, cache = dropconnect_affine(x[:, :1].repeat(300, axis=1), w, np.zeros(400), keep_prob, train=True,
                                  rng=np.random.default_rng(1))
    mask = cache.weights.mask
    assert mask.shape == w.shape
    assert_binomial(int(mask.sum()), mask.size, keep_prob, "kept weights")


@pytest.mark.parametrize("keep_prob", [0.5, 0.8])
def test_the_mean_output_over_masks_is_x_w_plus_b(keep_prob):
    x, w, b = _data(seed=2, n=3, d=8, m=4)
    draws = 20_000
    rng = np.random.default_rng(3)
    total = np.zeros((3, 4))
    for _ in range(draws):
        total += dropconnect_affine(x, w, b, keep_prob, train=True, rng=rng)[0]
    mean = total / draws
    # out[n, j] = sum_d x[n, d] w[d, j] mask[d, j] / p + b[j]: variance sum_d (x w)**2 (1 - p) / p.
    sigma = np.sqrt((x**2) @ (w**2) * (1 - keep_prob) / keep_prob)
    z = z_for(mean.size)  # every element checked: the family fails falsely with probability 5.7e-7
    assert np.all(np.abs(mean - (x @ w + b)) <= z * sigma / math.sqrt(draws))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_output_uses_the_masked_weights_exactly_and_keeps_the_dtype(dtype):
    x, w, b = _data(dtype=dtype)
    out, cache = dropconnect_affine(x, w, b, 0.6, train=True, rng=np.random.default_rng(4))
    mask = dropout_mask(w.shape, 0.6, np.random.default_rng(4))  # the same stream as dropout's masks
    assert np.array_equal(cache.weights.mask, mask)
    masked = np.where(mask, w * dtype(1 / 0.6), dtype(0))
    assert out.dtype == dtype and np.array_equal(out, x @ masked + b)
    dx, dw, db = dropconnect_affine_backward(np.ones_like(out), cache)
    assert dx.dtype == dw.dtype == db.dtype == dtype
    assert np.all(dw[~mask] == 0)


def test_test_mode_uses_the_mean_weights_and_draws_nothing():
    x, w, b = _data()
    rng = np.random.default_rng(5)
    state = rng.bit_generator.state
    expected, _ = affine_forward(x, w, b)
    for keep_prob, train in ((0.5, False), (1.0, True)):
        out, cache = dropconnect_affine(x, w, b, keep_prob, train=train, rng=rng)
        assert np.array_equal(out, expected) and cache.weights.mask is None
    assert rng.bit_generator.state == state


def test_the_same_seed_gives_the_same_mask_and_each_call_a_fresh_one():
    x, w, b = _data()
    a, _ = dropconnect_affine(x, w, b, 0.5, train=True, rng=np.random.default_rng(6))
    b1, _ = dropconnect_affine(x, w, b, 0.5, train=True, rng=np.random.default_rng(6))
    assert np.array_equal(a, b1)
    rng = np.random.default_rng(6)
    c, _ = dropconnect_affine(x, w, b, 0.5, train=True, rng=rng)
    d, _ = dropconnect_affine(x, w, b, 0.5, train=True, rng=rng)
    assert np.array_equal(a, c) and not np.array_equal(c, d)


@pytest.mark.parametrize("keep_prob", [0.4, 0.9])
@pytest.mark.parametrize("in_shape", [(6,), (2, 3)])
def test_gradients(keep_prob, in_shape):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((4, *in_shape))
    w = rng.standard_normal((6, 5))
    b = rng.standard_normal(5)
    dout = rng.standard_normal((4, 5))
    _, cache = dropconnect_affine(x, w, b, keep_prob, train=True, rng=np.random.default_rng(8))
    dx, dw, db = dropconnect_affine_backward(dout, cache)

    def forward(xv, wv, bv):  # the same mask at every probe: a fresh generator from the same seed
        return dropconnect_affine(xv, wv, bv, keep_prob, train=True, rng=np.random.default_rng(8))[0]

    assert dx.shape == x.shape
    assert_gradient_close(lambda v: forward(v, w, b), x, dx, df=dout, tol=1e-8, name="x")
    assert_gradient_close(lambda v: forward(x, v, b), w, dw, df=dout, tol=1e-8, name="w")
    assert_gradient_close(lambda v: forward(x, w, v), b, db, df=dout, tol=1e-8, name="b")


def test_a_refused_call_draws_nothing():
    x, w, b = _data()
    rng = np.random.default_rng(9)
    state = rng.bit_generator.state
    for bad in ((x[:, :4], w, b), (x, w, b[:2]), (x, w.astype(np.float32), b)):
        with pytest.raises((InvalidArgumentError, InvalidTypeError)):
            dropconnect_affine(*bad, 0.5, train=True, rng=rng)
    assert rng.bit_generator.state == state
    with pytest.raises(InvalidArgumentError, match="rng is required"):
        dropconnect_affine(x, w, b, 0.5, train=True)
    with pytest.raises(InvalidTypeError, match="cache"):
        dropconnect_affine_backward(np.ones((4, 5)), None)


@given(n=st.integers(1, 5), d=st.integers(1, 6), m=st.integers(1, 6), keep_prob=st.floats(0.05, 1.0),
       seed=st.integers(0, 2**32 - 1), dtype=st.sampled_from([np.float32, np.float64]))
def test_property_shapes_and_dtypes(n, d, m, keep_prob, seed, dtype):
    x, w, b = _data(seed % 1000, n, d, m, dtype)
    out, cache = dropconnect_affine(x, w, b, keep_prob, train=True, rng=np.random.default_rng(seed))
    assert out.shape == (n, m) and out.dtype == dtype and np.all(np.isfinite(out))
    dx, dw, db = dropconnect_affine_backward(np.ones_like(out), cache)
    assert (dx.shape, dw.shape, db.shape) == (x.shape, w.shape, b.shape)
    assert dx.dtype == dw.dtype == db.dtype == dtype
