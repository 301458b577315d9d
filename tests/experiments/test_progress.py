"""The experiment's progress bar (tqdm): one bar over every epoch of every run, on stderr, fed with the
run's name and validation accuracy, closed however the experiment ends, and silent when turned off or
when stderr is not a terminal. What tqdm draws is tqdm's business; these tests check what we ask of it."""

from __future__ import annotations

import pytest
import tqdm.auto

from dropout_lab.experiments import ExperimentConfig, run_experiment, scheduler

CONFIG = dict(keep_probs=(1.0, 0.5), hidden_dims=(8,), num_train=60, epochs=2, batch_size=30, seeds=(0, 1))


@pytest.fixture
def bars(monkeypatch):
    """Every bar the experiment makes, with what it was given and whether it was closed."""
    made = []

    class Spy(tqdm.auto.tqdm):
        def __init__(self, *args, **kwargs):
            self.given, self.postfixes, self.closes = kwargs, [], 0
            made.append(self)
            super().__init__(*args, **kwargs)

        def set_postfix(self, ordered_dict=None, refresh=True, **kwargs):
            self.postfixes.append(kwargs)
            super().set_postfix(ordered_dict, refresh, **kwargs)

        def close(self):
            self.closes += 1
            super().close()

    monkeypatch.setattr(tqdm.auto, "tqdm", Spy)
    return made


@pytest.mark.parametrize("jobs", [1, 2])
def test_one_bar_counts_every_epoch_of_every_run_on_stderr(bars, capsys, jobs):
    results = run_experiment(ExperimentConfig(**CONFIG), jobs=jobs, progress=True)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "training" in captured.err and "8/8" in captured.err and "run=keep " in captured.err
    [bar] = bars
    assert bar.given["total"] == len(results.runs) * CONFIG["epochs"] == bar.n
    assert bar.given["disable"] is False and bar.closes >= 1
    # Each epoch names its run and shows its validation accuracy, in the order the epochs ended.
    shown = sorted((p["run"], p["val"]) for p in bar.postfixes)
    expected = sorted(
        (f"keep {r.keep_prob:g} seed {r.seed}", f"{v:.3f}") for r in results.runs for v in r.val_acc_history[1:]
    )
    assert shown == expected


def test_nothing_is_printed_when_progress_is_off(bars, capsys):
    run_experiment(ExperimentConfig(**CONFIG), jobs=1, progress=False)
    assert capsys.readouterr() == ("", "")
    assert bars[0].given["disable"] is True


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_line_per_finished_run_when_stderr_is_no_terminal(bars, capsys, jobs):
    # None: the bar only on a terminal, and capsys's stderr is not one; a log gets a line per run.
    results = run_experiment(ExperimentConfig(**CONFIG), jobs=jobs, progress=None)
    captured = capsys.readouterr()
    assert bars[0].given["disable"] is None and bars[0].disable
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == len(results.runs) == 4
    assert [line.split("]")[0] for line in lines] == ["[1/4", "[2/4", "[3/4", "[4/4"]
    for run in results.runs:
        [line] = [line for line in lines if f"keep {run.keep_prob:g} seed {run.seed}:" in line]
        assert f": complete, train acc {run.final_train_acc:.3f}, val acc {run.final_val_acc:.3f}, " in line
        assert line.endswith(f"{run.wall_s:.1f} s")


@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_the_bar_is_closed_when_a_run_fails_or_is_interrupted(bars, capsys, monkeypatch, jobs, error):
    real_advance = scheduler.Run.advance

    def failing(self, epochs=None):
        if self.solver.epoch == 1:
            raise error
        return real_advance(self, epochs)

    monkeypatch.setattr(scheduler.Run, "advance", failing)
    with pytest.raises(type(error)):
        run_experiment(ExperimentConfig(**CONFIG), jobs=jobs, progress=True)
    [bar] = bars
    assert bar.closes >= 1 and bar.n < bar.given["total"]
    assert capsys.readouterr().err.endswith("\n")  # a traceback starts on a line of its own


def test_a_resume_counts_only_the_epochs_left(bars, tmp_path):
    config = ExperimentConfig(**CONFIG)
    run_experiment(config, out_dir=tmp_path, progress=False)
    run_experiment(out_dir=tmp_path, resume=True, progress=False)
    assert [bar.given["total"] for bar in bars] == [8, 0]
