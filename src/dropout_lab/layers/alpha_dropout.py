"""Alpha dropout (Klambauer et al. 2017, "Self-Normalizing Neural Networks", NeurIPS,
https://arxiv.org/abs/1706.02515), the dropout of SELU nets.

Alpha dropout keeps SELU's fixed point (mean 0, variance 1) where Bernoulli dropout would not (its
zeros move the mean and its ``1 / keep_prob`` scale the variance): a dropped unit goes to SELU's
negative saturation value ``alpha' = -lambda * alpha`` instead of 0, and the affine correction
``a * x + b`` with ``a = (q + alpha'**2 q (1 - q))**(-1/2)`` and ``b = -a (1 - q) alpha'`` (``q`` the
keep probability) restores mean 0 and variance 1 for any input of mean 0 and variance 1. Test mode
is the identity.

**Convention: ``keep_prob`` is the probability of KEEPING a unit.** PyTorch's
``torch.nn.AlphaDropout(p)`` and Keras's ``keras.layers.AlphaDropout(rate)`` take the drop
probability: our ``keep_prob=0.95`` is their ``p=0.05`` / ``rate=0.05``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .._typing import FloatArray
from .._validation import check_float_array, check_keep_prob
from ..errors import InvalidArgumentError, InvalidTypeError
from ._mode import check_rng, check_train, require_rng
from .dropout import dropout_mask
from .selu import SELU_ALPHA, SELU_LAMBDA

__all__ = ["AlphaDropoutCache", "alpha_dropout", "alpha_dropout_affine", "alpha_dropout_backward"]

# alpha' = -lambda * alpha: where SELU saturates for x -> -inf, and where a dropped unit goes.
_ALPHA_PRIME = -SELU_LAMBDA * SELU_ALPHA


class AlphaDropoutCache(NamedTuple):
    """mask: boolean, x's shape (True = kept), or None in test mode or at keep_prob 1; a: the affine
    correction's scale, in x's dtype (the gradient of a kept unit)."""

    mask: np.ndarray | None
    a: np.floating


def alpha_dropout_affine(keep_prob: float) -> tuple[float, float]:
    """The affine correction ``(a, b)`` of alpha dropout for keep probability ``q = keep_prob``.

    ``a = (q + alpha'**2 q (1 - q))**(-1/2)``, ``b = -a (1 - q) alpha'``, ``alpha' = -lambda * alpha``:
    then ``a * (x * mask + alpha' * (1 - mask)) + b`` has mean 0 and variance 1 when x has. (1, 0) at
    ``keep_prob`` 1.
    """
    q = check_keep_prob("keep_prob", keep_prob)
    a = 1.0 / math.sqrt(q + _ALPHA_PRIME**2 * q * (1.0 - q))
    b = -a * (1.0 - q) * _ALPHA_PRIME
    return a, b


def alpha_dropout(
    x: FloatArray,
    keep_prob: float,
    *,
    train: bool,
    rng: np.random.Generator | None = None,
) -> tuple[FloatArray, AlphaDropoutCache]:
    """Alpha dropout: ``out = a * x + b`` where kept, ``a * alpha' + b`` where dropped.

    ``mask ~ Bernoulli(keep_prob)`` from :func:`~dropout_lab.layers.dropout_mask` (the same masks as
    :func:`~dropout_lab.layers.dropout` draws from the same generator state), ``alpha' = -lambda *
    alpha`` and ``(a, b)`` from :func:`alpha_dropout_affine`. Meant after SELU (inputs of mean 0 and
    variance 1). PyTorch: ``torch.nn.AlphaDropout(p=1 - keep_prob)``.

    Args:
        x: any shape, float32 or float64.
        keep_prob: probability of KEEPING each unit, in (0, 1] (not the drop probability).
        train: True applies a fresh mask; False returns ``x`` unchanged (a copy).
        rng: the generator the mask is drawn from; required when ``train`` and ``keep_prob < 1``.

    Returns:
        out: x's shape and dtype, and the cache for :func:`alpha_dropout_backward`.
    """
    check_float_array("x", x)
    keep_prob = check_keep_prob("keep_prob", keep_prob)
    train = check_train(train)
    check_rng(rng)
    a, b = alpha_dropout_affine(keep_prob)
    scale = x.dtype.type(a)
    if not train or keep_prob == 1.0:
        return x.copy(), AlphaDropoutCache(None, scale)
    rng = require_rng(rng)
    mask = dropout_mask(x.shape, keep_prob, rng)
    kept = x * scale
    kept += x.dtype.type(b)
    out: FloatArray = np.where(mask, kept, x.dtype.type(a * _ALPHA_PRIME + b))
    return out, AlphaDropoutCache(mask, scale)


def alpha_dropout_backward(dout: FloatArray, cache: AlphaDropoutCache) -> FloatArray:
    """Gradient of alpha dropout: ``dx = dout * a * mask`` in training, ``dx = dout`` in test mode.

    Args:
        dout: upstream gradient, the forward input's shape. cache: from :func:`alpha_dropout`.

    Returns:
        dx: dout's shape and dtype; dropped elements are exactly 0.
    """
    if not isinstance(cache, AlphaDropoutCache):
        raise InvalidTypeError(
            f"cache must be the AlphaDropoutCache that alpha_dropout returned, got {type(cache).__name__}"
        )
    check_float_array("dout", dout)
    if cache.mask is None:
        same: FloatArray = dout.copy()
        return same
    if dout.dtype != np.asarray(cache.a).dtype:
        raise InvalidTypeError(
            f"dout must have the dtype of the forward input x ({np.asarray(cache.a).dtype}), got dtype {dout.dtype}"
        )
    if dout.shape != cache.mask.shape:
        raise InvalidArgumentError(
            f"dout must have shape {cache.mask.shape} like the forward input, got shape {dout.shape}"
        )
    dx: FloatArray = np.where(cache.mask, dout * dout.dtype.type(cache.a), dout.dtype.type(0))
    return dx
