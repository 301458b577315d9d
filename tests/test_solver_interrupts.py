"""The Solver after an interrupt (issue 11, finding 7), and the run a checkpoint belongs to (finding 1).

A KeyboardInterrupt can land anywhere inside ``Solver.train``. Before, one during an epoch's accuracy
check left the epoch counted but its accuracies missing: the Solver's next checkpoint was refused by
its own loader, and ``train()`` again went on with histories one entry short.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dropout_lab import FullyConnectedNet
from dropout_lab.checkpoint import read_training_state
from dropout_lab.errors import CheckpointError, InvalidTypeError
from dropout_lab.solver import Solver


def data() -> dict[str, np.ndarray]:
    g = np.random.default_rng(0)
    return {
        "X_train": g.standard_normal((40, 8)),
        "y_train": g.integers(0, 4, 40),
        "X_val": g.standard_normal((30, 8)),
        "y_val": g.integers(0, 4, 30),
    }


def solver(tmp_path: Path | None = None, **kwargs: Any) -> Solver:
    model = FullyConnectedNet([12], input_dim=8, num_classes=4, weight_scale=0.1, dropout=0.5,
                              rng=np.random.default_rng(1))
    # Subsampled accuracies: the epoch records draw from the Solver's generator.
    options: dict[str, Any] = dict(update_rule="adam", optim_config={"learning_rate": 1e-2}, lr_decay=0.9,
                                   batch_size=10, num_epochs=3, num_train_samples=15, num_val_samples=20,
                                   verbose=False, seed=2)
    if tmp_path is not None:
        options["checkpoint_name"] = str(tmp_path / "run")
    options.update(kwargs)
    return Solver(model, data(), **options)


def run_of(s: Solver) -> tuple:
    return (s.loss_history, s.train_acc_history, s.val_acc_history, s.best_epoch, s.best_val_acc,
            {k: v.tobytes() for k, v in s.model.params.items()},
            {k: c["learning_rate"] for k, c in s.optim_configs.items()})


def interrupt_call(monkeypatch: pytest.MonkeyPatch, s: Solver, method: str, n: int) -> None:
    """Raise KeyboardInterrupt from the ``n``-th call (from 1) of ``s.<method>``, once."""
    original = getattr(s, method)
    calls = {"n": 0}

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == n:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(s, method, wrapped)


@pytest.fixture(scope="module")
def straight() -> tuple:
    s = solver()
    s.train()
    return run_of(s)


@pytest.mark.parametrize("n", range(1, 9))
def test_an_interrupted_accuracy_check_leaves_a_consistent_solver_that_continues_exactly(
    tmp_path, monkeypatch, straight, n
):
    # check_accuracy runs twice per epoch (train, then val), 4 epochs counting epoch 0: calls 1..8.
    s = solver(tmp_path)
    interrupt_call(monkeypatch, s, "check_accuracy", n)
    with pytest.raises(KeyboardInterrupt):
        s.train()
    assert len(s.train_acc_history) == len(s.val_acc_history) == (n - 1) // 2
    # The Solver can be saved, and its own loader takes the file.
    s._save_checkpoint(latest_only=True)
    state = read_training_state(s.checkpoint_path("latest"))
    assert (state.epoch, state.iteration) == (s.epoch, s.iteration)
    # Training again finishes the interrupted epoch first, with the same subsamples: the same run.
    s.train()
    assert run_of(s) == straight
    read_training_state(s.checkpoint_path("latest"))


@pytest.mark.parametrize("n", [1, 3, 4, 7, 9, 12])
def test_an_interrupt_in_the_model_leaves_a_consistent_solver(tmp_path, monkeypatch, n):
    # model.loss is called by each step (4 an epoch) and each accuracy check (2 an epoch, 1 batch each).
    s = solver(tmp_path)
    snapshots = []
    original = s._step

    def step(t: int) -> None:  # the parameters before each step
        snapshots.append({k: v.copy() for k, v in s.model.params.items()})
        original(t)

    monkeypatch.setattr(s, "_step", step)
    interrupt_call(monkeypatch, s.model, "loss", n)
    with pytest.raises(KeyboardInterrupt):
        s.train()
    assert len(s.loss_history) == s.iteration
    assert len(s.train_acc_history) == len(s.val_acc_history) in (s.epoch, s.epoch + 1)
    if snapshots and len(snapshots) > s.iteration:  # interrupted in a step: it was undone
        assert all(np.array_equal(snapshots[-1][k], v) for k, v in s.model.params.items())
    s._save_checkpoint(latest_only=True)
    read_training_state(s.checkpoint_path("latest"))
    s.train()
    assert s.finished and len(s.loss_history) == s.num_iterations
    assert len(s.train_acc_history) == len(s.val_acc_history) == s.num_epochs + 1
    read_training_state(s.checkpoint_path("latest"))


def test_an_interrupt_in_on_epoch_end_keeps_the_recorded_epoch(tmp_path, straight):
    calls = []

    def on_epoch_end(s: Solver) -> None:
        calls.append(s.epoch)
        if len(calls) == 2:
            raise KeyboardInterrupt

    s = solver(tmp_path, on_epoch_end=on_epoch_end)
    with pytest.raises(KeyboardInterrupt):
        s.train()
    assert s.epoch == 2 and len(s.val_acc_history) == 3
    s.train()
    assert calls == [1, 2, 3] and run_of(s) == straight


# ------------------------------------------------------------------------------- the run a checkpoint belongs to
def interrupted_checkpoint(tmp_path: Path, run_id: str | None) -> Path:
    s = solver(tmp_path, run_id=run_id, should_stop=lambda: True)
    s.train()
    assert s.interrupted
    return s.checkpoint_path("latest")


@pytest.mark.parametrize(
    "written, resumed, words",
    [
        ('{"keep_prob": 0.5, "lr": 0.0005}', '{"keep_prob": 0.5000001, "lr": 0.0005}',
         "keep_prob: 0.5 there, 0.5000001 here"),
        ('{"keep_prob": 0.5, "lr": 0.0005}', '{"keep_prob": 0.5, "lr": 0.01}', "lr: 0.0005 there, 0.01 here"),
        ('{"keep_prob": 0.5}', '{"keep_prob": 0.5, "reg": 0.1}', "reg: '(none)' there, 0.1 here"),
        ("run a", "run b", "run_id 'run a' there, 'run b' here"),
        ("run a", None, "no run_id here"),
        (None, "run a", "no run_id there"),
    ],
)
def test_a_checkpoint_of_another_run_is_refused(tmp_path, written, resumed, words):
    path = interrupted_checkpoint(tmp_path, written)
    other = solver(tmp_path, run_id=resumed)
    with pytest.raises(CheckpointError, match="belongs to another run") as info:
        other.resume(path)
    assert words in str(info.value) and str(path) in str(info.value)
    assert other.iteration == 0 and other.loss_history == []
    same = solver(tmp_path, run_id=written)
    same.resume(path)
    assert same.iteration == 1
    assert read_training_state(path).settings["run_id"] == written


def test_run_id_must_be_a_string():
    with pytest.raises(InvalidTypeError, match="run_id"):
        solver(run_id=3)
