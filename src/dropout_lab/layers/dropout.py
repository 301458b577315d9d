"""Inverted dropout (Srivastava et al. 2014, https://jmlr.org/papers/v15/srivastava14a.html).

**Convention: the probability is the probability of KEEPING a unit** (``keep_prob``, the course's
``p``). This is the opposite of ``torch.nn.Dropout(p)`` and ``keras.layers.Dropout(rate)``, whose
argument is the probability of DROPPING a unit: our ``keep_prob=0.8`` is their ``p=0.2``.

Training: ``out = x * mask / keep_prob`` with ``mask ~ Bernoulli(keep_prob)`` per element, so that
``E[out] = x`` and test time needs no rescaling; testing: ``out = x``.

Two surfaces over one implementation:

* :func:`dropout` / :func:`dropout_backward`: the explicit form that training uses. ``train`` is an
  argument and the randomness comes from an ``np.random.Generator`` that the caller owns: each call
  draws a fresh mask from the stream, straight from the generator's raw bits (:func:`dropout_mask`).
  Both take an optional ``out=`` array, so that a training loop can reuse its buffers. Which masks a
  given generator state yields is versioned by :data:`MASK_STREAM_VERSION`.
* :func:`dropout_forward`: the course's ``dropout_param`` dict API, a thin compatibility layer whose
  uniforms come from ``np.random.RandomState(seed).rand`` when a seed is given (the mask is then a pure
  function of seed and shape), or else from NumPy's global generator ``np.random.rand``, so that a
  script that calls ``np.random.seed(231)`` reproduces the course's numbers.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .._parallel import BLOCK as _BLOCK
from .._parallel import for_ranges
from .._validation import (
    check_float_array,
    check_generator,
    check_keep_prob,
    check_mode,
    check_seed,
)
from ..errors import InvalidArgumentError, InvalidTypeError

_TWO_32 = 2**32

# The version of the mask stream: which masks :func:`dropout_mask` draws from a given generator state
# and shape (which raw bits, how many, how they are compared). Bump it with any change that makes the
# same generator state give another mask or advance the generator by another amount; checkpoints
# record it, and a run is resumed only under the version that wrote it. Version 1: 32 bits per element
# for every keep_prob (dropout-lab's first commits). Version 2: 1, 8 or 16 bits where keep_prob is
# exact in them (0.5, 0.25, 0.75...), else 32 as in version 1 (same masks there). The course-compatible
# path (:func:`dropout_forward`, NumPy's ``rand``) is not part of this stream.
MASK_STREAM_VERSION = 2
# Signed integers as wide as each float dtype, to clear dropped elements with a bitwise AND.
_SAME_WIDTH_INT = {4: np.int32, 8: np.int64}


class DropoutCache(NamedTuple):
    """mask: boolean, x's shape (True = kept), or None in test mode or at keep_prob 1;
    scale: ``1 / keep_prob`` in x's dtype."""

    mask: np.ndarray | None
    scale: np.floating


def mask_bits(keep_prob: float) -> int:
    """Random bits per element that :func:`dropout_mask` draws for ``keep_prob``.

    The fewest of 1, 8 and 16 with which ``keep_prob`` is exact (``keep_prob * 2**bits`` an integer:
    0.5 takes 1 bit, 0.25 and 0.75 take 8), else 32, with which the keep probability is
    ``round(keep_prob * 2**32) / 2**32``, within 2**-33 of ``keep_prob``.
    """
    for bits in (1, 8, 16):
        if (keep_prob * 2**bits).is_integer():
            return bits
    return 32


def _check_shape(shape: Any) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    if isinstance(shape, (str, bytes)) or not isinstance(shape, (tuple, list)):
        raise InvalidTypeError(f"shape must be a tuple of non-negative integers, got {shape!r}")
    for size in shape:
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
            raise InvalidTypeError(f"shape must be a tuple of non-negative integers, got {shape!r} (holds {size!r})")
        if size < 0:
            raise InvalidArgumentError(f"shape must be a tuple of non-negative integers, got {shape!r} (holds {size})")
    return tuple(int(s) for s in shape)


