"""Batch normalization and layer normalization, with the course's dict parameters.

Batch normalization (Ioffe and Szegedy 2015, https://arxiv.org/abs/1502.03167) normalizes each
feature over the batch; layer normalization (Ba, Kiros and Hinton 2016,
https://arxiv.org/abs/1607.06450) normalizes each example over its features.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .._typing import FloatArray
from .._validation import (
    check_float_array,
    check_mode,
    check_nonempty_batch,
    check_positive_real,
    check_same_dtype,
    check_unit_interval,
)
from ..errors import InvalidArgumentError, InvalidTypeError


class NormCache(NamedTuple):
    """What the backward passes need; ``axis`` is 0 for batchnorm and 1 for layernorm.

    x: (N, D) input, x_hat: (N, D) normalized input, mean and var: the statistics used (length D for
    batchnorm, N for layernorm, shaped to broadcast), gamma: (D,), eps: the variance offset.
    """

    x: FloatArray
    x_hat: FloatArray
    mean: FloatArray
    var: FloatArray
    gamma: FloatArray
    eps: float
    axis: int


def _check_inputs(x: FloatArray, gamma: FloatArray, beta: FloatArray, param: object, param_name: str) -> None:
    check_float_array("x", x, ndim=2)
    check_nonempty_batch("x", x)
    d = x.shape[1]
    for name, value in (("gamma", gamma), ("beta", beta)):
        check_float_array(name, value, ndim=1)
        if value.shape != (d,):
            raise InvalidArgumentError(
                f"{name} must have shape ({d},) to match x of shape {x.shape}, got shape {value.shape}"
            )
        check_same_dtype(name, value, "x", x)
    if not isinstance(param, dict):
        raise InvalidTypeError(f"{param_name} must be a dict, got {type(param).__name__}")


def batchnorm_forward(
    x: FloatArray, gamma: FloatArray, beta: FloatArray, bn_param: dict[str, Any]
) -> tuple[FloatArray, NormCache | None]:
    """Batch normalization: ``out = gamma * (x - mean) / sqrt(var + eps) + beta``.

    In 'train' mode the mean and (biased) variance are the batch's, and the running averages are
    updated in ``bn_param`` (``running = momentum * running + (1 - momentum) * batch``), as the course
    does; in 'test' mode the running averages are used and nothing is changed.

    Args:
        x: (N, D) inputs.
        gamma: (D,) scale. beta: (D,) shift.
        bn_param: ``mode`` ('train' | 'test', required), ``eps`` (default 1e-5), ``momentum``
            (default 0.9), ``running_mean`` and ``running_var`` ((D,), default zeros; written back).

    Returns:
        out: (N, D), and the cache for the backward passes (None in test mode).
    """
    _check_inputs(x, gamma, beta, bn_param, "bn_param")
    train = check_mode("bn_param['mode']", bn_param.get("mode"))
    eps = check_positive_real("bn_param['eps']", bn_param.get("eps", 1e-5))
    momentum = check_unit_interval("bn_param['momentum']", bn_param.get("momentum", 0.9), closed_right=True)
    d = x.shape[1]
    running_mean = bn_param.get("running_mean", np.zeros(d, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.zeros(d, dtype=x.dtype))
    for name, value in (("running_mean", running_mean), ("running_var", running_var)):
        check_float_array(f"bn_param[{name!r}]", value, ndim=1)
        if value.shape != (d,):
            raise InvalidArgumentError(
                f"bn_param[{name!r}] must have shape ({d},) to match x, got shape {value.shape}"
            )
        check_same_dtype(f"bn_param[{name!r}]", value, "x", x)

    if train:
        sample_mean = np.mean(x, axis=0)
        sample_var = np.var(x, axis=0)
        x_hat = (x - sample_mean) / np.sqrt(sample_var + eps)
        out = gamma * x_hat + beta
        cache: NormCache | None = NormCache(x, x_hat, sample_mean, sample_var, gamma, eps, 0)
        running_mean = momentum * running_mean + (1 - momentum) * sample_mean
        running_var = momentum * running_var + (1 - momentum) * sample_var
    else:
        x_hat = (x - running_mean) / np.sqrt(running_var + eps)
        out = gamma * x_hat + beta
        cache = None

    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    return out, cache


def _check_backward(dout: FloatArray, cache: NormCache | None, expected_axis: int) -> NormCache:
    if not isinstance(cache, NormCache):
        raise InvalidTypeError(
            "cache must come from a forward pass in 'train' mode (test mode keeps no cache), "
            f"got {type(cache).__name__}"
        )
    if cache.axis != expected_axis:
        other = "layernorm" if cache.axis == 1 else "batchnorm"
        raise InvalidArgumentError(f"cache comes from {other}_forward, not from this layer's forward")
    check_float_array("dout", dout, ndim=2)
    if dout.shape != cache.x.shape:
        raise InvalidArgumentError(f"dout must have shape {cache.x.shape} like x, got shape {dout.shape}")
    check_same_dtype("dout", dout, "the forward input x", cache.x)
    return cache


def batchnorm_backward(
    dout: FloatArray, cache: NormCache
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Backward pass of batchnorm through its computational graph, step by step.

    Args:
        dout: (N, D) upstream gradient. cache: from :func:`batchnorm_forward` in 'train' mode.

    Returns:
        dx: (N, D), dgamma: (D,), dbeta: (D,).
    """
    x, x_hat, mean, var, gamma, eps, _ = _check_backward(dout, cache, 0)
    n = x.shape[0]
    dbeta = np.sum(dout, axis=0)
    dgamma = np.sum(dout * x_hat, axis=0)
    dx_hat = dout * gamma
    centered = x - mean
    std = np.sqrt(var + eps)
    dvar = np.sum(dx_hat * centered, axis=0) * (-0.5) * (var + eps) ** (-1.5)
    dmean = np.sum(-dx_hat / std, axis=0) + dvar * np.mean(-2 * centered, axis=0)
    dx = dx_hat / std + dvar * 2 * centered / n + dmean / n
    return dx, dgamma, dbeta


