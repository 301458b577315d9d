"""Tests for dropout_lab.experiments.summary_plot: summary.png, its layout for a sweep, and its title."""

from __future__ import annotations

import matplotlib.image
import numpy as np
import pytest

from dropout_lab.errors import InvalidArgumentError, InvalidTypeError
from dropout_lab.experiments import ExperimentConfig, ExperimentResults, RunResult
from dropout_lab.experiments.stats import summarize
from dropout_lab.experiments.summary_plot import figure_title, plot_summary, write_figures


def _rows(shift=0.0, seeds=3):
    runs = []
    for seed in range(seeds):
        for keep_prob, val in ((1.0, 0.80), (0.75, 0.82), (0.5, 0.83)):
            runs.append({"keep_prob": keep_prob, "seed": seed, "final_train_acc": 0.99 - 0.1 * (1 - keep_prob),
                         "final_val_acc": val + shift + 0.01 * seed * keep_prob, "best_val_acc": val, "num_val": 500})
    return summarize(runs)


def _decoded(path):
    """The PNG decoded (it must be one): (height, width, channels)."""
    return matplotlib.image.imread(path, format="png").shape


def test_one_cell_is_one_row_of_three_panels(tmp_path):
    path = plot_summary([({}, _rows())], tmp_path / "summary.png", title="digits, 3 seeds")
    assert path == tmp_path / "summary.png"
    assert _decoded(path) == (480, 1300, 4)  # 13 x (1.4 + 3.4) inches at 100 dpi
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.png"]


def test_a_two_by_two_sweep_is_one_picture(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    figures = []
    savefig = Figure.savefig
    def record(figure, *args, **kwargs):
        figures.append(figure)
        return savefig(figure, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", record)
    cells = [({"num_train": n, "hidden_dims": h}, _rows(0.01 * i))
             for i, (n, h) in enumerate([(100, [64]), (100, [256]), (500, [64]), (500, [256])])]  # fmt: skip
    path = plot_summary(cells, tmp_path / "summary.png")
    assert _decoded(path) == (820, 1300, 4)  # one row per num_train, 3.4 inches each
    (figure,) = figures
    axes = figure.axes
    assert len(axes) == 6
    assert [ax.get_title() for ax in axes[:3]] == [
        "validation accuracy (%), num_train 100", "train - validation gap (points), num_train 100",
        "val acc - keep 1's (points), num_train 100"]  # fmt: skip
    # One line per hidden_dims value, in the legend of each row's first panel.
    assert [t.get_text() for t in axes[0].get_legend().get_texts()] == ["hidden_dims 64", "hidden_dims 256"]
    # The difference panel has its zero line; a filled marker is a verdict (keep 0.5 helped here).
    zero = [line for line in axes[2].get_lines() if np.all(np.asarray(line.get_ydata()) == 0.0)]
    assert zero
    assert "filled marker: a verdict" in figure.get_suptitle()


def test_figure_title_names_the_data_set_and_the_unswept_settings():
    config = ExperimentConfig(keep_probs=(1.0, 0.5), hidden_dims=(500,), num_train=500, epochs=25, seeds=(0, 1, 2))
    assert figure_title(config) == "digits, 500 train, hidden 500, 25 epochs, batch 100, adam, lr 0.0005, L2 0, 3 seeds"
    swept = ExperimentConfig.from_settings({"num_train": [100, 500], "seeds": 2})
    title = figure_title(swept)
    assert "train" not in title.split(", ")[1] and title.endswith("2 seeds")
    # A budget in updates: the steps, not the (unused) epochs; the dropout family's settings when set.
    steps = ExperimentConfig(steps=1000, dropout_kind="gaussian", max_norm=3.0, input_keep_prob=0.8)
    title = figure_title(steps)
    assert "1000 steps" in title and "epochs" not in title
    assert "gaussian dropout" in title and "max-norm 3" in title and "input keep 0.8" in title


def test_write_figures_writes_both_titled(tmp_path):
    config = ExperimentConfig(keep_probs=(1.0, 0.5), hidden_dims=(8,), num_train=40, epochs=2, seeds=(0, 1))
    runs = [RunResult(keep, seed, list(np.linspace(2.3, 1.0, 40)), [0.1, 0.6, 0.7], [0.1, 0.5, 0.6 + 0.01 * seed],
                      0.7, 0.6 + 0.01 * seed, 0.6, 1.0, num_val=100)
            for keep in (1.0, 0.5) for seed in (0, 1)]  # fmt: skip
    accuracy, summary = write_figures(ExperimentResults(config, runs), tmp_path / "accuracy.png")
    assert accuracy.name == "accuracy.png" and summary == tmp_path / "summary.png"
    assert _decoded(accuracy)[2] == 4 and _decoded(summary) == (480, 1300, 4)
    # accuracy.png: a row of a panel per keep probability and the loss: 1 + 2.7 * 3 by 1.2 + 2.6 inches.
    assert _decoded(accuracy)[:2] == (380, 910)


def test_plot_summary_rejects_what_it_cannot_draw(tmp_path):
    with pytest.raises(InvalidArgumentError, match="at least one summary row"):
        plot_summary([({}, [])], tmp_path / "s.png")
    with pytest.raises(InvalidTypeError, match="list of \\(settings, rows\\) pairs"):
        plot_summary({}, tmp_path / "s.png")
    with pytest.raises(InvalidTypeError, match=r"cells\[0\] must be a \(settings dict, rows\) pair"):
        plot_summary([_rows()], tmp_path / "s.png")
    with pytest.raises(InvalidTypeError, match="title must be a str"):
        plot_summary([({}, _rows())], tmp_path / "s.png", title=3)
    assert list(tmp_path.iterdir()) == []
