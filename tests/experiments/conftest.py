"""Fixtures of the experiment's tests: a real Dask cluster (a scheduler and two workers on 127.0.0.1,
started once per session with Dask's own command-line tools)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import dropout_lab

REPO_ROOT = Path(__file__).resolve().parents[2]
# The folder this session imports dropout_lab from: the workers import the same one (and the tests'
# task functions, from the repository root), whatever is installed in the environment.
SOURCE_ROOT = Path(dropout_lab.__file__).resolve().parents[1]
WORKERS = 2
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class DaskCluster:
    """A running cluster: its scheduler's address (``tcp://127.0.0.1:PORT``), its scheduler file, the
    folder of its processes' logs, and how long it took to start (scheduler up, every worker in)."""

    address: str
    scheduler_file: Path
    logs: Path
    start_s: float


def _log_tails(logs: Path) -> str:
    parts = []
    for log in sorted(logs.glob("*.log")):
        lines = log.read_text(errors="replace").splitlines()[-15:]
        parts.append(f"--- {log.name} (last lines) ---\n" + "\n".join(lines))
    return "\n".join(parts)


def _stop(processes: list[subprocess.Popen[bytes]]) -> list[int]:
    """Terminate, then kill what is left after a timeout; the pids still alive after that."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                pass
    return [p.pid for p in processes if p.poll() is None]


@pytest.fixture(scope="session")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskCluster]:
    """A scheduler (``dask scheduler``, a random free port, no dashboard) and two workers (``dask
    worker --nthreads 1``, no nanny: each worker is the process started here) on 127.0.0.1, run with
    this interpreter; stopped at the end of the session, and no process of theirs is left."""
    from distributed import Client

    folder = tmp_path_factory.mktemp("dask-cluster")
    logs = folder / "logs"
    logs.mkdir()
    scheduler_file = folder / "scheduler.json"
    python_path = [str(SOURCE_ROOT), str(REPO_ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(python_path)}
    local = ["--host", "127.0.0.1", "--no-dashboard", "--scheduler-file", str(scheduler_file)]
    commands = {
        "scheduler": [sys.executable, "-m", "dask", "scheduler", "--port", "0", *local],
        **{
            f"worker{i}": [sys.executable, "-m", "dask", "worker", "--nthreads", "1", "--no-nanny",
                           "--name", f"worker{i}", "--local-directory", str(folder / f"worker{i}"), *local]
            for i in range(WORKERS)
        },
    }  # fmt: skip
    processes: list[subprocess.Popen[bytes]] = []
    start = time.monotonic()
    try:
        for name, command in commands.items():
            with open(logs / f"{name}.log", "wb") as log:
                processes.append(
                    subprocess.Popen(  # noqa: S603 (this interpreter running Dask's own tools)
                        command, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
                    )
                )
        deadline = start + START_TIMEOUT_S
        while not scheduler_file.is_file() or not scheduler_file.stat().st_size:
            exited = [name for name, p in zip(commands, processes, strict=True) if p.poll() is not None]
            if exited or time.monotonic() > deadline:
                pytest.fail(f"the Dask scheduler did not start (exited: {exited})\n{_log_tails(logs)}")
            time.sleep(0.05)
        with Client(scheduler_file=str(scheduler_file), timeout=START_TIMEOUT_S, set_as_default=False) as client:
            try:
                client.wait_for_workers(WORKERS, timeout=max(1.0, deadline - time.monotonic()))
            except (TimeoutError, asyncio.TimeoutError):  # the same class from Python 3.11 on
                pytest.fail(f"{WORKERS} Dask workers did not connect in {START_TIMEOUT_S:g} s\n{_log_tails(logs)}")
            address = client.scheduler.address
        yield DaskCluster(address, scheduler_file, logs, time.monotonic() - start)
    finally:
        left = _stop(processes)
        if left:
            pytest.fail(f"Dask processes {left} were still alive after kill\n{_log_tails(logs)}")
