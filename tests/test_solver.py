"""The Solver: overfitting, histories, the course's output, randomness, best parameters, lr decay,
divergence, validation, and exact resumption from checkpoints (including after SIGKILL)."""

from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dropout_lab import FullyConnectedNet
from dropout_lab.checkpoint import read_training_state, write_training_state
from dropout_lab.errors import (
    CheckpointError,
    InvalidArgumentError,
    InvalidTypeError,
    TrainingDivergedError,
)
from dropout_lab.layers.dropout import MASK_STREAM_VERSION
from dropout_lab.solver import Divergence, Solver

REPO_ROOT = Path(__file__).resolve().parent.parent

# Every test here runs with each kind of update kernels (the ``kernels`` fixture of conftest.py).
pytestmark = pytest.mark.usefixtures("kernels")


def make_data(seed: int, n_train: int, n_val: int, dim: tuple[int, ...], num_classes: int = 10):
    g = np.random.default_rng(seed)
    return {
        "X_train": g.standard_normal((n_train, *dim)),
        "y_train": g.integers(0, num_classes, n_train),
        "X_val": g.standard_normal((n_val, *dim)),
        "y_val": g.integers(0, num_classes, n_val),
    }


def small_net(init_seed: int = 1, **kwargs) -> FullyConnectedNet:
    kwargs.setdefault("rng", np.random.default_rng(init_seed))
    return FullyConnectedNet([12, 12], input_dim=8, num_classes=4, weight_scale=0.1, **kwargs)


SMALL_DATA = make_data(0, 40, 20, (8,), num_classes=4)


@pytest.fixture
def global_rng_state():
    """Tests that exercise NumPy's global generator put it back as they found it."""
    state = np.random.get_state()
    yield
    np.random.set_state(state)


# ----------------------------------------------------------------------------- stub models
class StepModel:
    """One parameter ``w`` (1,). Training: loss 1, gradient ``grad`` (so sgd adds ``lr * -grad``).
    Prediction: every example gets class ``int(w) % num_classes``. A buffer counts training calls.
    """

    def __init__(self, grad: float = -1.0, num_classes: int = 4, nan_at: int | None = None, nan_what="loss"):
        self.params = {"w": np.zeros(1)}
        self.grad = grad
        self.num_classes = num_classes
        self.nan_at = nan_at
        self.nan_what = nan_what
        self.calls = 0
        self.counter = np.zeros(1)
        self.batches: list[np.ndarray] = []

    def buffers(self):
        return {"counter": self.counter.copy()}

    def load_buffers(self, buffers):
        self.counter = buffers["counter"].copy()

    def loss(self, X, y=None):
        if y is None:
            cls = int(self.params["w"][0]) % self.num_classes
            scores = np.zeros((X.shape[0], self.num_classes))
            scores[:, cls] = 1.0
            return scores
        self.calls += 1
        self.counter = self.counter + 1
        self.batches.append(X.copy())
        loss, grad = 1.0, np.array([self.grad])
        if self.nan_at == self.calls:
            if self.nan_what == "loss":
                loss = float("nan")
            else:
                grad = np.array([np.inf])
        return loss, {"w": grad}


def stub_data(n_train: int = 10, y_val=None):
    y_val = np.array([0, 1, 1, 2, 2, 2, 2, 2, 3, 3]) if y_val is None else y_val
    return {
        "X_train": np.arange(n_train, dtype=np.float64).reshape(n_train, 1),
        "y_train": np.zeros(n_train, dtype=np.int64),
        "X_val": np.zeros((y_val.size, 1)),
        "y_val": y_val,
    }


# ----------------------------------------------------------------------------- training
def test_overfits_fifty_cifar_shaped_examples():
    data = make_data(3, 50, 20, (3, 8, 8))
    model = FullyConnectedNet([100, 100], input_dim=3 * 8 * 8, weight_scale=5e-2, rng=np.random.default_rng(4))
    solver = Solver(
        model, data, update_rule="adam", optim_config={"learning_rate": 1e-3}, num_epochs=20,
        batch_size=10, seed=5, verbose=False,
    )
    solver.train()
    assert solver.train_acc_history[-1] == 1.0
    # The loss falls from about log(10) (uniform guesses) to near zero.
    assert solver.loss_history[0] > 1.5 and np.mean(solver.loss_history[-5:]) < 0.2


@pytest.mark.parametrize("n_train, batch_size, per_epoch", [(40, 10, 4), (10, 10, 1), (5, 10, 1)])
def test_history_lengths(n_train, batch_size, per_epoch):
    data = dict(SMALL_DATA, X_train=SMALL_DATA["X_train"][:n_train], y_train=SMALL_DATA["y_train"][:n_train])
    solver = Solver(small_net(), data, num_epochs=3, batch_size=batch_size, seed=0, verbose=False)
    solver.train()
    assert len(solver.loss_history) == 3 * per_epoch == solver.iteration
    assert len(solver.train_acc_history) == len(solver.val_acc_history) == 4
    assert solver.epoch == 3


