"""Calibration of predicted class probabilities: NLL, Brier score, expected calibration error and the
reliability diagram (Guo et al. 2017, "On Calibration of Modern Neural Networks",
https://arxiv.org/abs/1706.04599).

For N examples with probabilities ``probs`` (N, C) and labels ``y`` (N,), the confidence of example n
is ``max_c probs[n, c]`` and its prediction ``argmax_c probs[n, c]`` (the first class on a tie):

* NLL: ``-mean_n log probs[n, y_n]`` in nats (infinite if a true class has probability 0).
* Brier score: ``mean_n sum_c (probs[n, c] - [c == y_n])^2``, Brier's (1950) multi-class score,
  summed over the classes and averaged over the examples: in [0, 2], 0 for certain right answers.
  (scikit-learn's ``brier_score_loss`` is the binary score, half of this for C = 2.)
* ECE: with ``bins`` equal-width confidence bins ``((b - 1) / B, b / B]`` (the first includes 0),
  ``sum_b (n_b / N) |acc_b - conf_b|``, where ``acc_b`` is the fraction of right predictions and
  ``conf_b`` the mean confidence of the ``n_b`` examples in bin b.

The ECE is what torchmetrics' ``MulticlassCalibrationError(num_classes=C, n_bins=15, norm='l1')``
reports (up to how a confidence exactly on a bin edge is binned); here in plain NumPy. matplotlib is
imported inside :func:`plot_reliability` only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._io import atomic_writer
from ._validation import _describe, check_file_to_write, check_labels, check_positive_int
from .errors import InvalidTypeError
from .uncertainty import check_probabilities

__all__ = ["Calibration", "ReliabilityBins", "calibration_metrics", "plot_reliability"]


@dataclass(frozen=True)
class ReliabilityBins:
    """A reliability diagram's data: B equal-width confidence bins over [0, 1].

    Attributes:
        edges: (B + 1,) float64, ``b / B``. counts: (B,) int64, the examples whose confidence falls in
            each bin. confidence: (B,) float64, their mean confidence. accuracy: (B,) float64, the
            fraction of them predicted right. An empty bin has NaN confidence and accuracy.
    """

    edges: np.ndarray
    counts: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray


@dataclass(frozen=True)
class Calibration:
    """What :func:`calibration_metrics` measures (floats are Python floats, computed in float64).

    Attributes:
        nll: mean negative log-likelihood of the true class, in nats. brier: multi-class Brier score
            (summed over classes, averaged over examples). ece: expected calibration error.
        accuracy: the fraction of right predictions. num_examples: N. bins: the reliability diagram's data.
    """

    nll: float
    brier: float
    ece: float
    accuracy: float
    num_examples: int
    bins: ReliabilityBins


def calibration_metrics(probs: np.ndarray, y: np.ndarray, bins: int = 15) -> Calibration:
    """NLL, Brier score, ECE and the reliability bins of predicted probabilities (see the module).

    Args:
        probs: (N, C) class probabilities (float32 or float64; finite, in [0, 1], each row summing to 1
            within ``sqrt(eps)`` of the dtype), such as the mean of MC dropout samples over K passes.
        y: (N,) integer labels in [0, C).
        bins: B, the number of equal-width confidence bins (default 15, as Guo et al.).

    Returns:
        A :class:`Calibration`.

    Raises:
        InvalidArgumentError, InvalidTypeError: inputs that are not as above.
    """
    probs = check_probabilities("probs", probs, ndim=2)
    n, num_classes = probs.shape
    y = check_labels("y", y, n, num_classes)
    num_bins = check_positive_int("bins", bins)

    p = probs.astype(np.float64)
    rows = np.arange(n)
    true_probs = p[rows, y]
    with np.errstate(divide="ignore"):
        nll = float(-np.mean(np.log(true_probs)))
    errors = p.copy()
    errors[rows, y] -= 1.0  # p - onehot(y)
    brier = float(np.mean(np.sum(errors * errors, axis=1)))

    confidence = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, num_bins + 1)
    # Bin b holds the confidences in (edges[b], edges[b + 1]]; a confidence of exactly 0 goes to the first.
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, num_bins - 1)
    counts = np.bincount(index, minlength=num_bins).astype(np.int64)
    confidence_sums = np.bincount(index, weights=confidence, minlength=num_bins)
    correct_sums = np.bincount(index, weights=correct, minlength=num_bins)
    # (n_b / N) |acc_b - conf_b| = |correct_b - confidence_b| / N: no division by n_b, no empty-bin case.
    ece = float(np.sum(np.abs(correct_sums - confidence_sums)) / n)
    filled = counts > 0
    mean_confidence = np.full(num_bins, np.nan)
    bin_accuracy = np.full(num_bins, np.nan)
    mean_confidence[filled] = confidence_sums[filled] / counts[filled]
    bin_accuracy[filled] = correct_sums[filled] / counts[filled]
    return Calibration(
        nll=nll,
        brier=brier,
        ece=ece,
        accuracy=float(np.mean(correct)),
        num_examples=int(n),
        bins=ReliabilityBins(edges, counts, mean_confidence, bin_accuracy),
    )


def plot_reliability(result: Calibration, path: str | os.PathLike[str], *, title: str | None = None) -> Path:
    """Draw the reliability diagram of ``result`` to the PNG ``path``: each bin's accuracy as a bar
    against the diagonal of perfect calibration, the mean confidence as a marker, and the examples per
    bin below; the ECE in the title.

    Drawn on a :class:`matplotlib.figure.Figure` with an explicit Agg canvas (never pyplot: the user's
    backend and figures are left alone) and written through :func:`dropout_lab._io.atomic_writer`, so
    an error leaves ``path`` as it was.

    Args:
        result: what :func:`calibration_metrics` returned.
        path: the PNG to write; its folder must exist.
        title: a title above the figure, if any.

    Returns:
        ``path`` as a :class:`pathlib.Path`.
    """
    if not isinstance(result, Calibration):
        raise InvalidTypeError(f"result must be a Calibration (from calibration_metrics), got {_describe(result)}")
    target = check_file_to_write("path", path)
    if title is not None and not isinstance(title, str):
        raise InvalidTypeError(f"title must be a str or None, got {_describe(title)}")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    data = result.bins
    edges = data.edges
    width = np.diff(edges)
    left = edges[:-1]
    figure = Figure(figsize=(5.5, 6.5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)  # attaches itself to the figure: rendering never consults the backend
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    filled = data.counts > 0
    top.bar(left[filled], data.accuracy[filled], width=width[filled], align="edge", color="C0",
            edgecolor="white", label="accuracy")
    top.plot(
        (left + width / 2)[filled], data.confidence[filled], "o", color="C3", markersize=4, label="mean confidence"
    )
    top.plot((0.0, 1.0), (0.0, 1.0), linestyle="--", color="gray", linewidth=1, label="perfect calibration")
    top.set_xlim(0.0, 1.0)
    top.set_ylim(0.0, 1.0)
    top.set_ylabel("accuracy")
    top.set_title(f"ECE {result.ece:.4f}, NLL {result.nll:.4f}, Brier {result.brier:.4f} (N = {result.num_examples})",
                  fontsize="small")
    top.legend(loc="upper left", fontsize="small")
    top.grid(True, alpha=0.3)
    bottom.bar(left, data.counts, width=width, align="edge", color="C7", edgecolor="white")
    bottom.set_xlabel("confidence (max class probability)")
    bottom.set_ylabel("examples")
    if title is not None:
        figure.suptitle(title)

    with atomic_writer(target, "wb") as handle:
        figure.savefig(handle, format="png")
    return target
