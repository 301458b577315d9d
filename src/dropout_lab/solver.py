"""The Solver: minibatch training of a classification model, with the course's API.

``Solver(model, data, **kwargs)`` trains ``model`` on ``data['X_train'], data['y_train']`` with an update
rule from :mod:`dropout_lab.optim`, measures training and validation accuracy after every epoch, keeps
the parameters with the best validation accuracy, and restores them at the end. Beyond the course it
takes its randomness from an explicit ``np.random.Generator``, stops cleanly when training diverges or
when asked to (``should_stop``), and writes checkpoints (``.npz``, never pickles) from which a run
resumes exactly, even one stopped in the middle of an epoch.

Differences from the course's ``Solver``:

* ``train_acc_history`` and ``val_acc_history`` hold ``num_epochs + 1`` entries: "epoch 0" is measured
  before any training step, then once after each epoch. The course measured "epoch 0" after the first
  step, and when an epoch was a single iteration that measurement and the end of epoch 1 coincided,
  so its histories had only ``num_epochs`` entries. With ``eval_every`` > 1 only every
  ``eval_every``-th epoch (and the last) is measured; ``acc_epochs`` says which.
* The budget can be given in steps (``num_steps``) rather than epochs: the last epoch is then
  partial when the steps do not divide into whole epochs.
* At the end the best parameters are restored as copies (the course assigned its ``best_params`` dict
  itself), together with the model's buffers (batchnorm running statistics) of the same epoch.
* ``train()`` continues from where the Solver stands (``solver.iteration`` steps done), which is what
  makes resuming from a checkpoint possible; calling it on a finished Solver trains no further.
* Checkpoints are ``{checkpoint_name}_epoch_{epoch}.npz`` plus ``{checkpoint_name}_latest.npz``, written
  atomically, holding the complete training state (see :mod:`dropout_lab.checkpoint`).
* With a built-in update rule, each step's parameters and optimizer state are written into two sets of
  arrays that the Solver owns and uses in turn, instead of new arrays at every step (the values are
  the rule's, bit for bit). An array taken from ``model.params`` or ``optim_configs`` while training
  runs keeps its values until the step after next: copy it to keep it. The model's arrays from before
  ``train()``, and those it holds when ``train()`` has finished (the best parameters, restored as
  copies), are never overwritten.
* The epoch accuracies are measured in batches of ``accuracy_batch_size`` (1,000) examples rather than
  100: larger matrix products run faster. BLAS sums in an order that follows the matrix shapes, so a
  score can differ from a 100-row batch's in its last bit (and an accuracy, on an exact tie).
"""

from __future__ import annotations

import copy
import os
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ._epochs import epochs_for_steps, record_epoch, take_step
from ._regularizers import check_regularizers, early_stop_epoch, restore_keep_targets
from ._step import Divergence, StepBuffers, check_momentum_schedule, solver_step
from ._validation import (
    _describe,
    check_bool,
    check_callable,
    check_examples,
    check_file_to_write,
    check_generator,
    check_optional_positive_int,
    check_positive_int,
    check_positive_real,
    check_seed,
    check_training_data,
    check_unknown_keywords,
)
from .checkpoint import TrainingState, write_training_state
from .checkpoint._solver import resume_solver, solver_training_state
from .errors import InvalidArgumentError, InvalidTypeError
from .models.protocol import Model, check_model, model_buffers, model_fixed_dropout_masks, model_int_attribute
from .optim.rules import get_update_rule, rule_name, validate_config
from .optim.schedules import KeepSchedule, MomentumSchedule

__all__ = ["Divergence", "Solver"]


