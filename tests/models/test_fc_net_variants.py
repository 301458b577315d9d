"""FullyConnectedNet's dropout kinds and activations: whole-net gradient checks of every kind,
test mode, dtypes, LeCun initialization, the choices refused, and keep probabilities assigned
between steps."""

from __future__ import annotations

import numpy as np
import pytest

from dropout_lab import FullyConnectedNet, assert_gradient_close
from dropout_lab.errors import InvalidArgumentError, InvalidTypeError

VARIANTS = [
    ("bernoulli", "relu"), ("bernoulli", "selu"), ("gaussian", "relu"), ("gaussian", "selu"),
    ("dropconnect", "relu"), ("dropconnect", "selu"), ("alpha", "selu"),
]


def _data(n=4, d=5, c=3, seed=0):
    g = np.random.default_rng(seed)
    return g.standard_normal((n, d)), g.integers(0, c, n)


def _net(kind, activation, **kwargs):
    kwargs.setdefault("rng", np.random.default_rng(1))
    return FullyConnectedNet([6, 4], input_dim=5, num_classes=3, dropout_kind=kind, activation=activation,
                             **kwargs)


@pytest.mark.parametrize("normalization", [None, "batchnorm"])
@pytest.mark.parametrize("input_dropout", [1.0, 0.7])
@pytest.mark.parametrize(("kind", "activation"), VARIANTS)
def test_whole_net_gradient_check(kind, activation, input_dropout, normalization):
    """float64, masks fixed by seed (every call draws the same noise), input dropout included."""
    X, y = _data()
    model = _net(kind, activation, dtype=np.float64, seed=123, dropout=(0.6, 0.8), input_dropout=input_dropout,
                 normalization=normalization, weight_scale=0.5, init="normal", reg=0.1)
    g = np.random.default_rng(2)
    for name in model.params:
        if name.startswith("b"):
            # Biases of zero put the pre-activation of a row whose inputs were all dropped exactly at
            # the ReLU's kink, where centered differences see a slope of 1/2 and backprop 0.
            model.params[name] = g.standard_normal(model.params[name].shape)
    loss, grads = model.loss(X, y)
    assert model.loss(X, y)[0] == loss  # deterministic: the gradient check needs it
    assert sorted(grads) == sorted(model.params)
    for name in sorted(model.params):
        if normalization == "batchnorm" and name in ("b1", "b2"):
            continue  # a bias before batchnorm has an exactly zero gradient (see test_fc_net.py)
        assert_gradient_close(lambda _: model.loss(X, y)[0], model.params[name], grads[name], tol=1e-6,
                              name=name)


@pytest.mark.parametrize(("kind", "activation"), VARIANTS)
def test_the_noise_changes_the_loss_and_test_mode_is_deterministic(kind, activation):
    X, y = _data(n=20)
    model = _net(kind, activation, dropout=0.5, input_dropout=0.8, dtype=np.float64, init="normal",
                 weight_scale=0.5)
    losses = {float(model.loss(X, y)[0]) for _ in range(3)}
    assert len(losses) == 3  # fresh masks from the model's Generator at every call
    assert np.array_equal(model.loss(X), model.loss(X))


@pytest.mark.parametrize(("kind", "activation"), VARIANTS)
def test_test_mode_scores_are_those_without_dropout(kind, activation):
    """Every kind is the identity at test time; DropConnect uses the mean weights, W itself."""
    X, _ = _data(n=6)
    model = _net(kind, activation, dropout=0.5, input_dropout=0.8)
    plain = _net("bernoulli", activation)
    plain.params = {k: v.copy() for k, v in model.params.items()}
    assert np.array_equal(model.loss(X), plain.loss(X))


@pytest.mark.parametrize(("kind", "activation"), VARIANTS)
def test_float32_stays_float32(kind, activation):
    X, y = _data()
    model = _net(kind, activation, dropout=0.5, input_dropout=0.8, dtype=np.float32)
    loss, grads = model.loss(X, y)
    assert np.asarray(loss).dtype == np.float32 and all(g.dtype == np.float32 for g in grads.values())
    assert model.loss(X).dtype == np.float32


def test_defaults_are_bernoulli_relu_with_normal_init():
    model = FullyConnectedNet([4], input_dim=3, num_classes=2)
    assert (model.dropout_kind, model.activation, model.init) == ("bernoulli", "relu", "normal")