def test_epoch_zero_is_measured_before_any_step():
    model = StepModel()
    solver = Solver(model, stub_data(), update_rule="sgd", optim_config={"learning_rate": 1.0},
                    batch_size=10, num_epochs=3, seed=0, verbose=False)
    solver.train()
    # w = epoch after each one-step epoch: predictions 0, 1, 2, 3 against y_val's 1, 2, 5, 2 per class.
    assert solver.val_acc_history == [0.1, 0.2, 0.5, 0.2]


ITERATION_LINE = re.compile(r"^\(Iteration (\d+) / (\d+)\) loss: (\d+\.\d{6})$")
EPOCH_LINE = re.compile(r"^\(Epoch (\d+) / (\d+)\) train acc: (\d\.\d{6}); val_acc: (\d\.\d{6})$")


def test_verbose_output_has_the_course_format(capsys):
    solver = Solver(small_net(), SMALL_DATA, num_epochs=3, batch_size=10, print_every=5, seed=0)
    solver.train()
    lines = capsys.readouterr().out.splitlines()
    iterations = [ITERATION_LINE.match(line) for line in lines if line.startswith("(Iteration")]
    epochs = [EPOCH_LINE.match(line) for line in lines if line.startswith("(Epoch")]
    assert len(lines) == len(iterations) + len(epochs)
    assert all(iterations) and all(epochs)
    # 12 iterations, printed when t % 5 == 0 (t from 0): iterations 1, 6, 11.
    assert [int(m.group(1)) for m in iterations] == [1, 6, 11]
    assert {int(m.group(2)) for m in iterations} == {12}
    assert [float(m.group(3)) for m in iterations] == [
        float(f"{solver.loss_history[i]:f}") for i in (0, 5, 10)
    ]
    assert [(int(m.group(1)), int(m.group(2))) for m in epochs] == [(e, 3) for e in range(4)]
    assert [float(m.group(4)) for m in epochs] == solver.val_acc_history


def test_verbose_false_prints_nothing(capsys, tmp_path):
    solver = Solver(small_net(), SMALL_DATA, num_epochs=2, batch_size=10, seed=0, verbose=False,
                    checkpoint_name=str(tmp_path / "run"))
    solver.train()
    assert capsys.readouterr() == ("", "")


def test_seeded_runs_repeat_and_leave_the_global_generator_alone():
    before = np.random.get_state()
    runs = []
    for _ in range(2):
        model = small_net(dropout=0.6)
        solver = Solver(model, SMALL_DATA, update_rule="adam", num_epochs=2, batch_size=8,
                        num_train_samples=15, seed=11, verbose=False)
        solver.train()
        runs.append((model.params, solver.loss_history, solver.train_acc_history))
    after = np.random.get_state()
    assert before[0] == after[0] and np.array_equal(before[1], after[1]) and before[2:] == after[2:]
    (p1, l1, a1), (p2, l2, a2) = runs
    assert l1 == l2 and a1 == a2
    assert all(np.array_equal(p1[k], p2[k]) for k in p1)
    # A different seed draws different minibatches.
    other = Solver(small_net(dropout=0.6), SMALL_DATA, update_rule="adam", num_epochs=2, batch_size=8,
                   seed=12, verbose=False)
    other.train()
    assert other.loss_history != l1


def test_rng_and_seed_are_the_same_stream():
    losses = []
    for kwargs in ({"seed": 5}, {"rng": np.random.default_rng(5)}):
        solver = Solver(small_net(), SMALL_DATA, num_epochs=1, batch_size=8, verbose=False, **kwargs)
        solver.train()
        losses.append(solver.loss_history)
    assert losses[0] == losses[1]


def test_without_rng_minibatches_come_from_the_global_generator(global_rng_state):
    np.random.seed(7)
    model = StepModel()
    solver = Solver(model, stub_data(n_train=30), batch_size=5, num_epochs=2, num_train_samples=None,
                    verbose=False)
    solver.train()
    np.random.seed(7)
    # No subsampling (num_train_samples=None, val 10 <= N), so the only draws are the 12 minibatches.
    expected = [np.random.choice(30, 5) for _ in range(12)]
    assert [b[:, 0].astype(int).tolist() for b in model.batches] == [e.tolist() for e in expected]


def test_check_accuracy_subsamples_with_replacement_and_batches():
    class Recorder(StepModel):
        def __init__(self):
            super().__init__()
            self.sizes = []

        def loss(self, X, y=None):
            if y is None:
                self.sizes.append(X.shape[0])
                # Predict the example's own first feature as its class.
                scores = np.zeros((X.shape[0], self.num_classes))
                scores[np.arange(X.shape[0]), X[:, 0].astype(int)] = 1.0
                return scores
            return super().loss(X, y)

    model = Recorder()
    g = np.random.default_rng(3)
    X = g.integers(0, 4, (250, 1)).astype(float)
    y = g.integers(0, 4, 250)
    solver = Solver(model, stub_data(), seed=21, verbose=False)
    acc = solver.check_accuracy(X, y)
    assert model.sizes == [100, 100, 50]
    assert acc == np.count_nonzero(X[:, 0] == y) / 250
    acc = solver.check_accuracy(X, y, num_samples=60, batch_size=25)
    assert model.sizes[3:] == [25, 25, 10]
    idx = np.random.default_rng(21).choice(250, 60)  # the Solver's stream, untouched until now
    assert acc == np.count_nonzero(X[idx, 0] == y[idx]) / 60
    with pytest.raises(InvalidArgumentError, match="num_samples"):
        solver.check_accuracy(X, y, num_samples=0)
    with pytest.raises(InvalidArgumentError, match="y must"):
        solver.check_accuracy(X, y[:10])


