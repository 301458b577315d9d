"""The experiment's summary as a plain-text table, for a terminal (``dropout-lab experiment`` prints it)."""

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


def _cell(interval: Interval | None, with_spread: bool, *, signed: bool = False) -> str:
    if interval is None:
        return "n/a"
    if not with_spread:
        return _percent(interval.mean, signed=signed)
    return f"{_percent(interval.mean, signed=signed)} ± {_percent(interval.half_width)}"


def _p(value: float | None) -> str:
    if value is None:
        return "n/a"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _measure(rows: list[KeepProbSummary]) -> str:
    """What the accuracy columns are: the window of measurements, its epochs when all rows share them."""
    window = min(row.window for row in rows)
    epochs = {row.window_epochs for row in rows}
    if window == 1 and epochs <= {None}:
        return "the final measurement"
    span = epochs.pop() if len(epochs) == 1 else None
    where = "" if span is None else (f" (epoch {span[1]})" if span[0] == span[1] else f" (epochs {span[0]}-{span[1]})")
    return "the last accuracy measurement" + where if window == 1 else f"mean of the last {window} measurements{where}"


def format_summary_table(rows: Sequence[KeepProbSummary]) -> str:
    """A plain-text table of :func:`~dropout_lab.experiments.stats.summarize`'s rows, aligned for a terminal.

    A first line names the measure (the mean of the last few accuracy measurements, see
    :class:`~dropout_lab.experiments.stats.KeepProbSummary`), N and the confidence level. Accuracies are
    percentages with one decimal; the gap and the differences are percentage points. With two or more
    seeds every cell reads ``mean ± half-width`` of the t interval ("n/a" for a single seed), and, when
    keep 1 was run, the columns that compare with it (paired by seed): the validation accuracy's
    difference, its Holm-corrected p-value and verdict, the gap's difference and verdict, and the
    final measurement's difference and verdict. The notes under the table say how to read them
    (:func:`~dropout_lab.experiments.compare.summary_notes`).

    Returns:
        The table: a heading line, a header line, a rule, one line per row and the notes, without a
        final newline (or a one-line message when there are no rows).
    """
    from .compare import summary_notes

    rows = check_summary_rows(rows)
    if not rows:
        return "no completed runs to summarize"
    with_spread = max(row.n_seeds for row in rows) >= 2
    with_diff = with_spread and any(row.keep_prob == 1.0 for row in rows)
    headers = ["keep prob", "seeds", "train acc", "val acc", "train-val gap"]
    text_columns = set()
    if with_diff:
        headers += ["val acc vs keep 1", "p (Holm)", "verdict", "gap vs keep 1", "gap verdict",
                    "final val vs keep 1", "final verdict"]  # fmt: skip
        text_columns = {7, 9, 11}
    body = []
    for row in rows:
        cells = [
            keep_text(row.keep_prob),
            str(row.n_seeds),
            _cell(row.last_train_acc, with_spread),
            _cell(row.last_val_acc, with_spread),
            _cell(row.last_gap, with_spread),
        ]
        if with_diff:
            if row.keep_prob == 1.0:
                cells += ["(baseline)"] + [""] * 6
            elif row.comparison is None or row.gap_comparison is None or row.final_comparison is None:
                cells += ["n/a", "", "no shared seeds", "n/a", "", "n/a", ""]
            else:
                cells += [
                    _cell(row.comparison.diff, True, signed=True), _p(row.comparison.p_holm), row.comparison.verdict,
                    _cell(row.gap_comparison.diff, True, signed=True), row.gap_comparison.verdict,
                    _cell(row.final_comparison.diff, True, signed=True), row.final_comparison.verdict,
                ]  # fmt: skip
        body.append(cells)
    widths = [max(len(cells[i]) for cells in [headers, *body]) for i in range(len(headers))]

    def join(cells: list[str]) -> str:
        # Numbers right-aligned so that their decimal points line up; the verdict words left-aligned.
        parts = [
            cell.ljust(width) if i in text_columns else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    measure = _measure(rows)
    nums = {row.num_val for row in rows}
    n_text = f"; N = {nums.pop()} validation examples per run" if len(nums) == 1 and None not in nums else ""
    if with_spread:
        heading = (f"accuracies in %, {measure}: mean ± half-width of the {100 * rows[0].confidence:g}% t "
                   f"interval over seeds{n_text}")  # fmt: skip
    else:
        heading = f"accuracies in %, {measure}; one seed per keep probability: no intervals{n_text}"
    lines = [heading, join(headers), "  ".join("-" * width for width in widths)]
    lines.extend(join(cells) for cells in body)
    if with_diff:
        lines.append("vs keep 1: differences from keep 1, paired by seed, in percentage points; final: on the "
                     "last measurement alone")  # fmt: skip
    lines.extend(summary_notes(rows))
    return "\n".join(lines)
