"""Benchmark 3: one epoch of 49,000 CIFAR-shaped images through the experiment's net.

keep probability 0.5, batches of 100 (490 steps), Adam at 5e-4, float32; accuracy on 1,000 sampled
training images and 1,000 validation images before and after the epoch (the Solver's defaults). The
data is synthetic (a 49,000-image CIFAR-10 folder is rarely at hand; the cost does not depend on the
pixel values).
"""

from __future__ import annotations

from typing import Any

from . import _harness as h


def workload(quick: bool) -> dict[str, Any]:
    return {
        "keep_probs": [0.5], "epochs": 1, "num_train": 9_800 if quick else 49_000, "num_val": 1000,
        "num_train_samples": 1000, "data_dir": None,
    }


def run(
    *, reps: int, threads: int, quick: bool, with_torch: bool, baseline: str | None = None, **_: Any
) -> dict[str, Any]:
    args = workload(quick)
    programs = [("dropout-lab", "_programs:lab_program", {**args, "jobs": 1}, None)]
    if baseline is not None:
        programs.append(("baseline dropout-lab", "_programs:lab_program", {**args, "jobs": 1}, baseline))
    if with_torch:
        programs.append(("PyTorch", "_programs:torch_program", {**args, "threads": threads}, None))
    results: dict[str, list[h.WorkerResult]] = {name: [] for name, *_ in programs}
    for rep, forward in h.ab_order(reps):
        for name, task, task_args, src in (programs if forward else programs[::-1]):
            print(f"  epoch rep {rep + 1}/{reps}: {name} ...", flush=True)
            results[name].append(h.run_worker(task, task_args, threads=threads, src=src))
    return {"results": results, "args": args}


def report(measured: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    results = measured["results"]
    args = measured["args"]
    steps = args["num_train"] // 100
    torch_runs = results.get("PyTorch")
    torch_median = h.median([r.values["time_s"] for r in torch_runs]) if torch_runs else None
    rows, targets = [], []
    for name, runs in results.items():
        times = [r.values["time_s"] for r in runs]
        med = h.median(times)
        rows.append([
            name, f"{med:.2f}", f"{med / steps * 1e3:.1f}", h.spread(times),
            "" if torch_median is None else f"{med / torch_median:.2f}x",
            f"{h.median([r.peak_rss_mib for r in runs]):.0f}",
            f"{h.median([r.peak_rss_mib - r.values['rss_before_mib'] for r in runs]):.0f}",
        ])
    if torch_runs is not None:
        lab = h.median([r.values["time_s"] for r in results["dropout-lab"]])
        targets.append({
            "target": f"epoch of {args['num_train']:,} images: <= 0.8x PyTorch",
            "measured": f"{lab / torch_median:.2f}x",
            "met": lab / torch_median <= 0.8,
        })
    md = h.markdown_table(
        ["program", "median s", "ms/step", "spread", "time / PyTorch", "peak RSS MiB", "MiB above data"], rows
    )
    md += (
        f"\n\n- {args['num_train']:,} synthetic images ({args['num_train'] * 3072 * 4 / 2**20:.0f} MiB in float32), "
        f"{steps} steps, keep 0.5; accuracy checks before and after on 1,000 + 1,000 images."
    )
    if torch_runs is None:
        md += "\n- PyTorch not measured (not installed, or --no-torch): its column is left out."
    return md, targets