def test_seeded_dropout_model_warns():
    model = small_net(dropout=0.5, seed=3, rng=None)
    with pytest.warns(UserWarning, match="same units are dropped at every step") as record:
        Solver(model, SMALL_DATA, verbose=False)
    assert "rng=" in str(record[0].message)
    # No warning for a Generator-driven dropout model or a seeded model without dropout
    # (filterwarnings = error would turn one into a failure).
    Solver(small_net(dropout=0.5), SMALL_DATA, verbose=False)
    Solver(small_net(seed=3, rng=None), SMALL_DATA, verbose=False)


def test_a_model_of_any_class_with_fixed_masks_warns():
    """The Solver asks the model (fixed_dropout_masks), not its class."""
    model = StepModel()
    model.fixed_dropout_masks = True
    with pytest.warns(UserWarning, match="same units are dropped at every step"):
        Solver(model, stub_data(), verbose=False)
    model.fixed_dropout_masks = False
    Solver(model, stub_data(), verbose=False)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"learning_rate": 1e-3}, "Solver() got an unexpected keyword argument 'learning_rate'"),
        ({"lr": 1, "epochs": 3}, "Solver() got unexpected keyword arguments 'epochs', 'lr'"),
    ],
)
def test_an_unknown_keyword_is_a_type_error_as_python_raises(kwargs, message):
    with pytest.raises(TypeError) as info:
        Solver(small_net(), SMALL_DATA, verbose=False, **kwargs)
    assert str(info.value) == message
    assert isinstance(info.value, InvalidTypeError) and not isinstance(info.value, ValueError)


def test_learning_rate_decays_after_each_epoch():
    model = StepModel(grad=-1.0)
    seen = []

    def record(s: Solver) -> None:
        seen.append((s.epoch, model.params["w"][0], s.optim_configs["w"]["learning_rate"]))

    solver = Solver(model, stub_data(n_train=20), update_rule="sgd", optim_config={"learning_rate": 0.5},
                    lr_decay=0.5, batch_size=10, num_epochs=3, seed=0, verbose=False, on_epoch_end=record)
    solver.train()
    lr, w, expected = 0.5, 0.0, []
    for epoch in (1, 2, 3):
        w += 2 * lr  # two steps of w - lr * (-1)
        lr *= 0.5
        expected.append((epoch, w, lr))
    assert seen == expected
    assert solver.optim_config == {"learning_rate": 0.5}


def test_optimizer_configs_are_separate_deep_copies():
    config = {"learning_rate": 1e-2, "momentum": 0.5}
    model = small_net()
    solver = Solver(model, SMALL_DATA, update_rule="sgd_momentum", optim_config=config, num_epochs=1,
                    batch_size=10, seed=0, verbose=False)
    solver.train()
    assert config == {"learning_rate": 1e-2, "momentum": 0.5}
    assert list(solver.optim_configs) == list(model.params)
    for name, c in solver.optim_configs.items():
        assert c["velocity"].shape == model.params[name].shape


def test_best_parameters_and_buffers_are_restored():
    model = StepModel()
    solver = Solver(model, stub_data(), update_rule="sgd", optim_config={"learning_rate": 1.0},
                    batch_size=10, num_epochs=3, seed=0, verbose=False)
    solver.train()
    # Accuracies 0.1, 0.2, 0.5, 0.2: epoch 2 is best, the last epoch is worse.
    assert solver.best_val_acc == 0.5 and solver.best_epoch == 2
    assert model.params["w"][0] == 2.0
    assert model.counter[0] == 2.0  # the buffer as it was after epoch 2, not 3
    assert solver.best_params["w"] is not model.params["w"]


def test_on_epoch_end_is_called_after_each_epoch():
    epochs = []
    solver = Solver(small_net(), SMALL_DATA, num_epochs=3, batch_size=20, seed=0, verbose=False,
                    on_epoch_end=lambda s: epochs.append((s.epoch, len(s.val_acc_history))))
    solver.train()
    assert epochs == [(1, 2), (2, 3), (3, 4)]


# ----------------------------------------------------------------------------- divergence
@pytest.mark.parametrize("what, label", [("loss", "loss"), ("grad", "grads['w']")])
def test_nan_stops_at_that_iteration_and_keeps_the_best(what, label):
    model = StepModel(nan_at=4, nan_what=what)
    solver = Solver(model, stub_data(n_train=20), update_rule="sgd", optim_config={"learning_rate": 0.5},
                    batch_size=10, num_epochs=5, seed=0, verbose=False)
    with pytest.raises(TrainingDivergedError) as info:
        solver.train()
    message = str(info.value)
    assert "iteration 4 / 10" in message and "epoch 2 / 5" in message
    assert label in message and "learning rate" in message and "learning_rate 0.5" in message
    assert solver.diverged == Divergence(iteration=4, epoch=2, what=label)
    assert len(solver.loss_history) == 3
    # w was 1.0 after epoch 1 (the best: accuracy 0.2 > 0.1), 1.5 after step 3; the NaN step did nothing.
    assert model.params["w"][0] == 1.0 and model.counter[0] == 2.0
    assert solver.optim_configs["w"]["learning_rate"] == 0.5 * 1.0  # no decay: epoch 2 never ended
    assert isinstance(info.value, ArithmeticError)


