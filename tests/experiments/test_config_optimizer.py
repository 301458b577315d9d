"""The optimizer settings of Srivastava et al. 2014's MNIST runs in the experiment: ``momentum``,
``lr_decay`` and ``momentum_schedule``, as settings (swept like any other) that reach each run's Solver,
and the parsing of a momentum schedule's text."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from dropout_lab import cli
from dropout_lab.errors import InvalidArgumentError, InvalidTypeError
from dropout_lab.experiments import ExperimentConfig, RunSpec, load_experiment_data, load_study
from dropout_lab.experiments.config import parse_momentum_schedule
from dropout_lab.experiments.runs import _build_solver
from dropout_lab.optim import MomentumSchedule

# 40 examples in batches of 20: 2 steps an epoch.
BASE: dict[str, Any] = dict(keep_probs=(1.0, 0.5), hidden_dims=(8,), num_train=40, num_val=60, epochs=2,
                            batch_size=20, seeds=(0,))
SGD_MOMENTUM: dict[str, Any] = dict(BASE, update_rule="sgd_momentum", learning_rate=0.05)


@pytest.mark.parametrize("text, expected", [
    ("constant", MomentumSchedule()),
    ("linear:0.5:500", MomentumSchedule("linear", start=0.5, epochs=500.0)),
    (" linear:0:2.5 ", MomentumSchedule("linear", start=0.0, epochs=2.5)),
])
def test_momentum_schedules_are_read_from_text(text, expected):
    assert parse_momentum_schedule(text) == expected


@pytest.mark.parametrize("text, error, words", [
    ("cosine", InvalidArgumentError, "momentum_schedule must be 'constant' or 'linear:START:EPOCHS'"),
    ("linear:0.5", InvalidArgumentError, "got 'linear:0.5'"),
    ("linear:0.5:10:epoch", InvalidArgumentError, "got 'linear:0.5:10:epoch'"),
    ("linear:half:10", InvalidArgumentError, "got 'linear:half:10'"),
    ("constant:0.5", InvalidArgumentError, "got 'constant:0.5'"),
    ("linear:1.0:10", InvalidArgumentError, r"momentum_schedule 'linear:1.0:10': start must lie in \[0, 1\)"),
    ("linear:0.5:0", InvalidArgumentError, "epochs must be a finite number > 0, got 0.0"),
    ("linear:0.5:inf", InvalidArgumentError, "epochs must be a finite number > 0, got inf"),
    (0.5, InvalidTypeError, "momentum_schedule must be text such as 'linear:0.5:500', got float"),
])
def test_a_bad_momentum_schedule_is_refused_naming_what_was_given(text, error, words):
    with pytest.raises(error, match=words):
        ExperimentConfig(update_rule="sgd_momentum", momentum_schedule=text)


@pytest.mark.parametrize("kwargs, words", [
    (dict(momentum=0.5), "momentum 0.5 is a setting of update_rule 'sgd_momentum' only, got update_rule 'adam'"),
    (dict(momentum_schedule="linear:0.5:10"), "momentum_schedule 'linear:0.5:10' is a setting of update_rule "
     "'sgd_momentum' only, got update_rule 'adam'"),
    (dict(update_rule="sgd", momentum=0.0), "got update_rule 'sgd'"),
    (dict(momentum=0.9, sweep={"update_rule": ["sgd_momentum", "rmsprop"]}),
     "momentum 0.9 is a setting of update_rule 'sgd_momentum' only, got update_rule 'rmsprop'"),
    (dict(sweep={"update_rule": ["sgd_momentum", "adam"], "momentum": [0.5, 0.9]}), "got update_rule 'adam'"),
    (dict(sweep={"momentum_schedule": ["constant", "linear:0.5:3"]}), "'linear:0.5:3' is a setting"),
])
def test_the_momentum_settings_are_refused_with_another_rule(kwargs, words):
    with pytest.raises(InvalidArgumentError) as info:
        ExperimentConfig(**kwargs)
    assert words in str(info.value)


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(momentum=1.0), InvalidArgumentError, r"momentum must lie in \[0, 1\), got 1.0"),
    (dict(momentum=-0.1), InvalidArgumentError, r"momentum must lie in \[0, 1\), got -0.1"),
    (dict(momentum="0.9"), InvalidTypeError, "momentum must be a real number, got '0.9'"),
    (dict(lr_decay=0.0), InvalidArgumentError, "lr_decay must be a finite number > 0, got 0.0"),
    (dict(lr_decay=1.5), InvalidArgumentError, r"lr_decay must lie in \(0, 1\], got 1.5"),
    (dict(lr_decay=None), InvalidTypeError, "lr_decay must be a real number, got None"),
    (dict(sweep={"momentum": [0.5, 1.5]}), InvalidArgumentError, r"sweep momentum\[1\]: momentum must lie in"),
])
def test_bad_momenta_and_decays(kwargs, error, words):
    with pytest.raises(error, match=words):
        ExperimentConfig(**{"update_rule": "sgd_momentum", **kwargs})


def test_the_settings_at_their_defaults_leave_a_runs_identity_as_it_was():
    # RunSpec.identity() of these configs before the settings existed (main at 3c459ee): the checkpoints
    # and results of those runs still belong to them.
    before = [
        '{"batch_size": 100, "dataset": "digits", "dtype": "float32", "epochs": 25, "hidden_dims": [500], '
        '"keep_prob": 0.5, "learning_rate": 0.0005, "num_train": 500, "num_train_samples": null, "num_val": null, '
        '"reg": 0.0, "seed": 0, "threads_per_run": 1, "update_rule": "adam", "weight_scale": 0.01}',
        '{"batch_size": 100, "dataset": "digits", "dtype": "float32", "epochs": 25, "hidden_dims": [500], '
        '"keep_prob": 1.0, "learning_rate": 0.01, "max_norm": 3.0, "num_train": 500, "num_train_samples": null, '
        '"num_val": null, "reg": 0.0, "seed": 2, "threads_per_run": 1, "update_rule": "sgd_momentum", '
        '"weight_scale": 0.01}',
    ]
    plain = RunSpec(ExperimentConfig(), 0.5, 0)
    momentum = RunSpec(ExperimentConfig(update_rule="sgd_momentum", learning_rate=0.01, max_norm=3.0), 1.0, 2)
    assert [plain.identity(), momentum.identity()] == before
    # A config written before them (results.json, a checkpoint's folder) reads back to the same identity.
    new = ("momentum", "lr_decay", "momentum_schedule")
    old = {k: v for k, v in ExperimentConfig().to_dict().items() if k not in new}
    assert ExperimentConfig.from_dict(old).identity() == ExperimentConfig().identity()
    # Set, they are part of it.
    config = ExperimentConfig(update_rule="sgd_momentum", momentum=0.95, lr_decay=0.998,
                              momentum_schedule="linear:0.5:500")
    identity = json.loads(RunSpec(config, 0.5, 0).identity())
    assert [identity[k] for k in new] == [0.95, 0.998, "linear:0.5:500"]


def _recorded_steps(solver) -> list[tuple[dict[str, np.ndarray], dict[str, np.ndarray]]]:
    """(parameters before, gradients) of each update, copied, as the model's loss computes them."""
    steps: list[tuple[dict[str, np.ndarray], dict[str, np.ndarray]]] = []
    real = solver.model.loss

    def loss(X, y=None):
        out = real(X, y)
        if y is not None:
            steps.append(({k: w.copy() for k, w in solver.model.params.items()},
                          {k: g.copy() for k, g in out[1].items()}))
        return out

    solver.model.loss = loss
    return steps


