"""SELU, the scaled exponential linear unit (Klambauer et al. 2017, "Self-Normalizing Neural
Networks", NeurIPS, https://arxiv.org/abs/1706.02515).

``selu(x) = lambda * x`` for ``x > 0`` and ``lambda * alpha * (exp(x) - 1)`` otherwise, with the
paper's constants: for ``x ~ N(0, 1)``, ``selu(x)`` has mean 0 and variance 1 again (the fixed point
that makes a net with LeCun-normal weights, ``std = 1 / sqrt(d_in)``, self-normalizing). PyTorch:
``torch.nn.SELU()``; Keras: ``activation="selu"`` (the same constants). Its dropout is
:mod:`dropout_lab.layers.alpha_dropout`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._typing import FloatArray
from .._validation import check_float_array, check_same_dtype
from ..errors import InvalidArgumentError, InvalidTypeError

__all__ = ["SELU_ALPHA", "SELU_LAMBDA", "SeluCache", "selu_backward", "selu_forward"]

#: SELU's scale lambda (the paper's eq. 14 solution, to double precision: 1.0507009873554804934...).
SELU_LAMBDA = 1.0507009873554804934193349852946
#: SELU's alpha (the paper's eq. 14 solution, to double precision: 1.6732632423543772848...).
SELU_ALPHA = 1.6732632423543772848170429916717


class SeluCache(NamedTuple):
    """x: the input, any shape; out: selu(x) (the gradient for x <= 0 is ``out + lambda * alpha``)."""

    x: FloatArray
    out: FloatArray


def selu_forward(x: FloatArray) -> tuple[FloatArray, SeluCache]:
    """``out = lambda * x`` for x > 0, ``lambda * alpha * (exp(x) - 1)`` for x <= 0, elementwise.

    Args:
        x: any shape, float32 or float64.

    Returns:
        out: x's shape and dtype, and the cache for :func:`selu_backward`.
    """
    check_float_array("x", x)
    scale = x.dtype.type(SELU_LAMBDA)
    scale_alpha = x.dtype.type(SELU_LAMBDA * SELU_ALPHA)
    # expm1 of min(x, 0): exact near 0, and no overflow for the large positive x whose branch is unused.
    negative = np.expm1(np.minimum(x, x.dtype.type(0)))
    negative *= scale_alpha
    out: FloatArray = np.where(x > 0, x * scale, negative)
    return out, SeluCache(x, out)


def selu_backward(dout: FloatArray, cache: SeluCache) -> FloatArray:
    """``dx = dout * lambda`` where x > 0, ``dout * lambda * alpha * exp(x)`` elsewhere.

    Args:
        dout: upstream gradient, x's shape and dtype. cache: from :func:`selu_forward`.

    Returns:
        dx: x's shape and dtype.
    """
    if not isinstance(cache, SeluCache):
        raise InvalidTypeError(f"cache must be the SeluCache that selu_forward returned, got {type(cache).__name__}")
    x, out = cache
    check_float_array("dout", dout)
    check_same_dtype("dout", dout, "the forward input x", x)
    if dout.shape != x.shape:
        raise InvalidArgumentError(f"dout must have shape {x.shape} like x, got shape {dout.shape}")
    # lambda * alpha * exp(x) = out + lambda * alpha for x <= 0: no second exponential.
    slope = np.where(x > 0, x.dtype.type(SELU_LAMBDA), out + x.dtype.type(SELU_LAMBDA * SELU_ALPHA))
    dx: FloatArray = dout * slope
    return dx
