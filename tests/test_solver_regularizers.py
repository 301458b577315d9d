"""The Solver's max_norm, keep_schedule and patience (early stopping): what each does at every step,
and exact resumption with each (issue 14)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dropout_lab.checkpoint import read_training_state
from dropout_lab.errors import CheckpointError, InvalidArgumentError, InvalidTypeError
from dropout_lab.models import FullyConnectedNet
from dropout_lab.optim import KeepSchedule
from dropout_lab.optim.constraints import column_norms
from dropout_lab.solver import Solver
from tests.test_solver import StepModel, StopAfter, make_data, stub_data
from tests.test_solver_budget import assert_same

# 45 examples in batches of 10: 4 steps an epoch.
DATA = make_data(5, 45, 20, (8,), num_classes=4)


def solver(**kwargs: Any) -> Solver:
    """A dropout net (keep 0.7 for hidden units, 0.8 for inputs) trained with adam."""
    options: dict[str, Any] = dict(update_rule="adam", optim_config={"learning_rate": 5e-3}, lr_decay=0.9,
                                   batch_size=10, num_train_samples=25, num_val_samples=10, verbose=False, seed=2)
    options.update(kwargs)
    seed = options.pop("model_seed", 1)
    net_options = options.pop("net", {})
    net_options = {"dropout": 0.7, "input_dropout": 0.8, "weight_scale": 0.1, **net_options}
    net = FullyConnectedNet([12, 12], input_dim=8, num_classes=4, rng=np.random.default_rng(seed), **net_options)
    return Solver(net, DATA, **options)


def hidden_norms(model) -> list[np.ndarray]:
    return [column_norms(model.params[f"W{i}"]) for i in range(1, model.num_layers)]


# ----------------------------------------------------------------------------- max-norm
@settings(max_examples=12, deadline=None)
@given(c=st.floats(0.05, 1.0), rule=st.sampled_from(["sgd", "sgd_momentum", "rmsprop", "adam"]),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_max_norm_holds_after_every_step(c, rule, dtype):
    s = solver(update_rule=rule, optim_config={"learning_rate": 0.05}, max_norm=c, num_epochs=2,
               net={"weight_scale": 1.0, "dtype": dtype})
    real_step = s._step
    seen = []

    def checked_step(t: int) -> None:
        real_step(t)
        for norms in hidden_norms(s.model):
            assert (norms <= c).all()
        seen.append(t)

    s._step = checked_step
    s.train()
    assert seen == list(range(8))
    assert all(w.dtype == dtype for w in s.model.params.values())
    # The output layer's weights are not constrained (weight_scale 1: their columns start far above c).
    assert column_norms(s.model.params["W3"]).max() > c


def test_max_norm_changes_only_columns_over_the_bound():
    c = 0.5
    a = solver(max_norm=c, num_epochs=1, net={"weight_scale": 0.05})
    b = solver(num_epochs=1, net={"weight_scale": 0.05})
    a.train()
    b.train()
    # Small weights stay under the bound: the run is the unconstrained one, bit for bit.
    assert all(np.array_equal(a.model.params[k], b.model.params[k]) for k in a.model.params)
    assert a.loss_history == b.loss_history


def test_max_norm_with_a_callable_rule_leaves_the_rules_arrays_alone():
    returned = []

    def rule(w, dw, config):
        next_w = w - 0.1 * dw
        returned.append((next_w, next_w.copy()))
        return next_w, config

    s = solver(update_rule=rule, max_norm=0.1, num_epochs=1, net={"weight_scale": 1.0})
    s.train()
    assert all(np.array_equal(array, copy) for array, copy in returned)
    assert all((norms <= 0.1).all() for norms in hidden_norms(s.model))


def test_max_norm_needs_weights_named_w1_to_wl():
    with pytest.raises(InvalidArgumentError, match="max_norm needs a model whose weights are named W1..WL"):
        Solver(StepModel(), stub_data(), max_norm=1.0, verbose=False)


# ----------------------------------------------------------------------------- keep schedules
def spy_keep_probs(s: Solver) -> list[tuple[tuple[float, ...], float]]:
    """The model's keep probabilities at every training call of model.loss."""
    seen: list[tuple[tuple[float, ...], float]] = []
    model, real_loss = s.model, s.model.loss

    def loss(X, y=None):
        if y is not None:
            seen.append((model.keep_probs, model.input_keep_prob))
        return real_loss(X, y)

    model.loss = loss
    return seen


