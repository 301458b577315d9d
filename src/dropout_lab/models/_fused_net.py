"""The fused paths of :class:`~dropout_lab.models.FullyConnectedNet` without normalization: test-mode
scores, and a training step for Bernoulli dropout with ReLU, with the biases, ReLU and dropout
applied in place and the ReLU and dropout gradients in one pass. The values are those of the
layer-by-layer computation on the same masks."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..layers.dropout import _apply_mask, dropout
from ..layers.losses import softmax_loss
from ..layers.selu import selu_forward


def fused_scores(params: dict[str, np.ndarray], num_layers: int, activation: str, X: np.ndarray) -> np.ndarray:
    """Test-mode scores (N, C): ``relu(h @ W + b)`` (or SELU) layer by layer (every kind of dropout
    is the identity in test mode, DropConnect's mean weights are W). X: (N, d_1, ...), cast already."""
    h = X.reshape(X.shape[0], -1)
    for i in range(1, num_layers):
        a = h.dot(params[f"W{i}"])
        a += params[f"b{i}"]
        h = np.maximum(0, a, out=a) if activation == "relu" else selu_forward(a)[0]
    scores: np.ndarray = h.dot(params[f"W{num_layers}"])
    scores += params[f"b{num_layers}"]
    return scores


def fused_train_step(
    params: dict[str, np.ndarray],
    keep_probs: tuple[float, ...],
    input_keep_prob: float,
    rng: np.random.Generator,
    X: np.ndarray,
    y: np.ndarray,
) -> tuple[Any, dict[str, np.ndarray]]:
    """Loss and gradients (without L2) of a Bernoulli-dropout ReLU net in training mode, with fresh
    masks from ``rng``; ``len(keep_probs) + 1`` layers.

    The forward pass keeps each layer's output ``h_i = dropout(relu(h_{i-1} @ W_i + b_i))``. Since
    ``1 / keep_prob >= 1``, ``h_i > 0`` exactly where the unit was both active and kept, so the
    ReLU and dropout gradients together are ``dout * (1 / keep_prob)`` where ``h_i > 0`` and 0
    elsewhere: one masked pass, the same values as the two layer functions.
    """
    L = len(keep_probs) + 1
    h = X.reshape(X.shape[0], -1)
    if input_keep_prob != 1.0:
        # X belongs to the caller: the dropped inputs go to a new array.
        h, _ = dropout(h, input_keep_prob, train=True, rng=rng)
    inputs = [h]  # inputs[i - 1]: layer i's input, (N, d_{i-1})
    for i in range(1, L):
        a = h.dot(params[f"W{i}"])
        a += params[f"b{i}"]
        np.maximum(0, a, out=a)
        keep_prob = keep_probs[i - 1]
        if keep_prob != 1.0:
            dropout(a, keep_prob, train=True, rng=rng, out=a)
        inputs.append(a)
        h = a
    scores = h.dot(params[f"W{L}"])
    scores += params[f"b{L}"]

    loss, dh = softmax_loss(scores, y)
    grads: dict[str, np.ndarray] = {}
    for i in range(L, 0, -1):
        x_in = inputs[i - 1]
        grads[f"W{i}"] = x_in.T.dot(dh)
        grads[f"b{i}"] = np.sum(dh, axis=0)
        if i == 1:
            break  # the gradient with respect to the data is never used
        dh = dh.dot(params[f"W{i}"].T)
        scale = dh.dtype.type(1 / keep_probs[i - 2])
        _apply_mask(dh, x_in > 0, scale, out=dh)
    return loss, grads
