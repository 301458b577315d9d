"""Tests for dropout_lab.experiments.stats: the t multiplier, intervals, verdicts and the summary."""

from __future__ import annotations

import json
import math
from statistics import NormalDist
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.stats
from hypothesis import given
from hypothesis import strategies as st

from dropout_lab.errors import InvalidArgumentError, InvalidTypeError
from dropout_lab.experiments.stats import (
    HELPED,
    HURT,
    NO_DIFFERENCE,
    NO_SPREAD,
    NOT_ENOUGH_SEEDS,
    Interval,
    KeepProbSummary,
    check_confidence,
    check_summary_rows,
    mean_ci,
    paired_difference,
    summarize,
    summary_to_dict,
    t_critical,
    verdict,
)
from dropout_lab.experiments.table import format_summary_table

from ._runs import experiment_runs, run_record

# Published two-sided table values (11-12 significant digits), t_{q, df}.
T_TABLE = [
    (0.975, 1, 12.7062047362),
    (0.975, 2, 4.30265272975),
    (0.975, 4, 2.7764451052),
    (0.975, 9, 2.26215716280),
    (0.975, 29, 2.04522964213),
    (0.95, 10, 1.81246112281),
    (0.95, 2, 2.91998558035),
    (0.995, 5, 4.03214298356),
    (0.99, 20, 2.52797700274),
]
T_975_2 = 4.30265272975
T_975_1 = 12.7062047362
T_95_2 = 2.91998558035
Z_975 = 1.959963984540054  # the standard normal's 0.975 quantile


# ------------------------------------------------------------------------------ the t multiplier


@pytest.mark.parametrize(("q", "df", "expected"), T_TABLE)
def test_t_critical_matches_published_tables(q, df, expected):
    # The two-sided interval at confidence 2q - 1 from df + 1 values uses t_{q, df}.
    assert t_critical(2 * q - 1, df + 1) == pytest.approx(expected, abs=1e-10)


@given(confidence=st.floats(min_value=1e-6, max_value=1 - 1e-12), n=st.integers(2, 10**7))
def test_t_critical_is_the_bound_of_scipys_t_interval(confidence, n):
    low, _ = scipy.stats.t.interval(confidence, n - 1)
    # The lower bound, ppf((1 - confidence) / 2), keeps its digits; the upper bound's argument,
    # (1 + confidence) / 2, rounds away most of a small tail's.
    assert math.isclose(t_critical(confidence, n), -low, rel_tol=1e-10)


@given(confidence=st.floats(min_value=2e-4, max_value=1 - 2e-12), n=st.integers(2, 201))
def test_t_critical_decreases_with_n_towards_the_normal(confidence, n):
    z = NormalDist().inv_cdf((1 + confidence) / 2)
    assert t_critical(confidence, n) > t_critical(confidence, n + 1) > z


def test_t_critical_tends_to_the_normal_quantile():
    # t - z = (z**3 + z) / (4 df) + O(df**-2): 2.4e-9 at df = 1e9.
    assert t_critical(0.95, 10**9 + 1) == pytest.approx(Z_975, abs=1e-8)
    assert t_critical(0.95, 10**9 + 1) > Z_975


@pytest.mark.parametrize(("n", "error"), [(1, InvalidArgumentError), (0, InvalidArgumentError),
                                          (-2, InvalidArgumentError), (2.5, InvalidTypeError),
                                          (True, InvalidTypeError), ("3", InvalidTypeError)])
def test_t_critical_rejects_bad_n(n, error):
    with pytest.raises(error, match="n must"):
        t_critical(0.95, n)


@pytest.mark.parametrize(("confidence", "error"), [(0.0, InvalidArgumentError), (1.0, InvalidArgumentError),
                                                   (-0.1, InvalidArgumentError), (math.nan, InvalidArgumentError),
                                                   ("0.95", InvalidTypeError), (True, InvalidTypeError)])
def test_check_confidence_refuses_values_outside_the_open_unit_interval(confidence, error):
    with pytest.raises(error, match="confidence must"):
        check_confidence(confidence)
    with pytest.raises(error, match="confidence must"):
        t_critical(confidence, 3)


def test_scipy_is_imported_by_the_first_interval_not_by_the_package(run_python):
    script = (
        "import sys\n"
        "import dropout_lab.experiments\n"
        "assert 'scipy.stats' not in sys.modules, 'imported with the package'\n"
        "dropout_lab.experiments.mean_ci([0.1, 0.2])\n"
        "assert 'scipy.stats' in sys.modules\n"
    )
    run_python(script)


def test_check_confidence_returns_a_float():
    value = check_confidence(np.float32(0.5))
    assert value == 0.5 and type(value) is float