def test_an_update_that_overflows_is_not_applied():
    model = StepModel(grad=-1e308)
    solver = Solver(model, stub_data(), update_rule="sgd", optim_config={"learning_rate": 10.0},
                    batch_size=10, num_epochs=2, seed=0, verbose=False)
    with pytest.raises(TrainingDivergedError, match="the update of w") as info:
        solver.train()
    assert "iteration 1 / 2" in str(info.value)
    assert solver.diverged == Divergence(1, 1, "the update of w")
    assert model.params["w"][0] == 0.0 and solver.loss_history == []


def test_huge_learning_rate_diverges_with_a_clear_error():
    model = small_net()
    solver = Solver(model, SMALL_DATA, update_rule="sgd", optim_config={"learning_rate": 1e35},
                    batch_size=10, num_epochs=5, seed=0, verbose=False)
    with pytest.raises(TrainingDivergedError, match="learning rate"):
        solver.train()
    assert solver.diverged is not None
    assert all(np.array_equal(model.params[k], solver.best_params[k]) for k in model.params)
    assert all(np.all(np.isfinite(v)) for v in model.params.values())


def test_training_again_after_a_divergence_clears_it():
    """diverged describes the last call of train(): a Solver trained on with a smaller learning rate
    reports no divergence once it has finished."""
    model = small_net()
    solver = Solver(model, SMALL_DATA, update_rule="sgd", optim_config={"learning_rate": 1e35},
                    batch_size=10, num_epochs=2, seed=0, verbose=False)
    with pytest.raises(TrainingDivergedError):
        solver.train()
    assert solver.diverged is not None
    for config in solver.optim_configs.values():
        config["learning_rate"] = 1e-3
    solver.train()
    assert solver.finished and solver.diverged is None


def test_a_gradient_of_another_shape_names_its_parameter():
    class WrongGrad:
        params = {"W": np.zeros((4, 3)), "b": np.zeros(3)}

        def loss(self, X, y=None):
            if y is None:
                return np.zeros((len(X), 3))
            return 1.0, {"W": np.zeros((3, 4)), "b": np.zeros(3)}

    data = {"X_train": np.zeros((10, 4)), "y_train": np.zeros(10, dtype=np.int64),
            "X_val": np.zeros((5, 4)), "y_val": np.zeros(5, dtype=np.int64)}
    solver = Solver(WrongGrad(), data, batch_size=5, num_epochs=1, seed=0, verbose=False)
    with pytest.raises(InvalidArgumentError, match=r"gradient of shape \(3, 4\) for parameter 'W' of shape \(4, 3\)"):
        solver.train()


def test_nan_is_recorded_when_not_stopping():
    model = StepModel(nan_at=2)
    solver = Solver(model, stub_data(), batch_size=10, num_epochs=3, seed=0, verbose=False,
                    stop_on_nonfinite=False)
    solver.train()
    assert math.isnan(solver.loss_history[1]) and len(solver.loss_history) == 3
    assert solver.diverged is None


# ----------------------------------------------------------------------------- bad arguments
def bad(**changes):
    data = dict(SMALL_DATA)
    data.update(changes.pop("data", {}))
    for key in changes.pop("drop", ()):
        del data[key]
    return data, changes


