"""The dropout kinds and activations of :class:`~dropout_lab.models.FullyConnectedNet` beyond
Bernoulli dropout and ReLU, and Monte Carlo prediction: the layer functions the model's
layer-by-layer path calls, chosen by name.

Kinds (``dropout_kind``), each applied where Bernoulli dropout is:

* ``'bernoulli'``: inverted dropout on the units (:func:`~dropout_lab.layers.dropout`).
* ``'gaussian'``: Gaussian dropout on the units (:func:`~dropout_lab.layers.gaussian_dropout`).
* ``'alpha'``: alpha dropout on the units (:func:`~dropout_lab.layers.alpha_dropout`), SELU nets only.
* ``'dropconnect'``: a mask on the weights that read the units (:func:`~dropout_lab.layers.dropconnect_affine`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._typing import FloatArray
from ..errors import InvalidArgumentError, InvalidTypeError
from ..layers.affine import AffineCache, affine_backward
from ..layers.alpha_dropout import AlphaDropoutCache, alpha_dropout, alpha_dropout_backward
from ..layers.dropconnect import DropConnectCache, dropconnect_affine_backward
from ..layers.dropout import DropoutCache, dropout_backward
from ..layers.gaussian_dropout import GaussianDropoutCache, gaussian_dropout, gaussian_dropout_backward
from ..layers.relu import ReluCache, relu_backward, relu_forward
from ..layers.selu import SeluCache, selu_backward, selu_forward

DROPOUT_KINDS = ("bernoulli", "gaussian", "dropconnect", "alpha")
ACTIVATIONS = ("relu", "selu")
INITS = ("normal", "lecun", "he")

NoiseCache = DropoutCache | GaussianDropoutCache | AlphaDropoutCache
ActivationCache = ReluCache | SeluCache


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str):
        raise InvalidTypeError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    if value not in allowed:
        raise InvalidArgumentError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    return value


def check_variant(dropout_kind: Any, activation: Any, init: Any) -> tuple[str, str, str]:
    """``(dropout_kind, activation, init)`` checked; ``init=None`` becomes 'lecun' for SELU, else
    'normal'. Alpha dropout is refused with ReLU: its correction assumes SELU's fixed point."""
    kind = _choice("dropout_kind", dropout_kind, DROPOUT_KINDS)
    act = _choice("activation", activation, ACTIVATIONS)
    if kind == "alpha" and act != "selu":
        raise InvalidArgumentError(
            f"dropout_kind='alpha' needs activation='selu', got activation={act!r}: alpha dropout keeps "
            "the mean 0 and variance 1 of SELU's units, and has no meaning after a ReLU"
        )
    if init is None:
        return kind, act, "lecun" if act == "selu" else "normal"
    return kind, act, _choice("init", init, INITS)


def activation_forward(activation: str, h: FloatArray) -> tuple[FloatArray, ActivationCache]:
    """``relu(h)`` or ``selu(h)``, with the cache of that layer."""
    if activation == "selu":
        return selu_forward(h)
    return relu_forward(h)


def activation_backward(dh: FloatArray, cache: ActivationCache) -> FloatArray:
    """The backward pass of the activation whose cache this is."""
    if isinstance(cache, SeluCache):
        return selu_backward(dh, cache)
    return relu_backward(dh, cache)


def unit_noise(
    kind: str, h: FloatArray, keep_prob: float, train: bool, rng: np.random.Generator | None
) -> tuple[FloatArray, NoiseCache | None]:
    """Gaussian or alpha dropout of the units ``h`` (DropConnect drops no units: ``h`` as it is)."""
    if kind == "gaussian":
        return gaussian_dropout(h, keep_prob, train=train, rng=rng)
    if kind == "alpha":
        return alpha_dropout(h, keep_prob, train=train, rng=rng)
    return h, None


def unit_noise_backward(dh: FloatArray, cache: NoiseCache) -> FloatArray:
    """The backward pass of the unit dropout whose cache this is."""
    if isinstance(cache, GaussianDropoutCache):
        return gaussian_dropout_backward(dh, cache)
    if isinstance(cache, AlphaDropoutCache):
        return alpha_dropout_backward(dh, cache)
    return dropout_backward(dh, cache)


def affine_any_backward(
    dout: FloatArray, cache: AffineCache | DropConnectCache
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``dx, dw, db`` of a plain or a DropConnect affine layer, from its cache."""
    if isinstance(cache, DropConnectCache):
        return dropconnect_affine_backward(dout, cache)
    return affine_backward(dout, cache)


def softmax(scores: FloatArray) -> FloatArray:
    """Row-wise softmax of (N, C) scores, in their dtype (float32 stays float32)."""
    shifted = scores - scores.max(axis=1, keepdims=True)
    probs: FloatArray = np.exp(shifted, out=shifted)
    probs /= probs.sum(axis=1, keepdims=True)
    return probs