# ------------------------------------------------------------------------------ intervals


def test_mean_ci_by_hand():
    interval = mean_ci([0.50, 0.52, 0.55])
    # mean = 1.57 / 3; deviations -0.07/3, -0.01/3, 0.08/3, so s**2 = 0.0114 / 9 / 2.
    mean = 1.57 / 3
    s = math.sqrt(0.0114 / 18)
    half_width = T_975_2 * s / math.sqrt(3)  # ≈ 0.06252
    assert interval.n == 3
    assert interval.mean == pytest.approx(mean, rel=1e-12)
    assert interval.half_width == pytest.approx(half_width, rel=1e-10)
    assert interval.low == pytest.approx(mean - half_width, rel=1e-10)
    assert interval.high == pytest.approx(mean + half_width, rel=1e-10)


def test_mean_ci_confidence_selects_the_quantile():
    interval = mean_ci(np.array([0.50, 0.52, 0.55]), confidence=0.90)
    assert interval.half_width == pytest.approx(T_95_2 * math.sqrt(0.0114 / 18) / math.sqrt(3), rel=1e-10)


def test_mean_ci_single_value_has_nan_half_width():
    interval = mean_ci([0.4])
    assert interval.mean == 0.4 and interval.n == 1
    assert math.isnan(interval.half_width) and math.isnan(interval.low) and math.isnan(interval.high)


def test_mean_ci_of_equal_values_is_a_point():
    assert mean_ci([0.3, 0.3, 0.3]) == Interval(0.3, 0.3, 0.3, 0.0, 3)


@pytest.mark.parametrize(
    ("values", "error", "match"),
    [
        ([], InvalidArgumentError, "at least one value"),
        ([0.1, math.nan], InvalidArgumentError, "finite"),
        ([[0.1, 0.2]], InvalidArgumentError, "one-dimensional"),
        ("0.5", InvalidTypeError, "sequence of numbers"),
        ([0.1, "a"], InvalidTypeError, "sequence of numbers"),
    ],
)
def test_mean_ci_rejects_bad_values(values, error, match):
    with pytest.raises(error, match=match):
        mean_ci(values)


@pytest.mark.parametrize("confidence", [0.0, 1.0, 95, -0.5])
def test_mean_ci_rejects_bad_confidence(confidence):
    with pytest.raises(InvalidArgumentError, match="confidence"):
        mean_ci([0.1, 0.2], confidence=confidence)


@given(
    values=st.lists(st.floats(0, 1), min_size=2, max_size=30),
    shift=st.floats(-1, 1),
)
def test_mean_ci_is_centred_and_shift_equivariant(values, shift):
    interval = mean_ci(values)
    assert interval.low <= interval.mean <= interval.high
    assert interval.high - interval.low == pytest.approx(2 * interval.half_width, abs=1e-12)
    shifted = mean_ci([v + shift for v in values])
    assert shifted.mean == pytest.approx(interval.mean + shift, abs=1e-12)
    assert shifted.half_width == pytest.approx(interval.half_width, abs=1e-9)


def test_mean_ci_covers_the_true_mean_at_the_nominal_rate():
    # 4000 samples of n = 4 normals: the number that cover is Binomial(4000, 0.95), sd ~ 13.8.
    # 5 sd either side; a normal (z) interval would cover only ~0.86 here, 65 sd below.
    rng = np.random.default_rng(20240601)
    trials, n = 4000, 4
    samples = rng.normal(0.6, 0.05, size=(trials, n))
    covered = 0
    for sample in samples:
        interval = mean_ci(sample)
        covered += interval.low <= 0.6 <= interval.high
    sd = math.sqrt(trials * 0.95 * 0.05)
    assert abs(covered - 0.95 * trials) <= 5 * sd


@pytest.mark.parametrize("n", [2, 3, 5, 10, 40])
@pytest.mark.parametrize("confidence", [0.5, 0.9, 0.95, 0.99])
def test_mean_ci_agrees_with_scipys_one_sample_t_test(n, confidence):
    values = np.random.default_rng(n).uniform(0.3, 0.7, size=n)
    interval = mean_ci(values, confidence)
    expected = scipy.stats.ttest_1samp(values, 0.0).confidence_interval(confidence)
    assert interval.low == pytest.approx(expected.low, rel=1e-12)
    assert interval.high == pytest.approx(expected.high, rel=1e-12)


