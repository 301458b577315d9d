"""Tests for dropout_lab.experiments.table: the summary as an aligned text table, with its notes."""

from __future__ import annotations

import re

from dropout_lab.experiments.compare import NO_GAP_CHANGE, SMALLER_GAP
from dropout_lab.experiments.stats import HELPED, NO_DIFFERENCE, NO_SPREAD, NOT_ENOUGH_SEEDS, summarize
from dropout_lab.experiments.table import format_summary_table

from ._runs import experiment_runs, run_record

COLUMNS = ("keep prob", "seeds", "train acc", "val acc", "train-val gap", "val acc vs keep 1", "p (Holm)",
           "verdict", "gap vs keep 1", "gap verdict", "final val vs keep 1", "final verdict")


def test_format_summary_table_with_seeds():
    table = format_summary_table(summarize(experiment_runs()))
    lines = table.splitlines()
    heading, header, rule = lines[:3]
    # The measure is named (records without histories: the final measurement) and so is the interval.
    assert "the final measurement" in heading and "95% t interval over seeds" in heading
    for column in COLUMNS:
        assert column in header
    assert set(rule) == {"-", " "}
    half, baseline, quarter = lines[3:6]
    # keep 1: val [0.50, 0.52, 0.54] -> 52.0 ± t * 2.0 / sqrt(3) = 52.0 ± 5.0 (percent).
    assert baseline.split()[0] == "1"
    assert "52.0 ± 5.0" in baseline
    assert "92.0 ± 5.0" in baseline  # train [0.90, 0.92, 0.94]
    assert "40.0 ± 0.0" in baseline  # gap 0.40 at every seed
    assert "(baseline)" in baseline
    # keep 0.5: diff +4.3 ± 1.4 percentage points, p 0.0059 raw, x 2 by Holm -> 0.012: helped; its gap
    # 13.7 against 40.0, smaller.
    assert half.split()[0] == "0.5"
    assert "+4.3 ± 1.4" in half and "0.012" in half and HELPED in half and SMALLER_GAP in half
    # keep 0.25: diff +2.0 ± t_{0.975,1} * 4 = 50.8 points, no detectable effect.
    assert "+2.0 ± 50.8" in quarter and NO_DIFFERENCE in quarter and NO_GAP_CHANGE in quarter
    assert "paired by seed" in table
    holm_note = "p (Holm): paired t test against keep 1, Holm-corrected over the 2 keep"
    assert any(line.startswith(holm_note) for line in lines)
    assert any(line.startswith("N (validation examples per run) not recorded") for line in lines)
    # Aligned: each column ends (right-aligned numbers) or starts (left-aligned words) where its rule does.
    spans = [match.span() for match in re.finditer("-+", rule)]
    assert len(spans) == len(COLUMNS)
    words = {COLUMNS.index(c) for c in ("verdict", "gap verdict", "final verdict")}
    for line in (header, half, quarter):
        for index, (start, end) in enumerate(spans):
            if index in words:
                assert line[start] != " "
            else:
                assert line[end - 1] != " " and line[end : end + 2] in ("  ", "")


def test_the_table_names_n_and_the_one_example_rule():
    runs = [{**run, "num_val": 200} for run in experiment_runs()]
    table = format_summary_table(summarize(runs))
    assert table.splitlines()[0].endswith("N = 200 validation examples per run")
    assert "1/N = 0.5 points (one example) is never called helped or hurt" in table


def test_a_zero_spread_is_reported_as_such():
    # The notebook's case: keep 0.5 is one validation image (of 300) below keep 1 at every seed.
    runs = [run_record(1.0, s, 0.99, 0.9) for s in range(3)]
    runs += [{**run_record(0.5, s, 0.99, 0.9 - 1 / 300), "num_val": 300} for s in range(3)]
    table = format_summary_table(summarize(runs))
    row = table.splitlines()[4]
    assert "-0.3 ± 0.0" in row and NO_SPREAD in row and "hurt" not in row
    assert any(line.startswith(f"{NO_SPREAD}: every seed gave the same difference") for line in table.splitlines())


def test_format_summary_table_single_seed_has_no_intervals():
    runs = [run for run in experiment_runs() if run["seed"] == 0]
    table = format_summary_table(summarize(runs))
    lines = table.splitlines()
    assert "±" not in table and "verdict" not in table and "vs keep 1" not in table
    assert "one seed per keep probability: no intervals" in lines[0]
    assert lines[4].split() == ["0.5", "1", "70.0", "55.0", "15.0"]  # keep 0.5, seed 0
    assert len({len(line) for line in lines[1:6]}) == 1  # all right-aligned to the same width


def test_format_summary_table_mixed_seed_counts_show_na():
    runs = experiment_runs() + [run_record(0.1, 0, 0.3, 0.2)]
    lines = format_summary_table(summarize(runs)).splitlines()
    single = lines[6]
    assert single.split()[0] == "0.1"
    assert "20.0 ± n/a" in single and "10.0 ± n/a" in single and "-30.0 ± n/a" in single
    assert NOT_ENOUGH_SEEDS in single


def test_format_summary_table_without_baseline_has_no_difference_column():
    table = format_summary_table(summarize([r for r in experiment_runs() if r["keep_prob"] != 1.0]))
    assert "±" in table and "verdict" not in table and "vs keep 1" not in table


def test_keep_probabilities_that_differ_get_rows_that_say_so():
    runs = [run_record(keep, seed, 0.9, 0.5) for keep in (1.0, 0.5, 0.5000001) for seed in (0, 1)]
    labels = [line.split()[0] for line in format_summary_table(summarize(runs)).splitlines()[3:6]]
    assert sorted(labels) == ["0.5", "0.5000001", "1"]
