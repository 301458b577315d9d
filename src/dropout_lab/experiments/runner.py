"""Run the dropout regularization experiment: expand its grid into runs (:mod:`.grid`), train them in
this process (:mod:`.scheduler`) or on a Dask cluster (:mod:`.distributed`), each built by
:mod:`.runs`, and write results (:mod:`.results`), plot and checkpoints safely into an output folder."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import numpy as np

from .._epochs import epochs_for_steps
from .._io import atomic_write_text
from .._parallel import available_threads
from .._validation import check_path, check_positive_int
from ..errors import InvalidArgumentError, InvalidTypeError
from ..optim import kernels
from .cell_data import DataSource, load_experiment_data
from .config import ExperimentConfig
from .extend import check_extension, rekey, rename_saved_checkpoints
from .grid import RunSpec, expand, run_name
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
from .runs import (
    _build_solver,
    _check_config,
    _check_data,
    remote_run,
    run_identity,
    run_one,
    test_evaluation,
    train_run,
)
from .scheduler import EpochDone, Run, StopFlag, catch_stop_signals, run_all

__all__ = ["default_jobs", "load_experiment_data", "run_experiment", "run_identity", "run_name", "run_one", "train_run"]

if TYPE_CHECKING:
    from tqdm import tqdm


# ------------------------------------------------------------------------------------------ experiment
def _validate_partial_runs(
    config: ExperimentConfig,
    todo: list[RunSpec],
    data: DataSource,
    checkpoint_dir: Path,
    extends: dict[tuple[str, float, int], RunSpec],
) -> None:
    """Load every checkpoint a resume will use before any training starts, so that a damaged one
    stops the resume before anything else is changed."""
    check_checkpoint_dir(checkpoint_dir)
    check_checkpoint_config(config, checkpoint_dir)
    for spec in todo:
        if (checkpoint_dir / f"{spec.name}_latest.npz").exists():
            _build_solver(spec, data(spec), checkpoint_dir, extends=extends.get(spec.key))


@contextlib.contextmanager
def _progress_bar(total: int, unit: str, progress: bool | None) -> Iterator[tqdm[NoReturn]]:
    """One bar over every epoch (or run) of every run (nested bars would fight over one terminal
    line), on stderr; closed however the block ends. ``progress`` None: only when stderr is a terminal
    (or in a notebook, where tqdm.auto draws a widget)."""
    from tqdm.auto import tqdm

    with tqdm(
        total=total, desc="training", unit=unit, file=sys.stderr, dynamic_ncols=True,
        disable=None if progress is None else not progress,
    ) as bar:  # fmt: skip
        yield bar


def _run_line_printer(total: int) -> Callable[[RunResult], None]:
    """A log's stand-in for the bar: a line on stderr per finished run (one thread calls it at a time)."""
    done = itertools.count(1)
    return lambda run: print(
        f"[{next(done)}/{total}] {run.label}: {run.status}, train acc {run.final_train_acc:.3f}, val acc "
        f"{run.final_val_acc:.3f}, {run.wall_s:.1f} s", file=sys.stderr, flush=True
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
    scheduler: str | None = None,
) -> ExperimentResults:
    """Train one net per run of ``config`` (keep probabilities x seeds x the swept settings) and
    collect the results.

    Args:
        config: the experiment. With ``resume``: None continues the experiment saved in
            ``out_dir/results.json``; a config extends it (more seeds, keep probabilities, values of a
            swept setting, or epochs: see :func:`~dropout_lab.experiments.extend.check_extension`).
        out_dir: where ``results.json``, ``accuracy.png`` and ``checkpoints/`` go (None: nothing
            written; a :class:`~dropout_lab.experiments.outdir.NewFolder`: a new folder of its own). A
            new experiment never writes into a folder that holds another experiment's files: it
            stops before any work (see ``resume`` and ``force``); an empty or missing folder is fine.
            The folder is locked for the whole experiment: a second process (a resume included) is
            refused. Each finished run's last checkpoint stays in ``checkpoints/``, so that a resume
            can give it more epochs.
        jobs: threads that train the runs (NumPy, the BLAS and the compiled optimizer kernels
            release the GIL). They take the runs an epoch at a time, round robin over up to 4 runs per
            thread, so that they run out of work together. Every run trains with
            ``config.threads_per_run`` BLAS and elementwise threads whatever ``jobs`` is, so ``jobs``
            changes the speed, never a number. Best: cores // threads_per_run, what None picks
            (:func:`default_jobs`; the command line's default). 1 by default: a library call does not
            take every core of a process that may run other work. Small nets (the digits) are bound
            by Python and gain nothing (BENCHMARKS.md). Not used with ``scheduler``.
        progress: a progress bar on stderr (False: nothing; None: the bar when stderr is a terminal,
            else one line per finished run, for a log).
        resume: continue an interrupted experiment in ``out_dir`` (or extend it, see ``config``):
            finished runs are kept, a partial run restarts from its latest checkpoint, and the end
            result is the same as an uninterrupted run.
        force: replace the experiment in ``out_dir``: its own files are removed first, and nothing else
            (:mod:`~dropout_lab.experiments.outdir` says how they are recognized).
        data: the arrays to train on, ``X_train, y_train, X_val, y_val`` (default: loaded from the
            config's data set; with a sweep over ``num_train``, each cell takes its first rows).
        scheduler: the address of a Dask scheduler (``tcp://HOST:PORT``): each run is a task there
            (:mod:`~dropout_lab.experiments.distributed`), with the same numbers as here on the same
            kind of machine. The workers read the data set from their own data folder and write the
            checkpoints to ``out_dir/checkpoints``, which they must reach at the same path (a shared
            file system). Needs ``pip install 'dropout-lab[dask]'``.

    Returns:
        the results (``out_dir`` says where they were written); ``status`` says whether every run
        completed. While the runs train, ``results.json`` says 'interrupted' (what it is if the process
        dies) with the runs finished before the start, and ``runs.jsonl`` adds each run as it finishes.

    Raises:
        DropoutLabError (a subclass): bad arguments, missing data, an unwritable folder, a folder that
        holds another experiment or is locked by another process, an unreachable scheduler, or
        (resume) a damaged results file or checkpoint, or an extension that conflicts with the saved
        runs, all before any training.
    """
    jobs = None if jobs is None else check_positive_int("jobs", jobs)
    if progress is not None and not isinstance(progress, bool):
        raise InvalidTypeError(f"progress must be True, False or None, got {progress!r}")
    for name, flag_value in (("resume", resume), ("force", force)):
        if not isinstance(flag_value, bool):
            raise InvalidTypeError(f"{name} must be True or False, got {flag_value!r}")
    if resume and force:
        raise InvalidArgumentError("resume continues the experiment in out_dir and force replaces it: choose one")
    if scheduler is not None and (not isinstance(scheduler, str) or not scheduler.strip()):
        raise InvalidArgumentError(f"scheduler must be a Dask scheduler's address (tcp://HOST:PORT), got {scheduler!r}")
    new_folder = out_dir if isinstance(out_dir, NewFolder) else None
    out = None if out_dir is None or new_folder is not None else check_path("out_dir", out_dir)
    if data is not None:
        _check_data(data)
    if scheduler is not None:
        if data is not None:
            raise InvalidArgumentError(
                "data (arrays) cannot go to a Dask cluster: its workers read the config's data set"
            )
        if out is None and new_folder is None:
            raise InvalidArgumentError("a Dask run needs out_dir: the workers write the runs' checkpoints there")
    wanted = None if config is None else _check_config(config)
    if resume:
        if out is None:
            raise InvalidArgumentError("resume needs out_dir, the folder of the interrupted experiment")
        saved, records = parse_results(read_results(out), out / RESULTS_NAME)  # read again under the lock
        config = saved if wanted is None else check_extension(saved, records, wanted)
    if config is None:
        raise InvalidArgumentError("config is required (an ExperimentConfig)")
    if jobs is None:
        jobs = default_jobs(config.threads_per_run)
    # Sizes that cannot fit in memory fail before anything is loaded or allocated.
    config.check_fits_memory(None if data is None else int(np.prod(data["X_train"].shape[1:])))
    if out is not None and not resume and not force:
        refuse_if_taken(out)  # before any work
    kernels()  # a bad DROPOUT_LAB_KERNELS fails before anything is written
    source = DataSource(config, data)
    if scheduler is None:
        source.check_all(expand(config))  # every cell's data loads before any folder is made
    else:
        from .distributed import check_reachable

        check_reachable(scheduler)
    if new_folder is not None:
        out = make_new_folder(new_folder)
    if out is None:
        return _train(config, [], source, None, jobs=jobs, progress=progress, resume=False, scheduler=None)
    prepare_out_dir(out)
    with locked(out):
        previous: list[RunResult] = []
        if resume:
            # Read again: until the lock was taken another process may have written the folder.
            saved, previous = parse_results(read_results(out), out / RESULTS_NAME)
            previous += read_journal(out, saved)
            if wanted is not None:
                config = check_extension(saved, previous, wanted)
                previous = rekey(saved, previous, config)
                if config.checkpoint_every > 0:  # the saved runs' checkpoints, under the names the grid now gives
                    rename_saved_checkpoints(saved, config, out / CHECKPOINT_DIR)
            else:
                config = saved
        elif force:
            remove_experiment_files(out)
        else:
            refuse_if_taken(out)  # another experiment may have started here since the first look
        return _train(
            config, previous, source, out, jobs=jobs, progress=progress, resume=resume, scheduler=scheduler
        )


