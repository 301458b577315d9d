"""The reports' figures: curves with 95% intervals over seeds, paired bars (ours beside the paper's)
and histograms, each written atomically as a PNG (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_writer

__all__ = ["Panel", "Series", "bars", "curves", "histograms"]


@dataclass
class Series:
    """One curve: ``y`` (means) at ``x``, with ``half_width`` (95% intervals; NaN: none) as a band."""

    label: str
    x: Sequence[float]
    y: Sequence[float]
    half_width: Sequence[float] | None = None
    style: str = "o-"


@dataclass
class Panel:
    title: str
    xlabel: str
    ylabel: str
    series: list[Series] = field(default_factory=list)
    hlines: list[tuple[str, float]] = field(default_factory=list)
    logx: bool = False


def _figure(ncols: int, height: float = 3.6) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    figure = Figure(figsize=(max(7.0, 4.8 * ncols), height), layout="constrained")
    return figure, figure.subplots(1, ncols, squeeze=False)[0]


def _save(figure: Any, path: Path) -> None:
    with atomic_writer(path, "wb") as handle:
        figure.savefig(handle, format="png", dpi=110)


def curves(path: Path, panels: Sequence[Panel], title: str) -> None:
    """One panel per entry, side by side: each series' means joined, its intervals as a band."""
    figure, axes = _figure(len(panels))
    for ax, panel in zip(axes, panels, strict=True):
        for series in panel.series:
            x, y = np.asarray(series.x, float), np.asarray(series.y, float)
            (line,) = ax.plot(x, y, series.style, label=series.label, markersize=4)
            if series.half_width is not None:
                hw = np.asarray(series.half_width, float)
                if np.isfinite(hw).any():
                    ax.fill_between(x, y - hw, y + hw, color=line.get_color(), alpha=0.2, linewidth=0)
        for i, (label, value) in enumerate(panel.hlines):
            ax.axhline(value, color=f"C{len(panel.series) + i}", linestyle="--", label=label)
        if panel.logx:
            ax.set_xscale("log")
        ax.set(title=panel.title, xlabel=panel.xlabel, ylabel=panel.ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    figure.suptitle(title, fontsize=10)
    _save(figure, path)


def bars(
    path: Path, labels: Sequence[str], ours: Sequence[float], half_widths: Sequence[float],
    paper: Sequence[float | None], ylabel: str, title: str,
) -> None:  # fmt: skip
    """Our means (with 95% intervals) beside the paper's values, one pair of bars per label."""
    figure, (ax,) = _figure(1, height=3.8)
    x = np.arange(len(labels))
    errors = [0.0 if not math.isfinite(h) else h for h in half_widths]
    ax.bar(x - 0.2, ours, 0.4, yerr=errors, capsize=3, label="ours (95% CI over seeds)")
    ax.bar(x + 0.2, [math.nan if v is None else v for v in paper], 0.4, label="paper")
    ax.set_xticks(x, labels, fontsize=8)
    ax.set(ylabel=ylabel, title=title)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    _save(figure, path)


def histograms(path: Path, rows: Sequence[tuple[str, np.ndarray, np.ndarray]], title: str) -> None:
    """Per row (label, the units' mean activations (U,), all activations (N*U,)): the histogram of the
    mean activations and the histogram of the activations, as in the paper's Figure 8."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9.6, 3.2 * len(rows)), layout="constrained")
    axes = figure.subplots(len(rows), 2, squeeze=False)
    top_mean = max(float(np.max(means)) for _, means, _ in rows) or 1.0
    top_act = max(float(np.percentile(acts, 99.9)) for _, _, acts in rows) or 1.0
    for (label, means, acts), (left, right) in zip(rows, axes, strict=True):
        left.hist(means, bins=40, range=(0, top_mean))
        left.set(title=f"{label}: mean activation of each unit", xlabel="mean activation", ylabel="hidden units")
        right.hist(acts, bins=60, range=(0, top_act))
        right.set_yscale("log")
        right.set(title=f"{label}: activations", xlabel="activation", ylabel="count (log)")
    figure.suptitle(title, fontsize=10)
    _save(figure, path)
