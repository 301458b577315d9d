"""The dropout exercise's figure: train and validation accuracy per epoch, one line per keep probability.

matplotlib is imported inside :func:`plot_accuracy`, never at module import, so the core library
works without it. The figure is drawn on a :class:`matplotlib.figure.Figure` with an explicit Agg
canvas, never through pyplot: the user's backend, pyplot's figure list and a notebook's inline
display are all left alone.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_writer
from .._validation import _describe, check_file_to_write
from ..errors import InvalidArgumentError, InvalidTypeError
from .grid import cell_label
from .records import keep_text, run_field, run_history, run_keep_prob, run_list, run_seed
from .stats import check_confidence, t_critical

__all__ = ["plot_accuracy"]

_HISTORIES = ("train_acc_history", "val_acc_history")


def _history(run: Any, index: int, name: str) -> np.ndarray:
    value = run_field(run, index, name)
    try:
        history = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidTypeError(
            f"runs[{index}].{name} must be a sequence of accuracies, got {_describe(value)}"
        ) from exc
    if history.ndim != 1 or history.size == 0:
        raise InvalidArgumentError(
            f"runs[{index}].{name} must be a non-empty 1-D sequence (one accuracy per epoch), "
            f"got shape {history.shape}"
        )
    outside = ~((history >= 0.0) & (history <= 1.0))  # NaN counts as outside
    if np.any(outside):
        epoch = int(np.argmax(outside))
        raise InvalidArgumentError(
            f"runs[{index}].{name} must hold accuracy fractions in [0, 1], got {history[epoch]} at "
            f"epoch {epoch}"
        )
    return history


def _acc_epochs(run: Any, points: int) -> np.ndarray:
    """The epochs of a run's measurements: its ``acc_epochs`` if it has them, else 0, 1, 2..."""
    epochs = run.get("acc_epochs") if isinstance(run, dict) else getattr(run, "acc_epochs", None)
    if epochs is None:
        return np.arange(points)
    epochs = np.asarray(epochs)
    if epochs.shape != (points,):
        raise InvalidArgumentError(f"acc_epochs must hold one epoch per accuracy ({points}), got {epochs.shape}")
    return epochs


def _settings(run: Any) -> dict[str, Any]:
    settings = run.get("settings") if isinstance(run, dict) else getattr(run, "settings", None)
    return settings if isinstance(settings, dict) else {}


def _group_histories(runs: list[Any]) -> dict[float, dict[str, np.ndarray]]:
    """keep_prob -> {'train_acc_history': (S, P), 'val_acc_history': (S, P), 'epochs': (P,)}, first-seen
    order (P measurements)."""
    grouped: dict[float, dict[int, tuple[np.ndarray, np.ndarray]]] = {}
    epochs: dict[float, np.ndarray] = {}
    for index, run in enumerate(runs):
        keep_prob = run_keep_prob(run, index)
        seed = run_seed(run, index)
        train, val = (_history(run, index, name) for name in _HISTORIES)
        if train.shape != val.shape:
            raise InvalidArgumentError(
                f"runs[{index}] has {train.size} train accuracies but {val.size} validation "
                "accuracies: both histories need one entry per epoch"
            )
        by_seed = grouped.setdefault(keep_prob, {})
        if seed in by_seed:
            raise InvalidArgumentError(
                f"runs[{index}] repeats keep_prob={keep_text(keep_prob)}, seed={seed}: each pair must appear once"
            )
        if by_seed:
            expected = next(iter(by_seed.values()))[0].size
            if train.size != expected:
                raise InvalidArgumentError(
                    f"runs[{index}] (keep_prob={keep_text(keep_prob)}, seed={seed}) has {train.size} epochs of "
                    f"history, but earlier seeds at this keep probability have {expected}"
                )
        by_seed[seed] = (train, val)
        epochs.setdefault(keep_prob, _acc_epochs(run, train.size))
    return {
        keep_prob: {
            **{name: np.stack([pair[i] for pair in by_seed.values()]) for i, name in enumerate(_HISTORIES)},
            "epochs": epochs[keep_prob],
        }
        for keep_prob, by_seed in grouped.items()
    }


