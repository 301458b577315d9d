"""SELU: the paper's constants and their fixed point (mean 0, variance 1 for standard-normal inputs),
values, gradients, dtypes."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dropout_lab import assert_gradient_close
from dropout_lab.errors import InvalidArgumentError, InvalidTypeError
from dropout_lab.layers import SELU_ALPHA, SELU_LAMBDA, selu_backward, selu_forward

from ._stats import assert_mean, assert_variance


def _phi(t: float) -> float:
    """The standard normal CDF."""
    return 0.5 * math.erfc(-t / math.sqrt(2))


def test_the_constants_are_the_papers_to_double_precision():
    # Klambauer et al. 2017, eq. (14): lambda_01 = 1.0507009873554804934193349852946,
    # alpha_01 = 1.6732632423543772848170429916717; the nearest doubles:
    assert SELU_LAMBDA == float("1.0507009873554804934193349852946") == 1.0507009873554805
    assert SELU_ALPHA == float("1.6732632423543772848170429916717") == 1.6732632423543772


def test_the_fixed_point_in_closed_form():
    """For z ~ N(0, 1): E[selu(z)] = lambda (1/sqrt(2 pi) + alpha (sqrt(e) Phi(-1) - 1/2)) and
    E[selu(z)**2] = lambda**2 (1/2 + alpha**2 (e**2 Phi(-2) - 2 sqrt(e) Phi(-1) + 1/2)): 0 and 1."""
    lam, alpha = SELU_LAMBDA, SELU_ALPHA
    mean = lam * (1 / math.sqrt(2 * math.pi) + alpha * (math.exp(0.5) * _phi(-1) - 0.5))
    second = lam**2 * (0.5 + alpha**2 * (math.exp(2) * _phi(-2) - 2 * math.exp(0.5) * _phi(-1) + 0.5))
    # Exact up to the rounding of the constants and of these few operations (a few units of 2**-52).
    assert abs(mean) < 1e-15
    assert abs(second - 1) < 1e-15


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_standard_normal_inputs_keep_mean_0_and_variance_1(dtype):
    z = np.random.default_rng(0).standard_normal(1_000_000).astype(dtype)
    out, _ = selu_forward(z)
    assert out.dtype == dtype
    assert_mean(out, 0.0, 1.0, "selu(z)")  # the population SD is 1 at the fixed point
    assert_variance(out, 1.0, "selu(z)")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_values_and_saturation(dtype):
    x = np.array([-1e4, -30.0, -1.0, -1e-8, 0.0, 1e-8, 1.0, 3e4], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow from the unused branch
        out, _ = selu_forward(x)
    lam, alpha = dtype(SELU_LAMBDA), dtype(SELU_LAMBDA * SELU_ALPHA)
    expected = np.where(x > 0, x * lam, alpha * np.expm1(np.minimum(x, dtype(0))))
    assert out.dtype == dtype and np.array_equal(out, expected)
    assert out[0] == -alpha and out[4] == 0.0 and out[6] == lam


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtypes_are_kept_backward(dtype):
    x = np.random.default_rng(1).standard_normal((5, 6)).astype(dtype)
    out, cache = selu_forward(x)
    dx = selu_backward(np.ones_like(x), cache)
    assert dx.dtype == dtype
    expected = np.where(x > 0, dtype(SELU_LAMBDA), dtype(SELU_LAMBDA * SELU_ALPHA) * np.exp(x))
    np.testing.assert_allclose(dx, expected, rtol=8 * np.finfo(dtype).eps)


def test_gradient():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((7, 8))
    x[np.abs(x) < 1e-3] = 0.5  # away from the kink at 0, where centered differences straddle it
    dout = rng.standard_normal(x.shape)
    _, cache = selu_forward(x)
    assert_gradient_close(lambda v: selu_forward(v)[0], x, selu_backward(dout, cache), df=dout, tol=1e-8)


def test_bad_calls_name_the_argument():
    _, cache = selu_forward(np.ones((2, 3)))
    with pytest.raises(InvalidArgumentError, match="dout"):
        selu_backward(np.ones((3, 2)), cache)
    with pytest.raises(InvalidTypeError, match="dout"):
        selu_backward(np.ones((2, 3), dtype=np.float32), cache)
    with pytest.raises(InvalidTypeError, match="cache"):
        selu_backward(np.ones((2, 3)), None)


@given(x=hnp.arrays(st.sampled_from([np.float32, np.float64]), hnp.array_shapes(min_dims=1, max_dims=3),
                    elements=st.floats(-(2.0**99), 2.0**99, width=32)))
def test_property_finite_and_bounded_below(x):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out, cache = selu_forward(x)
        dx = selu_backward(np.ones_like(x), cache)
    assert out.dtype == x.dtype and np.all(np.isfinite(dx))
    assert np.all(out >= x.dtype.type(-SELU_LAMBDA * SELU_ALPHA))