@pytest.mark.parametrize(
    "data_changes, kwargs, error, words",
    [
        ({}, {"learning_rate": 1e-3, "epochs": 3}, InvalidTypeError,
         "Solver() got unexpected keyword arguments 'epochs', 'learning_rate'"),
        ({"drop": ["y_val"]}, {}, InvalidArgumentError, "missing keys ['y_val']"),
        ({"data": {"y_train": SMALL_DATA["y_train"][:-1]}}, {}, InvalidArgumentError,
         "data['y_train'] must have shape (40,)"),
        ({"data": {"y_val": SMALL_DATA["y_val"].astype(float)}}, {}, InvalidTypeError, "data['y_val']"),
        ({"data": {"y_val": SMALL_DATA["y_val"] + 4}}, {}, InvalidArgumentError, "[0, 4)"),
        ({"data": {"X_val": np.zeros((20, 9))}}, {}, InvalidArgumentError, "input_dim=8"),
        ({"data": {"X_train": list(SMALL_DATA["X_train"])}}, {}, InvalidTypeError, "data['X_train']"),
        ({}, {"update_rule": "adamw"}, InvalidArgumentError, "'adamw'"),
        ({}, {"update_rule": "adam", "optim_config": {"learning_rte": 1e-3}}, InvalidArgumentError, "learning_rte"),
        ({}, {"update_rule": "sgd_momentum", "optim_config": {"momentum": 1.2}}, InvalidArgumentError, "momentum"),
        ({}, {"optim_config": [1]}, InvalidTypeError, "optim_config"),
        ({}, {"batch_size": 0}, InvalidArgumentError, "batch_size"),
        ({}, {"batch_size": 2.5}, InvalidTypeError, "batch_size"),
        ({}, {"num_epochs": -1}, InvalidArgumentError, "num_epochs"),
        ({}, {"lr_decay": 0.0}, InvalidArgumentError, "lr_decay"),
        ({}, {"num_train_samples": 0}, InvalidArgumentError, "num_train_samples"),
        ({}, {"num_val_samples": "all"}, InvalidTypeError, "num_val_samples"),
        ({}, {"print_every": 0}, InvalidArgumentError, "print_every"),
        ({}, {"verbose": "yes"}, InvalidTypeError, "verbose"),
        ({}, {"stop_on_nonfinite": None}, InvalidTypeError, "stop_on_nonfinite"),
        ({}, {"checkpoint_every": 0}, InvalidArgumentError, "checkpoint_every"),
        ({}, {"checkpoint_name": "/nonexistent-folder-xyz/run"}, InvalidArgumentError, "folder must exist"),
        ({}, {"on_epoch_end": 3}, InvalidTypeError, "on_epoch_end"),
        ({}, {"should_stop": True}, InvalidTypeError, "should_stop"),
        ({}, {"rng": 3}, InvalidTypeError, "rng"),
        ({}, {"seed": -1}, InvalidArgumentError, "seed"),
        ({}, {"seed": 1, "rng": np.random.default_rng(1)}, InvalidArgumentError, "not both"),
    ],
)
def test_bad_arguments_are_refused_before_training(data_changes, kwargs, error, words, capsys):
    data, _ = bad(**data_changes)
    model = small_net()
    before = {k: v.copy() for k, v in model.params.items()}
    with pytest.raises(error) as info:
        Solver(model, data, **kwargs)
    assert words in str(info.value)
    assert all(np.array_equal(before[k], model.params[k]) for k in before)
    assert capsys.readouterr().out == ""


def test_checkpoint_every_without_a_name_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    solver = Solver(small_net(), SMALL_DATA, num_epochs=2, batch_size=20, seed=0, verbose=False,
                    checkpoint_every=1)
    solver.train()
    assert solver.checkpoint_name is None and list(tmp_path.iterdir()) == []


def test_a_model_without_params_or_loss_is_refused():
    with pytest.raises(InvalidTypeError, match="params dict and a loss"):
        Solver(object(), SMALL_DATA)


# ----------------------------------------------------------------------------- checkpoints and resume
def assert_same_run(a: Solver, b: Solver) -> None:
    """Bit-for-bit: parameters, buffers, histories, best state, optimizer state, counters, generators."""
    assert list(a.model.params) == list(b.model.params)
    for k in a.model.params:
        assert a.model.params[k].dtype == b.model.params[k].dtype
        assert np.array_equal(a.model.params[k], b.model.params[k]), k
        assert np.array_equal(a.best_params[k], b.best_params[k]), k
    ba, bb = a.model.buffers(), b.model.buffers()
    assert ba.keys() == bb.keys() and all(np.array_equal(ba[k], bb[k]) for k in ba)
    assert a.best_buffers.keys() == b.best_buffers.keys()
    assert all(np.array_equal(a.best_buffers[k], b.best_buffers[k]) for k in a.best_buffers)
    assert a.loss_history == b.loss_history
    assert a.train_acc_history == b.train_acc_history
    assert a.val_acc_history == b.val_acc_history
    assert (a.best_val_acc, a.best_epoch, a.epoch, a.iteration) == (b.best_val_acc, b.best_epoch, b.epoch, b.iteration)
    for name in a.optim_configs:
        ca, cb = a.optim_configs[name], b.optim_configs[name]
        assert ca.keys() == cb.keys()
        for key in ca:
            if isinstance(ca[key], np.ndarray):
                assert ca[key].dtype == cb[key].dtype and np.array_equal(ca[key], cb[key]), (name, key)
            else:
                assert type(ca[key]) is type(cb[key]) and ca[key] == cb[key], (name, key)
    if a.rng is not None:
        assert a.rng.bit_generator.state == b.rng.bit_generator.state
    if isinstance(a.model.rng, np.random.Generator):
        assert a.model.rng.bit_generator.state == b.model.rng.bit_generator.state


CASES = {
    "adam-dropout": dict(
        model=lambda seed: small_net(seed, dropout=0.7, input_dropout=0.9),
        kwargs=dict(update_rule="adam", optim_config={"learning_rate": 5e-3}, lr_decay=0.9,
                    num_train_samples=25, num_val_samples=10),
    ),
    "sgd_momentum-batchnorm": dict(
        model=lambda seed: small_net(seed, normalization="batchnorm", dtype=np.float64),
        kwargs=dict(update_rule="sgd_momentum", optim_config={"learning_rate": 2e-2}, lr_decay=0.8),
    ),
    "rmsprop-layernorm-shared-rng": dict(
        model=lambda seed: small_net(seed, normalization="layernorm", dropout=0.8),
        kwargs=dict(update_rule="rmsprop", num_train_samples=30),
        share=True,
    ),
}


