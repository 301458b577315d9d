"""Confidence intervals and verdicts for the dropout experiment.

The experiment trains one net per (keep probability, seed), with the same seeds 0..K-1 at every keep
probability, so two runs with the same seed share that seed's random draws:
they are PAIRED, and the effect of dropout is measured on the per-seed differences
``d_s = acc(keep, s) - acc(1, s)``, whose spread is smaller than that of either column.

Every interval is the Student t interval of a mean::

    mean ± t_{(1 + confidence) / 2, n - 1} * s / sqrt(n),   s the sample standard deviation (ddof=1)

with the t quantile from :data:`scipy.stats.t` (see :func:`t_critical`). SciPy is imported on the first
interval, not with this module, so that importing the experiments package stays cheap.
The rules that turn a difference into a verdict (Holm's correction over a cell's keep probabilities,
the one-example rule, zero spread) and the notes under a table are :mod:`.compare`'s; the text table of
a summary is :func:`dropout_lab.experiments.table.format_summary_table`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from numbers import Real
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from .._validation import _describe, check_finite, check_positive_int
from ..errors import InvalidArgumentError, InvalidTypeError
from .records import keep_text, run_accuracy, run_keep_prob, run_list, run_seed

if TYPE_CHECKING:
    from .compare import Comparison

__all__ = [
    "HELPED",
    "HURT",
    "NO_DIFFERENCE",
    "NOT_ENOUGH_SEEDS",
    "NO_SPREAD",
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
NO_DIFFERENCE = "no detectable effect"
NOT_ENOUGH_SEEDS = "not enough seeds"
#: Every seed gave the same difference: the interval has zero width, a sign of too few seeds or of a
#: metric too coarse (a count over few examples) to tell the runs apart, never of a sure effect.
NO_SPREAD = "too few seeds / no spread"
#: A sample standard deviation at most this is rounding noise among equal values, taken as 0 (accuracies
#: and their differences lie in [-1, 1]; two runs that differ by one example in a billion differ by 1e-9).
SPREAD_FLOOR = 1e-12


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
    if sd <= SPREAD_FLOOR:
        sd = 0.0  # rounding noise (0.56 - 0.51 != 0.55 - 0.50 in floats), not a spread
    half_width = _t_upper(0.5 * (1.0 - confidence), n - 1) * sd / math.sqrt(n)
    return Interval(mean, mean - half_width, mean + half_width, half_width, n)


def mean_ci(values: Sequence[float] | np.ndarray, confidence: float = 0.95) -> Interval:
    """The t confidence interval of the mean of ``values``.

    ``mean ± t_{(1+confidence)/2, n-1} * s / sqrt(n)`` with ``s`` the sample standard deviation
    (ddof=1), taken as 0 when at most :data:`SPREAD_FLOOR` (the rounding of equal values). One value
    gives NaN ``half_width``, ``low`` and ``high`` (see :class:`Interval`).

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


def verdict(interval: Interval, p_value: float | None = None, num_val: int | None = None) -> str:
    """Whether the treatment helped, from the interval of a (treatment - control) difference.

    The rules of :func:`~dropout_lab.experiments.compare.decide` at the interval's own level: with
    ``p_value`` None the test is whether the interval excludes 0 (the t test at that level, not corrected
    for other comparisons: :func:`summarize` corrects with Holm's method).

    Args:
        interval: from :func:`paired_difference`.
        p_value: the (corrected) p-value at a level of 0.05, if one was computed.
        num_val: N, the validation examples per run: a difference of at most 1/N is never a verdict.

    Returns:
        ``'helped'`` or ``'hurt'`` when the test rejects, the interval has nonzero width and the
        difference exceeds 1/N; ``'too few seeds / no spread'`` for a zero-width interval; ``'not enough
        seeds'`` when ``n < 2``; else ``'no detectable effect'``.
    """
    if not isinstance(interval, Interval):
        raise InvalidTypeError(
            f"interval must be an Interval (from mean_ci or paired_difference), got {_describe(interval)}"
        )
    if interval.n < 2 or math.isnan(interval.low) or math.isnan(interval.high):
        return NOT_ENOUGH_SEEDS
    if interval.half_width <= 0.0:
        return NO_SPREAD
    if num_val is not None and abs(interval.mean) <= 1.0 / check_positive_int("num_val", num_val):
        return NO_DIFFERENCE
    if p_value is not None:
        return (HELPED if interval.mean > 0.0 else HURT) if p_value < 0.05 else NO_DIFFERENCE
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

    The measure compared by default is the mean over the last ``window`` accuracy measurements after
    training began (:data:`~dropout_lab.experiments.compare.WINDOW`, 5, or fewer when fewer were taken;
    the final values alone for records without histories): less noisy than the last measurement.

    Attributes:
        keep_prob: the probability of KEEPING a unit.
        seeds: the seeds run at this keep probability, in the order given.
        final_train_acc, final_val_acc, best_val_acc: intervals of the mean over seeds.
        train_val_gap: interval of the mean of ``final_train_acc - final_val_acc``.
        val_diff_vs_keep1: interval of the mean paired difference ``final_val_acc(keep) -
            final_val_acc(keep 1)`` over the seeds both have; None for keep 1 itself, when there are no
            keep-1 runs, or when no seed is shared.
        verdict: the verdict of ``comparison`` (the default measure), or None where it is None.
        confidence: the coverage of every interval.
        num_val: N, the validation examples each run's accuracy counts (the fewest among the runs);
            None when a run does not record it.
        window: measurements averaged by the ``last_*`` intervals (the fewest among the runs).
        window_epochs: the epochs of the first and last of them; None without histories.
        last_train_acc, last_val_acc, last_gap: intervals over seeds of the window's means (gap: train
            minus validation).
        comparison: ``last_val_acc`` against keep 1's, paired by seed, Holm-corrected over the cell
            (:class:`~dropout_lab.experiments.compare.Comparison`); None where ``val_diff_vs_keep1`` is.
        final_comparison: the same on the final validation accuracy.
        gap_comparison: the same on ``last_gap`` (its verdict: 'smaller gap', 'larger gap', ...).
        loss_falling: (runs whose loss still falls at the end, runs with enough losses to tell), by
            :func:`~dropout_lab.experiments.compare.loss_still_falling`.
        train_acc_falling: whether the mean over seeds of the last training accuracy is more than 2
            points below the mean of each run's best in the window.
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
    num_val: int | None = None
    window: int = 1
    window_epochs: tuple[int, int] | None = None
    last_train_acc: Interval | None = None
    last_val_acc: Interval | None = None
    last_gap: Interval | None = None
    comparison: Comparison | None = None
    final_comparison: Comparison | None = None
    gap_comparison: Comparison | None = None
    loss_falling: tuple[int, int] = (0, 0)
    train_acc_falling: bool = False

    @property
    def n_seeds(self) -> int:
        return len(self.seeds)


