"""Elementwise work on several threads: NumPy releases the GIL inside its loops, so the contiguous
ranges of a large array can be processed by threads at the same time.

The number of threads follows the BLAS's: the cores this process may run on, capped by
``OMP_NUM_THREADS`` (then ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS``) when set, and by
:func:`limit_threads`, which holds every experiment run to its ``threads_per_run``, so that runs and
threads never oversubscribe the cores. Small arrays stay on the calling thread.

The number of threads never changes a value: every body is elementwise over its own range, and ranges
are cut at block boundaries (``align``), so each element is computed by the same operations, in the
same block, whatever the split (tests/optim/test_rules_blocked.py and
tests/layers/test_dropout_masks.py compare the bits across thread counts).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

# Fewer elements than this per thread and a thread costs more than it saves (measured: Adam on 256 Ki
# float32 values takes about a millisecond; handing a range to a thread and back, ~50 microseconds).
MIN_PER_THREAD = 1 << 18
# Elements per block for the loops that process a large array block by block (the update rules'
# NumPy kernels, dropout's mask): a block's temporaries stay in the CPU's cache (64 Ki float32 values
# are 256 KiB), and each NumPy call's fixed cost is spread over many elements. Chosen by measurement
# (BENCHMARKS.md). Thread ranges are cut at multiples of it (``for_ranges``'s ``align``), so the
# blocks, and every value computed in them, are the same whatever the number of threads.
BLOCK = 1 << 16
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_THREAD_PREFIX = "dropout-lab-elementwise"
_limit: int | None = None  # set by limit_threads


@contextlib.contextmanager
def limit_threads(n: int) -> Iterator[None]:
    """At most ``n`` threads per :func:`for_ranges` call inside this block (process-wide)."""
    global _limit
    previous, _limit = _limit, max(1, int(n))
    try:
        yield
    finally:
        _limit = previous


def available_threads() -> int:
    """Threads for elementwise work: the usable cores, capped by the first thread variable set."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    if _limit is not None:
        cores = min(cores, _limit)
    for name in _THREAD_VARIABLES:
        value = os.environ.get(name, "").strip()
        if value:
            try:
                return max(1, min(cores, int(value)))
            except ValueError:
                break  # an unreadable setting: the BLAS ignores it too
    return max(1, cores)


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            # Threads start on demand, up to one fewer than the cores (the caller is the other).
            workers = max(1, (os.cpu_count() or 1) - 1)
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=_THREAD_PREFIX)
        return _pool


def for_ranges(body: Callable[[int, int], None], n: int, *, align: int = 1) -> None:
    """Call ``body(start, stop)`` on contiguous ranges that cover ``[0, n)``, one per thread.

    ``body`` must touch only its own range of every output. Range boundaries are multiples of
    ``align`` (a block size), so that splitting never changes how a range is cut into blocks. The
    calling thread takes the first range; the others run in copies of its context (so that its
    ``np.errstate`` and other context variables hold there too); an exception in any range is raised
    here.
    """
    # Most calls are small: decide that before asking the operating system about cores.
    threads = n // MIN_PER_THREAD
    if threads >= 2:
        threads = min(available_threads(), threads)
    if threads <= 1 or threading.current_thread().name.startswith(_THREAD_PREFIX):
        body(0, n)
        return
    step = -(-n // threads)
    step = -(-step // align) * align
    ranges = [(start, min(start + step, n)) for start in range(0, n, step)]
    pool = _executor()
    # Each range in a copy of the caller's context: NumPy's error state (np.errstate) is held in a
    # context variable, and a pool thread's own context would warn where the caller said not to.
    futures = [pool.submit(contextvars.copy_context().run, body, start, stop) for start, stop in ranges[1:]]
    try:
        body(*ranges[0])
    except BaseException:
        for future in futures:  # let the other ranges finish before the caller sees the error
            future.exception()
        raise
    for future in futures:
        future.result()