def build(case: str, model_seed: int, solver_seed: int, **extra) -> Solver:
    spec = CASES[case]
    model = spec["model"](model_seed)
    kwargs = dict(spec["kwargs"], batch_size=8, num_epochs=4, verbose=False)
    kwargs.update(extra)
    if spec.get("share"):
        kwargs["rng"] = model.rng  # one Generator for masks and minibatches
    else:
        kwargs["seed"] = solver_seed
    return Solver(model, SMALL_DATA, **kwargs)


@pytest.mark.parametrize("case", sorted(CASES))
def test_resume_is_exact(case, tmp_path):
    reference = build(case, 1, 2)
    reference.train()
    checkpointed = build(case, 1, 2, checkpoint_name=str(tmp_path / "run"))
    checkpointed.train()
    assert_same_run(reference, checkpointed)  # writing checkpoints changes nothing
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "run_epoch_1.npz", "run_epoch_2.npz", "run_epoch_3.npz", "run_epoch_4.npz", "run_latest.npz",
    ]
    for epoch in (1, 2, 4):
        # Another initialisation and other seeds: everything must come from the checkpoint.
        resumed = build(case, 9, 9)
        resumed.resume(tmp_path / f"run_epoch_{epoch}.npz")
        assert resumed.epoch == epoch and len(resumed.val_acc_history) == epoch + 1
        resumed.train()
        assert_same_run(reference, resumed)


def test_resume_is_exact_with_the_global_generator(tmp_path, global_rng_state):
    def run(**extra):
        np.random.seed(123)
        model = small_net(dropout=0.7, rng=None)  # weights and masks from NumPy's global generator
        solver = Solver(model, SMALL_DATA, update_rule="adam", batch_size=8, num_epochs=3,
                        num_train_samples=20, verbose=False, **extra)
        return solver

    reference = run()
    reference.train()
    run(checkpoint_name=str(tmp_path / "g")).train()
    np.random.seed(999)
    resumed = Solver(small_net(dropout=0.7, rng=None), SMALL_DATA, update_rule="adam", batch_size=8,
                     num_epochs=3, num_train_samples=20, verbose=False, resume_from=tmp_path / "g_epoch_1.npz")
    resumed.train()
    assert resumed.rng is None
    assert_same_run(reference, resumed)


def test_resume_with_more_epochs_extends_the_run(tmp_path):
    reference = build("adam-dropout", 1, 2)
    reference.train()
    short = build("adam-dropout", 1, 2, checkpoint_name=str(tmp_path / "short"))
    short.num_epochs = 2  # the same run, stopped after two epochs
    short.train()
    longer = build("adam-dropout", 5, 6, resume_from=tmp_path / "short_latest.npz")
    longer.train()
    assert_same_run(reference, longer)


class StopAfter:
    """A should_stop flag that turns True after ``n`` polls (one poll per step)."""

    def __init__(self, n: int):
        self.n, self.polls = n, 0

    def __call__(self) -> bool:
        self.polls += 1
        return self.polls >= self.n


# Five steps per epoch: mid-epoch 1, at the end of epoch 2, mid-epoch 3.
@pytest.mark.parametrize("stop_after", [3, 10, 13])
def test_should_stop_writes_latest_and_resumes_exactly_mid_epoch(tmp_path, stop_after):
    reference = build("adam-dropout", 1, 2)
    reference.train()
    stopped = build("adam-dropout", 1, 2, checkpoint_name=str(tmp_path / "s"),
                    should_stop=StopAfter(stop_after))
    stopped.train()
    assert stopped.interrupted and stopped.iteration == stop_after
    assert stopped.epoch == stop_after // 5 and len(stopped.loss_history) == stop_after
    state = read_training_state(tmp_path / "s_latest.npz")
    assert state.iteration == stop_after and state.epoch == stop_after // 5
    resumed = build("adam-dropout", 7, 8, resume_from=tmp_path / "s_latest.npz")
    resumed.train()
    assert not resumed.interrupted
    assert_same_run(reference, resumed)
    # Without a fresh Solver: train() again on the interrupted one continues the same run.
    stopped.should_stop = None
    stopped.train()
    assert_same_run(reference, stopped)


def test_should_stop_is_not_polled_after_the_last_step():
    polls = StopAfter(10**9)
    solver = Solver(small_net(), SMALL_DATA, num_epochs=2, batch_size=10, seed=0, verbose=False,
                    should_stop=polls)
    solver.train()
    assert polls.polls == solver.iteration - 1 == 7 and not solver.interrupted


@pytest.mark.parametrize("chunks", [[1, 1, 1], [2, 1], [5]])
def test_training_a_few_epochs_at_a_time_gives_the_same_run(chunks):
    """train(epochs) stops at an epoch's end and picks up there: the experiment runner interleaves
    runs this way, and it must not change a number."""
    whole = Solver(small_net(dropout=0.5, rng=np.random.default_rng(3)), SMALL_DATA, num_epochs=3,
                   batch_size=10, update_rule="adam", seed=0, verbose=False)
    whole.train()
    parts = Solver(small_net(dropout=0.5, rng=np.random.default_rng(3)), SMALL_DATA, num_epochs=3,
                   batch_size=10, update_rule="adam", seed=0, verbose=False)
    for i, epochs in enumerate(chunks):
        assert not parts.finished
        parts.train(epochs)
        assert parts.epoch == min(sum(chunks[: i + 1]), 3) and not parts.interrupted
    assert parts.finished and parts.iteration == whole.iteration
    assert parts.loss_history == whole.loss_history
    assert parts.val_acc_history == whole.val_acc_history
    for name, w in whole.model.params.items():
        assert np.array_equal(parts.model.params[name], w)  # the best parameters, restored at the end


