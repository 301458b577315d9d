"""Tests for dropout_lab.experiments.plot: the accuracy figure, its PNG file and lazy matplotlib."""

from __future__ import annotations

import math
import struct
from types import SimpleNamespace

import numpy as np
import pytest

from dropout_lab.errors import InvalidArgumentError, InvalidTypeError
from dropout_lab.experiments.plot import plot_accuracy

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
T_975_2 = 4.30265272975  # published t_{0.975, 2}


def _png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which must come first."""
    assert data[:8] == PNG_SIGNATURE
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    width, height = struct.unpack(">II", data[16:24])
    assert data[-8:-4] == b"IEND"
    return width, height


def _runs(keep_probs=(1.0, 0.5), seeds=(0,), epochs=4):
    runs = []
    for keep_prob in keep_probs:
        for position, seed in enumerate(seeds):
            # The i-th seed shifts the curve by 0.1 * (i - 1): with 3 seeds each epoch holds
            # m - 0.1, m, m + 0.1.
            base = np.linspace(0.1, 0.5, epochs + 1) * keep_prob + 0.1 * (position - 1) + 0.2
            runs.append(
                {
                    "keep_prob": keep_prob,
                    "seed": seed,
                    "train_acc_history": list(base + 0.1),
                    "val_acc_history": base,
                }
            )
    return runs


@pytest.mark.parametrize("seeds", [(0,), (0, 1, 2)])
def test_plot_writes_a_valid_png_and_nothing_else(tmp_path, seeds):
    path = tmp_path / "accuracy.png"
    returned = plot_accuracy(_runs(seeds=seeds), path, title="Dropout")
    assert returned == path
    width, height = _png_size(path.read_bytes())
    assert width > 0 and height > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["accuracy.png"]  # no temporary file left


def test_plot_accepts_objects_and_a_string_path(tmp_path):
    runs = [SimpleNamespace(**run) for run in _runs(keep_probs=(0.75,), seeds=(3, 4))]
    plot_accuracy(runs, str(tmp_path / "a.png"))
    _png_size((tmp_path / "a.png").read_bytes())


def test_plot_replaces_an_existing_file(tmp_path):
    path = tmp_path / "accuracy.png"
    path.write_bytes(b"old")
    plot_accuracy(_runs(), path)
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert sorted(p.name for p in tmp_path.iterdir()) == ["accuracy.png"]


def test_a_crash_while_writing_leaves_the_old_file(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    def torn_savefig(self, handle, **kwargs):
        handle.write(PNG_SIGNATURE + b"half a picture")
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(Figure, "savefig", torn_savefig)
    path = tmp_path / "accuracy.png"
    path.write_bytes(b"the previous figure")
    with pytest.raises(RuntimeError, match="disk on fire"):
        plot_accuracy(_runs(), path)
    assert path.read_bytes() == b"the previous figure"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["accuracy.png"]


class _Recorder:
    """Wraps Figure.savefig and Axes.fill_between to see what was drawn."""

    def __init__(self, monkeypatch):
        from matplotlib.axes import Axes
        from matplotlib.figure import Figure

        self.figures = []
        self.bands = []
        savefig, fill_between = Figure.savefig, Axes.fill_between

        def record_savefig(figure, *args, **kwargs):
            self.figures.append(figure)
            return savefig(figure, *args, **kwargs)

        def record_fill_between(axes, x, y1, y2, **kwargs):
            self.bands.append((axes, np.asarray(x), np.asarray(y1), np.asarray(y2)))
            return fill_between(axes, x, y1, y2, **kwargs)

        monkeypatch.setattr(Figure, "savefig", record_savefig)
        monkeypatch.setattr(Axes, "fill_between", record_fill_between)


def test_three_seeds_draw_the_mean_and_a_t_interval_band(tmp_path, monkeypatch):
    recorder = _Recorder(monkeypatch)
    runs = _runs(keep_probs=(1.0, 0.5), seeds=(0, 1, 2), epochs=4)
    plot_accuracy(runs, tmp_path / "accuracy.png")
    (figure,) = recorder.figures
    # One panel per keep probability, train and validation together (no loss recorded: no loss panel).
    keep1_axes, half_axes = [ax for ax in figure.axes if ax.get_visible()]
    assert keep1_axes.get_title() == "keep 1" and half_axes.get_title() == "keep 0.5"
    legend = keep1_axes.get_legend()
    assert [text.get_text() for text in legend.get_texts()] == ["train", "validation"]
    assert "mean of 3 seeds" in figure.get_suptitle() and "95% t interval" in figure.get_suptitle()
    # One band per history per keep probability.
    assert len(recorder.bands) == 4
    # Each epoch holds m - 0.1, m, m + 0.1: mean m, s = 0.1, half-width t_{0.975,2} * 0.1 / sqrt(3).
    half_width = T_975_2 * 0.1 / math.sqrt(3)
    val_mean_keep1 = np.linspace(0.1, 0.5, 5) + 0.2
    _, x, low, high = [band for band in recorder.bands if band[0] is keep1_axes][1]  # train first, then val
    np.testing.assert_array_equal(x, np.arange(5))
    np.testing.assert_allclose(low, np.clip(val_mean_keep1 - half_width, 0, 1), rtol=1e-9)
    np.testing.assert_allclose(high, val_mean_keep1 + half_width, rtol=1e-9)
    line = keep1_axes.get_lines()[1]
    np.testing.assert_allclose(line.get_ydata(), val_mean_keep1, rtol=1e-12)


def test_bands_are_clipped_to_the_unit_interval_and_the_axis_zoomed(tmp_path, monkeypatch):
    recorder = _Recorder(monkeypatch)
    # Three seeds near 100% with a wide spread: mean ± half-width would pass 1 (and 0 for the other).
    runs = [{"keep_prob": 1.0, "seed": s, "train_acc_history": [0.1, 0.9 + 0.05 * s, 0.9 + 0.05 * s],
             "val_acc_history": [0.1, 0.8, 0.8 + 0.05 * s]} for s in range(3)]
    plot_accuracy(runs, tmp_path / "accuracy.png")
    for _, _, low, high in recorder.bands:
        assert np.all(low >= 0.0) and np.all(high <= 1.0)
    (axes,) = [ax for ax in recorder.figures[0].axes if ax.get_visible()]
    bottom, top = axes.get_ylim()
    # Zoomed to what is drawn after epoch 0 (the 10% before training is left below the axis).
    assert 0.5 < bottom < 0.8 and 1.0 <= top < 1.01


def test_one_seed_draws_plain_lines_without_bands_and_the_loss_beside(tmp_path, monkeypatch):
    recorder = _Recorder(monkeypatch)
    runs = _runs(keep_probs=(1.0, 0.5, 0.25), seeds=(7,), epochs=3)
    for run in runs:
        run["loss_history"] = list(np.linspace(2.3, 0.5, 60) / run["keep_prob"])
    plot_accuracy(runs, tmp_path / "accuracy.png", title="My title")
    (figure,) = recorder.figures
    assert recorder.bands == []
    assert figure.get_suptitle().startswith("My title\n") and "one seed" in figure.get_suptitle()
    *accuracy_axes, loss_axes = [ax for ax in figure.axes if ax.get_visible()]
    assert [ax.get_title() for ax in accuracy_axes] == ["keep 1", "keep 0.5", "keep 0.25"]
    for axes, run in zip(accuracy_axes, runs, strict=True):
        train_line, val_line = axes.get_lines()
        np.testing.assert_array_equal(val_line.get_xdata(), np.arange(4))
        np.testing.assert_allclose(train_line.get_ydata(), run["train_acc_history"])
        np.testing.assert_allclose(val_line.get_ydata(), run["val_acc_history"])
    assert loss_axes.get_title() == "training loss (smoothed)"
    legend = loss_axes.get_legend()
    assert [text.get_text() for text in legend.get_texts()] == ["keep 1", "keep 0.5", "keep 0.25"]
    # 60 losses over 3 epochs, averaged in windows of 60 // 50 = 1: step i at epoch (i + 1) * 3 / 60.
    x = loss_axes.get_lines()[0].get_xdata()
    np.testing.assert_allclose(x, (np.arange(60) + 1) * 3 / 60)


def test_plot_does_not_touch_pyplot_or_the_backend(tmp_path, run_python):
    script = (
        "import sys\n"
        "import matplotlib\n"
        "backend_before = dict.__getitem__(matplotlib.rcParams, 'backend')  # raw: no resolution\n"
        "from dropout_lab.experiments.plot import plot_accuracy\n"
        "runs = [dict(keep_prob=k, seed=s, train_acc_history=[0.1, 0.5], val_acc_history=[0.1, 0.4])\n"
        "        for k in (1.0, 0.5) for s in (0, 1)]\n"
        f"plot_accuracy(runs, {str(tmp_path / 'a.png')!r})\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported'\n"
        "assert dict.__getitem__(matplotlib.rcParams, 'backend') is backend_before, 'backend changed'\n"
    )
    run_python(script)
    _png_size((tmp_path / "a.png").read_bytes())


def test_importing_the_library_does_not_import_matplotlib(run_python):
    script = (
        "import sys\n"
        "import dropout_lab\n"
        "import dropout_lab.experiments.plot, dropout_lab.experiments.stats, dropout_lab.experiments.runner\n"
        "import dropout_lab.experiments.records, dropout_lab.experiments.table\n"
        "loaded = sorted(name for name in sys.modules if name.split('.')[0] == 'matplotlib')\n"
        "assert not loaded, loaded\n"
    )
    run_python(script)


@pytest.mark.parametrize(
    ("runs", "error", "match"),
    [
        ([], InvalidArgumentError, "at least one run"),
        ({"keep_prob": 1.0}, InvalidTypeError, "list of run records"),
        ([{"keep_prob": 1.0, "seed": 0, "train_acc_history": [0.1]}], InvalidArgumentError,
         "'val_acc_history'"),
        ([dict(keep_prob=1.0, seed=0, train_acc_history=[0.1, 0.2], val_acc_history=[0.1])],
         InvalidArgumentError, "2 train accuracies but 1 validation"),
        ([dict(keep_prob=1.0, seed=0, train_acc_history=[0.1, 0.2], val_acc_history=[0.1, 0.2]),
          dict(keep_prob=1.0, seed=1, train_acc_history=[0.1], val_acc_history=[0.1])],
         InvalidArgumentError, "earlier seeds at this keep probability have 2"),
        ([dict(keep_prob=1.0, seed=0, train_acc_history=[0.1], val_acc_history=[0.1])] * 2,
         InvalidArgumentError, "repeats keep_prob=1, seed=0"),
        ([dict(keep_prob=1.0, seed=0, train_acc_history=[0.1, 55.0], val_acc_history=[0.1, 0.2])],
         InvalidArgumentError, r"\[0, 1\], got 55.0 at epoch 1"),
        ([dict(keep_prob=1.0, seed=0, train_acc_history=[0.1, math.nan], val_acc_history=[0.1, 0.2])],
         InvalidArgumentError, "got nan at epoch 1"),
        ([dict(keep_prob=1.0, seed=0, train_acc_history=[], val_acc_history=[])],
         InvalidArgumentError, "non-empty 1-D"),
        ([dict(keep_prob=1.0, seed=0, train_acc_history=["a"], val_acc_history=[0.1])],
         InvalidTypeError, "sequence of accuracies"),
        ([dict(keep_prob=1.5, seed=0, train_acc_history=[0.1], val_acc_history=[0.1])],
         InvalidArgumentError, "keep_prob"),
    ],
)
def test_plot_rejects_bad_runs_before_writing(tmp_path, runs, error, match):
    with pytest.raises(error, match=match):
        plot_accuracy(runs, tmp_path / "accuracy.png")
    assert list(tmp_path.iterdir()) == []


def test_plot_rejects_bad_paths_and_options(tmp_path):
    with pytest.raises(InvalidArgumentError, match="folder must exist"):
        plot_accuracy(_runs(), tmp_path / "missing" / "accuracy.png")
    with pytest.raises(InvalidArgumentError, match="must name a file"):
        plot_accuracy(_runs(), tmp_path)
    with pytest.raises(InvalidTypeError, match=r"path must be a path \(str or os.PathLike\)"):
        plot_accuracy(_runs(), 3)
    with pytest.raises(InvalidArgumentError, match="non-empty path"):
        plot_accuracy(_runs(), "")
    with pytest.raises(InvalidTypeError, match="title must be a str"):
        plot_accuracy(_runs(), tmp_path / "a.png", title=5)
    with pytest.raises(InvalidArgumentError, match="confidence"):
        plot_accuracy(_runs(), tmp_path / "a.png", confidence=1.0)
    assert list(tmp_path.iterdir()) == []