def batchnorm_backward_alt(
    dout: FloatArray, cache: NormCache
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Backward pass of batchnorm in closed form (same results as :func:`batchnorm_backward`).

    ``dx = gamma / (N * std) * (N * dout - sum(dout) - x_hat * sum(dout * x_hat))``, sums over the batch.
    """
    _, x_hat, _, var, gamma, eps, _ = _check_backward(dout, cache, 0)
    n = x_hat.shape[0]
    dbeta = np.sum(dout, axis=0)
    dgamma = np.sum(dout * x_hat, axis=0)
    std = np.sqrt(var + eps)
    dx = (gamma / (n * std)) * (n * dout - dbeta - x_hat * dgamma)
    return dx, dgamma, dbeta


def layernorm_forward(
    x: FloatArray, gamma: FloatArray, beta: FloatArray, ln_param: dict[str, Any]
) -> tuple[FloatArray, NormCache]:
    """Layer normalization: each row normalized over its D features, then scaled and shifted.

    ``out = gamma * (x - mean_row) / sqrt(var_row + eps) + beta``; the same in train and test.

    Args:
        x: (N, D). gamma, beta: (D,). ln_param: ``eps`` (default 1e-5); other keys are ignored.

    Returns:
        out: (N, D) and the cache for :func:`layernorm_backward`.
    """
    _check_inputs(x, gamma, beta, ln_param, "ln_param")
    eps = check_positive_real("ln_param['eps']", ln_param.get("eps", 1e-5))
    mean = np.mean(x, axis=1, keepdims=True)
    var = np.var(x, axis=1, keepdims=True)
    x_hat = (x - mean) / np.sqrt(var + eps)
    out = gamma * x_hat + beta
    return out, NormCache(x, x_hat, mean, var, gamma, eps, 1)


def layernorm_backward(
    dout: FloatArray, cache: NormCache
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Backward pass of layernorm: returns dx: (N, D), dgamma: (D,), dbeta: (D,).

    ``dx = (D * g - sum(g) - x_hat * sum(g * x_hat)) / (D * std)`` with ``g = dout * gamma`` and sums
    over each row's features.
    """
    _, x_hat, _, var, gamma, eps, _ = _check_backward(dout, cache, 1)
    d = x_hat.shape[1]
    dbeta = np.sum(dout, axis=0)
    dgamma = np.sum(dout * x_hat, axis=0)
    g = dout * gamma
    std = np.sqrt(var + eps)
    dx = (d * g - np.sum(g, axis=1, keepdims=True) - x_hat * np.sum(g * x_hat, axis=1, keepdims=True)) / (
        d * std
    )
    return dx, dgamma, dbeta
