"""Running measured programs in child processes, and summarising what they report."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")
# OpenBLAS tuning overrides that some machines set globally; they can pick slow kernels. They are
# removed in the benchmark's own child processes only, and reported.
OPENBLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_VERBOSE")


class WorkerError(RuntimeError):
    """A measured child process failed; the message holds the end of its output."""


@dataclass
class WorkerResult:
    """What one child process reported, with its peak resident set (largest of it and its waited-for
    children, as the kernel reports it through wait4)."""

    values: dict[str, Any]
    peak_rss_mib: float
    wall_s: float


def child_env(threads: int, src: str | None = None) -> dict[str, str]:
    """The environment of a measured child: ``threads`` for every BLAS and OpenMP pool, OpenBLAS
    overrides removed, and dropout-lab imported from ``src`` (default: this checkout's ``src``)."""
    env = dict(os.environ)
    for name in THREAD_VARIABLES:
        env[name] = str(threads)
    for name in OPENBLAS_OVERRIDES:
        env.pop(name, None)
    src = str(REPO_ROOT / "src") if src is None else str(Path(src).resolve())
    env["PYTHONPATH"] = os.pathsep.join([src, str(REPO_ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def run_worker(task: str, args: dict[str, Any], *, threads: int, src: str | None = None) -> WorkerResult:
    """Run ``python -m benchmarks._worker task`` with ``args`` and return what it wrote; ``src``: the
    folder dropout-lab is imported from (another version, to compare with)."""
    with tempfile.TemporaryDirectory(prefix="dropout-lab-bench-") as tmp, tempfile.TemporaryFile() as log:
        # The worker writes its result with dropout-lab's atomic writer; its output goes to an
        # anonymous temporary file, read back only to report a failure.
        result_path = Path(tmp) / "result.json"
        command = [sys.executable, "-m", "benchmarks._worker", task, json.dumps(args), str(result_path)]
        start = time.perf_counter()
        process = subprocess.Popen(  # noqa: S603 (argv built here: this interpreter, our module, JSON of our args; no shell)
            command, stdout=log, stderr=subprocess.STDOUT, env=child_env(threads, src), cwd=REPO_ROOT
        )
        try:
            # wait4 reaps the child and returns its own resource usage (not that of earlier children).
            _, status, usage = os.wait4(process.pid, 0)
        except BaseException:
            process.kill()
            process.wait()
            raise
        process.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - start
        log.seek(0)
        output = log.read().decode(errors="replace")
        if process.returncode != 0 or not result_path.exists():
            raise WorkerError(f"benchmark task {task} failed (exit {process.returncode}):\n{output[-4000:]}")
        values = json.loads(result_path.read_text())
    # ru_maxrss is in KiB on Linux.
    return WorkerResult(values=values, peak_rss_mib=usage.ru_maxrss / 1024, wall_s=wall)


def torch_available() -> str | None:
    """PyTorch's version if it can be imported in a child process, else None."""
    probe = subprocess.run(
        [sys.executable, "-c", "import torch; print(torch.__version__)"],
        capture_output=True, text=True, env=child_env(1), cwd=REPO_ROOT,
    )
    return probe.stdout.strip() if probe.returncode == 0 else None


# ------------------------------------------------------------------------------------------ statistics
def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def spread(values: Sequence[float]) -> str:
    """``min-max`` as a percentage around the median, to show how noisy a figure is."""
    if len(values) < 2:
        return "n=1"
    m = median(values)
    return f"±{100 * (max(values) - min(values)) / 2 / m:.0f}% (n={len(values)})"


def ab_order(reps: int) -> list[tuple[int, bool]]:
    """Repetition index and whether A goes first: A B, B A, A B, ... so that drifts cancel."""
    return [(i, i % 2 == 0) for i in range(reps)]


# ------------------------------------------------------------------------------------------ machine
def machine_info(threads: int) -> dict[str, str]:
    import numpy as np

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    blas = "unknown"
    try:
        config = np.show_config(mode="dicts")
        info = config["Build Dependencies"]["blas"]
        blas = f"{info.get('name')} {info.get('version')}"
    except (TypeError, KeyError, AttributeError):
        pass  # show_config's signature (its mode argument) and layout differ between NumPy versions
    overrides = {k: os.environ[k] for k in OPENBLAS_OVERRIDES if k in os.environ}
    return {
        "cpu": f"{cpu}, {os.cpu_count()} logical cores",
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "numpy": f"{np.__version__} ({blas})",
        "threads": str(threads),
        "openblas_overrides": (
            "removed in the benchmark's child processes: " + ", ".join(f"{k}={v}" for k, v in overrides.items())
            if overrides else "none set"
        ),
    }


# ------------------------------------------------------------------------------------------ tables
def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(str(c) for c in row) + " |")
    return "\n".join(lines)
