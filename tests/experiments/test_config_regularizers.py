"""The dropout family's training options in the experiment: max-norm, keep-probability schedules and
early stopping, as settings (swept like any other) that reach each run's Solver."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dropout_lab import cli
from dropout_lab.errors import InvalidArgumentError, InvalidTypeError
from dropout_lab.experiments import ExperimentConfig, RunSpec, load_experiment_data, run_experiment, scheduler
from dropout_lab.experiments.config import parse_keep_schedule
from dropout_lab.optim import KeepSchedule

BASE = dict(keep_probs=(1.0, 0.5), hidden_dims=(8,), num_train=40, num_val=60, epochs=3, batch_size=20, seeds=(0,))


@pytest.mark.parametrize("text, expected", [
    ("constant", KeepSchedule("constant")),
    ("linear:100", KeepSchedule("linear", ramp=100.0)),
    ("curriculum:0.01", KeepSchedule("curriculum", gamma=0.01)),
    ("curriculum:0.5:epoch", KeepSchedule("curriculum", "epoch", gamma=0.5)),
    ("constant:epoch", KeepSchedule("constant", "epoch")),
])
def test_keep_schedules_are_read_from_text(text, expected):
    assert parse_keep_schedule(text) == expected


@pytest.mark.parametrize("text, error", [
    ("cosine", InvalidArgumentError), ("linear", InvalidArgumentError), ("linear:fast", InvalidArgumentError),
    ("curriculum:-1", InvalidArgumentError), ("constant:3", InvalidArgumentError), (3, InvalidTypeError),
])
def test_a_bad_keep_schedule_is_refused_naming_what_was_given(text, error):
    with pytest.raises(error, match="keep_schedule|gamma|ramp"):
        ExperimentConfig(keep_schedule=text)


def test_the_options_reach_the_solver_and_the_identity(tmp_path, monkeypatch):
    config = ExperimentConfig(**BASE, max_norm=0.5, keep_schedule="curriculum:0.1", patience=2)
    identity = json.loads(RunSpec(config, 0.5, 0).identity())
    assert (identity["max_norm"], identity["keep_schedule"], identity["patience"]) == (0.5, "curriculum:0.1", 2)
    seen = []
    real = scheduler.Run.__init__

    def spy(self, solver, spec, evaluate=None):
        seen.append((solver.max_norm, solver.keep_schedule, solver.patience))
        real(self, solver, spec, evaluate)

    monkeypatch.setattr(scheduler.Run, "__init__", spy)
    results = run_experiment(config, out_dir=tmp_path, progress=False)
    assert seen == [(0.5, KeepSchedule("curriculum", gamma=0.1), 2)] * 2 and results.status == "complete"


def test_max_norm_bounds_the_weights_of_every_run(tmp_path):
    from dropout_lab.experiments.runs import _build_solver

    config = ExperimentConfig(**BASE, max_norm=0.05, learning_rate=1e-2)
    data = load_experiment_data(config)
    solver = _build_solver(RunSpec(config, 0.5, 0), data, None)
    solver.train()
    norms = np.linalg.norm(solver.model.params["W1"].astype(np.float64), axis=0)
    assert norms.max() <= 0.05 * (1 + 1e-6)


def test_an_early_stopped_run_is_complete_and_a_resume_does_not_train_it_again(tmp_path, monkeypatch):
    config = ExperimentConfig(**{**BASE, "epochs": 40, "learning_rate": 1e-2}, patience=1)
    results = run_experiment(config, out_dir=tmp_path, progress=False)
    stopped = [r for r in results.runs if r.stop_epoch is not None]
    assert stopped and all(r.status == "complete" and r.epochs_done == r.stop_epoch < 40 for r in stopped)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert [r["stop_epoch"] for r in saved["runs"]] == [r.stop_epoch for r in results.runs]
    started = []
    monkeypatch.setattr(scheduler.Run, "advance", lambda self, epochs=None: started.append(self) or True)
    run_experiment(out_dir=tmp_path, resume=True, progress=False)
    assert started == []


def test_the_command_line_sweeps_the_new_options(tmp_path):
    argv = ["experiment", "--quiet", "--keep-probs", "1,0.5", "--hidden-dims", "8", "--num-train", "40",
            "--epochs", "2", "--batch-size", "20", "--max-norm", "1,3", "--keep-schedule", "constant,linear:4",
            "--early-stopping", "5", "--out", str(tmp_path / "exp")]
    assert cli.main(argv) == 0
    saved = json.loads((tmp_path / "exp" / "results.json").read_text())
    assert saved["grid"] == {"max_norm": [1.0, 3.0], "keep_schedule": ["constant", "linear:4"]}
    assert saved["config"]["patience"] == 5 and len(saved["runs"]) == 2 * 2 * 2


# ------------------------------------------------------------------------------------------ the variants
def test_alpha_dropout_needs_selu_before_any_work():
    with pytest.raises(InvalidArgumentError, match="dropout_kind='alpha' needs activation='selu'"):
        ExperimentConfig(dropout_kind="alpha")
    config = ExperimentConfig(**BASE, activation="selu", sweep={"dropout_kind": ["bernoulli", "alpha"]})
    assert [c.dropout_kind for _, c in config.cells()] == ["bernoulli", "alpha"]


def test_the_variants_and_the_test_evaluation_from_the_command_line(tmp_path, capsys):
    argv = ["experiment", "--quiet", "--keep-probs", "1,0.5", "--hidden-dims", "16", "--num-train", "60",
            "--epochs", "2", "--batch-size", "20", "--seeds", "2", "--variant", "bernoulli,gaussian,dropconnect",
            "--mc-samples", "4", "--out", str(tmp_path / "exp")]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert printed.count("test acc MC4") == 3 and "test split: 400 examples" in printed
    saved = json.loads((tmp_path / "exp" / "results.json").read_text())
    assert saved["grid"] == {"dropout_kind": ["bernoulli", "gaussian", "dropconnect"]}
    for run in saved["runs"]:
        test = run["test"]
        assert test["num_test"] == 400 and test["mc_samples"] == 4
        for how in ("weight_scaling", "mc"):
            assert 0 <= test[how]["accuracy"] <= 1 and 0 <= test[how]["ece"] <= 1 and 0 <= test[how]["brier"] <= 2
        if run["keep_prob"] == 1.0:  # no dropout: every Monte Carlo pass is the weight-scaled net
            assert test["mc"] == pytest.approx(test["weight_scaling"], rel=1e-6)


def test_the_test_evaluation_is_reproducible_and_leaves_the_training_alone(tmp_path):
    config = ExperimentConfig(**BASE, dropout_kind="gaussian")
    plain = run_experiment(config, progress=False)
    evaluated = run_experiment(ExperimentConfig(**BASE, dropout_kind="gaussian", mc_samples=3), progress=False)
    again = run_experiment(ExperimentConfig(**BASE, dropout_kind="gaussian", mc_samples=3), progress=False)
    assert [r.loss_history for r in evaluated.runs] == [r.loss_history for r in plain.runs]
    assert [r.test for r in evaluated.runs] == [r.test for r in again.runs]
    assert all(r.test is None for r in plain.runs)


@pytest.mark.parametrize("test, words", [
    ({}, "num_test, mc_samples"),
    ({"num_test": 10, "mc_samples": 0, "weight_scaling": {}, "mc": {}}, "mc_samples is 0"),
    ({"num_test": 10, "mc_samples": 2, "weight_scaling": {"accuracy": 1}, "mc": {}}, "weight_scaling is not"),
    ({"num_test": 10, "mc_samples": 2, "weight_scaling": {"accuracy": 0.5, "nll": None, "brier": 0.1, "ece": "x"},
      "mc": {"accuracy": 0.5, "nll": 1.0, "brier": 0.1, "ece": 0.0}}, "weight_scaling.ece is 'x'"),
])
def test_a_run_records_test_metrics_are_checked_when_read(test, words):
    """results.json comes back from disk: a malformed ``test`` is a clear error, never a KeyError later
    (the command line prints the test table from it)."""
    from dropout_lab.experiments import RunResult

    record = RunResult(1.0, 0, [2.3], [0.1, 0.2], [0.1, 0.2], 0.2, 0.2, 0.2, 1.0).to_dict()
    with pytest.raises(InvalidArgumentError, match=words):
        RunResult.from_dict({**record, "test": test})
    good = {"accuracy": 0.5, "nll": None, "brier": 0.1, "ece": 0.0}
    assert RunResult.from_dict({**record, "test": {"num_test": 10, "mc_samples": 2, "weight_scaling": good,
                                                   "mc": good}}).test["mc"] == good


def test_a_test_evaluation_of_given_arrays_needs_their_test_split_before_any_training(monkeypatch):
    data = load_experiment_data(ExperimentConfig(**BASE))  # X_train, y_train, X_val, y_val only
    monkeypatch.setattr(scheduler.Run, "advance", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(InvalidArgumentError, match="mc_samples 2 needs a test split: data must also hold X_test"):
        run_experiment(ExperimentConfig(**BASE, mc_samples=2), data=data, progress=False)
