"""One run of an experiment: its model and Solver, built from its :class:`~.grid.RunSpec` (restored from
its latest checkpoint if there is one), and trained to its end, here or as a Dask task on a worker.

Every run of a seed starts from the same weights and sees the same minibatches, whatever its keep
probability (:func:`_run_generators`): the comparisons between keep probabilities are paired.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError, DropoutLabError, InvalidArgumentError, InvalidTypeError
from ..models import FullyConnectedNet
from ..solver import Solver
from .cell_data import worker_data
from .config import ExperimentConfig
from .grid import RunSpec
from .outdir import CONFIG_NAME
from .results import RunResult
from .scheduler import Run, threads_per_run
from .schedules import parse_keep_schedule, parse_momentum_schedule

__all__ = ["remote_run", "run_identity", "run_one", "train_run"]

_DATA_KEYS = ("X_train", "y_train", "X_val", "y_val")


def _check_config(config: Any) -> ExperimentConfig:
    if not isinstance(config, ExperimentConfig):
        raise InvalidTypeError(f"config must be an ExperimentConfig, got {type(config).__name__}")
    return config


def _check_data(data: Any) -> dict[str, np.ndarray]:
    if not isinstance(data, dict):
        raise InvalidTypeError(f"data must be a dict of arrays ({', '.join(_DATA_KEYS)}), got {type(data).__name__}")
    missing = [k for k in _DATA_KEYS if k not in data]
    if missing:
        raise InvalidArgumentError(f"data must hold {', '.join(_DATA_KEYS)}; it lacks {', '.join(missing)}")
    for key in _DATA_KEYS:
        if not isinstance(data[key], np.ndarray):
            raise InvalidTypeError(f"data[{key!r}] must be a NumPy array, got {type(data[key]).__name__}")
    return data


def run_identity(config: ExperimentConfig, keep_prob: float, seed: int) -> str:
    """What one run's numbers are a function of, as canonical JSON (:meth:`RunSpec.identity`; ``config``
    without a sweep)."""
    return RunSpec(config, keep_prob, seed).identity()


def _run_generators(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    # Independent streams for the model (initial weights, then dropout masks) and for the Solver
    # (minibatches, accuracy subsamples). With the same seed every keep probability starts from the
    # same weights and sees the same minibatches: the comparisons between keep probabilities are paired.
    model_seq, solver_seq = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(model_seq), np.random.default_rng(solver_seq)


def _build_solver(
    spec: RunSpec,
    data: dict[str, np.ndarray],
    checkpoint_dir: Path | None,
    *,
    on_epoch_end: Callable[[Solver], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    extends: RunSpec | None = None,
) -> Solver:
    """The model and Solver of one run, restored from its latest checkpoint if there is one (with
    ``extends``: the run as it was trained, with fewer epochs, whose identity the checkpoint carries)."""
    config = spec.config
    model_rng, solver_rng = _run_generators(spec.seed)
    input_dim = int(np.prod(data["X_train"].shape[1:]))
    num_classes = int(max(data["y_train"].max(), data["y_val"].max())) + 1
    model = FullyConnectedNet(
        list(config.hidden_dims),
        input_dim=input_dim,
        num_classes=num_classes,
        dropout=spec.keep_prob,
        input_dropout=config.input_keep_prob,
        dropout_kind=config.dropout_kind,
        activation=config.activation,
        init=config.init,
        reg=config.reg,
        weight_scale=config.weight_scale,
        dtype=np.dtype(config.dtype).type,
        rng=model_rng,
    )
    checkpoint_name = None
    if checkpoint_dir is not None and config.checkpoint_every > 0:
        checkpoint_dir.mkdir(parents=True, exist_ok=True)
        checkpoint_name = str(checkpoint_dir / spec.name)
    optim_config: dict[str, Any] = {"learning_rate": config.learning_rate}
    if config.momentum is not None:
        optim_config["momentum"] = config.momentum
    solver = Solver(
        model,
        data,
        update_rule=config.update_rule,
        optim_config=optim_config,
        lr_decay=config.lr_decay,
        batch_size=config.batch_size,
        num_epochs=config.epochs,
        num_steps=config.steps,
        eval_every=config.eval_every,
        max_norm=config.max_norm,
        keep_schedule=None if config.keep_schedule == "constant" else parse_keep_schedule(config.keep_schedule),
        momentum_schedule=None
        if config.momentum_schedule == "constant"
        else parse_momentum_schedule(config.momentum_schedule),
        patience=config.patience,
        num_train_samples=config.num_train_samples,
        num_val_samples=config.num_val_samples,
        checkpoint_name=checkpoint_name,
        checkpoint_every=max(config.checkpoint_every, 1),
        keep_epoch_checkpoints=False,
        verbose=False,
        rng=solver_rng,
        on_epoch_end=on_epoch_end,
        should_stop=should_stop,
        run_id=spec.identity(),
    )
    if checkpoint_name is not None:
        # A checkpoint of another run (other settings, keep probability or seed) is refused, never continued.
        latest = Path(checkpoint_name + "_latest.npz")
        if latest.exists():
            if extends is not None:
                # The checkpoint names the run as trained (fewer epochs); it must be exactly that run's.
                solver.run_id = extends.identity()
                try:
                    solver.resume(latest)
                except DropoutLabError:
                    solver.run_id = spec.identity()  # or a checkpoint already continued, of this run
                    solver.resume(latest)
                solver.run_id = spec.identity()
            else:
                solver.resume(latest)
    return solver


def test_evaluation(spec: RunSpec, data: dict[str, np.ndarray]) -> Callable[[Solver], dict[str, Any]] | None:
    """What a complete run of ``spec`` measures on the test split after training (None: nothing,
    ``mc_samples`` 0)."""
    if spec.config.mc_samples == 0:
        return None
    from .evaluation import evaluate_test

    return lambda solver: evaluate_test(solver, data["X_test"], data["y_test"], spec.config.mc_samples, spec.seed)


def train_run(
    spec: RunSpec,
    data: dict[str, np.ndarray],
    *,
    checkpoint_dir: Path | None = None,
    on_epoch_end: Callable[[Solver], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> RunResult:
    """Train the run ``spec`` on ``data`` to its end, with its config's ``threads_per_run`` (resuming
    from its latest checkpoint in ``checkpoint_dir`` if there is one)."""
    solver = _build_solver(spec, data, checkpoint_dir, on_epoch_end=on_epoch_end, should_stop=should_stop)
    run = Run(solver, spec, test_evaluation(spec, data))
    with threads_per_run(spec.config.threads_per_run):  # as in run_experiment: the same numbers
        run.advance()
    return run.result()


def run_one(
    config: ExperimentConfig,
    keep_prob: float,
    seed: int,
    data: dict[str, np.ndarray],
    *,
    checkpoint_dir: Path | None = None,
    on_epoch_end: Callable[[Solver], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> RunResult:
    """Train one net at ``keep_prob`` from ``seed``; resume from its latest checkpoint if one exists.

    Args:
        config: the run's settings (without a sweep: pass one of ``config.cells()``).
        data: ``X_train (N, ...)``, ``y_train (N,)``, ``X_val (M, ...)``, ``y_val (M,)``.
        checkpoint_dir: where this run's checkpoints go (None: no checkpoints).
        on_epoch_end: called with the Solver after each epoch.
        should_stop: polled after each iteration; True checkpoints and stops the run ('interrupted').
    """
    spec = RunSpec(config, keep_prob, seed)  # checks the config (one cell's), keep probability and seed
    _check_data(data)
    return train_run(spec, data, checkpoint_dir=checkpoint_dir, on_epoch_end=on_epoch_end, should_stop=should_stop)


def remote_run(
    spec: RunSpec,
    should_stop: Callable[[], bool],
    *,
    checkpoint_dir: str | None,
    extends: dict[tuple[str, float, int], RunSpec],
) -> RunResult:
    """One run as a Dask task: its data from the worker's data folder, its checkpoints in
    ``checkpoint_dir`` (a path the client and the workers share; refused if this worker cannot see
    the folder the client made)."""
    folder = None
    if checkpoint_dir is not None:
        folder = Path(checkpoint_dir)
        if not (folder / CONFIG_NAME).is_file():
            raise DataError(
                f"this worker cannot see the experiment's checkpoint folder {folder} (made by the client): the "
                "output folder must be on a file system that the client and every worker reach at the same path"
            )
    data = worker_data(spec)
    solver = _build_solver(spec, data, folder, should_stop=should_stop, extends=extends.get(spec.key))
    run = Run(solver, spec, test_evaluation(spec, data))
    with threads_per_run(spec.config.threads_per_run):
        run.advance()
    return run.result()
