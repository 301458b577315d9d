"""Scheduling the experiment's runs: a stop flag set by SIGINT/SIGTERM, and worker threads that train
the runs an epoch at a time, round robin, each run with the same fixed number of BLAS and elementwise
threads whatever the number of workers.

Serial execution is the same scheduler with one worker (and a window of one run: each run trains to
its end before the next starts).

Why a fixed number of threads per run: the BLAS splits a matrix product's sums among its threads, so
its results depend on their number in the last bit (OpenBLAS does at the exercise's shapes, (100, 3072)
@ (3072, 500) and the gradients), and training amplifies that bit. With the thread count a setting of
the experiment (``ExperimentConfig.threads_per_run``), a run's numbers depend on its settings, the
machine's BLAS and its kernel, not on ``jobs``. The elementwise threads (:mod:`.._parallel`) cannot
change a value (every element is computed the same way in whichever range), but they are held to the
same count, so that ``jobs`` runs use ``jobs * threads_per_run`` cores.
"""

from __future__ import annotations

import collections
import contextlib
import contextvars
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._parallel import limit_threads
from ..errors import TrainingDivergedError
from ..solver import Solver
from .grid import RunSpec
from .results import RunResult

# Every run in the window holds its parameters and optimizer state (48 MB for the exercise's net): the
# window bounds that, and 4 runs per thread keep the threads' loads even.
RUNS_PER_WORKER = 4


class StopFlag:
    """Set by SIGINT/SIGTERM (or by a failed run); polled between iterations by every run, in whatever
    thread, so that a run always stops in a consistent state."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def __call__(self) -> bool:
        return self._event.is_set()

    def request(self, _signum: int | None = None, _frame: Any = None) -> None:
        """Ask the runs to stop (a signal handler's signature; which signal came is
        :func:`last_stop_signal`'s)."""
        self._event.set()


# The signal that stopped the latest block of catch_stop_signals (None: none did); the command line
# reads it for its exit status (128 + the signal's number), since the runs end as they do for either.
_last_stop_signal: int | None = None


def last_stop_signal() -> int | None:
    """The first signal (SIGINT or SIGTERM) caught by the latest :func:`catch_stop_signals` block of
    this process, or None if none was caught there (or no block ran)."""
    return _last_stop_signal


@contextlib.contextmanager
def catch_stop_signals(flag: StopFlag) -> Iterator[None]:
    """SIGINT and SIGTERM set ``flag`` inside this block instead of raising (main thread only: Python
    delivers signals there); the previous handlers come back afterwards, and :func:`last_stop_signal`
    tells which signal, if any, came."""
    global _last_stop_signal
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _last_stop_signal = None

    def handle(signum: int, frame: Any) -> None:
        global _last_stop_signal
        if _last_stop_signal is None:
            _last_stop_signal = signum
        flag.request(signum, frame)

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def threads_per_run(n: int) -> Iterator[None]:
    """Set the BLAS (and any OpenMP runtime) to ``n`` threads and hold dropout-lab's elementwise
    threads to at most ``n`` per call, inside this block (both process-wide, restored afterwards).

    Every run trains inside such a block with its config's ``threads_per_run``, alone or beside other
    runs: a run's BLAS thread count, and so its numbers, never depends on how many runs share the
    process. (A BLAS built for fewer threads than ``n`` uses as many as it has.)
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=n), limit_threads(n):
        yield


class Run:
    """One run's Solver, trained a few epochs at a time (the scheduler interleaves runs)."""

    def __init__(
        self, solver: Solver, spec: RunSpec, evaluate: Callable[[Solver], dict[str, Any]] | None = None
    ) -> None:
        """``evaluate``: what a complete run measures after training (its test metrics), if anything."""
        self.solver, self.spec, self.evaluate = solver, spec, evaluate
        self.keep_prob, self.seed = spec.keep_prob, spec.seed
        self.status: str = "complete"
        self.message: str | None = None
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
        if self.status == "diverged" and solver.checkpoint_name is not None:
            # A resume trains a diverged run again from the start. A complete run keeps its last
            # checkpoint, from which a resume can give it more epochs (experiments/extend.py).
            Path(f"{solver.checkpoint_name}_latest.npz").unlink(missing_ok=True)
        return self.done

    def result(self) -> RunResult:
        solver = self.solver
        test = self.evaluate(solver) if self.evaluate is not None and self.done and self.status == "complete" else None
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
            settings=dict(self.spec.settings),
            acc_epochs=_acc_epochs(solver),
            stop_epoch=solver.stop_epoch,
            test=test,
            num_val=min(len(solver.y_val), solver.num_val_samples or len(solver.y_val)),  # N of each val accuracy
        )


def _acc_epochs(solver: Solver) -> list[int] | None:
    """The epochs of the accuracy measurements, or None when they are every epoch from 0."""
    epochs = [int(e) for e in solver.acc_epochs]
    return None if epochs == list(range(len(epochs))) else epochs


@dataclass(frozen=True)
class EpochDone:
    """A run finished an epoch (for the progress bar)."""

    spec: RunSpec
    val_acc: float | None  # None: the epoch was not measured (eval_every)


#: Builds (or restores from its checkpoint) the run of a spec.
StartRun = Callable[[RunSpec], Run]


