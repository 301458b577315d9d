"""The experiment's answer as one picture, ``summary.png``: validation accuracy, train-validation gap and
the difference from keep 1 against the keep probability, for every cell of the grid.

Like :mod:`.plot`, matplotlib is imported inside the function and the figure is drawn on an explicit
Agg canvas, never through pyplot.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_writer
from .._validation import _describe, check_file_to_write
from ..errors import InvalidArgumentError, InvalidTypeError
from .compare import LARGER_GAP, OVERFIT_GAP, SMALLER_GAP
from .grid import cell_label
from .outdir import SUMMARY_NAME
from .records import keep_text
from .stats import HELPED, HURT, Interval, KeepProbSummary, check_summary_rows

__all__ = ["SUMMARY_NAME", "figure_title", "plot_summary", "write_figures"]

#: The summary figure's name in an experiment's folder, beside ``accuracy.png``.
# SUMMARY_NAME ("summary.png") is the output folder's (outdir.py), which recognizes it as ours.

#: The verdicts a filled marker stands for: an effect the rules of :mod:`.compare` accept.
_DETECTED = {HELPED, HURT, SMALLER_GAP, LARGER_GAP}


def figure_title(config: Any) -> str:
    """The data set and the settings of an :class:`~dropout_lab.experiments.ExperimentConfig`, in one line
    (the swept settings are in each panel's label instead)."""
    swept = set(getattr(config, "sweep", {}) or {})
    parts = [str(config.dataset)] if "dataset" not in swept else []
    named = (
        ("num_train", lambda v: f"{v} train"),
        ("hidden_dims", lambda v: "hidden " + "-".join(str(d) for d in v)),
        ("epochs", lambda v: f"{v} epochs"),
        ("batch_size", lambda v: f"batch {v}"),
        ("update_rule", str),
        ("learning_rate", lambda v: f"lr {v:g}"),
        ("reg", lambda v: f"L2 {v:g}"),
    )
    budget_in_steps = getattr(config, "steps", None) is not None or "steps" in swept
    for name, text in named:
        if name == "epochs" and budget_in_steps:  # the budget is in updates: epochs are not a setting
            continue
        if name not in swept and hasattr(config, name):
            parts.append(text(getattr(config, name)))
    if getattr(config, "steps", None) is not None and "steps" not in swept:
        parts.append(f"{config.steps} steps")
    for name, text in (("input_keep_prob", lambda v: f"input keep {v:g}"), ("dropout_kind", lambda v: f"{v} dropout"),
                       ("activation", str), ("max_norm", lambda v: f"max-norm {v:g}"),
                       ("keep_schedule", lambda v: f"keep schedule {v}"), ("momentum", lambda v: f"momentum {v:g}"),
                       ("momentum_schedule", lambda v: f"momentum schedule {v}"),
                       ("lr_decay", lambda v: f"lr decay {v:g}"), ("init", lambda v: f"{v} init")):  # fmt: skip
        value = getattr(config, name, None)
        default = {"input_keep_prob": 1.0, "dropout_kind": "bernoulli", "activation": "relu", "max_norm": None,
                   "keep_schedule": "constant", "momentum": None, "momentum_schedule": "constant",
                   "lr_decay": 1.0, "init": None}[name]  # fmt: skip
        if name not in swept and value is not None and value != default:
            parts.append(text(value))
    parts.append(f"{len(config.seeds)} seed" + ("s" if len(config.seeds) != 1 else ""))
    return ", ".join(parts)


def _check_cells(cells: Any) -> list[tuple[dict[str, Any], list[KeepProbSummary]]]:
    if isinstance(cells, (str, bytes, dict)):
        raise InvalidTypeError(f"cells must be a list of (settings, rows) pairs, got {_describe(cells)}")
    checked = []
    for index, cell in enumerate(cells):
        if not isinstance(cell, tuple) or len(cell) != 2 or not isinstance(cell[0], dict):
            raise InvalidTypeError(f"cells[{index}] must be a (settings dict, rows) pair, got {_describe(cell)}")
        checked.append((cell[0], check_summary_rows(cell[1])))
    if not any(rows for _, rows in checked):
        raise InvalidArgumentError("cells must hold at least one summary row, got none")
    return checked


def _panels(cells: list[tuple[dict[str, Any], list[KeepProbSummary]]]) -> dict[str, dict[str, list[KeepProbSummary]]]:
    """row label -> {line label -> rows}: with two or more swept settings, one row of panels per value of
    the first, one line per combination of the others; else one row, one line per cell."""
    panels: dict[str, dict[str, list[KeepProbSummary]]] = {}
    for settings, rows in cells:
        if not rows:
            continue
        keys = list(settings)
        if len(keys) >= 2:
            panel, line = cell_label({keys[0]: settings[keys[0]]}), cell_label({k: settings[k] for k in keys[1:]})
        else:
            panel, line = "", cell_label(settings)
        panels.setdefault(panel, {})[line] = rows
    return panels


def _draw(ax: Any, rows: list[KeepProbSummary], pick: Any, color: str, label: str, shift: float) -> None:
    """One line: ``pick(row) -> (Interval, verdict or None)`` against keep_prob (moved right by ``shift``,
    so that the bars of several lines do not hide each other), in percent, with t-interval bars; a
    filled marker where the verdict is an effect, a hollow one elsewhere."""
    scale = 100.0
    points = [(row.keep_prob, *pick(row)) for row in rows]
    points = sorted((p for p in points if p[1] is not None), key=lambda p: p[0])
    if not points:
        return
    x = np.array([p[0] for p in points]) + shift
    intervals: list[Interval] = [p[1] for p in points]
    mean = np.array([i.mean for i in intervals]) * scale
    error = np.nan_to_num(np.array([i.half_width for i in intervals]) * scale)
    ax.errorbar(x, mean, yerr=error, color=color, capsize=3, linewidth=1.5, label=label)
    detected = np.array([p[2] in _DETECTED for p in points])
    ax.scatter(x[detected], mean[detected], color=color, s=36, zorder=3)
    ax.scatter(x[~detected], mean[~detected], facecolors="white", edgecolors=color, s=36, zorder=3)


def plot_summary(
    cells: Sequence[tuple[dict[str, Any], Sequence[KeepProbSummary]]],
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
) -> Path:
    """Save ``summary.png``: the experiment's answer against the keep probability, in three columns of
    panels: the validation accuracy, the train-validation gap (both the mean of the last few
    measurements, :class:`~dropout_lab.experiments.stats.KeepProbSummary`'s ``last_*``), and the
    paired difference in validation accuracy from keep 1, with a zero line. The gap's panel has a
    dotted line at :data:`~dropout_lab.experiments.compare.OVERFIT_GAP`: a baseline under it is not
    overfitting. Bars are the t intervals over seeds; a filled marker is a verdict (helped/hurt, a
    smaller/larger gap by the rules of :mod:`~dropout_lab.experiments.compare`), a hollow one is none.

    One line per cell of the grid; with two or more swept settings, one row of panels per value of
    the first and one line per combination of the others, so that the whole grid is one picture.

    Args:
        cells: ``(settings, rows)`` pairs, as :attr:`~dropout_lab.experiments.ExperimentResults.cell_summaries`.
        path: the PNG to write; its folder must exist.
        title: the figure's title (the runner gives :func:`figure_title` of the config).

    Returns:
        ``path`` as a :class:`pathlib.Path`.
    """
    checked = _check_cells(cells)
    target = check_file_to_write("path", path)
    if title is not None and not isinstance(title, str):
        raise InvalidTypeError(f"title must be a str or None, got {_describe(title)}")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels = _panels(checked)
    figure = Figure(figsize=(13.0, 1.4 + 3.4 * len(panels)), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = np.asarray(figure.subplots(len(panels), 3, squeeze=False, sharex=True))
    keeps = sorted({row.keep_prob for _, rows in checked for row in rows})
    measures = (
        ("validation accuracy (%)",
         lambda r: (r.last_val_acc, None if r.comparison is None else r.comparison.verdict)),
        ("train - validation gap (points)",
         lambda r: (r.last_gap, None if r.gap_comparison is None else r.gap_comparison.verdict)),
        ("val acc - keep 1's (points)",
         lambda r: (None, None) if r.comparison is None else (r.comparison.diff, r.comparison.verdict)),
    )  # fmt: skip
    for row, (panel, lines) in enumerate(panels.items()):
        for column, (what, pick) in enumerate(measures):
            ax = axes[row, column]
            for index, (line, rows) in enumerate(lines.items()):
                shift = 0.012 * (index - (len(lines) - 1) / 2)
                _draw(ax, rows, pick, f"C{index % 10}", line or "keep prob vs keep 1", shift)
            if column == 2:
                ax.axhline(0.0, color="black", linewidth=0.8)
            if column == 1:  # a baseline under this gap is "not overfitting" (see compare.OVERFIT_GAP)
                ax.axhline(100.0 * OVERFIT_GAP, color="grey", linestyle=":", linewidth=1.0)
                ax.text(0.01, 100.0 * OVERFIT_GAP, f" overfitting: a gap over {100 * OVERFIT_GAP:g} points",
                        transform=ax.get_yaxis_transform(), va="bottom", fontsize="small", color="grey")
            if row == len(panels) - 1:
                ax.set_xlabel("keep probability")
            ax.set_title(f"{what}, {panel}" if panel else what, fontsize="medium")
            ax.set_xticks(keeps, [keep_text(k) for k in keeps])
            ax.grid(True, alpha=0.3)
        if len(lines) > 1 or next(iter(lines)):
            axes[row, 0].legend(fontsize="small", loc="best")
    first = checked[0][1] or next(rows for _, rows in checked if rows)
    confidence = first[0].confidence
    windows = {row.window for _, rows in checked for row in rows}
    window = f"mean of the last {min(windows)} measurements" if max(windows) > 1 else "final measurement"
    subtitle = (f"{window}; bars: {100 * confidence:g}% t interval over seeds; filled marker: a verdict against keep 1 "
                "(Holm-corrected, more than one example per run), hollow: none")  # fmt: skip
    figure.suptitle(subtitle if title is None else f"{title}\n{subtitle}", fontsize="medium")
    with atomic_writer(target, "wb") as handle:
        figure.savefig(handle, format="png")
    return target


def write_figures(results: Any, accuracy_path: Path) -> tuple[Path, Path]:
    """Write an :class:`~dropout_lab.experiments.ExperimentResults`'s figures: ``accuracy_path``
    (:func:`~dropout_lab.experiments.plot.plot_accuracy` of its complete runs) and ``summary.png``
    beside it (:func:`plot_summary` of its cells), both titled with :func:`figure_title` of its config.
    The runner calls it once the results are written.

    Returns:
        The two paths.
    """
    from .plot import plot_accuracy

    title = figure_title(results.config)
    complete = [r for r in results.runs if r.status == "complete"]
    accuracy = plot_accuracy(complete, accuracy_path, title=title)
    return accuracy, plot_summary(results.cell_summaries, accuracy_path.parent / SUMMARY_NAME, title=title)