@pytest.mark.parametrize("schedule", [
    KeepSchedule("curriculum", gamma=0.3), KeepSchedule("linear", ramp=5), KeepSchedule("constant"),
])
def test_the_keep_probabilities_follow_the_schedule_per_step(schedule):
    s = solver(keep_schedule=schedule, num_epochs=3)
    seen = spy_keep_probs(s)
    s.train()
    expected = [((schedule.keep_prob(0.7, t),) * 2, schedule.keep_prob(0.8, t)) for t in range(12)]
    assert seen == expected
    if schedule.kind != "constant":
        assert seen[0] == ((1.0, 1.0), 1.0) and seen[-1][0][0] < seen[1][0][0]
    # Back to the targets after training (for inference and MC dropout).
    assert (s.model.keep_probs, s.model.input_keep_prob) == ((0.7, 0.7), 0.8)


def test_the_keep_probabilities_follow_the_schedule_per_epoch():
    schedule = KeepSchedule("linear", per="epoch", ramp=2)
    s = solver(keep_schedule=schedule, num_epochs=3, net={"dropout": [0.5, 0.9]})
    seen = spy_keep_probs(s)
    s.train()
    # Epoch 1 (t = 0): no dropout; epoch 2 (t = 1): halfway; epoch 3: the targets.
    assert seen == [((1.0, 1.0), 1.0)] * 4 + [((0.75, 0.95), 0.9)] * 4 + [((0.5, 0.9), 0.8)] * 4


def test_the_targets_are_put_back_when_training_fails():
    s = solver(keep_schedule=KeepSchedule("curriculum", gamma=0.1), num_epochs=2)
    real_loss = s.model.loss
    calls = {"n": 0}

    def failing(X, y=None):
        if y is not None:
            calls["n"] += 1
            if calls["n"] == 3:
                raise KeyboardInterrupt
        return real_loss(X, y)

    s.model.loss = failing
    with pytest.raises(KeyboardInterrupt):
        s.train()
    assert (s.model.keep_probs, s.model.input_keep_prob) == ((0.7, 0.7), 0.8)


def test_a_schedule_needs_a_model_with_keep_probabilities():
    with pytest.raises(InvalidArgumentError, match="keep_schedule needs a model with keep probabilities"):
        Solver(StepModel(), stub_data(), keep_schedule=KeepSchedule(), verbose=False)
    with pytest.raises(InvalidTypeError, match="keep_schedule must be a KeepSchedule or None"):
        solver(keep_schedule={"kind": "linear"})


# ----------------------------------------------------------------------------- exact resume
SCHEDULED = dict(keep_schedule=KeepSchedule("curriculum", gamma=0.2), max_norm=0.8, num_epochs=4,
                 net={"weight_scale": 0.5})


@pytest.fixture(scope="module")
def scheduled_reference() -> Solver:
    s = solver(**SCHEDULED)
    s.train()
    return s


@pytest.mark.parametrize("stop_after", [2, 5, 8, 11])
def test_a_resume_mid_schedule_is_exact(tmp_path, scheduled_reference, stop_after):
    stopped = solver(**SCHEDULED, checkpoint_name=str(tmp_path / "s"), should_stop=StopAfter(stop_after))
    stopped.train()
    assert stopped.interrupted and stopped.iteration == stop_after
    resumed = solver(**SCHEDULED, model_seed=7, seed=8, resume_from=tmp_path / "s_latest.npz")
    seen = spy_keep_probs(resumed)
    resumed.train()
    assert_same(scheduled_reference, resumed)
    schedule = SCHEDULED["keep_schedule"]
    assert [k[0][0] for k in seen] == [schedule.keep_prob(0.7, t) for t in range(stop_after, 16)]


@pytest.mark.parametrize(
    "resumed, words",
    [
        (dict(max_norm=0.9), "max_norm=0.8 and this Solver has max_norm=0.9"),
        (dict(max_norm=None), "max_norm=0.8 and this Solver has max_norm=None"),
        (dict(keep_schedule=KeepSchedule("curriculum", gamma=0.3)), "keep_schedule="),
        (dict(keep_schedule=None), "and this Solver has keep_schedule=None"),
        (dict(net={"weight_scale": 0.5, "dropout": 0.6}), "'keep_probs': [0.6, 0.6]"),
        (dict(patience=2), "patience=None and this Solver has patience=2"),
    ],
)
def test_a_resume_with_other_regularizers_is_refused(tmp_path, resumed, words):
    solver(**SCHEDULED, checkpoint_name=str(tmp_path / "run")).train(epochs=1)
    other = solver(**{**SCHEDULED, **resumed})
    with pytest.raises(CheckpointError) as info:
        other.resume(tmp_path / "run_latest.npz")
    assert words in str(info.value)
    assert other.iteration == 0


