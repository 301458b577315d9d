"""The rules that turn a cell's paired differences into verdicts, and the notes that say when a verdict
cannot be about regularization.

Each keep probability of a cell is compared with the cell's keep 1, paired by seed (see
:mod:`.stats`). For a difference ``d_s`` per seed, the two-sided paired t test's p-value is
``2 * scipy.stats.t.sf(|t|, n - 1)`` with ``t = mean(d) / (s / sqrt(n))``; the p-values of the keep
probabilities of one cell are corrected together by Holm's step-down method (:func:`holm`), which
keeps the chance of any false "helped" or "hurt" in the cell at ``1 - confidence``.

A verdict is ``'helped'`` or ``'hurt'`` only when all three hold:

1. the Holm-corrected p-value is below ``1 - confidence``;
2. the mean difference exceeds one validation example per run, ``1 / N`` (an accuracy is a count over
   N examples: a smaller difference is a fraction of one image);
3. the interval has nonzero width (the seeds disagree somewhat; a zero width means too few seeds or a
   metric too coarse to tell the runs apart, and is reported as ``'too few seeds / no spread'``).

Otherwise ``'no detectable effect'`` (``'not enough seeds'`` for a single shared seed). The
train-validation gap gets the same rules, with ``'smaller gap'``, ``'larger gap'`` and ``'no
detectable change'``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from .._validation import check_positive_int
from ..errors import InvalidArgumentError
from .records import keep_text, run_history, run_optional
from .stats import (
    HELPED,
    HURT,
    NO_DIFFERENCE,
    NO_SPREAD,
    NOT_ENOUGH_SEEDS,
    SPREAD_FLOOR,
    Interval,
    KeepProbSummary,
    _interval,
)

__all__ = [
    "FALLING_DROP",
    "LARGER_GAP",
    "LOW_TRAIN_ACC",
    "NO_GAP_CHANGE",
    "OVERFIT_GAP",
    "SMALLER_GAP",
    "WINDOW",
    "Comparison",
    "decide",
    "holm",
    "loss_still_falling",
    "paired_p_value",
]

SMALLER_GAP = "smaller gap"
LARGER_GAP = "larger gap"
NO_GAP_CHANGE = "no detectable change"

#: The default measure: the mean of the last WINDOW accuracy measurements after training began
#: (fewer when fewer were taken), less noisy than the last one alone.
WINDOW = 5
#: Keep 1's train-validation gap under which the baseline is "not overfitting": 5 percentage points.
#: Dropout is a regularizer; with a smaller gap there is little overfitting for it to remove, and a
#: difference in validation accuracy says more about capacity or optimization than regularization.
OVERFIT_GAP = 0.05
#: The loss "still falls" when the mean of its last 10% of steps is more than FALLING_DROP (5%, relative)
#: below the mean of the 10% before (see :func:`loss_still_falling`).
FALLING_DROP = 0.05
#: The training accuracy (the measure's mean over seeds) from which a net fits its training set: a loss
#: that still falls there is the fit sharpening its confidence (cross-entropy keeps falling towards 0 on
#: data already classified right), not a sign of under-training.
FITTED_TRAIN_ACC = 0.995
#: Keep 1's training accuracy (the measure's mean over seeds) under which it is "low": 95%. A net meant
#: to overfit should fit its training set; one that does not is under-trained (or too small).
LOW_TRAIN_ACC = 0.95


@dataclass(frozen=True)
class Comparison:
    """One keep probability against keep 1 on one measure, paired by seed.

    Attributes:
        diff: the t interval of the mean paired difference (this keep probability minus keep 1).
        p_value: the paired t test's two-sided p-value; None when it has none (one seed, or no spread).
        p_holm: ``p_value`` after Holm's correction over the cell's keep probabilities; None likewise.
        verdict: from :func:`decide`.
    """

    diff: Interval
    p_value: float | None
    p_holm: float | None
    verdict: str


def paired_p_value(differences: np.ndarray) -> float | None:
    """The two-sided one-sample t test's p-value that the mean of ``differences`` is 0.

    ``2 * scipy.stats.t.sf(|t|, n - 1)``, ``t = mean / (s / sqrt(n))`` (``s`` with ddof=1): the same
    as ``scipy.stats.ttest_rel(treatment, control).pvalue``.

    Args:
        differences: (n,) finite per-seed differences.

    Returns:
        The p-value in [0, 1], or None when ``n < 2`` or every difference is the same, up to
        :data:`~dropout_lab.experiments.stats.SPREAD_FLOOR` (no spread: the test is undefined).
    """
    n = int(differences.size)
    if n < 2:
        return None
    sd = float(np.std(differences, ddof=1))
    if sd <= SPREAD_FLOOR:
        return None  # equal up to rounding (as in the intervals): the t statistic would be rounding noise
    from scipy import stats  # type: ignore[import-untyped]  # SciPy ships no type information

    t_value = float(np.mean(differences)) / (sd / math.sqrt(n))
    return min(1.0, float(2.0 * stats.t.sf(abs(t_value), n - 1)))


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values; None entries stay None and do not count among the tests.

    With the m given p-values sorted, ``p_(1) <= ... <= p_(m)``, the adjusted value of ``p_(i)`` is
    ``max_{j <= i} min(1, (m - j + 1) * p_(j))``; rejecting where it is below ``alpha`` keeps the
    family-wise error at ``alpha``. (Holm, 1979, Scand. J. Statist. 6:65-70.)

    Returns:
        The adjusted p-values, in the order given.
    """
    present = [(p, i) for i, p in enumerate(p_values) if p is not None]
    for p, i in present:
        if not 0.0 <= p <= 1.0:  # also NaN
            raise InvalidArgumentError(f"p_values[{i}] must be a probability in [0, 1], got {p}")
    m = len(present)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(sorted(present)):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


