"""Confidence intervals and verdicts for the dropout experiment.

The experiment trains one net per (keep probability, seed), with the same seeds 0..K-1 at every keep
probability, so two runs with the same seed share that seed's random draws:
they are PAIRED, and the effect of dropout is measured on the per-seed differences
``d_s = acc(keep, s) - acc(1, s)``, whose spread is smaller than that of either column.

Every interval is the Student t interval of a mean::

    mean ± t_{(1 + confidence) / 2, n - 1} * s / sqrt(n),   s the sample standard deviation (ddof=1)

with the t quantile from :data:`scipy.stats.t` (see :func:`t_critical`). SciPy is imported on the first
interval, not with this module, so that importing the experiments package stays cheap.
The text table of a summary is :func:`dropout_lab.experiments.table.format_summary_table`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any, NamedTuple

import numpy as np

from .._validation import _describe, check_finite, check_positive_int
from ..errors import InvalidArgumentError, InvalidTypeError
from .records import keep_text, run_accuracy, run_keep_prob, run_list, run_seed

__all__ = [
    "HELPED",
    "HURT",
    "NO_DIFFERENCE",
    "NOT_ENOUGH_SEEDS",
    "Interval",
    "KeepProbSummary",
    "check_confidence",
    "check_summary_rows",
    "mean_ci",
    "paired_difference",
    "summarize",
    "summary_to_dict",
    "t_critical",
    "verdict",
]

HELPED = "helped"
HURT = "hurt"
NO_DIFFERENCE = "no detectable difference"
NOT_ENOUGH_SEEDS = "not enough seeds"


# --------------------------------------------------------------------------------------------------
# The t multiplier
# --------------------------------------------------------------------------------------------------


def check_confidence(confidence: Any) -> float:
    """A confidence level (the coverage of an interval): a real number in the open interval (0, 1).

    Returns:
        ``confidence`` as a float.

    Raises:
        InvalidTypeError: not a real number (a bool is refused). InvalidArgumentError: NaN, or outside
        (0, 1).
    """
    if isinstance(confidence, bool) or not isinstance(confidence, Real):
        raise InvalidTypeError(f"confidence must be a real number in (0, 1), got {_describe(confidence)}")
    value = float(confidence)
    if math.isnan(value) or not 0.0 < value < 1.0:
        raise InvalidArgumentError(f"confidence must lie in the open interval (0, 1), got {value}")
    return value


@functools.lru_cache(maxsize=256)  # intervals ask for the same few (confidence, n) over and over
def _t_upper(tail: float, df: int) -> float:
    """The t with ``P(T > t) = tail`` for ``T`` with ``df`` degrees of freedom."""
    # Imported here: scipy.stats takes longer to import than the rest of the package together.
    from scipy import stats  # type: ignore[import-untyped]  # SciPy ships no type information

    # The inverse survival function at the small tail, rather than ppf(1 - tail): keeps its digits.
    return float(stats.t.isf(tail, df))


def t_critical(confidence: float, n: int) -> float:
    """The t interval's multiplier for the mean of ``n`` values: ``t_{(1 + confidence) / 2, n - 1}``.

    The Student t quantile with ``n - 1`` degrees of freedom, ``scipy.stats.t.isf((1 - confidence) / 2,
    n - 1)``: the interval of the mean is ``mean ± t_critical(confidence, n) * s / sqrt(n)``, ``s`` the
    sample standard deviation (ddof=1), as in :func:`mean_ci` and the bands of
    :func:`~dropout_lab.experiments.plot.plot_accuracy`.

    Args:
        confidence: the coverage, in (0, 1).
        n: how many values the mean is of, an integer >= 2 (one value has no spread, so no interval).

    Returns:
        The multiplier, > 0; e.g. ``t_critical(0.95, 3) = 4.30265...``.
    """
    confidence = check_confidence(confidence)
    n = check_positive_int("n", n)
    if n < 2:
        raise InvalidArgumentError(f"n must be at least 2 (one value has no spread, so no interval), got {n}")
    return _t_upper(0.5 * (1.0 - confidence), n - 1)



# --------------------------------------------------------------------------------------------------
# Intervals and verdicts
# --------------------------------------------------------------------------------------------------


class Interval(NamedTuple):
    """A t confidence interval for a mean: ``[low, high] = mean ± half_width`` from ``n`` values.

    With ``n == 1`` the spread is unknown: ``half_width``, ``low`` and ``high`` are NaN (not infinite,
    so that a table shows "n/a" and JSON gets null rather than a bound that looks meaningful).
    """

    mean: float
    low: float
    high: float
    half_width: float
    n: int


def _as_values(name: str, values: Any) -> np.ndarray:
    if values is None or isinstance(values, (str, bytes, dict)):
        raise InvalidTypeError(f"{name} must be a sequence of numbers, got {_describe(values)}")
    try:
        raw = np.asarray(values)
    except (TypeError, ValueError) as exc:  # ragged nested lists
        raise InvalidTypeError(f"{name} must be a sequence of numbers, got {_describe(values)}") from exc
    # Only real numbers: a cast would drop a complex part with a warning, or turn True into 1.0.
    if raw.dtype.kind not in "iufO":
        raise InvalidTypeError(f"{name} must be a sequence of numbers (real ones), got dtype {raw.dtype}")
    try:
        array = raw.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidTypeError(f"{name} must be a sequence of numbers, got {_describe(values)}") from exc
    if array.ndim != 1:
        raise InvalidArgumentError(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.size == 0:
        raise InvalidArgumentError(f"{name} must hold at least one value, got none")
    check_finite(name, array)
    return array


def _interval(values: np.ndarray, confidence: float) -> Interval:
    n = int(values.size)
    mean = float(np.mean(values))
    if n < 2:
        return Interval(mean, math.nan, math.nan, math.nan, n)
    sd = float(np.std(values, ddof=1))
    half_width = _t_upper(0.5 * (1.0 - confidence), n - 1) * sd / math.sqrt(n)
    return Interval(mean, mean - half_width, mean + half_width, half_width, n)


def mean_ci(values: Sequence[float] | np.ndarray, confidence: float = 0.95) -> Interval:
    """The t confidence interval of the mean of ``values``.

    ``mean ± t_{(1+confidence)/2, n-1} * s / sqrt(n)`` with ``s`` the sample standard deviation
    (ddof=1). One value gives NaN ``half_width``, ``low`` and ``high`` (see :class:`Interval`).

    Args:
        values: (n,) finite numbers, n >= 1.
        confidence: the coverage, in (0, 1).

    Returns:
        The :class:`Interval`.
    """
    confidence = check_confidence(confidence)
    return _interval(_as_values("values", values), confidence)


def paired_difference(
    treatment: Sequence[float] | np.ndarray,
    control: Sequence[float] | np.ndarray,
    confidence: float = 0.95,
) -> Interval:
    """The t confidence interval of the mean of ``treatment - control``, paired element by element.

    Element ``i`` of both arrays must come from the same seed: the interval is :func:`mean_ci` of the
    differences ``d_i = treatment_i - control_i``.

    Args:
        treatment: (n,) finite numbers. control: (n,) finite numbers, the same length.
        confidence: the coverage, in (0, 1).

    Returns:
        The :class:`Interval` of the mean difference.
    """
    confidence = check_confidence(confidence)
    treatment_values = _as_values("treatment", treatment)
    control_values = _as_values("control", control)
    if treatment_values.shape != control_values.shape:
        raise InvalidArgumentError(
            "treatment and control must have the same length (one value per seed, paired), got "
            f"{treatment_values.size} and {control_values.size}"
        )
    return _interval(treatment_values - control_values, confidence)


def verdict(interval: Interval) -> str:
    """Whether the treatment helped, from the interval of a (treatment - control) difference.

    Returns:
        ``'helped'`` if the whole interval is above 0, ``'hurt'`` if it is below 0,
        ``'no detectable difference'`` if it contains 0, and ``'not enough seeds'`` when ``n < 2``
        (no interval can be formed from a single difference).
    """
    if not isinstance(interval, Interval):
        raise InvalidTypeError(
            f"interval must be an Interval (from mean_ci or paired_difference), got {_describe(interval)}"
        )
    if interval.n < 2 or math.isnan(interval.low) or math.isnan(interval.high):
        return NOT_ENOUGH_SEEDS
    if interval.low > 0.0:
        return HELPED
    if interval.high < 0.0:
        return HURT
    return NO_DIFFERENCE


# --------------------------------------------------------------------------------------------------
# Experiment summary
# --------------------------------------------------------------------------------------------------

_ACCURACY_FIELDS = ("final_train_acc", "final_val_acc", "best_val_acc")


@dataclass(frozen=True)
class KeepProbSummary:
    """One keep probability's results over its seeds (accuracies are fractions in [0, 1]).

    Attributes:
        keep_prob: the probability of KEEPING a unit.
        seeds: the seeds run at this keep probability, in the order given.
        final_train_acc, final_val_acc, best_val_acc: intervals of the mean over seeds.
        train_val_gap: interval of the mean of ``final_train_acc - final_val_acc``.
        val_diff_vs_keep1: interval of the mean paired difference ``final_val_acc(keep) -
            final_val_acc(keep 1)`` over the seeds both have; None for keep 1 itself, when there are no
            keep-1 runs, or when no seed is shared.
        verdict: :func:`verdict` of ``val_diff_vs_keep1``, or None where that is None.
        confidence: the coverage of every interval.
    """

    keep_prob: float
    seeds: tuple[int, ...]
    final_train_acc: Interval
    final_val_acc: Interval
    best_val_acc: Interval
    train_val_gap: Interval
    val_diff_vs_keep1: Interval | None
    verdict: str | None
    confidence: float

    @property
    def n_seeds(self) -> int:
        return len(self.seeds)


def summarize(runs: Iterable[Any], confidence: float = 0.95) -> list[KeepProbSummary]:
    """One row per keep probability (in the order first seen), with intervals over seeds.

    Each run is a dict or an object with ``keep_prob``, ``seed``, ``final_train_acc``,
    ``final_val_acc`` and ``best_val_acc`` (fractions in [0, 1]). Runs at keep probability ``k`` and at
    1 with the same seed are paired: ``val_diff_vs_keep1`` is :func:`paired_difference` of their final
    validation accuracies over the seeds present in both (a seed missing from either is left out).

    Args:
        runs: the run records; each (keep_prob, seed) at most once.
        confidence: the coverage of every interval, in (0, 1).

    Returns:
        A list of :class:`KeepProbSummary`, empty when ``runs`` is (an experiment with no completed
        run).
    """
    confidence = check_confidence(confidence)
    records = run_list(runs)

    # groups: keep_prob -> {seed: (final_train, final_val, best_val)}, both in first-seen order.
    groups: dict[float, dict[int, tuple[float, float, float]]] = {}
    for index, run in enumerate(records):
        keep_prob = run_keep_prob(run, index)
        seed = run_seed(run, index)
        train_acc, val_acc, best_acc = (run_accuracy(run, index, name) for name in _ACCURACY_FIELDS)
        by_seed = groups.setdefault(keep_prob, {})
        if seed in by_seed:
            raise InvalidArgumentError(
                f"runs[{index}] repeats keep_prob={keep_text(keep_prob)}, seed={seed}: each pair must appear "
                "once, or the pairing by seed is ambiguous"
            )
        by_seed[seed] = (train_acc, val_acc, best_acc)

    baseline = groups.get(1.0)
    rows = []
    for keep_prob, by_seed in groups.items():
        table = np.array(list(by_seed.values()), dtype=np.float64)
        train, val, best = table[:, 0], table[:, 1], table[:, 2]
        diff: Interval | None = None
        if baseline is not None and keep_prob != 1.0:
            shared = [seed for seed in by_seed if seed in baseline]
            if shared:
                diff = _interval(
                    np.array([by_seed[s][1] - baseline[s][1] for s in shared], dtype=np.float64),
                    confidence,
                )
        rows.append(
            KeepProbSummary(
                keep_prob=keep_prob,
                seeds=tuple(by_seed),
                final_train_acc=_interval(train, confidence),
                final_val_acc=_interval(val, confidence),
                best_val_acc=_interval(best, confidence),
                train_val_gap=_interval(train - val, confidence),
                val_diff_vs_keep1=diff,
                verdict=None if diff is None else verdict(diff),
                confidence=confidence,
            )
        )
    return rows


def check_summary_rows(rows: Any) -> list[KeepProbSummary]:
    """The check that :func:`summary_to_dict` and the summary table make of their ``rows``.

    Args:
        rows: an iterable of :class:`KeepProbSummary` (a single row is refused), all at one
            confidence level, as from one :func:`summarize` call.

    Returns:
        The rows as a new list, in order.
    """
    if isinstance(rows, KeepProbSummary):
        raise InvalidTypeError("rows must be a list of KeepProbSummary (from summarize), got a single row")
    try:
        given = list(rows)
    except TypeError as exc:
        raise InvalidTypeError(
            f"rows must be a list of KeepProbSummary (from summarize), got {_describe(rows)}"
        ) from exc
    checked: list[KeepProbSummary] = []
    for index, row in enumerate(given):
        if not isinstance(row, KeepProbSummary):
            raise InvalidTypeError(f"rows[{index}] must be a KeepProbSummary, got {_describe(row)}")
        checked.append(row)
    confidences = {row.confidence for row in checked}
    if len(confidences) > 1:
        raise InvalidArgumentError(
            f"rows must share one confidence level (one summarize call), got {sorted(confidences)}"
        )
    return checked


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _interval_to_dict(interval: Interval | None) -> dict[str, Any] | None:
    if interval is None:
        return None
    return {
        "mean": _finite_or_none(interval.mean),
        "low": _finite_or_none(interval.low),
        "high": _finite_or_none(interval.high),
        "half_width": _finite_or_none(interval.half_width),
        "n": interval.n,
    }


def summary_to_dict(rows: Sequence[KeepProbSummary]) -> dict[str, Any]:
    """The summary as JSON-ready data: plain floats, ints, strings, lists, and None for NaN.

    Returns:
        ``{"confidence": c, "baseline_keep_prob": 1.0 or None, "rows": [...]}`` (``confidence`` None
        when there are no rows), each row a dict with
        ``keep_prob``, ``n_seeds``, ``seeds``, the four intervals (each ``{"mean", "low", "high",
        "half_width", "n"}``), ``val_diff_vs_keep1`` (an interval dict or None) and ``verdict``.
    """
    rows = check_summary_rows(rows)
    return {
        "confidence": rows[0].confidence if rows else None,
        "baseline_keep_prob": 1.0 if any(row.keep_prob == 1.0 for row in rows) else None,
        "rows": [
            {
                "keep_prob": row.keep_prob,
                "n_seeds": row.n_seeds,
                "seeds": list(row.seeds),
                "final_train_acc": _interval_to_dict(row.final_train_acc),
                "final_val_acc": _interval_to_dict(row.final_val_acc),
                "best_val_acc": _interval_to_dict(row.best_val_acc),
                "train_val_gap": _interval_to_dict(row.train_val_gap),
                "val_diff_vs_keep1": _interval_to_dict(row.val_diff_vs_keep1),
                "verdict": row.verdict,
            }
            for row in rows
        ],
    }
