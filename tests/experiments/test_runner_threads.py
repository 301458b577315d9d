"""Parallel runs share the process: threads train them an epoch at a time, round robin; every run gets
its config's threads_per_run BLAS and elementwise threads whatever --jobs is, the limits are restored
afterwards, and the results are those of the serial runs, bit for bit, also at CIFAR-10's shapes (where
the BLAS splits its sums among its threads)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from dropout_lab import _parallel
from dropout_lab.experiments import ExperimentConfig, run_experiment, run_one, runner, scheduler
from dropout_lab.experiments.grid import RunSpec
from dropout_lab.experiments.results import RunResult


def random_data(num_train: int, num_val: int, dim: int, classes: int) -> dict[str, np.ndarray]:
    """Standard-normal float32 inputs of ``dim`` features and uniform labels, from seed 0."""
    g = np.random.default_rng(0)
    return {
        "X_train": g.standard_normal((num_train, dim)).astype(np.float32),
        "y_train": g.integers(0, classes, num_train),
        "X_val": g.standard_normal((num_val, dim)).astype(np.float32),
        "y_val": g.integers(0, classes, num_val),
    }


def tiny_data() -> dict[str, np.ndarray]:
    return random_data(30, 12, 6, 3)


def starter(config, data, flag):
    """What run_experiment hands the scheduler: a run's Solver built (no checkpoints), stopped by ``flag``."""
    def start_run(spec):
        solver = runner._build_solver(spec, data, None, should_stop=flag)
        return scheduler.Run(solver, spec)
    return start_run


def blas_threads() -> list[int]:
    return [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]


@pytest.mark.parametrize("jobs, threads", [(2, 1), (1, 1), (2, 2)])
def test_every_run_gets_threads_per_run_blas_threads_whatever_jobs_and_the_limits_are_restored(
    monkeypatch, jobs, threads
):
    data = tiny_data()
    config = ExperimentConfig(keep_probs=(1.0, 0.5, 0.25), hidden_dims=(8,), num_train=30, epochs=2,
                              batch_size=10, checkpoint_every=0, threads_per_run=threads)
    # First, so that every library a run loads (numba loads SciPy's BLAS) is loaded before the limits
    # are read.
    serial = [run_one(config, k, 0, data) for k in config.keep_probs]
    seen: list[tuple[str, list[int], int]] = []
    real_advance = scheduler.Run.advance

    def spy(self, epochs=None):
        seen.append((threading.current_thread().name, blas_threads(), _parallel.available_threads()))
        return real_advance(self, epochs)

    monkeypatch.setattr(scheduler.Run, "advance", spy)
    monkeypatch.setattr(_parallel.os, "sched_getaffinity", lambda pid: set(range(4)), raising=False)  # 4 cores
    for name in _parallel._THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    with threadpool_limits(limits=3):  # what the process had: neither 1 nor threads_per_run
        before = (blas_threads(), _parallel._limit)
        parallel = run_experiment(config, data=data, jobs=jobs, progress=False)
        assert (blas_threads(), _parallel._limit) == before
    assert len(seen) == 3 * config.epochs  # one call per epoch of each run
    for name, blas, elementwise in seen:
        if jobs > 1:
            assert name.startswith("dropout-lab-run")
        assert blas and all(n == threads for n in blas) and elementwise == threads
    by_keep = {r.keep_prob: r for r in parallel.runs}
    for expected in serial:
        got = by_keep[expected.keep_prob]
        assert got.loss_history == expected.loss_history
        assert got.val_acc_history == expected.val_acc_history


def test_limit_threads_caps_and_restores():
    with _parallel.limit_threads(1):
        assert _parallel.available_threads() == 1
        with _parallel.limit_threads(3):
            assert _parallel.available_threads() <= 3
        assert _parallel.available_threads() == 1
    assert _parallel._limit is None


