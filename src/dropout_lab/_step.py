"""One training step of the :class:`~dropout_lab.solver.Solver`, applied only when all of it is finite.

A step's new parameters and optimizer state are computed apart from the live ones (a built-in rule
writes into whichever of two arrays per output the Solver owns is not live now), then the loss, the
gradients and the new parameters are checked for NaN and infinity, and only then does the Solver
apply them. A value that is not finite raises :class:`NonFinite` here, so a rejected step changes
nothing; the Solver records it as a :class:`Divergence` and raises one
:class:`~dropout_lab.errors.TrainingDivergedError` with :func:`divergence_message`: where training
stopped, on what, and what to try.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ._regularizers import apply_max_norm, set_keep_probs
from ._validation import _describe, all_finite, count_nonfinite
from .errors import InvalidArgumentError, InvalidTypeError, TrainingDivergedError
from .optim.rules import hyperparameter, output_names, step_into
from .optim.schedules import MomentumSchedule

if TYPE_CHECKING:
    from .solver import Solver

__all__ = [
    "Divergence",
    "NonFinite",
    "StepBuffers",
    "Updates",
    "check_momentum_schedule",
    "divergence_message",
    "next_parameters",
    "quiet_nonfinite",
    "solver_step",
]

# Parameter name -> output name ('w' or a state array's key) -> two arrays, written in turn: the live
# one is the step's input and stays as it is until the step, written into the other, is accepted.
StepBuffers = dict[str, dict[str, list[np.ndarray | None]]]
# Parameter name -> (next_w, next_config).
Updates = dict[str, tuple[np.ndarray, dict[str, Any]]]


@dataclass(frozen=True)
class Divergence:
    """Where training stopped on a NaN or infinite value.

    Attributes:
        iteration: the step that failed, counted from 1 as in the verbose lines.
        epoch: the epoch it belonged to, counted from 1.
        what: ``'loss'``, ``"grads['W1']"`` or ``"the update of W1"``.
    """

    iteration: int
    epoch: int
    what: str


class NonFinite(Exception):
    """A value of the step is NaN or infinite: ``what`` names it as :attr:`Divergence.what` does.

    Only ever caught by the Solver, which stops with a TrainingDivergedError in its place.
    """

    def __init__(self, what: str, value: Any) -> None:
        super().__init__(what)
        self.what = what
        self.value = value


def quiet_nonfinite(check: bool) -> contextlib.AbstractContextManager[Any]:
    """With ``check`` (the Solver's ``stop_on_nonfinite``), NumPy's overflow and invalid-value warnings
    off: every such operation ends in an inf or NaN that the step's checks turn into one clear
    TrainingDivergedError (and scores from huge but finite weights only lower an accuracy)."""
    if check:
        return np.errstate(over="ignore", invalid="ignore", divide="ignore")
    return contextlib.nullcontext()


def _step_outputs(
    slots: dict[str, list[np.ndarray | None]], names: tuple[str, ...], w: np.ndarray, config: Mapping[str, Any]
) -> dict[str, np.ndarray]:
    """Arrays for the built-in rule to write a parameter's next step into: of each pair in ``slots``
    (made on first use, remade if ``w``'s shape or dtype changed), the one that is not live now (the
    live one is the step's input)."""
    out = {}
    for key in names:
        live = w if key == "w" else config.get(key)
        pair = slots.setdefault(key, [None, None])
        index = 1 if pair[0] is live else 0
        buffer = pair[index]
        if buffer is None or buffer.shape != w.shape or buffer.dtype != w.dtype:
            buffer = pair[index] = np.empty(w.shape, dtype=w.dtype)
        out[key] = buffer
    return out


def next_parameters(
    loss: Any,
    grads: Mapping[str, Any],
    params: Mapping[str, np.ndarray],
    optim_configs: Mapping[str, dict[str, Any]],
    *,
    update_rule: Callable[..., Any],
    builtin_rule: str | None,
    buffers: StepBuffers,
    check: bool,
) -> Updates:
    """Every parameter's next value and optimizer config after one step; changes none of them.

    Args:
        loss, grads: what ``model.loss(X_batch, y_batch)`` returned (grads: name -> array of the
            parameter's shape).
        params: name -> w. optim_configs: name -> the rule's config.
        update_rule: ``next_w, config = update_rule(w, dw, config)``. builtin_rule: its registry name
            when it is a built-in rule (which then writes into ``buffers``, see :func:`step_into`), else
            None.
        buffers: the caller's arrays for built-in steps, filled on first use and reused in turn.
        check: raise :class:`NonFinite` for a NaN or infinite loss, gradient or next w, in that order
            (a user's rule is then only ever called with finite gradients).

    Raises:
        InvalidArgumentError: ``grads`` lacks a parameter, or has another shape than it.
    """
    if check and not np.isfinite(loss):
        raise NonFinite("loss", loss)
    missing = [name for name in params if name not in grads]
    if missing:
        raise InvalidArgumentError(f"model.loss returned no gradients for parameters {missing}")
    for name, w in params.items():
        if np.shape(grads[name]) != w.shape:
            raise InvalidArgumentError(
                f"model.loss returned a gradient of shape {np.shape(grads[name])} for parameter {name!r} of "
                f"shape {w.shape}"
            )
    # Whether dw and next_w hold a NaN or an infinity, from the built-in rule's kernels (both kinds
    # find it in their pass); a user's rule's arrays are looked at here.
    flags: dict[str, tuple[bool, bool]] = {}
    updates: Updates = {}
    if builtin_rule is not None:
        # Into the caller's own arrays: no new arrays (and page faults) at every step; the live ones
        # are left as they are until the step is accepted. The built-in rules are pure and finish on
        # any input, so they may run before the gradients are checked.
        names = output_names(builtin_rule)
        for name, w in params.items():
            config = optim_configs[name]
            out = _step_outputs(buffers.setdefault(name, {}), names, w, config)
            next_w, next_config, bad_dw, bad_w = step_into(builtin_rule, w, grads[name], config, out)
            updates[name], flags[name] = (next_w, next_config), (bad_dw, bad_w)
    if check:
        for name in params:
            bad = flags[name][0] if name in flags else not all_finite(np.asarray(grads[name]))
            if bad:
                raise NonFinite(f"grads[{name!r}]", grads[name])
    if builtin_rule is None:
        updates = {name: update_rule(w, grads[name], optim_configs[name]) for name, w in params.items()}
    if check:
        for name, (next_w, _) in updates.items():
            bad = flags[name][1] if name in flags else not all_finite(np.asarray(next_w))
            if bad:
                raise NonFinite(f"the update of {name}", next_w)
    return updates


def divergence_message(
    divergence: Divergence,
    value: Any,
    *,
    num_iterations: int,
    num_epochs: int,
    optim_configs: Mapping[str, Mapping[str, Any]],
    best_epoch: int | None,
    best_val_acc: float,
) -> str:
    """The TrainingDivergedError's message: where (``divergence``, of ``num_iterations`` steps and
    ``num_epochs`` epochs), the bad ``value`` (a scalar as it is, an array by its count of NaN and
    infinite values), the learning rate to lower, and which parameters the Solver restored."""
    values = np.asarray(value)
    if values.size == 1:
        detail = f"{float(values.reshape(())):f}"
    else:
        bad = count_nonfinite(values)
        detail = f"not finite ({bad} of {values.size} values are NaN or infinite)"
    rates = sorted({c["learning_rate"] for c in optim_configs.values() if "learning_rate" in c})
    rate = f" (learning_rate {rates[0]:g})" if len(rates) == 1 else ""
    best = (
        f"the best parameters so far (epoch {best_epoch}, val_acc {best_val_acc:f}) were restored"
        if best_epoch is not None
        else "no parameters had been evaluated yet"
    )
    return (
        f"training diverged at iteration {divergence.iteration} / {num_iterations} (epoch "
        f"{divergence.epoch} / {num_epochs}): {divergence.what} is {detail}. The usual cause is a learning "
        f"rate that is too high{rate}: try one 3 to 10 times smaller. That update was not applied; {best}."
    )


def check_momentum_schedule(schedule: Any, builtin_rule: str | None, optim_config: Mapping[str, Any]) -> float | None:
    """The Solver's ``momentum_schedule`` checked (None, or a :class:`MomentumSchedule` with the built-in
    rule 'sgd_momentum', whose ``optim_config`` is already checked): the final momentum it moves to
    (the config's, else the rule's default), or None without a schedule."""
    if schedule is None:
        return None
    if not isinstance(schedule, MomentumSchedule):
        raise InvalidTypeError(f"momentum_schedule must be a MomentumSchedule or None, got {_describe(schedule)}")
    if builtin_rule != "sgd_momentum":
        rule = "a callable" if builtin_rule is None else repr(builtin_rule)
        raise InvalidArgumentError(
            f"momentum_schedule moves the momentum of update_rule 'sgd_momentum' only, got update_rule {rule}"
        )
    return hyperparameter("sgd_momentum", optim_config, "momentum")


def _set_momentum(solver: Solver, t: int) -> None:
    """Every parameter's momentum for step ``t``: the schedule's value at ``t / iterations_per_epoch``
    epochs (a function of the step count alone, so a resumed run sets what the uninterrupted one did).
    New config dicts: a step undone puts the old ones back."""
    schedule, final = solver.momentum_schedule, solver._final_momentum
    if schedule is None or final is None:
        return
    momentum = schedule.momentum(final, t / solver.iterations_per_epoch)
    for name, config in solver.optim_configs.items():
        solver.optim_configs[name] = {**config, "momentum": momentum}


def solver_step(solver: Solver, t: int) -> None:
    """Step ``t`` (counted from 0) of ``solver``: the keep probabilities and the momentum of its
    schedules for that step, a minibatch, the loss and gradients, the next parameters (constrained by
    ``max_norm``), then the loss recorded and the parameters and optimizer configs applied. With
    ``stop_on_nonfinite`` a NaN or infinity changes nothing: the best parameters are restored and
    TrainingDivergedError raised."""
    regularizers = solver._regularizers
    with quiet_nonfinite(solver.stop_on_nonfinite):
        if regularizers.keep_schedule is not None and regularizers.keep_targets is not None:
            per_step = regularizers.keep_schedule.per == "step"
            set_keep_probs(solver.model, regularizers.keep_schedule, regularizers.keep_targets,
                           t if per_step else solver.epoch)
        _set_momentum(solver, t)
        batch = solver._choice(solver.X_train.shape[0], solver.batch_size)
        loss, grads = solver.model.loss(solver.X_train[batch], solver.y_train[batch])
        params = solver.model.params
        try:
            updates = next_parameters(
                loss, grads, params, solver.optim_configs, update_rule=solver.update_rule,
                builtin_rule=solver._builtin_rule, buffers=solver._buffers, check=solver.stop_on_nonfinite,
            )
        except NonFinite as bad:
            # Record where training failed, put the best parameters back, and stop with one error.
            solver.diverged = Divergence(iteration=t + 1, epoch=solver.epoch + 1, what=bad.what)
            message = divergence_message(
                solver.diverged, bad.value, num_iterations=solver.num_iterations, num_epochs=solver.num_epochs,
                optim_configs=solver.optim_configs, best_epoch=solver.best_epoch, best_val_acc=solver.best_val_acc,
            )
            solver._restore_best()
            raise TrainingDivergedError(message) from None
        if regularizers.max_norm is not None:
            # A built-in rule's next weights are the Solver's own arrays (not live yet): constrained in place.
            apply_max_norm(updates, regularizers.max_norm_names, regularizers.max_norm,
                           in_place=solver._builtin_rule is not None)
        solver.loss_history.append(float(loss))
        for name, (next_w, next_config) in updates.items():
            params[name] = next_w
            solver.optim_configs[name] = next_config
