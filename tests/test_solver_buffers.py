"""The Solver's fast path: built-in rules write into two sets of arrays it owns, with the same values
as the pure rules; arrays from before and after train() are never overwritten; a rejected step
changes nothing; epoch accuracies are measured in large batches."""

from __future__ import annotations

import numpy as np
import pytest

from dropout_lab import FullyConnectedNet, InvalidArgumentError, InvalidTypeError, Solver, TrainingDivergedError
from dropout_lab.optim import adam, rmsprop, sgd, sgd_momentum

RULES = {"sgd": sgd, "sgd_momentum": sgd_momentum, "rmsprop": rmsprop, "adam": adam}

# Every test here runs with each kind of update kernels (the ``kernels`` fixture of conftest.py).
pytestmark = pytest.mark.usefixtures("kernels")


def data(seed: int = 0, n_train: int = 64, n_val: int = 40):
    g = np.random.default_rng(seed)
    return {
        "X_train": g.standard_normal((n_train, 12)).astype(np.float32),
        "y_train": g.integers(0, 4, n_train),
        "X_val": g.standard_normal((n_val, 12)).astype(np.float32),
        "y_val": g.integers(0, 4, n_val),
    }


def net(seed: int = 1) -> FullyConnectedNet:
    return FullyConnectedNet([20, 16], input_dim=12, num_classes=4, dropout=0.7, weight_scale=0.2,
                             rng=np.random.default_rng(seed))


def train(update_rule, num_epochs: int = 3, **kwargs) -> Solver:
    solver = Solver(net(), data(), update_rule=update_rule, optim_config={"learning_rate": 1e-2},
                    batch_size=16, num_epochs=num_epochs, verbose=False, rng=np.random.default_rng(2), **kwargs)
    solver.train()
    return solver


@pytest.mark.parametrize("rule", sorted(RULES))
def test_buffered_steps_give_the_pure_rules_values(rule):
    """The same rule given as a callable takes the pure path (new arrays each step): every parameter,
    loss and optimizer state must come out the same to the last bit."""
    fast = train(rule)
    pure_rule = RULES[rule]
    pure = train(lambda w, dw, config: pure_rule(w, dw, config))
    assert fast._builtin_rule == rule and pure._builtin_rule is None
    assert fast.loss_history == pure.loss_history
    assert fast.val_acc_history == pure.val_acc_history
    for name in fast.model.params:
        assert np.array_equal(fast.model.params[name], pure.model.params[name])
        for key, value in fast.optim_configs[name].items():
            other = pure.optim_configs[name][key]
            assert np.array_equal(value, other) if isinstance(value, np.ndarray) else value == other


def test_two_buffers_per_array_are_reused_in_turn():
    solver = train("adam", num_epochs=2)
    for name, slots in solver._buffers.items():
        assert set(slots) == {"w", "m", "v"}
        for pair in slots.values():
            assert len(pair) == 2 and all(isinstance(a, np.ndarray) for a in pair)
            assert pair[0] is not pair[1]
        # The live optimizer state is one of the two buffers.
        assert any(solver.optim_configs[name]["m"] is b for b in slots["m"])


def test_arrays_from_before_and_after_training_are_never_overwritten():
    model = net()
    before = dict(model.params)
    copies = {k: v.copy() for k, v in before.items()}
    solver = Solver(model, data(), update_rule="adam", batch_size=16, num_epochs=3, verbose=False,
                    rng=np.random.default_rng(3))
    solver.train()
    for name, array in before.items():
        assert np.array_equal(array, copies[name])
        assert model.params[name] is not array
    owned = [a for slots in solver._buffers.values() for pair in slots.values() for a in pair]
    assert not any(model.params[name] is a for name in model.params for a in owned)
    # Train further with the same Solver: the arrays the model held after train() stay as they were.
    after = {k: v for k, v in model.params.items()}
    after_copies = {k: v.copy() for k, v in after.items()}
    solver.num_epochs = 5
    solver.train()
    assert all(np.array_equal(after[k], after_copies[k]) for k in after)


