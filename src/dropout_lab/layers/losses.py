"""Classification losses on class scores: softmax (cross-entropy) and multiclass SVM (hinge)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._typing import FloatArray, IntArray
from .._validation import check_float_array, check_labels, check_nonempty_batch


def _check_scores_labels(x: FloatArray, y: IntArray) -> None:
    check_float_array("x", x, ndim=2)
    check_nonempty_batch("x", x)
    check_labels("y", y, x.shape[0], x.shape[1])


def softmax_loss(x: FloatArray, y: IntArray) -> tuple[np.floating[Any], FloatArray]:
    """Mean cross-entropy of the softmax of the scores.

    ``loss = -mean_i log(exp(x[i, y_i]) / sum_j exp(x[i, j]))``, computed with the row maximum
    subtracted first so that large scores cannot overflow.

    Args:
        x: (N, C) class scores.
        y: (N,) integer labels in [0, C).

    Returns:
        loss (a float of x's dtype), dx: (N, C).
    """
    _check_scores_labels(x, y)
    # The course's sequence of operations, kept so that its printed losses match to the last digit.
    shifted_logits = x - np.max(x, axis=1, keepdims=True)
    z = np.sum(np.exp(shifted_logits), axis=1, keepdims=True)
    log_probs = shifted_logits - np.log(z)
    probs = np.exp(log_probs)
    n = x.shape[0]
    rows = np.arange(n)
    loss = -np.sum(log_probs[rows, y]) / n
    dx = probs.copy()
    dx[rows, y] -= 1
    dx /= n
    return loss, dx


def svm_loss(x: FloatArray, y: IntArray) -> tuple[np.floating[Any], FloatArray]:
    """Mean multiclass hinge loss with margin 1.

    ``loss = mean_i sum_{j != y_i} max(0, x[i, j] - x[i, y_i] + 1)``.

    Args:
        x: (N, C) class scores.
        y: (N,) integer labels in [0, C).

    Returns:
        loss, dx: (N, C).
    """
    _check_scores_labels(x, y)
    n = x.shape[0]
    rows = np.arange(n)
    correct = x[rows, y]
    margins = np.maximum(0, x - correct[:, None] + 1)
    margins[rows, y] = 0
    loss = np.sum(margins) / n
    num_pos = np.sum(margins > 0, axis=1)
    dx = np.zeros_like(x)
    dx[margins > 0] = 1
    dx[rows, y] -= num_pos
    dx /= n
    return loss, dx
