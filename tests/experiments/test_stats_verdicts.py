"""The verdicts' rules (issue 13): Holm's correction, the one-example rule, zero spread, the gap's own
verdict, the default measure (the last few measurements), the notes on a baseline that is not overfitting
and on under-training, and the summary's schema."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.stats
from hypothesis import given
from hypothesis import strategies as st

from dropout_lab.errors import InvalidArgumentError
from dropout_lab.experiments import ExperimentConfig, RunResult, run_experiment
from dropout_lab.experiments.compare import (
    LARGER_GAP,
    NO_GAP_CHANGE,
    SMALLER_GAP,
    holm,
    loss_still_falling,
    paired_p_value,
    summary_notes,
)
from dropout_lab.experiments.stats import HELPED, HURT, NO_DIFFERENCE, NO_SPREAD, summarize, summary_to_dict

BASE_VAL = [0.50, 0.52, 0.54, 0.51, 0.53]


def run(keep_prob, seed, train, val, **extra):
    """A run record with the fields a summary reads, and any optional ones given."""
    return {"keep_prob": keep_prob, "seed": seed, "final_train_acc": train, "final_val_acc": val,
            "best_val_acc": val, **extra}


def cell(differences, *, num_val=None, other=None, train=0.99):
    """Keep 1 at BASE_VAL[:n], keep 0.5 at BASE_VAL + differences (and keep 0.25 at BASE_VAL + other)."""
    n = len(differences)
    extra = {} if num_val is None else {"num_val": num_val}
    runs = [run(1.0, s, train, BASE_VAL[s], **extra) for s in range(n)]
    runs += [run(0.5, s, train, BASE_VAL[s] + d, **extra) for s, d in enumerate(differences)]
    if other is not None:
        runs += [run(0.25, s, train, BASE_VAL[s] + d, **extra) for s, d in enumerate(other)]
    return {row.keep_prob: row for row in summarize(runs)}


# ------------------------------------------------------------------------------ Holm and the p-value


def test_holm_by_hand():
    # Sorted: 0.01 x 4 = 0.04; 0.03 x 3 = 0.09; 0.04 x 2 = 0.08 -> 0.09 (never below the one before);
    # 0.2 x 1 = 0.2.
    assert holm([0.01, 0.04, 0.03, 0.2]) == pytest.approx([0.04, 0.09, 0.09, 0.2], abs=1e-15)
    assert holm([None, 0.01, 0.02]) == [None, pytest.approx(0.02), pytest.approx(0.02)]  # None: not a test
    assert holm([0.5, 0.6]) == [1.0, 1.0]  # capped at 1
    assert holm([]) == []
    with pytest.raises(InvalidArgumentError, match=r"p_values\[1\] must be a probability"):
        holm([0.1, 1.5])


@given(st.lists(st.integers(0, 1000), min_size=1, max_size=8), st.sampled_from([0.0105, 0.0505, 0.1005]))
def test_holm_rejects_what_the_step_down_procedure_rejects(thousandths, alpha):
    p_values = [k / 1000 for k in thousandths]
    rejected = {i for i, p in enumerate(holm(p_values)) if p < alpha}
    # Holm's procedure: walk the p-values up from the smallest; reject while p_(i) <= alpha / (m - i).
    expected = set()
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    for rank, i in enumerate(order):
        if p_values[i] > alpha / (len(p_values) - rank):
            break
        expected.add(i)
    assert rejected == expected


@pytest.mark.parametrize("n", [2, 3, 5, 10])
def test_paired_p_value_is_scipys_paired_t_test(n):
    control = np.random.default_rng(n).uniform(0.3, 0.7, size=n)
    treatment = control + np.random.default_rng(n + 1).normal(0.01, 0.02, size=n)
    expected = scipy.stats.ttest_rel(treatment, control).pvalue
    assert paired_p_value(treatment - control) == pytest.approx(expected, rel=1e-10)


def test_paired_p_value_needs_two_values_and_a_spread():
    assert paired_p_value(np.array([0.1])) is None
    assert paired_p_value(np.array([-1 / 300] * 3)) is None
    # Rounding noise is no spread: 0.56 - 0.51 and 0.55 - 0.50 differ in their last bits.
    assert paired_p_value(np.array([0.56 - 0.51, 0.55 - 0.50, 0.57 - 0.52])) is None


# ------------------------------------------------------------------------------ the verdicts


def test_a_clear_gain_is_helped_and_a_clear_loss_hurt():
    gain = [0.05, 0.06, 0.04, 0.05, 0.055]
    assert cell(gain, num_val=200)[0.5].verdict == HELPED
    assert cell([-d for d in gain], num_val=200)[0.5].verdict == HURT


def test_a_noisy_difference_is_no_detectable_effect():
    row = cell([0.02, -0.03, 0.01, -0.01, 0.02], num_val=200)[0.5]
    assert row.comparison.p_holm > 0.05 and row.verdict == NO_DIFFERENCE


def test_a_difference_within_one_example_per_run_is_never_a_verdict():
    # About 0.45 of a point, consistently: the t test rejects (p < 1e-4), but with N = 100 one
    # example is a whole point.
    differences = [0.004, 0.005, 0.0045, 0.004, 0.005]
    row = cell(differences, num_val=100)[0.5]
    assert row.comparison.p_holm < 1e-4
    assert row.verdict == NO_DIFFERENCE
    # With N = 1000 one example is 0.1 point: the same difference is a verdict.
    assert cell(differences, num_val=1000)[0.5].verdict == HELPED


@pytest.mark.parametrize("difference", [-1 / 300, 0.05])
def test_seeds_without_spread_are_reported_as_such(difference):
    # The notebook's "-0.3 ± 0.0 hurt": one validation image of 300 at every seed; and a large
    # difference that every seed repeats exactly, which is no more of a finding.
    row = cell([difference] * 3, num_val=300)[0.5]
    assert row.comparison.diff.half_width == 0.0 and row.comparison.p_value is None
    assert row.verdict == NO_SPREAD and row.final_comparison.verdict == NO_SPREAD


def test_holm_correction_can_withdraw_a_verdict():
    # keep 0.5 alone: p = 0.029 < 0.05, helped. Beside keep 0.25 (p = 0.6) Holm doubles it: 0.058.
    differences = [0.035, 0.05, 0.065]
    raw = scipy.stats.ttest_1samp(differences, 0.0).pvalue
    assert 0.025 < raw < 0.05
    alone = cell(differences, num_val=1000)[0.5]
    assert alone.comparison.p_holm == pytest.approx(raw, rel=1e-10) and alone.verdict == HELPED
    both = cell(differences, num_val=1000, other=[0.01, -0.02, 0.03])
    assert both[0.5].comparison.p_value == pytest.approx(raw, rel=1e-10)
    assert both[0.5].comparison.p_holm == pytest.approx(2 * raw, rel=1e-10)
    assert both[0.5].verdict == NO_DIFFERENCE
    assert any("Holm-corrected over the 2 keep probabilities" in note for note in summary_notes(list(both.values())))


def test_the_gap_has_its_own_interval_and_verdict():
    # Validation accuracy the same, training accuracy 10-12 points lower with dropout: a smaller gap.
    runs = [run(1.0, s, 0.95, BASE_VAL[s], num_val=400) for s in range(5)]
    runs += [run(0.5, s, 0.95 - d, BASE_VAL[s], num_val=400) for s, d in enumerate([0.10, 0.12, 0.11, 0.10, 0.115])]
    runs += [run(0.25, s, 0.95 + d, BASE_VAL[s], num_val=400) for s, d in enumerate([0.01, 0.02, 0.015, 0.01, 0.02])]
    runs += [run(0.75, s, 0.95 + d, BASE_VAL[s], num_val=400) for s, d in enumerate([0.01, -0.02, 0.0, 0.01, -0.01])]
    rows = {row.keep_prob: row for row in summarize(runs)}
    assert rows[0.5].gap_comparison.diff.mean == pytest.approx(-0.109, abs=1e-12)
    assert rows[0.5].gap_comparison.verdict == SMALLER_GAP
    assert rows[0.25].gap_comparison.verdict == LARGER_GAP
    assert rows[0.75].gap_comparison.verdict == NO_GAP_CHANGE
    assert rows[0.5].verdict == NO_SPREAD  # validation accuracy: the same at every seed


# ------------------------------------------------------------------------------ the measure


def test_the_default_measure_is_the_mean_of_the_last_five_measurements():
    train = [0.1, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0]
    val = [0.1, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9]
    runs = [run(1.0, s, train[-1], val[-1], train_acc_history=train, val_acc_history=val) for s in range(2)]
    (row,) = summarize(runs)
    assert row.window == 5 and row.window_epochs == (3, 7)
    assert row.last_val_acc.mean == pytest.approx(np.mean(val[-5:]))
    assert row.last_gap.mean == pytest.approx(np.mean(train[-5:]) - np.mean(val[-5:]))
    # Measured at epochs 0, 2 and 4: two measurements after training began, the one before is left out.
    runs = [run(1.0, 0, 0.9, 0.8, train_acc_history=[0.1, 0.7, 0.9], val_acc_history=[0.1, 0.6, 0.8],
                acc_epochs=[0, 2, 4])]
    (row,) = summarize(runs)
    assert row.window == 2 and row.window_epochs == (2, 4) and row.last_val_acc.mean == pytest.approx(0.7)


def test_the_window_is_compared_and_the_final_measurement_too():
    # Seed by seed, keep 0.5 is 2 points above keep 1 over the window but equal at the end.
    runs = []
    for s in range(3):
        base = [0.1, 0.5, 0.5, 0.5, 0.5, 0.6 + 0.01 * s]
        up = [0.1, 0.53, 0.52, 0.525, 0.53, 0.6 + 0.01 * s]
        runs.append(run(1.0, s, 0.99, base[-1], train_acc_history=[0.99] * 6, val_acc_history=base, num_val=1000))
        runs.append(run(0.5, s, 0.99, up[-1], train_acc_history=[0.99] * 6, val_acc_history=up, num_val=1000))
    rows = {row.keep_prob: row for row in summarize(runs)}
    assert rows[0.5].comparison.diff.mean == pytest.approx(0.105 / 5)
    assert rows[0.5].final_comparison.diff.mean == pytest.approx(0.0, abs=1e-12)
    assert rows[0.5].final_comparison.verdict == NO_SPREAD
    assert rows[0.5].val_diff_vs_keep1 == rows[0.5].final_comparison.diff  # the old field: the final difference


# ------------------------------------------------------------------------------ the notes


def _notes(baseline_train, baseline_val, **extra):
    runs = [run(1.0, s, baseline_train, baseline_val + 0.01 * s, num_val=500, **extra) for s in range(3)]
    runs += [run(0.5, s, baseline_train, baseline_val + 0.02 * s, num_val=500, **extra) for s in range(3)]
    return summary_notes(summarize(runs))


def test_a_baseline_that_does_not_overfit_is_named():
    notes = _notes(0.99, 0.96)  # gap 3.0, 2.0 and 1.0 points: 2.0 on average
    expected = "baseline not overfitting (gap 2.0 points, under 5.0): these verdicts cannot be about regularization"
    assert expected in notes
    assert not any(note.startswith("baseline not overfitting") for note in _notes(0.99, 0.80))


def test_a_baseline_that_fits_little_of_its_training_set_is_under_trained():
    assert any(note.startswith("under-trained: keep 1 fits only 81.0%") for note in _notes(0.81, 0.5))
    assert not any(note.startswith("under-trained") for note in _notes(0.99, 0.5))


def test_a_falling_training_accuracy_is_under_training():
    history = {"train_acc_history": [0.1, 0.99, 0.99, 0.99, 0.99, 0.96],
               "val_acc_history": [0.1, 0.5, 0.5, 0.5, 0.5, 0.5]}
    assert any("training accuracy falls at the end" in note for note in _notes(0.96, 0.5, **history))
    steady = {**history, "train_acc_history": [0.1, 0.99, 0.99, 0.99, 0.99, 0.985]}
    assert not any("falls at the end" in note for note in _notes(0.985, 0.5, **steady))


def test_loss_still_falling_by_its_definition():
    # 100 losses: k = 10; the last 10 against the 10 before.
    assert loss_still_falling(np.array([1.0] * 90 + [0.94] * 10)) is True  # 6% below
    assert loss_still_falling(np.array([1.0] * 90 + [0.96] * 10)) is False  # 4% below
    assert loss_still_falling(np.linspace(2.0, 1.0, 100)) is True
    assert loss_still_falling(np.full(100, 0.3)) is False
    assert loss_still_falling(np.linspace(2.0, 1.0, 19)) is None  # too few to tell


def test_a_loss_still_falling_is_under_training():
    notes = _notes(0.99, 0.5, loss_history=list(np.linspace(2.0, 1.0, 100)))
    assert any(note.startswith("under-trained: the loss still falls at the end") and "3/3 runs at keep 1" in note
               for note in notes)  # fmt: skip
    assert not any("loss still falls" in note for note in _notes(0.99, 0.5, loss_history=[0.3] * 100))


def test_a_falling_loss_on_a_fitted_training_set_is_not_under_training():
    """At 100% training accuracy the cross-entropy keeps falling towards 0: the fit sharpens, it is not
    short of training (the digits demo's 100-example cell, before this rule, was called under-trained)."""
    notes = _notes(1.0, 0.9, loss_history=list(np.linspace(0.2, 0.01, 100)))
    assert not any("loss still falls" in note for note in notes)


def test_no_comparison_no_notes():
    assert summary_notes(summarize([run(1.0, s, 0.8, 0.79) for s in range(3)])) == []


# ------------------------------------------------------------------------------ the schema


def test_the_summary_schema_has_the_new_fields():
    rows = list(cell([0.05, 0.06, 0.04], num_val=200).values())
    data = json.loads(json.dumps(summary_to_dict(rows), allow_nan=False))
    assert data["correction"] == "holm" and "last" in data["measure"] and data["notes"] == summary_notes(rows)
    baseline, half = data["rows"]
    for key in ("keep_prob", "n_seeds", "seeds", "final_train_acc", "final_val_acc", "best_val_acc", "train_val_gap",
                "val_diff_vs_keep1", "verdict"):  # fmt: skip
        assert key in half  # the fields of earlier files stay
    assert half["num_val"] == 200 and half["window"] == 1 and half["window_epochs"] is None
    assert set(half["val_vs_keep1"]) == {"diff", "p_value", "p_holm", "verdict"}
    assert half["val_vs_keep1"]["verdict"] == half["verdict"] == HELPED
    assert half["gap_verdict"] == half["gap_vs_keep1"]["verdict"]
    assert half["loss_falling"] == [0, 0] and half["train_acc_falling"] is False
    assert baseline["val_vs_keep1"] is None and baseline["gap_verdict"] is None


def test_run_records_carry_n():
    values = RunResult(1.0, 0, [2.3], [0.1, 0.5], [0.1, 0.4], 0.5, 0.4, 0.4, 1.0, num_val=397).to_dict()
    assert RunResult.from_dict(values).num_val == 397
    del values["num_val"]  # a file written before N was recorded
    assert RunResult.from_dict(values).num_val is None
    for bad in (0, True, "5", 2.0):
        with pytest.raises(InvalidArgumentError, match="num_val of a run record"):
            RunResult.from_dict({**values, "num_val": bad})


def test_the_runner_records_n_and_writes_both_figures(tmp_path):
    config = ExperimentConfig(keep_probs=(1.0, 0.5), hidden_dims=(8,), num_train=40, num_val=30, epochs=2,
                              batch_size=20, seeds=(0, 1))  # fmt: skip
    results = run_experiment(config, out_dir=tmp_path, progress=False)
    assert {r.num_val for r in results.runs} == {30}
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["summary"]["rows"][0]["num_val"] == 30
    assert (tmp_path / "accuracy.png").is_file() and (tmp_path / "summary.png").is_file()


def test_one_example_of_a_large_validation_set_is_not_printed_as_zero_points():
    runs = [run(k, s, 0.99, 0.9 + 0.001 * s * k, num_val=10_000) for k in (1.0, 0.5) for s in range(3)]
    [note] = [n for n in summary_notes(summarize(runs)) if n.startswith("N = ")]
    assert "1/N = 0.01 points" in note
