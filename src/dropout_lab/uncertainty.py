"""Uncertainty from Monte Carlo dropout samples: predictive entropy, expected entropy and mutual
information (BALD).

Given K stochastic forward passes with dropout on (MC dropout, Gal and Ghahramani 2016,
https://arxiv.org/abs/1506.02142), ``samples[k, n, c]`` is the probability of class c for example n
in pass k. Per example, with natural logarithms (nats) and ``0 log 0 = 0``:

* predictive entropy ``H[mean_k p_k]``: the total uncertainty of the averaged prediction;
* expected entropy ``mean_k H[p_k]``: the part each pass already has (aleatoric);
* mutual information ``H[mean_k p_k] - mean_k H[p_k]`` between the prediction and the weights,
  BALD (Houlsby et al. 2011, https://arxiv.org/abs/1112.5745; Gal, Islam and Ghahramani 2017,
  https://arxiv.org/abs/1703.02910): how much the passes disagree (epistemic). It is >= 0 (the
  entropy is concave), and 0 when every pass gives the same probabilities.

All lie in ``[0, log C]``. The functions take arrays, not models; the results have the samples' dtype.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from ._validation import check_float_array
from .errors import InvalidArgumentError

__all__ = [
    "McUncertainty",
    "entropy",
    "expected_entropy",
    "mc_uncertainty",
    "mutual_information",
    "predictive_entropy",
]


class McUncertainty(NamedTuple):
    """The three measures of :func:`mc_uncertainty`, each (N,) in nats."""

    predictive_entropy: np.ndarray
    expected_entropy: np.ndarray
    mutual_information: np.ndarray


def check_probabilities(name: str, probs: Any, *, ndim: int | None = None) -> np.ndarray:
    """``probs``: a float32 or float64 array (of ``ndim`` dimensions, if given) whose last axis (C >= 2
    classes) holds probabilities: finite, in [0, 1], each row summing to 1 within ``sqrt(eps)`` of its
    dtype (about 3e-4 in float32, 1.5e-8 in float64), and no axis empty."""
    array = check_float_array(name, probs, ndim=ndim, min_ndim=1)
    if 0 in array.shape:
        raise InvalidArgumentError(f"{name} must not have an empty axis, got shape {array.shape}")
    if array.shape[-1] < 2:
        raise InvalidArgumentError(f"{name} must give at least 2 classes on its last axis, got shape {array.shape}")
    inside = (array >= 0) & (array <= 1)  # NaN is outside
    if not inside.all():
        bad = array[~inside].flat[0]
        raise InvalidArgumentError(f"{name} must hold probabilities in [0, 1], got {bad}")
    errors = array.sum(axis=-1, dtype=np.float64) - 1.0
    worst = float(errors.flat[int(np.argmax(np.abs(errors)))])
    tolerance = math.sqrt(float(np.finfo(array.dtype).eps))
    if abs(worst) > tolerance:
        raise InvalidArgumentError(
            f"the rows of {name} (its last axis) must sum to 1, got a row summing to {1.0 + worst!r} "
            f"(tolerance {tolerance:.2g} for {array.dtype})"
        )
    return array


def _mean_over_samples(x: np.ndarray) -> np.ndarray:
    """``mean_k x[k]``, computed as ``x[0] + mean_k (x[k] - x[0])``: exactly ``x[0]`` when all samples
    agree (a plain mean of K equal values can differ from them in the last bit, and BALD would then
    not be exactly 0), and no less accurate otherwise."""
    first = x[0]
    out: np.ndarray = first + np.mean(x - first, axis=0)
    return out


def entropy(probs: np.ndarray) -> np.ndarray:
    """``H[p] = -sum_c p_c log p_c`` over the last axis, in nats, with ``0 log 0 = 0``; kept within
    ``[0, log C]`` against rounding.

    Args:
        probs: (..., C) probabilities (checked as :func:`mc_uncertainty` checks them).

    Returns:
        (...,) entropies, of ``probs``' dtype.
    """
    return _entropy(check_probabilities("probs", probs))


def _entropy(probs: np.ndarray) -> np.ndarray:
    logs = np.zeros_like(probs)
    np.log(probs, out=logs, where=probs > 0)
    # A row's sum over its contiguous last axis is computed alike whatever the leading shape, so an
    # example's entropy is the same bits alone or among K samples (BALD is then exactly 0 on agreement).
    h = -np.sum(probs * logs, axis=-1)
    upper = probs.dtype.type(math.log(probs.shape[-1]))
    out: np.ndarray = np.clip(h, probs.dtype.type(0), upper)
    return out


def _samples(samples: Any) -> np.ndarray:
    if isinstance(samples, np.ndarray) and samples.ndim != 3:
        raise InvalidArgumentError(
            f"samples must be (K, N, C): K MC dropout passes' class probabilities for N examples, got shape "
            f"{samples.shape}"
        )
    return check_probabilities("samples", samples, ndim=3)


def predictive_entropy(samples: np.ndarray) -> np.ndarray:
    """``H[mean_k p_k]`` per example: the entropy of the MC-averaged prediction.

    Args:
        samples: (K, N, C) class probabilities of K stochastic passes over N examples.

    Returns:
        (N,) entropies in nats, of the samples' dtype.
    """
    return _entropy(_mean_over_samples(_samples(samples)))


def expected_entropy(samples: np.ndarray) -> np.ndarray:
    """``mean_k H[p_k]`` per example: the average entropy of the single passes.

    Args:
        samples: (K, N, C) class probabilities.

    Returns:
        (N,) entropies in nats, of the samples' dtype.
    """
    return _mean_over_samples(_entropy(_samples(samples)))


def mutual_information(samples: np.ndarray) -> np.ndarray:
    """BALD: ``H[mean_k p_k] - mean_k H[p_k]`` per example, >= 0 (a negative difference from rounding
    is returned as 0), exactly 0 when all K passes agree.

    Args:
        samples: (K, N, C) class probabilities.

    Returns:
        (N,) mutual information in nats, of the samples' dtype.
    """
    return mc_uncertainty(samples).mutual_information


def mc_uncertainty(samples: np.ndarray) -> McUncertainty:
    """All three measures at once (each computed as its own function does).

    Args:
        samples: (K, N, C) class probabilities of K stochastic passes over N examples: finite, in
            [0, 1], each row summing to 1 (within ``sqrt(eps)`` of the dtype), float32 or float64.

    Returns:
        ``McUncertainty(predictive_entropy, expected_entropy, mutual_information)``, each (N,).

    Raises:
        InvalidArgumentError, InvalidTypeError: samples that are not such an array.
    """
    samples = _samples(samples)
    predictive = _entropy(_mean_over_samples(samples))
    expected = _mean_over_samples(_entropy(samples))
    information = np.maximum(predictive - expected, samples.dtype.type(0))
    return McUncertainty(predictive, expected, information)
