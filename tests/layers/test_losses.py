"""Softmax and SVM losses: the course's values, closed forms, gradients, stability, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dropout_lab import assert_gradient_close
from dropout_lab.layers import softmax_loss, svm_loss


def _course_scores():
    np.random.seed(231)
    x = 0.001 * np.random.randn(50, 10)
    y = np.random.randint(10, size=50)
    return x, y


def test_course_values():
    x, y = _course_scores()
    # Near-uniform scores: softmax loss ~ log(10), SVM loss ~ 9 (nine margins of 1).
    assert svm_loss(x, y)[0] == 8.999602749096233
    assert softmax_loss(x, y)[0] == 2.302545844500738


def test_softmax_matches_its_definition_and_gradient():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((7, 4))
    y = rng.integers(4, size=7)
    loss, dx = softmax_loss(x, y)
    expected = -np.mean([x[i, y[i]] - math.log(sum(math.exp(v) for v in x[i])) for i in range(7)])
    assert loss == pytest.approx(expected, rel=1e-13)
    assert_gradient_close(lambda v: softmax_loss(v, y)[0], x, dx, tol=1e-8)


def test_svm_matches_its_definition_and_gradient():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((7, 4))
    y = rng.integers(4, size=7)
    loss, dx = svm_loss(x, y)
    expected = np.mean([sum(max(0, x[i, j] - x[i, y[i]] + 1) for j in range(4) if j != y[i]) for i in range(7)])
    assert loss == pytest.approx(expected, rel=1e-13)
    assert_gradient_close(lambda v: svm_loss(v, y)[0], x, dx, tol=1e-8)


def test_softmax_is_stable_for_huge_scores():
    x = np.array([[1000.0, 0.0, -1000.0], [5e300, 5e300, 0.0]])
    y = np.array([0, 1])
    loss, dx = softmax_loss(x, y)
    assert math.isfinite(loss) and np.all(np.isfinite(dx))
    assert loss == pytest.approx(math.log(2) / 2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept(dtype):
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(dtype)
    y = np.array([0, 1, 2, 0, 1])
    for fn in (softmax_loss, svm_loss):
        loss, dx = fn(x, y)
        assert dx.dtype == dtype and np.asarray(loss).dtype == dtype


def test_bad_labels_and_shapes():
    x = np.zeros((3, 4))
    for fn in (softmax_loss, svm_loss):
        with pytest.raises(ValueError, match=r"y must lie in \[0, 4\)"):
            fn(x, np.array([0, 4, 1]))
        with pytest.raises(ValueError, match=r"y must lie in \[0, 4\)"):
            fn(x, np.array([0, -1, 1]))
        with pytest.raises(ValueError, match=r"y must have shape \(3,\)"):
            fn(x, np.array([0, 1]))
        with pytest.raises(TypeError, match="integer dtype"):
            fn(x, np.array([0.0, 1.0, 2.0]))
        with pytest.raises(ValueError, match="2-dimensional"):
            fn(np.zeros(4), np.array([0]))


@given(
    n=st.integers(1, 6),
    c=st.integers(2, 6),
    scale=st.sampled_from([1e-8, 1.0, 1e3, 1e8]),
    seed=st.integers(0, 10_000),
)
def test_property_finite_and_gradients_sum_to_zero(n, c, scale, seed):
    rng = np.random.default_rng(seed)
    x = scale * rng.standard_normal((n, c))
    y = rng.integers(c, size=n)
    loss, dx = softmax_loss(x, y)
    assert math.isfinite(loss) and loss >= 0
    # Each row of the softmax gradient sums to 0 (probabilities minus a one-hot, over N).
    assert np.allclose(dx.sum(axis=1), 0, atol=1e-12)
    loss, dx = svm_loss(x, y)
    assert math.isfinite(loss) and loss >= 0
    assert np.allclose(dx.sum(axis=1), 0, atol=1e-12)
