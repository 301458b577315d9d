"""Run the dropout regularization experiment: every (keep probability, seed) pair, serially or in
parallel threads, with results, plot and checkpoints written safely into an output folder."""

from __future__ import annotations

import collections
import contextlib
import json
import os
import platform
import queue
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from numbers import Integral, Real
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from .. import __version__
from .._io import atomic_write_text
from .._parallel import available_threads, limit_threads
from .._validation import check_keep_prob, check_positive_int, check_seed
from ..errors import DataError, DropoutLabError, InvalidArgumentError, InvalidTypeError, TrainingDivergedError
from ..models import FullyConnectedNet
from ..optim._fused import requested as kernels_requested
from ..solver import Solver
from .config import ExperimentConfig

RESULTS_NAME = "results.json"
PLOT_NAME = "accuracy.png"
CHECKPOINT_DIR = "checkpoints"
RESULTS_FORMAT = 1
RUN_STATUSES = ("complete", "diverged", "interrupted")
CONFIG_NAME = "config.json"  # beside the checkpoints: the settings they were written with


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
        """Inverse of :meth:`to_dict`, checking every field (records come from files)."""
        if not isinstance(values, dict):
            raise InvalidTypeError(f"a run record must be a JSON object, got {type(values).__name__}")
        fields = list(cls.__dataclass_fields__)
        required = fields[:-2]  # status and message have defaults
        missing = [f for f in required if f not in values]
        if missing:
            raise InvalidArgumentError(f"a run record lacks {', '.join(missing)}")
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise InvalidArgumentError(f"a run record has unknown fields: {', '.join(unknown)}")
        check_keep_prob("keep_prob", values["keep_prob"])
        if check_seed("seed", values["seed"]) is None:
            raise InvalidArgumentError("seed of a run record must be an integer, got None")
        for name in ("loss_history", "train_acc_history", "val_acc_history"):
            history = values[name]
            if not isinstance(history, list) or not all(
                isinstance(v, Real) and not isinstance(v, bool) for v in history
            ):
                raise InvalidArgumentError(f"{name} of a run record must be a list of numbers")
        for name in ("final_train_acc", "final_val_acc", "best_val_acc", "wall_s"):
            if not isinstance(values[name], Real) or isinstance(values[name], bool):
                raise InvalidArgumentError(f"{name} of a run record must be a number, got {values[name]!r}")
        if values.get("status", "complete") not in RUN_STATUSES:
            raise InvalidArgumentError(
                f"status of a run record must be one of {', '.join(RUN_STATUSES)}, got {values.get('status')!r}"
            )
        if values.get("message") is not None and not isinstance(values["message"], str):
            raise InvalidArgumentError("message of a run record must be a string or null")
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
    _check_config(config)
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


def run_name(keep_prob: float, seed: int) -> str:
    return f"keep{keep_prob:g}_seed{seed}"


