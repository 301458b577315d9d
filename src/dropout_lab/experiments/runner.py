"""Run the dropout regularization experiment: every (keep probability, seed) pair, serially or in
parallel processes, with results, plot and checkpoints written safely into an output folder."""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import multiprocessing
import os
import platform
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from .. import __version__
from .._io import atomic_write_text
from .._validation import check_positive_int
from ..errors import CheckpointError, DataError, InvalidArgumentError, TrainingDivergedError
from ..models import FullyConnectedNet
from ..solver import Solver
from .config import ExperimentConfig

RESULTS_NAME = "results.json"
PLOT_NAME = "accuracy.png"
CHECKPOINT_DIR = "checkpoints"
RESULTS_FORMAT = 1
_BLAS_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")


@dataclass
class RunResult:
    """One training run. Histories: loss per iteration; accuracies per epoch (epochs + 1 entries,
    the first measured before training). ``status`` is 'complete', 'diverged' or 'interrupted'."""

    keep_prob: float
    seed: int
    loss_history: list[float]
    train_acc_history: list[float]
    val_acc_history: list[float]
    final_train_acc: float
    final_val_acc: float
    best_val_acc: float
    wall_s: float
    status: str = "complete"
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "RunResult":
        return cls(**values)


@dataclass
class ExperimentResults:
    """What :func:`run_experiment` returns and writes to ``results.json``.

    ``status``: 'complete', 'interrupted' (stopped by a signal; resumable) or 'diverged' (a run's
    loss or gradients became non-finite; the other runs completed).
    """

    config: ExperimentConfig
    runs: list[RunResult]
    status: str = "complete"
    versions: dict[str, str] = field(default_factory=lambda: versions())

    @property
    def summary(self) -> list:
        from .stats import summarize

        return summarize([r for r in self.runs if r.status == "complete"])

    def to_dict(self) -> dict[str, Any]:
        from .stats import summary_to_dict

        return {
            "format": RESULTS_FORMAT,
            "status": self.status,
            "config": self.config.to_dict(),
            "versions": self.versions,
            "summary": summary_to_dict(self.summary),
            "runs": [r.to_dict() for r in self.runs],
        }


def versions() -> dict[str, str]:
    return {"dropout_lab": __version__, "numpy": np.__version__, "python": platform.python_version()}


# ------------------------------------------------------------------------------------------ data
def load_experiment_data(config: ExperimentConfig) -> dict[str, np.ndarray]:
    """The training and validation arrays a run uses, cast to the config's dtype.

    Training: the first ``num_train`` examples of the data set's training split (as the exercise takes
    ``X_train[:500]``); validation: the whole validation split, or its first ``num_val``.
    """
    if config.dataset == "cifar10":
        full = _load_cifar10_split(config)
    else:
        from ..data import get_digits_data

        full = get_digits_data(dtype=config.dtype)
    n_train, n_val = len(full["y_train"]), len(full["y_val"])
    if config.num_train > n_train:
        raise InvalidArgumentError(
            f"num_train must be at most {n_train}, the size of the {config.dataset} training split, "
            f"got {config.num_train}"
        )
    num_val = n_val if config.num_val is None else config.num_val
    if num_val > n_val:
        raise InvalidArgumentError(
            f"num_val must be at most {n_val}, the size of the {config.dataset} validation split, got {num_val}"
        )
    dtype = np.dtype(config.dtype)
    return {
        "X_train": np.ascontiguousarray(full["X_train"][: config.num_train], dtype=dtype),
        "y_train": np.asarray(full["y_train"][: config.num_train], dtype=np.int64),
        "X_val": np.ascontiguousarray(full["X_val"][:num_val], dtype=dtype),
        "y_val": np.asarray(full["y_val"][:num_val], dtype=np.int64),
    }


_CIFAR_VALIDATION = 1000