def decide(
    diff: Interval,
    p_holm: float | None,
    num_val: int | None,
    *,
    confidence: float,
    labels: tuple[str, str, str] = ("helped", "hurt", NO_DIFFERENCE),
) -> str:
    """The verdict on a paired difference, by the three rules of this module's docstring.

    Args:
        diff: the interval of the mean paired difference (positive: above keep 1).
        p_holm: its Holm-corrected p-value (None: no test was possible).
        num_val: N, the validation examples each run was measured on (None: unknown, and the
            one-example rule is not applied).
        confidence: the level; a test rejects when ``p_holm < 1 - confidence``.
        labels: the words for (above, below, neither); for the gap, where lower is better,
            ``(LARGER_GAP, SMALLER_GAP, NO_GAP_CHANGE)``.

    Returns:
        One of ``labels``, ``'too few seeds / no spread'`` or ``'not enough seeds'``.
    """
    above, below, neither = labels
    if diff.n < 2 or math.isnan(diff.half_width):
        return NOT_ENOUGH_SEEDS
    if p_holm is None or diff.half_width <= 0.0:
        return NO_SPREAD
    one_example = 0.0 if num_val is None else 1.0 / num_val
    if p_holm < 1.0 - confidence and abs(diff.mean) > one_example:
        return above if diff.mean > 0.0 else below
    return neither


def loss_still_falling(loss_history: np.ndarray) -> bool | None:
    """Whether a run's training loss was still falling when it stopped.

    With T losses (one per update) and ``k = T // 10``: True when the mean of the last k is more than
    :data:`FALLING_DROP` (relative) below the mean of the k before, ``mean(L[T-k:]) < (1 - 0.05) *
    mean(L[T-2k:T-k])``. Averaging k minibatch losses smooths their noise (dropout's included).

    Returns:
        True or False; None when there are fewer than 20 losses (too few to tell).
    """
    total = int(loss_history.size)
    if total < 20:
        return None
    k = total // 10
    last = float(np.mean(loss_history[total - k :]))
    before = float(np.mean(loss_history[total - 2 * k : total - k]))
    return last < (1.0 - FALLING_DROP) * before


