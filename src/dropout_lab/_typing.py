"""Types for annotations: one spelling for each kind of array the package passes around, and paths.

The layers take float32 or float64 arrays (``_validation.check_float_array`` refuses the rest at
run time); the dtype within a kind is a run-time property, so the aliases name the kind only.
"""

from __future__ import annotations

import os
from typing import Any, TypeAlias

import numpy as np
from numpy.typing import NDArray

#: A floating-point array: inputs, weights, gradients, scores (float32 or float64 at run time).
FloatArray: TypeAlias = NDArray[np.floating[Any]]
#: An integer array: class labels, indices.
IntArray: TypeAlias = NDArray[np.integer[Any]]
#: A file or folder name as the public functions accept it.
StrPath: TypeAlias = "str | os.PathLike[str]"

__all__ = ["FloatArray", "IntArray", "StrPath"]
