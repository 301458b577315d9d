"""Fully connected (affine) layer and the affine-ReLU sandwich."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._typing import FloatArray
from .._validation import check_float_array, check_nonempty_batch, check_same_dtype
from ..errors import InvalidArgumentError, InvalidTypeError
from .relu import ReluCache, relu_backward, relu_forward


class AffineCache(NamedTuple):
    """What affine_backward needs: the input as given (N, d_1, ..., d_k) and the weights."""

    x: FloatArray
    w: FloatArray
    b: FloatArray


class AffineReluCache(NamedTuple):
    affine: AffineCache
    relu: ReluCache


def affine_forward(x: FloatArray, w: FloatArray, b: FloatArray) -> tuple[FloatArray, AffineCache]:
    """Affine map ``out = x.reshape(N, D) @ w + b``.

    Args:
        x: (N, d_1, ..., d_k) inputs; each example is flattened to D = d_1 * ... * d_k values.
        w: (D, M) weights.
        b: (M,) biases.

    Returns:
        out: (N, M), and the cache for :func:`affine_backward`.
    """
    check_float_array("x", x, min_ndim=1)
    check_nonempty_batch("x", x)
    check_float_array("w", w, ndim=2)
    check_float_array("b", b, ndim=1)
    check_same_dtype("w", w, "x", x)
    check_same_dtype("b", b, "x", x)
    num_features = int(np.prod(x.shape[1:], dtype=np.int64))
    if w.shape[0] != num_features:
        raise InvalidArgumentError(
            f"w must have shape ({num_features}, M) to match x of shape {x.shape} "
            f"({num_features} features per example), got w of shape {w.shape}"
        )
    if b.shape != (w.shape[1],):
        raise InvalidArgumentError(f"b must have shape ({w.shape[1]},) to match w, got shape {b.shape}")
    out = x.reshape(x.shape[0], -1).dot(w) + b
    return out, AffineCache(x, w, b)


def affine_backward(
    dout: FloatArray, cache: AffineCache
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Gradients of the affine layer.

    Args:
        dout: (N, M) upstream gradient.
        cache: from :func:`affine_forward`.

    Returns:
        dx: (N, d_1, ..., d_k) in x's shape, dw: (D, M), db: (M,).
    """
    if not isinstance(cache, AffineCache):
        raise InvalidTypeError(
            f"cache must be the AffineCache that affine_forward returned, got {type(cache).__name__}"
        )
    x, w, _ = cache
    check_float_array("dout", dout, ndim=2)
    check_same_dtype("dout", dout, "the forward input x", x)
    if dout.shape != (x.shape[0], w.shape[1]):
        raise InvalidArgumentError(
            f"dout must have shape {(x.shape[0], w.shape[1])} to match the forward pass, "
            f"got shape {dout.shape}"
        )
    dx = dout.dot(w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T.dot(dout)
    db = np.sum(dout, axis=0)
    return dx, dw, db


def affine_relu_forward(
    x: FloatArray, w: FloatArray, b: FloatArray
) -> tuple[FloatArray, AffineReluCache]:
    """``relu(affine(x, w, b))``; shapes as in :func:`affine_forward`."""
    a, fc_cache = affine_forward(x, w, b)
    out, relu_cache = relu_forward(a)
    return out, AffineReluCache(fc_cache, relu_cache)


def affine_relu_backward(
    dout: FloatArray, cache: AffineReluCache
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Backward pass of :func:`affine_relu_forward`: returns ``dx, dw, db``."""
    if not isinstance(cache, AffineReluCache):
        raise InvalidTypeError(
            f"cache must be the AffineReluCache that affine_relu_forward returned, got {type(cache).__name__}"
        )
    da = relu_backward(dout, cache.relu)
    return affine_backward(da, cache.affine)
