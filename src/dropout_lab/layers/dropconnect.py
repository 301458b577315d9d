"""DropConnect (Wan et al. 2013, ICML, http://proceedings.mlr.press/v28/wan13.html).

Dropout drops units; DropConnect drops connections: a Bernoulli mask falls on the weights of an
affine layer, ``out = x @ (w * mask / keep_prob) + b`` with ``mask ~ Bernoulli(keep_prob)`` per
weight (the biases are kept).

**One weight mask per minibatch.** The paper draws a mask per example, which makes the layer N
matrix-vector products with N masked copies of the (D, M) weights, N * D * M random bits and as much
memory per step. One mask shared by the minibatch keeps the layer one matrix product, drawn with
D * M bits; each step still trains another random sub-network, and the gradient stays an unbiased
estimate of the same expected loss (the examples of a batch are correlated through the shared mask,
which only adds variance). Per-example masks are the same layer applied to batches of one.

**Inference with the mean weights.** The mask is scaled by ``1 / keep_prob`` (inverted, as our
dropout), so ``E[w * mask / keep_prob] = w`` and test mode is the plain affine layer with the mean
weights: ``out = x @ w + b``, exactly ``E[out]`` for a given ``x``. The paper instead infers with a
Gaussian moment-matching approximation of the pre-activation distribution (its Algorithm 2: match
its mean and variance with a Gaussian, sample it, pass the samples through the activation and
average). We use the mean weights, the cheap deterministic rule of dropout; Monte Carlo sampling,
:func:`dropconnect_affine` in training mode averaged over several masks
(``FullyConnectedNet.predict_proba(X, mc_samples=K)``), is the stochastic alternative.

**Convention: keep probability** (``keep_prob`` = 1 - the drop rate). Neither PyTorch nor Keras has a
DropConnect layer; the nearest is ``torch.nn.utils.prune``-style masking of ``Linear.weight``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._typing import FloatArray
from .._validation import check_float_array, check_keep_prob
from ..errors import InvalidTypeError
from ._mode import check_rng, check_train, require_rng
from .affine import AffineCache, affine_backward, affine_forward
from .dropout import DropoutCache, dropout_backward, dropout_mask

__all__ = ["DropConnectCache", "dropconnect_affine", "dropconnect_affine_backward"]


class DropConnectCache(NamedTuple):
    """affine: the affine layer's cache, holding x and the weights used (``w * mask / keep_prob`` in
    training, ``w`` in test mode); weights: the mask on w's (D, M) and the scale ``1 / keep_prob``
    (mask None in test mode or at keep_prob 1)."""

    affine: AffineCache
    weights: DropoutCache


def dropconnect_affine(
    x: FloatArray,
    w: FloatArray,
    b: FloatArray,
    keep_prob: float,
    *,
    train: bool,
    rng: np.random.Generator | None = None,
) -> tuple[FloatArray, DropConnectCache]:
    """DropConnect affine layer: ``out = x.reshape(N, D) @ (w * mask / keep_prob) + b``.

    ``mask ~ Bernoulli(keep_prob)``, (D, M), one per call (the minibatch), drawn with
    :func:`~dropout_lab.layers.dropout_mask` from ``rng``. Test mode uses the mean weights:
    ``out = x @ w + b``.

    Args:
        x: (N, d_1, ..., d_k) inputs, D = d_1 * ... * d_k values each; float32 or float64.
        w: (D, M) weights, x's dtype. b: (M,) biases, x's dtype (never masked).
        keep_prob: probability of KEEPING each weight, in (0, 1].
        train: True draws a fresh weight mask; False uses w itself.
        rng: the generator the mask is drawn from; required when ``train`` and ``keep_prob < 1``.

    Returns:
        out: (N, M) in x's dtype, and the cache for :func:`dropconnect_affine_backward`.
    """
    check_float_array("x", x, min_ndim=1)
    check_float_array("w", w, ndim=2)
    keep_prob = check_keep_prob("keep_prob", keep_prob)
    train = check_train(train)
    check_rng(rng)
    scale = w.dtype.type(1 / keep_prob)
    if not train or keep_prob == 1.0:
        out, affine = affine_forward(x, w, b)
        return out, DropConnectCache(affine, DropoutCache(None, scale))
    rng = require_rng(rng)
    # affine_forward checks every shape and dtype before the mask is drawn (the generator does not
    # move on a refused call): first with the unmasked weights, a check that costs no product.
    affine_forward(x[:1], w, b)
    mask = dropout_mask(w.shape, keep_prob, rng)
    masked = np.where(mask, w * scale, w.dtype.type(0))
    out, affine = affine_forward(x, masked, b)
    return out, DropConnectCache(affine, DropoutCache(mask, scale))


def dropconnect_affine_backward(
    dout: FloatArray, cache: DropConnectCache
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Gradients of the DropConnect affine layer.

    ``dx = dout @ (w * mask / keep_prob).T``, ``dw = (x.T @ dout) * mask / keep_prob``,
    ``db = sum(dout, axis=0)`` (test mode: those of the affine layer).

    Args:
        dout: (N, M) upstream gradient, x's dtype.
        cache: the :class:`DropConnectCache` from :func:`dropconnect_affine`.

    Returns:
        dx: x's shape, dw: (D, M), db: (M,).
    """
    if not isinstance(cache, DropConnectCache):
        raise InvalidTypeError(
            f"cache must be the DropConnectCache that dropconnect_affine returned, got {type(cache).__name__}"
        )
    dx, dw_masked, db = affine_backward(dout, cache.affine)
    # The masked weights are w * mask * scale: their gradient reaches w through the same mask and scale.
    dw = dropout_backward(dw_masked, cache.weights)
    return dx, dw, db