def test_momentum_half_gives_the_hand_computed_updates():
    config = ExperimentConfig(**{**SGD_MOMENTUM, "epochs": 1, "dtype": "float64"}, momentum=0.5)
    ended = []  # the parameters at the end of the epoch, before the best ones are restored
    solver = _build_solver(RunSpec(config, 1.0, 0), load_experiment_data(config), None,
                           on_epoch_end=lambda s: ended.append({k: w.copy() for k, w in s.model.params.items()}))
    assert solver.optim_config == {"learning_rate": 0.05, "momentum": 0.5}
    steps = _recorded_steps(solver)
    solver.train()
    assert solver.iteration == 2 and len(steps) == 2
    (w0, dw0), (w1, dw1) = steps
    for name in w0:
        # v = 0.5 v - lr dw, w = w + v, from v = 0 (the course's sgd_momentum)
        v1 = -0.05 * dw0[name]
        assert np.array_equal(w1[name], w0[name] + v1), name
        v2 = 0.5 * v1 - 0.05 * dw1[name]
        assert np.array_equal(ended[0][name], w1[name] + v2), name
        assert np.array_equal(solver.optim_configs[name]["velocity"], v2), name
        assert solver.optim_configs[name]["momentum"] == 0.5


def test_lr_decay_and_the_momentum_schedule_reach_the_solver():
    config = ExperimentConfig(**SGD_MOMENTUM, momentum=0.95, lr_decay=0.5, momentum_schedule="linear:0.5:1.5")
    solver = _build_solver(RunSpec(config, 0.5, 0), load_experiment_data(config), None)
    assert solver.lr_decay == 0.5
    assert solver.momentum_schedule == MomentumSchedule("linear", start=0.5, epochs=1.5)
    seen = []
    real = solver.model.loss
    solver.model.loss = lambda X, y=None: (seen.append(solver.optim_configs["W1"]["momentum"]) if y is not None
                                           else None) or real(X, y)
    solver.train()
    # 2 steps an epoch, 2 epochs: the learning rate halved after each; the momentum at t / 2 epochs.
    assert all(c["learning_rate"] == 0.05 * 0.5 * 0.5 for c in solver.optim_configs.values())
    assert seen == pytest.approx([0.5, 0.5 + 0.45 / 3, 0.5 + 0.45 * 2 / 3, 0.95], rel=1e-15)
    # Without them: the rule's momentum and a constant rate.
    plain = _build_solver(RunSpec(ExperimentConfig(**SGD_MOMENTUM), 0.5, 0), load_experiment_data(config), None)
    assert (plain.lr_decay, plain.momentum_schedule, plain.optim_config) == (1.0, None, {"learning_rate": 0.05})