def summarize(runs: Iterable[Any], confidence: float = 0.95) -> list[KeepProbSummary]:
    """One row per keep probability (in the order first seen), with intervals over seeds, each keep
    probability compared with keep 1 by the rules of :mod:`~dropout_lab.experiments.compare`.

    Each run is a dict or an object with ``keep_prob``, ``seed``, ``final_train_acc``,
    ``final_val_acc`` and ``best_val_acc`` (fractions in [0, 1]), and optionally ``train_acc_history``
    and ``val_acc_history`` (with ``acc_epochs``), ``loss_history`` and ``num_val``. Runs at keep
    probability ``k`` and at 1 with the same seed are paired, over the seeds present in both (a seed
    missing from either is left out).

    Args:
        runs: the run records; each (keep_prob, seed) at most once.
        confidence: the coverage of every interval, in (0, 1); a test rejects at ``1 - confidence``.

    Returns:
        A list of :class:`KeepProbSummary`, empty when ``runs`` is (an experiment with no completed
        run).
    """
    from .compare import read_measures, summarize_groups  # loads SciPy's tests only when summarizing

    confidence = check_confidence(confidence)
    records = run_list(runs)
    groups: dict[float, dict[int, Any]] = {}  # keep_prob -> {seed: measures}, both in first-seen order
    for index, run in enumerate(records):
        keep_prob = run_keep_prob(run, index)
        seed = run_seed(run, index)
        train, val, best = (run_accuracy(run, index, name) for name in _ACCURACY_FIELDS)
        by_seed = groups.setdefault(keep_prob, {})
        if seed in by_seed:
            raise InvalidArgumentError(
                f"runs[{index}] repeats keep_prob={keep_text(keep_prob)}, seed={seed}: each pair must appear "
                "once, or the pairing by seed is ambiguous"
            )
        by_seed[seed] = read_measures(run, index, (train, val, best))
    return summarize_groups(groups, confidence)


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


def summary_to_dict(rows: Sequence[KeepProbSummary]) -> dict[str, Any]:
    """The summary as JSON-ready data: plain floats, ints, strings, lists, and None for NaN.

    Returns:
        ``{"confidence", "baseline_keep_prob", "measure", "correction", "notes", "rows"}``:
        ``confidence`` (None when there are no rows), ``baseline_keep_prob`` (1.0 or None), ``measure``
        (what ``verdict`` compares), ``correction`` ('holm'), ``notes`` (the lines under the table:
        :func:`~dropout_lab.experiments.compare.summary_notes`). Each row has ``keep_prob``,
        ``n_seeds``, ``seeds``, ``num_val``, ``window``, ``window_epochs``, the intervals
        (``final_train_acc``, ``final_val_acc``, ``best_val_acc``, ``train_val_gap``,
        ``last_train_acc``, ``last_val_acc``, ``last_gap``: each ``{"mean", "low", "high",
        "half_width", "n"}`` or None), ``val_diff_vs_keep1`` (the final difference's interval),
        ``verdict``, the comparisons ``val_vs_keep1``, ``final_val_vs_keep1``, ``gap_vs_keep1`` (each
        ``{"diff", "p_value", "p_holm", "verdict"}`` or None), ``gap_verdict``, ``loss_falling``
        (``[falling, measured]``) and ``train_acc_falling``.
    """
    from .compare import summary_dict  # with the rest of the verdicts' machinery

    return summary_dict(check_summary_rows(rows))