def test_a_failing_run_stops_the_others_and_is_raised(monkeypatch):
    data = tiny_data()
    config = ExperimentConfig(keep_probs=(1.0, 0.5, 0.25, 0.75), hidden_dims=(8,), num_train=30, epochs=3,
                              batch_size=10, checkpoint_every=0)
    real_advance = scheduler.Run.advance

    def failing(self, epochs=None):
        if self.keep_prob == 0.5 and self.solver.epoch == 1:
            raise RuntimeError("boom")
        return real_advance(self, epochs)

    monkeypatch.setattr(scheduler.Run, "advance", failing)
    with pytest.raises(RuntimeError, match="boom"):
        run_experiment(config, data=data, jobs=2, progress=False)


def test_runs_advance_round_robin_within_the_window(monkeypatch):
    """One thread, so that the order is deterministic: strict round robin over a window of 3 runs, and
    the fourth run starts only when one of the first three has finished."""
    data = tiny_data()
    config = ExperimentConfig(keep_probs=(1.0, 0.9, 0.75, 0.5), hidden_dims=(8,), num_train=30,
                              epochs=3, batch_size=10, checkpoint_every=0)
    serial = {k: run_one(config, k, 0, data) for k in config.keep_probs}
    order: list[tuple[float, int]] = []
    real_advance = scheduler.Run.advance

    def spy(self, epochs=None):
        assert epochs == 1
        order.append((self.keep_prob, self.solver.epoch))
        return real_advance(self, epochs)

    monkeypatch.setattr(scheduler.Run, "advance", spy)
    todo = [RunSpec(config, k, 0) for k in config.keep_probs]
    pool = scheduler.Scheduler(todo, starter(config, data, None), scheduler.StopFlag(), workers=1, window=3)
    pool._work()  # in this thread
    assert order == [
        (1.0, 0), (0.9, 0), (0.75, 0), (1.0, 1), (0.9, 1), (0.75, 1), (1.0, 2), (0.5, 0), (0.9, 2),
        (0.75, 2), (0.5, 1), (0.5, 2),
    ]
    items = [pool.done.get_nowait() for _ in range(4 * 3 + 4)]
    epochs = [(i.spec.keep_prob, i.val_acc) for i in items if isinstance(i, scheduler.EpochDone)]
    results = [i for i in items if isinstance(i, RunResult)]
    assert [r.keep_prob for r in results] == [1.0, 0.9, 0.75, 0.5]
    assert [k for k, _ in epochs] == [k for k, _ in order]  # one progress event per epoch, in order
    for r in results:
        assert [v for k, v in epochs if k == r.keep_prob] == r.val_acc_history[1:]
    for r in results:
        assert r.loss_history == serial[r.keep_prob].loss_history
        assert r.train_acc_history == serial[r.keep_prob].train_acc_history


def test_a_stop_request_ends_started_runs_as_interrupted_and_starts_no_more():
    data = tiny_data()
    config = ExperimentConfig(keep_probs=(1.0, 0.9, 0.75), hidden_dims=(8,), num_train=30,
                              epochs=3, batch_size=10, checkpoint_every=0)
    flag = scheduler.StopFlag()
    pool = scheduler.Scheduler([RunSpec(config, k, 0) for k in config.keep_probs], starter(config, data, flag), flag,
                               workers=1, window=2)
    first = pool._next()
    assert isinstance(first, RunSpec)
    run = pool.start_run(first)
    assert run.advance(1) is False
    pool.ready.append(run)
    flag.request()
    pool._work()
    result = pool.done.get_nowait()
    assert isinstance(result, RunResult)
    assert result.status == "interrupted" and result.keep_prob == 1.0
    assert len(result.loss_history) == 3 + 1  # one more step after the request, then the checkpoint
    assert pool.done.empty() and [(s.keep_prob, s.seed) for s in pool.pending] == [(0.9, 0), (0.75, 0)]


def test_a_failure_in_the_calling_thread_stops_the_runs_before_it_is_raised(tmp_path, monkeypatch):
    data = tiny_data()
    config = ExperimentConfig(keep_probs=(1.0, 0.5, 0.25), hidden_dims=(8,), num_train=30, epochs=200,
                              batch_size=10, checkpoint_every=0)
    def failing_append(journal, run):  # the journal takes each finished run: fail at the first
        raise OSError("disk full")

    monkeypatch.setattr(runner.RunJournal, "append", failing_append)
    before = threading.active_count()
    monkeypatch.setattr(scheduler.Run, "advance", _finish_first_run(scheduler.Run.advance))
    with pytest.raises(OSError, match="disk full"):
        run_experiment(config, out_dir=tmp_path, data=data, jobs=2, progress=False)
    assert threading.active_count() == before  # no run left training in the background


