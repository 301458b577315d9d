"""Benchmark 2: inverted dropout forward and backward on a 4096 x 4096 array, keep probability 0.5.

Against ``torch.nn.functional.dropout`` (forward) and ``aten.native_dropout_backward`` (the backward
PyTorch's autograd runs), and against a plain memory copy, all in one process, alternated, in float32
and float64. Two copies: ``np.copyto(dst, x)`` into a preallocated array, and ``x.copy()``, which
allocates its result as dropout does (the first write to fresh memory costs page faults). dropout-lab
is timed both ways: returning a new array, and writing into a reused one (``out=``). GB/s counts the
bytes of the input read plus the output written (the copy's definition; the 1-byte mask is not
counted), so "x copy" is the ratio of times to ``np.copyto``.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from . import _harness as h

KEEP_PROB = 0.5


def _time(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - start
    del result
    return elapsed


def dropout_timings(
    *, side: int, dtypes: list[str], reps: int, with_torch: bool, threads: int, **_: Any
) -> dict[str, Any]:
    from dropout_lab import dropout, dropout_backward

    has_out = "out" in inspect.signature(dropout).parameters
    if with_torch:
        import torch
        import torch.nn.functional as F

        torch.set_num_threads(threads)
    times: dict[str, dict[str, list[float]]] = {}
    for dtype_name in dtypes:
        dtype = np.dtype(dtype_name)
        rng = np.random.default_rng(0)
        x = rng.standard_normal((side, side), dtype=dtype)
        dout = rng.standard_normal((side, side), dtype=dtype)
        dst = np.empty_like(x)
        gen = np.random.default_rng(1)
        _, cache = dropout(x, KEEP_PROB, train=True, rng=gen)
        # Each operation binds this dtype's arrays now (partial, not a closure over the loop's names).
        ops: dict[str, Callable[[], Any]] = {
            "np.copyto": partial(np.copyto, dst, x),
            "x.copy()": x.copy,
            "dropout-lab forward": partial(dropout, x, KEEP_PROB, train=True, rng=gen),
            "dropout-lab backward": partial(dropout_backward, dout, cache),
        }
        if has_out:
            reuse = np.empty_like(x)
            ops["dropout-lab forward, out="] = partial(dropout, x, KEEP_PROB, train=True, rng=gen, out=reuse)
            ops["dropout-lab backward, out="] = partial(dropout_backward, dout, cache, out=reuse)
        if with_torch:
            xt, gt = torch.from_numpy(x), torch.from_numpy(dout)
            _, mask_t = torch.native_dropout(xt, 1 - KEEP_PROB, True)
            scale = 1 / KEEP_PROB
            ops["torch F.dropout forward"] = partial(F.dropout, xt, p=1 - KEEP_PROB, training=True)
            ops["torch dropout backward"] = partial(torch.ops.aten.native_dropout_backward, gt, mask_t, scale)
        names = list(ops)
        samples: dict[str, list[float]] = {n: [] for n in names}
        for n in names:  # warm up
            _time(ops[n])
        for rep in range(reps):
            order = names if rep % 2 == 0 else names[::-1]
            for n in order:
                samples[n].append(_time(ops[n]))
        times[dtype_name] = samples
    return {"times": times, "elements": side * side}


def dropout_memory(*, side: int, dtype: str, library: str, threads: int, **_: Any) -> dict[str, Any]:
    """One forward and backward, alone in a process, for its peak resident set."""
    import resource

    x = np.random.default_rng(0).standard_normal((side, side), dtype=np.dtype(dtype))
    dout = np.ones_like(x)
    if library == "torch":
        import torch
        import torch.nn.functional as F

        torch.set_num_threads(threads)
        xt = torch.from_numpy(x).requires_grad_(True)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        out = F.dropout(xt, p=1 - KEEP_PROB, training=True)
        out.backward(torch.from_numpy(dout))
    else:
        from dropout_lab import dropout, dropout_backward

        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        out, cache = dropout(x, KEEP_PROB, train=True, rng=np.random.default_rng(1))
        dx = dropout_backward(dout, cache)
        del dx
    return {"rss_before_mib": before}


def run(*, reps: int, threads: int, quick: bool, with_torch: bool, **_: Any) -> dict[str, Any]:
    side = 2048 if quick else 4096
    dtypes = ["float32", "float64"]
    print("  dropout timings ...", flush=True)
    timings = h.run_worker(
        "dropout:dropout_timings",
        {"side": side, "dtypes": dtypes, "reps": max(reps * 4, 5), "with_torch": with_torch, "threads": threads},
        threads=threads,
    )
    memory = {}
    for dtype in dtypes:
        for library in (["dropout-lab", "torch"] if with_torch else ["dropout-lab"]):
            r = h.run_worker(
                "dropout:dropout_memory",
                {"side": side, "dtype": dtype, "library": library, "threads": threads},
                threads=threads,
            )
            memory[(dtype, library)] = (r.peak_rss_mib, r.values["rss_before_mib"])
    return {"timings": timings.values, "memory": memory, "side": side, "with_torch": with_torch}


def report(measured: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    side = measured["side"]
    n = measured["timings"]["elements"]
    rows, targets = [], []
    for dtype, samples in measured["timings"]["times"].items():
        itemsize = np.dtype(dtype).itemsize
        med = {name: h.median(v) for name, v in samples.items()}
        copy = med["np.copyto"]
        fresh_copy = med.get("x.copy()")
        for name, t in med.items():
            gbs = 2 * n * itemsize / t / 1e9
            ms, ns_per_element = f"{t * 1e3:.1f}", f"{t / n * 1e9:.2f}"
            rows.append([dtype, name, ms, ns_per_element, f"{gbs:.1f}", f"{t / copy:.2f}", h.spread(samples[name])])
        for direction, limit in (("forward", 3), ("backward", 2)):
            t = med[f"dropout-lab {direction}"]
            text = f"{t / copy:.2f}x np.copyto"
            if fresh_copy is not None:
                text += f", {t / fresh_copy:.2f}x x.copy() (both allocate)"
            met = t / copy <= limit
            t_out = med.get(f"dropout-lab {direction}, out=")
            if t_out is not None:
                text += f"; into a reused array {t_out / copy:.2f}x np.copyto"
                met = t_out / copy <= limit and t / fresh_copy <= limit
            targets.append(
                {"target": f"dropout {direction} {dtype}: <= {limit}x a memory copy", "measured": text, "met": met}
            )
        fwd = med["dropout-lab forward"]
        if "torch F.dropout forward" in med:
            speedup = med["torch F.dropout forward"] / fwd
            targets.append(
                {
                    "target": f"dropout forward {dtype}: >= 5x faster than F.dropout",
                    "measured": f"{speedup:.1f}x",
                    "met": speedup >= 5,
                }
            )
    table = h.markdown_table(["dtype", "operation", "ms", "ns/element", "GB/s", "x copy", "spread"], rows)
    mem_rows = []
    for (dtype, library), (peak, before) in measured["memory"].items():
        mem_rows.append([dtype, library, f"{peak:.0f}", f"{peak - before:.0f}"])
    notes = [
        f"{side} x {side} = {n:,} elements, keep probability {KEEP_PROB}; one process, operations alternated.",
        "'met' for the copy targets compares like with like: a new array against x.copy(), and a reused "
        "array (out=) against np.copyto.",
        "The input and upstream gradient are not counted in the memory figures; a float mask would add "
        f"{n * 4 / 2**20:.0f} MiB (float32) where a boolean one takes {n / 2**20:.0f} MiB.",
    ]
    if not measured["with_torch"]:
        notes.append("PyTorch not measured (not installed, or --no-torch): its rows are left out.")
    md = (
        table + "\n\n" + h.markdown_table(["dtype", "library", "peak RSS MiB", "MiB above the inputs"], mem_rows)
        + "\n\n" + "\n".join(f"- {x}" for x in notes)
    )
    return md, targets
