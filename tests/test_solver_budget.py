"""The Solver's budget in steps (``num_steps``: a partial last epoch) and accuracies measured every
``eval_every`` epochs (``acc_epochs``), and exact resumption with both (issue 12)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dropout_lab.checkpoint import read_training_state
from dropout_lab.errors import CheckpointError
from dropout_lab.solver import Solver
from tests.test_solver import StepModel, StopAfter, assert_same_run, make_data, small_net, stub_data

# 45 examples in batches of 10: 4 steps an epoch (45 is not a multiple of the batch size).
DATA = make_data(5, 45, 20, (8,), num_classes=4)


def solver(**kwargs: Any) -> Solver:
    """A dropout net with adam and subsampled accuracies (the epoch records draw from the generator)."""
    options: dict[str, Any] = dict(update_rule="adam", optim_config={"learning_rate": 5e-3}, lr_decay=0.9,
                                   batch_size=10, num_train_samples=25, num_val_samples=10, verbose=False, seed=2)
    options.update(kwargs)
    seed = options.pop("model_seed", 1)
    return Solver(small_net(seed, dropout=0.7, rng=np.random.default_rng(seed)), DATA, **options)


def assert_same(a: Solver, b: Solver) -> None:
    assert_same_run(a, b)
    assert a.acc_epochs == b.acc_epochs and a.recorded_epochs == b.recorded_epochs
    assert a.num_epochs == b.num_epochs and a.finished == b.finished


def expected_acc_epochs(num_epochs: int, eval_every: int) -> list[int]:
    return sorted({*range(0, num_epochs + 1, eval_every), num_epochs})


# ----------------------------------------------------------------------------- num_steps
@pytest.mark.parametrize("num_steps, epochs", [(10, 3), (12, 3), (1, 1), (5, 2)])
def test_num_steps_takes_exactly_that_many_steps(num_steps, epochs):
    ended = []
    s = solver(num_steps=num_steps, num_epochs=50, on_epoch_end=lambda s: ended.append((s.epoch, s.iteration)))
    assert s.iterations_per_epoch == 4
    assert (s.num_epochs, s.num_iterations) == (epochs, num_steps) == (math.ceil(num_steps / 4), num_steps)
    s.train()
    assert s.finished and s.iteration == len(s.loss_history) == num_steps
    # The last epoch ends at the budget, partial or not: measured, and on_epoch_end called.
    assert s.epoch == epochs and s.acc_epochs == list(range(epochs + 1))
    assert len(s.train_acc_history) == len(s.val_acc_history) == epochs + 1
    assert ended == [(e, min(4 * e, num_steps)) for e in range(1, epochs + 1)]
    # Its learning rate decayed as at any epoch's end.
    assert all(c["learning_rate"] == pytest.approx(5e-3 * 0.9**epochs) for c in s.optim_configs.values())


def test_a_budget_of_whole_epochs_is_that_many_epochs():
    by_epochs = solver(num_epochs=3)
    by_epochs.train()
    by_steps = solver(num_steps=12, num_epochs=7)
    by_steps.train()
    assert_same(by_epochs, by_steps)


def test_a_budget_is_the_start_of_a_longer_run():
    longer = solver(num_epochs=4)
    longer.train()
    short = solver(num_steps=10)
    short.train()
    assert short.loss_history == longer.loss_history[:10]
    # Epochs 0 to 2 are those of the longer run; epoch 3 ends after 2 of its 4 steps.
    assert short.val_acc_history[:3] == longer.val_acc_history[:3]
    assert short.train_acc_history[:3] == longer.train_acc_history[:3]


def test_the_partial_last_epoch_is_checkpointed(tmp_path):
    s = solver(num_steps=10, checkpoint_name=str(tmp_path / "run"))
    s.train()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "run_epoch_1.npz", "run_epoch_2.npz", "run_epoch_3.npz", "run_latest.npz",
    ]
    state = read_training_state(tmp_path / "run_epoch_3.npz")
    assert (state.epoch, state.iteration, state.settings["num_steps"]) == (3, 10, 10)
    assert state.acc_epochs == [0, 1, 2, 3] and state.recorded_epochs == 4


def test_the_best_parameters_come_back_at_the_budget():
    model = StepModel()
    s = Solver(model, stub_data(), update_rule="sgd", optim_config={"learning_rate": 1.0}, batch_size=5,
               num_steps=5, seed=0, verbose=False)
    s.train()
    # Two steps an epoch, so three epochs, the last of one step; accuracies 0.1, 0.5 (w=2), 0.1, 0.2.
    assert (s.num_epochs, s.iteration, s.best_epoch, s.best_val_acc) == (3, 5, 1, 0.5)
    assert model.params["w"][0] == 2.0 and model.counter[0] == 2.0


@pytest.mark.parametrize("chunks", [[1, 1, 1], [2, 5]])
def test_training_a_few_epochs_at_a_time_reaches_the_budget(chunks):
    whole = solver(num_steps=10, eval_every=2)
    whole.train()
    parts = solver(num_steps=10, eval_every=2)
    for epochs in chunks:
        assert not parts.finished
        parts.train(epochs)
    assert parts.finished and parts.iteration == 10 and parts.epoch == 3
    assert_same(whole, parts)


# ----------------------------------------------------------------------------- eval_every
@given(st.integers(1, 7), st.integers(1, 9))
def test_acc_epochs_are_epoch_0_every_kth_and_the_last(num_epochs, eval_every):
    model = StepModel()
    s = Solver(model, stub_data(), update_rule="sgd", batch_size=10, num_epochs=num_epochs,
               eval_every=eval_every, seed=0, verbose=False)
    s.train()
    assert s.acc_epochs == expected_acc_epochs(num_epochs, eval_every)
    assert len(s.train_acc_history) == len(s.val_acc_history) == len(s.acc_epochs)
    assert s.best_epoch in s.acc_epochs


def test_the_default_measures_every_epoch():
    s = solver(num_epochs=3)
    assert s.eval_every == 1 and s.num_steps is None
    s.train()
    assert s.acc_epochs == [0, 1, 2, 3] and s.recorded_epochs == 4


@pytest.mark.parametrize("eval_every, num_steps", [(2, None), (3, None), (2, 18), (4, 13)])
def test_eval_every_measures_a_subsequence_of_the_same_run(eval_every, num_steps):
    """The epochs not measured draw the accuracy subsamples all the same: the steps, and the
    accuracies of the measured epochs, are those of eval_every=1."""
    params_at = {}

    def keep(s: Solver) -> None:
        params_at[s.epoch] = {k: v.copy() for k, v in s.model.params.items()}

    every = solver(num_epochs=5, num_steps=num_steps, on_epoch_end=keep)
    every.train()
    some = solver(num_epochs=5, num_steps=num_steps, eval_every=eval_every)
    some.train()
    assert some.acc_epochs == expected_acc_epochs(every.num_epochs, eval_every)
    assert some.loss_history == every.loss_history
    assert some.train_acc_history == [every.train_acc_history[e] for e in some.acc_epochs]
    assert some.val_acc_history == [every.val_acc_history[e] for e in some.acc_epochs]
    # The best among the measured epochs, the earliest of equals, and its parameters restored.
    best = max(some.val_acc_history)
    assert some.best_epoch == some.acc_epochs[some.val_acc_history.index(best)] and some.best_val_acc == best
    expected = params_at[some.best_epoch] if some.best_epoch > 0 else None
    if expected is not None:
        for name, w in some.model.params.items():
            assert np.array_equal(w, expected[name])


def test_the_best_epoch_is_chosen_among_the_measured_ones():
    # Accuracies 0.1, 0.2, 0.5, 0.2 (epochs 0 to 3): epoch 2 is best, but only 0 and 3 are measured.
    model = StepModel()
    s = Solver(model, stub_data(), update_rule="sgd", optim_config={"learning_rate": 1.0}, batch_size=10,
               num_epochs=3, eval_every=5, seed=0, verbose=False)
    s.train()
    assert s.acc_epochs == [0, 3] and s.val_acc_history == [0.1, 0.2]
    assert (s.best_epoch, s.best_val_acc) == (3, 0.2) and model.params["w"][0] == 3.0


def test_on_epoch_end_is_called_after_every_epoch_measured_or_not(capsys):
    seen = []
    s = solver(num_epochs=5, eval_every=2, verbose=True, print_every=100,
               on_epoch_end=lambda s: seen.append((s.epoch, list(s.acc_epochs), len(s.val_acc_history))))
    s.train()
    assert seen == [(1, [0], 1), (2, [0, 2], 2), (3, [0, 2], 2), (4, [0, 2, 4], 3), (5, [0, 2, 4, 5], 4)]
    printed = [line.split(")")[0] for line in capsys.readouterr().out.splitlines() if line.startswith("(Epoch")]
    assert printed == ["(Epoch 0 / 5", "(Epoch 2 / 5", "(Epoch 4 / 5", "(Epoch 5 / 5"]


# ----------------------------------------------------------------------------- checkpoints and resume
OPTIONS = dict(num_steps=18, eval_every=2)  # five epochs, the last of two steps; 1 and 3 not measured


@pytest.fixture(scope="module")
def reference() -> Solver:
    s = solver(**OPTIONS)
    s.train()
    return s


@pytest.mark.parametrize("epoch", [1, 2, 3, 4, 5])
def test_resume_from_any_epoch_is_exact(tmp_path, reference, epoch):
    checkpointed = solver(**OPTIONS, checkpoint_name=str(tmp_path / "run"))
    checkpointed.train()
    assert_same(reference, checkpointed)
    resumed = solver(**OPTIONS, model_seed=9, seed=9, resume_from=tmp_path / f"run_epoch_{epoch}.npz")
    assert (resumed.epoch, resumed.recorded_epochs) == (epoch, epoch + 1)
    assert resumed.acc_epochs == [e for e in reference.acc_epochs if e <= epoch]
    resumed.train()
    assert_same(reference, resumed)


@pytest.mark.parametrize("stop_after", [3, 5, 8, 13, 17])
def test_should_stop_mid_epoch_resumes_exactly(tmp_path, reference, stop_after):
    # Mid-epoch 1, mid-epoch 2 (after unmeasured epoch 1), the end of epoch 2, mid-epoch 4, the partial epoch 5.
    stopped = solver(**OPTIONS, checkpoint_name=str(tmp_path / "s"), should_stop=StopAfter(stop_after))
    stopped.train()
    assert stopped.interrupted and stopped.iteration == stop_after and not stopped.finished
    resumed = solver(**OPTIONS, model_seed=7, seed=8, resume_from=tmp_path / "s_latest.npz")
    resumed.train()
    assert_same(reference, resumed)
    stopped.should_stop = None
    stopped.train()
    assert_same(reference, stopped)


def test_a_finished_budget_resumes_finished(tmp_path, reference):
    solver(**OPTIONS, checkpoint_name=str(tmp_path / "run")).train()
    resumed = solver(**OPTIONS, model_seed=9, seed=9, resume_from=tmp_path / "run_latest.npz")
    assert resumed.finished
    resumed.train()
    assert_same(reference, resumed)


def test_an_interrupt_at_an_unmeasured_epoch_is_recorded_again_exactly(tmp_path, monkeypatch, reference):
    s = solver(**OPTIONS, checkpoint_name=str(tmp_path / "run"))
    real = s._save_checkpoint
    calls = {"n": 0}

    def save(latest_only: bool = False) -> None:
        calls["n"] += 1
        if calls["n"] == 3:  # epoch 3's, which is not measured
            raise KeyboardInterrupt
        real(latest_only)

    monkeypatch.setattr(s, "_save_checkpoint", save)
    with pytest.raises(KeyboardInterrupt):
        s.train()
    assert (s.epoch, s.recorded_epochs, s.acc_epochs) == (3, 3, [0, 2])
    real(latest_only=True)  # an epoch pending in a checkpoint resumes too
    resumed = solver(**OPTIONS, resume_from=tmp_path / "run_latest.npz")
    resumed.train()
    assert_same(reference, resumed)
    s.train()
    assert_same(reference, s)


@pytest.mark.parametrize(
    "written, resumed, words",
    [
        (dict(eval_every=2), dict(eval_every=3), "eval_every=2 and this Solver has eval_every=3"),
        (dict(eval_every=2), {}, "eval_every=2 and this Solver has eval_every=1"),
        (dict(num_steps=18), dict(num_steps=17), "num_steps=18 and this Solver has num_steps=17"),
        (dict(num_steps=20), dict(num_epochs=5), "num_steps=20 and this Solver has num_steps=None"),
        (dict(num_epochs=5), dict(num_steps=20), "num_steps=None and this Solver has num_steps=20"),
    ],
)
def test_a_resume_with_another_budget_or_eval_every_is_refused(tmp_path, written, resumed, words):
    solver(**written, checkpoint_name=str(tmp_path / "run")).train(epochs=1)
    other = solver(**resumed)
    with pytest.raises(CheckpointError) as info:
        other.resume(tmp_path / "run_latest.npz")
    assert words in str(info.value) and "run_latest.npz" in str(info.value)
    assert other.iteration == 0 and other.acc_epochs == []


def strip_new_fields(path: Path) -> None:
    """Make ``path`` a checkpoint as written before num_steps and eval_every existed."""
    with np.load(path, allow_pickle=False) as npz:
        entries = {name: npz[name] for name in npz.files}
    metadata = json.loads(str(entries["metadata"][()]))
    for key in ("num_steps", "eval_every"):
        del metadata["settings"][key]
    del metadata["recorded_epochs"], entries["history/acc_epochs"]
    entries["metadata"] = np.array(json.dumps(metadata))
    with open(path, "wb") as handle:
        np.savez(handle, **entries)


@pytest.mark.parametrize("stop_after", [None, 6])
def test_a_checkpoint_from_before_the_fields_resumes_as_eval_every_1(tmp_path, stop_after):
    straight = solver(num_epochs=3)
    straight.train()
    if stop_after is None:  # at the end of epoch 1
        solver(num_epochs=3, checkpoint_name=str(tmp_path / "run")).train(epochs=1)
    else:  # mid-epoch 2
        solver(num_epochs=3, checkpoint_name=str(tmp_path / "run"), should_stop=StopAfter(stop_after)).train()
    path = tmp_path / "run_latest.npz"
    strip_new_fields(path)
    state = read_training_state(path)
    assert (state.acc_epochs, state.recorded_epochs) == ([0, 1], 2)
    resumed = solver(num_epochs=3, resume_from=path)
    resumed.train()
    assert_same(straight, resumed)
    with pytest.raises(CheckpointError, match="eval_every=1 and this Solver has eval_every=2"):
        solver(num_epochs=3, eval_every=2, resume_from=path)