# --------------------------------------------------------------------------------------------------
# From run records to a cell's rows (what stats.summarize does with them)
# --------------------------------------------------------------------------------------------------


class Measures(NamedTuple):
    """What a summary takes from one run: its final accuracies and the default measure's window."""

    final_train: float
    final_val: float
    best_val: float
    last_train: float
    last_val: float
    window: int
    window_epochs: tuple[int, int] | None
    train_window_best: float
    loss_falling: bool | None
    num_val: int | None


def read_measures(run: Any, index: int, finals: tuple[float, float, float]) -> Measures:
    """The :class:`Measures` of ``runs[index]``, whose final (train, val, best val) accuracies are
    ``finals``. The window: the last ``min(WINDOW, measured)`` measurements taken after training began
    (epoch > 0; all of them if none was); without histories, the final values (a window of 1)."""
    final_train, final_val, best_val = finals
    train = run_history(run, index, "train_acc_history")
    val = run_history(run, index, "val_acc_history")
    num_val = run_optional(run, "num_val")
    if num_val is not None:
        num_val = check_positive_int(f"runs[{index}].num_val", num_val)
    losses = run_history(run, index, "loss_history", accuracies=False)
    falling = None if losses is None else loss_still_falling(losses)
    if train is None or val is None or train.size == 0 or train.size != val.size:
        return Measures(final_train, final_val, best_val, final_train, final_val, 1, None, final_train,
                        falling, num_val)  # fmt: skip
    raw_epochs = run_optional(run, "acc_epochs")
    epochs = np.arange(train.size) if raw_epochs is None else np.asarray(raw_epochs, dtype=np.int64)
    if epochs.shape != train.shape:
        raise InvalidArgumentError(f"runs[{index}].acc_epochs must hold one epoch per accuracy ({train.size})")
    trained = int(np.count_nonzero(epochs > 0)) or int(train.size)
    window = min(WINDOW, trained)
    return Measures(
        final_train, final_val, best_val,
        float(np.mean(train[-window:])), float(np.mean(val[-window:])), window,
        (int(epochs[-window]), int(epochs[-1])), float(np.max(train[-window:])), falling, num_val,
    )  # fmt: skip


def _fewest(values: Sequence[int | None]) -> int | None:
    return None if any(v is None for v in values) else min(v for v in values if v is not None)