def test_train_epochs_restores_the_best_parameters_only_at_the_end(monkeypatch):
    solver = Solver(small_net(), SMALL_DATA, num_epochs=3, batch_size=10, seed=0, verbose=False)
    restored = []
    real = solver._restore_best
    monkeypatch.setattr(solver, "_restore_best", lambda: (restored.append(solver.epoch), real()))
    for _ in range(3):
        solver.train(1)
    assert restored == [3] and solver.finished
    solver.train(1)  # finished: no step, the best parameters again
    assert restored == [3, 3] and solver.iteration == 3 * 4


def test_checkpoint_every_and_latest(tmp_path, capsys):
    solver = Solver(small_net(), SMALL_DATA, num_epochs=5, batch_size=20, seed=0, print_every=100,
                    checkpoint_name=str(tmp_path / "c"), checkpoint_every=2)
    solver.train()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["c_epoch_2.npz", "c_epoch_4.npz", "c_epoch_5.npz", "c_latest.npz"]
    assert (tmp_path / "c_latest.npz").read_bytes() == (tmp_path / "c_epoch_5.npz").read_bytes()
    out = capsys.readouterr().out
    assert [line for line in out.splitlines() if line.startswith("Saving")] == [
        f'Saving checkpoint to "{tmp_path / f"c_epoch_{e}.npz"}"' for e in (2, 4, 5)
    ]
    state = read_training_state(tmp_path / "c_epoch_4.npz")
    assert (state.epoch, state.iteration, len(state.loss_history)) == (4, 8, 8)
    assert state.loss_history == solver.loss_history[:8]


def snapshot(solver: Solver):
    model = solver.model
    return (
        {k: v.copy() for k, v in model.params.items()},
        model.buffers(),
        model.rng.bit_generator.state if model.rng is not None else None,
        solver.rng.bit_generator.state if solver.rng is not None else None,
        (solver.epoch, solver.iteration, list(solver.loss_history), list(solver.val_acc_history)),
    )


def assert_untouched(before, solver: Solver) -> None:
    params, buffers, model_rng, solver_rng, counters = before
    after = snapshot(solver)
    assert all(np.array_equal(params[k], after[0][k]) for k in params)
    assert buffers.keys() == after[1].keys() and all(np.array_equal(buffers[k], after[1][k]) for k in buffers)
    assert (model_rng, solver_rng, counters) == after[2:]


@pytest.fixture(scope="module")
def batchnorm_checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ckpt")
    solver = build("sgd_momentum-batchnorm", 1, 2, checkpoint_name=str(folder / "bn"))
    solver.num_epochs = 2
    solver.train()
    return folder / "bn_epoch_2.npz"


def trained_target() -> Solver:
    """A Solver part-way through its own run, with buffers, so that 'untouched' means something."""
    solver = build("sgd_momentum-batchnorm", 3, 4)
    solver.num_epochs = 1
    solver.train()
    solver.num_epochs = 4
    return solver


def bn_solver(net=None, data=SMALL_DATA, **kwargs) -> Solver:
    """A fresh Solver like the one that wrote ``batchnorm_checkpoint``, with one thing changed."""
    if net is None:
        net = small_net(3, normalization="batchnorm", dtype=np.float64)
    kwargs = dict(dict(update_rule="sgd_momentum", batch_size=8, verbose=False), **kwargs)
    return Solver(net, data, **kwargs)


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda: bn_solver(batch_size=5), "batch_size=8"),
        (lambda: bn_solver(update_rule="adam"), "update_rule='sgd_momentum'"),
        (lambda: bn_solver(num_epochs=1), "num_epochs=1"),
        (lambda: bn_solver(FullyConnectedNet([12, 13], input_dim=8, num_classes=4, normalization="batchnorm",
                                             dtype=np.float64, rng=np.random.default_rng(0))),
         "shape (12, 12)"),
        (lambda: bn_solver(small_net(3, normalization="batchnorm")), "dtype"),
        (lambda: bn_solver(data={k: v[:30] for k, v in SMALL_DATA.items()}), "num_train=40"),
    ],
)
def test_a_checkpoint_that_does_not_fit_is_refused_untouched(batchnorm_checkpoint, change, words):
    solver = change()
    before = snapshot(solver)
    with pytest.raises(CheckpointError) as info:
        solver.resume(batchnorm_checkpoint)
    assert words in str(info.value) and str(batchnorm_checkpoint) in str(info.value)
    assert_untouched(before, solver)


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty", "garbage"])
def test_a_damaged_checkpoint_is_refused_untouched(batchnorm_checkpoint, tmp_path, damage):
    data = batchnorm_checkpoint.read_bytes()
    path = tmp_path / "damaged.npz"
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        # A byte in the middle of the archive, inside some array's data: the zip CRC catches it.
        middle = len(data) // 2
        path.write_bytes(data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :])
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        path.write_bytes(os.urandom(64))
    solver = trained_target()
    before = snapshot(solver)
    with pytest.raises(CheckpointError) as info:
        solver.resume(path)
    assert str(path) in str(info.value)
    assert_untouched(before, solver)


