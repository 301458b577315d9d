"""Tolerances of the statistical tests, derived from the sample size.

Every check is a two-sided z-test at :data:`Z` standard errors: a correct implementation fails one with
probability ``2 * (1 - Phi(5)) = 5.7e-7``. A check of many statistics at once (one per output element)
uses :func:`z_for`, the Bonferroni z that keeps the whole family's false-failure rate at that level.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

#: Five standard errors: a false failure with probability 5.7e-7 per check.
Z = 5.0
#: The false-failure rate of one check (two-sided, at Z).
FALSE_FAILURE = 2 * (1 - NormalDist().cdf(Z))


def z_for(count: int) -> float:
    """The two-sided z at which ``count`` checks together fail falsely with probability FALSE_FAILURE."""
    return NormalDist().inv_cdf(1 - FALSE_FAILURE / (2 * count))


def assert_mean(sample: np.ndarray, expected: float, sigma: float, what: str) -> None:
    """The sample mean within ``Z * sigma / sqrt(n)`` of ``expected`` (sigma: the population's SD)."""
    n = sample.size
    mean = float(np.mean(sample, dtype=np.float64))
    tol = Z * sigma / math.sqrt(n)
    assert abs(mean - expected) <= tol, f"{what}: mean {mean} is not within {tol} of {expected} (n={n})"


def assert_variance(sample: np.ndarray, expected: float, what: str) -> None:
    """The sample variance within ``Z`` standard errors of ``expected``; the standard error of a
    variance is ``sqrt((mu4 - sigma**4) / n)``, with the fourth central moment mu4 estimated from the
    sample (asymptotically normal for any distribution with a finite fourth moment)."""
    values = sample.astype(np.float64).ravel()
    n = values.size
    centred = values - values.mean()
    variance = float(np.mean(centred**2))
    mu4 = float(np.mean(centred**4))
    tol = Z * math.sqrt(max(mu4 - variance**2, 0.0) / n)
    assert abs(variance - expected) <= tol, f"{what}: variance {variance} is not within {tol} of {expected} (n={n})"


def assert_binomial(count: int, n: int, prob: float, what: str) -> None:
    """A binomial count within ``Z * sqrt(n p (1 - p))`` of ``n p``."""
    tol = Z * math.sqrt(n * prob * (1 - prob))
    assert abs(count - n * prob) <= tol, f"{what}: {count} of {n}, expected {n * prob} +- {tol}"
