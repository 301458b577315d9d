"""Rectified linear unit."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._typing import FloatArray
from .._validation import check_float_array, check_same_dtype
from ..errors import InvalidArgumentError, InvalidTypeError


class ReluCache(NamedTuple):
    """The input x, any shape; the gradient passes where x > 0."""

    x: FloatArray


def relu_forward(x: FloatArray) -> tuple[FloatArray, ReluCache]:
    """``out = max(0, x)`` elementwise; x: any shape, out: x's shape and dtype."""
    check_float_array("x", x)
    out = np.maximum(0, x)
    return out, ReluCache(x)


def relu_backward(dout: FloatArray, cache: ReluCache) -> FloatArray:
    """``dx = dout * (x > 0)``; dout and dx in x's shape."""
    if not isinstance(cache, ReluCache):
        raise InvalidTypeError(f"cache must be the ReluCache that relu_forward returned, got {type(cache).__name__}")
    x = cache.x
    check_float_array("dout", dout)
    check_same_dtype("dout", dout, "the forward input x", x)
    if dout.shape != x.shape:
        raise InvalidArgumentError(f"dout must have shape {x.shape} like x, got shape {dout.shape}")
    return np.where(x > 0, dout, dout.dtype.type(0))
