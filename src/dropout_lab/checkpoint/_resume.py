"""The rules that decide whether a Solver may continue a training checkpoint: the same model, the same
run (its identity, ``run_id``), settings under which the saved state fits, and a run that is not
already further than this Solver goes.

:func:`resume_precheck` applies the rules that need only a checkpoint's metadata and declared shapes,
before any array is read (a file for another run is refused without reading its arrays, and one that
declares more steps than the run has is never allocated); :func:`check_resume_compatible` applies all
of them to the state as read.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from .._epochs import epoch_end_step
from ..errors import CheckpointError, InvalidArgumentError, InvalidTypeError
from ..layers.dropout import MASK_STREAM_VERSION
from ..models.protocol import Model, model_draws_from_global_rng, model_rng, model_uses_dropout
from ..optim.rules import rule_name, validate_config
from ._format import Checkpoint
from ._model import check_model_compatible
from ._training import TrainingState

# The Solver settings a resumed run must share with the one that wrote the checkpoint, and why.
_RESUME_SETTINGS = {
    "batch_size": "the epochs would not line up",
    "num_train": "the epochs would not line up",
    "update_rule": "the optimizer state would not fit",
    "num_steps": "the run would end elsewhere than the one it continues, and a partial last epoch with it",
    "eval_every": "the accuracies would be measured (and the best parameters chosen) at other epochs",
    "max_norm": "the weights would be constrained otherwise than in the run it continues",
    "keep_schedule": "the keep probabilities (the schedule and the targets it scales from) would differ",
    "momentum_schedule": "the momentum at each step (the schedule and the final momentum it moves to) would differ",
    "patience": "early stopping would end the run at another epoch",
    "architecture": "the model would compute another function (its dropout kind or activation) than the one trained",
}
# What a setting absent from a checkpoint (written before it existed) means: a checkpoint without an
# architecture was written by a Bernoulli-dropout ReLU net (the only kind there was).
_RESUME_DEFAULTS: dict[str, Any] = {
    "num_steps": None, "eval_every": 1, "max_norm": None, "keep_schedule": None, "momentum_schedule": None,
    "patience": None,
    "architecture": {"dropout_kind": "bernoulli", "activation": "relu"},
}  # fmt: skip


def _identity_difference(theirs: Any, ours: Any) -> str:
    """What differs between two run identities, by field where both are JSON objects."""
    if theirs is None or ours is None:
        return "no run_id there" if theirs is None else "no run_id here"
    try:
        a, b = json.loads(theirs), json.loads(ours)
    except (TypeError, ValueError, RecursionError):
        a = b = None
    if isinstance(a, dict) and isinstance(b, dict):
        keys = [k for k in (*a, *(k for k in b if k not in a)) if a.get(k, ...) != b.get(k, ...)]
        if keys:
            return "; ".join(f"{k}: {a.get(k, '(none)')!r} there, {b.get(k, '(none)')!r} here" for k in keys)
    return f"run_id {theirs!r} there, {ours!r} here"


def _check_settings(where: str, recorded: Mapping[str, Any], settings: Mapping[str, Any]) -> None:
    theirs, ours = recorded.get("run_id"), settings.get("run_id")
    if theirs != ours:
        raise CheckpointError(
            f"{where} belongs to another run ({_identity_difference(theirs, ours)}): it is never continued "
            "by another run; start this run in a new folder, or resume the run it belongs to"
        )
    for key, why in _RESUME_SETTINGS.items():
        theirs, ours = recorded.get(key, _RESUME_DEFAULTS.get(key)), settings.get(key, _RESUME_DEFAULTS.get(key))
        if theirs != ours:
            raise CheckpointError(
                f"{where} was written with {key}={theirs!r} and this Solver has {key}={ours!r}: {why}"
            )


def _check_progress(
    where: str, epoch: int, iteration: int, num_epochs: int, iterations_per_epoch: int, num_iterations: int
) -> None:
    if epoch > num_epochs:
        raise CheckpointError(
            f"{where} has already trained {epoch} epochs, more than this Solver's num_epochs={num_epochs}"
        )
    per_epoch = iterations_per_epoch
    # An interrupted run stops mid-epoch: between the steps of its completed epochs and the next (the
    # last epoch may be partial: it ends at num_iterations); a finished one at its last step.
    start, end = (epoch_end_step(e, per_epoch, num_iterations) for e in (epoch, epoch + 1))
    if not (start <= iteration < end or iteration == start == num_iterations):
        raise CheckpointError(
            f"{where} records {iteration} steps after {epoch} epochs of {per_epoch} "
            f"steps, which does not fit this Solver's {num_iterations} steps"
        )


def resume_precheck(
    model: Model, *, settings: Mapping[str, Any], num_epochs: int, iterations_per_epoch: int, num_iterations: int
) -> Callable[[Checkpoint], None]:
    """The checks :func:`read_training_state` runs, through its ``precheck``, on a checkpoint as
    declared (metadata and shapes) before it reads any array, for a Solver with ``model``,
    ``settings`` (its record of them), ``num_epochs``, ``iterations_per_epoch`` and
    ``num_iterations`` (its steps in all): the model's
    architecture and dtype, the run identity and the settings of :func:`check_resume_compatible`, and
    the epoch and step counts (which bound the histories' lengths). Malformed records are left to the
    reader, which refuses them."""

    def check(declared: Checkpoint) -> None:
        where = f"checkpoint {declared.path}"
        check_model_compatible(declared, model)
        meta = declared.metadata
        recorded = meta.get("settings")
        if isinstance(recorded, dict):
            _check_settings(where, recorded, settings)
        epoch, iteration = meta.get("epoch"), meta.get("iteration")
        if isinstance(epoch, int) and isinstance(iteration, int):  # else the reader refuses the record
            _check_progress(where, epoch, iteration, num_epochs, iterations_per_epoch, num_iterations)

    return check


def check_resume_compatible(
    state: TrainingState,
    model: Model,
    *,
    settings: Mapping[str, Any],
    num_epochs: int,
    iterations_per_epoch: int,
    num_iterations: int,
    update_rule: Callable[..., Any],
) -> None:
    """Raise :class:`CheckpointError` unless a Solver with ``settings`` (its record of them, as
    written to checkpoints), ``num_epochs``, ``num_iterations`` and ``update_rule`` may continue
    ``state`` with ``model``. Changes nothing.

    Refused: a model of another architecture or dtype; a checkpoint of another run (another
    ``run_id``: the experiment runner's record of a run's settings, keep probability and seed; the
    message names what differs); another ``batch_size``, training set size, update rule,
    ``num_steps``, ``eval_every``, ``max_norm``, ``keep_schedule`` (with its targets),
    ``momentum_schedule`` (with its final momentum) or ``patience`` (a checkpoint without them means
    None, 1, None, None, None and None); more
    epochs done than ``num_epochs``, or a step count that does not fit them; an optimizer state the
    built-in rule refuses; another source of dropout masks (a Generator against NumPy's global
    generator); another mask stream version (:data:`MASK_STREAM_VERSION`).
    """
    where = f"checkpoint {state.path}"
    check_model_compatible(state, model)
    _check_settings(where, state.settings, settings)
    if state.mask_stream_version != MASK_STREAM_VERSION:
        raise CheckpointError(
            f"{where} was written with dropout mask stream version {state.mask_stream_version} and this "
            f"dropout-lab draws version {MASK_STREAM_VERSION}: the resumed run would drop other units than "
            "the run it continues. Resume it with the dropout-lab that wrote it, or start the run again"
        )
    _check_progress(where, state.epoch, state.iteration, num_epochs, iterations_per_epoch, num_iterations)
    end = epoch_end_step(state.epoch, iterations_per_epoch, num_iterations)
    if state.ended_epochs() == state.epoch and state.iteration != end:
        # An epoch's record is pending only right after its last step.
        raise CheckpointError(
            f"{where} records {state.iteration} steps and accuracies for epochs before {state.epoch}: "
            f"epoch {state.epoch} ends at step {end}"
        )
    if rule_name(update_rule) is not None:
        for name, config in state.optim_configs.items():
            try:
                validate_config(update_rule, config, model.params[name])
            except (InvalidArgumentError, InvalidTypeError) as exc:
                raise CheckpointError(f"{where} holds a bad optimizer state for {name}: {exc}") from None
    if model_draws_from_global_rng(model) and state.model_rng is not None:
        raise CheckpointError(
            f"{where} was written with a model that drew its dropout masks from a Generator "
            "(rng=), but this model draws them from NumPy's global generator: build it with rng="
        )
    if model_rng(model) is not None and state.model_rng is None and model_uses_dropout(model):
        raise CheckpointError(
            f"{where} was written with a model that drew its dropout masks from NumPy's global "
            "generator, but this model has its own rng"
        )