def _load_cifar10_split(config: ExperimentConfig) -> dict[str, np.ndarray]:
    """The course's split (training rows, then 1,000 validation rows, mean of the training rows
    subtracted), over however many training batches the folder holds (49,000 + 1,000 for the full
    release)."""
    from ..data import get_CIFAR10_data, read_cifar10_batch, resolve_cifar10_dir
    from ..data.cifar10 import _train_batch_paths

    folder = resolve_cifar10_dir(config.data_dir)
    available = sum(len(read_cifar10_batch(p)[1]) for p in _train_batch_paths(folder))
    if available <= _CIFAR_VALIDATION:
        raise DataError(
            f"{folder} holds {available} training images; the experiment needs more than {_CIFAR_VALIDATION} "
            "(the validation split)"
        )
    return get_CIFAR10_data(
        num_training=min(49_000, available - _CIFAR_VALIDATION),
        num_validation=_CIFAR_VALIDATION,
        num_test=0,
        root=folder,
        dtype=config.dtype,
    )


# ------------------------------------------------------------------------------------------ runs
def run_name(keep_prob: float, seed: int) -> str:
    return f"keep{keep_prob:g}_seed{seed}"


def _run_generators(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    # Independent streams for the model (initial weights, then dropout masks) and for the Solver
    # (minibatches, accuracy subsamples). With the same seed every keep probability starts from the
    # same weights and sees the same minibatches: the comparisons between keep probabilities are paired.
    model_seq, solver_seq = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(model_seq), np.random.default_rng(solver_seq)


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
        data: ``X_train (N, ...)``, ``y_train (N,)``, ``X_val (M, ...)``, ``y_val (M,)``.
        checkpoint_dir: where this run's checkpoints go (None: no checkpoints).
        on_epoch_end: called with the Solver after each epoch (progress bars).
        should_stop: polled after each iteration; True checkpoints and stops the run ('interrupted').
    """
    model_rng, solver_rng = _run_generators(seed)
    input_dim = int(np.prod(data["X_train"].shape[1:]))
    num_classes = int(max(data["y_train"].max(), data["y_val"].max())) + 1
    model = FullyConnectedNet(
        list(config.hidden_dims),
        input_dim=input_dim,
        num_classes=num_classes,
        dropout=keep_prob,
        reg=config.reg,
        weight_scale=config.weight_scale,
        dtype=np.dtype(config.dtype).type,
        rng=model_rng,
    )
    checkpoint_name = None
    if checkpoint_dir is not None and config.checkpoint_every > 0:
        checkpoint_dir.mkdir(parents=True, exist_ok=True)
        checkpoint_name = str(checkpoint_dir / run_name(keep_prob, seed))
    solver = Solver(
        model,
        data,
        update_rule=config.update_rule,
        optim_config={"learning_rate": config.learning_rate},
        batch_size=config.batch_size,
        num_epochs=config.epochs,
        num_train_samples=config.num_train_samples,
        num_val_samples=None,
        checkpoint_name=checkpoint_name,
        checkpoint_every=max(config.checkpoint_every, 1),
        keep_epoch_checkpoints=False,
        verbose=False,
        rng=solver_rng,
        on_epoch_end=on_epoch_end,
        should_stop=should_stop,
    )
    if checkpoint_name is not None:
        latest = Path(checkpoint_name + "_latest.npz")
        if latest.exists():
            solver.resume(latest)
    status, message = "complete", None
    start = time.perf_counter()
    try:
        solver.train()
    except TrainingDivergedError as exc:
        status, message = "diverged", str(exc)
    wall = time.perf_counter() - start
    if solver.interrupted:
        status, message = "interrupted", f"stopped at iteration {solver.iteration}; resumable"
    elif checkpoint_name is not None:
        # A finished run lives in results.json; its checkpoint is only needed to resume it.
        Path(checkpoint_name + "_latest.npz").unlink(missing_ok=True)
    return RunResult(
        keep_prob=keep_prob,
        seed=seed,
        loss_history=[float(v) for v in solver.loss_history],
        train_acc_history=[float(v) for v in solver.train_acc_history],
        val_acc_history=[float(v) for v in solver.val_acc_history],
        final_train_acc=float(solver.train_acc_history[-1]) if solver.train_acc_history else float("nan"),
        final_val_acc=float(solver.val_acc_history[-1]) if solver.val_acc_history else float("nan"),
        best_val_acc=float(solver.best_val_acc),
        wall_s=wall,
        status=status,
        message=message,
    )


# ------------------------------------------------------------------------------------------ stopping
class _StopFlag:
    """Set by SIGINT/SIGTERM; polled between iterations so a run always stops in a consistent state."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self) -> bool:
        return self.requested

    def request(self, *_: Any) -> None:
        self.requested = True


@contextlib.contextmanager
def _catch_stop_signals(flag: _StopFlag) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, flag.request) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