class OneWeight:
    """params {'w': (1,)}; gradient -1 at every step but the ``huge_at``-th, where it is -1e308."""

    def __init__(self, huge_at: int):
        self.params = {"w": np.zeros(1)}
        self.num_classes = 2
        self.calls = 0
        self.huge_at = huge_at

    def loss(self, X, y=None):
        if y is None:
            return np.tile([1.0, 0.0], (X.shape[0], 1))
        self.calls += 1
        return 1.0, {"w": np.array([-1e308 if self.calls == self.huge_at else -1.0])}


def test_a_rejected_step_changes_neither_parameters_nor_optimizer_state():
    model = OneWeight(huge_at=3)
    X = np.zeros((10, 1))
    solver = Solver(model, {"X_train": X, "y_train": np.zeros(10, dtype=int), "X_val": X,
                            "y_val": np.zeros(10, dtype=int)},
                    update_rule="sgd_momentum", optim_config={"learning_rate": 10.0}, batch_size=5,
                    num_epochs=3, verbose=False, seed=0)
    seen = {}
    original_step = solver._step

    def recording_step(t):
        if t == 2:  # before the step that overflows, record the state it must leave alone
            seen["w"] = model.params["w"].copy()
            seen["velocity"] = solver.optim_configs["w"]["velocity"]
            seen["velocity_values"] = seen["velocity"].copy()
        original_step(t)

    solver._step = recording_step
    with pytest.raises(TrainingDivergedError, match="the update of w"):
        solver.train()
    assert solver.optim_configs["w"]["velocity"] is seen["velocity"]
    assert np.array_equal(seen["velocity"], seen["velocity_values"])
    # velocity = 0.9 * velocity - 10 * (-1): 10 after step 1, 19 after step 2.
    assert np.array_equal(seen["velocity_values"], [19.0])
    # The parameters are the best ones (epoch 0, before any step), restored as after any divergence.
    assert np.array_equal(model.params["w"], [0.0])


class BatchRecorder(OneWeight):
    def __init__(self):
        super().__init__(huge_at=-1)
        self.sizes = []

    def loss(self, X, y=None):
        if y is None:
            self.sizes.append(X.shape[0])
        return super().loss(X, y)


@pytest.mark.parametrize("batch", [None, 400])
def test_epoch_accuracies_use_large_batches(batch):
    model = BatchRecorder()
    X = np.zeros((2500, 1))
    y = np.zeros(2500, dtype=int)
    kwargs = {} if batch is None else {"accuracy_batch_size": batch}
    solver = Solver(model, {"X_train": X, "y_train": y, "X_val": X[:700], "y_val": y[:700]}, update_rule="sgd",
                    batch_size=2500, num_epochs=1, num_train_samples=None, verbose=False, seed=0, **kwargs)
    solver.train()
    per_epoch = model.sizes[: len(model.sizes) // 2]
    if batch is None:
        assert per_epoch == [1000, 1000, 500, 700]
    else:
        assert per_epoch == [400] * 6 + [100, 400, 300]
    assert solver.accuracy_batch_size == (1000 if batch is None else batch)
    # check_accuracy itself keeps the course's default of 100.
    model.sizes.clear()
    solver.check_accuracy(X[:250], y[:250])
    assert model.sizes == [100, 100, 50]


@pytest.mark.parametrize("value, error", [(0, InvalidArgumentError), (2.5, InvalidTypeError), (True, InvalidTypeError)])
def test_accuracy_batch_size_is_checked(value, error):
    with pytest.raises(error, match="accuracy_batch_size"):
        Solver(net(), data(), accuracy_batch_size=value, verbose=False)


def test_resume_with_buffers_is_exact(tmp_path):
    """Stopping half way, checkpointing and resuming in a new Solver gives the uninterrupted run."""
    whole = train("adam", num_epochs=4)
    first = Solver(net(), data(), update_rule="adam", optim_config={"learning_rate": 1e-2}, batch_size=16,
                   num_epochs=2, verbose=False, rng=np.random.default_rng(2),
                   checkpoint_name=str(tmp_path / "run"))
    first.train()
    second = Solver(net(seed=99), data(), update_rule="adam", optim_config={"learning_rate": 1e-2},
                    batch_size=16, num_epochs=4, verbose=False, rng=np.random.default_rng(0),
                    resume_from=tmp_path / "run_epoch_2.npz")
    second.train()
    assert second.loss_history == whole.loss_history
    for name in whole.model.params:
        assert np.array_equal(second.model.params[name], whole.model.params[name])