def _shorter_budgets(
    todo: list[RunSpec], by_key: dict[tuple[str, float, int], RunResult]
) -> dict[tuple[str, float, int], RunSpec]:
    """For each run of ``todo`` whose record is complete with fewer epochs than its config asks (an
    extended experiment): the run as it was trained, whose identity its last checkpoint carries, and
    which the run continues. Derived from the records, so a resume of an interrupted extension finds it."""
    out = {}
    for spec in todo:
        record = by_key.get(spec.key)
        if record is not None and record.status == "complete":
            saved = dataclasses.replace(spec.config, epochs=record.epochs_done)
            out[spec.key] = RunSpec(saved, spec.keep_prob, spec.seed, spec.settings)
    return out


def _needs_training(spec: RunSpec, record: RunResult | None) -> bool:
    """Whether a run is still to train: no record, or one that is not complete, or complete with fewer
    epochs than its config's budget now asks (an extended experiment) and not stopped early."""
    if record is None or record.status != "complete":
        return True
    return spec.config.steps is None and record.stop_epoch is None and record.epochs_done < spec.config.epochs


def _train(
    config: ExperimentConfig,
    previous: list[RunResult],
    data: DataSource,
    out: Path | None,
    *,
    jobs: int,
    progress: bool | None,
    resume: bool,
    scheduler: str | None,
) -> ExperimentResults:
    """The runs of ``config`` not complete among ``previous`` (later records of a run win), trained
    and written to ``out`` (locked by the caller)."""
    checkpoint_dir = None if out is None or config.checkpoint_every == 0 else out / CHECKPOINT_DIR
    specs = expand(config)
    # Until a run is redone, its earlier record (an interrupted one, say) stays in results.json.
    by_key: dict[tuple[str, float, int], RunResult] = {r.key: r for r in previous}
    todo = [spec for spec in specs if _needs_training(spec, by_key.get(spec.key))]
    extends = _shorter_budgets(todo, by_key)
    if resume and checkpoint_dir is not None:
        remove_checkpoint_temp_files(checkpoint_dir)
        if scheduler is None:
            _validate_partial_runs(config, todo, data, checkpoint_dir, extends)

    def ordered_runs() -> list[RunResult]:
        return [by_key[spec.key] for spec in specs if spec.key in by_key]

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
        by_key[run.key] = run
        if journal is not None:
            journal.append(run)
        for line in report:
            line(run)

    flag = StopFlag()
    try:
        if scheduler is not None:
            failure = _train_on_dask(todo, scheduler, checkpoint_dir, flag, record, progress, report, extends)
        else:
            failure = _train_here(todo, data, checkpoint_dir, jobs, flag, record, progress, report, extends)
    finally:
        if journal is not None:
            journal.close()

    results.runs = ordered_runs()
    statuses = {r.status for r in results.runs}
    # Runs without a record, or complete ones short of the budget, are still to train.
    unfinished = [
        s for s in specs if (r := by_key.get(s.key)) is None or (r.status == "complete" and _needs_training(s, r))
    ]
    if failure is not None or flag() or "interrupted" in statuses or unfinished:
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
            from .summary_plot import write_figures

            write_figures(results, out / PLOT_NAME)  # accuracy.png, and summary.png beside it
    if failure is not None:
        raise failure
    return results


