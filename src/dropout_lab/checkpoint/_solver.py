"""A Solver's side of its training checkpoints: the :class:`TrainingState` it stands at, and resuming it
from one. :class:`~dropout_lab.solver.Solver`'s ``training_state()`` and ``resume()`` are these
functions; they live here, beside the state they fill and read, so that ``solver.py`` keeps to training."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ..models.protocol import model_buffers
from ._model import apply_model_state, model_architecture
from ._resume import check_resume_compatible, resume_precheck
from ._training import (
    TrainingState,
    generator_states,
    read_training_state,
    restore_generators,
    settings_scalars,
)

if TYPE_CHECKING:
    from ..solver import Solver


def solver_settings(solver: Solver) -> dict[str, Any]:
    """The Solver's settings as a checkpoint records them (JSON values) and a resume compares them."""
    return {
        "model_class": type(solver.model).__name__,
        "architecture": model_architecture(solver.model),
        "update_rule": solver._rule_label,
        "optim_config": settings_scalars(solver.optim_config),
        "lr_decay": solver.lr_decay,
        "batch_size": solver.batch_size,
        "num_epochs": solver.num_epochs,
        "num_steps": solver.num_steps,
        "eval_every": solver.eval_every,
        "num_train": int(solver.X_train.shape[0]),
        "num_val": int(solver.X_val.shape[0]),
        "num_train_samples": solver.num_train_samples,
        "num_val_samples": solver.num_val_samples,
        "print_every": solver.print_every,
        "checkpoint_every": solver.checkpoint_every,
        "stop_on_nonfinite": solver.stop_on_nonfinite,
        "run_id": solver.run_id,
        "max_norm": solver.max_norm,
        "keep_schedule": _schedule_record(solver),
        "momentum_schedule": _momentum_record(solver),
        "patience": solver.patience,
    }


def _schedule_record(solver: Solver) -> dict[str, Any] | None:
    """The keep schedule with the targets it scales from (the model's keep probabilities), or None."""
    regularizers = solver._regularizers
    schedule, targets = regularizers.keep_schedule, regularizers.keep_targets
    if schedule is None or targets is None:
        return None
    return {**schedule.record(), "keep_probs": list(targets.hidden), "input_keep_prob": targets.input}


def _momentum_record(solver: Solver) -> dict[str, Any] | None:
    """The momentum schedule with the final momentum it moves to, or None."""
    schedule, final = solver.momentum_schedule, solver._final_momentum
    if schedule is None or final is None:
        return None
    return {**schedule.record(), "momentum": final}


def solver_training_state(solver: Solver) -> TrainingState:
    """Everything a checkpoint of ``solver`` holds, as it stands now (arrays are not copied)."""
    return TrainingState(
        settings=solver_settings(solver),
        params=dict(solver.model.params),
        buffers=model_buffers(solver.model),
        best_params=solver.best_params,
        best_buffers=solver.best_buffers,
        optim_configs=solver.optim_configs,
        epoch=solver.epoch,
        iteration=solver.iteration,
        best_epoch=solver.best_epoch,
        best_val_acc=solver.best_val_acc,
        loss_history=solver.loss_history,
        train_acc_history=solver.train_acc_history,
        val_acc_history=solver.val_acc_history,
        acc_epochs=solver.acc_epochs,
        recorded_epochs=solver.recorded_epochs,
        **generator_states(solver.rng, solver.model),
    )


def resume_solver(solver: Solver, path: str | os.PathLike[str]) -> None:
    """Put ``solver`` and its model where the training checkpoint at ``path`` stood (see
    :meth:`Solver.resume <dropout_lab.solver.Solver.resume>`, which this is).

    Raises:
        CheckpointError: see :func:`check_resume_compatible`; ``solver`` and its model are then left
            as they were.
    """
    # What this Solver can continue bounds what is read: another run's file, or one declaring more
    # steps or larger arrays than this run has, is refused before its arrays are read.
    settings = solver_settings(solver)
    precheck = resume_precheck(
        solver.model,
        settings=settings,
        num_epochs=solver.num_epochs,
        iterations_per_epoch=solver.iterations_per_epoch,
        num_iterations=solver.num_iterations,
    )
    state = read_training_state(path, precheck=precheck)
    check_resume_compatible(
        state,
        solver.model,
        settings=settings,
        num_epochs=solver.num_epochs,
        iterations_per_epoch=solver.iterations_per_epoch,
        num_iterations=solver.num_iterations,
        update_rule=solver.update_rule,
    )

    # Everything is checked; the model's buffers go first, the one step that may still refuse.
    apply_model_state(state.path, solver.model, state.params, state.buffers)
    solver.best_params = {name: w.copy() for name, w in state.best_params.items()}
    solver.best_buffers = {name: b.copy() for name, b in state.best_buffers.items()}
    solver.optim_configs = state.optim_configs
    solver.epoch = state.epoch
    solver.iteration = state.iteration
    solver.best_epoch = state.best_epoch
    solver.best_val_acc = state.best_val_acc
    solver.loss_history = list(state.loss_history)
    solver.train_acc_history = list(state.train_acc_history)
    solver.val_acc_history = list(state.val_acc_history)
    solver.acc_epochs = state.measured_epochs()
    solver.recorded_epochs = state.ended_epochs()
    solver.diverged = None
    solver.rng = restore_generators(state, solver.model, solver.rng)
