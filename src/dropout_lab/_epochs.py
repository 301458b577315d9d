"""The :class:`~dropout_lab.solver.Solver`'s epochs: the step each one ends at, which are measured, and
recording an epoch's end.

An epoch is ``iterations_per_epoch`` steps; with a budget in steps (``num_steps``) the last one may be
shorter, and its end (at step ``num_steps``) is an epoch's end like any other. The accuracies are
measured at epoch 0 (before any step), at the end of every ``eval_every``-th epoch and at the end of
the last one; the others are only counted (their accuracy subsamples are drawn all the same, see
:func:`record_epoch`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ._step import quiet_nonfinite
from .errors import TrainingDivergedError

if TYPE_CHECKING:
    from .solver import Solver

__all__ = ["epoch_end_step", "epochs_for_steps", "is_measured", "record_epoch", "take_step"]


def epochs_for_steps(num_steps: int, iterations_per_epoch: int) -> int:
    """The epochs a budget of ``num_steps`` steps takes: ``ceil(num_steps / iterations_per_epoch)``
    (the last one partial when it does not divide)."""
    return math.ceil(num_steps / iterations_per_epoch)


def epoch_end_step(epoch: int, iterations_per_epoch: int, num_iterations: int) -> int:
    """The step count at which ``epoch`` (counted from 1; 0 is before training) ends: ``epoch``
    whole epochs, or the run's last step for a partial last epoch."""
    return min(epoch * iterations_per_epoch, num_iterations)


def is_measured(epoch: int, eval_every: int, num_epochs: int) -> bool:
    """Whether the accuracies are measured at the end of ``epoch``: epoch 0, every multiple of
    ``eval_every``, and the last epoch (``num_epochs``)."""
    return epoch % eval_every == 0 or epoch == num_epochs


def _draw_subsamples(solver: Solver) -> None:
    """Draw what measuring the accuracies would draw (their subsample indices), and nothing else: an
    epoch that is not measured leaves the Solver's generator where a measured one would, so the run's
    minibatches, and the accuracies of the epochs that are measured, are those of ``eval_every=1``.
    Drawing indices costs little next to scoring the examples."""
    for X, num_samples in ((solver.X_train, solver.num_train_samples), (solver.X_val, solver.num_val_samples)):
        n = int(X.shape[0])
        if num_samples is not None and n > num_samples:
            solver._choice(n, num_samples)


def _record_body(solver: Solver) -> None:
    measured = is_measured(solver.epoch, solver.eval_every, solver.num_epochs)
    if measured:
        train_acc = solver.check_accuracy(
            solver.X_train, solver.y_train, num_samples=solver.num_train_samples,
            batch_size=solver.accuracy_batch_size,
        )
        val_acc = solver.check_accuracy(
            solver.X_val, solver.y_val, num_samples=solver.num_val_samples, batch_size=solver.accuracy_batch_size
        )
        solver.train_acc_history.append(train_acc)
        solver.val_acc_history.append(val_acc)
        solver.acc_epochs.append(solver.epoch)
        # Strictly better only, as in the course: the earliest of equal epochs is kept.
        if solver.best_epoch is None or val_acc > solver.best_val_acc:
            solver.best_val_acc = val_acc
            solver.best_epoch = solver.epoch
            solver._snapshot_best()
    else:
        _draw_subsamples(solver)
    solver.recorded_epochs = solver.epoch + 1
    every = solver.checkpoint_every
    # The epoch early stopping ends at is the run's last: checkpointed like the last epoch.
    if solver.epoch > 0 and solver.checkpoint_name is not None and every is not None and (
        solver.epoch % every == 0 or solver.epoch == solver.num_epochs or solver.stopped_early
    ):
        solver._save_checkpoint()
    if solver.verbose and measured:
        print(
            f"(Epoch {solver.epoch} / {solver.num_epochs}) train acc: {solver.train_acc_history[-1]:f}; "
            f"val_acc: {solver.val_acc_history[-1]:f}"
        )


def record_epoch(solver: Solver) -> None:
    """Record the end of ``solver``'s current epoch: measure both accuracies if it is measured (and
    keep the best parameters), else draw their subsamples only; then write a checkpoint if one is due.

    All or nothing: an exception (a KeyboardInterrupt while measuring, say) leaves the histories, the
    best parameters, ``recorded_epochs`` and the Solver's generator as they were before, so the epoch
    is recorded again, drawing the same accuracy subsamples, when ``train()`` is called again.
    """
    before = (solver.best_val_acc, solver.best_epoch, solver.best_params, solver.best_buffers)
    lengths = len(solver.train_acc_history), len(solver.val_acc_history), len(solver.acc_epochs)
    recorded_epochs = solver.recorded_epochs
    # Only the accuracy subsamples draw here (the model scores in test mode, without masks).
    rng = solver.rng
    rng_state: Mapping[str, Any] = rng.bit_generator.state if rng is not None else np.random.get_state(legacy=False)
    try:
        with quiet_nonfinite(solver.stop_on_nonfinite):
            _record_body(solver)
    except BaseException:
        del solver.train_acc_history[lengths[0] :], solver.val_acc_history[lengths[1] :]
        del solver.acc_epochs[lengths[2] :]
        solver.best_val_acc, solver.best_epoch, solver.best_params, solver.best_buffers = before
        solver.recorded_epochs = recorded_epochs
        if rng is not None:
            rng.bit_generator.state = rng_state
        else:
            np.random.set_state(dict(rng_state))
        raise


def take_step(solver: Solver, t: int, iterations_per_epoch: int, num_iterations: int) -> None:
    """Step ``t`` of ``solver`` (its ``_step``), counted, and with an epoch's last step (or the run's,
    ending a partial last epoch) the epoch (its learning rate decay). An exception but a divergence
    (which restores the best parameters itself) undoes all of it, as :meth:`Solver.train
    <dropout_lab.solver.Solver.train>` describes."""
    params = solver.model.params
    saved_params, saved_configs = dict(params), dict(solver.optim_configs)
    losses, epoch = len(solver.loss_history), solver.epoch
    try:
        solver._step(t)
        solver.iteration = t + 1
        if solver.iteration % iterations_per_epoch == 0 or solver.iteration == num_iterations:
            solver.optim_configs = {
                name: {**config, "learning_rate": config["learning_rate"] * solver.lr_decay}
                if "learning_rate" in config
                else config
                for name, config in solver.optim_configs.items()
            }
            solver.epoch += 1
    except TrainingDivergedError:
        raise
    except BaseException:
        params.update(saved_params)
        solver.optim_configs, solver.epoch, solver.iteration = saved_configs, epoch, t
        del solver.loss_history[losses:]
        raise
