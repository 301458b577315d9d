"""The experiment's summary as a plain-text table, for a terminal (``dropout-lab run`` prints it)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from .records import keep_text
from .stats import Interval, KeepProbSummary, check_summary_rows

__all__ = ["format_summary_table"]


def _percent(value: float, *, signed: bool = False) -> str:
    if not math.isfinite(value):
        return "n/a"
    return f"{100.0 * value:+.1f}" if signed else f"{100.0 * value:.1f}"


def _cell(interval: Interval, with_spread: bool, *, signed: bool = False) -> str:
    if not with_spread:
        return _percent(interval.mean, signed=signed)
    return f"{_percent(interval.mean, signed=signed)} ± {_percent(interval.half_width)}"


def format_summary_table(rows: Sequence[KeepProbSummary]) -> str:
    """A plain-text table of :func:`~dropout_lab.experiments.stats.summarize`'s rows, aligned for a terminal.

    Accuracies are percentages with one decimal; the gap and the difference are percentage points.
    When some keep probability has two or more seeds every cell reads ``mean ± half-width`` (the
    half-width of the t interval, "n/a" for a single seed), and, when keep 1 was run, two last columns
    give the paired difference in final validation accuracy vs keep 1 and its verdict
    (:func:`~dropout_lab.experiments.stats.verdict`).

    Returns:
        The table: a header line, a rule, one line per row and a closing note, without a final newline
        (or a one-line message when there are no rows).
    """
    rows = check_summary_rows(rows)
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
            keep_text(row.keep_prob),
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
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
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
