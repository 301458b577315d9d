"""Reading run records: the fields that :func:`~dropout_lab.experiments.stats.summarize` and
:func:`~dropout_lab.experiments.plot.plot_accuracy` take from each run.

A run record is a dict (one entry of ``results.json``'s ``"runs"``) or an object with the same names
as attributes (a :class:`~dropout_lab.experiments.RunResult`). Each reader names the run by its
position, ``runs[index]``, in its errors.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np

from .._validation import _describe, check_keep_prob
from ..errors import InvalidArgumentError, InvalidTypeError

__all__ = [
    "keep_text",
    "run_accuracy",
    "run_field",
    "run_history",
    "run_keep_prob",
    "run_list",
    "run_optional",
    "run_seed",
]


def keep_text(keep_prob: float) -> str:
    """``keep_prob`` as text that reads back as exactly it: the short form (``0.5``) when that is
    exact, else the shortest exact one (``0.5000001``), so that two keep probabilities never share a
    file name, a table row's label or a legend entry."""
    short = f"{keep_prob:g}"
    return short if float(short) == keep_prob else repr(float(keep_prob))


def run_list(runs: Any) -> list[Any]:
    """``runs`` as a list of run records.

    Args:
        runs: any iterable of run records but a string, bytes or a single dict (each of which is
            iterable, but is one record or none, not a list of them).

    Returns:
        A new list of the records, in order.
    """
    if isinstance(runs, (str, bytes, dict)):
        raise InvalidTypeError(f"runs must be a list of run records, got {_describe(runs)}")
    try:
        return list(runs)
    except TypeError as exc:
        raise InvalidTypeError(f"runs must be a list of run records, got {_describe(runs)}") from exc


def run_field(run: Any, index: int, name: str) -> Any:
    """The field ``name`` of ``runs[index]``: its key if it is a dict, else its attribute.

    Raises:
        InvalidArgumentError: the record has no such key or attribute.
    """
    if isinstance(run, dict):
        if name not in run:
            raise InvalidArgumentError(f"runs[{index}] has no {name!r} key (keys: {sorted(run)})")
        return run[name]
    if not hasattr(run, name):
        raise InvalidArgumentError(f"runs[{index}] ({type(run).__name__}) has no attribute {name!r}")
    return getattr(run, name)


def run_keep_prob(run: Any, index: int) -> float:
    """The ``keep_prob`` of ``runs[index]``, a real number in (0, 1]."""
    return check_keep_prob(f"runs[{index}].keep_prob", run_field(run, index, "keep_prob"))


def run_seed(run: Any, index: int) -> int:
    """The ``seed`` of ``runs[index]``, an integer (not a bool)."""
    seed = run_field(run, index, "seed")
    if isinstance(seed, bool) or not isinstance(seed, Integral):
        raise InvalidTypeError(f"runs[{index}].seed must be an integer, got {_describe(seed)}")
    return int(seed)


def run_accuracy(run: Any, index: int, name: str) -> float:
    """The field ``name`` of ``runs[index]`` as an accuracy: a real number (not a bool) in [0, 1]."""
    value = run_field(run, index, name)
    if isinstance(value, bool) or not isinstance(value, Real):
        raise InvalidTypeError(f"runs[{index}].{name} must be a real number, got {_describe(value)}")
    accuracy = float(value)
    if not 0.0 <= accuracy <= 1.0:  # also rejects NaN
        raise InvalidArgumentError(
            f"runs[{index}].{name} must be an accuracy fraction in [0, 1], got {accuracy}"
        )
    return accuracy


def run_optional(run: Any, name: str) -> Any:
    """The field ``name`` of a run record, or None when it has none (records written before the field
    existed, or hand-made ones with only the fields a summary needs)."""
    return run.get(name) if isinstance(run, dict) else getattr(run, name, None)


def run_history(run: Any, index: int, name: str, *, accuracies: bool = True) -> np.ndarray | None:
    """The history ``name`` of ``runs[index]`` as a (P,) float64 array, or None when it has none.

    Args:
        accuracies: True: every value must be an accuracy fraction in [0, 1]; False: finite (a loss).
    """
    value = run_optional(run, name)
    if value is None:
        return None
    try:
        history = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidTypeError(f"runs[{index}].{name} must be a sequence of numbers, got {_describe(value)}") from exc
    if history.ndim != 1:
        raise InvalidArgumentError(f"runs[{index}].{name} must be one-dimensional, got shape {history.shape}")
    bad = ~((history >= 0.0) & (history <= 1.0)) if accuracies else ~np.isfinite(history)  # NaN is bad
    if np.any(bad):
        at = int(np.argmax(bad))
        expected = "accuracy fractions in [0, 1]" if accuracies else "finite numbers"
        raise InvalidArgumentError(f"runs[{index}].{name} must hold {expected}, got {history[at]} at item {at}")
    return history
