"""Runs on a Dask cluster (experiments/distributed.py), against a real scheduler and two workers
(the ``dask_cluster`` fixture): results equal the local ones, come back once each in the calling
thread, a failure or the stop flag stops the running runs (which checkpoint and report 'interrupted')
and the queued ones never start; a missing package or an unreachable scheduler fails before any run,
and ``import dropout_lab`` imports no Dask."""

from __future__ import annotations

import dataclasses
import functools
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from dropout_lab.errors import InvalidArgumentError
from dropout_lab.experiments import ExperimentConfig, RunResult, load_experiment_data, run_one
from dropout_lab.experiments import distributed as dd
from dropout_lab.experiments.scheduler import StopFlag

# A run long enough to be stopped midway (the tests stop it within seconds): 4 steps an epoch.
LONG = 20_000


class Boom(ValueError):
    """A run's own exception type, which must come back as it is."""


@dataclass(frozen=True)
class Item:
    """One run of the tests: a tiny net on the embedded digits."""

    name: str
    keep_prob: float
    seed: int = 0
    epochs: int = 2
    folder: str | None = None  # the run writes NAME.started there when it starts; checkpoints go there too
    fail_after: str | None = None  # raise Boom once FOLDER/THIS.started exists


def config_of(item: Item) -> ExperimentConfig:
    return ExperimentConfig(
        keep_probs=(item.keep_prob,), seeds=(item.seed,), hidden_dims=(16,), num_train=100, epochs=item.epochs,
        batch_size=25, checkpoint_every=1 if item.folder else 0,
    )  # fmt: skip


def train(item: Item, should_stop) -> RunResult:
    """The task: what the runner's task does, on a small scale (run_one on the embedded digits)."""
    folder = Path(item.folder) if item.folder else None
    if folder is not None:
        (folder / f"{item.name}.started").touch()
    if item.fail_after is not None:
        assert folder is not None
        deadline = time.monotonic() + 60
        while not (folder / f"{item.fail_after}.started").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        raise Boom(f"run {item.name} failed on purpose")
    config = config_of(item)
    return run_one(config, item.keep_prob, item.seed, load_experiment_data(config),
                   checkpoint_dir=folder, should_stop=should_stop)  # fmt: skip


def collect(items, address, flag=None, task=train, **kwargs):
    """run_on_dask's return value, the results passed to on_result and the threads that passed them."""
    results: list[RunResult] = []
    threads: list[int] = []

    def on_result(run: RunResult) -> None:
        results.append(run)
        threads.append(threading.get_ident())

    failure = dd.run_on_dask(items, task, address=address, flag=flag or StopFlag(), on_result=on_result, **kwargs)
    return failure, results, threads


def without_wall(run: RunResult) -> RunResult:
    return dataclasses.replace(run, wall_s=0.0)


def nothing_running(cluster) -> bool:
    from distributed import Client

    with Client(cluster.address, set_as_default=False) as client:
        return not any(client.processing().values())


def test_the_cluster_started(dask_cluster):
    print(f"Dask cluster started in {dask_cluster.start_s:.2f} s at {dask_cluster.address}")
    assert dask_cluster.address.startswith("tcp://127.0.0.1:")


def test_results_equal_the_local_ones_and_come_once_each_in_the_calling_thread(dask_cluster):
    items = [Item(f"keep{k}_seed{s}", k, s) for k in (1.0, 0.5) for s in (0, 1)]
    local = {item.name: without_wall(train(item, lambda: False)) for item in items}
    # The scheduler file as the address (what a job script on a shared file system passes).
    failure, results, threads = collect(items, str(dask_cluster.scheduler_file))
    assert failure is None
    assert set(threads) == {threading.get_ident()}
    assert sorted((r.keep_prob, r.seed) for r in results) == sorted((i.keep_prob, i.seed) for i in items)
    by_pair = {(r.keep_prob, r.seed): without_wall(r) for r in results}
    for item in items:
        assert by_pair[(item.keep_prob, item.seed)] == local[item.name]  # bit for bit, status 'complete'
        assert by_pair[(item.keep_prob, item.seed)].status == "complete"


