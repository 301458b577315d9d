"""The public gradient-check tools: exact on known functions, x restored bit for bit, loud failures."""

from __future__ import annotations

import numpy as np
import pytest

from dropout_lab import assert_gradient_close
from dropout_lab.gradcheck import eval_numerical_gradient, eval_numerical_gradient_array, grad_check_sparse, rel_error


def test_numerical_gradient_of_a_quadratic():
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    before = x.copy()
    grad = eval_numerical_gradient(lambda v: float(np.sum(v**2)), x, verbose=False)
    # Centered differences are exact for a quadratic up to rounding: (x+h)^2 - (x-h)^2 = 4hx.
    assert np.allclose(grad, 2 * before, rtol=1e-9)
    assert np.array_equal(x, before)


def test_numerical_gradient_array_and_restore_on_error():
    x = np.array([1.0, 2.0, 3.0])
    df = np.array([1.0, -1.0, 2.0])
    grad = eval_numerical_gradient_array(lambda v: 3 * v, x, df)
    assert np.allclose(grad, 3 * df, rtol=1e-9)

    bits = x.copy()

    def boom(v):
        raise RuntimeError("f failed")

    with pytest.raises(RuntimeError):
        eval_numerical_gradient(boom, x, verbose=False)
    assert np.array_equal(x, bits)


def test_grad_check_sparse_returns_errors_and_uses_the_rng(capsys):
    x = np.linspace(-1, 1, 12).reshape(3, 4)
    errors = grad_check_sparse(lambda v: float(np.sum(v**3)), x, 3 * x**2, num_checks=5, rng=np.random.default_rng(0))
    assert len(errors) == 5 and max(errors) < 1e-8
    assert capsys.readouterr().out.count("relative error") == 5
    wrong = grad_check_sparse(
        lambda v: float(np.sum(v**3)), x, 3 * x**2 + 1, num_checks=5, rng=np.random.default_rng(0), verbose=False
    )
    assert min(wrong) > 1e-2


def test_rel_error_and_assert_gradient_close():
    assert rel_error(np.array([1.0]), np.array([1.0])) == 0
    assert rel_error(1.0, 1.1) == pytest.approx(0.1 / 2.1)
    x = np.array([0.3, -0.7])
    assert assert_gradient_close(lambda v: float(np.sum(np.sin(v))), x, np.cos(x)) < 1e-9
    with pytest.raises(AssertionError, match="gradient of x: relative error"):
        assert_gradient_close(lambda v: float(np.sum(np.sin(v))), x, np.sin(x))
    with pytest.raises(ValueError, match="float64"):
        assert_gradient_close(lambda v: float(np.sum(v)), x.astype(np.float32), np.ones(2, np.float32))
    with pytest.raises(ValueError, match="same shape"):
        rel_error(np.ones(2), np.ones(3))
