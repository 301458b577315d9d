"""FullyConnectedNet's fused paths (no normalization): the scores, and training with a Generator, give
exactly what the layer functions give on the same masks."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from dropout_lab import FullyConnectedNet, dropout, dropout_backward
from dropout_lab.layers import affine_backward, affine_forward, relu_backward, relu_forward, softmax_loss


def layered(model: FullyConnectedNet, X: np.ndarray, y: np.ndarray | None, rng: np.random.Generator | None):
    """The network computed with the public layer functions, masks drawn from ``rng`` in the model's
    order (input first, then each hidden layer)."""
    X = X.astype(model.dtype)
    train = y is not None
    h = X
    input_cache = None
    if train and model.input_keep_prob != 1.0:
        h, input_cache = dropout(X, model.input_keep_prob, train=True, rng=rng)
    caches = []
    for i in range(1, model.num_layers):
        h, fc = affine_forward(h, model.params[f"W{i}"], model.params[f"b{i}"])
        h, rc = relu_forward(h)
        drop = None
        if train and model.keep_probs[i - 1] != 1.0:
            h, drop = dropout(h, model.keep_probs[i - 1], train=True, rng=rng)
        caches.append((fc, rc, drop))
    L = model.num_layers
    scores, last = affine_forward(h, model.params[f"W{L}"], model.params[f"b{L}"])
    if not train:
        return scores
    loss, d = softmax_loss(scores, y)
    grads = {}
    d, grads[f"W{L}"], grads[f"b{L}"] = affine_backward(d, last)
    for i in range(L - 1, 0, -1):
        fc, rc, drop = caches[i - 1]
        if drop is not None:
            d = dropout_backward(d, drop)
        d = relu_backward(d, rc)
        d, grads[f"W{i}"], grads[f"b{i}"] = affine_backward(d, fc)
    for i in range(1, L + 1):
        w = model.params[f"W{i}"]
        loss += 0.5 * model.reg * np.sum(w * w)
        grads[f"W{i}"] += model.reg * w
    return loss, grads


CASES = [
    dict(hidden=[30], dropout=0.5),
    dict(hidden=[30], dropout=1.0),
    dict(hidden=[25, 20], dropout=[0.75, 0.9], input_dropout=0.8, reg=0.3),
    dict(hidden=[20, 20, 15], dropout=[1.0, 0.5, 0.25], reg=0.0),
    dict(hidden=[40], dropout=0.123, input_dropout=0.5, reg=1e-3),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=lambda c: str(c))
def test_fused_training_step_equals_the_layer_functions(case, dtype):
    case = dict(case)
    hidden = case.pop("hidden")
    g = np.random.default_rng(len(hidden))
    X = g.standard_normal((17, 2, 3, 4))
    y = g.integers(0, 6, 17)
    model = FullyConnectedNet(hidden, input_dim=24, num_classes=6, weight_scale=0.3, dtype=dtype,
                              rng=np.random.default_rng(7), **case)
    for _ in range(3):  # fresh masks each call; the reference replays the same stream
        twin = copy.deepcopy(model.rng)
        loss, grads = model.loss(X, y)
        ref_loss, ref_grads = layered(model, X, y, twin)
        assert model.rng.bit_generator.state == twin.bit_generator.state
        assert loss == ref_loss and np.asarray(loss).dtype == dtype
        assert sorted(grads) == sorted(ref_grads) == sorted(model.params)
        for name in grads:
            assert grads[name].dtype == dtype
            assert np.array_equal(grads[name], ref_grads[name]), name


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kwargs", [{}, {"dropout": 0.5, "seed": 3}, {"dropout": 0.5, "rng": np.random.default_rng(1)}])
def test_fused_scores_equal_the_layer_functions(kwargs, dtype):
    np.random.seed(12)  # the weights of the model without rng come from the global generator
    g = np.random.default_rng(2)
    X = g.standard_normal((9, 12))
    model = FullyConnectedNet([16, 8], input_dim=12, num_classes=4, weight_scale=0.4, dtype=dtype, **kwargs)
    scores = model.loss(X)
    assert scores.dtype == dtype
    assert np.array_equal(scores, layered(model, X, None, None))


class TransposeCounter(np.ndarray):
    """An array that counts how often its transpose is taken (a backward pass through a weight
    matrix multiplies by W.T)."""

    transposes = 0

    @property
    def T(self):
        TransposeCounter.transposes += 1
        return np.asarray(self).T


def test_the_gradient_with_respect_to_the_data_is_not_computed():
    """dX = dh @ W1.T is never formed: W1's transpose is not taken by the fused step, while the
    layer functions take it (so the counter does detect it)."""
    g = np.random.default_rng(0)
    X, y = g.standard_normal((5, 7)), np.array([0, 1, 2, 0, 1])
    model = FullyConnectedNet([10], input_dim=7, num_classes=3, dropout=0.5, rng=np.random.default_rng(1))
    model.params["W1"] = model.params["W1"].view(TransposeCounter)
    TransposeCounter.transposes = 0
    _, grads = model.loss(X, y)
    assert TransposeCounter.transposes == 0
    assert grads["W1"].shape == (7, 10)
    layered(model, X, y, np.random.default_rng(2))
    assert TransposeCounter.transposes == 1


def test_reference_paths_still_use_the_layer_functions():
    """A seeded model and one with normalization keep the layer-by-layer computation (the course's
    numbers): their training losses match layered() run the same way."""
    g = np.random.default_rng(4)
    X = g.standard_normal((6, 5))
    y = g.integers(0, 3, 6)
    model = FullyConnectedNet([8], input_dim=5, num_classes=3, dropout=1.0, dtype=np.float64, seed=5,
                              rng=np.random.default_rng(0))
    loss, grads = model.loss(X, y)
    ref_loss, ref_grads = layered(model, X, y, None)
    assert loss == ref_loss and all(np.array_equal(grads[k], ref_grads[k]) for k in grads)