class Solver:
    """Trains a classification model with minibatch gradient descent (the course's ``Solver``).

    Args:
        model: a :class:`~dropout_lab.models.Model`: ``params`` (name -> float array), ``loss(X, y=None)``
            returning scores (N, C) without labels and ``(loss, grads)`` with them; optionally
            ``buffers()`` and ``load_buffers(dict)`` (batchnorm statistics), ``rng`` (a Generator,
            saved in checkpoints) and ``fixed_dropout_masks`` (True: the Solver warns).
        data: ``X_train`` (N_train, d_1, ...), ``y_train`` (N_train,) integer labels, ``X_val``
            (N_val, d_1, ...), ``y_val`` (N_val,).
        update_rule: 'sgd', 'sgd_momentum', 'rmsprop', 'adam', or a callable
            ``next_w, config = rule(w, dw, config)``.
        optim_config: hyperparameters for the rule; each parameter gets its own deep copy.
        lr_decay: after each epoch every learning rate is multiplied by it.
        batch_size: examples per step; an epoch is ``max(N_train // batch_size, 1)`` steps, each
            drawing its minibatch with replacement, as the course does.
        num_epochs: epochs to train (with ``num_steps``, not consulted: only checked).
        num_steps: the budget in steps (updates) instead: training takes exactly ``num_steps`` steps,
            in ``num_epochs = ceil(num_steps / iterations_per_epoch)`` epochs, the last one partial when
            they do not divide; its end is an epoch's end (measured, ``on_epoch_end``, checkpointed,
            learning rate decayed). None (default): ``num_epochs`` whole epochs.
        eval_every: measure the accuracies at epoch 0, at the end of every ``eval_every``-th epoch
            and at the end of the last one (default 1: every epoch). The other epochs draw the
            accuracy subsamples all the same, so the minibatches, the losses and the measured
            accuracies are those of ``eval_every=1``; the best parameters are chosen among the
            measured epochs.
        num_train_samples: training examples (drawn with replacement) to measure training accuracy
            on; None for all.
        num_val_samples: the same for validation accuracy; None (default) for all.
        checkpoint_name: if given, ``{checkpoint_name}_epoch_{epoch}.npz`` and
            ``{checkpoint_name}_latest.npz`` are written every ``checkpoint_every`` epochs and after
            the last one.
        print_every: with ``verbose``, print the loss of every ``print_every``-th step.
        verbose: print progress in the course's format; False prints nothing.
        rng: the Generator for minibatches and accuracy subsamples.
        seed: make that Generator with ``np.random.default_rng(seed)``; give ``rng`` or ``seed``, not
            both. With neither, those draws come from NumPy's global generator (``np.random.choice``),
            as in the course.
        checkpoint_every: epochs between checkpoints (default 1 when ``checkpoint_name`` is set; no
            effect without it).
        stop_on_nonfinite: stop with :class:`TrainingDivergedError` when the loss, a gradient or an
            update is NaN or infinite, after restoring the best parameters so far (default True).
            NumPy's overflow and invalid-value warnings inside a step are then silenced: that error
            reports the same event with where and why. False trains on, as the course does.
        on_epoch_end: called as ``on_epoch_end(solver)`` after each epoch (1 to num_epochs, not
            epoch 0), measured or not, once its accuracies are recorded and its checkpoint written;
            after an epoch that is not measured the histories end with the last measured one
            (``acc_epochs[-1] < solver.epoch``).
        should_stop: polled as ``should_stop()`` after each step; True stops :meth:`train` there
            (a signal handler's flag, for instance), writing ``{checkpoint_name}_latest.npz``.
        resume_from: a training checkpoint to continue from (see :meth:`resume`).
        keep_epoch_checkpoints: keep every ``{checkpoint_name}_epoch_{epoch}.npz`` (the course's
            behaviour, default); False writes only ``{checkpoint_name}_latest.npz``, which is all a resume
            needs (long experiments would otherwise fill the disk).
        accuracy_batch_size: examples per ``model.loss(X_batch)`` call when measuring the epoch
            accuracies (default 1000; the course used 100).
        max_norm: c > 0: after every update, each hidden unit's incoming weights (a column of
            ``W1..W(L-1)``; the output layer is free) are rescaled to L2 norm at most c (Srivastava et
            al. 2014, section 5.1; see :func:`~dropout_lab.optim.max_norm`). None (default): no bound.
        keep_schedule: a :class:`~dropout_lab.optim.KeepSchedule`: before each step the model's
            ``keep_probs`` and ``input_keep_prob`` are set to the schedule's values at that step (or
            epoch) for the model's keep probabilities when the Solver was made (the targets), which
            :meth:`train` puts back when it returns. None (default): the model's own, unchanged.
        momentum_schedule: a :class:`~dropout_lab.optim.MomentumSchedule`, with 'sgd_momentum' only:
            before the update at step t every parameter's momentum is set to the schedule's value at
            ``t / iterations_per_epoch`` epochs, rising to the ``optim_config``'s momentum (default
            0.9). None (default): that momentum throughout.
        patience: stop training when this many measured epochs in a row bring no strictly better
            validation accuracy (the epochs of ``acc_epochs``: with ``eval_every`` > 1, measurements,
            not epochs); the best parameters are restored as at the end of a run, and ``stop_epoch``
            says where it stopped. None (default): train to the end.
        run_id: a string that names the run (the experiment runner gives a canonical JSON of the run's
            settings, keep probability and seed), recorded in every checkpoint: :meth:`resume` refuses a
            checkpoint whose ``run_id`` differs (one without it included, unless this one is None too).

    Attributes:
        loss_history: the loss of every step. train_acc_history, val_acc_history: the accuracies at
            the measured epochs, ``acc_epochs``: those epochs (``[0, 1, ..., num_epochs]`` with
            ``eval_every=1``, epoch 0 being before any step). best_val_acc, best_params,
            best_buffers, best_epoch: the best validation accuracy so far and the model's state then.
        epoch, iteration: epochs and steps completed. recorded_epochs: epoch ends recorded, epoch 0
            included (``epoch + 1``, or ``epoch`` while the current epoch's end is still to record).
            optim_configs: parameter name -> the rule's config. diverged: a :class:`Divergence` after
            a stop on a NaN, else None. stop_epoch: the epoch early stopping (``patience``) ended
            training at, else None; stopped_early: whether it did. The histories then end at that
            epoch (statistics over runs should pair values by epoch, ``acc_epochs``, or compare
            ``best_val_acc``, not index into histories of unequal lengths).
        interrupted: True after :meth:`train` returned early because ``should_stop()`` said so.

    Raises:
        InvalidArgumentError, InvalidTypeError: bad arguments, before anything else is done; an
            unknown keyword argument is an InvalidTypeError (a TypeError, as Python raises), naming it.
    """

    def __init__(
        self,
        model: Model,
        data: Mapping[str, np.ndarray],
        *,
        update_rule: str | Callable[..., Any] = "sgd",
        optim_config: Mapping[str, Any] | None = None,
        lr_decay: float = 1.0,
        batch_size: int = 100,
        num_epochs: int = 10,
        num_steps: int | None = None,
        eval_every: int = 1,
        num_train_samples: int | None = 1000,
        num_val_samples: int | None = None,
        checkpoint_name: str | os.PathLike[str] | None = None,
        print_every: int = 10,
        verbose: bool = True,
        rng: np.random.Generator | None = None,
        seed: int | None = None,
        checkpoint_every: int | None = None,
        stop_on_nonfinite: bool = True,
        on_epoch_end: Callable[[Solver], Any] | None = None,
        should_stop: Callable[[], bool] | None = None,
        resume_from: str | os.PathLike[str] | None = None,
        keep_epoch_checkpoints: bool = True,
        accuracy_batch_size: int = 1000,
        run_id: str | None = None,
        max_norm: float | None = None,
        keep_schedule: KeepSchedule | None = None,
        momentum_schedule: MomentumSchedule | None = None,
        patience: int | None = None,
        **unknown: Any,
    ) -> None:
        check_unknown_keywords("Solver", unknown)
        model = check_model(model)
        arrays = check_training_data(
            data,
            input_dim=model_int_attribute(model, "input_dim"),
            num_classes=model_int_attribute(model, "num_classes"),
        )
        rule = get_update_rule(update_rule)
        self._regularizers = check_regularizers(model, max_norm, keep_schedule, patience)
        self.max_norm, self.keep_schedule = self._regularizers.max_norm, self._regularizers.keep_schedule
        self.patience = self._regularizers.patience
        if optim_config is None:
            optim_config = {}
        if not isinstance(optim_config, Mapping):
            raise InvalidTypeError(f"optim_config must be a dict, got {_describe(optim_config)}")
        for w in model.params.values():
            validate_config(update_rule, optim_config, w)
        self._final_momentum = check_momentum_schedule(momentum_schedule, rule_name(update_rule), optim_config)
        self.momentum_schedule = momentum_schedule
        self.lr_decay = check_positive_real("lr_decay", lr_decay)
        self.batch_size = check_positive_int("batch_size", batch_size)
        num_epochs = check_positive_int("num_epochs", num_epochs)
        self.num_steps = check_optional_positive_int("num_steps", num_steps)
        self.eval_every = check_positive_int("eval_every", eval_every)
        self.num_train_samples = check_optional_positive_int("num_train_samples", num_train_samples)
        self.num_val_samples = check_optional_positive_int("num_val_samples", num_val_samples)
        if checkpoint_name is not None:
            check_file_to_write("checkpoint_name", checkpoint_name, prefix=True)
        self.checkpoint_name = None if checkpoint_name is None else os.fspath(checkpoint_name)
        self.keep_epoch_checkpoints = check_bool("keep_epoch_checkpoints", keep_epoch_checkpoints)
        self.print_every = check_positive_int("print_every", print_every)
        self.accuracy_batch_size = check_positive_int("accuracy_batch_size", accuracy_batch_size)
        self.verbose = check_bool("verbose", verbose)
        if run_id is not None and not isinstance(run_id, str):
            raise InvalidTypeError(f"run_id must be a string or None, got {_describe(run_id)}")
        self.run_id = run_id
        self.stop_on_nonfinite = check_bool("stop_on_nonfinite", stop_on_nonfinite)
        # Checked even without checkpoint_name (where it has no effect), so a caller can pass its
        # setting through unconditionally.
        self.checkpoint_every = check_optional_positive_int("checkpoint_every", checkpoint_every)
        if self.checkpoint_name is not None and self.checkpoint_every is None:
            self.checkpoint_every = 1
        check_callable("on_epoch_end", on_epoch_end, "a callable or None", allow_none=True)
        check_callable("should_stop", should_stop, "a callable or None", allow_none=True)
        check_generator("rng", rng)
        seed = check_seed("seed", seed)
        if rng is not None and seed is not None:
            raise InvalidArgumentError("give rng or seed, not both")
        if model_fixed_dropout_masks(model):
            warnings.warn(
                "the model's dropout masks are fixed (fixed_dropout_masks; a FullyConnectedNet built with "
                "seed=): the same units are dropped at every step, so dropout does not regularize. That is "
                "meant for gradient checks; for training build the model with "
                "rng=np.random.default_rng(seed) instead of seed=",
                UserWarning,
                stacklevel=2,
            )

        self.model = model
        self.X_train, self.y_train = arrays["X_train"], arrays["y_train"]
        self.X_val, self.y_val = arrays["X_val"], arrays["y_val"]
        steps = self.num_steps
        self.num_epochs = num_epochs if steps is None else epochs_for_steps(steps, self.iterations_per_epoch)
        self.update_rule = rule
        self._builtin_rule = rule_name(update_rule)
        # How checkpoints record the rule (see checkpoint._solver.solver_settings).
        self._rule_label = self._builtin_rule or getattr(rule, "__qualname__", repr(rule))
        # Parameter name -> output name -> the two arrays the built-in rule's steps write into in turn.
        self._buffers: StepBuffers = {}
        self.optim_config = dict(optim_config)
        self.rng = np.random.default_rng(seed) if seed is not None else rng
        self.on_epoch_end = on_epoch_end
        self.should_stop = should_stop
        self.interrupted = False
        self._reset()
        if resume_from is not None:
            self.resume(resume_from)

    # ------------------------------------------------------------------------------- bookkeeping
    def _reset(self) -> None:
        self.epoch = 0
        self.iteration = 0
        self.best_val_acc = 0.0
        self.best_epoch: int | None = None
        self.best_params: dict[str, np.ndarray] = {}
        self.best_buffers: dict[str, np.ndarray] = {}
        self.loss_history: list[float] = []
        self.train_acc_history: list[float] = []
        self.val_acc_history: list[float] = []
        self.acc_epochs: list[int] = []
        self.recorded_epochs = 0
        self.diverged: Divergence | None = None
        self.optim_configs = {name: copy.deepcopy(self.optim_config) for name in self.model.params}

    @property
    def iterations_per_epoch(self) -> int:
        return max(int(self.X_train.shape[0]) // self.batch_size, 1)

    @property
    def num_iterations(self) -> int:
        """The steps of the whole run: ``num_steps``, or ``num_epochs`` whole epochs."""
        return self.num_steps if self.num_steps is not None else self.num_epochs * self.iterations_per_epoch

    def _choice(self, n: int, size: int) -> np.ndarray:
        if self.rng is None:
            # The documented course-compatible draw from NumPy's global generator.
            return np.random.choice(n, size)
        return self.rng.choice(n, size)

    def _snapshot_best(self) -> None:
        self.best_params = {name: w.copy() for name, w in self.model.params.items()}
        self.best_buffers = model_buffers(self.model)

    def _restore_best(self) -> None:
        if not self.best_params:
            return
        load_buffers = getattr(self.model, "load_buffers", None)
        if self.best_buffers and callable(load_buffers):
            load_buffers({name: b.copy() for name, b in self.best_buffers.items()})
        for name, w in self.best_params.items():
            self.model.params[name] = w.copy()

    # ------------------------------------------------------------------------------- training
    def _step(self, t: int) -> None:
        """One minibatch step (see :func:`~dropout_lab._step.solver_step`); with ``stop_on_nonfinite``
        nothing is changed unless all is finite."""
        solver_step(self, t)

    def train(self, epochs: int | None = None) -> None:
        """Train to the end of the run (``num_iterations`` steps, ``num_epochs`` epochs) from where the
        Solver stands, then restore the best parameters.

        If ``should_stop()`` says so, training stops after the current step instead: with a
        ``checkpoint_name`` the state is written to ``{checkpoint_name}_latest.npz`` (mid-epoch
        checkpoints resume exactly too), ``interrupted`` is set, and the model keeps its current
        parameters so that calling ``train()`` again continues the same run.

        An exception from inside (a KeyboardInterrupt at any moment, an error in the model) leaves the
        Solver consistent, so it can be checkpointed and ``train()`` again continues: a step is done
        whole or undone, and an epoch's end (its count, the learning rate decay, the accuracies, the
        best parameters, the checkpoint) is finished by the next call. The random streams: an
        interrupted accuracy measurement puts the Solver's generator back, so the run goes on exactly
        as an uninterrupted one; an interrupted step has drawn its minibatch (and the model its
        dropout masks), which are not given back, so the step is redone with the next draws (a
        valid run, but not bit for bit the uninterrupted one). ``should_stop`` stops between steps
        and loses nothing.

        Args:
            epochs: train at most this many more epochs (to the end of the current epoch and then
                ``epochs - 1`` more; with ``num_steps``, at most to the budget), then return; the
                best parameters are restored only once training reaches the end (:attr:`finished`).
                Calling ``train(1)`` until :attr:`finished` gives the same numbers as one ``train()``
                (the experiment runner interleaves runs this way).
                None: to the end.

        Raises:
            TrainingDivergedError: with ``stop_on_nonfinite``, a NaN or infinite loss, gradient or
                update (see :attr:`diverged`).
        """
        epochs = check_optional_positive_int("epochs", epochs)
        self.interrupted = False
        self.diverged = None  # a divergence is about the last call; training again starts clean
        iterations_per_epoch = self.iterations_per_epoch
        num_iterations = self.num_iterations
        stop_at = num_iterations
        if epochs is not None:
            stop_at = min(num_iterations, (self.iteration // iterations_per_epoch + epochs) * iterations_per_epoch)
        try:
            # Epoch 0 is measured before any step; a Solver interrupted while recording an epoch records it now.
            self._record_pending_epoch()
            for t in range(self.iteration, stop_at):
                if self.stopped_early:
                    break
                self._take_step(t, iterations_per_epoch, num_iterations)
                if self.verbose and t % self.print_every == 0:
                    print(f"(Iteration {t + 1} / {num_iterations}) loss: {self.loss_history[-1]:f}")
                self._record_pending_epoch()
                if self.should_stop is not None and not self.finished and self.should_stop():
                    self.interrupted = True
                    if self.checkpoint_name is not None:
                        self._save_checkpoint(latest_only=True)
                    return
            if self.finished:
                if self.verbose and self.stopped_early:
                    print(f"(Early stop at epoch {self.stop_epoch}: no better val_acc in {self.patience} "
                          f"measured epochs; best epoch {self.best_epoch})")
                self._restore_best()
        finally:
            if self._regularizers.keep_targets is not None:
                restore_keep_targets(self.model, self._regularizers.keep_targets)

    def _take_step(self, t: int, iterations_per_epoch: int, num_iterations: int) -> None:
        """Step ``t``, counted, with its epoch's end if it is the epoch's last (see
        :func:`~dropout_lab._epochs.take_step`)."""
        take_step(self, t, iterations_per_epoch, num_iterations)

    def _record_pending_epoch(self) -> None:
        """Record the current epoch's end (see :func:`~dropout_lab._epochs.record_epoch`) if it is not
        recorded yet (epoch 0 before any step, each epoch after its last step, or one whose recording
        was interrupted), then call
        ``on_epoch_end`` for epochs after the first."""
        if self.recorded_epochs <= self.epoch:
            record_epoch(self)
            if self.epoch > 0 and self.on_epoch_end is not None:
                self.on_epoch_end(self)

    @property
    def finished(self) -> bool:
        """Whether training has ended: all its steps taken (``num_iterations``), or stopped early."""
        return self.iteration >= self.num_iterations or self.stopped_early

    @property
    def stop_epoch(self) -> int | None:
        """The epoch early stopping (``patience``) ended training at, or None (see
        :func:`~dropout_lab._regularizers.early_stop_epoch`)."""
        return early_stop_epoch(self.acc_epochs, self.best_epoch, self.patience, self.num_epochs)

    @property
    def stopped_early(self) -> bool:
        """Whether early stopping ended training before ``num_epochs``."""
        return self.stop_epoch is not None

    def check_accuracy(
        self, X: np.ndarray, y: np.ndarray, num_samples: int | None = None, batch_size: int = 100
    ) -> float:
        """The model's accuracy on ``X``, ``y``: ``mean(argmax(scores) == y)``.

        Args:
            X: (N, d_1, ...) inputs. y: (N,) integer labels.
            num_samples: if given and less than N, measure on that many examples drawn with
                replacement (from the Solver's generator).
            batch_size: examples per call of ``model.loss(X_batch)``.

        Returns:
            The fraction of correct predictions, a float in [0, 1].
        """
        check_examples(X, y, num_classes=model_int_attribute(self.model, "num_classes"))
        num_samples = check_optional_positive_int("num_samples", num_samples)
        batch_size = check_positive_int("batch_size", batch_size)
        n = X.shape[0]
        if num_samples is not None and n > num_samples:
            mask = self._choice(n, num_samples)
            n, X, y = num_samples, X[mask], y[mask]
        predictions = []
        for start in range(0, n, batch_size):
            scores = self.model.loss(X[start : start + batch_size])
            predictions.append(np.argmax(scores, axis=1))
        return float(np.mean(np.hstack(predictions) == y))

    # ------------------------------------------------------------------------------- checkpoints
    def training_state(self) -> TrainingState:
        """Everything a checkpoint holds, as it stands now (arrays are not copied)."""
        return solver_training_state(self)

    def checkpoint_path(self, epoch: int | str) -> Path:
        """``{checkpoint_name}_epoch_{epoch}.npz``, or ``{checkpoint_name}_latest.npz`` for 'latest'."""
        if self.checkpoint_name is None:
            raise InvalidArgumentError("this Solver has no checkpoint_name")
        if epoch == "latest":
            return Path(f"{self.checkpoint_name}_latest.npz")
        return Path(f"{self.checkpoint_name}_epoch_{check_positive_int('epoch', epoch, allow_zero=True)}.npz")

    def _save_checkpoint(self, latest_only: bool = False) -> None:
        paths = [self.checkpoint_path("latest")]
        if not latest_only and self.keep_epoch_checkpoints:
            paths.insert(0, self.checkpoint_path(self.epoch))
        if self.verbose:
            print(f'Saving checkpoint to "{paths[0]}"')
        write_training_state(paths, self.training_state())

    def resume(self, path: str | os.PathLike[str]) -> None:
        """Continue from a training checkpoint: the next :meth:`train` goes on exactly where it stopped.

        Restores the model's parameters and buffers, the optimizer configs (state arrays, step
        counts, decayed learning rates), epoch and step counts, histories, the best parameters and
        buffers, and the random generators (the Solver's, the model's ``rng`` and, if the run used
        it, NumPy's global generator). The checkpoint's source of randomness wins: if it was written
        by a Solver with a Generator, this Solver takes that Generator's state (in its own ``rng``
        when the bit generator classes match); if the run used the global generator, ``rng``
        becomes None. Settings that do not change the state (``num_epochs``, ``lr_decay``, printing)
        are this Solver's own, so a run can be extended by resuming with more epochs (an epoch that
        was the last of the shorter run stays measured). ``num_steps`` and ``eval_every`` must be the
        checkpoint's: another budget would end the partial last epoch elsewhere, and another
        ``eval_every`` would measure (and choose the best parameters among) other epochs than either
        run; a checkpoint written before they existed means ``num_steps=None, eval_every=1``. So must
        ``max_norm``, ``keep_schedule`` (and the model's keep probabilities it scales from),
        ``momentum_schedule`` (and the final momentum) and ``patience`` (None in a checkpoint written
        before them). A run early stopping ended stays ended, even resumed with more epochs (the longer
        run would have stopped there too).

        Raises:
            CheckpointError: an unreadable or corrupt file, one for another architecture or dtype,
                another run (``run_id``), another batch size, training set size, update rule,
                ``num_steps``, ``eval_every``, ``max_norm``, ``keep_schedule``, ``momentum_schedule``,
                ``patience`` or dropout mask stream version, or more epochs done than ``num_epochs`` (see
                :func:`~dropout_lab.checkpoint.check_resume_compatible`); the model and the Solver
                are then left as they were.
        """
        resume_solver(self, path)
