"""The Solver's momentum_schedule: the momentum each update uses, exact resumption with it, and the
checkpoint's refusal of another schedule."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dropout_lab.checkpoint import read_training_state
from dropout_lab.errors import CheckpointError, InvalidArgumentError, InvalidTypeError
from dropout_lab.models import FullyConnectedNet
from dropout_lab.optim import MomentumSchedule
from dropout_lab.solver import Solver
from tests.test_solver import StopAfter, make_data
from tests.test_solver_budget import assert_same

# 45 examples in batches of 10: 4 steps an epoch.
DATA = make_data(5, 45, 20, (8,), num_classes=4)
RAMP = MomentumSchedule("linear", start=0.5, epochs=2.5)


def solver(**kwargs: Any) -> Solver:
    """A dropout net (keep 0.7) trained with sgd_momentum (final momentum 0.95) and lr_decay 0.9."""
    options: dict[str, Any] = dict(update_rule="sgd_momentum", optim_config={"learning_rate": 2e-2, "momentum": 0.95},
                                   lr_decay=0.9, batch_size=10, num_train_samples=25, num_val_samples=10,
                                   verbose=False, seed=2)
    options.update(kwargs)
    seed = options.pop("model_seed", 1)
    net = FullyConnectedNet([12, 12], input_dim=8, num_classes=4, dropout=0.7, weight_scale=0.1,
                            rng=np.random.default_rng(seed))
    return Solver(net, DATA, **options)


def spy_momenta(s: Solver) -> list[float]:
    """Record the momentum in W1's config as each update is computed."""
    seen: list[float] = []
    real = s.model.loss

    def loss(X, y=None):
        if y is not None:
            seen.append(s.optim_configs["W1"].get("momentum"))
        return real(X, y)

    s.model.loss = loss  # type: ignore[method-assign]
    return seen


def test_every_update_uses_the_schedules_momentum_for_its_step():
    s = solver(momentum_schedule=RAMP, num_epochs=4)
    seen = spy_momenta(s)
    s.train()
    # t steps done, 4 steps an epoch: 0.5 + (0.95 - 0.5) * min(t / 4 / 2.5, 1); from step 10 on, 0.95.
    expected = [0.5 + 0.45 * t / 10 for t in range(10)] + [0.95] * 6
    assert seen == pytest.approx(expected, rel=1e-15)
    assert seen[10:] == [0.95] * 6
    assert all(c["momentum"] == 0.95 for c in s.optim_configs.values())


def test_without_a_schedule_the_configs_momentum_holds_throughout():
    s = solver(num_epochs=2)
    seen = spy_momenta(s)
    s.train()
    assert seen == [0.95] * 8


def test_the_final_momentum_is_the_rules_default_without_one():
    s = solver(momentum_schedule=RAMP, optim_config={"learning_rate": 1e-2}, num_epochs=3)
    seen = spy_momenta(s)
    s.train()
    assert seen[0] == 0.5 and seen[5] == pytest.approx(0.5 + 0.4 * 5 / 10, rel=1e-15) and seen[-1] == 0.9


def test_a_constant_schedule_changes_nothing():
    plain, constant = solver(num_epochs=2), solver(num_epochs=2, momentum_schedule=MomentumSchedule())
    plain.train()
    constant.train()
    assert constant.loss_history == plain.loss_history
    assert all(np.array_equal(plain.model.params[k], constant.model.params[k]) for k in plain.model.params)


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(update_rule="adam", optim_config={"learning_rate": 1e-3}), InvalidArgumentError,
     "momentum_schedule moves the momentum of update_rule 'sgd_momentum' only, got update_rule 'adam'"),
    (dict(update_rule="sgd", optim_config={}), InvalidArgumentError, "got update_rule 'sgd'"),
    (dict(update_rule=lambda w, dw, c: (w, c), optim_config={}), InvalidArgumentError, "got update_rule a callable"),
])
def test_a_schedule_is_refused_with_another_rule(kwargs, error, words):
    with pytest.raises(error, match=words):
        solver(momentum_schedule=RAMP, **kwargs)


def test_a_schedule_must_be_a_momentum_schedule():
    with pytest.raises(InvalidTypeError, match="momentum_schedule must be a MomentumSchedule or None, got 'linear"):
        solver(momentum_schedule="linear:0.5:10")


# ----------------------------------------------------------------------------- exact resume
SCHEDULED = dict(momentum_schedule=RAMP, num_epochs=4)


@pytest.fixture(scope="module")
def reference() -> Solver:
    s = solver(**SCHEDULED)
    s.train()
    return s


@pytest.mark.parametrize("stop_after", [3, 8, 11])
def test_a_resume_mid_ramp_is_exact(tmp_path, reference, stop_after):
    stopped = solver(**SCHEDULED, checkpoint_name=str(tmp_path / "s"), should_stop=StopAfter(stop_after))
    stopped.train()
    assert stopped.interrupted and stopped.iteration == stop_after
    resumed = solver(**SCHEDULED, model_seed=7, seed=8, resume_from=tmp_path / "s_latest.npz")
    seen = spy_momenta(resumed)
    resumed.train()
    assert_same(reference, resumed)  # parameters, velocities, momenta, histories: bit for bit
    assert seen == [RAMP.momentum(0.95, t / 4) for t in range(stop_after, 16)]


@pytest.mark.parametrize("resumed, words", [
    (dict(momentum_schedule=MomentumSchedule("linear", start=0.6, epochs=2.5)), "'start': 0.5"),
    (dict(momentum_schedule=None), "and this Solver has momentum_schedule=None"),
    (dict(optim_config={"learning_rate": 2e-2, "momentum": 0.9}), "'momentum': 0.95}"),
])
def test_a_resume_with_another_schedule_is_refused(tmp_path, resumed, words):
    solver(**SCHEDULED, checkpoint_name=str(tmp_path / "run")).train(epochs=1)
    other = solver(**{**SCHEDULED, **resumed})
    with pytest.raises(CheckpointError, match="momentum_schedule") as info:
        other.resume(tmp_path / "run_latest.npz")
    assert words in str(info.value)
    assert other.iteration == 0


def test_a_run_without_a_schedule_refuses_to_continue_with_one(tmp_path):
    solver(num_epochs=4, checkpoint_name=str(tmp_path / "run")).train(epochs=1)
    with pytest.raises(CheckpointError, match="momentum_schedule=None and this Solver has momentum_schedule="):
        solver(**SCHEDULED, resume_from=tmp_path / "run_latest.npz")


def test_a_checkpoint_from_before_the_field_resumes_without_a_schedule(tmp_path):
    straight = solver(num_epochs=3)
    straight.train()
    solver(num_epochs=3, checkpoint_name=str(tmp_path / "run"), should_stop=StopAfter(6)).train()
    path = tmp_path / "run_latest.npz"
    _strip_momentum_schedule(path)
    assert "momentum_schedule" not in read_training_state(path).settings
    resumed = solver(num_epochs=3, resume_from=path)
    resumed.train()
    assert_same(straight, resumed)


def _strip_momentum_schedule(path: Path) -> None:
    with np.load(path, allow_pickle=False) as npz:
        entries = {name: npz[name] for name in npz.files}
    metadata = json.loads(str(entries["metadata"][()]))
    del metadata["settings"]["momentum_schedule"]
    entries["metadata"] = np.array(json.dumps(metadata))
    with open(path, "wb") as handle:
        np.savez(handle, **entries)
