"""Checkpoints record a FullyConnectedNet's dropout kind and activation, and refuse to load or
resume into a model of another (the same parameter shapes would compute another function)."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

import dropout_lab as dl
from dropout_lab import FullyConnectedNet, Solver, load_checkpoint, save_checkpoint
from dropout_lab.checkpoint import read_checkpoint
from dropout_lab.checkpoint._model import check_model_compatible, model_architecture
from dropout_lab.errors import CheckpointError


def _net(kind="bernoulli", activation="relu", seed=0):
    return FullyConnectedNet([6], input_dim=4, num_classes=3, dropout=0.8, dropout_kind=kind,
                             activation=activation, rng=np.random.default_rng(seed))


def _strip_architecture(path):
    """The file as a dropout-lab from before the record existed wrote it: no ``architecture``."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    meta = json.loads(str(arrays["metadata"][()]))
    del meta["architecture"]
    arrays["metadata"] = np.array(json.dumps(meta))
    np.savez(path, **arrays)


def test_the_architecture_is_recorded_and_round_trips(tmp_path):
    model = _net("alpha", "selu")
    save_checkpoint(tmp_path / "m.npz", model)
    meta = read_checkpoint(tmp_path / "m.npz").metadata
    assert meta["architecture"] == {"dropout_kind": "alpha", "activation": "selu"} == model_architecture(model)
    other = _net("alpha", "selu", seed=1)
    load_checkpoint(tmp_path / "m.npz", other)
    assert all(np.array_equal(other.params[k], v) for k, v in model.params.items())


@pytest.mark.parametrize(("saved", "loaded", "words"), [
    (("alpha", "selu"), ("bernoulli", "relu"), "dropout_kind is 'alpha' in the checkpoint and 'bernoulli'"),
    (("gaussian", "relu"), ("gaussian", "selu"), "activation is 'relu' in the checkpoint and 'selu'"),
    (("dropconnect", "relu"), ("bernoulli", "relu"), "dropout_kind is 'dropconnect'"),
])
def test_another_kind_or_activation_is_refused_and_the_model_untouched(tmp_path, saved, loaded, words):
    save_checkpoint(tmp_path / "m.npz", _net(*saved))
    model = _net(*loaded, seed=1)
    before = {k: v.copy() for k, v in model.params.items()}
    with pytest.raises(CheckpointError, match=words):
        load_checkpoint(tmp_path / "m.npz", model)
    assert all(np.array_equal(model.params[k], v) for k, v in before.items())


def test_a_file_without_the_record_is_a_bernoulli_relu_nets(tmp_path):
    save_checkpoint(tmp_path / "old.npz", _net())
    _strip_architecture(tmp_path / "old.npz")
    load_checkpoint(tmp_path / "old.npz", _net(seed=1))
    with pytest.raises(CheckpointError, match="records none"):
        load_checkpoint(tmp_path / "old.npz", _net("gaussian", "relu", seed=1))


def test_a_malformed_record_is_refused(tmp_path):
    save_checkpoint(tmp_path / "m.npz", _net())
    with np.load(tmp_path / "m.npz", allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    meta = json.loads(str(arrays["metadata"][()]))
    meta["architecture"] = {"dropout_kind": 3}
    arrays["metadata"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "m.npz", **arrays)
    with pytest.raises(CheckpointError, match="malformed architecture"):
        load_checkpoint(tmp_path / "m.npz", _net(seed=1))
    assert zipfile.is_zipfile(tmp_path / "m.npz")


def test_a_model_without_kinds_is_not_compared(tmp_path):
    """A user's model with no dropout_kind/activation records nothing and is checked as before."""

    class Plain:
        def __init__(self, params):
            self.params = params

        def loss(self, X, y=None):
            raise NotImplementedError

    model = _net()
    save_checkpoint(tmp_path / "m.npz", model)
    plain = Plain({k: v.copy() for k, v in model.params.items()})
    assert model_architecture(plain) is None
    load_checkpoint(tmp_path / "m.npz", plain)
    save_checkpoint(tmp_path / "p.npz", plain)
    assert "architecture" not in read_checkpoint(tmp_path / "p.npz").metadata


def _data():
    g = np.random.default_rng(3)
    return {"X_train": g.standard_normal((16, 4)), "y_train": g.integers(0, 3, 16),
            "X_val": g.standard_normal((8, 4)), "y_val": g.integers(0, 3, 8)}


def test_resuming_a_bernoulli_relu_run_into_another_kind_is_refused(tmp_path):
    solver = Solver(_net(), _data(), batch_size=8, num_epochs=1, verbose=False, seed=1,
                    checkpoint_name=str(tmp_path / "run"))
    solver.train()
    other = Solver(_net("gaussian", "relu", seed=1), _data(), batch_size=8, num_epochs=1, verbose=False,
                   seed=1)
    with pytest.raises(CheckpointError, match="dropout_kind is 'bernoulli' in the checkpoint and 'gaussian'"):
        other.resume(tmp_path / "run_latest.npz")


def test_a_training_state_is_compared_by_its_settings_record(tmp_path):
    """A training checkpoint keeps the record in the Solver's settings (``settings['architecture']``):
    the check reads it there, on the state and on the file as declared."""
    solver = Solver(_net(), _data(), batch_size=8, num_epochs=1, verbose=False, seed=1,
                    checkpoint_name=str(tmp_path / "run"))
    solver.train()
    state = solver.training_state()
    state.settings["architecture"] = {"dropout_kind": "alpha", "activation": "selu"}
    check_model_compatible(state, _net("alpha", "selu", seed=2))
    with pytest.raises(CheckpointError, match="dropout_kind is 'alpha' in the checkpoint"):
        check_model_compatible(state, _net(seed=2))


@pytest.mark.parametrize("kind, activation", [("alpha", "selu"), ("gaussian", "relu"), ("dropconnect", "relu")])
def test_a_run_of_each_kind_resumes_exactly_from_its_training_checkpoint(tmp_path, kind, activation):
    """The training checkpoint records the dropout kind and activation (the Solver's settings), so a
    run of each kind resumes from its own checkpoint, to the numbers of an uninterrupted run."""
    data = dl.get_digits_data()

    def solver(name):
        model = dl.FullyConnectedNet([16], input_dim=64, num_classes=10, dropout=0.8, dropout_kind=kind,
                                     activation=activation, rng=np.random.default_rng(0))
        return dl.Solver(model, data, num_epochs=3, batch_size=50, checkpoint_name=str(tmp_path / name),
                         verbose=False, rng=np.random.default_rng(1))

    whole = solver("whole")
    whole.train()
    first = solver("split")
    first.train(1)
    second = solver("split")
    second.resume(tmp_path / "split_latest.npz")
    second.train()
    assert second.loss_history == whole.loss_history and second.val_acc_history == whole.val_acc_history
    for name, value in whole.model.params.items():
        assert np.array_equal(second.model.params[name], value), name
