"""Inverted dropout (Srivastava et al. 2014, https://jmlr.org/papers/v15/srivastava14a.html).

**Convention: the probability is the probability of KEEPING a unit** (``keep_prob``, the course's
``p``). This is the opposite of ``torch.nn.Dropout(p)`` and ``keras.layers.Dropout(rate)``, whose
argument is the probability of DROPPING a unit: our ``keep_prob=0.8`` is their ``p=0.2``.

Training: ``out = x * mask / keep_prob`` with ``mask ~ Bernoulli(keep_prob)`` per element, so that
``E[out] = x`` and test time needs no rescaling; testing: ``out = x``.

Two surfaces over one implementation:

* :func:`dropout` / :func:`dropout_backward`: the explicit form that training uses. ``train`` is an
  argument and the randomness comes from an ``np.random.Generator`` that the caller owns: each call
  draws a fresh mask from the stream, straight from the generator's raw bits.
* :func:`dropout_forward`: the course's ``dropout_param`` dict API, a thin compatibility layer whose
  uniforms come from ``np.random.RandomState(seed).rand`` when a seed is given (the mask is then a pure
  function of seed and shape), or else from NumPy's global generator ``np.random.rand``, so that a
  script that calls ``np.random.seed(231)`` reproduces the course's numbers.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .._validation import (
    check_float_array,
    check_generator,
    check_keep_prob,
    check_mode,
    check_seed,
)
from ..errors import InvalidArgumentError, InvalidTypeError

_TWO_32 = 2**32


class DropoutCache(NamedTuple):
    """mask: boolean, x's shape (True = kept), or None in test mode or at keep_prob 1;
    scale: ``1 / keep_prob`` in x's dtype."""

    mask: np.ndarray | None
    scale: np.floating


def dropout_mask(
    shape: tuple[int, ...], keep_prob: float, rng: np.random.Generator
) -> np.ndarray:
    """A boolean keep-mask of ``shape`` with ``P(True) = keep_prob``, drawn from ``rng``.

    Each element compares 32 raw random bits with ``round(keep_prob * 2**32)``, so the keep probability
    is exact to 2**-33 whatever the data's dtype, and no float uniforms are made. The stream advances by
    ``ceil(size / 2)`` 64-bit draws.

    Args:
        shape: the mask's shape. keep_prob: in (0, 1]. rng: the generator to draw from.

    Returns:
        mask: bool array of ``shape``.
    """
    keep_prob = check_keep_prob("keep_prob", keep_prob)
    check_generator("rng", rng)
    size = int(np.prod(shape, dtype=np.int64))
    if keep_prob == 1.0:
        return np.ones(shape, dtype=bool)
    threshold = np.uint32(min(round(keep_prob * _TWO_32), _TWO_32 - 1))
    raw = rng.bit_generator.random_raw((size + 1) // 2)
    bits = raw.view(np.uint32)[:size]
    return np.less(bits, threshold).reshape(shape)


def _apply_mask(x: np.ndarray, mask: np.ndarray, scale: np.floating) -> np.ndarray:
    # Multiplying only where kept writes each output element once and never makes a float mask.
    out = np.zeros_like(x)
    np.multiply(x, scale, out=out, where=mask)
    return out


def dropout(
    x: np.ndarray,
    keep_prob: float,
    *,
    train: bool,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, DropoutCache]:
    """Inverted dropout, explicit form.

    Args:
        x: any shape, float32 or float64.
        keep_prob: probability of KEEPING each unit, in (0, 1] (not the drop probability).
        train: True applies a fresh mask; False returns ``x`` unchanged (the same values, a copy).
        rng: the generator the mask is drawn from; required when ``train`` and ``keep_prob < 1``.

    Returns:
        out: x's shape and dtype, and the cache for :func:`dropout_backward`.
    """
    check_float_array("x", x)
    keep_prob = check_keep_prob("keep_prob", keep_prob)
    if not isinstance(train, (bool, np.bool_)):
        raise InvalidTypeError(f"train must be True or False, got {train!r}")
    check_generator("rng", rng)
    scale = x.dtype.type(1 / keep_prob)
    if not train or keep_prob == 1.0:
        return x.copy(), DropoutCache(None, scale)
    if rng is None:
        raise InvalidArgumentError(
            "rng is required in training mode: pass a numpy.random.Generator (np.random.default_rng(seed))"
        )
    mask = dropout_mask(x.shape, keep_prob, rng)
    return _apply_mask(x, mask, scale), DropoutCache(mask, scale)


def dropout_backward(dout: np.ndarray, cache: DropoutCache | tuple) -> np.ndarray:
    """Gradient of dropout: ``dx = dout * mask / keep_prob`` in training, ``dx = dout`` in test mode.

    Args:
        dout: upstream gradient, the forward input's shape.
        cache: from :func:`dropout` or :func:`dropout_forward`.

    Returns:
        dx: dout's shape and dtype.
    """
    check_float_array("dout", dout)
    if not isinstance(cache, DropoutCache):
        raise InvalidTypeError(f"cache must be the DropoutCache a forward pass returned, got {type(cache).__name__}")
    if cache.mask is None:
        return dout.copy()
    if dout.shape != cache.mask.shape:
        raise InvalidArgumentError(
            f"dout must have shape {cache.mask.shape} like the forward input, got shape {dout.shape}"
        )
    return _apply_mask(dout, cache.mask, dout.dtype.type(cache.scale))


def dropout_forward(x: np.ndarray, dropout_param: dict[str, Any]) -> tuple[np.ndarray, DropoutCache]:
    """Inverted dropout with the course's ``dropout_param`` dict.

    ``dropout_param`` keys:
        * ``p``: the probability of KEEPING a unit, in (0, 1] (the course's convention; PyTorch's and
          Keras's argument is the drop probability, ``1 - p``).
        * ``mode``: 'train' or 'test'.
        * ``seed`` (optional): the uniforms are ``np.random.RandomState(seed).rand(*x.shape)``, a pure
          function of seed and shape that leaves every global generator alone. Without a seed they are
          ``np.random.rand(*x.shape)`` from NumPy's global generator: the course-compatible default.

    Train: ``out = x * (u < p) / p``; test: ``out = x``. The dict is not modified.

    Args:
        x: any shape, float32 or float64.

    Returns:
        out: x's shape and dtype, and the cache for :func:`dropout_backward`.
    """
    check_float_array("x", x)
    if not isinstance(dropout_param, dict):
        raise InvalidTypeError(f"dropout_param must be a dict, got {type(dropout_param).__name__}")
    keep_prob = check_keep_prob("dropout_param['p']", dropout_param.get("p"))
    train = check_mode("dropout_param['mode']", dropout_param.get("mode"))
    seed = check_seed("dropout_param['seed']", dropout_param.get("seed"))
    scale = x.dtype.type(1 / keep_prob)
    if not train:
        return x.copy(), DropoutCache(None, scale)
    if seed is not None:
        uniforms = np.random.RandomState(seed).rand(*x.shape)
    else:
        # The one documented draw from NumPy's global generator: course compatibility.
        uniforms = np.random.rand(*x.shape)
    mask = uniforms < keep_prob
    return _apply_mask(x, mask, scale), DropoutCache(mask, scale)
