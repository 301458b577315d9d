"""Argument checks shared by the layers, models, optimizers and Solver.

Each check runs before any work and raises an error that names the argument, what was expected and
what was given.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InvalidArgumentError, InvalidTypeError

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def check_float_array(name: str, x: Any, *, ndim: int | None = None, min_ndim: int | None = None) -> np.ndarray:
    """Return ``x`` if it is a floating-point ndarray of the required rank, else raise."""
    if not isinstance(x, np.ndarray):
        raise InvalidTypeError(f"{name} must be a NumPy array, got {_describe(x)}")
    if x.dtype not in _FLOAT_DTYPES:
        # float16 loses too much in a gradient step and longdouble is not portable: both are refused.
        raise InvalidTypeError(
            f"{name} must have a floating-point dtype (float32 or float64), got dtype {x.dtype}"
        )
    if ndim is not None and x.ndim != ndim:
        raise InvalidArgumentError(f"{name} must be {ndim}-dimensional, got shape {x.shape}")
    if min_ndim is not None and x.ndim < min_ndim:
        raise InvalidArgumentError(
            f"{name} must have at least {min_ndim} dimension{'s' if min_ndim != 1 else ''}, got shape {x.shape}"
        )
    return x


def check_same_dtype(name: str, x: np.ndarray, other_name: str, other: np.ndarray) -> None:
    """``x`` must have ``other``'s dtype: mixing float32 and float64 would silently promote the result."""
    if x.dtype != other.dtype:
        raise InvalidTypeError(
            f"{name} must have the dtype of {other_name} ({other.dtype}), got dtype {x.dtype}"
        )


def check_nonempty_batch(name: str, x: np.ndarray) -> None:
    if x.ndim == 0 or x.shape[0] == 0:
        raise InvalidArgumentError(f"{name} must hold at least one example, got shape {x.shape}")


# Values per slice when scanning an array for NaN and infinity. ``np.isfinite`` over a whole array
# makes a boolean temporary of the array's size (147 MiB for 49,000 float32 CIFAR-10 images), and
# NumPy asks for huge pages for it: the first touch of fresh huge pages can stall for compaction, for
# several times the scan's own cost. A slice's 1 MiB temporary is reused from cache instead, at the
# same speed (the figures are in BENCHMARKS.md).
_SCAN_VALUES = 1 << 20