def _finish_first_run(real_advance):
    """keep 1.0 trains to its end at once; the others an epoch at a time."""
    def advance(self, epochs=None):
        return real_advance(self, None if self.keep_prob == 1.0 else epochs)
    return advance


def test_serial_is_the_scheduler_with_one_worker_the_calling_thread(monkeypatch):
    """jobs=1: the same epoch-by-epoch scheduler, one run at a time in order, on the calling thread
    (where Python handles signals), with no thread limits."""
    data = tiny_data()
    config = ExperimentConfig(keep_probs=(1.0, 0.5), hidden_dims=(8,), num_train=30, epochs=2, batch_size=10,
                              checkpoint_every=0)
    calls: list[tuple[str, float, int, int | None]] = []
    real_advance = scheduler.Run.advance

    def spy(self, epochs=None):
        calls.append((threading.current_thread().name, self.keep_prob, self.solver.epoch, epochs))
        return real_advance(self, epochs)

    monkeypatch.setattr(scheduler.Run, "advance", spy)
    before = threading.active_count()
    run_experiment(config, data=data, jobs=1, progress=False)
    assert threading.active_count() == before
    main = threading.main_thread().name
    assert calls == [(main, 1.0, 0, 1), (main, 1.0, 1, 1), (main, 0.5, 0, 1), (main, 0.5, 1, 1)]


# ------------------------------------------------------------------------- CIFAR-10's shapes, for real
def cifar_shaped_data() -> dict[str, np.ndarray]:
    """Random images of CIFAR-10's size: the products (100, 3072) @ (3072, 500), their gradients and
    the scoring batches are large enough for the BLAS to split their sums among threads."""
    return random_data(200, 100, 3072, 10)


def test_openblas_sums_depend_on_its_thread_count_at_cifar_shapes():
    """Why threads_per_run exists: (100, 3072) @ (3072, 500), a training step's forward product, comes
    out differently in the last bit with 1 and 2 BLAS threads (where the BLAS is OpenBLAS; others may
    split their sums alike)."""
    blas = [info["internal_api"] for info in threadpool_info() if info["user_api"] == "blas"]
    assert "openblas" in blas, f"NumPy's wheels bring OpenBLAS; this NumPy uses {blas}"
    g = np.random.default_rng(0)
    x = g.standard_normal((100, 3072)).astype(np.float32)
    w = (g.standard_normal((3072, 500)) * 1e-2).astype(np.float32)
    products = []
    for threads in (1, 2):
        with threadpool_limits(limits=threads, user_api="blas"):
            products.append(x @ w)
    assert not np.array_equal(*products)


def test_the_same_seed_gives_the_same_numbers_whatever_jobs_at_cifar_shapes():
    """Four runs (keep 1 and 0.5, two seeds) of a 3,072-500-10 net, serial and on two threads, from a
    process whose BLAS has 2 threads (as on any machine of 2 or more cores): every history is the
    same, bit for bit, and results.json's versions name the BLAS and its kernel."""
    data = cifar_shaped_data()
    config = ExperimentConfig(keep_probs=(1.0, 0.5), seeds=(0, 1), num_train=200, epochs=2, checkpoint_every=0)
    with threadpool_limits(limits=2, user_api="blas"):
        by_jobs = {jobs: run_experiment(config, data=data, jobs=jobs, progress=False) for jobs in (1, 2)}
    histories = {
        jobs: {(r.keep_prob, r.seed): (r.loss_history, r.train_acc_history, r.val_acc_history) for r in res.runs}
        for jobs, res in by_jobs.items()
    }
    assert len(histories[1]) == 4
    assert histories[1] == histories[2]
    versions = by_jobs[1].to_dict()["versions"]
    assert versions["blas"] != "" and versions["blas_kernel"] != ""
    assert by_jobs[1].to_dict()["config"]["threads_per_run"] == 1