def summarize_groups(groups: dict[float, dict[int, Measures]], confidence: float) -> list[KeepProbSummary]:
    """:func:`~dropout_lab.experiments.stats.summarize`'s rows from its ``keep_prob -> {seed:
    Measures}``: intervals, and each keep probability's comparisons with keep 1, Holm-corrected per
    measure over the keep probabilities compared."""
    baseline = groups.get(1.0)
    # measure name -> the per-seed value of one run; the gap is lower-is-better.
    measures: dict[str, Callable[[Measures], float]] = {
        "last": lambda m: m.last_val,
        "final": lambda m: m.final_val,
        "gap": lambda m: m.last_train - m.last_val,
    }
    diffs: dict[str, dict[float, Interval]] = {name: {} for name in measures}
    p_values: dict[str, dict[float, float | None]] = {name: {} for name in measures}
    for keep_prob, by_seed in groups.items():
        if baseline is None or keep_prob == 1.0:
            continue
        shared = [seed for seed in by_seed if seed in baseline]
        if not shared:
            continue
        for name, value in measures.items():
            d = np.array([value(by_seed[s]) - value(baseline[s]) for s in shared], dtype=np.float64)
            diffs[name][keep_prob] = _interval(d, confidence)
            p_values[name][keep_prob] = paired_p_value(d)
    comparisons: dict[str, dict[float, Comparison]] = {}
    for name in measures:
        keys = list(p_values[name])
        adjusted = dict(zip(keys, holm([p_values[name][k] for k in keys]), strict=True))
        labels = (LARGER_GAP, SMALLER_GAP, NO_GAP_CHANGE) if name == "gap" else (HELPED, HURT, NO_DIFFERENCE)
        comparisons[name] = {}
        for keep_prob in keys:
            num_val = _fewest([m.num_val for m in (*groups[keep_prob].values(), *(baseline or {}).values())])
            interval = diffs[name][keep_prob]
            comparisons[name][keep_prob] = Comparison(
                interval, p_values[name][keep_prob], adjusted[keep_prob],
                decide(interval, adjusted[keep_prob], num_val, confidence=confidence, labels=labels),
            )  # fmt: skip

    rows = []
    for keep_prob, by_seed in groups.items():
        runs = list(by_seed.values())

        def column(field: str, runs: list[Measures] = runs) -> np.ndarray:
            return np.array([getattr(m, field) for m in runs], dtype=np.float64)

        train, val, best = column("final_train"), column("final_val"), column("best_val")
        last_train, last_val = column("last_train"), column("last_val")
        window = min(m.window for m in runs)
        epochs = {m.window_epochs for m in runs}
        told = [m.loss_falling for m in runs if m.loss_falling is not None]
        final = comparisons["final"].get(keep_prob)
        default = comparisons["last"].get(keep_prob)
        rows.append(
            KeepProbSummary(
                keep_prob=keep_prob,
                seeds=tuple(by_seed),
                final_train_acc=_interval(train, confidence),
                final_val_acc=_interval(val, confidence),
                best_val_acc=_interval(best, confidence),
                train_val_gap=_interval(train - val, confidence),
                val_diff_vs_keep1=None if final is None else final.diff,
                verdict=None if default is None else default.verdict,
                confidence=confidence,
                num_val=_fewest([m.num_val for m in runs]),
                window=window,
                window_epochs=epochs.pop() if len(epochs) == 1 else None,
                last_train_acc=_interval(last_train, confidence),
                last_val_acc=_interval(last_val, confidence),
                last_gap=_interval(last_train - last_val, confidence),
                comparison=default,
                final_comparison=final,
                gap_comparison=comparisons["gap"].get(keep_prob),
                loss_falling=(sum(told), len(told)),
                train_acc_falling=float(np.mean(train)) < float(np.mean(column("train_window_best"))) - 0.02,
            )
        )
    return rows


def _points(fraction: float) -> str:
    """A fraction in percentage points, one decimal; two significant digits under 0.1 (1/N for N =
    10,000 is 0.01 points, not 0.0)."""
    points = 100.0 * fraction
    return f"{points:.1f}" if abs(points) >= 0.1 or points == 0 else f"{points:.2g}"


