"""Running an experiment's runs on a Dask distributed cluster (``dask scheduler`` and ``dask worker``
processes on one machine or many) instead of on this process's threads.

Each run is one task: it trains on a worker and returns its :class:`~.results.RunResult`, which comes
back to the calling process; that process alone writes the experiment's files (``results.json``,
``runs.jsonl``). Checkpoints are written by the workers, so their folder must be one that the workers
share (and that the calling process can read, for a resume).

Stopping: the calling process polls its :class:`~.scheduler.StopFlag` (set by SIGINT or SIGTERM) while
it waits. Once the flag is set, or a run failed, it sets a ``distributed.Event`` that every running
run's ``should_stop`` reads (at most every :data:`STOP_POLL_S` seconds: one round trip to the
scheduler each time), cancels the runs no worker has been handed yet, and waits for the running ones,
which checkpoint and return 'interrupted' results. A run that a worker starts after the Event is set
returns None without training, and is not reported.

If the calling process is killed outright (SIGKILL, a lost login), nobody sets the Event: the runs that
are training go on to their end, and their results are lost with the caller (the scheduler forgets
them). A run's ``should_stop`` turns True (so that it checkpoints and ends) only when its worker is
shutting down or the scheduler can no longer be reached. Stop such leftover runs (restart or stop the
workers) before resuming the experiment, so that two processes never train the same run at once.

Workers: a worker process trains one run at a time (the BLAS and elementwise thread limits that a run
sets, ``threads_per_run``, are process-wide), so start workers with ``--nthreads 1`` and as many
processes (``--nworkers``) as the cores hold runs of ``threads_per_run`` threads. A run that raised is
not run again (no retries); a run whose worker died is started again elsewhere by the scheduler (up to
its ``distributed.scheduler.allowed-failures`` times) and continues from its latest checkpoint.

``distributed`` is imported by the functions of this module only, never by ``import dropout_lab``.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from .._validation import check_positive_real
from ..errors import InvalidArgumentError, InvalidTypeError
from .results import RunResult
from .scheduler import StopFlag

__all__ = ["DEFAULT_CONNECT_TIMEOUT", "STOP_POLL_S", "run_on_dask"]

T = TypeVar("T")
# distributed's API is typed in part only (Client.close, Future.done, Event.is_set are not): its
# objects are Any here, as the module itself is (imported where it is used).
Client = Any
Future = Any

#: Seconds to wait for the scheduler to answer before the address is given up as unreachable.
DEFAULT_CONNECT_TIMEOUT = 10.0
#: A run asks the scheduler whether to stop at most this often (its ``should_stop`` is called after
#: every training iteration; a round trip each time would slow the small nets down).
STOP_POLL_S = 0.5
# How long the calling thread waits for a finished run before it looks at the stop flag again (short,
# so that a signal is acted on promptly).
_WAIT_S = 0.1
# Worker states in which a run goes on training (a paused worker still runs its tasks).
_WORKING = ("running", "paused")
# One run at a time in a worker process: a run's BLAS and elementwise thread limits are process-wide
# (scheduler.threads_per_run), and a run that ends restores the limits it found, under another run
# that may still be training, whose numbers would then depend on the worker's --nthreads.
_ONE_RUN = threading.Lock()


def run_on_dask(
    items: Sequence[T],
    task: Callable[[T, Callable[[], bool]], RunResult | None],
    *,
    address: str,
    flag: StopFlag,
    on_result: Callable[[RunResult], None],
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
) -> BaseException | None:
    """Train one run per item of ``items`` on the Dask cluster at ``address``, each as its own task
    ``task(item, should_stop)``, and pass each run's result to ``on_result`` in this thread as it comes.

    Args:
        items: one picklable item per run (its ``name`` attribute, if it has one, names its task on the
            cluster's dashboard).
        task: a picklable function (module-level, or a ``functools.partial`` of one): trains the run of
            ``item`` on a worker and returns its RunResult, 'interrupted' (after a checkpoint) once
            ``should_stop()`` is True. It is pickled with every run, so it should hold settings, not
            data: a run loads its data on the worker.
        address: the scheduler, ``tcp://HOST:PORT`` (or anything ``distributed.Client`` takes as an
            address), or the path of an existing scheduler file (``dask scheduler --scheduler-file``).
        flag: the stop flag, set by SIGINT or SIGTERM (the caller's :func:`~.scheduler.catch_stop_signals`).
        on_result: called once per run that trained (complete, diverged or interrupted).
        connect_timeout: seconds to wait for the scheduler to answer.

    Returns:
        the first exception a run raised (of its own type, with the worker's traceback), after the other
        runs were stopped and the running ones reported as 'interrupted'; None if none raised. An
        exception in ``on_result`` stops the runs too, waits for the running ones, then is raised.

    Raises:
        InvalidArgumentError: ``distributed`` is not installed, or no scheduler answers at ``address``
            within ``connect_timeout`` (both before any run starts).
    """
    if not isinstance(address, str):
        raise InvalidTypeError(f"address must be a string such as 'tcp://host:8786', got {type(address).__name__}")
    if not address.strip():
        raise InvalidArgumentError("address must name a Dask scheduler, such as 'tcp://host:8786', got ''")
    connect_timeout = check_positive_real("connect_timeout", connect_timeout)
    items = list(items)
    dask = _import_distributed(address)
    client = _connect(dask, address, connect_timeout)
    try:
        return _Session(dask, client, flag).run(items, task, on_result)
    finally:
        client.close()


def check_reachable(address: str, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT) -> None:
    """Refuse (InvalidArgumentError, one line naming ``address``) a scheduler that does not answer, or a
    machine without ``distributed``: what :func:`run_on_dask` would refuse, checked before an experiment
    makes its folder."""
    if not isinstance(address, str) or not address.strip():
        raise InvalidArgumentError(f"address must name a Dask scheduler, such as 'tcp://host:8786', got {address!r}")
    _connect(_import_distributed(address), address, check_positive_real("connect_timeout", connect_timeout)).close()


def _import_distributed(address: str) -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise InvalidArgumentError(
            f"running on the Dask scheduler {address!r} needs the distributed package, which is not "
            f"installed: pip install 'dropout-lab[dask]' ({exc})"
        ) from exc
    return distributed


def _connect(dask: Any, address: str, timeout: float) -> Client:
    """A client of the scheduler at ``address`` (a scheduler file if it names an existing file)."""
    where = {"scheduler_file": address} if "://" not in address and Path(address).is_file() else {"address": address}
    import asyncio

    try:
        client: Client = dask.Client(**where, timeout=timeout, set_as_default=False)
    # OSError: refused or timed out (asyncio's TimeoutError is another class before Python 3.11);
    # ValueError and TypeError: a malformed address or scheduler file.
    except (OSError, asyncio.TimeoutError, ValueError, TypeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidArgumentError(
            f"the Dask scheduler {address!r} cannot be reached within {timeout:g} s: {reason}"
        ) from exc
    return client


class _Session:
    """One call's tasks: submits them, collects their results, and stops them."""

    def __init__(self, dask: Any, client: Client, flag: StopFlag) -> None:
        self.dask, self.client, self.flag = dask, client, flag
        self.token = uuid.uuid4().hex[:12]
        # Named after this call, so that two experiments on one cluster never stop each other's runs.
        self.event = dask.Event(f"dropout-lab-stop-{self.token}", client=client)
        self.stopping = False

    def run(
        self,
        items: list[T],
        task: Callable[[T, Callable[[], bool]], RunResult | None],
        on_result: Callable[[RunResult], None],
    ) -> BaseException | None:
        pending: dict[str, Future] = {}
        if self.flag():  # stopped already: no run starts
            return None
        for i, item in enumerate(items):
            key = f"dropout-lab-{_label(item, i)}-{self.token}"
            # pure=False: each run is a new computation; retries=0: a run that raised is not run again.
            pending[key] = self.client.submit(
                run_task, task, item, self.event.name, key=key, pure=False, retries=0
            )
        failure: BaseException | None = None
        ours: set[str] = set()  # the keys cancelled here (any other cancellation is a failure)
        try:
            finished = self.dask.as_completed(list(pending.values()), loop=self.client.loop)
            while not finished.is_empty():
                batch = finished.next_batch(block=False)
                for future in batch:
                    del pending[future.key]
                    if future.status == "finished":
                        try:
                            result = future.result()
                        except Exception as exc:  # noqa: BLE001 - its result was lost or cannot be read here
                            failure = failure or exc
                            continue
                        if result is not None:
                            on_result(result)
                    elif future.key not in ours:
                        failure = failure or _exception_of(future)
                if not self.stopping and (failure is not None or self.flag()):
                    ours |= self.stop(pending)
                if not batch:
                    time.sleep(_WAIT_S)
        except BaseException:
            # on_result failed (or a second Ctrl-C): stop the runs and let the running ones end
            # before the exception goes on, so that no run still writes after this call.
            if not self.stopping:
                self.stop(pending)
            while not all(future.done() for future in pending.values()):
                time.sleep(_WAIT_S)
            raise
        finally:
            if all(future.done() for future in pending.values()):  # else the Event still stops the runs
                # The scheduler forgets an Event that is cleared; if it is gone, the client closes next anyway.
                with contextlib.suppress(Exception):
                    self.event.clear()
        return failure

    def stop(self, pending: dict[str, Future]) -> set[str]:
        """Tell the running runs to stop and cancel the runs no worker holds; the keys cancelled."""
        self.stopping = True
        self.event.set()
        # From here on a run that starts returns at once, so cancelling one that a worker started
        # after the look below loses nothing; a run that trains is in the look, and is waited for.
        held = {key for keys in self.client.processing().values() for key in keys}
        cancel = {key: future for key, future in pending.items() if key not in held and not future.done()}
        if cancel:
            self.client.cancel(list(cancel.values()))
        return set(cancel)


def _label(item: Any, index: int) -> str:
    name = getattr(item, "name", None)
    return f"{index}-{name}" if isinstance(name, str) and name else str(index)


def _exception_of(future: Future) -> BaseException:
    """The exception a failed (or cancelled) task's result raises, with the worker's traceback."""
    try:
        future.result()
    except BaseException as exc:  # noqa: BLE001 - handed to the caller, which raises it
        return exc
    return RuntimeError(f"the Dask task {future.key} ended as {future.status!r} without an exception")


def run_task(
    task: Callable[[T, Callable[[], bool]], RunResult | None], item: T, event_name: str
) -> RunResult | None:
    """What a worker runs: ``task(item, should_stop)``, unless the stop Event is set by the time the
    run may start (None). A worker process trains one run at a time, whatever its number of threads:
    start workers with ``--nthreads 1`` (and as many as the cores allow, ``--nworkers``)."""
    should_stop = StopPoller(event_name)
    with _ONE_RUN:
        if should_stop.look():
            return None
        return task(item, should_stop)


class StopPoller:
    """A run's ``should_stop`` on a worker: True once the Event named ``event_name`` is set, the worker
    is shutting down, or the scheduler cannot be reached (the run checkpoints and ends). It asks the
    scheduler at most every ``interval`` seconds and answers from the last look in between."""

    def __init__(self, event_name: str, interval: float = STOP_POLL_S) -> None:
        self.event_name, self.interval = event_name, interval
        self._event: Any = None  # a distributed.Event, made on the first look
        self._next_look = 0.0
        self._stop = False

    def __call__(self) -> bool:
        if not self._stop and time.monotonic() >= self._next_look:
            self.look()
        return self._stop

    def look(self) -> bool:
        """Ask now."""
        self._next_look = time.monotonic() + self.interval
        try:
            import distributed

            dask: Any = distributed  # typed in part only, as above
            if dask.get_worker().status.value not in _WORKING:
                self._stop = True
            else:
                if self._event is None:
                    self._event = dask.Event(self.event_name)
                self._stop = bool(self._event.is_set())
        except Exception:  # noqa: BLE001 - no scheduler to ask (gone, or not on a worker): stop safely
            self._stop = True
        return self._stop
