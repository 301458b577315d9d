"""Tests for dropout_lab.experiments.table: the summary as an aligned text table."""

from __future__ import annotations

import re

from dropout_lab.experiments.stats import HELPED, NO_DIFFERENCE, NOT_ENOUGH_SEEDS, summarize
from dropout_lab.experiments.table import format_summary_table

from ._runs import experiment_runs, run_record


def test_format_summary_table_with_seeds():
    table = format_summary_table(summarize(experiment_runs()))
    lines = table.splitlines()
    header = lines[0]
    for column in ("keep prob", "seeds", "final train acc", "final val acc", "best val acc",
                   "train-val gap", "val acc vs keep 1", "verdict"):
        assert column in header
    assert set(lines[1]) == {"-", " "}
    half, baseline, quarter = lines[2:5]
    # keep 1: val [0.50, 0.52, 0.54] -> 52.0 ± t * 2.0 / sqrt(3) = 52.0 ± 5.0 (percent).
    assert baseline.split()[0] == "1"
    assert "52.0 ± 5.0" in baseline
    assert "92.0 ± 5.0" in baseline  # train [0.90, 0.92, 0.94]
    assert "40.0 ± 0.0" in baseline  # gap 0.40 at every seed
    assert "(baseline)" in baseline
    # keep 0.5: diff +4.3 ± 1.4 percentage points (see test_summarize_pairs_by_seed), helped.
    assert half.split()[0] == "0.5"
    assert "+4.3 ± 1.4" in half and half.endswith(HELPED)
    # keep 0.25: diff +2.0 ± t_{0.975,1} * 4 = 50.8 points, no detectable difference.
    assert "+2.0 ± 50.8" in quarter and quarter.endswith(NO_DIFFERENCE)
    assert "95% t interval" in table and "paired by seed" in table
    # Aligned: each right-aligned column ends where its rule ends, on every line.
    spans = [match.span() for match in re.finditer("-+", lines[1])]
    assert len(spans) == 8
    for line in lines[:5]:
        for _, end in spans[:-1]:
            assert line[end - 1] != " " and line[end : end + 2] in ("  ", "")
    for line in (half, quarter):  # the verdict column is left-aligned
        assert line[spans[-1][0]] != " "


def test_format_summary_table_single_seed_has_no_intervals():
    runs = [run for run in experiment_runs() if run["seed"] == 0]
    table = format_summary_table(summarize(runs))
    lines = table.splitlines()
    assert "±" not in table and "verdict" not in table and "vs keep 1" not in table
    assert lines[3].split() == ["0.5", "1", "70.0", "55.0", "55.0", "15.0"]  # keep 0.5, seed 0
    assert len({len(line) for line in lines[:5]}) == 1  # all right-aligned to the same width
    assert "one seed" in lines[-1]


def test_format_summary_table_mixed_seed_counts_show_na():
    runs = experiment_runs() + [run_record(0.1, 0, 0.3, 0.2)]
    lines = format_summary_table(summarize(runs)).splitlines()
    single = lines[5]
    assert single.split()[0] == "0.1"
    assert "20.0 ± n/a" in single and "10.0 ± n/a" in single and "-30.0 ± n/a" in single
    assert single.endswith(NOT_ENOUGH_SEEDS)


def test_format_summary_table_without_baseline_has_no_difference_column():
    table = format_summary_table(summarize([r for r in experiment_runs() if r["keep_prob"] != 1.0]))
    assert "±" in table and "verdict" not in table and "vs keep 1" not in table


def test_keep_probabilities_that_differ_get_rows_that_say_so():
    runs = [run_record(keep, seed, 0.9, 0.5) for keep in (1.0, 0.5, 0.5000001) for seed in (0, 1)]
    labels = [line.split()[0] for line in format_summary_table(summarize(runs)).splitlines()[2:5]]
    assert sorted(labels) == ["0.5", "0.5000001", "1"]
