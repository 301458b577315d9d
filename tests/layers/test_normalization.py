"""Batch and layer normalization: statistics, running averages, gradients, the two backward forms."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dropout_lab import assert_gradient_close
from dropout_lab.gradcheck import rel_error
from dropout_lab.layers import (
    batchnorm_backward,
    batchnorm_backward_alt,
    batchnorm_forward,
    layernorm_backward,
    layernorm_forward,
)


def _data(n=4, d=5, seed=231):
    rng = np.random.default_rng(seed)
    x = 5 * rng.standard_normal((n, d)) + 12
    gamma = rng.standard_normal(d)
    beta = rng.standard_normal(d)
    dout = rng.standard_normal((n, d))
    return x, gamma, beta, dout


def test_batchnorm_train_statistics():
    x, _, _, _ = _data(200, 3)
    gamma = np.array([1.0, 2.0, 3.0])
    beta = np.array([11.0, 12.0, 13.0])
    out, _ = batchnorm_forward(x, gamma, beta, {"mode": "train"})
    assert np.allclose(out.mean(axis=0), beta, atol=1e-12)
    # With eps = 1e-5 the std falls short of gamma by about eps / (2 var).
    assert np.allclose(out.std(axis=0), gamma, rtol=1e-5)


def test_batchnorm_running_averages_follow_the_course_rule_and_test_mode_uses_them():
    x, gamma, beta, _ = _data(50, 3)
    param = {"mode": "train", "momentum": 0.8}
    batchnorm_forward(x, gamma, beta, param)
    assert np.allclose(param["running_mean"], 0.2 * x.mean(axis=0), rtol=1e-14)
    assert np.allclose(param["running_var"], 0.2 * x.var(axis=0), rtol=1e-14)
    param["mode"] = "test"
    out, cache = batchnorm_forward(x, gamma, beta, param)
    assert cache is None
    expected = gamma * (x - param["running_mean"]) / np.sqrt(param["running_var"] + 1e-5) + beta
    assert np.allclose(out, expected, rtol=1e-14)


def test_batchnorm_gradients_both_forms():
    x, gamma, beta, dout = _data()
    _, cache = batchnorm_forward(x, gamma, beta, {"mode": "train"})
    dx, dgamma, dbeta = batchnorm_backward(dout, cache)
    dx2, dgamma2, dbeta2 = batchnorm_backward_alt(dout, cache)
    assert rel_error(dx, dx2) < 1e-10
    assert np.array_equal(dgamma, dgamma2) and np.array_equal(dbeta, dbeta2)

    def f(xx, g, b):
        return batchnorm_forward(xx, g, b, {"mode": "train"})[0]

    assert_gradient_close(lambda v: f(v, gamma, beta), x, dx, df=dout, tol=1e-7, name="x")
    assert_gradient_close(lambda v: f(x, v, beta), gamma, dgamma, df=dout, tol=1e-8, name="gamma")
    assert_gradient_close(lambda v: f(x, gamma, v), beta, dbeta, df=dout, tol=1e-8, name="beta")


def test_layernorm_statistics_and_gradients():
    x, gamma, beta, dout = _data(4, 6)
    out, cache = layernorm_forward(x, np.ones(6), np.zeros(6), {})
    assert np.allclose(out.mean(axis=1), 0, atol=1e-12)
    assert np.allclose(out.std(axis=1), 1, rtol=1e-4)
    _, cache = layernorm_forward(x, gamma, beta, {})
    dx, dgamma, dbeta = layernorm_backward(dout, cache)

    def f(xx, g, b):
        return layernorm_forward(xx, g, b, {})[0]

    assert_gradient_close(lambda v: f(v, gamma, beta), x, dx, df=dout, tol=1e-7, name="x")
    assert_gradient_close(lambda v: f(x, v, beta), gamma, dgamma, df=dout, tol=1e-8, name="gamma")
    assert_gradient_close(lambda v: f(x, gamma, v), beta, dbeta, df=dout, tol=1e-8, name="beta")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept(dtype):
    x, gamma, beta, dout = (a.astype(dtype) for a in _data())
    param = {"mode": "train"}
    out, cache = batchnorm_forward(x, gamma, beta, param)
    assert out.dtype == dtype and param["running_mean"].dtype == dtype
    assert all(g.dtype == dtype for g in batchnorm_backward(dout, cache))
    assert all(g.dtype == dtype for g in batchnorm_backward_alt(dout, cache))
    out, cache = layernorm_forward(x, gamma, beta, {})
    assert out.dtype == dtype
    assert all(g.dtype == dtype for g in layernorm_backward(dout, cache))


def test_bad_inputs():
    x, gamma, beta, dout = _data()
    with pytest.raises(ValueError, match=r"gamma must have shape \(5,\)"):
        batchnorm_forward(x, gamma[:3], beta, {"mode": "train"})
    with pytest.raises(ValueError, match=r"beta must have shape \(5,\)"):
        layernorm_forward(x, gamma, beta[:2], {})
    with pytest.raises(ValueError, match="mode"):
        batchnorm_forward(x, gamma, beta, {"mode": "eval"})
    with pytest.raises(ValueError, match="mode"):
        batchnorm_forward(x, gamma, beta, {})
    with pytest.raises(ValueError, match="eps"):
        batchnorm_forward(x, gamma, beta, {"mode": "train", "eps": 0})
    with pytest.raises(ValueError, match="running_mean"):
        batchnorm_forward(x, gamma, beta, {"mode": "test", "running_mean": np.zeros(3)})
    _, cache = layernorm_forward(x, gamma, beta, {})
    with pytest.raises(ValueError, match="layernorm_forward"):
        batchnorm_backward(dout, cache)
    with pytest.raises(TypeError, match="train"):
        batchnorm_backward(dout, None)


@given(n=st.integers(2, 6), d=st.integers(1, 6), scale=st.sampled_from([1e-3, 1.0, 1e4]), seed=st.integers(0, 999))
def test_property_finite_and_shaped(n, d, scale, seed):
    rng = np.random.default_rng(seed)
    x = scale * rng.standard_normal((n, d))
    gamma, beta = np.ones(d), np.zeros(d)
    for fwd, bwd in ((batchnorm_forward, batchnorm_backward_alt), (layernorm_forward, layernorm_backward)):
        out, cache = fwd(x, gamma, beta, {"mode": "train"})
        grads = bwd(np.ones_like(x), cache)
        assert out.shape == x.shape and np.all(np.isfinite(out))
        assert all(np.all(np.isfinite(g)) for g in grads)
