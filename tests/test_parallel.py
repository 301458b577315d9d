"""Elementwise work split over threads: ranges cover the array once, follow the thread settings, and
errors reach the caller."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest

from dropout_lab import _parallel


@pytest.fixture
def three_threads(monkeypatch):
    monkeypatch.setattr(_parallel, "available_threads", lambda: 3)
    monkeypatch.setattr(_parallel, "MIN_PER_THREAD", 10)


@pytest.mark.parametrize("n, align", [(100, 1), (100, 16), (31, 8), (35, 1)])
def test_ranges_cover_everything_once_on_several_threads(three_threads, n, align):
    seen = np.zeros(n, dtype=int)
    calls = []
    lock = threading.Lock()

    def body(lo, hi):
        with lock:
            calls.append((lo, hi, threading.current_thread().name))
        seen[lo:hi] += 1

    _parallel.for_ranges(body, n, align=align)
    assert np.all(seen == 1)
    assert all(lo % align == 0 for lo, _, _ in calls)
    threads = min(3, n // 10)
    per_thread = math.ceil(n / threads)
    step = math.ceil(per_thread / align) * align  # n / threads, rounded up to a multiple of align
    assert len(calls) == math.ceil(n / step)
    first = next(c for c in calls if c[0] == 0)
    assert first[2] == threading.current_thread().name  # the caller takes the first range
    assert all(name.startswith("dropout-lab") for lo, _, name in calls if lo > 0)


def test_small_arrays_stay_on_the_calling_thread(monkeypatch):
    monkeypatch.setattr(_parallel, "available_threads", lambda: 4)
    names = []
    n = _parallel.MIN_PER_THREAD
    _parallel.for_ranges(lambda lo, hi: names.append((lo, hi, threading.current_thread().name)), n)
    assert names == [(0, _parallel.MIN_PER_THREAD, threading.current_thread().name)]


def test_errors_reach_the_caller_after_every_range_finished(three_threads):
    finished = []

    def body(lo, hi):
        if lo > 0:
            raise ValueError(f"range {lo}")
        finished.append(lo)

    with pytest.raises(ValueError, match="range"):
        _parallel.for_ranges(body, 60)
    assert finished == [0]


def test_nested_calls_from_pool_threads_run_inline(three_threads):
    inner = []
    lock = threading.Lock()

    def body(lo, hi):
        outer = threading.current_thread().name

        def record(a, b):
            with lock:
                inner.append((outer, threading.current_thread().name, a, b))

        _parallel.for_ranges(record, 60)

    _parallel.for_ranges(body, 60)
    from_pool = [c for c in inner if c[0].startswith("dropout-lab")]
    # Each outer range run by a pool thread did its inner work itself, in one piece (no deadlock).
    assert len(from_pool) == 2
    assert all(outer == thread and (a, b) == (0, 60) for outer, thread, a, b in from_pool)
    assert len(inner) == 2 + 3  # the caller's range was split again


@pytest.mark.parametrize(
    "env, expected",
    [({"OMP_NUM_THREADS": "1"}, 1), ({"OPENBLAS_NUM_THREADS": "1"}, 1), ({"OMP_NUM_THREADS": "1000"}, None),
     ({"OMP_NUM_THREADS": "two"}, None), ({}, None), ({"MKL_NUM_THREADS": "1", "OMP_NUM_THREADS": ""}, 1)],
)
def test_available_threads_follow_the_blas_settings(monkeypatch, env, expected):
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    cores = len(__import__("os").sched_getaffinity(0))
    assert _parallel.available_threads() == (cores if expected is None else expected)


def test_the_callers_context_reaches_every_range(three_threads):
    """NumPy's error state lives in a context variable: the caller's np.errstate must hold in the
    ranges that pool threads run, as in its own (else a NaN there warns where the caller said not)."""
    import contextvars

    marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker", default="unset")
    seen = []
    lock = threading.Lock()

    def body(lo, hi):
        with lock:
            seen.append((marker.get(), np.geterr()["invalid"]))
        np.divide(np.zeros(hi - lo), np.zeros(hi - lo))  # 0 / 0: invalid

    token = marker.set("caller")
    try:
        with np.errstate(invalid="raise"):
            with pytest.raises(FloatingPointError):
                _parallel.for_ranges(body, 100)
        with np.errstate(invalid="ignore"):
            seen.clear()
            _parallel.for_ranges(body, 100)  # no warning (warnings are errors in the tests)
    finally:
        marker.reset(token)
    assert seen == [("caller", "ignore")] * 3