def summary_notes(rows: Sequence[KeepProbSummary]) -> list[str]:
    """What a reader must know to read a cell's verdicts, one line each (the lines under the table):
    N and the one-example rule, Holm's correction, a zero spread, a baseline that is not overfitting
    (keep 1's gap under :data:`OVERFIT_GAP`), and signs of under-training (a loss still falling where
    the training set is not yet fitted, :data:`FITTED_TRAIN_ACC`; keep 1's training accuracy under
    :data:`LOW_TRAIN_ACC` or falling)."""
    notes: list[str] = []
    compared = [row for row in rows if row.comparison is not None]
    if not compared:
        return notes
    num_vals = {row.num_val for row in rows}
    if None in num_vals:
        notes.append("N (validation examples per run) not recorded: the one-example rule is not applied")
    else:
        n = min(v for v in num_vals if v is not None)
        notes.append(f"N = {n} validation examples per run: a difference of at most 1/N = {_points(1 / n)} "
                     "points (one example) is never called helped or hurt")  # fmt: skip
    level = f"{1 - rows[0].confidence:g}"
    tested = [row for row in compared if row.comparison is not None and row.comparison.p_value is not None]
    if tested:
        notes.append(f"p (Holm): paired t test against keep 1, Holm-corrected over the {len(tested)} keep "
                     f"probabilities tested; helped/hurt need p (Holm) < {level}")  # fmt: skip
    every = [c for row in rows for c in (row.comparison, row.gap_comparison, row.final_comparison) if c is not None]
    if any(c.verdict == NO_SPREAD for c in every):
        notes.append(f"{NO_SPREAD}: every seed gave the same difference (a zero-width interval), a sign of too few "
                     "seeds or of too coarse a metric (few validation examples), not of a sure effect")  # fmt: skip
    baseline = next((row for row in rows if row.keep_prob == 1.0), None)
    if baseline is not None and baseline.last_gap is not None and baseline.last_gap.mean < OVERFIT_GAP:
        notes.append(f"baseline not overfitting (gap {_points(baseline.last_gap.mean)} points, under "
                     f"{_points(OVERFIT_GAP)}): these verdicts cannot be about regularization")  # fmt: skip
    falling = [f"{row.loss_falling[0]}/{row.loss_falling[1]} runs at keep {keep_text(row.keep_prob)}"
               for row in rows if 2 * row.loss_falling[0] > row.loss_falling[1]
               and (row.last_train_acc is None or row.last_train_acc.mean < FITTED_TRAIN_ACC)]  # fmt: skip
    if falling:
        notes.append(f"under-trained: the loss still falls at the end (its last 10% of steps average over "
                     f"{FALLING_DROP:.0%} below the 10% before) in {', '.join(falling)}")  # fmt: skip
    if baseline is not None and baseline.last_train_acc is not None:
        if baseline.last_train_acc.mean < LOW_TRAIN_ACC:
            notes.append(f"under-trained: keep 1 fits only {_points(baseline.last_train_acc.mean)}% of its "
                         f"training examples (under {_points(LOW_TRAIN_ACC)}%)")  # fmt: skip
        if baseline.train_acc_falling:
            notes.append("under-trained: keep 1's training accuracy falls at the end (its last measurement is "
                         "over 2 points below its best in the window)")  # fmt: skip
    return notes


def _finite_or_none(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


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


def _comparison_to_dict(comparison: Comparison | None) -> dict[str, Any] | None:
    if comparison is None:
        return None
    return {
        "diff": _interval_to_dict(comparison.diff),
        "p_value": _finite_or_none(comparison.p_value),
        "p_holm": _finite_or_none(comparison.p_holm),
        "verdict": comparison.verdict,
    }


def summary_dict(rows: list[KeepProbSummary]) -> dict[str, Any]:
    """:func:`~dropout_lab.experiments.stats.summary_to_dict` of checked ``rows``."""
    return {
        "confidence": rows[0].confidence if rows else None,
        "baseline_keep_prob": 1.0 if any(row.keep_prob == 1.0 for row in rows) else None,
        "measure": "mean validation accuracy over the last `window` measurements",
        "correction": "holm",
        "notes": summary_notes(rows),
        "rows": [
            {
                "keep_prob": row.keep_prob,
                "n_seeds": row.n_seeds,
                "seeds": list(row.seeds),
                "num_val": row.num_val,
                "window": row.window,
                "window_epochs": None if row.window_epochs is None else list(row.window_epochs),
                "final_train_acc": _interval_to_dict(row.final_train_acc),
                "final_val_acc": _interval_to_dict(row.final_val_acc),
                "best_val_acc": _interval_to_dict(row.best_val_acc),
                "train_val_gap": _interval_to_dict(row.train_val_gap),
                "last_train_acc": _interval_to_dict(row.last_train_acc),
                "last_val_acc": _interval_to_dict(row.last_val_acc),
                "last_gap": _interval_to_dict(row.last_gap),
                "val_diff_vs_keep1": _interval_to_dict(row.val_diff_vs_keep1),
                "verdict": row.verdict,
                "val_vs_keep1": _comparison_to_dict(row.comparison),
                "final_val_vs_keep1": _comparison_to_dict(row.final_comparison),
                "gap_vs_keep1": _comparison_to_dict(row.gap_comparison),
                "gap_verdict": None if row.gap_comparison is None else row.gap_comparison.verdict,
                "loss_falling": list(row.loss_falling),
                "train_acc_falling": row.train_acc_falling,
            }
            for row in rows
        ],
    }