_WORKER_FLAG = _StopFlag()


def _worker_init() -> None:
    signal.signal(signal.SIGINT, _WORKER_FLAG.request)
    signal.signal(signal.SIGTERM, _WORKER_FLAG.request)


def _worker_run(
    config_dict: dict, keep_prob: float, seed: int, data: dict, checkpoint_dir: str | None
) -> dict | None:
    if _WORKER_FLAG():
        return None  # stopping: do not start another run
    config = ExperimentConfig.from_dict(config_dict)
    result = run_one(
        config, keep_prob, seed, data,
        checkpoint_dir=None if checkpoint_dir is None else Path(checkpoint_dir),
        should_stop=_WORKER_FLAG,
    )
    return result.to_dict()


@contextlib.contextmanager
def _blas_threads(n: int) -> Iterator[None]:
    """Set the BLAS thread count that processes started inside this block inherit."""
    saved = {k: os.environ.get(k) for k in _BLAS_VARIABLES}
    os.environ.update({k: str(n) for k in _BLAS_VARIABLES})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# ------------------------------------------------------------------------------------------ experiment
def _prepare_out_dir(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the output folder {out_dir}: {exc.strerror or exc}") from exc
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise DataError(f"the output folder {out_dir} is not writable")


def read_results(out_dir: str | os.PathLike) -> dict[str, Any]:
    """Read and check ``results.json`` from an experiment folder."""
    path = Path(out_dir) / RESULTS_NAME
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DataError(f"{path} does not exist: is {out_dir} an experiment's output folder?") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path} cannot be read as JSON: {exc}") from exc
    if not isinstance(values, dict) or values.get("format") != RESULTS_FORMAT or "config" not in values:
        raise DataError(f"{path} is not a dropout-lab results file (format {RESULTS_FORMAT})")
    return values


