"""Class probabilities of a model, by weight scaling or by Monte Carlo dropout (Gal and Ghahramani
2016, https://arxiv.org/abs/1506.02142), in batches so that memory stays bounded.

Weight-scaling inference (``mc_samples=0``) is the usual rule of inverted dropout: the softmax of the
test-mode scores, where every dropout is the identity (DropConnect: the mean weights). Monte Carlo
inference (``mc_samples=K > 0``) averages the softmax of K stochastic passes, each with fresh masks
(dropout in training mode, batch normalization in test mode: its running statistics), drawn from the
caller's generator; the per-pass probabilities (K, N, C) are what uncertainty measures (predictive
entropy, mutual information) are computed from.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .._typing import FloatArray
from .._validation import check_generator, check_positive_int
from ..errors import InvalidArgumentError
from ._variants import softmax

#: Rows of X per pass when the caller gives no batch_size: memory of about 1,000 times the widest layer.
DEFAULT_BATCH_SIZE = 1000

Scores = Callable[[np.ndarray, np.random.Generator | None], FloatArray]


def check_mc(mc_samples: Any, rng: Any, batch_size: Any, *, allow_zero: bool) -> tuple[int, int]:
    """``(mc_samples, batch_size)`` checked; ``rng`` must be a Generator when ``mc_samples > 0``."""
    samples = check_positive_int("mc_samples", mc_samples, allow_zero=allow_zero)
    check_generator("rng", rng)
    if samples > 0 and rng is None:
        raise InvalidArgumentError(
            f"rng is required for mc_samples={samples}: pass the numpy.random.Generator the masks are "
            "drawn from (np.random.default_rng(seed))"
        )
    return samples, check_positive_int("batch_size", batch_size)


def _ranges(num_rows: int, batch_size: int) -> list[tuple[int, int]]:
    return [(start, min(start + batch_size, num_rows)) for start in range(0, num_rows, batch_size)]


def mean_probabilities(
    X: np.ndarray,
    num_classes: int,
    dtype: type[np.floating[Any]],
    scores: Scores,
    mc_samples: int,
    rng: np.random.Generator | None,
    batch_size: int,
) -> FloatArray:
    """(N, C): the softmax of ``scores(batch, None)`` (test mode) when ``mc_samples`` is 0, else the
    average over ``mc_samples`` passes of the softmax of ``scores(batch, rng)``.

    Pass k covers X's batches in order before pass k + 1 starts, so the draws (and the result) are a
    function of ``rng``'s state and ``batch_size``.
    """
    out = np.zeros((X.shape[0], num_classes), dtype=dtype)
    ranges = _ranges(X.shape[0], batch_size)
    if mc_samples == 0:
        for start, stop in ranges:
            out[start:stop] = softmax(scores(X[start:stop], None))
        return out
    for _ in range(mc_samples):
        for start, stop in ranges:
            out[start:stop] += softmax(scores(X[start:stop], rng))
    out /= dtype(mc_samples)
    return out


def sampled_probabilities(
    X: np.ndarray,
    num_classes: int,
    dtype: type[np.floating[Any]],
    scores: Scores,
    mc_samples: int,
    rng: np.random.Generator,
    batch_size: int,
) -> FloatArray:
    """(K, N, C): the softmax of each of the ``mc_samples`` stochastic passes, drawn in the order
    :func:`mean_probabilities` draws them (so its average is their mean over the first axis)."""
    out = np.empty((mc_samples, X.shape[0], num_classes), dtype=dtype)
    ranges = _ranges(X.shape[0], batch_size)
    for k in range(mc_samples):
        for start, stop in ranges:
            out[k, start:stop] = softmax(scores(X[start:stop], rng))
    return out
