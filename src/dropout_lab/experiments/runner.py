"""Run the dropout regularization experiment: load the data, build a model and Solver per (keep
probability, seed), train them (:mod:`.scheduler`), summarize, and write results (:mod:`.results`),
plot and checkpoints safely into an output folder."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np

from .._io import atomic_write_text
from .._parallel import available_threads
from .._validation import check_keep_prob, check_path, check_positive_int, check_seed
from ..errors import InvalidArgumentError, InvalidTypeError
from ..models import FullyConnectedNet
from ..optim import kernels
from ..solver import Solver
from .config import NOT_IN_A_RUNS_NUMBERS, ExperimentConfig
from .outdir import (
    CHECKPOINT_DIR,
    CONFIG_NAME,
    PLOT_NAME,
    NewFolder,
    check_checkpoint_config,
    check_checkpoint_dir,
    locked,
    make_new_folder,
    prepare_out_dir,
    refuse_if_taken,
    remove_checkpoint_temp_files,
    remove_experiment_files,
)
from .records import keep_text
from .results import (
    JOURNAL_NAME,
    RESULTS_NAME,
    ExperimentResults,
    RunJournal,
    RunResult,
    parse_results,
    read_journal,
    read_results,
    write_results,
)
from .scheduler import EpochDone, Run, StopFlag, run_all, threads_per_run

if TYPE_CHECKING:
    from tqdm import tqdm

# ------------------------------------------------------------------------------------------ data
def load_experiment_data(config: ExperimentConfig) -> dict[str, np.ndarray]:
    """The training and validation arrays a run uses, cast to the config's dtype.

    Training: the first ``num_train`` examples of the data set's training split (as the exercise takes
    ``X_train[:500]``); validation: the whole validation split, or its first ``num_val``.
    """
    _check_config(config)
    if config.dataset == "cifar10":
        from ..data import get_cifar10_data

        # The course's split: the rows the folder holds (at most 49,000) then 1,000 for validation, each
        # batch read once; the test batch is checked but not used.
        full = get_cifar10_data(None, 1000, 0, root=config.data_dir, dtype=config.dtype)
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
    """The run's name, in its checkpoints' file names: ``keep{keep_text(keep_prob)}_seed{seed}`` (0.5000001
    is not 0.5: two runs never share a checkpoint file)."""
    return f"keep{keep_text(keep_prob)}_seed{seed}"


def run_identity(config: ExperimentConfig, keep_prob: float, seed: int) -> str:
    """What one run's numbers are a function of, as canonical JSON: the config's settings that shape
    them, the keep probability (exact: JSON writes a float's shortest exact digits) and the seed. The
    Solver records it in every checkpoint and refuses to continue a checkpoint of another run."""
    settings = {k: v for k, v in config.to_dict().items() if k not in NOT_IN_A_RUNS_NUMBERS}
    return json.dumps({**settings, "keep_prob": keep_prob, "seed": seed}, sort_keys=True, allow_nan=False)


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
        run_id=run_identity(config, keep_prob, seed),
    )
    if checkpoint_name is not None:
        # A checkpoint of another run (other settings, keep probability or seed) is refused, never continued.
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
        on_epoch_end: called with the Solver after each epoch.
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
    run = Run(solver, keep_prob, seed)
    with threads_per_run(config.threads_per_run):  # as in run_experiment: the same numbers
        run.advance()
    return run.result()


# ------------------------------------------------------------------------------------------ experiment
def _validate_partial_runs(
    config: ExperimentConfig, todo: list[tuple[float, int]], data: dict[str, np.ndarray], checkpoint_dir: Path
) -> None:
    """Load every checkpoint a resume will use before any training starts, so that a damaged one
    stops the resume before anything else is changed."""
    check_checkpoint_dir(checkpoint_dir)
    check_checkpoint_config(config, checkpoint_dir)
    for keep_prob, seed in todo:
        latest = checkpoint_dir / f"{run_name(keep_prob, seed)}_latest.npz"
        if latest.exists():
            _build_solver(config, keep_prob, seed, data, checkpoint_dir)


@contextlib.contextmanager
def _progress_bar(total: int, progress: bool | None) -> Iterator[tqdm[NoReturn]]:
    """One bar over every epoch of every run (nested bars would fight over one terminal line), on
    stderr; closed however the block ends. ``progress`` None: only when stderr is a terminal (or in a
    notebook, where tqdm.auto draws a widget)."""
    from tqdm.auto import tqdm

    with tqdm(
        total=total, desc="training", unit="epoch", file=sys.stderr, dynamic_ncols=True,
        disable=None if progress is None else not progress,
    ) as bar:  # fmt: skip
        yield bar


def _run_line_printer(total: int) -> Callable[[RunResult], None]:
    """A log's stand-in for the bar: a line on stderr per finished run (one thread calls it at a time)."""
    done = itertools.count(1)
    return lambda run: print(
        f"[{next(done)}/{total}] keep {keep_text(run.keep_prob)} seed {run.seed}: {run.status}, train acc "
        f"{run.final_train_acc:.3f}, val acc {run.final_val_acc:.3f}, {run.wall_s:.1f} s", file=sys.stderr, flush=True
    )


def default_jobs(threads_per_run: int) -> int:
    """``jobs`` None (the command line's default): the cores this process may use (affinity, capped by
    OMP_NUM_THREADS and the like) over each run's ``threads_per_run`` BLAS threads; at least 1."""
    return max(1, available_threads() // threads_per_run)


def run_experiment(
    config: ExperimentConfig | None = None,
    *,
    out_dir: str | os.PathLike[str] | NewFolder | None = None,
    jobs: int | None = 1,
    progress: bool | None = None,
    resume: bool = False,
    force: bool = False,
    data: dict[str, np.ndarray] | None = None,
) -> ExperimentResults:
    """Train one net per (keep probability, seed) and collect the results.

    Args:
        config: the experiment; with ``resume`` it is read from ``out_dir/results.json`` instead.
        out_dir: where ``results.json``, ``accuracy.png`` and ``checkpoints/`` go (None: nothing
            written; a :class:`~dropout_lab.experiments.outdir.NewFolder`: a new folder of its own). A
            new experiment never writes into a folder that holds another experiment's files: it
            stops before any work (see ``resume`` and ``force``); an empty or missing folder is fine.
            The folder is locked for the whole experiment: a second process (a resume included) is
            refused while this one runs.
        jobs: threads that train the runs (NumPy, the BLAS and the compiled optimizer kernels
            release the GIL). They take the runs an epoch at a time, round robin over up to 4 runs per
            thread, so that they run out of work together. Every run trains with
            ``config.threads_per_run`` BLAS and elementwise threads whatever ``jobs`` is, so ``jobs``
            changes the speed, never a number. Best: cores // threads_per_run, what None picks
            (:func:`default_jobs`; the command line's default). 1 by default: a library call does not
            take every core of a process that may run other work. Small nets (the digits) are bound
            by Python and gain nothing (BENCHMARKS.md).
        progress: a progress bar on stderr (False: nothing; None: the bar when stderr is a terminal,
            else one line per finished run, for a log).
        resume: continue an interrupted experiment in ``out_dir``: finished runs are kept, a partial run
            restarts from its latest checkpoint, and the end result is the same as an uninterrupted run.
        force: replace the experiment in ``out_dir``: its own files are removed first, and nothing else
            (:mod:`~dropout_lab.experiments.outdir` says how they are recognized).
        data: the arrays to train on, ``X_train, y_train, X_val, y_val`` (default: loaded from the
            config's data set).

    Returns:
        the results (``out_dir`` says where they were written); ``status`` says whether every run
        completed. While the runs train, ``results.json`` says 'interrupted' (what it is if the process
        dies) with the runs finished before the start, and ``runs.jsonl`` adds each run as it finishes.

    Raises:
        DropoutLabError (a subclass): bad arguments, missing data, an unwritable folder, a folder that
        holds another experiment or is locked by another process, or (resume) a damaged results file or
        checkpoint, all before any training.
    """
    jobs = None if jobs is None else check_positive_int("jobs", jobs)
    if progress is not None and not isinstance(progress, bool):
        raise InvalidTypeError(f"progress must be True, False or None, got {progress!r}")
    for name, flag_value in (("resume", resume), ("force", force)):
        if not isinstance(flag_value, bool):
            raise InvalidTypeError(f"{name} must be True or False, got {flag_value!r}")
    if resume and force:
        raise InvalidArgumentError("resume continues the experiment in out_dir and force replaces it: choose one")
    new_folder = out_dir if isinstance(out_dir, NewFolder) else None
    out = None if out_dir is None or new_folder is not None else check_path("out_dir", out_dir)
    if data is not None:
        _check_data(data)
    if resume:
        if out is None:
            raise InvalidArgumentError("resume needs out_dir, the folder of the interrupted experiment")
        config, _ = parse_results(read_results(out), out / RESULTS_NAME)  # read again under the lock
    if config is None:
        raise InvalidArgumentError("config is required (an ExperimentConfig)")
    config = _check_config(config)
    if jobs is None:
        jobs = default_jobs(config.threads_per_run)
    # Sizes that cannot fit in memory fail before anything is loaded or allocated.
    config.check_fits_memory(None if data is None else int(np.prod(data["X_train"].shape[1:])))
    if out is not None and not resume and not force:
        refuse_if_taken(out)  # before any work
    kernels()  # a bad DROPOUT_LAB_KERNELS fails before anything is written
    if data is None:
        data = load_experiment_data(config)
    if new_folder is not None:
        out = make_new_folder(new_folder)
    if out is None:
        return _train(config, [], data, None, jobs=jobs, progress=progress, resume=False)
    prepare_out_dir(out)
    with locked(out):
        previous: list[RunResult] = []
        if resume:
            # Read again: until the lock was taken another process may have written the folder.
            config, previous = parse_results(read_results(out), out / RESULTS_NAME)
            previous += read_journal(out, config)
        elif force:
            remove_experiment_files(out)
        else:
            refuse_if_taken(out)  # another experiment may have started here since the first look
        return _train(config, previous, data, out, jobs=jobs, progress=progress, resume=resume)


def _train(
    config: ExperimentConfig,
    previous: list[RunResult],
    data: dict[str, np.ndarray],
    out: Path | None,
    *,
    jobs: int,
    progress: bool | None,
    resume: bool,
) -> ExperimentResults:
    """The runs of ``config`` not complete among ``previous`` (later records of a pair win), trained
    and written to ``out`` (locked by the caller)."""
    checkpoint_dir = None if out is None or config.checkpoint_every == 0 else out / CHECKPOINT_DIR
    pairs = [(k, s) for k in config.keep_probs for s in config.seeds]
    # Until a run is redone, its earlier record (an interrupted one, say) stays in results.json.
    by_pair: dict[tuple[float, int], RunResult] = {(r.keep_prob, r.seed): r for r in previous}
    todo = [p for p in pairs if p not in by_pair or by_pair[p].status != "complete"]
    if resume and checkpoint_dir is not None:
        remove_checkpoint_temp_files(checkpoint_dir)
        _validate_partial_runs(config, todo, data, checkpoint_dir)

    def ordered_runs() -> list[RunResult]:
        return [by_pair[p] for p in pairs if p in by_pair]

    results = ExperimentResults(config, ordered_runs(), status="interrupted", out_dir=out)
    journal = None
    if out is not None:
        # results.json first, with every earlier record; then the journal is emptied (a crash between
        # the two leaves records in both, which a resume merges to the same runs).
        write_results(results, out)
        journal = RunJournal(out)
    if checkpoint_dir is not None:
        check_checkpoint_dir(checkpoint_dir)
        checkpoint_dir.mkdir(exist_ok=True)
        atomic_write_text(checkpoint_dir / CONFIG_NAME, json.dumps(config.to_dict(), indent=2) + "\n")

    report: list[Callable[[RunResult], None]] = []  # a line per finished run, if the bar is off

    def record(run: RunResult) -> None:
        by_pair[(run.keep_prob, run.seed)] = run
        if journal is not None:
            journal.append(run)
        for line in report:
            line(run)

    flag = StopFlag()

    def start_run(keep_prob: float, seed: int) -> Run:
        solver = _build_solver(config, keep_prob, seed, data, checkpoint_dir, should_stop=flag)
        return Run(solver, keep_prob, seed)

    try:
        with _progress_bar(len(todo) * config.epochs, progress) as bar:
            if progress is None and bar.disable:  # stderr is no terminal (a log): a line per run instead
                report.append(_run_line_printer(len(todo)))

            def epoch_done(event: EpochDone) -> None:
                bar.set_postfix(run=run_name(event.keep_prob, event.seed), val=f"{event.val_acc:.3f}", refresh=False)
                bar.update(1)

            failure = run_all(
                todo, start_run, jobs=jobs, threads=config.threads_per_run, flag=flag, on_epoch=epoch_done,
                on_result=record,
            )
    finally:
        if journal is not None:
            journal.close()

    results.runs = ordered_runs()
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
        (out / JOURNAL_NAME).unlink(missing_ok=True)  # results.json holds every run now
        if failure is None and results.status != "interrupted" and any(r.status == "complete" for r in results.runs):
            from .plot import plot_accuracy

            plot_accuracy([r for r in results.runs if r.status == "complete"], out / PLOT_NAME)
    if failure is not None:
        raise failure
    return results