def dropout_mask(
    shape: tuple[int, ...], keep_prob: float, rng: np.random.Generator
) -> np.ndarray:
    """A boolean keep-mask of ``shape`` with ``P(True) = keep_prob``, drawn from ``rng``.

    No float uniforms are made: each element takes ``b = mask_bits(keep_prob)`` raw random bits from
    the generator (1 for keep_prob 0.5, 8 for the other multiples of 2**-8 such as 0.25 and 0.75, 16
    for the other multiples of 2**-16, else 32) and is kept when they, read as an unsigned integer,
    fall below ``keep_prob * 2**b`` (rounded for ``b = 32``). So ``P(True)`` is exactly ``keep_prob``
    for ``b < 32`` and within 2**-33 of it otherwise, whatever the data's dtype; fewer bits make the
    mask faster to draw (0.5: a 64-bit draw gives 64 elements). The stream advances by
    ``ceil(size * b / 64)`` 64-bit draws. These are the masks of mask stream version 2
    (:data:`MASK_STREAM_VERSION`); version 1 took 32 bits for every ``keep_prob``, so its masks are
    these wherever ``b = 32``.

    Args:
        shape: the mask's shape. keep_prob: in (0, 1]. rng: the generator to draw from.

    Returns:
        mask: bool array of ``shape``.
    """
    keep_prob = check_keep_prob("keep_prob", keep_prob)
    if rng is None:
        raise InvalidTypeError("rng must be a numpy.random.Generator (np.random.default_rng(seed)), got None")
    check_generator("rng", rng)
    shape = _check_shape(shape)
    size = int(np.prod(shape, dtype=np.int64))
    if keep_prob == 1.0:
        return np.ones(shape, dtype=bool)
    bits = mask_bits(keep_prob)
    raw = rng.bit_generator.random_raw(-(-size * bits // 64))
    if bits == 1:
        # keep_prob 0.5: every random bit is one element's coin.
        coins: np.ndarray = np.unpackbits(raw.view(np.uint8), count=size).view(bool)
        return coins.reshape(shape)
    if bits == 32:
        threshold = min(round(keep_prob * _TWO_32), _TWO_32 - 1)
    else:
        threshold = int(keep_prob * 2**bits)
    words = raw.view(np.dtype(f"uint{bits}"))[:size]
    mask: np.ndarray = np.less(words, words.dtype.type(threshold))
    return mask.reshape(shape)


def _check_out(out: Any, like: np.ndarray, like_name: str) -> np.ndarray:
    if not isinstance(out, np.ndarray):
        raise InvalidTypeError(f"out must be a NumPy array or None, got {type(out).__name__}")
    if out.shape != like.shape or out.dtype != like.dtype:
        raise InvalidArgumentError(
            f"out must have {like_name}'s shape {like.shape} and dtype {like.dtype}, "
            f"got shape {out.shape} and dtype {out.dtype}"
        )
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise InvalidArgumentError("out must be a writeable C-contiguous array")
    if out is not like and np.may_share_memory(out, like):
        raise InvalidArgumentError(f"out must be {like_name} itself or not overlap it")
    return out


def _identity(x: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    """Test mode, or keep_prob 1: ``x``'s values in ``out`` (a copy when None; nothing to do in place)."""
    if out is None:
        copy: np.ndarray = x.copy()
        return copy
    if out is not x:
        np.copyto(out, x)
    return out


def _apply_mask(
    x: np.ndarray, mask: np.ndarray, scale: np.floating, out: np.ndarray | None = None
) -> np.ndarray:
    """``out = x * scale`` where ``mask``, exactly ``+0.0`` elsewhere (also where x is inf or NaN)."""
    if out is None:
        out = np.empty(x.shape, dtype=x.dtype)
    int_type = _SAME_WIDTH_INT[x.dtype.itemsize]  # x is float32 or float64 (checked by the callers)
    flat_x = x.reshape(-1)
    flat_out = out.reshape(-1)
    out_bits = flat_out.view(int_type)
    coins = np.ascontiguousarray(mask).reshape(-1).view(np.int8)

    def body(lo: int, hi: int) -> None:
        widened = np.empty(min(hi - lo, _BLOCK), dtype=int_type)
        for start in range(lo, hi, _BLOCK):
            stop = min(start + _BLOCK, hi)
            keep = widened[: stop - start]
            # True (1) becomes -1, every bit set; False stays 0. ANDed with x * scale it keeps the kept
            # values bit for bit and makes the dropped ones +0.0, in one pass over each block.
            np.negative(coins[start:stop], out=keep)
            np.multiply(flat_x[start:stop], scale, out=flat_out[start:stop])
            np.bitwise_and(out_bits[start:stop], keep, out=out_bits[start:stop])

    for_ranges(body, flat_x.size, align=_BLOCK)
    return out


def dropout(
    x: np.ndarray,
    keep_prob: float,
    *,
    train: bool,
    rng: np.random.Generator | None = None,
    out: np.ndarray | None = None,
) -> tuple[np.ndarray, DropoutCache]:
    """Inverted dropout, explicit form: ``out = x * mask / keep_prob``, ``mask ~ Bernoulli(keep_prob)``.

    Dropped elements are exactly ``+0.0``; kept ones are ``x * (1 / keep_prob)`` computed in x's dtype.
    The mask comes from :func:`dropout_mask` (its docstring says how many random bits it takes).

    Args:
        x: any shape, float32 or float64.
        keep_prob: probability of KEEPING each unit, in (0, 1] (not the drop probability).
        train: True applies a fresh mask; False returns ``x`` unchanged (the same values, a copy).
        rng: the generator the mask is drawn from; required when ``train`` and ``keep_prob < 1``.
        out: optional C-contiguous array of x's shape and dtype to write into (x itself, for in place,
            or one that does not overlap x); a new array when None.

    Returns:
        out: x's shape and dtype, and the cache for :func:`dropout_backward`.
    """
    check_float_array("x", x)
    keep_prob = check_keep_prob("keep_prob", keep_prob)
    if not isinstance(train, (bool, np.bool_)):
        raise InvalidTypeError(f"train must be True or False, got {train!r}")
    check_generator("rng", rng)
    if out is not None:
        _check_out(out, x, "x")
    scale = x.dtype.type(1 / keep_prob)
    if not train or keep_prob == 1.0:
        return _identity(x, out), DropoutCache(None, scale)
    if rng is None:
        raise InvalidArgumentError(
            "rng is required in training mode: pass a numpy.random.Generator (np.random.default_rng(seed))"
        )
    mask = dropout_mask(x.shape, keep_prob, rng)
    return _apply_mask(x, mask, scale, out), DropoutCache(mask, scale)


def dropout_backward(
    dout: np.ndarray, cache: DropoutCache, *, out: np.ndarray | None = None
) -> np.ndarray:
    """Gradient of dropout: ``dx = dout * mask / keep_prob`` in training, ``dx = dout`` in test mode.

    Args:
        dout: upstream gradient, the forward input's shape.
        cache: the :class:`DropoutCache` from :func:`dropout` or :func:`dropout_forward` (any other
            object, a plain tuple included, is refused with :class:`InvalidTypeError`).
        out: optional C-contiguous array of dout's shape and dtype to write into (dout itself, for in
            place, or one that does not overlap it); a new array when None.

    Returns:
        dx: dout's shape and dtype; dropped elements are exactly ``+0.0``.
    """
    check_float_array("dout", dout)
    if not isinstance(cache, DropoutCache):
        raise InvalidTypeError(f"cache must be the DropoutCache a forward pass returned, got {type(cache).__name__}")
    if out is not None:
        _check_out(out, dout, "dout")
    if cache.mask is None:
        return _identity(dout, out)
    if dout.shape != cache.mask.shape:
        raise InvalidArgumentError(
            f"dout must have shape {cache.mask.shape} like the forward input, got shape {dout.shape}"
        )
    return _apply_mask(dout, cache.mask, dout.dtype.type(cache.scale), out)


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
