"""The Model protocol: what the Solver and checkpoints accept, and how optional members are read."""

from __future__ import annotations

import numpy as np
import pytest

from dropout_lab import models
from dropout_lab.errors import InvalidArgumentError, InvalidTypeError
from dropout_lab.models import BufferedModel, FullyConnectedNet, Model
from dropout_lab.models.protocol import (
    check_model,
    has_buffers,
    has_generator,
    model_buffers,
    model_draws_from_global_rng,
    model_fixed_dropout_masks,
    model_int_attribute,
    model_rng,
)


class Minimal:
    """The least a model needs: params and loss."""

    def __init__(self) -> None:
        self.params = {"w": np.zeros(3)}

    def loss(self, X, y=None):
        scores = np.zeros((X.shape[0], 2))
        return scores if y is None else (0.0, {"w": np.zeros(3)})


def test_the_protocols_are_exported_for_models_of_ones_own():
    assert {"Model", "BufferedModel"} <= set(models.__all__)


def test_fully_connected_net_is_a_model_with_buffers_and_a_generator():
    net = FullyConnectedNet([4], input_dim=3, num_classes=2, normalization="batchnorm",
                            rng=np.random.default_rng(0))
    assert isinstance(net, Model) and isinstance(net, BufferedModel)
    assert has_buffers(net) and has_generator(net) and model_rng(net) is net.rng
    assert model_int_attribute(net, "num_classes") == 2 and model_int_attribute(net, "input_dim") == 3


def test_a_minimal_model_has_no_optional_members():
    model = Minimal()
    assert isinstance(model, Model) and not isinstance(model, BufferedModel)
    assert not has_buffers(model) and not has_generator(model)
    assert model_buffers(model) == {} and model_rng(model) is None
    assert not model_fixed_dropout_masks(model)
    assert model_draws_from_global_rng(model)  # an unknown model may draw from the global generator
    assert model_int_attribute(model, "num_classes") is None
    assert check_model(model) is model


@pytest.mark.parametrize(
    "kwargs, fixed, global_rng",
    [
        (dict(dropout=0.5, seed=3), True, False),
        (dict(seed=3), False, False),
        (dict(dropout=0.5, rng=np.random.default_rng(0)), False, False),
        (dict(dropout=0.5), False, True),
        (dict(), False, False),
    ],
)
def test_fixed_dropout_masks_and_the_global_generator(kwargs, fixed, global_rng):
    net = FullyConnectedNet([4], input_dim=3, num_classes=2, **kwargs)
    assert net.fixed_dropout_masks is fixed and model_fixed_dropout_masks(net) is fixed
    assert model_draws_from_global_rng(net) is global_rng


def test_optional_members_of_the_wrong_kind_are_ignored():
    model = Minimal()
    model.buffers = None
    model.rng = np.random.RandomState(0)
    model.num_classes = True
    assert model_buffers(model) == {} and not has_buffers(model)
    assert model_rng(model) is None and not has_generator(model)
    assert model_int_attribute(model, "num_classes") is None


@pytest.mark.parametrize(
    "make, error, words",
    [
        (lambda: object(), InvalidTypeError, "params dict and a loss"),
        (lambda: type("NoLoss", (), {"params": {"w": np.zeros(1)}})(), InvalidTypeError, "NoLoss"),
        (lambda: _with_params({}), InvalidArgumentError, "nothing to train"),
        (lambda: _with_params({"w": np.zeros(2, dtype=int)}), InvalidTypeError, "model.params['w']"),
    ],
)
def test_check_model_refuses_what_cannot_train(make, error, words):
    with pytest.raises(error, match=words.replace("[", r"\[").replace("]", r"\]")):
        check_model(make())


def _with_params(params):
    model = Minimal()
    model.params = params
    return model
