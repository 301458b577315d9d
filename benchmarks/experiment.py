"""Benchmarks 1 and 4: the dropout experiment against PyTorch, and against NumPy's matrix-product rate.

The experiment (the cs231n Dropout exercise): keep probabilities 1, 0.9, 0.75, 0.5, 0.25; 25 epochs of
500 CIFAR-shaped training images (3,072 values each), hidden layer 500, batches of 100, Adam at 5e-4;
training accuracy on the 500 training images and validation accuracy on 1,000 images before training
and after every epoch; float32.

The limit: the experiment's floating-point operations (the matrix products it cannot avoid: forward
and weight gradients of every step, forward of every accuracy check; the gradient with respect to the
input images is not needed and not counted) divided by its time, against the rate NumPy's matrix
product reaches on the same shapes alone, timed in the same run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _harness as h
from ._programs import BATCH_SIZE, HIDDEN

INPUT_DIM = 3 * 32 * 32
NUM_CLASSES = 10


@dataclass(frozen=True)
class Workload:
    keep_probs: tuple[float, ...] = (1.0, 0.9, 0.75, 0.5, 0.25)
    epochs: int = 25
    num_train: int = 500
    num_val: int = 1000
    num_train_samples: int | None = None  # None: accuracy on every training image

    def args(self, data_dir: str | None) -> dict[str, Any]:
        return {
            "keep_probs": list(self.keep_probs), "epochs": self.epochs, "num_train": self.num_train,
            "num_val": self.num_val, "num_train_samples": self.num_train_samples, "data_dir": data_dir,
        }

    @property
    def steps(self) -> int:
        return len(self.keep_probs) * self.epochs * max(self.num_train // BATCH_SIZE, 1)

    @property
    def evaluations(self) -> int:
        return len(self.keep_probs) * (self.epochs + 1)

    @property
    def train_eval_rows(self) -> int:
        if self.num_train_samples is None:
            return self.num_train
        return min(self.num_train, self.num_train_samples)

    def gemms(self) -> list[tuple[str, tuple[int, int, int], bool, bool, int]]:
        """(name, (m, k, n), a transposed, b transposed, count) of every necessary matrix product."""
        B, D, H, C = BATCH_SIZE, INPUT_DIM, HIDDEN, NUM_CLASSES
        s, e = self.steps, self.evaluations
        return [
            ("forward x W1", (B, D, H), False, False, s),
            ("forward h W2", (B, H, C), False, False, s),
            ("dW2 = h.T dscores", (H, B, C), True, False, s),
            ("dh = dscores W2.T", (B, C, H), False, True, s),
            ("dW1 = x.T dh", (D, B, H), True, False, s),
            ("accuracy x W1 (train)", (self.train_eval_rows, D, H), False, False, e),
            ("accuracy h W2 (train)", (self.train_eval_rows, H, C), False, False, e),
            ("accuracy x W1 (val)", (self.num_val, D, H), False, False, e),
            ("accuracy h W2 (val)", (self.num_val, H, C), False, False, e),
        ]

    def flops(self) -> float:
        return float(sum(2 * m * k * n * count for _, (m, k, n), _, _, count in self.gemms()))


FULL = Workload()
QUICK = Workload(keep_probs=(1.0, 0.5), epochs=5)


# ------------------------------------------------------------------------------------------ workers
def matmul_program(*, gemms: list, fraction: float = 1.0, **_: Any) -> dict[str, Any]:
    """Every matrix product the experiment needs, alone, in the experiment's order of magnitude of
    time: each product of the list ``count * fraction`` times (float32, preallocated outputs), timed
    as a whole so that it meets the same machine conditions as the programs it is compared with."""
    rng = np.random.default_rng(0)
    operands = []
    for _name, (m, k, n), trans_a, trans_b, count in gemms:
        a = rng.standard_normal((k, m) if trans_a else (m, k), dtype=np.float32)
        b = rng.standard_normal((n, k) if trans_b else (k, n), dtype=np.float32)
        out = np.empty((m, n), dtype=np.float32)
        operands.append((a.T if trans_a else a, b.T if trans_b else b, out, max(1, round(count * fraction))))
    for a, b, out, _ in operands:  # warm up: thread pool, pages
        np.matmul(a, b, out=out)
    flops = sum(2 * m * k * n * max(1, round(c * fraction)) for _, (m, k, n), _, _, c in gemms)
    start = time.perf_counter()
    for a, b, out, count in operands:
        for _ in range(count):
            np.matmul(a, b, out=out)
    elapsed = time.perf_counter() - start
    return {"time_s": elapsed, "flops": float(flops)}


def denormal_probe(*, keep_prob: float = 0.5, epochs: int = 25, **_: Any) -> dict[str, Any]:
    """Train one run of the experiment and count subnormal float32 values in what the training path
    holds at the end: parameters, gradients, Adam moments, hidden activations."""
    from dropout_lab import FullyConnectedNet, Solver

    from ._data import synthetic_cifar

    data = synthetic_cifar(500, 1000)
    model = FullyConnectedNet([HIDDEN], dropout=keep_prob, dtype=np.float32, rng=np.random.default_rng(0))
    solver = Solver(
        model, data, update_rule="adam", optim_config={"learning_rate": 5e-4}, batch_size=BATCH_SIZE,
        num_epochs=epochs, num_train_samples=None, verbose=False, rng=np.random.default_rng(1),
    )
    solver.train()
    tiny = np.finfo(np.float32).tiny
    arrays = dict(model.params)
    _, grads = model.loss(data["X_train"][:BATCH_SIZE], data["y_train"][:BATCH_SIZE])
    arrays.update({f"d{k}": v for k, v in grads.items()})
    for name, config in solver.optim_configs.items():
        for key in ("m", "v"):
            arrays[f"{key}({name})"] = config[key]
    X = data["X_train"].reshape(500, -1)
    arrays["hidden"] = np.maximum(X @ model.params["W1"] + model.params["b1"], 0)
    counts = {}
    total = 0
    for name, a in arrays.items():
        sub = int(np.count_nonzero((np.abs(a) < tiny) & (a != 0)))
        counts[name] = sub
        total += a.size
    return {"subnormal": counts, "values": total}


# ------------------------------------------------------------------------------------------ driver
def run(
    *, reps: int, threads: int, jobs_variants: list[int], quick: bool, data_dir: str | None, with_torch: bool,
    baseline: str | None = None,
) -> dict[str, Any]:
    work = QUICK if quick else FULL
    args = work.args(data_dir)
    programs: list[tuple[str, str, dict[str, Any], str | None]] = [
        (f"dropout-lab (jobs={j})", "_programs:lab_program", {**args, "jobs": j}, None) for j in jobs_variants
    ]
    if baseline is not None:
        programs += [
            (f"baseline dropout-lab (jobs={j})", "_programs:lab_program", {**args, "jobs": j}, baseline)
            for j in jobs_variants
        ]
    if with_torch:
        programs.append(("PyTorch", "_programs:torch_program", {**args, "threads": threads}, None))
    results: dict[str, list[h.WorkerResult]] = {name: [] for name, *_ in programs}
    ref_threads: list[float] = []
    ref_single: list[float] = []
    gemms = work.gemms()
    for rep, forward in h.ab_order(reps):
        order = programs if forward else programs[::-1]
        for name, task, task_args, src in order:
            print(f"  experiment rep {rep + 1}/{reps}: {name} ...", flush=True)
            results[name].append(h.run_worker(task, task_args, threads=threads, src=src))
        print(f"  experiment rep {rep + 1}/{reps}: NumPy matmul alone ...", flush=True)
        ref = h.run_worker("experiment:matmul_program", {"gemms": gemms}, threads=threads).values
        ref_threads.append(ref["time_s"] * work.flops() / ref["flops"])
        # A fifth of the products on one thread: enough for the single-thread rate.
        ref = h.run_worker("experiment:matmul_program", {"gemms": gemms, "fraction": 0.2}, threads=1).values
        ref_single.append(ref["time_s"] * work.flops() / ref["flops"])
    probe = h.run_worker("experiment:denormal_probe", {"epochs": work.epochs}, threads=threads)
    return {
        "workload": work, "results": results, "ref_threads": ref_threads, "ref_single": ref_single,
        "probe": probe.values, "threads": threads,
    }


def report(measured: dict[str, Any]) -> tuple[str, str, list[dict[str, Any]]]:
    """Markdown for the experiment and limit sections, and the targets they decide."""
    work: Workload = measured["workload"]
    results: dict[str, list[h.WorkerResult]] = measured["results"]
    torch_runs = results.get("PyTorch")
    lab_names = [n for n in results if n.startswith("dropout-lab")]
    rows = []
    targets = []
    torch_median = h.median([r.values["time_s"] for r in torch_runs]) if torch_runs else None
    for name, runs in results.items():
        times = [r.values["time_s"] for r in runs]
        med = h.median(times)
        ratio = "" if torch_median is None else f"{med / torch_median:.2f}x"
        accs = runs[-1].values
        rows.append([
            name, f"{med:.2f}", h.spread(times), ratio, f"{h.median([r.values['cold_s'] for r in runs]):.2f}",
            f"{h.median([r.peak_rss_mib for r in runs]):.0f}",
            " ".join(f"{a:.2f}" for a in accs["final_train_acc"]),
            " ".join(f"{a:.3f}" for a in accs["best_val_acc"]),
        ])
    table = h.markdown_table(
        [
            "program", "median s", "spread", "time / PyTorch", "cold epoch s", "peak RSS MiB", "final train acc",
            "best val acc",
        ],
        rows,
    )
    best_lab = min(lab_names, key=lambda n: h.median([r.values["time_s"] for r in results[n]]))
    best_lab_time = h.median([r.values["time_s"] for r in results[best_lab]])
    notes = [
        f"{len(work.keep_probs)} keep probabilities x {work.epochs} epochs x {work.num_train} images, "
        f"{work.steps} steps, {work.evaluations} accuracy checks of {work.train_eval_rows} + {work.num_val} images.",
        "Accuracies are of the last repetition, one number per keep probability (from 1 down); synthetic "
        "data has random labels, so validation accuracy stays near chance while the net memorises the "
        "training images.",
        "Timed: the whole experiment after one untimed epoch in the same process (cold epoch s: that "
        "epoch's time, imports excluded, Numba's compilation or cache load included). With jobs > 1 "
        "run_experiment trains that many runs at a time in threads of its process.",
        "Peak RSS: of the whole process (with jobs > 1, every run's arrays at once).",
    ]
    if torch_runs is None:
        notes.append("PyTorch not measured (not installed, or --no-torch): its column is left out.")
    else:
        per_pair = [
            # One result per repetition for every program: the lists pair up exactly.
            lab.values["time_s"] / ref.values["time_s"] for lab, ref in zip(results[best_lab], torch_runs, strict=True)
        ]
        ratio = best_lab_time / torch_median
        targets.append({
            "target": f"experiment: dropout-lab <= 0.8x PyTorch ({best_lab})",
            "measured": f"{ratio:.2f}x (per-repetition ratios {', '.join(f'{p:.2f}' for p in per_pair)})",
            "met": ratio <= 0.8,
        })
        jobs1 = "dropout-lab (jobs=1)"
        if jobs1 in results and jobs1 != best_lab:
            r1 = h.median([r.values["time_s"] for r in results[jobs1]]) / torch_median
            targets.append({
                "target": "experiment, one process at the same thread count: dropout-lab (jobs=1) <= 0.8x PyTorch",
                "measured": f"{r1:.2f}x", "met": r1 <= 0.8,
            })
    experiment_md = table + "\n\n" + "\n".join(f"- {n}" for n in notes)

    flops = work.flops()
    threads = measured["threads"]
    ref_t = h.median(measured["ref_threads"])
    ref_1 = h.median(measured["ref_single"])
    rate_t = flops / ref_t
    rate_ideal = max(rate_t, min(threads, 2) * flops / ref_1) if threads >= 2 else flops / ref_1
    limit_rows = [
        [
            f"NumPy matmul alone, same shapes, 1 process x {threads} threads",
            f"{ref_t:.2f}", f"{rate_t / 1e9:.1f}", "100%", f"{rate_t / rate_ideal:.0%}",
        ],
        [
            "NumPy matmul alone, same shapes, 1 thread (a fifth of them, scaled)",
            f"{ref_1:.2f}", f"{flops / ref_1 / 1e9:.1f}", f"{flops / ref_1 / rate_t:.0%}", "",
        ],
    ]
    for name, runs in results.items():
        t = h.median([r.values["time_s"] for r in runs])
        rate = flops / t
        limit_rows.append([name, f"{t:.2f}", f"{rate / 1e9:.1f}", f"{rate / rate_t:.0%}", f"{rate / rate_ideal:.0%}"])
    probe = measured["probe"]
    sub_total = sum(probe["subnormal"].values())
    limit_md = h.markdown_table(
        ["what", "seconds", "GFLOP/s", "of NumPy matmul rate", "of ideal 2-core rate"], limit_rows
    ) + "\n\n" + "\n".join(
        f"- {n}" for n in [
            f"Flop count: {flops / 1e9:.0f} GFLOP in the matrix products the experiment needs (listed in "
            "benchmarks/experiment.py); elementwise work is not counted.",
            f"NumPy matmul rate: the same products, all of them, timed alone as one program (preallocated "
            f"outputs) at the benchmark's {threads} threads, alternated with the others and summarised the same "
            "way (median): the target's reference. Ideal 2-core rate: the better of that "
            f"and twice NumPy's single-thread rate ({rate_ideal / 1e9:.1f} GFLOP/s), what two single-threaded "
            "processes would reach with perfect scaling.",
            f"Subnormal float32 values on the training path after one run (parameters, gradients, Adam "
            f"moments, hidden activations): {sub_total} of {probe['values']}.",
        ]
    )
    limit_lab = flops / best_lab_time / rate_t
    targets.append({
        "target": f"limit: >= 75% of NumPy's matmul rate on the same shapes ({best_lab})",
        "measured": f"{limit_lab:.0%} ({flops / best_lab_time / rate_ideal:.0%} of the ideal 2-core rate)",
        "met": limit_lab >= 0.75,
    })
    return experiment_md, limit_md, targets
