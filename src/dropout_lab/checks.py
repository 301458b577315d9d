"""The Dropout exercise's sanity checks as a function that measures and judges each one.

Each check gives the measured value, the tolerance it must meet and whether it passed, so the
command line (``dropout-lab check``) can show the numbers and exit non-zero on any failure. The data
come from a fixed ``np.random.Generator``: NumPy's global generator is not touched.
"""

from __future__ import annotations

import math
from functools import partial
from typing import NamedTuple

import numpy as np

from ._typing import FloatArray, IntArray
from .gradcheck import eval_numerical_gradient, eval_numerical_gradient_array, rel_error
from .layers.dropout import dropout, dropout_backward
from .models import FullyConnectedNet


class CheckResult(NamedTuple):
    """``passed`` is ``value <= tolerance`` (every check here measures an error)."""

    name: str
    value: float
    tolerance: float

    @property
    def passed(self) -> bool:
        return bool(self.value <= self.tolerance)


def _dropout_statistics(rng: np.random.Generator) -> list[CheckResult]:
    x = rng.standard_normal((500, 500)) + 10
    n = x.size
    results = []
    for keep in (0.25, 0.4, 0.7):
        out, _ = dropout(x, keep, train=True, rng=rng)
        test_out, _ = dropout(x, keep, train=False)
        zero_fraction = float(np.mean(out == 0))
        # Five binomial standard deviations: a correct layer fails with probability < 1e-6.
        results.append(
            CheckResult(
                f"dropout keep={keep}: |zero fraction - (1 - keep)|",
                abs(zero_fraction - (1 - keep)),
                5 * math.sqrt(keep * (1 - keep) / n),
            )
        )
        # E[out] = x: the mean's standard error is sqrt(E[x^2] (1 - keep) / keep / n).
        se = math.sqrt(float(np.mean(x**2)) * (1 - keep) / keep / n)
        results.append(
            CheckResult(f"dropout keep={keep}: |train mean - input mean|", abs(float(out.mean() - x.mean())), 5 * se)
        )
        results.append(
            CheckResult(
                f"dropout keep={keep}: test-mode elements changed", float(np.count_nonzero(test_out != x)), 0.0
            )
        )
    return results


def _dropout_gradient(rng: np.random.Generator) -> CheckResult:
    x = rng.standard_normal((10, 10)) + 10
    dout = rng.standard_normal((10, 10))
    _, cache = dropout(x, 0.2, train=True, rng=np.random.default_rng(123))
    dx = dropout_backward(dout, cache)
    numerical = eval_numerical_gradient_array(
        lambda v: dropout(v, 0.2, train=True, rng=np.random.default_rng(123))[0], x, dout
    )
    return CheckResult("dropout backward: relative error of dx", rel_error(dx, numerical), 1e-8)


def _loss_at(model: FullyConnectedNet, X: FloatArray, y: IntArray, _params: FloatArray) -> float:
    """The model's loss; the gradient check has changed one of its parameters in place."""
    loss, _ = model.loss(X, y)
    return float(loss)


def _net_gradients(rng: np.random.Generator) -> list[CheckResult]:
    X = rng.standard_normal((2, 15))
    y = rng.integers(10, size=2)
    results = []
    for keep in (1.0, 0.75, 0.5):
        model = FullyConnectedNet(
            [20, 30], input_dim=15, num_classes=10, weight_scale=5e-2, dtype=np.float64,
            dropout=keep, seed=123, rng=np.random.default_rng(231),
        )
        _, grads = model.loss(X, y)
        for name in sorted(grads):
            numerical = eval_numerical_gradient(partial(_loss_at, model, X, y), model.params[name], verbose=False)
            results.append(
                CheckResult(f"net keep={keep}: relative error of {name}", rel_error(numerical, grads[name]), 1e-5)
            )
    return results


def run_sanity_checks(seed: int = 231) -> list[CheckResult]:
    """Dropout statistics, the dropout gradient check and the net's gradient checks at keep 1, 0.75, 0.5."""
    rng = np.random.default_rng(seed)
    return [*_dropout_statistics(rng), _dropout_gradient(rng), *_net_gradients(rng)]