@pytest.mark.parametrize("n", [2, 3, 5, 10, 40])
@pytest.mark.parametrize("confidence", [0.5, 0.9, 0.95, 0.99])
def test_paired_difference_agrees_with_scipys_paired_t_test(n, confidence):
    control = np.random.default_rng(n).uniform(0.3, 0.7, size=n)
    treatment = control + np.random.default_rng(n + 100).normal(0.01, 0.02, size=n)
    interval = paired_difference(treatment, control, confidence)
    expected = scipy.stats.ttest_rel(treatment, control).confidence_interval(confidence)
    assert interval.low == pytest.approx(expected.low, rel=1e-12, abs=1e-15)
    assert interval.high == pytest.approx(expected.high, rel=1e-12, abs=1e-15)


def test_paired_difference_by_hand():
    # d = [0.05, 0.02, 0.02]: mean 0.03, s**2 = (0.02**2 + 0.01**2 + 0.01**2) / 2 = 3e-4,
    # s / sqrt(3) = 0.01, so the half-width is t_{0.975, 2} * 0.01.
    interval = paired_difference([0.55, 0.60, 0.52], [0.50, 0.58, 0.50])
    assert interval.n == 3
    assert interval.mean == pytest.approx(0.03, abs=1e-15)
    assert interval.half_width == pytest.approx(T_975_2 * 0.01, rel=1e-10)
    assert verdict(interval) == NO_DIFFERENCE


def test_pairing_removes_the_shared_seed_effect():
    # The seed moves both arms by a lot; the treatment adds exactly 0.01 to every seed.
    control = np.array([0.40, 0.55, 0.47, 0.62])
    interval = paired_difference(control + 0.01, control)
    assert interval.mean == pytest.approx(0.01, abs=1e-15)
    assert interval.half_width == pytest.approx(0.0, abs=1e-12)


@given(
    pairs=st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=2, max_size=20),
    shift=st.floats(-1, 1),
)
def test_paired_difference_properties(pairs, shift):
    treatment = [a for a, _ in pairs]
    control = [b for _, b in pairs]
    forward = paired_difference(treatment, control)
    backward = paired_difference(control, treatment)
    assert backward.mean == pytest.approx(-forward.mean, abs=1e-12)
    assert backward.half_width == pytest.approx(forward.half_width, abs=1e-12)
    both_shifted = paired_difference([a + shift for a in treatment], [b + shift for b in control])
    assert both_shifted.mean == pytest.approx(forward.mean, abs=1e-12)
    assert both_shifted.half_width == pytest.approx(forward.half_width, abs=1e-9)


def test_paired_difference_rejects_different_lengths():
    with pytest.raises(InvalidArgumentError, match="same length.*got 3 and 2"):
        paired_difference([0.1, 0.2, 0.3], [0.1, 0.2])


@pytest.mark.parametrize(
    ("interval", "expected"),
    [
        (Interval(0.03, 0.01, 0.05, 0.02, 3), HELPED),
        (Interval(-0.03, -0.05, -0.01, 0.02, 3), HURT),
        (Interval(0.01, -0.01, 0.03, 0.02, 3), NO_DIFFERENCE),
        (Interval(0.02, 0.0, 0.04, 0.02, 3), NO_DIFFERENCE),  # touching 0 is not excluding it
        # Zero width is no spread among the seeds (too few, or too coarse a metric), never a verdict.
        (Interval(0.0, 0.0, 0.0, 0.0, 5), NO_SPREAD),
        (Interval(-0.003, -0.003, -0.003, 0.0, 3), NO_SPREAD),
        (Interval(0.03, math.nan, math.nan, math.nan, 1), NOT_ENOUGH_SEEDS),
    ],
)
def test_verdict(interval, expected):
    assert verdict(interval) == expected


def test_verdict_strings():
    assert (HELPED, HURT, NO_DIFFERENCE, NO_SPREAD) == ("helped", "hurt", "no detectable effect",
                                                        "too few seeds / no spread")


def test_verdict_rejects_non_intervals():
    with pytest.raises(InvalidTypeError, match="interval must be an Interval"):
        verdict((0.1, 0.0, 0.2, 0.1, 3))


# ------------------------------------------------------------------------------ summary


def test_summarize_rows_in_first_seen_order_with_hand_computed_intervals():
    rows = summarize(experiment_runs())
    assert [row.keep_prob for row in rows] == [0.5, 1.0, 0.25]
    baseline = rows[1]
    assert baseline.seeds == (0, 1, 2)
    assert baseline.final_val_acc.mean == pytest.approx(0.52, abs=1e-15)
    # s = 0.02 for [0.50, 0.52, 0.54].
    assert baseline.final_val_acc.half_width == pytest.approx(T_975_2 * 0.02 / math.sqrt(3), rel=1e-10)
    assert baseline.best_val_acc.mean == pytest.approx(0.53, abs=1e-15)
    assert baseline.final_train_acc.mean == pytest.approx(0.92, abs=1e-15)
    # gap per seed: 0.40, 0.40, 0.40.
    assert baseline.train_val_gap.mean == pytest.approx(0.40, abs=1e-15)
    assert baseline.train_val_gap.half_width == pytest.approx(0.0, abs=1e-12)
    assert baseline.val_diff_vs_keep1 is None and baseline.verdict is None
    assert all(row.confidence == 0.95 for row in rows)