def _slices(x: np.ndarray) -> Iterator[np.ndarray]:
    """``x`` as views along its first axis, each of about ``_SCAN_VALUES`` values (x itself if small)."""
    if x.ndim == 0 or x.size <= _SCAN_VALUES:
        yield x
        return
    rows = max(1, _SCAN_VALUES // (x.size // x.shape[0]))
    for start in range(0, x.shape[0], rows):
        yield x[start : start + rows]


def all_finite(x: np.ndarray) -> bool:
    """Whether no value of ``x`` (any shape, a numeric dtype) is NaN or infinite; stops at the first
    slice that holds one, and never makes a temporary of x's size."""
    if x.dtype.kind in "biu":  # booleans and integers are always finite
        return True
    return all(bool(np.isfinite(part).all()) for part in _slices(x))


def count_nonfinite(x: np.ndarray) -> int:
    """How many values of ``x`` (any shape, a numeric dtype) are NaN or infinite."""
    if x.dtype.kind in "biu":
        return 0
    return sum(int(part.size - np.count_nonzero(np.isfinite(part))) for part in _slices(x))


def check_finite(name: str, x: np.ndarray) -> None:
    """Raise, naming ``name`` and the number of bad values, unless every value of ``x`` is finite."""
    if not all_finite(x):
        raise InvalidArgumentError(f"{name} must be finite, got {count_nonfinite(x)} NaN or infinite values")


def check_labels(name: str, y: Any, num_examples: int, num_classes: int) -> np.ndarray:
    """Labels: an integer array of shape (num_examples,) with values in [0, num_classes)."""
    if not isinstance(y, np.ndarray):
        raise InvalidTypeError(f"{name} must be a NumPy array of integer labels, got {_describe(y)}")
    if not np.issubdtype(y.dtype, np.integer):
        raise InvalidTypeError(f"{name} must have an integer dtype, got dtype {y.dtype}")
    if y.shape != (num_examples,):
        raise InvalidArgumentError(
            f"{name} must have shape ({num_examples},) to match the {num_examples} examples, "
            f"got shape {y.shape}"
        )
    check_label_range(name, y, num_classes)
    return y


def check_label_range(name: str, y: np.ndarray, num_classes: int, *, whose: str = "") -> None:
    """Integer labels ``y`` (any shape) must lie in [0, num_classes); ``whose`` ("the model's") is said
    with the number of classes in the message."""
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        classes = f" for {whose} {num_classes} classes" if whose else ""
        raise InvalidArgumentError(
            f"{name} must lie in [0, {num_classes}){classes}, got values from {y.min()} to {y.max()}"
        )


def check_keep_prob(name: str, value: Any) -> float:
    """A keep probability: a real number in (0, 1]."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise InvalidTypeError(f"{name} must be a real number in (0, 1], got {_describe(value)}")
    keep_prob = float(value)
    if math.isnan(keep_prob) or not 0.0 < keep_prob <= 1.0:
        raise InvalidArgumentError(
            f"{name} is the probability of KEEPING a unit and must lie in (0, 1], got {keep_prob}"
        )
    return keep_prob


def check_positive_int(name: str, value: Any, *, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise InvalidTypeError(f"{name} must be an integer, got {_describe(value)}")
    number = int(value)
    if number < 0 or (number == 0 and not allow_zero):
        expected = "a non-negative integer" if allow_zero else "a positive integer"
        raise InvalidArgumentError(f"{name} must be {expected}, got {number}")
    return number


def check_optional_positive_int(name: str, value: Any) -> int | None:
    """None, or a positive integer (see :func:`check_positive_int`)."""
    return None if value is None else check_positive_int(name, value)


def check_positive_real(name: str, value: Any, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise InvalidTypeError(f"{name} must be a real number, got {_describe(value)}")
    number = float(value)
    if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        expected = "a finite number >= 0" if allow_zero else "a finite number > 0"
        raise InvalidArgumentError(f"{name} must be {expected}, got {number}")
    return number


def check_unit_interval(name: str, value: Any, *, closed_right: bool = False) -> float:
    """A rate in [0, 1) (or [0, 1] with ``closed_right``): momentum, decay rates, betas."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise InvalidTypeError(f"{name} must be a real number, got {_describe(value)}")
    rate = float(value)
    ok = 0.0 <= rate <= 1.0 if closed_right else 0.0 <= rate < 1.0
    if math.isnan(rate) or not ok:
        interval = "[0, 1]" if closed_right else "[0, 1)"
        raise InvalidArgumentError(f"{name} must lie in {interval}, got {rate}")
    return rate


def check_mode(name: str, value: Any) -> bool:
    """A course mode string, 'train' or 'test'; returns True for training."""
    if value not in ("train", "test"):
        raise InvalidArgumentError(f"{name} must be 'train' or 'test', got {value!r}")
    return bool(value == "train")


def check_float_dtype(name: str, value: Any) -> np.dtype[Any]:
    """A dtype given as a name, a type or a dtype: float32 or float64 only."""
    if value is None:
        # np.dtype(None) is float64: an explicit None is more likely a mistake than a choice.
        raise InvalidTypeError(f"{name} must be float32 or float64, got None")
    try:
        dtype: np.dtype[Any] = np.dtype(value)
    except (TypeError, ValueError) as exc:
        raise InvalidTypeError(f"{name} must be a floating-point dtype, got {_describe(value)}") from exc
    if dtype not in _FLOAT_DTYPES:
        raise InvalidTypeError(f"{name} must be float32 or float64, got {dtype}")
    return dtype


def check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidTypeError(f"{name} must be True or False, got {_describe(value)}")
    return bool(value)


def check_callable(name: str, value: Any, what: str = "a callable", *, allow_none: bool = False) -> Any:
    if not callable(value) and not (allow_none and value is None):
        raise InvalidTypeError(f"{name} must be {what}, got {_describe(value)}")
    return value


def check_unknown_keywords(function: str, unknown: Mapping[str, Any]) -> None:
    """Refuse keyword arguments a function does not take with the TypeError Python raises for them
    (``f() got an unexpected keyword argument 'x'``), naming every one."""
    if unknown:
        names = sorted(unknown)
        if len(names) == 1:
            raise InvalidTypeError(f"{function}() got an unexpected keyword argument {names[0]!r}")
        raise InvalidTypeError(f"{function}() got unexpected keyword arguments {', '.join(map(repr, names))}")


def check_path(name: str, value: Any) -> Path:
    """A file-system path: a non-empty str or os.PathLike of str."""
    if not isinstance(value, (str, os.PathLike)):
        raise InvalidTypeError(f"{name} must be a path (str or os.PathLike), got {_describe(value)}")
    text = os.fspath(value)
    if not isinstance(text, str):
        raise InvalidTypeError(f"{name} must be a str path or os.PathLike of str, got {_describe(text)}")
    if not text or "\x00" in text:
        raise InvalidArgumentError(f"{name} must be a non-empty path without NUL characters, got {text!r}")
    return Path(text)


def check_file_to_write(name: str, value: Any, *, prefix: bool = False) -> Path:
    """A path to write a file to: its folder exists and the path itself is not a folder.

    With ``prefix``, ``value`` is the start of the files' names (a Solver's ``checkpoint_name``, whose
    files are ``{value}_latest.npz``...): only its folder must exist.
    """
    path = check_path(name, value)
    folder = path.parent
    if not folder.is_dir():
        raise InvalidArgumentError(f"{name}'s folder must exist, got {str(folder)!r} for {name} {str(path)!r}")
    if not prefix and path.is_dir():
        raise InvalidArgumentError(f"{name} must name a file, got the folder {str(path)!r}")
    return path


def check_generator(name: str, value: Any) -> np.random.Generator | None:
    if value is not None and not isinstance(value, np.random.Generator):
        raise InvalidTypeError(
            f"{name} must be a numpy.random.Generator (np.random.default_rng(seed)) or None, "
            f"got {_describe(value)}"
        )
    return value


def check_seed(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise InvalidTypeError(f"{name} must be a non-negative integer or None, got {_describe(value)}")
    seed = int(value)
    if seed < 0 or seed >= 2**32:
        raise InvalidArgumentError(f"{name} must lie in [0, 2**32), got {seed}")
    return seed


_TRAINING_DATA_KEYS = ("X_train", "y_train", "X_val", "y_val")


def check_training_data(
    data: Any, *, input_dim: int | None = None, num_classes: int | None = None
) -> dict[str, np.ndarray]:
    """A Solver's ``data``: a mapping with ``X_train`` (N_train, d_1, ...), ``y_train`` (N_train,),
    ``X_val`` (N_val, d_1, ...) and ``y_val`` (N_val,); finite numeric inputs with ``input_dim`` values
    per example and integer labels in [0, num_classes), where those are given. Returns those four."""
    if not isinstance(data, Mapping):
        raise InvalidTypeError(
            f"data must be a dict with keys {list(_TRAINING_DATA_KEYS)}, got {_describe(data)}"
        )
    missing = [key for key in _TRAINING_DATA_KEYS if key not in data]
    if missing:
        raise InvalidArgumentError(f"data is missing keys {missing}; it must hold {list(_TRAINING_DATA_KEYS)}")
    out: dict[str, np.ndarray] = {}
    for split in ("train", "val"):
        x_name, y_name = f"X_{split}", f"y_{split}"
        X, y = data[x_name], data[y_name]
        if not isinstance(X, np.ndarray) or not (
            np.issubdtype(X.dtype, np.floating) or np.issubdtype(X.dtype, np.integer)
        ):
            raise InvalidTypeError(f"data[{x_name!r}] must be a numeric NumPy array, got {_describe(X)}")
        if X.ndim < 2 or X.shape[0] == 0:
            raise InvalidArgumentError(
                f"data[{x_name!r}] must have shape (N, d_1, ...) with N >= 1, got shape {X.shape}"
            )
        if not all_finite(X):
            raise InvalidArgumentError(
                f"data[{x_name!r}] must be finite, got {count_nonfinite(X)} NaN or infinite values: they "
                "would poison training"
            )
        d = int(np.prod(X.shape[1:], dtype=np.int64))
        if input_dim is not None and d != input_dim:
            raise InvalidArgumentError(
                f"data[{x_name!r}] must hold the model's input_dim={input_dim} values per example, "
                f"got shape {X.shape} ({d} values)"
            )
        if not isinstance(y, np.ndarray) or not np.issubdtype(y.dtype, np.integer):
            raise InvalidTypeError(f"data[{y_name!r}] must be an integer NumPy array, got {_describe(y)}")
        if y.shape != (X.shape[0],):
            raise InvalidArgumentError(
                f"data[{y_name!r}] must have shape ({X.shape[0]},) to match data[{x_name!r}] of shape "
                f"{X.shape}, got shape {y.shape}"
            )
        if num_classes is not None:
            check_label_range(f"data[{y_name!r}]", y, num_classes, whose="the model's")
        out[x_name], out[y_name] = X, y
    return out


def check_examples(X: Any, y: Any, *, num_classes: int | None = None) -> None:
    """Examples to score: ``X`` (N, d_1, ...) with N >= 1 and integer labels ``y`` (N,), in
    [0, num_classes) where that is given."""
    if not isinstance(X, np.ndarray) or X.ndim < 1 or X.shape[0] == 0:
        raise InvalidArgumentError(f"X must be an array of shape (N, d_1, ...) with N >= 1, got {_describe(X)}")
    if not isinstance(y, np.ndarray) or y.shape != (X.shape[0],):
        raise InvalidArgumentError(f"y must be an array of shape ({X.shape[0]},), got {_describe(y)}")
    if not np.issubdtype(y.dtype, np.integer):
        raise InvalidTypeError(f"y must hold integer labels, got dtype {y.dtype}")
    if num_classes is not None:
        check_label_range("y", y, num_classes, whose="the model's")