def strip_regularizer_settings(path: Path) -> None:
    """Make ``path`` a checkpoint as written before max_norm, keep_schedule and patience existed."""
    with np.load(path, allow_pickle=False) as npz:
        entries = {name: npz[name] for name in npz.files}
    metadata = json.loads(str(entries["metadata"][()]))
    for key in ("max_norm", "keep_schedule", "patience"):
        del metadata["settings"][key]
    entries["metadata"] = np.array(json.dumps(metadata))
    with open(path, "wb") as handle:
        np.savez(handle, **entries)


def test_a_checkpoint_from_before_the_fields_resumes_without_them(tmp_path):
    straight = solver(num_epochs=3)
    straight.train()
    solver(num_epochs=3, checkpoint_name=str(tmp_path / "run"), should_stop=StopAfter(6)).train()
    path = tmp_path / "run_latest.npz"
    strip_regularizer_settings(path)
    assert "max_norm" not in read_training_state(path).settings
    resumed = solver(num_epochs=3, resume_from=path)
    resumed.train()
    assert_same(straight, resumed)
    with pytest.raises(CheckpointError, match="max_norm=None and this Solver has max_norm=1.0"):
        solver(num_epochs=3, max_norm=1.0, resume_from=path)


# ----------------------------------------------------------------------------- early stopping
def step_solver(**kwargs: Any) -> Solver:
    """StepModel with sgd at learning rate 1: after epoch e (one step each), w = e and every example is
    predicted class e % 4, so the validation accuracies of epochs 0, 1, 2, ... are 0.1, 0.2, 0.5, 0.2,
    then again 0.1, 0.2, 0.5, 0.2 (stub_data's labels): the best is epoch 2, and epoch 6 only ties it."""
    options: dict[str, Any] = dict(update_rule="sgd", optim_config={"learning_rate": 1.0}, batch_size=10,
                                   num_epochs=12, seed=0, verbose=False)
    options.update(kwargs)
    return Solver(StepModel(), stub_data(), **options)


@pytest.mark.parametrize("patience, stop", [(1, 3), (3, 5), (4, 6), (9, 11), (10, None), (None, None)])
def test_training_stops_after_patience_epochs_without_a_better_val_acc(patience, stop):
    s = step_solver(patience=patience)
    s.train()
    end = 12 if stop is None else stop
    assert (s.stop_epoch, s.stopped_early, s.finished) == (stop, stop is not None, True)
    assert s.epoch == end and s.acc_epochs == list(range(end + 1)) and len(s.loss_history) == end
    assert s.val_acc_history == [[0.1, 0.2, 0.5, 0.2][e % 4] for e in range(end + 1)]
    # The best parameters (epoch 2's, w = 2) are restored, as at the end of a run.
    assert (s.best_epoch, s.best_val_acc) == (2, 0.5) and s.model.params["w"][0] == 2.0
    # Training again does nothing.
    s.train()
    assert s.epoch == end and s.model.params["w"][0] == 2.0


def test_patience_reached_at_the_last_epoch_is_not_an_early_stop():
    s = step_solver(patience=3, num_epochs=5)
    s.train()
    assert (s.stop_epoch, s.stopped_early, s.epoch) == (None, False, 5)


def test_patience_counts_measured_epochs():
    # eval_every=2 measures epochs 0, 2, 4, 6, ...: 0.1, 0.5, 0.1, 0.5 (a tie, not better), ...
    s = step_solver(patience=2, eval_every=2)
    s.train()
    assert s.stop_epoch == 6 and s.acc_epochs == [0, 2, 4, 6] and s.epoch == 6