def test_a_partial_of_a_function_is_a_task(dask_cluster):
    items = [Item("a", 1.0, 3, epochs=1)]
    task = functools.partial(train)
    failure, results, _ = collect(items, dask_cluster.address, task=task)
    assert failure is None and [r.seed for r in results] == [3]


def test_the_stop_flag_interrupts_the_running_runs_and_the_queued_ones_never_start(
    dask_cluster, tmp_path, monkeypatch
):
    # 6 runs on 2 workers of one thread: 2 train, the scheduler hands each worker one more (its
    # default worker-saturation), and keeps the rest, which the stop cancels.
    items = [Item(f"run{i}", 0.5, i, epochs=LONG, folder=str(tmp_path)) for i in range(6)]
    flag = StopFlag()
    cancelled: list[set[str]] = []
    real_stop = dd._Session.stop

    def spy(self, pending):
        cancelled.append(real_stop(self, pending))
        return cancelled[-1]

    monkeypatch.setattr(dd._Session, "stop", spy)

    def stop_when_two_train() -> None:
        deadline = time.monotonic() + 60
        while len(list(tmp_path.glob("*.started"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)  # a few iterations in
        flag.request()

    stopper = threading.Thread(target=stop_when_two_train)
    stopper.start()
    start = time.monotonic()
    failure, results, threads = collect(items, dask_cluster.address, flag=flag)
    took = time.monotonic() - start
    stopper.join()
    started = sorted(p.name.removesuffix(".started") for p in tmp_path.glob("*.started"))
    assert failure is None
    assert started == sorted(f"run{r.seed}" for r in results)  # every run that started reported, once
    assert len(results) == 2, started  # one per worker: the others never started
    assert set(threads) == {threading.get_ident()}
    for run in results:
        assert run.status == "interrupted" and "resumable" in (run.message or "")
        assert 0 < len(run.loss_history) < LONG * 4
        assert (tmp_path / f"keep0.5_seed{run.seed}_latest.npz").is_file()  # checkpointed before it returned
    assert len(cancelled) == 1 and cancelled[0]  # stopped once; the runs the scheduler kept were cancelled
    assert nothing_running(dask_cluster)  # no run goes on after the call
    assert took < 30


def test_a_flag_set_before_the_call_trains_no_run(dask_cluster, tmp_path):
    flag = StopFlag()
    flag.request()
    items = [Item(f"run{i}", 0.5, i, epochs=LONG, folder=str(tmp_path)) for i in range(3)]
    failure, results, _ = collect(items, dask_cluster.address, flag=flag)
    assert failure is None and results == []
    assert list(tmp_path.glob("*.started")) == []
    assert nothing_running(dask_cluster)


def test_a_failed_run_is_returned_with_its_type_and_the_others_are_stopped(dask_cluster, tmp_path):
    folder = str(tmp_path)
    items = [
        Item("long", 0.5, 0, epochs=LONG, folder=folder),
        Item("fails", 0.5, 1, folder=folder, fail_after="long"),
        Item("queued", 0.5, 2, epochs=LONG, folder=folder),
    ]
    start = time.monotonic()
    failure, results, _ = collect(items, dask_cluster.address)
    assert isinstance(failure, Boom) and str(failure) == "run fails failed on purpose"
    assert failure.__traceback__ is not None  # the worker's, for the command line's report
    assert 0 in [r.seed for r in results]
    for run in results:  # 'queued' may have started before the stop reached the scheduler: it stopped too
        assert run.status == "interrupted"
    assert nothing_running(dask_cluster)
    assert time.monotonic() - start < 30


def test_an_exception_in_on_result_stops_the_runs_and_is_raised(dask_cluster, tmp_path):
    items = [Item("short", 1.0, 0, epochs=1)] + [
        Item(f"long{i}", 0.5, i, epochs=LONG, folder=str(tmp_path)) for i in (1, 2)
    ]

    def on_result(run: RunResult) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        dd.run_on_dask(items, train, address=dask_cluster.address, flag=StopFlag(), on_result=on_result)
    assert nothing_running(dask_cluster)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_scheduler_fails_fast_naming_it():
    address = f"tcp://127.0.0.1:{free_port()}"  # nothing listens there
    calls = []
    start = time.monotonic()
    with pytest.raises(InvalidArgumentError) as raised:
        dd.run_on_dask([Item("a", 1.0)], train, address=address, flag=StopFlag(), on_result=calls.append,
                       connect_timeout=1.0)  # fmt: skip
    assert time.monotonic() - start < 5
    message = str(raised.value)
    assert address in message and "\n" not in message
    assert calls == []


@pytest.mark.parametrize("address", ["", "   "])
def test_an_empty_address_is_refused(address):
    with pytest.raises(InvalidArgumentError, match="address"):
        dd.run_on_dask([], train, address=address, flag=StopFlag(), on_result=print)


@pytest.mark.parametrize("timeout", [0, -1.0, float("nan")])
def test_a_connect_timeout_that_cannot_work_is_refused(timeout):
    with pytest.raises(InvalidArgumentError, match="connect_timeout"):
        dd.run_on_dask([], train, address="tcp://127.0.0.1:8786", flag=StopFlag(), on_result=print,
                       connect_timeout=timeout)  # fmt: skip


def test_without_distributed_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed now raises ImportError
    with pytest.raises(InvalidArgumentError, match=r"pip install 'dropout-lab\[dask\]'") as raised:
        dd.run_on_dask([Item("a", 1.0)], train, address="tcp://127.0.0.1:8786", flag=StopFlag(), on_result=print)
    assert "tcp://127.0.0.1:8786" in str(raised.value)


def test_importing_the_package_imports_no_dask(run_python):
    run_python(
        "import sys\n"
        "import dropout_lab, dropout_lab.experiments, dropout_lab.experiments.distributed\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')]\n"
        "assert not loaded, loaded\n"
    )


class FakeEvent:
    looks = 0

    def __init__(self, name: str) -> None:
        self.name = name

    def is_set(self) -> bool:
        FakeEvent.looks += 1
        return False


def test_should_stop_asks_the_scheduler_at_most_every_interval(monkeypatch):
    import distributed
    from distributed.core import Status

    class Worker:
        status = Status.running

    monkeypatch.setattr(distributed, "get_worker", lambda: Worker)
    monkeypatch.setattr(distributed, "Event", FakeEvent)
    FakeEvent.looks = 0
    poller = dd.StopPoller("x", interval=0.2)
    start = time.monotonic()
    calls = 0
    while time.monotonic() - start < 0.5:
        assert poller() is False
        calls += 1
    assert calls > 100 and 2 <= FakeEvent.looks <= 4  # at 0, 0.2, 0.4 s (and not a look per call)
    Worker.status = Status.closing  # the worker shuts down: stop, and stay stopped
    time.sleep(0.2)
    assert poller() is True and poller() is True


def test_a_worker_process_trains_one_run_at_a_time_whatever_its_threads(monkeypatch):
    monkeypatch.setattr(dd.StopPoller, "look", lambda self: False)
    running, most = [], []
    lock = threading.Lock()

    def task(item, should_stop):
        with lock:
            running.append(item)
            most.append(len(running))
        time.sleep(0.05)
        with lock:
            running.remove(item)

    threads = [threading.Thread(target=dd.run_task, args=(task, i, "x")) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most == [1, 1, 1]


def test_a_run_that_may_start_after_the_stop_returns_none_without_training(monkeypatch):
    monkeypatch.setattr(dd.StopPoller, "look", lambda self: True)
    assert dd.run_task(lambda item, should_stop: pytest.fail("trained"), 0, "x") is None


def test_should_stop_is_true_where_the_scheduler_cannot_be_asked():
    assert dd.StopPoller("x")() is True  # not on a worker: no scheduler to ask
