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
from .records import keep_text, run_field, run_keep_prob, run_list, run_seed
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


def plot_accuracy(
    runs: Iterable[Any],
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
    confidence: float = 0.95,
) -> Path:
    """Save the exercise's figure as a PNG: train (left) and validation (right) accuracy vs epoch; for
    a sweep (runs with several cells' ``settings``), one row of the two panels per cell, titled with
    its settings.

    One line per keep probability, in the order first seen, labelled ``keep 0.5`` etc. With one seed
    the line is that run's history; with S >= 2 seeds it is the per-epoch mean over seeds, and a
    shaded band shows ``mean ± t_{(1+confidence)/2, S-1} * s / sqrt(S)`` (the t interval's half-width,
    s the per-epoch sample standard deviation), which the legend's title states.

    The PNG is written through :func:`dropout_lab._io.atomic_writer`: an error at any point leaves
    ``path`` as it was and no temporary file behind.

    Args:
        runs: dicts or objects with ``keep_prob``, ``seed``, ``train_acc_history`` and
            ``val_acc_history`` (each (E + 1,) accuracy fractions, epoch 0 first); all seeds of one keep
            probability must have the same number of epochs.
        path: the PNG to write; its folder must exist.
        title: the figure's title, if any.
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

    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - matplotlib is a declared dependency
        raise ImportError("plot_accuracy needs matplotlib: pip install matplotlib") from exc

    rows = len(grouped_cells)
    figure = Figure(figsize=(11.0, 1.0 + 3.5 * rows), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)  # attaches itself to the figure: rendering never consults the backend
    axes = np.asarray(figure.subplots(rows, 2, sharey=True, squeeze=False))
    seed_counts = set()
    for row, (label, groups) in enumerate(grouped_cells.items()):
        panels = (
            (axes[row, 0], "train_acc_history", "Train accuracy"),
            (axes[row, 1], "val_acc_history", "Validation accuracy"),
        )
        for color_index, (keep_prob, histories) in enumerate(groups.items()):
            color = f"C{color_index % 10}"
            for ax, name, _ in panels:
                values = histories[name]  # (S, P)
                seeds = values.shape[0]
                seed_counts.add(seeds)
                epochs = histories["epochs"]
                mean = values.mean(axis=0)
                ax.plot(epochs, mean, color=color, marker="o", markersize=3, label=f"keep {keep_text(keep_prob)}")
                if seeds >= 2:
                    half_width = t_critical(confidence, seeds) * values.std(axis=0, ddof=1) / math.sqrt(seeds)
                    ax.fill_between(
                        epochs, mean - half_width, mean + half_width, color=color, alpha=0.2, linewidth=0
                    )
        for ax, _, panel_title in panels:
            ax.set_title(f"{panel_title} ({label})" if label else panel_title)
            ax.set_xlabel("epoch")
            ax.grid(True, alpha=0.3)
        axes[row, 0].set_ylabel("accuracy")
    if max(seed_counts) >= 2:
        seeds_text = f"of {seed_counts.pop()} seeds" if len(seed_counts) == 1 else "over seeds"
        legend_title = f"mean {seeds_text}; shaded: {100 * confidence:g}% t interval"
    else:
        legend_title = None
    axes[0, 1].legend(title=legend_title, loc="best", fontsize="small", title_fontsize="small")
    if title is not None:
        figure.suptitle(title)

    with atomic_writer(target, "wb") as handle:
        figure.savefig(handle, format="png")
    return target