def test_early_stopping_writes_the_stop_epochs_checkpoint_and_prints(tmp_path, capsys):
    s = step_solver(patience=3, checkpoint_name=str(tmp_path / "run"), checkpoint_every=10, verbose=True)
    s.train()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run_epoch_5.npz", "run_latest.npz"]
    assert "(Early stop at epoch 5: no better val_acc in 3 measured epochs; best epoch 2)" in capsys.readouterr().out
    resumed = step_solver(patience=3, resume_from=tmp_path / "run_latest.npz")
    assert resumed.finished and resumed.stop_epoch == 5
    resumed.train()
    assert resumed.model.params["w"][0] == 2.0 and resumed.epoch == 5


@pytest.mark.parametrize("stop_after", [1, 3, 4])
def test_an_interrupted_run_stops_at_the_same_epoch(tmp_path, stop_after):
    straight = step_solver(patience=3)
    straight.train()
    stopped = step_solver(patience=3, checkpoint_name=str(tmp_path / "s"), should_stop=StopAfter(stop_after))
    stopped.train()
    assert stopped.interrupted and stopped.epoch == stop_after
    resumed = step_solver(patience=3, resume_from=tmp_path / "s_latest.npz")
    resumed.train()
    assert resumed.stop_epoch == straight.stop_epoch == 5
    assert resumed.val_acc_history == straight.val_acc_history and resumed.loss_history == straight.loss_history
    assert resumed.model.params["w"][0] == straight.model.params["w"][0] == 2.0


def test_training_an_epoch_at_a_time_stops_at_the_same_epoch():
    s = step_solver(patience=3)
    calls = 0
    while not s.finished:
        s.train(1)
        calls += 1
    assert calls == 5 and s.stop_epoch == 5 and s.model.params["w"][0] == 2.0


def test_early_stopping_with_a_real_net_resumes_exactly(tmp_path):
    options = dict(patience=1, num_epochs=12)
    straight = solver(**options)
    straight.train()
    assert straight.stopped_early
    stopped = solver(**options, checkpoint_name=str(tmp_path / "s"), should_stop=StopAfter(6))
    stopped.train()
    resumed = solver(**options, resume_from=tmp_path / "s_latest.npz")
    resumed.train()
    assert_same(straight, resumed)
    assert resumed.stop_epoch == straight.stop_epoch


def test_bad_patience():
    with pytest.raises(InvalidArgumentError, match="patience must be a positive integer, got 0"):
        step_solver(patience=0)
    with pytest.raises(InvalidTypeError, match="patience must be an integer"):
        step_solver(patience=2.5)


def test_a_run_early_stopping_ended_stays_ended_when_extended(tmp_path):
    step_solver(patience=3, checkpoint_name=str(tmp_path / "run")).train()
    longer = step_solver(patience=3, num_epochs=30, resume_from=tmp_path / "run_latest.npz")
    assert longer.finished and longer.stop_epoch == 5
    # A run that reached its patience at its last epoch would have stopped there had it been longer.
    step_solver(patience=3, num_epochs=5, checkpoint_name=str(tmp_path / "short")).train()
    extended = step_solver(patience=3, num_epochs=30, resume_from=tmp_path / "short_latest.npz")
    assert extended.finished and extended.stop_epoch == 5


def test_a_malformed_patience_record_is_refused(tmp_path):
    step_solver(patience=3, checkpoint_name=str(tmp_path / "run")).train(epochs=1)
    path = tmp_path / "run_latest.npz"
    with np.load(path, allow_pickle=False) as npz:
        entries = {name: npz[name] for name in npz.files}
    metadata = json.loads(str(entries["metadata"][()]))
    metadata["settings"]["patience"] = 0
    entries["metadata"] = np.array(json.dumps(metadata))
    with open(path, "wb") as handle:
        np.savez(handle, **entries)
    with pytest.raises(CheckpointError, match="malformed 'patience' setting: 0"):
        read_training_state(path)


@pytest.mark.parametrize("normalization", [None, "layernorm"])
def test_the_model_drops_with_the_scheduled_keep_probability(normalization):
    # Step 0 of a curriculum keeps every unit: the model trains as the same net without dropout would
    # (same weights, same minibatch), in the fused path and the layer-by-layer one alike.
    net = {"normalization": normalization}
    scheduled = solver(keep_schedule=KeepSchedule("curriculum", gamma=0.5), num_steps=2, net=net)
    plain = solver(num_steps=2, net={**net, "dropout": 1.0, "input_dropout": 1.0})
    scheduled.train()
    plain.train()
    assert scheduled.loss_history[0] == plain.loss_history[0]
    assert scheduled.loss_history[1] != plain.loss_history[1]
