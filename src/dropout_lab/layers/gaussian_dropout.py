"""Gaussian dropout (Srivastava et al. 2014, JMLR 15, section 10,
https://jmlr.org/papers/v15/srivastava14a.html).

Each unit is multiplied by Gaussian noise instead of a Bernoulli mask: ``out = x * e`` with
``e ~ N(1, (1 - keep_prob) / keep_prob)``, the mean and variance of Bernoulli dropout's multiplier
``mask / keep_prob``. So ``E[out] = x`` and test time is the identity, as for inverted dropout.

**Convention: ``keep_prob`` is the probability of KEEPING a unit** in the Bernoulli dropout whose
multiplier's variance this noise matches. Keras's ``keras.layers.GaussianDropout(rate)`` takes the
drop rate, ``rate = 1 - keep_prob``, and draws ``e ~ N(1, stddev**2)`` with
``stddev = sqrt(rate / (1 - rate))``: the same noise (``keep_prob=0.8`` here is ``rate=0.2`` there).
PyTorch has no Gaussian dropout layer.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .._typing import FloatArray
from .._validation import check_float_array, check_keep_prob, check_same_dtype
from ..errors import InvalidArgumentError, InvalidTypeError
from ._mode import check_rng, check_train, require_rng

__all__ = ["GaussianDropoutCache", "gaussian_dropout", "gaussian_dropout_backward"]


class GaussianDropoutCache(NamedTuple):
    """multiplier: the noise ``e``, x's shape and dtype, or None in test mode or at keep_prob 1."""

    multiplier: FloatArray | None


def gaussian_dropout(
    x: FloatArray,
    keep_prob: float,
    *,
    train: bool,
    rng: np.random.Generator | None = None,
) -> tuple[FloatArray, GaussianDropoutCache]:
    """Gaussian dropout: ``out = x * e``, ``e ~ N(1, (1 - keep_prob) / keep_prob)`` per element.

    The noise is ``1 + sigma * z`` with ``z = rng.standard_normal(x.shape, dtype=x.dtype)`` and
    ``sigma = sqrt((1 - keep_prob) / keep_prob)`` in x's dtype: float32 noise for float32 data, never
    a float64 temporary. Keras: ``GaussianDropout(rate=1 - keep_prob)``.

    Args:
        x: any shape, float32 or float64.
        keep_prob: the keep probability of the Bernoulli dropout matched, in (0, 1]; 1 is no noise.
        train: True multiplies by fresh noise; False returns ``x`` unchanged (a copy).
        rng: the generator the noise is drawn from; required when ``train`` and ``keep_prob < 1``.

    Returns:
        out: x's shape and dtype, and the cache for :func:`gaussian_dropout_backward`.
    """
    check_float_array("x", x)
    keep_prob = check_keep_prob("keep_prob", keep_prob)
    train = check_train(train)
    check_rng(rng)
    if not train or keep_prob == 1.0:
        return x.copy(), GaussianDropoutCache(None)
    rng = require_rng(rng)
    sigma = x.dtype.type(math.sqrt((1.0 - keep_prob) / keep_prob))
    multiplier = rng.standard_normal(x.shape, dtype=x.dtype)
    multiplier *= sigma
    multiplier += x.dtype.type(1)
    return x * multiplier, GaussianDropoutCache(multiplier)


def gaussian_dropout_backward(dout: FloatArray, cache: GaussianDropoutCache) -> FloatArray:
    """Gradient of Gaussian dropout: ``dx = dout * e`` in training, ``dx = dout`` in test mode.

    Args:
        dout: upstream gradient, the forward input's shape and dtype.
        cache: the :class:`GaussianDropoutCache` from :func:`gaussian_dropout`.

    Returns:
        dx: dout's shape and dtype.
    """
    if not isinstance(cache, GaussianDropoutCache):
        raise InvalidTypeError(
            f"cache must be the GaussianDropoutCache that gaussian_dropout returned, got {type(cache).__name__}"
        )
    check_float_array("dout", dout)
    if cache.multiplier is None:
        same: FloatArray = dout.copy()
        return same
    check_same_dtype("dout", dout, "the forward input x", cache.multiplier)
    if dout.shape != cache.multiplier.shape:
        raise InvalidArgumentError(
            f"dout must have shape {cache.multiplier.shape} like the forward input, got shape {dout.shape}"
        )
    dx: FloatArray = dout * cache.multiplier
    return dx