class Scheduler:
    """Train runs on ``workers`` threads, one epoch at a time, round robin over up to ``window`` runs.

    A thread starts a new run while the window has room, else takes the run that has waited longest;
    it trains one epoch and puts the run back at the end of the queue. So the runs in the window
    advance together and the threads run out of work together: 5 runs on 2 threads end after 2.5
    runs' time, where a run per thread leaves one thread idle for the fifth run's whole length.
    Finished epochs, finished runs and a run's exception go to ``done``, which the calling thread reads.
    """

    def __init__(
        self, todo: list[RunSpec], start_run: StartRun, flag: StopFlag, workers: int, window: int
    ) -> None:
        self.start_run, self.flag = start_run, flag
        self.pending = collections.deque(todo)  # not started
        self.ready: collections.deque[Run] = collections.deque()  # started, waiting for their next epoch
        self.window = max(window, workers)  # >= workers: an idle thread always finds work if any is left
        self.active = 0
        self.lock = threading.Lock()
        self.done: queue.Queue[RunResult | EpochDone | BaseException] = queue.Queue()
        # One worker is the calling thread (see drain).
        self.threads = [
            # Each thread runs in a copy of the caller's context, so that a use_kernels() block (a
            # ContextVar) and NumPy's errstate reach the runs, as they do with one worker.
            threading.Thread(
                target=contextvars.copy_context().run, args=(self._work,), name=f"dropout-lab-run-{i}", daemon=True
            )
            for i in range(workers if workers > 1 else 0)
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def alive(self) -> bool:
        return any(thread.is_alive() for thread in self.threads)

    def join(self) -> None:
        for thread in self.threads:
            thread.join()

    def drain(
        self, on_epoch: Callable[[EpochDone], None], on_result: Callable[[RunResult], None]
    ) -> BaseException | None:
        """Train every run and pass what the workers report to ``on_epoch`` and ``on_result`` in this
        thread. Returns the first exception a run raised (it also set the stop flag, so that the other
        runs end as 'interrupted'), or None. An exception in a callback stops the runs and waits for
        them before it is raised.

        One worker is this thread itself, so that a signal (which Python handles in the main thread)
        stops its run at the next step; several are threads of their own, while this one waits for
        their reports and so handles signals promptly.
        """
        failure: BaseException | None = None

        def report(item: RunResult | EpochDone | BaseException) -> None:
            nonlocal failure
            if isinstance(item, BaseException):
                failure = failure or item
            elif isinstance(item, EpochDone):
                on_epoch(item)
            else:
                on_result(item)

        if not self.threads:
            while (next_item := self._next()) is not None:
                self._step(next_item)
                while not self.done.empty():
                    report(self.done.get_nowait())
            return failure
        self.start()
        try:
            while self.alive() or not self.done.empty():
                try:
                    # A timeout, so that the signal handlers run promptly in this thread.
                    report(self.done.get(timeout=0.1))
                except queue.Empty:
                    continue
        finally:
            if self.alive():  # this thread failed (writing results.json, say): stop the runs first
                self.flag.request()
                self.join()
        return failure

    def _next(self) -> Run | RunSpec | None:
        with self.lock:
            # Fill the window first, then go round it.
            if self.pending and not self.flag() and self.active < self.window:
                self.active += 1
                return self.pending.popleft()
            if self.ready:
                return self.ready.popleft()
            return None  # what is left is running in other threads

    def _work(self) -> None:
        """A worker: take runs an epoch at a time until none is left."""
        while (item := self._next()) is not None:
            self._step(item)

    def _step(self, item: Run | RunSpec) -> None:
        """Start ``item`` (a spec) or take it (a run), train it one epoch and report on ``done``."""
        try:
            run = item if isinstance(item, Run) else self.start_run(item)
            epoch = run.solver.epoch
            # After a stop request a started run trains one step, then checkpoints and ends.
            finished = run.advance(1)
            if run.solver.epoch > epoch:
                measured = run.solver.acc_epochs[-1] == run.solver.epoch
                self.done.put(EpochDone(run.spec, run.solver.val_acc_history[-1] if measured else None))
        except BaseException as exc:  # noqa: BLE001 - handed to the calling thread, which raises it
            self.flag.request()
            with self.lock:
                self.active -= 1
            self.done.put(exc)
            return
        if finished:
            with self.lock:
                self.active -= 1
            self.done.put(run.result())
        else:
            with self.lock:
                self.ready.append(run)


def run_all(
    todo: list[RunSpec],
    start_run: StartRun,
    *,
    jobs: int,
    threads: int = 1,
    flag: StopFlag,
    on_epoch: Callable[[EpochDone], None],
    on_result: Callable[[RunResult], None],
) -> BaseException | None:
    """Train every run of ``todo`` on ``min(jobs, len(todo))`` threads, with
    SIGINT and SIGTERM setting ``flag`` meanwhile; see :meth:`Scheduler.drain` for the callbacks and
    what is returned.

    Every run gets ``threads`` BLAS and elementwise threads (:func:`threads_per_run`), whatever
    ``jobs`` is: ``jobs`` changes how many runs train at once, never a run's numbers. With one worker
    the runs train one after another.
    """
    workers = max(1, min(jobs, len(todo)))
    window = 1 if workers == 1 else RUNS_PER_WORKER * workers  # one worker has no loads to balance
    scheduler = Scheduler(todo, start_run, flag, workers, window)
    with catch_stop_signals(flag), threads_per_run(threads):
        return scheduler.drain(on_epoch, on_result)