def _run_generators(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    # Independent streams for the model (initial weights, then dropout masks) and for the Solver
    # (minibatches, accuracy subsamples). With the same seed every keep probability starts from the
    # same weights and sees the same minibatches: the comparisons between keep probabilities are paired.
    model_seq, solver_seq = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(model_seq), np.random.default_rng(solver_seq)


def _build_solver(
    config: ExperimentConfig,
    keep_prob: float,
    seed: int,
    data: dict[str, np.ndarray],
    checkpoint_dir: Path | None,
    *,
    on_epoch_end: Callable[[Solver], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Solver:
    """The model and Solver of one run, restored from its latest checkpoint if there is one."""
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
    return solver


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
    _check_config(config)
    keep_prob = check_keep_prob("keep_prob", keep_prob)
    if check_seed("seed", seed) is None:
        raise InvalidArgumentError("seed must be an integer in [0, 2**32), got None")
    _check_data(data)
    solver = _build_solver(
        config, keep_prob, seed, data, checkpoint_dir, on_epoch_end=on_epoch_end, should_stop=should_stop
    )
    run = _Run(solver, keep_prob, seed)
    run.advance()
    return run.result()


class _Run:
    """One run's Solver, trained a few epochs at a time (the parallel runner interleaves runs)."""

    def __init__(self, solver: Solver, keep_prob: float, seed: int) -> None:
        self.solver, self.keep_prob, self.seed = solver, keep_prob, seed
        self.status, self.message = "complete", None
        self.wall = 0.0
        self.done = False

    def advance(self, epochs: int | None = None) -> bool:
        """Train ``epochs`` more epochs (None: to the end); True once the run is over."""
        solver = self.solver
        start = time.perf_counter()
        try:
            solver.train(epochs)
        except TrainingDivergedError as exc:
            self.status, self.message = "diverged", str(exc)
            self.done = True
        self.wall += time.perf_counter() - start
        if solver.interrupted:
            self.status, self.message = "interrupted", f"stopped at iteration {solver.iteration}; resumable"
            self.done = True
        elif solver.finished:
            self.done = True
        if self.done and self.status != "interrupted" and solver.checkpoint_name is not None:
            # A finished run lives in results.json; its checkpoint is only needed to resume it.
            Path(f"{solver.checkpoint_name}_latest.npz").unlink(missing_ok=True)
        return self.done

    def result(self) -> RunResult:
        solver = self.solver
        return RunResult(
            keep_prob=self.keep_prob,
            seed=self.seed,
            loss_history=[float(v) for v in solver.loss_history],
            train_acc_history=[float(v) for v in solver.train_acc_history],
            val_acc_history=[float(v) for v in solver.val_acc_history],
            final_train_acc=float(solver.train_acc_history[-1]) if solver.train_acc_history else float("nan"),
            final_val_acc=float(solver.val_acc_history[-1]) if solver.val_acc_history else float("nan"),
            best_val_acc=float(solver.best_val_acc),
            wall_s=self.wall,
            status=self.status,
            message=self.message,
        )


# ------------------------------------------------------------------------------------------ stopping
class _StopFlag:
    """Set by SIGINT/SIGTERM (or by a failed run); polled between iterations by every run, in whatever
    thread, so that a run always stops in a consistent state."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def __call__(self) -> bool:
        return self._event.is_set()

    def request(self, *_: Any) -> None:
        self._event.set()


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


@contextlib.contextmanager
def _threads_per_run(n: int) -> Iterator[None]:
    """Limit the BLAS (and any OpenMP runtime) and dropout-lab's elementwise threads to ``n`` per call
    while runs share the process. Both limits are process-wide and restored afterwards. Without them
    every run's matrix products would ask the BLAS for all the cores at once; measured on 2 cores with
    3 runs in parallel, that took 21 s instead of 9.3."""
    from threadpoolctl import threadpool_limits  # only where runs share the process

    with threadpool_limits(limits=n), limit_threads(n):
        yield


@dataclass(frozen=True)
class _EpochDone:
    """A run finished an epoch (for the progress bar)."""

    keep_prob: float
    seed: int
    val_acc: float


class _Interleaved:
    """Train runs in ``workers`` threads, one epoch at a time, round robin over up to ``window`` runs.

    A thread starts a new run while the window has room, else takes the run that has waited longest;
    it trains one epoch and puts the run back at the end of the queue. So the runs in the window
    advance together and the threads run out of work together: 5 runs on 2 threads end after 2.5
    runs' time, where a run per thread leaves one thread idle for the fifth run's whole length. Finished epochs, finished runs and a run's exception go to
    ``done``, which the calling thread reads.
    """

    def __init__(
        self, config: ExperimentConfig, todo: list[tuple[float, int]], data: dict[str, np.ndarray],
        checkpoint_dir: Path | None, flag: _StopFlag, workers: int, window: int,
    ) -> None:
        self.config, self.data, self.checkpoint_dir, self.flag = config, data, checkpoint_dir, flag
        self.pending = collections.deque(todo)  # not started
        self.ready: collections.deque[_Run] = collections.deque()  # started, waiting for their next epoch
        self.window = max(window, workers)  # >= workers: an idle thread always finds work if any is left
        self.active = 0
        self.lock = threading.Lock()
        self.done: queue.Queue[RunResult | _EpochDone | BaseException] = queue.Queue()
        self.threads = [
            threading.Thread(target=self._work, name=f"dropout-lab-run-{i}", daemon=True) for i in range(workers)
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def alive(self) -> bool:
        return any(thread.is_alive() for thread in self.threads)

    def join(self) -> None:
        for thread in self.threads:
            thread.join()

    def _next(self) -> _Run | tuple[float, int] | None:
        with self.lock:
            # Fill the window first, then go round it.
            if self.pending and not self.flag() and self.active < self.window:
                self.active += 1
                return self.pending.popleft()
            if self.ready:
                return self.ready.popleft()
            return None  # what is left is running in other threads

    def _work(self) -> None:
        while True:
            item = self._next()
            if item is None:
                return
            try:
                if isinstance(item, _Run):
                    run = item
                else:
                    keep_prob, seed = item
                    solver = _build_solver(
                        self.config, keep_prob, seed, self.data, self.checkpoint_dir, should_stop=self.flag
                    )
                    run = _Run(solver, keep_prob, seed)
                epoch = run.solver.epoch
                # After a stop request a started run trains one step, then checkpoints and ends.
                finished = run.advance(1)
                if run.solver.epoch > epoch:
                    self.done.put(_EpochDone(run.keep_prob, run.seed, run.solver.val_acc_history[-1]))
            except BaseException as exc:  # reported by the calling thread, which stops the others
                self.flag.request()
                with self.lock:
                    self.active -= 1
                self.done.put(exc)
                continue
            if finished:
                with self.lock:
                    self.active -= 1
                self.done.put(run.result())
            else:
                with self.lock:
                    self.ready.append(run)


# ------------------------------------------------------------------------------------------ experiment
def _prepare_out_dir(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the output folder {out_dir}: {exc.strerror or exc}") from exc
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise DataError(f"the output folder {out_dir} is not writable")


def _check_folder(name: str, value: Any) -> Path:
    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
        raise InvalidTypeError(
            f"{name} must be a folder path (str or os.PathLike), got {value!r} ({type(value).__name__})"
        )
    return Path(value)


def read_results(out_dir: str | os.PathLike) -> dict[str, Any]:
    """Read and check ``results.json`` from an experiment folder: its format, config and run records."""
    path = _check_folder("out_dir", out_dir) / RESULTS_NAME
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DataError(f"{path} does not exist: is {out_dir} an experiment's output folder?") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:  # nested thousands deep
        raise DataError(f"{path} cannot be read as JSON: {exc}") from exc
    if not isinstance(values, dict) or values.get("format") != RESULTS_FORMAT or "config" not in values:
        raise DataError(f"{path} is not a dropout-lab results file (format {RESULTS_FORMAT})")
    _parse_results(values, path)
    return values


def _parse_results(values: dict[str, Any], path: Path) -> tuple[ExperimentConfig, list[RunResult]]:
    try:
        config = ExperimentConfig.from_dict(values["config"])
        runs = values.get("runs", [])
        if not isinstance(runs, list):
            raise InvalidArgumentError(f"runs must be a list of run records, got {type(runs).__name__}")
        records = []
        for i, values in enumerate(runs):
            try:
                records.append(RunResult.from_dict(values))
            except DropoutLabError as exc:
                raise InvalidArgumentError(f"runs[{i}]: {exc}") from exc
    except DropoutLabError as exc:
        raise DataError(f"{path}: {exc}") from exc
    pairs = [(r.keep_prob, r.seed) for r in records]
    if len(set(pairs)) != len(pairs):
        raise DataError(f"{path}: a (keep_prob, seed) pair appears twice among the runs")
    unknown = [p for p in pairs if p[0] not in config.keep_probs or p[1] not in config.seeds]
    if unknown:
        raise DataError(f"{path}: runs {unknown} are not in the config's keep_probs x seeds")
    return config, records


def write_results(results: ExperimentResults, out_dir: Path) -> None:
    text = json.dumps(results.to_dict(), indent=2, allow_nan=False, default=_json_default)
    atomic_write_text(out_dir / RESULTS_NAME, text + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def _check_checkpoint_config(config: ExperimentConfig, checkpoint_dir: Path) -> None:
    """Refuse to resume checkpoints written under other settings than ``config``'s."""
    path = checkpoint_dir / CONFIG_NAME
    if not path.exists():
        return
    try:
        saved = ExperimentConfig.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError, DropoutLabError) as exc:
        raise DataError(f"{path} cannot be read: {exc}") from exc
    ours, theirs = config.to_dict(), saved.to_dict()
    differ = [k for k in ours if ours[k] != theirs[k] and k not in ("seeds", "keep_probs", "data_dir")]
    if differ:
        detail = "; ".join(f"{k}: {theirs[k]!r} there, {ours[k]!r} in results.json" for k in differ)
        raise DataError(f"the checkpoints in {checkpoint_dir} were written with other settings ({detail})")


def _validate_partial_runs(
    config: ExperimentConfig, todo: list[tuple[float, int]], data: dict, checkpoint_dir: Path
) -> None:
    """Load every checkpoint a resume will use before any training starts, so that a damaged one
    stops the resume before anything else is changed."""
    _check_checkpoint_config(config, checkpoint_dir)
    for keep_prob, seed in todo:
        latest = checkpoint_dir / f"{run_name(keep_prob, seed)}_latest.npz"
        if latest.exists():
            _build_solver(config, keep_prob, seed, data, checkpoint_dir)


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
        jobs: threads that train the runs (NumPy, the BLAS and the compiled optimizer kernels
            release the GIL). They take the runs an epoch at a time, round robin over up to 4 runs per
            thread, so that they run out of work together, and the BLAS and elementwise threads are
            divided among them (cores // jobs each, at least one) while they run. Best: the number of
            cores. Measured on 2 cores with the exercise's 5 CIFAR-shaped runs, alternated: jobs=2
            9.3 and 10.0 s, jobs=3 9.3 and 10.7 s, jobs=1 (2 BLAS threads) 13.0 and 11.6 s. Small nets
            (the digits) are bound by Python and gain nothing. A run's numbers depend on its BLAS
            thread count in the last bit (the BLAS may split a sum differently), so they are
            reproducible for a given ``jobs`` and core count; every ``jobs`` of 2 or more gives the
            same numbers on 2 cores.
        progress: progress bars on stderr (None: only when stderr is a terminal).
        resume: continue an interrupted experiment in ``out_dir``: finished runs are kept, a partial run
            restarts from its latest checkpoint, and the end result is the same as an uninterrupted run.
        data: the arrays to train on, ``X_train, y_train, X_val, y_val`` (default: loaded from the
            config's data set).

    Returns:
        the results; ``status`` says whether every run completed.

    Raises:
        DropoutLabError (a subclass): bad arguments, missing data, an unwritable folder, or (resume) a
        damaged results file or checkpoint, all before any training.
    """
    from .._progress import ProgressBar

    jobs = check_positive_int("jobs", jobs)
    if progress is not None and not isinstance(progress, bool):
        raise InvalidTypeError(f"progress must be True, False or None, got {progress!r}")
    if not isinstance(resume, bool):
        raise InvalidTypeError(f"resume must be True or False, got {resume!r}")
    out = None if out_dir is None else _check_folder("out_dir", out_dir)
    if data is not None:
        _check_data(data)
    previous: list[RunResult] = []
    if resume:
        if out is None:
            raise InvalidArgumentError("resume needs out_dir, the folder of the interrupted experiment")
        values = read_results(out)
        config, previous = _parse_results(values, out / RESULTS_NAME)
    if config is None:
        raise InvalidArgumentError("config is required (an ExperimentConfig)")
    _check_config(config)
    kernels_requested()  # a bad DROPOUT_LAB_KERNELS fails before anything is written
    if data is None:
        data = load_experiment_data(config)
    if out is not None:
        _prepare_out_dir(out)
    checkpoint_dir = None if out is None or config.checkpoint_every == 0 else out / CHECKPOINT_DIR

    pairs = [(k, s) for k in config.keep_probs for s in config.seeds]
    done = {(r.keep_prob, r.seed): r for r in previous if r.status == "complete"}
    todo = [p for p in pairs if p not in done]
    if resume and checkpoint_dir is not None:
        _validate_partial_runs(config, todo, data, checkpoint_dir)

    # Until a run is redone, its earlier record (an interrupted one, say) stays in results.json.
    by_pair: dict[tuple[float, int], RunResult] = {(r.keep_prob, r.seed): r for r in previous}
    results = ExperimentResults(config, [by_pair[p] for p in pairs if p in by_pair], status="running")

    def record(run: RunResult) -> None:
        by_pair[(run.keep_prob, run.seed)] = run
        results.runs = [by_pair[p] for p in pairs if p in by_pair]
        if out is not None:
            write_results(results, out)

    if out is not None:
        write_results(results, out)
    if checkpoint_dir is not None:
        checkpoint_dir.mkdir(exist_ok=True)
        atomic_write_text(checkpoint_dir / CONFIG_NAME, json.dumps(config.to_dict(), indent=2) + "\n")

    failure: BaseException | None = None
    if jobs == 1 or len(todo) <= 1:
        flag = _StopFlag()
        with _catch_stop_signals(flag), ProgressBar(
            len(todo) * config.epochs, "training", enabled=progress
        ) as bar:
            # One bar over every epoch of every run: nested bars would fight over one terminal line.
            for keep_prob, seed in todo:
                if flag():
                    break
                name = run_name(keep_prob, seed)
                record(
                    run_one(
                        config, keep_prob, seed, data, checkpoint_dir=checkpoint_dir,
                        on_epoch_end=lambda s, name=name: bar.update(1, run=name, val=f"{s.val_acc_history[-1]:.3f}"),
                        should_stop=flag,
                    )
                )
    else:
        flag = _StopFlag()
        workers = min(jobs, len(todo))
        # Every run in the window holds its parameters and optimizer state (48 MB for the exercise's
        # net): the window bounds that, and 4 runs per thread keep the threads' loads even.
        pool = _Interleaved(config, todo, data, checkpoint_dir, flag, workers, window=4 * workers)
        with _catch_stop_signals(flag), _threads_per_run(max(1, available_threads() // jobs)), ProgressBar(
            len(todo) * config.epochs, "training", enabled=progress
        ) as bar:
            pool.start()
            try:
                while pool.alive() or not pool.done.empty():
                    try:
                        # A timeout, so that the signal handlers run promptly in this thread.
                        item = pool.done.get(timeout=0.1)
                    except queue.Empty:
                        continue
                    if isinstance(item, BaseException):
                        failure = failure or item
                    elif isinstance(item, _EpochDone):
                        bar.update(1, run=run_name(item.keep_prob, item.seed), val=f"{item.val_acc:.3f}")
                    else:
                        record(item)
            finally:
                if pool.alive():  # this thread failed (writing results.json, say): stop the runs first
                    flag.request()
                    pool.join()

    statuses = {r.status for r in results.runs}
    if failure is not None or flag() or "interrupted" in statuses or len(results.runs) < len(pairs):
        results.status = "interrupted"
    elif "diverged" in statuses:
        results.status = "diverged"
    else:
        results.status = "complete"
    if checkpoint_dir is not None and failure is None and results.status != "interrupted":
        # No run is left to resume: the settings the checkpoints were written with go too.
        (checkpoint_dir / CONFIG_NAME).unlink(missing_ok=True)
    if out is not None:
        write_results(results, out)
        if failure is None and results.status != "interrupted" and any(r.status == "complete" for r in results.runs):
            from .plot import plot_accuracy

            plot_accuracy([r for r in results.runs if r.status == "complete"], out / PLOT_NAME)
    if failure is not None:
        raise failure
    return results