def _loss_curves(runs: list[Any]) -> dict[float, tuple[np.ndarray, np.ndarray]]:
    """keep_prob -> (x in epochs, the mean over seeds of each run's smoothed loss), for the runs that
    record a loss history. Each loss is averaged over windows of about a fiftieth of the run (the
    minibatch losses of dropout are noisy), and the x of step i is its epoch, ``(i + 1) * E / T``."""
    by_keep: dict[float, list[tuple[np.ndarray, int]]] = {}
    for index, run in enumerate(runs):
        losses = run_history(run, index, "loss_history", accuracies=False)
        if losses is None or losses.size == 0:
            continue
        epochs = _acc_epochs(run, len(run_field(run, index, "train_acc_history")))
        by_keep.setdefault(run_keep_prob(run, index), []).append((losses, int(epochs[-1]) if epochs.size else 0))
    curves = {}
    for keep_prob, pairs in by_keep.items():
        steps = min(losses.size for losses, _ in pairs)
        width = max(1, steps // 50)
        kernel = np.full(width, 1.0 / width)
        smoothed = np.mean([np.convolve(losses[:steps], kernel, mode="valid") for losses, _ in pairs], axis=0)
        epochs_done = max(epochs for _, epochs in pairs) or 1
        x = (np.arange(smoothed.size) + width) * epochs_done / steps
        curves[keep_prob] = (x, smoothed)
    return curves


def _zoom(ax: Any, values: list[np.ndarray]) -> None:
    """The y axis from the lowest to the highest value drawn (within [0, 1]), with a little room."""
    low = max(0.0, min(float(np.min(v)) for v in values))
    high = min(1.0, max(float(np.max(v)) for v in values))
    pad = max(0.02 * (high - low), 0.005)
    ax.set_ylim(max(0.0, low - pad), min(1.0, high + pad) if high < 1.0 else 1.0 + pad / 2)


def plot_accuracy(
    runs: Iterable[Any],
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
    confidence: float = 0.95,
) -> Path:
    """Save the exercise's figure as a PNG: one panel per keep probability with its train (dashed) and
    validation (solid) accuracy vs epoch together, and the training loss curves beside them; for a
    sweep (runs with several cells' ``settings``), one row per cell, titled with its settings.

    With one seed a line is that run's history; with S >= 2 seeds it is the per-epoch mean over seeds,
    and a shaded band shows ``mean ± t_{(1+confidence)/2, S-1} * s / sqrt(S)`` (the t interval's
    half-width, s the per-epoch sample standard deviation), clipped to [0, 1]; the figure's subtitle
    says so. The accuracy axes of a row share one y range, zoomed to what they show after epoch 0
    (the measurement before training, at chance level, is drawn but may fall below the axis). The loss panel
    (when the runs record ``loss_history``) has one line per keep probability, the mean over seeds of
    the loss smoothed over about a fiftieth of the run.

    The PNG is written through :func:`dropout_lab._io.atomic_writer`: an error at any point leaves
    ``path`` as it was and no temporary file behind.

    Args:
        runs: dicts or objects with ``keep_prob``, ``seed``, ``train_acc_history`` and
            ``val_acc_history`` (each (P,) accuracy fractions, measured at ``acc_epochs``, or every
            epoch from 0 without it), optionally ``loss_history`` and ``settings``; all seeds of one keep
            probability must have the same number of measurements.
        path: the PNG to write; its folder must exist.
        title: the figure's title, if any (the runner gives the data set and settings).
        confidence: the coverage of the shaded band, in (0, 1).

    Returns:
        ``path`` as a :class:`pathlib.Path`.
    """
    records = run_list(runs)
    if not records:
        raise InvalidArgumentError("runs must hold at least one run record, got none")
    target = check_file_to_write("path", path)
    if title is not None and not isinstance(title, str):
        raise InvalidTypeError(f"title must be a str or None, got {_describe(title)}")
    confidence = check_confidence(confidence)
    cells: dict[str, list[Any]] = {}
    for run in records:
        cells.setdefault(cell_label(_settings(run)), []).append(run)
    grouped_cells = {label: _group_histories(runs_of_cell) for label, runs_of_cell in cells.items()}
    loss_cells = {label: _loss_curves(runs_of_cell) for label, runs_of_cell in cells.items()}
    with_loss = any(loss_cells.values())
    min_keep = min(min(curves, default=1.0) for curves in loss_cells.values())
    min_keep = min_keep if min_keep < 1.0 else 0.0  # only keep 1: its colour is the map's first

    try:
        from matplotlib import colormaps
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import PercentFormatter
    except ImportError as exc:  # pragma: no cover - matplotlib is a declared dependency
        raise ImportError("plot_accuracy needs matplotlib: pip install matplotlib") from exc

    rows = len(grouped_cells)
    columns = max(len(groups) for groups in grouped_cells.values()) + with_loss
    figure = Figure(figsize=(1.0 + 2.7 * columns, 1.2 + 2.6 * rows), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)  # attaches itself to the figure: rendering never consults the backend
    axes = np.asarray(figure.subplots(rows, columns, squeeze=False))
    seed_counts = set()
    for row, (label, groups) in enumerate(grouped_cells.items()):
        drawn: list[np.ndarray] = []
        for column in range(columns):
            axes[row, column].set_visible(False)  # shown again when something is drawn on it
        for column, (keep_prob, histories) in enumerate(groups.items()):
            ax = axes[row, column]
            ax.set_visible(True)
            epochs = histories["epochs"]
            # The zoom leaves out the measurement before training (chance level, far below the rest).
            trained = epochs > 0 if np.any(epochs > 0) else np.ones(epochs.shape, dtype=bool)
            for name, style, what in (("train_acc_history", "--", "train"), ("val_acc_history", "-", "validation")):
                values = histories[name]  # (S, P)
                seeds = values.shape[0]
                seed_counts.add(seeds)
                mean = values.mean(axis=0)
                color = "C0" if what == "validation" else "C1"
                ax.plot(epochs, mean, color=color, linestyle=style, marker="o", markersize=2.5, label=what)
                drawn.append(mean[trained])
                if seeds >= 2:
                    half_width = t_critical(confidence, seeds) * values.std(axis=0, ddof=1) / math.sqrt(seeds)
                    low, high = np.clip(mean - half_width, 0.0, 1.0), np.clip(mean + half_width, 0.0, 1.0)
                    ax.fill_between(epochs, low, high, color=color, alpha=0.2, linewidth=0)
                    drawn += [low[trained], high[trained]]
            ax.set_title(f"keep {keep_text(keep_prob)}" + (f"\n{label}" if label else ""), fontsize="medium")
            ax.set_xlabel("epoch")
            ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
            ax.grid(True, alpha=0.3)
        for column in range(len(groups)):
            _zoom(axes[row, column], drawn)
            if column:
                axes[row, column].sharey(axes[row, 0])
        axes[row, 0].set_ylabel("accuracy")
        axes[row, 0].legend(loc="lower right", fontsize="small")
        if with_loss:
            ax = axes[row, columns - 1]
            ax.set_visible(True)
            for keep_prob, (x, loss) in loss_cells[label].items():
                # Darker for more dropout, one shade per keep probability (the same in every row).
                ax.plot(x, loss, color=colormaps["viridis"](0.85 * (1.0 - keep_prob) / (1.0 - min_keep)),
                        label=f"keep {keep_text(keep_prob)}")
            ax.set_title("training loss (smoothed)" + (f"\n{label}" if label else ""), fontsize="medium")
            ax.set_xlabel("epoch")
            ax.grid(True, alpha=0.3)
            if loss_cells[label]:
                ax.legend(loc="best", fontsize="small")
    if max(seed_counts) >= 2:
        seeds_text = f"of {seed_counts.pop()} seeds" if len(seed_counts) == 1 else "over seeds"
        subtitle = f"lines: mean {seeds_text}; shaded: {100 * confidence:g}% t interval"
    else:
        subtitle = "one seed per keep probability: no intervals"
    figure.suptitle(subtitle if title is None else f"{title}\n{subtitle}", fontsize="medium")

    with atomic_writer(target, "wb") as handle:
        figure.savefig(handle, format="png")
    return target