def test_selu_nets_use_lecun_normal_unless_told_otherwise():
    dims = [5, 6, 4, 3]
    model = _net("alpha", "selu", rng=np.random.default_rng(7))
    assert model.init == "lecun"
    g = np.random.default_rng(7)
    for i in range(3):
        expected = (1.0 / np.sqrt(dims[i])) * g.standard_normal((dims[i], dims[i + 1]))
        assert np.array_equal(model.params[f"W{i + 1}"], expected.astype(np.float32))
    normal = _net("alpha", "selu", rng=np.random.default_rng(7), init="normal", weight_scale=0.5)
    expected = 0.5 * np.random.default_rng(7).standard_normal((5, 6))
    assert np.array_equal(normal.params["W1"], expected.astype(np.float32))
    relu_lecun = _net("bernoulli", "relu", init="lecun")
    assert relu_lecun.init == "lecun"


def test_he_init_draws_each_layer_with_variance_two_over_its_fan_in():
    dims = [5, 6, 4, 3]
    model = _net("bernoulli", "relu", rng=np.random.default_rng(3), init="he", weight_scale=123.0)
    g = np.random.default_rng(3)
    for i in range(3):
        expected = np.sqrt(2.0 / dims[i]) * g.standard_normal((dims[i], dims[i + 1]))
        assert np.array_equal(model.params[f"W{i + 1}"], expected.astype(np.float32))


def test_he_init_keeps_a_deep_narrow_relu_nets_signal():
    # Ten hidden layers of 64 ReLUs: with He's variance the mean square of the last hidden layer stays
    # within a factor of 2 of the input's; with the paper's N(0, 0.01**2) it shrinks by more than 10**6.
    x = np.random.default_rng(0).standard_normal((2000, 64))
    for init, low, high in (("he", 0.5, 2.0), ("normal", 0.0, 1e-6)):
        model = FullyConnectedNet([64] * 10, input_dim=64, num_classes=2, init=init, weight_scale=0.01,
                                  dtype=np.float64, rng=np.random.default_rng(1))  # fmt: skip
        h = x
        for i in range(10):
            h = np.maximum(h @ model.params[f"W{i + 1}"], 0.0)
        ratio = np.mean(h**2) / np.mean(x**2)
        assert low < ratio < high, (init, ratio)


def test_choices_refused_with_their_names():
    with pytest.raises(InvalidArgumentError, match="dropout_kind='alpha' needs activation='selu'"):
        _net("alpha", "relu")
    with pytest.raises(InvalidArgumentError, match="dropout_kind"):
        _net("standout", "relu")
    with pytest.raises(InvalidArgumentError, match="activation"):
        _net("bernoulli", "tanh")
    with pytest.raises(InvalidTypeError, match="init"):
        _net("bernoulli", "relu", init=1)
    with pytest.raises(InvalidArgumentError, match="rng is required"):
        _net("gaussian", "relu", rng=None, dropout=0.5)
    _net("gaussian", "relu", rng=None)  # keep 1: nothing is drawn, no generator needed


@pytest.mark.parametrize(("kind", "activation"), VARIANTS)
def test_keep_probabilities_assigned_between_steps_take_effect(kind, activation):
    """A schedule sets model.keep_probs / model.input_keep_prob between steps: the next loss uses them,
    exactly as a model built with those values and the same generator state."""
    X, y = _data(n=8)
    scheduled = _net(kind, activation, rng=np.random.default_rng(5))
    fixed = _net(kind, activation, rng=np.random.default_rng(5), dropout=(0.5, 0.7), input_dropout=0.8)
    assert not scheduled.use_dropout
    scheduled.keep_probs = (0.5, 0.7)
    scheduled.input_keep_prob = 0.8
    assert scheduled.use_dropout and scheduled.keep_probs == (0.5, 0.7)
    loss_a, grads_a = scheduled.loss(X, y)
    loss_b, grads_b = fixed.loss(X, y)
    assert loss_a == loss_b and all(np.array_equal(grads_a[k], grads_b[k]) for k in grads_b)
    scheduled.keep_probs = 1.0  # one value for every layer
    scheduled.input_keep_prob = 1.0
    assert scheduled.keep_probs == (1.0, 1.0) and not scheduled.use_dropout


def test_bad_assignments_are_refused_and_change_nothing():
    model = _net("bernoulli", "relu", dropout=0.5)
    with pytest.raises(InvalidArgumentError, match=r"keep_probs\[1\]"):
        model.keep_probs = (0.5, 1.5)
    with pytest.raises(InvalidArgumentError, match="keep_probs"):
        model.keep_probs = (0.5,)
    with pytest.raises(InvalidArgumentError, match="input_keep_prob"):
        model.input_keep_prob = 0.0
    assert model.keep_probs == (0.5, 0.5) and model.input_keep_prob == 1.0
    no_rng = _net("gaussian", "relu", rng=None)
    with pytest.raises(InvalidArgumentError, match="rng is required"):
        no_rng.keep_probs = 0.5
    assert no_rng.keep_probs == (1.0, 1.0)