def test_summarize_pairs_by_seed():
    rows = {row.keep_prob: row for row in summarize(experiment_runs())}
    half = rows[0.5]
    # seed 0: 0.55 - 0.50, seed 1: 0.56 - 0.52, seed 2: 0.58 - 0.54 -> [0.05, 0.04, 0.04].
    assert half.val_diff_vs_keep1.n == 3
    assert half.val_diff_vs_keep1.mean == pytest.approx(0.13 / 3, abs=1e-12)
    s = math.sqrt(((0.05 - 0.13 / 3) ** 2 + 2 * (0.04 - 0.13 / 3) ** 2) / 2)
    assert half.val_diff_vs_keep1.half_width == pytest.approx(T_975_2 * s / math.sqrt(3), rel=1e-9)
    assert half.verdict == HELPED  # 0.0433 ± 0.0143


def test_summarize_leaves_out_seeds_missing_from_either_arm():
    rows = {row.keep_prob: row for row in summarize(experiment_runs())}
    quarter = rows[0.25]
    assert quarter.seeds == (0, 2, 3)
    assert quarter.final_val_acc.n == 3  # its own mean uses all of its seeds
    # Shared with keep 1: seeds 0 and 2 -> [0.56 - 0.50, 0.52 - 0.54] = [0.06, -0.02].
    diff = quarter.val_diff_vs_keep1
    assert diff.n == 2
    assert diff.mean == pytest.approx(0.02, abs=1e-12)
    # s = |0.06 - (-0.02)| / sqrt(2), so s / sqrt(2) = 0.04.
    assert diff.half_width == pytest.approx(T_975_1 * 0.04, rel=1e-9)
    assert quarter.verdict == NO_DIFFERENCE


def test_summarize_accepts_objects_and_reports_single_seed():
    runs = [SimpleNamespace(**run) for run in experiment_runs() if run["seed"] == 0]
    rows = summarize(runs)
    assert [row.keep_prob for row in rows] == [1.0, 0.5, 0.25]
    assert [row.n_seeds for row in rows] == [1, 1, 1]
    half = rows[1]
    assert half.val_diff_vs_keep1.n == 1
    assert half.val_diff_vs_keep1.mean == pytest.approx(0.05, abs=1e-12)
    assert math.isnan(half.val_diff_vs_keep1.half_width)
    assert half.verdict == NOT_ENOUGH_SEEDS


def test_summarize_without_a_baseline_has_no_differences():
    rows = summarize([run for run in experiment_runs() if run["keep_prob"] != 1.0])
    assert all(row.val_diff_vs_keep1 is None and row.verdict is None for row in rows)


def test_summarize_without_shared_seeds_has_no_difference():
    rows = summarize([run_record(1.0, 0, 0.9, 0.5), run_record(1.0, 1, 0.9, 0.5), run_record(0.5, 7, 0.8, 0.6),
                      run_record(0.5, 8, 0.8, 0.6)])
    assert rows[1].val_diff_vs_keep1 is None and rows[1].verdict is None


@given(
    accuracies=st.lists(
        st.tuples(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1), st.floats(0, 1)),
        min_size=1,
        max_size=6,
    )
)
def test_summarize_agrees_with_its_parts(accuracies):
    # Seed s has (train_1, val_1) at keep 1 and (train_k, val_k) at keep 0.5.
    runs = []
    for seed, (train_1, val_1, train_k, val_k) in enumerate(accuracies):
        runs += [run_record(1.0, seed, train_1, val_1), run_record(0.5, seed, train_k, val_k)]
    baseline, dropped = summarize(runs)
    val_1 = [a[1] for a in accuracies]
    val_k = [a[3] for a in accuracies]
    assert baseline.final_val_acc == mean_ci(val_1)
    assert dropped.final_train_acc == mean_ci([a[2] for a in accuracies])
    assert dropped.train_val_gap == mean_ci([a[2] - a[3] for a in accuracies])
    assert dropped.val_diff_vs_keep1 == paired_difference(val_k, val_1)
    # One comparison: Holm leaves its p-value as it is, and the verdict is verdict()'s with it.
    comparison = dropped.comparison
    assert comparison.diff == dropped.val_diff_vs_keep1  # no histories: the measure is the final one
    assert comparison.p_holm == comparison.p_value
    assert dropped.verdict == verdict(comparison.diff, comparison.p_holm)


