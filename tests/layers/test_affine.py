"""Affine, ReLU and the affine-ReLU sandwich against the course's values and numerical gradients."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dropout_lab import assert_gradient_close
from dropout_lab.gradcheck import rel_error
from dropout_lab.layers import (
    affine_backward,
    affine_forward,
    affine_relu_backward,
    affine_relu_forward,
    relu_backward,
    relu_forward,
)


def test_affine_forward_course_values():
    num_inputs, input_shape, output_dim = 2, (4, 5, 6), 3
    input_size = num_inputs * np.prod(input_shape)
    weight_size = output_dim * np.prod(input_shape)
    x = np.linspace(-0.1, 0.5, num=input_size).reshape(num_inputs, *input_shape)
    w = np.linspace(-0.2, 0.3, num=weight_size).reshape(np.prod(input_shape), output_dim)
    b = np.linspace(-0.3, 0.1, num=output_dim)
    out, _ = affine_forward(x, w, b)
    correct = np.array([[1.49834967, 1.70660132, 1.91485297], [3.25553199, 3.5141327, 3.77273342]])
    assert rel_error(out, correct) < 1e-8


def test_affine_backward_gradients_and_shapes():
    rng = np.random.default_rng(231)
    x = rng.standard_normal((10, 2, 3))
    w = rng.standard_normal((6, 5))
    b = rng.standard_normal(5)
    dout = rng.standard_normal((10, 5))
    _, cache = affine_forward(x, w, b)
    dx, dw, db = affine_backward(dout, cache)
    assert dx.shape == x.shape and dw.shape == w.shape and db.shape == b.shape
    assert_gradient_close(lambda v: affine_forward(v, w, b)[0], x, dx, df=dout, tol=1e-9, name="x")
    assert_gradient_close(lambda v: affine_forward(x, v, b)[0], w, dw, df=dout, tol=1e-9, name="w")
    assert_gradient_close(lambda v: affine_forward(x, w, v)[0], b, db, df=dout, tol=1e-9, name="b")


def test_relu_forward_course_values_and_backward():
    x = np.linspace(-0.5, 0.5, num=12).reshape(3, 4)
    out, _ = relu_forward(x)
    correct = np.array(
        [[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.04545455, 0.13636364], [0.22727273, 0.31818182, 0.40909091, 0.5]]
    )
    assert rel_error(out, correct) < 5e-8
    rng = np.random.default_rng(0)
    x = rng.standard_normal((10, 10))
    dout = rng.standard_normal((10, 10))
    _, cache = relu_forward(x)
    dx = relu_backward(dout, cache)
    assert_gradient_close(lambda v: relu_forward(v)[0], x, dx, df=dout, tol=1e-9)


def test_affine_relu_sandwich():
    rng = np.random.default_rng(231)
    x = rng.standard_normal((2, 3, 4))
    w = rng.standard_normal((12, 10))
    b = rng.standard_normal(10)
    dout = rng.standard_normal((2, 10))
    out, cache = affine_relu_forward(x, w, b)
    assert np.array_equal(out, np.maximum(0, x.reshape(2, -1) @ w + b))
    dx, dw, db = affine_relu_backward(dout, cache)
    assert_gradient_close(lambda v: affine_relu_forward(v, w, b)[0], x, dx, df=dout, tol=1e-8, name="x")
    assert_gradient_close(lambda v: affine_relu_forward(x, v, b)[0], w, dw, df=dout, tol=1e-8, name="w")
    assert_gradient_close(lambda v: affine_relu_forward(x, w, v)[0], b, db, df=dout, tol=1e-8, name="b")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept(dtype):
    x = np.ones((3, 4), dtype=dtype)
    w = np.ones((4, 2), dtype=dtype)
    b = np.zeros(2, dtype=dtype)
    out, cache = affine_relu_forward(x, w, b)
    assert out.dtype == dtype
    assert all(g.dtype == dtype for g in affine_relu_backward(np.ones((3, 2), dtype=dtype), cache))


def test_bad_inputs_name_the_argument():
    x, w, b = np.ones((3, 4)), np.ones((4, 2)), np.zeros(2)
    with pytest.raises(ValueError, match=r"w must have shape \(4, M\)"):
        affine_forward(x, np.ones((5, 2)), b)
    with pytest.raises(ValueError, match=r"b must have shape \(2,\)"):
        affine_forward(x, w, np.zeros(3))
    with pytest.raises(TypeError, match="x must be a NumPy array"):
        affine_forward([[1.0]], w, b)
    with pytest.raises(ValueError, match="at least one example"):
        affine_forward(np.ones((0, 4)), w, b)
    _, cache = affine_forward(x, w, b)
    with pytest.raises(ValueError, match="dout must have shape"):
        affine_backward(np.ones((3, 3)), cache)
    _, cache = relu_forward(x)
    with pytest.raises(ValueError, match="dout must have shape"):
        relu_backward(np.ones((2, 2)), cache)


@given(
    n=st.integers(1, 5),
    in_shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=4),
    m=st.integers(1, 5),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 1000),
)
def test_property_affine_shapes(n, in_shape, m, dtype, seed):
    rng = np.random.default_rng(seed)
    d = int(np.prod(in_shape))
    x = rng.standard_normal((n, *in_shape)).astype(dtype)
    w = rng.standard_normal((d, m)).astype(dtype)
    b = rng.standard_normal(m).astype(dtype)
    out, cache = affine_forward(x, w, b)
    assert out.shape == (n, m) and out.dtype == dtype
    dx, dw, db = affine_backward(np.ones((n, m), dtype=dtype), cache)
    assert (dx.shape, dw.shape, db.shape) == (x.shape, w.shape, b.shape)
    assert dx.dtype == dw.dtype == db.dtype == dtype
