"""Weight constraints applied after an update: max-norm regularization.

Max-norm (Srivastava et al. 2014, "Dropout: A Simple Way to Prevent Neural Networks from
Overfitting", JMLR 15, section 5.1, https://jmlr.org/papers/v15/srivastava14a.html) bounds the L2
norm of each hidden unit's incoming weight vector by a constant ``c``: after every update, a column
``w_j`` of a weight matrix ``W`` (d_in, d_out) whose norm exceeds ``c`` is projected back onto the
ball of radius ``c``, ``w_j <- w_j * min(1, c / ||w_j||)``. Keras spells it
``Dense(..., kernel_constraint=MaxNorm(max_value=c, axis=0))``; PyTorch has no layer option for it
(``torch.renorm(w, 2, 1, c)`` on a ``(d_in, d_out)`` matrix is the same projection).

Unlike Keras's (which divides by ``epsilon + ||w_j||`` for every column), a column already within the
bound is left exactly as it is, bit for bit.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import _describe, check_float_array, check_positive_real
from ..errors import InvalidArgumentError

__all__ = ["column_norms", "max_norm"]


def column_norms(w: np.ndarray) -> np.ndarray:
    """The L2 norm of each column of ``w`` (d_in, d_out), as float64 (d_out,).

    Summed in float64 whatever ``w``'s dtype, so a float32 matrix's norms neither overflow nor lose
    digits, and over each column laid out as a contiguous row: NumPy then sums every column the same
    way whatever the other columns, so a column's norm is the same bits alone or in any matrix (the
    bound :func:`max_norm` guarantees holds however the columns are measured). A column whose squares
    overflow even float64 (values beyond about 1e154) is measured again scaled by its largest
    magnitude, so its norm stays finite.
    """
    # The transpose is copied in w's dtype first: a strided read is much cheaper than a strided cast.
    rows = np.ascontiguousarray(w.T).astype(np.float64)
    squares = np.empty_like(rows)
    with np.errstate(over="ignore"):  # an overflowing column is measured again below
        norms: np.ndarray = np.sqrt(np.sum(np.multiply(rows, rows, out=squares), axis=1))
    huge = np.flatnonzero(np.isinf(norms))
    if huge.size:
        part = rows[huge]
        largest = np.max(np.abs(part), axis=1, keepdims=True)
        norms[huge] = largest[:, 0] * np.sqrt(np.sum((part / largest) ** 2, axis=1))
    return norms


def max_norm(w: np.ndarray, max_value: float, *, out: np.ndarray | None = None) -> np.ndarray:
    """Rescale every column of ``w`` whose L2 norm exceeds ``max_value`` to norm ``max_value``.

    ``w_j <- w_j * min(1, max_value / ||w_j||)`` for each column ``j`` (each unit's incoming weights).
    Columns within the bound (a zero column among them) keep their values bit for bit; the others are
    multiplied by ``max_value / ||w_j||`` rounded to ``w``'s dtype, lowered by an ulp where rounding
    left the norm above the bound: every column's norm (as :func:`column_norms` measures it) is then
    at most ``max_value``, and the scaled ones within a few ulps of it.

    Args:
        w: (d_in, d_out) float32 or float64 weights, finite.
        max_value: c, the largest norm a column may have (> 0).
        out: where to write the result: ``w`` itself for in place, an array of ``w``'s shape and
            dtype, or None (default) for a new array (``w`` is then left as it is).

    Returns:
        The constrained weights, (d_in, d_out), of ``w``'s dtype: ``out`` when given.

    Raises:
        InvalidArgumentError, InvalidTypeError: ``w`` is not a 2-D float array, ``max_value`` is not a
            finite number > 0, or ``out`` does not match ``w``.
    """
    w = check_float_array("w", w, ndim=2)
    limit = check_positive_real("max_value", max_value)
    if out is None:
        out = w.copy()
    elif not isinstance(out, np.ndarray) or out.shape != w.shape or out.dtype != w.dtype:
        raise InvalidArgumentError(
            f"out must be an array of w's shape {w.shape} and dtype {w.dtype}, got {_describe(out)}"
        )
    elif out is not w:
        np.copyto(out, w)
    norms = column_norms(w)
    over = np.flatnonzero(norms > limit)
    if over.size:
        columns = w[:, over]
        scale: np.ndarray[Any, Any] = (limit / norms[over]).astype(w.dtype)
        scaled = columns * scale
        # Rounding can leave a scaled norm an ulp or two above the bound: step those scales down one
        # ulp at a time (each step lowers the norm by about norm * eps), so the bound holds as measured.
        high = np.flatnonzero(column_norms(scaled) > limit)
        while high.size:
            scale[high] = np.nextafter(scale[high], w.dtype.type(0))
            scaled[:, high] = columns[:, high] * scale[high]
            high = high[column_norms(scaled[:, high]) > limit]
        out[:, over] = scaled
    return out
