"""Checks shared by the stochastic layers: the ``train`` flag and the generator a training call needs."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import check_generator
from ..errors import InvalidArgumentError, InvalidTypeError


def check_train(train: Any) -> bool:
    """``train`` must be a bool (``'yes'``, 1 or None would silently pick a mode)."""
    if not isinstance(train, (bool, np.bool_)):
        raise InvalidTypeError(f"train must be True or False, got {train!r}")
    return bool(train)


def check_rng(rng: Any) -> np.random.Generator | None:
    """``rng`` must be a ``np.random.Generator`` or None (a seed or a RandomState is refused)."""
    return check_generator("rng", rng)


def require_rng(rng: np.random.Generator | None) -> np.random.Generator:
    """The generator of a training call that draws: None is refused, with what to pass."""
    if rng is None:
        raise InvalidArgumentError(
            "rng is required in training mode: pass a numpy.random.Generator (np.random.default_rng(seed))"
        )
    return rng