def _train_here(
    todo: list[RunSpec],
    data: DataSource,
    checkpoint_dir: Path | None,
    jobs: int,
    flag: StopFlag,
    record: Callable[[RunResult], None],
    progress: bool | None,
    report: list[Callable[[RunResult], None]],
    extends: dict[tuple[str, float, int], RunSpec],
) -> BaseException | None:
    """Train ``todo`` in this process on ``jobs`` threads (:func:`~.scheduler.run_all`)."""

    def start_run(spec: RunSpec) -> Run:
        solver = _build_solver(spec, data(spec), checkpoint_dir, should_stop=flag, extends=extends.get(spec.key))
        return Run(solver, spec, test_evaluation(spec, data(spec)))

    epochs = sum(_epochs_of(spec.config, data(spec)) for spec in todo)
    with _progress_bar(epochs, "epoch", progress) as bar:
        if progress is None and bar.disable:  # stderr is no terminal (a log): a line per run instead
            report.append(_run_line_printer(len(todo)))

        def epoch_done(event: EpochDone) -> None:
            if event.val_acc is not None:
                bar.set_postfix(run=event.spec.label, val=f"{event.val_acc:.3f}", refresh=False)
            bar.update(1)

        threads = max((spec.config.threads_per_run for spec in todo), default=1)
        return run_all(todo, start_run, jobs=jobs, threads=threads, flag=flag, on_epoch=epoch_done, on_result=record)