@pytest.mark.parametrize(
    ("runs", "error", "match"),
    [
        ([run_record(1.0, 0, 0.9, 0.5), run_record(1.0, 0, 0.8, 0.5)], InvalidArgumentError,
         "repeats keep_prob=1, seed=0"),
        ([{"keep_prob": 1.0, "seed": 0, "final_train_acc": 0.9, "final_val_acc": 0.5}],
         InvalidArgumentError, "'best_val_acc'"),
        ([SimpleNamespace(keep_prob=1.0, seed=0)], InvalidArgumentError, "no attribute 'final_train_acc'"),
        ([run_record(1.0, 0, 90.0, 0.5)], InvalidArgumentError, r"runs\[0\].final_train_acc .*\[0, 1\], got 90.0"),
        ([run_record(1.0, 0, 0.9, math.nan)], InvalidArgumentError, "final_val_acc"),
        ([run_record(0.0, 0, 0.9, 0.5)], InvalidArgumentError, r"runs\[0\].keep_prob"),
        ([run_record(1.0, 0.5, 0.9, 0.5)], InvalidTypeError, r"runs\[0\].seed must be an integer"),
        ([run_record(1.0, 0, "0.9", 0.5)], InvalidTypeError, "final_train_acc must be a real number"),
        ({"keep_prob": 1.0}, InvalidTypeError, "list of run records"),
        (3, InvalidTypeError, "list of run records"),
    ],
)
def test_summarize_rejects_bad_runs(runs, error, match):
    with pytest.raises(error, match=match):
        summarize(runs)


def test_summary_to_dict_is_json_ready():
    rows = summarize(experiment_runs())
    data = json.loads(json.dumps(summary_to_dict(rows), allow_nan=False))
    assert data["confidence"] == 0.95
    assert data["baseline_keep_prob"] == 1.0
    assert [row["keep_prob"] for row in data["rows"]] == [0.5, 1.0, 0.25]
    half = data["rows"][0]
    assert half["seeds"] == [2, 0, 1] and half["n_seeds"] == 3
    assert half["final_val_acc"] == {
        "mean": rows[0].final_val_acc.mean,
        "low": rows[0].final_val_acc.low,
        "high": rows[0].final_val_acc.high,
        "half_width": rows[0].final_val_acc.half_width,
        "n": 3,
    }
    assert half["verdict"] == HELPED
    assert data["rows"][1]["val_diff_vs_keep1"] is None


def test_summary_to_dict_turns_nan_into_none():
    rows = summarize([run_record(1.0, 0, 0.9, 0.5), run_record(0.5, 0, 0.8, 0.6)])
    data = summary_to_dict(rows)
    json.dumps(data, allow_nan=False)  # raises on NaN
    interval = data["rows"][1]["val_diff_vs_keep1"]
    assert interval["half_width"] is None and interval["low"] is None and interval["high"] is None
    assert interval["mean"] == pytest.approx(0.1)
    assert data["rows"][1]["verdict"] == NOT_ENOUGH_SEEDS


def test_summary_to_dict_without_baseline():
    rows = summarize([run_record(0.5, 0, 0.8, 0.6)])
    assert summary_to_dict(rows)["baseline_keep_prob"] is None


def test_no_runs_give_an_empty_summary():
    # An experiment whose runs all diverged or were interrupted has nothing to summarize.
    assert summarize([]) == []
    empty = summary_to_dict([])
    assert {key: empty[key] for key in ("confidence", "baseline_keep_prob", "rows", "notes")} == {
        "confidence": None, "baseline_keep_prob": None, "rows": [], "notes": []}
    assert format_summary_table([]) == "no completed runs to summarize"


@pytest.mark.parametrize("func", [check_summary_rows, summary_to_dict, format_summary_table])
def test_row_consumers_reject_bad_rows(func):
    with pytest.raises(InvalidTypeError, match=r"rows\[0\] must be a KeepProbSummary"):
        func([{"keep_prob": 1.0}])
    row = summarize([run_record(1.0, 0, 0.9, 0.5)])[0]
    assert isinstance(row, KeepProbSummary)
    with pytest.raises(InvalidTypeError, match="single row"):
        func(row)
    other = summarize([run_record(1.0, 0, 0.9, 0.5)], confidence=0.9)[0]
    with pytest.raises(InvalidArgumentError, match=r"one confidence level .*\[0.9, 0.95\]"):
        func([row, other])