def test_the_settings_sweep_and_come_from_a_study_file(tmp_path):
    study = tmp_path / "study.toml"
    study.write_text('update_rule = "sgd_momentum"\nmomentum = [0.5, 0.95]\nlr_decay = 0.998\n'
                     'momentum_schedule = "linear:0.5:500"\n', encoding="utf-8")
    config = load_study(study)
    assert (config.lr_decay, config.momentum_schedule, config.sweep) == (0.998, "linear:0.5:500",
                                                                         {"momentum": (0.5, 0.95)})
    assert [cell.momentum for _, cell in config.cells()] == [0.5, 0.95]
    study.write_text('momentum_schedule = "linear:0.5:500"\n', encoding="utf-8")
    with pytest.raises(InvalidArgumentError, match="study.toml: momentum_schedule 'linear:0.5:500' is a setting"):
        load_study(study)


def test_the_command_line_sweeps_the_new_options(tmp_path):
    argv = ["experiment", "--quiet", "--keep-probs", "1,0.5", "--hidden-dims", "8", "--num-train", "40",
            "--epochs", "2", "--batch-size", "20", "--update-rule", "sgd_momentum", "--momentum", "0.5,0.9",
            "--lr-decay", "0.9", "--momentum-schedule", "constant,linear:0.5:1", "--out", str(tmp_path / "exp")]
    assert cli.main(argv) == 0
    saved = json.loads((tmp_path / "exp" / "results.json").read_text())
    assert saved["grid"] == {"momentum": [0.5, 0.9], "momentum_schedule": ["constant", "linear:0.5:1"]}
    assert saved["config"]["lr_decay"] == 0.9 and len(saved["runs"]) == 2 * 2 * 2


@pytest.mark.parametrize("flags, words", [
    (["--momentum", "0.5"], "--momentum 0.5 is a setting of update_rule 'sgd_momentum' only"),
    (["--update-rule", "sgd_momentum", "--momentum", "1"], "--momentum must lie in [0, 1), got 1.0"),
    (["--lr-decay", "2"], "--lr-decay must lie in (0, 1], got 2.0"),
    (["--update-rule", "sgd_momentum", "--momentum-schedule", "linear:0.5"], "--momentum-schedule must be"),
    (["--update-rule", "sgd_momentum", "--momentum", "0.5,x"], "argument --momentum: expected a number, got 'x'"),
])
def test_bad_flags_are_one_line_naming_the_flag(tmp_path, capsys, flags, words):
    assert cli.main(["experiment", "--quiet", *flags, "--out", str(tmp_path / "exp")]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1
    assert not (tmp_path / "exp").exists()