def write_results(results: ExperimentResults, out_dir: Path) -> None:
    text = json.dumps(results.to_dict(), indent=2, allow_nan=False, default=_json_default)
    atomic_write_text(out_dir / RESULTS_NAME, text + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def run_experiment(
    config: ExperimentConfig | None = None,
    *,
    out_dir: str | os.PathLike | None = None,
    jobs: int = 1,
    progress: bool | None = None,
    resume: bool = False,
    data: dict[str, np.ndarray] | None = None,
) -> ExperimentResults:
    """Train one net per (keep probability, seed) and collect the results.

    Args:
        config: the experiment; with ``resume`` it is read from ``out_dir/results.json`` instead.
        out_dir: where ``results.json``, ``accuracy.png`` and ``checkpoints/`` go (None: nothing written).
        jobs: parallel processes; BLAS threads are divided among them (cores // jobs each).
        progress: progress bars on stderr (None: only when stderr is a terminal).
        resume: continue an interrupted experiment in ``out_dir``: finished runs are kept, a partial run
            restarts from its latest checkpoint, and the end result is the same as an uninterrupted run.
        data: the arrays to train on (default: loaded from the config's data set).

    Returns:
        the results; ``status`` says whether every run completed.
    """
    from .._progress import ProgressBar

    jobs = check_positive_int("jobs", jobs)
    done: dict[tuple[float, int], RunResult] = {}
    out = None if out_dir is None else Path(out_dir)
    if resume:
        if out is None:
            raise InvalidArgumentError("resume needs out_dir, the folder of the interrupted experiment")
        previous = read_results(out)
        config = ExperimentConfig.from_dict(previous["config"])
        for values in previous.get("runs", []):
            run = RunResult.from_dict(values)
            if run.status == "complete":
                done[(run.keep_prob, run.seed)] = run
    if config is None:
        raise InvalidArgumentError("config is required (an ExperimentConfig)")
    if not isinstance(config, ExperimentConfig):
        raise InvalidArgumentError(f"config must be an ExperimentConfig, got {type(config).__name__}")
    if out is not None:
        _prepare_out_dir(out)
    if data is None:
        data = load_experiment_data(config)
    checkpoint_dir = None if out is None else out / CHECKPOINT_DIR

    pairs = [(k, s) for k in config.keep_probs for s in config.seeds]
    todo = [p for p in pairs if p not in done]
    results = ExperimentResults(config, [done[p] for p in pairs if p in done], status="running")
    if out is not None:
        write_results(results, out)

    flag = _StopFlag()
    by_pair: dict[tuple[float, int], RunResult] = dict(done)

    def record(run: RunResult) -> None:
        by_pair[(run.keep_prob, run.seed)] = run
        results.runs = [by_pair[p] for p in pairs if p in by_pair]
        if out is not None:
            write_results(results, out)

    with _catch_stop_signals(flag):
        if jobs == 1 or len(todo) <= 1:
            # One bar over every epoch of every run: nested bars would fight over one terminal line.
            with ProgressBar(len(todo) * config.epochs, "training", enabled=progress) as bar:
                for keep_prob, seed in todo:
                    if flag():
                        break
                    name = run_name(keep_prob, seed)
                    run = run_one(
                        config, keep_prob, seed, data, checkpoint_dir=checkpoint_dir,
                        on_epoch_end=lambda s, name=name: bar.update(1, run=name, val=f"{s.val_acc_history[-1]:.3f}"),
                        should_stop=flag,
                    )
                    record(run)
        else:
            threads = max(1, (os.cpu_count() or 1) // jobs)
            context = multiprocessing.get_context("spawn")
            with _blas_threads(threads), ProgressBar(len(todo), "runs", enabled=progress) as bar, \
                    concurrent.futures.ProcessPoolExecutor(
                        max_workers=min(jobs, len(todo)), mp_context=context, initializer=_worker_init
                    ) as pool:
                futures = [
                    pool.submit(
                        _worker_run, config.to_dict(), k, s, data,
                        None if checkpoint_dir is None else str(checkpoint_dir),
                    )
                    for k, s in todo
                ]
                for future in concurrent.futures.as_completed(futures):
                    if flag():
                        for pending in futures:
                            pending.cancel()
                    if future.cancelled():
                        continue
                    values = future.result()
                    if values is not None:
                        run = RunResult.from_dict(values)
                        record(run)
                        bar.update(1, run=run_name(run.keep_prob, run.seed), val=f"{run.final_val_acc:.3f}")

    statuses = {r.status for r in results.runs}
    if flag() or "interrupted" in statuses or len(results.runs) < len(pairs):
        results.status = "interrupted"
    elif "diverged" in statuses:
        results.status = "diverged"
    else:
        results.status = "complete"
    if out is not None:
        write_results(results, out)
        if results.status != "interrupted" and any(r.status == "complete" for r in results.runs):
            from .plot import plot_accuracy

            plot_accuracy([r for r in results.runs if r.status == "complete"], out / PLOT_NAME)
    return results
