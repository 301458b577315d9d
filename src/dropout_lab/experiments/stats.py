"""Confidence intervals and verdicts for the dropout experiment, in NumPy and the standard library.

The experiment trains one net per (keep probability, seed), with the same seeds 0..K-1 at every keep
probability, so two runs with the same seed share that seed's random draws:
they are PAIRED, and the effect of dropout is measured on the per-seed differences
``d_s = acc(keep, s) - acc(1, s)``, whose spread is smaller than that of either column.

Every interval is the Student t interval of a mean::

    mean ± t_{(1 + confidence) / 2, n - 1} * s / sqrt(n),   s the sample standard deviation (ddof=1)

with the t quantile computed here from the regularized incomplete beta function (no SciPy).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from numbers import Integral, Real
from statistics import NormalDist
from typing import Any, Iterable, NamedTuple, Sequence

import numpy as np

from .._validation import _describe, check_finite, check_keep_prob
from ..errors import InvalidArgumentError, InvalidTypeError

__all__ = [
    "HELPED",
    "HURT",
    "NO_DIFFERENCE",
    "NOT_ENOUGH_SEEDS",
    "Interval",
    "KeepProbSummary",
    "format_summary_table",
    "mean_ci",
    "paired_difference",
    "summarize",
    "summary_to_dict",
    "t_cdf",
    "t_quantile",
    "verdict",
]

HELPED = "helped"
HURT = "hurt"
NO_DIFFERENCE = "no detectable difference"
NOT_ENOUGH_SEEDS = "not enough seeds"

# The continued fraction's coefficients hold x = df / (df + t**2) and cancel down to 1 - x, so its
# relative error grows like eps * df / t**2: 1e-12 at df = 1e4 and t ~ 2. Past _LARGE_DF, wherever
# t**2 <= df / _EXPANSION_RATIO, the Cornish-Fisher expansion (A&S 26.7.5) is used instead: its first
# omitted term is O(t**11 / df**5), below 1e-20 there. Elsewhere (only the far tails, where t**2 is
# large) the continued fraction keeps its digits.
_LARGE_DF = 10_000
_EXPANSION_RATIO = 1000.0
_EPS = np.finfo(np.float64).eps
_TINY = 1e-300
_LOG_SQRT_PI = 0.5 * math.log(math.pi)


# --------------------------------------------------------------------------------------------------
# Student t distribution
# --------------------------------------------------------------------------------------------------


def _check_df(df: Any) -> int:
    if isinstance(df, bool) or not isinstance(df, Integral):
        raise InvalidTypeError(f"df (degrees of freedom) must be a positive integer, got {_describe(df)}")
    if df < 1:
        raise InvalidArgumentError(f"df (degrees of freedom) must be a positive integer, got {df}")
    return int(df)


def _run_list(runs: Any) -> list[Any]:
    """``runs`` as a list of run records (any iterable but a string, bytes or a single dict)."""
    if isinstance(runs, (str, bytes, dict)):
        raise InvalidTypeError(f"runs must be a list of run records, got {_describe(runs)}")
    try:
        return list(runs)
    except TypeError as exc:
        raise InvalidTypeError(f"runs must be a list of run records, got {_describe(runs)}") from exc


def _check_open_unit(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise InvalidTypeError(f"{name} must be a real number in (0, 1), got {_describe(value)}")
    value = float(value)
    if math.isnan(value) or not 0.0 < value < 1.0:
        raise InvalidArgumentError(f"{name} must lie in the open interval (0, 1), got {value}")
    return value


def _stirling_tail(z: float) -> float:
    # log Gamma(z) - [(z - 1/2) log z - z + log(2 pi) / 2]; the next term, 691 / (360360 z**11), is
    # below 1e-19 for the z >= 30 this is used at.
    z2 = z * z
    return (1 / 12 - (1 / 360 - (1 / 1260 - (1 / 1680 - 1 / (1188 * z2)) / z2) / z2) / z2) / z


def _log_beta_half(a: float) -> float:
    """log B(a, 1/2) = log Gamma(a) + log Gamma(1/2) - log Gamma(a + 1/2), accurate for any a > 0."""
    if a < 30.0:
        return math.lgamma(a) + _LOG_SQRT_PI - math.lgamma(a + 0.5)
    # lgamma(a) and lgamma(a + 1/2) are both ~ a log a: their difference would lose digits to
    # cancellation, so take it from Stirling's series, where the large parts cancel analytically.
    diff = (
        -0.5 * math.log(a)
        + (0.5 - a * math.log1p(0.5 / a))
        + _stirling_tail(a)
        - _stirling_tail(a + 0.5)
    )
    return diff + _LOG_SQRT_PI


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    """K in ``I_x(a, b) = x**a (1-x)**b / (a B(a, b) K)`` (A&S 26.5.8), by the modified Lentz method.

    ``K = 1 + d1 / (1 + d2 / (1 + ...))`` with
    ``d_{2m+1} = -(a+m)(a+b+m) x / ((a+2m)(a+2m+1))`` and ``d_{2m} = m(b-m) x / ((a+2m-1)(a+2m))``;
    it converges fast for ``x < (a + 1) / (a + b + 2)``.
    """
    value = 1.0
    c = 1.0
    d = 0.0
    max_terms = 200 + 20 * int(math.sqrt(max(a, b)))
    for j in range(1, 2 * max_terms + 1):
        m, odd = divmod(j, 2)
        if odd:
            coef = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
        else:
            coef = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
        d = 1.0 + coef * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + coef / c
        if abs(c) < _TINY:
            c = _TINY
        delta = c * d
        value *= delta
        if abs(delta - 1.0) < _EPS:
            return value
    raise ArithmeticError(  # pragma: no cover - the bound above is generous for every (a, 1/2)
        f"the incomplete beta continued fraction did not converge for a={a}, b={b}, x={x}"
    )


def _t_tail(t: float, df: int) -> float:
    """P(T > t) for t >= 0: ``I_x(df/2, 1/2) / 2`` with ``x = df / (df + t**2)`` (A&S 26.7.1)."""
    if t == 0.0:
        return 0.5
    if math.isinf(t):
        return 0.0
    a = 0.5 * df
    # x and 1 - x both computed without subtraction, so neither loses digits near 0 or 1.
    log_ratio = 2.0 * math.log(t) - math.log(df)
    if log_ratio < 700.0:
        ratio = t * t / df
        log1p_ratio = math.log1p(ratio)
        x = 1.0 / (1.0 + ratio)
        y = ratio / (1.0 + ratio)
    else:  # t**2 would overflow (df = 1 far in the tail): 1 + ratio == ratio in doubles
        log1p_ratio = log_ratio
        x = math.exp(-log_ratio)
        y = 1.0
    # log y from log_ratio: y itself underflows to 0 for |t| below 1e-154.
    log_front = -a * log1p_ratio + 0.5 * (log_ratio - log1p_ratio) - _log_beta_half(a)
    if x < (a + 1.0) / (a + 2.5):
        return 0.5 * math.exp(log_front) / (a * _beta_continued_fraction(a, 0.5, x))
    # I_x(a, b) = 1 - I_{1-x}(b, a): the continued fraction for the complement converges here.
    return 0.5 - 0.5 * math.exp(log_front) / (0.5 * _beta_continued_fraction(0.5, a, y))


def _t_log_pdf(t: float, df: int) -> float:
    # f(t) = (1 + t**2/df) ** (-(df+1)/2) / (sqrt(df) B(df/2, 1/2))
    log_ratio = 2.0 * math.log(t) - math.log(df) if t > 0.0 else -math.inf
    log1p_ratio = math.log1p(t * t / df) if log_ratio < 700.0 else log_ratio
    return -0.5 * (df + 1) * log1p_ratio - 0.5 * math.log(df) - _log_beta_half(0.5 * df)


def _cornish_fisher(z: float, df: int) -> float:
    # Abramowitz & Stegun 26.7.5: t = z + g1/df + g2/df**2 + g3/df**3 + g4/df**4.
    z2 = z * z
    g1 = (z2 + 1) * z / 4
    g2 = ((5 * z2 + 16) * z2 + 3) * z / 96
    g3 = (((3 * z2 + 19) * z2 + 17) * z2 - 15) * z / 384
    g4 = ((((79 * z2 + 776) * z2 + 1482) * z2 - 1920) * z2 - 945) * z / 92160
    return z + (g1 + (g2 + (g3 + g4 / df) / df) / df) / df


def _cornish_fisher_slope(z: float, df: int) -> float:
    # d/dz of _cornish_fisher: >= 1 wherever the expansion is used, so Newton's method is safe.
    z2 = z * z
    d1 = (3 * z2 + 1) / 4
    d2 = ((25 * z2 + 48) * z2 + 3) / 96
    d3 = (((21 * z2 + 95) * z2 + 51) * z2 - 15) / 384
    d4 = ((((711 * z2 + 5432) * z2 + 7410) * z2 - 5760) * z2 - 945) / 92160
    return 1.0 + (d1 + (d2 + (d3 + d4 / df) / df) / df) / df


def _use_expansion(t_or_z: float, df: int) -> bool:
    return df > _LARGE_DF and t_or_z * t_or_z <= df / _EXPANSION_RATIO


def _t_tail_expansion(t: float, df: int) -> float:
    """P(T > t) for t >= 0 where :func:`_use_expansion`: the z with cornish_fisher(z) = t, then 1 - Phi(z)."""
    z = t
    for _ in range(50):
        step = (_cornish_fisher(z, df) - t) / _cornish_fisher_slope(z, df)
        z -= step
        if abs(step) <= 2.0 * _EPS * abs(z):
            break
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def _t_upper_exact(tail: float, df: int) -> float:
    """The t >= 0 with P(T > t) = tail, for tail in (0, 1/2], by safeguarded Newton iteration."""
    if tail == 0.5:
        return 0.0
    # Bracket [lo, hi] with tail(lo) >= tail >= tail(hi); doubling from a start near the answer.
    z = -NormalDist().inv_cdf(tail)
    guess = _cornish_fisher(z, df) if df > 4 else z
    lo, hi = 0.0, max(guess, 1.0)
    while _t_tail(hi, df) > tail:
        lo, hi = hi, 2.0 * hi
        if math.isinf(hi):  # the quantile itself overflows (df = 1, tail ~ 1e-308)
            return math.inf
    t = min(max(guess, lo), hi)
    for _ in range(400):
        excess = _t_tail(t, df) - tail
        if excess == 0.0:
            return t
        if excess > 0.0:
            lo = t
        else:
            hi = t
        # P(T > t) falls at rate pdf(t), so Newton's step is excess / pdf(t).
        pdf = math.exp(_t_log_pdf(t, df))
        candidate = t + excess / pdf if pdf > 0.0 else math.nan  # pdf underflows only past 1e154
        if not lo < candidate < hi:
            # Newton left the bracket: bisect, geometrically when the bracket spans decades.
            candidate = math.sqrt(lo * hi) if lo > 0.0 and hi > 4.0 * lo else 0.5 * (lo + hi)
        step = candidate - t
        t = candidate
        if abs(step) <= 2.0 * _EPS * t or hi - lo <= 2.0 * _EPS * hi:
            return t
    return t  # pragma: no cover - Newton converges quadratically long before this


@functools.lru_cache(maxsize=256)  # intervals ask for the same few (confidence, n) over and over
def _t_upper(tail: float, df: int) -> float:
    """The t >= 0 with P(T > t) = tail, for tail in (0, 1/2]."""
    z = -NormalDist().inv_cdf(tail)
    if _use_expansion(z, df):
        return _cornish_fisher(z, df)
    return _t_upper_exact(tail, df)


def t_cdf(t: float, df: int) -> float:
    """The Student t distribution function ``P(T <= t)`` with ``df`` degrees of freedom.

    ``P(T > |t|) = I_x(df/2, 1/2) / 2`` with ``x = df / (df + t**2)`` (Abramowitz & Stegun 26.7.1),
    the regularized incomplete beta function evaluated by its continued fraction (A&S 26.5.8). For
    ``df > 10000`` and ``t**2 <= df / 1000``, where that fraction loses digits, the large-df limit is
    taken instead: ``1 - Phi(z)`` with ``z`` solving the Cornish-Fisher expansion (A&S 26.7.5)
    ``t = z + g1(z)/df + ... + g4(z)/df**4``, the normal distribution being the limit as df grows.
    The tail probability (``t_cdf(-|t|)``) has a relative error below 1e-10.

    Args:
        t: any real number (infinities allowed).
        df: degrees of freedom, a positive integer.

    Returns:
        The probability, in [0, 1].
    """
    df = _check_df(df)
    if isinstance(t, bool) or not isinstance(t, Real) or math.isnan(float(t)):
        raise InvalidTypeError(f"t must be a real number, got {_describe(t)}")
    t = float(t)
    tail = _t_tail_expansion(abs(t), df) if _use_expansion(t, df) else _t_tail(abs(t), df)
    return tail if t < 0 else 1.0 - tail


def t_quantile(q: float, df: int) -> float:
    """The Student t quantile: the ``t`` with ``P(T <= t) = q``, ``T`` having ``df`` degrees of freedom.

    Solves :func:`t_cdf` ``= q`` for the smaller tail by Newton's method safeguarded by bisection
    (bracket doubling, then bisection whenever a Newton step leaves the bracket). For ``df > 10000``
    (outside the far tails) it is the Cornish-Fisher expansion around the normal quantile ``z``
    (A&S 26.7.5, whose first omitted term is below 1e-20 there): as df grows the t distribution tends
    to the standard normal. The error is below 1e-11 (relative, or absolute for ``|t| < 1``).
    Symmetric: ``t_quantile(1 - q, df) == -t_quantile(q, df)`` exactly for ``q >= 1/2``.

    Args:
        q: the probability, in the open interval (0, 1).
        df: degrees of freedom, a positive integer.

    Returns:
        The quantile, e.g. ``t_quantile(0.975, 2) = 4.30265...``.
    """
    q = _check_open_unit("q", q)
    df = _check_df(df)
    if q == 0.5:
        return 0.0
    # Work with the smaller tail probability: 1 - q is exact for q >= 1/2, and a tiny q keeps its digits.
    if q > 0.5:
        return _t_upper(1.0 - q, df)
    return -_t_upper(q, df)


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
    confidence = _check_open_unit("confidence", confidence)
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
    confidence = _check_open_unit("confidence", confidence)
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


def _run_field(run: Any, index: int, name: str) -> Any:
    if isinstance(run, dict):
        if name not in run:
            raise InvalidArgumentError(f"runs[{index}] has no {name!r} key (keys: {sorted(run)})")
        return run[name]
    if not hasattr(run, name):
        raise InvalidArgumentError(f"runs[{index}] ({type(run).__name__}) has no attribute {name!r}")
    return getattr(run, name)


def _run_accuracy(run: Any, index: int, name: str) -> float:
    value = _run_field(run, index, name)
    if isinstance(value, bool) or not isinstance(value, Real):
        raise InvalidTypeError(f"runs[{index}].{name} must be a real number, got {_describe(value)}")
    value = float(value)
    if not 0.0 <= value <= 1.0:  # also rejects NaN
        raise InvalidArgumentError(
            f"runs[{index}].{name} must be an accuracy fraction in [0, 1], got {value}"
        )
    return value


def _run_seed(run: Any, index: int) -> int:
    seed = _run_field(run, index, "seed")
    if isinstance(seed, bool) or not isinstance(seed, Integral):
        raise InvalidTypeError(f"runs[{index}].seed must be an integer, got {_describe(seed)}")
    return int(seed)


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
    confidence = _check_open_unit("confidence", confidence)
    runs = _run_list(runs)

    # groups: keep_prob -> {seed: (final_train, final_val, best_val)}, both in first-seen order.
    groups: dict[float, dict[int, tuple[float, float, float]]] = {}
    for index, run in enumerate(runs):
        keep_prob = check_keep_prob(f"runs[{index}].keep_prob", _run_field(run, index, "keep_prob"))
        seed = _run_seed(run, index)
        accuracies = tuple(_run_accuracy(run, index, name) for name in _ACCURACY_FIELDS)
        by_seed = groups.setdefault(keep_prob, {})
        if seed in by_seed:
            raise InvalidArgumentError(
                f"runs[{index}] repeats keep_prob={keep_prob:g}, seed={seed}: each pair must appear "
                "once, or the pairing by seed is ambiguous"
            )
        by_seed[seed] = accuracies  # type: ignore[assignment]

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


def _check_rows(rows: Any) -> list[KeepProbSummary]:
    if isinstance(rows, KeepProbSummary):
        raise InvalidTypeError("rows must be a list of KeepProbSummary (from summarize), got a single row")
    try:
        rows = list(rows)
    except TypeError as exc:
        raise InvalidTypeError(
            f"rows must be a list of KeepProbSummary (from summarize), got {_describe(rows)}"
        ) from exc
    for index, row in enumerate(rows):
        if not isinstance(row, KeepProbSummary):
            raise InvalidTypeError(f"rows[{index}] must be a KeepProbSummary, got {_describe(row)}")
    confidences = {row.confidence for row in rows}
    if len(confidences) > 1:
        raise InvalidArgumentError(
            f"rows must share one confidence level (one summarize call), got {sorted(confidences)}"
        )
    return rows


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
    rows = _check_rows(rows)
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


def _percent(value: float, *, signed: bool = False) -> str:
    if not math.isfinite(value):
        return "n/a"
    return f"{100.0 * value:+.1f}" if signed else f"{100.0 * value:.1f}"


def _cell(interval: Interval, with_spread: bool, *, signed: bool = False) -> str:
    if not with_spread:
        return _percent(interval.mean, signed=signed)
    return f"{_percent(interval.mean, signed=signed)} ± {_percent(interval.half_width)}"


def format_summary_table(rows: Sequence[KeepProbSummary]) -> str:
    """A plain-text table of :func:`summarize`'s rows, aligned for a terminal.

    Accuracies are percentages with one decimal; the gap and the difference are percentage points.
    When some keep probability has two or more seeds every cell reads ``mean ± half-width`` (the
    half-width of the t interval, "n/a" for a single seed), and, when keep 1 was run, two last columns
    give the paired difference in final validation accuracy vs keep 1 and its :func:`verdict`.

    Returns:
        The table: a header line, a rule, one line per row and a closing note, without a final newline
        (or a one-line message when there are no rows).
    """
    rows = _check_rows(rows)
    if not rows:
        return "no completed runs to summarize"
    with_spread = max(row.n_seeds for row in rows) >= 2
    with_diff = with_spread and any(row.keep_prob == 1.0 for row in rows)
    headers = ["keep prob", "seeds", "final train acc", "final val acc", "best val acc", "train-val gap"]
    if with_diff:
        headers += ["val acc vs keep 1", "verdict"]
    body = []
    for row in rows:
        cells = [
            f"{row.keep_prob:g}",
            str(row.n_seeds),
            _cell(row.final_train_acc, with_spread),
            _cell(row.final_val_acc, with_spread),
            _cell(row.best_val_acc, with_spread),
            _cell(row.train_val_gap, with_spread),
        ]
        if with_diff:
            if row.keep_prob == 1.0:
                cells += ["(baseline)", ""]
            elif row.val_diff_vs_keep1 is None:
                cells += ["n/a", "no shared seeds"]
            else:
                cells += [_cell(row.val_diff_vs_keep1, True, signed=True), str(row.verdict)]
        body.append(cells)
    widths = [max(len(cells[i]) for cells in [headers, *body]) for i in range(len(headers))]
    # Numbers right-aligned so that their decimal points line up; the verdict words left-aligned.
    last_is_text = with_diff

    def join(cells: list[str]) -> str:
        parts = [
            cell.ljust(width) if last_is_text and i == len(cells) - 1 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths))
        ]
        return "  ".join(parts).rstrip()

    lines = [join(headers), "  ".join("-" * width for width in widths)]
    lines.extend(join(cells) for cells in body)
    if with_spread:
        note = (
            f"accuracies in %: mean ± half-width of the {100 * rows[0].confidence:g}% t interval "
            "over seeds"
        )
        lines.append(note)
        if with_diff:
            lines.append(
                "val acc vs keep 1: final val acc minus keep 1's, paired by seed, in percentage points"
            )
    else:
        lines.append("accuracies in %, one seed per keep probability: no intervals")
    return "\n".join(lines)
