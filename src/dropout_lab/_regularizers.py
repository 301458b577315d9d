"""The Solver's training-time regularizers beyond the model's own: max-norm on the hidden units'
incoming weights, a keep-probability schedule, and early stopping on the validation accuracy.

Each is a pure function of the Solver's state (its settings, step and epoch counts, histories), so a
run resumed from a checkpoint does exactly what the uninterrupted run does: the keep probability in
effect is a function of the step (or epoch) count, max-norm a function of the weights, and the epoch
early stopping ends at a function of the measured epochs and the best one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

import numpy as np

from ._validation import _describe, check_keep_prob, check_optional_positive_int, check_positive_real
from .errors import InvalidArgumentError, InvalidTypeError
from .models.protocol import Model
from .optim.constraints import max_norm as max_norm_projection
from .optim.schedules import KeepSchedule

__all__ = [
    "KeepTargets",
    "Regularizers",
    "apply_max_norm",
    "check_regularizers",
    "early_stop_epoch",
    "max_norm_names",
    "restore_keep_targets",
    "set_keep_probs",
]

_WEIGHT = re.compile(r"W([1-9][0-9]*)")


def max_norm_names(params: Mapping[str, np.ndarray]) -> tuple[str, ...]:
    """The weights max-norm constrains: the hidden layers' ``W1..W(L-1)`` of a model whose weights are
    ``W1..WL`` (the output layer's ``WL`` is left free: the paper bounds "the incoming weight vector at
    each hidden unit"), each 2-D (d_in, d_out)."""
    layers = sorted(int(m[1]) for name in params if (m := _WEIGHT.fullmatch(name)) is not None)
    if not layers or layers != list(range(1, len(layers) + 1)):
        raise InvalidArgumentError(
            f"max_norm needs a model whose weights are named W1..WL, got parameters {list(params)}"
        )
    names = tuple(f"W{i}" for i in layers[:-1])
    for name in names:
        if np.ndim(params[name]) != 2:
            raise InvalidArgumentError(f"max_norm needs 2-D weights (d_in, d_out), got {name} of shape "
                                       f"{np.shape(params[name])}")
    return names


def apply_max_norm(
    updates: dict[str, tuple[np.ndarray, dict[str, Any]]], names: Sequence[str], max_value: float, *, in_place: bool
) -> None:
    """Constrain the next weights of ``names`` in ``updates`` (name -> (next_w, config)) to column
    norms of at most ``max_value``: in place where the arrays are the Solver's own (``in_place``, a
    built-in rule's), else into new arrays (a user's rule may have returned arrays it keeps)."""
    for name in names:
        next_w, config = updates[name]
        updates[name] = (max_norm_projection(next_w, max_value, out=next_w if in_place else None), config)


@dataclass(frozen=True)
class KeepTargets:
    """The model's keep probabilities when the Solver was made, which a schedule scales from:
    ``hidden`` (one per hidden layer, ``model.keep_probs``) and ``input`` (``model.input_keep_prob``)."""

    hidden: tuple[float, ...]
    input: float


def _keep_targets(model: Model) -> KeepTargets:
    hidden, first = getattr(model, "keep_probs", None), getattr(model, "input_keep_prob", None)
    if not isinstance(hidden, tuple) or first is None:
        raise InvalidArgumentError(
            "keep_schedule needs a model with keep probabilities to set (keep_probs, a tuple, and "
            f"input_keep_prob, as FullyConnectedNet has), got a {type(model).__name__} without them"
        )
    return KeepTargets(
        tuple(check_keep_prob(f"model.keep_probs[{i}]", k) for i, k in enumerate(hidden)),
        check_keep_prob("model.input_keep_prob", first),
    )


class _KeepProbModel(Protocol):
    """A model whose keep probabilities are attributes (checked by :func:`_keep_targets`)."""

    keep_probs: tuple[float, ...]
    input_keep_prob: float


def set_keep_probs(model: Model, schedule: KeepSchedule, targets: KeepTargets, t: int) -> None:
    """Set ``model.keep_probs`` and ``model.input_keep_prob`` to ``schedule``'s values at ``t`` for
    ``targets``."""
    keeps = cast(_KeepProbModel, model)
    keeps.keep_probs = tuple(schedule.keep_prob(k, t) for k in targets.hidden)
    keeps.input_keep_prob = schedule.keep_prob(targets.input, t)


def restore_keep_targets(model: Model, targets: KeepTargets) -> None:
    """Put the model's keep probabilities back to ``targets`` (the values for inference and MC dropout)."""
    keeps = cast(_KeepProbModel, model)
    keeps.keep_probs, keeps.input_keep_prob = targets.hidden, targets.input


def early_stop_epoch(
    acc_epochs: Sequence[int], best_epoch: int | None, patience: int | None, num_epochs: int
) -> int | None:
    """The epoch at which early stopping ends training, or None while it does not (or never: no
    ``patience``).

    Training stops at the ``patience``-th measured epoch after the best one (the earliest epoch of
    the highest validation accuracy: a later epoch must be strictly better to become the best), if
    that epoch comes before the run's last (``num_epochs``): the measured epochs are ``acc_epochs``,
    so with ``eval_every`` > 1 patience counts measurements, not epochs.
    """
    if patience is None or best_epoch is None:
        return None
    after = [e for e in acc_epochs if e > best_epoch]
    if len(after) < patience or after[patience - 1] >= num_epochs:
        return None
    return after[patience - 1]


@dataclass(frozen=True)
class Regularizers:
    """The Solver's ``max_norm``, ``keep_schedule`` (with the model's targets) and ``patience``, checked."""

    max_norm: float | None
    max_norm_names: tuple[str, ...]
    keep_schedule: KeepSchedule | None
    keep_targets: KeepTargets | None
    patience: int | None


def check_regularizers(model: Model, max_norm: Any, keep_schedule: Any, patience: Any) -> Regularizers:
    """The Solver's arguments ``max_norm`` (None or a finite number > 0), ``keep_schedule`` (None or a
    :class:`KeepSchedule`, for a model with keep probabilities) and ``patience`` (None or an integer
    >= 1), checked, with what they apply to."""
    limit = None if max_norm is None else check_positive_real("max_norm", max_norm)
    names = () if limit is None else max_norm_names(model.params)
    if keep_schedule is not None and not isinstance(keep_schedule, KeepSchedule):
        raise InvalidTypeError(f"keep_schedule must be a KeepSchedule or None, got {_describe(keep_schedule)}")
    targets = None if keep_schedule is None else _keep_targets(model)
    return Regularizers(limit, names, keep_schedule, targets, check_optional_positive_int("patience", patience))