def _epochs_of(config: ExperimentConfig, data: dict[str, np.ndarray]) -> int:
    """The epochs a run of ``config`` trains on ``data`` (the last one partial with a budget in steps)."""
    if config.steps is None:
        return config.epochs
    return epochs_for_steps(config.steps, max(len(data["y_train"]) // config.batch_size, 1))  # as the Solver


def _train_on_dask(
    todo: list[RunSpec],
    address: str,
    checkpoint_dir: Path | None,
    flag: StopFlag,
    record: Callable[[RunResult], None],
    progress: bool | None,
    report: list[Callable[[RunResult], None]],
    extends: dict[tuple[str, float, int], RunSpec],
) -> BaseException | None:
    """Train ``todo`` as tasks of the Dask cluster at ``address``
    (:func:`~.distributed.run_on_dask`), with the stop signals caught here."""
    from .distributed import run_on_dask

    folder = None if checkpoint_dir is None else str(checkpoint_dir.resolve())
    task = functools.partial(remote_run, checkpoint_dir=folder, extends=extends)
    with _progress_bar(len(todo), "run", progress) as bar, catch_stop_signals(flag):
        if progress is None and bar.disable:
            report.append(_run_line_printer(len(todo)))

        def count(_: RunResult) -> None:
            bar.update(1)

        report.append(count)
        return run_on_dask(todo, task, address=address, flag=flag, on_result=record)
