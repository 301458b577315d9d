"""Numerical gradient checks, public so that users can check their own layers.

Centered differences: ``df/dx_i ~ (f(x + h e_i) - f(x - h e_i)) / (2h)``. Probe in float64: with
float32 the rounding error of f swamps the difference for any useful ``h``. Every function here
restores ``x`` exactly (the same bits) after probing it, even if ``f`` raises.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, SupportsFloat, TypeVar, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._typing import FloatArray, IntArray
from ._validation import (
    _describe,
    check_bool,
    check_callable,
    check_float_array,
    check_generator,
    check_positive_int,
    check_positive_real,
)
from .errors import InvalidArgumentError, InvalidTypeError

__all__ = [
    "assert_gradient_close",
    "eval_numerical_gradient",
    "eval_numerical_gradient_array",
    "grad_check_sparse",
    "rel_error",
]

_T = TypeVar("_T")


def _real_values(name: str, value: object) -> NDArray[np.float64]:
    """A real number or an array of them (any real dtype), as float64."""
    if isinstance(value, (bool, np.bool_)) or value is None or isinstance(value, (str, bytes)):
        raise InvalidTypeError(f"{name} must be a real number or an array of them, got {_describe(value)}")
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as exc:  # ragged lists
        raise InvalidTypeError(f"{name} must be a real number or an array of them, got {_describe(value)}") from exc
    if array.dtype.kind not in "iuf":
        raise InvalidTypeError(
            f"{name} must hold real numbers (an integer or float dtype), got dtype {array.dtype}"
        )
    return array.astype(np.float64, copy=False)


def rel_error(x: FloatArray | IntArray | float, y: FloatArray | IntArray | float) -> float:
    """Largest elementwise relative error ``|x - y| / max(1e-8, |x| + |y|)``.

    Args:
        x, y: real numbers or arrays of the same shape, with at least one element.
    """
    x = _real_values("x", x)
    y = _real_values("y", y)
    if x.shape != y.shape:
        raise InvalidArgumentError(f"x and y must have the same shape, got {x.shape} and {y.shape}")
    if x.size == 0:
        raise InvalidArgumentError(f"x and y must hold at least one value, got shape {x.shape}")
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def _check_nonempty(name: str, x: FloatArray) -> None:
    if x.size == 0:
        raise InvalidArgumentError(f"{name} must hold at least one value to probe, got shape {x.shape}")


def _probe(f: Callable[[FloatArray], _T], x: FloatArray, index: tuple[int, ...], h: float) -> tuple[_T, _T]:
    old = x[index].copy()
    try:
        x[index] = old + h
        plus = f(x)
        x[index] = old - h
        minus = f(x)
    finally:
        x[index] = old
    return plus, minus


def _scalar(value: object) -> float:
    """f's value as a float; anything else (a tuple such as a model's ``(loss, grads)``) is refused."""
    if isinstance(value, (tuple, list, bool, np.bool_)) or (
        np.shape(value) != ()  # type: ignore[call-overload]  # any object: np.shape gives () for non-arrays
    ):
        raise InvalidArgumentError(
            f"f must return a real number (use eval_numerical_gradient_array for array-valued "
            f"functions), got {_describe(value)}"
        )
    try:
        return float(value)  # type: ignore[arg-type]  # any object: float() refusing it is the check
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"f must return a real number, got {_describe(value)}") from exc


def _probe_scalar(
    f: Callable[[FloatArray], object], x: FloatArray, index: tuple[int, ...], h: float
) -> tuple[float, float]:
    plus, minus = _probe(f, x, index, h)
    return _scalar(plus), _scalar(minus)


def eval_numerical_gradient(
    f: Callable[[FloatArray], SupportsFloat], x: FloatArray, verbose: bool = True, h: float = 1e-5
) -> FloatArray:
    """Numerical gradient of a scalar function ``f`` at ``x`` (any shape); returns x's shape.

    ``f`` is called with ``x`` itself, changed one element at a time and restored afterwards.
    """
    check_callable("f", f, "a function of x")
    check_float_array("x", x)
    verbose = check_bool("verbose", verbose)
    check_positive_real("h", h)
    grad = np.zeros_like(x)
    for index in np.ndindex(*x.shape):
        plus, minus = _probe_scalar(f, x, index, h)
        grad[index] = (plus - minus) / (2 * h)
        if verbose:
            print(index, grad[index])
    return grad


def eval_numerical_gradient_array(
    f: Callable[[FloatArray], ArrayLike], x: FloatArray, df: FloatArray, h: float = 1e-5
) -> FloatArray:
    """Numerical gradient of ``sum(f(x) * df)`` at ``x``, for an array-valued ``f``.

    Args:
        f: maps x to an array of df's shape. x: any shape. df: the upstream gradient.

    Returns:
        dx: x's shape.
    """
    check_callable("f", f, "a function of x")
    check_float_array("x", x)
    check_float_array("df", df)
    check_positive_real("h", h)
    grad = np.zeros_like(x)
    for index in np.ndindex(*x.shape):
        plus, minus = _probe(lambda v: np.array(f(v), copy=True), x, index, h)
        if plus.shape != df.shape:
            # Broadcasting would silently compute the gradient of something else.
            raise InvalidArgumentError(f"df must have the shape of f(x), {plus.shape}, got shape {df.shape}")
        grad[index] = np.sum((plus - minus) * df) / (2 * h)
    return grad


def grad_check_sparse(
    f: Callable[[FloatArray], SupportsFloat],
    x: FloatArray,
    analytic_grad: FloatArray,
    num_checks: int = 10,
    h: float = 1e-5,
    *,
    rng: np.random.Generator | None = None,
    verbose: bool = True,
) -> list[float]:
    """Compare ``analytic_grad`` with centered differences at ``num_checks`` random elements of x.

    Args:
        f: scalar function. x: any shape. analytic_grad: x's shape.
        rng: picks the elements; None draws them from NumPy's global generator (course-compatible).

    Returns:
        the relative error at each checked element, in order (also printed when ``verbose``).
    """
    check_callable("f", f, "a function of x")
    check_float_array("x", x)
    _check_nonempty("x", x)
    check_float_array("analytic_grad", analytic_grad)
    if analytic_grad.shape != x.shape:
        raise InvalidArgumentError(
            f"analytic_grad must have x's shape {x.shape}, got shape {analytic_grad.shape}"
        )
    check_positive_int("num_checks", num_checks)
    check_positive_real("h", h)
    check_generator("rng", rng)
    verbose = check_bool("verbose", verbose)
    errors = []
    for _ in range(num_checks):
        if rng is None:
            index = tuple(int(np.random.randint(m)) for m in x.shape)
        else:
            index = tuple(int(rng.integers(m)) for m in x.shape)
        plus, minus = _probe_scalar(f, x, index, h)
        numerical = (plus - minus) / (2 * h)
        analytic = analytic_grad[index]
        error = abs(numerical - analytic) / (abs(numerical) + abs(analytic) + 1e-300)
        errors.append(float(error))
        if verbose:
            print(f"numerical: {numerical:f} analytic: {analytic:f}, relative error: {error:e}")
    return errors


@overload
def assert_gradient_close(
    f: Callable[[FloatArray], SupportsFloat],
    x: FloatArray,
    analytic: FloatArray,
    *,
    df: None = None,
    tol: float = 1e-7,
    h: float = 1e-5,
    name: str = "x",
) -> float: ...


@overload
def assert_gradient_close(
    f: Callable[[FloatArray], ArrayLike],
    x: FloatArray,
    analytic: FloatArray,
    *,
    df: FloatArray,
    tol: float = 1e-7,
    h: float = 1e-5,
    name: str = "x",
) -> float: ...


def assert_gradient_close(
    # What f returns depends on df (a real number without it, an array with it): the overloads
    # above say which; here it is only passed on to the function that checks it.
    f: Callable[[FloatArray], Any],
    x: FloatArray,
    analytic: FloatArray,
    *,
    df: FloatArray | None = None,
    tol: float = 1e-7,
    h: float = 1e-5,
    name: str = "x",
) -> float:
    """Assert that ``analytic`` matches the numerical gradient at ``x``; return the relative error.

    The check that fails loudly (the course's checks only print). ``x`` must be float64.

    Args:
        f: with ``df=None`` a scalar function of x; otherwise an array-valued one, and the gradient
            checked is that of ``sum(f(x) * df)``.
        x: the point, float64, any shape; changed while probing and restored exactly.
        analytic: x's shape. tol: the largest relative error (see :func:`rel_error`) accepted.
        name: what the message calls x.

    Raises:
        AssertionError: the relative error exceeds ``tol``; the message gives both.
    """
    check_callable("f", f, "a function of x")
    check_float_array("x", x)
    if x.dtype != np.float64:
        raise InvalidArgumentError(
            f"gradient checks need x in float64 (float32 rounding swamps the differences), got {x.dtype}"
        )
    _check_nonempty("x", x)
    analytic = _real_values("analytic", analytic)
    if analytic.shape != x.shape:
        raise InvalidArgumentError(f"analytic must have x's shape {x.shape}, got shape {analytic.shape}")
    if df is not None:
        check_float_array("df", df)
    tol = check_positive_real("tol", tol)
    check_positive_real("h", h)
    if not isinstance(name, str):
        raise InvalidTypeError(f"name must be a str, got {_describe(name)}")
    if df is None:
        numerical = eval_numerical_gradient(f, x, verbose=False, h=h)
    else:
        numerical = eval_numerical_gradient_array(f, x, df, h=h)
    error = rel_error(numerical, analytic)
    if not error <= tol:
        raise AssertionError(f"gradient of {name}: relative error {error:.3e} exceeds the tolerance {tol:.1e}")
    return error