def test_a_model_checkpoint_cannot_resume_a_solver(tmp_path):
    from dropout_lab.checkpoint import save_checkpoint

    solver = trained_target()
    save_checkpoint(tmp_path / "model.npz", solver.model)
    before = snapshot(solver)
    with pytest.raises(CheckpointError, match="model's parameters only"):
        solver.resume(tmp_path / "model.npz")
    assert_untouched(before, solver)


def test_a_dropout_model_must_draw_masks_as_the_checkpointed_one_did(tmp_path):
    solver = build("adam-dropout", 1, 2, checkpoint_name=str(tmp_path / "d"))
    solver.num_epochs = 1
    solver.train()
    other = Solver(small_net(3, dropout=0.7, input_dropout=0.9, rng=None), SMALL_DATA, update_rule="adam",
                   batch_size=8, seed=1, verbose=False)
    before = snapshot(other)
    with pytest.raises(CheckpointError, match="global generator"):
        other.resume(tmp_path / "d_latest.npz")
    assert_untouched(before, other)


def test_a_checkpoint_of_another_mask_stream_is_refused(tmp_path):
    """The same Generator state gives other masks under another MASK_STREAM_VERSION: resuming would
    not continue the run that wrote the checkpoint."""
    solver = build("adam-dropout", 1, 2, checkpoint_name=str(tmp_path / "d"))
    solver.num_epochs = 1
    solver.train()
    state = read_training_state(tmp_path / "d_latest.npz")
    state.mask_stream_version = MASK_STREAM_VERSION - 1
    write_training_state([tmp_path / "old.npz"], state)
    other = build("adam-dropout", 3, 4)
    before = snapshot(other)
    with pytest.raises(CheckpointError, match=f"mask stream version {MASK_STREAM_VERSION - 1}") as info:
        other.resume(tmp_path / "old.npz")
    assert f"version {MASK_STREAM_VERSION}" in str(info.value) and "old.npz" in str(info.value)
    assert_untouched(before, other)
    other.resume(tmp_path / "d_latest.npz")  # the same state under this version resumes
    assert other.epoch == 1


# ----------------------------------------------------------------------------- SIGKILL and resume
KILL_EPOCHS = 30


def kill_test_solver(
    checkpoint_name: str | None = None, model_seed: int = 18, solver_seed: int = 19, **extra: Any
) -> Solver:
    """The run the SIGKILL test trains: in a child process (killed), here (uninterrupted), and here
    again from the child's last checkpoint."""
    data = make_data(17, 40, 16, (6,), num_classes=3)
    model = FullyConnectedNet([10], input_dim=6, num_classes=3, dropout=0.8, weight_scale=0.2,
                              rng=np.random.default_rng(model_seed))
    return Solver(model, data, update_rule="adam", optim_config={"learning_rate": 3e-3}, lr_decay=0.97,
                  batch_size=10, num_epochs=KILL_EPOCHS, num_train_samples=24, seed=solver_seed,
                  verbose=False, checkpoint_name=checkpoint_name, **extra)


CHILD = """
import sys, time
sys.path.insert(0, sys.argv[1])
from tests.test_solver import kill_test_solver
# Slow each epoch down so that the parent's kill lands in the middle of the run.
kill_test_solver(sys.argv[2], on_epoch_end=lambda solver: time.sleep(0.05)).train()
"""


def test_resume_after_sigkill_is_exact(tmp_path):
    name = str(tmp_path / "killed")
    latest = Path(name + "_latest.npz")
    stderr = tmp_path / "child-stderr.txt"
    with open(stderr, "wb") as err, subprocess.Popen(  # noqa: S603 - this interpreter, on the fixed CHILD script
        [sys.executable, "-c", CHILD, str(REPO_ROOT), name], stdout=subprocess.DEVNULL, stderr=err
    ) as child:
        try:
            deadline = time.monotonic() + 60
            while not latest.exists():
                assert child.poll() is None, stderr.read_text()
                assert time.monotonic() < deadline, "the child wrote no checkpoint in 60 s"
                time.sleep(0.01)
            # A reproducible "random" moment after the first checkpoint, well before the run can end
            # (30 epochs of at least 50 ms each).
            time.sleep(np.random.default_rng(2024).uniform(0.0, 0.5))
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    assert child.returncode == -signal.SIGKILL
    stopped_at = read_training_state(latest).epoch
    assert 1 <= stopped_at < KILL_EPOCHS
    for path in tmp_path.glob("killed_epoch_*.npz"):
        read_training_state(path)  # atomic writes: every checkpoint on disk is whole

    reference = kill_test_solver()
    reference.train()
    # A fresh model and Solver with other seeds: the checkpoint must restore everything.
    resumed = kill_test_solver(model_seed=0, solver_seed=1, resume_from=latest)
    assert resumed.epoch == stopped_at
    resumed.train()
    assert_same_run(reference, resumed)
