"""The measured programs: dropout-lab's experiment API and an equivalent PyTorch program.

Both train ``affine(500) - relu - dropout - affine(10) - softmax`` in float32 from the same initial
weights (drawn as dropout-lab's runner draws them from the run's seed), on the same minibatch indices,
with Adam, and measure the accuracies after every epoch (and once before training), keeping the
parameters of the best validation epoch, as dropout-lab's Solver does. Only the training programs are
timed: not the imports, not the data preparation. Each program first runs one untimed epoch of one keep
probability on the same data (its time is reported as the cold start), so that the timed run measures
the steady state of both libraries, not the one-time cost of their first calls.
"""

from __future__ import annotations

import dataclasses
import resource
import time
from typing import Any

import numpy as np

from ._data import experiment_data

HIDDEN = 500
BATCH_SIZE = 100
LEARNING_RATE = 5e-4
WEIGHT_SCALE = 1e-2
SEED = 0


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _generators(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    # As dropout-lab's runner makes them: one stream for the model (weights, then masks), one for the
    # Solver (minibatches, accuracy subsamples).
    model_seq, solver_seq = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(model_seq), np.random.default_rng(solver_seq)


def lab_program(
    *, keep_probs: list[float], epochs: int, num_train: int, num_val: int, num_train_samples: int | None,
    data_dir: str | None, jobs: int = 1, **_: Any,
) -> dict[str, Any]:
    """dropout-lab's ``run_experiment(config, data=...)``: one run per keep probability."""
    from dropout_lab.experiments import ExperimentConfig, run_experiment

    data = experiment_data(data_dir, num_train, num_val)
    config = ExperimentConfig(
        keep_probs=tuple(keep_probs), hidden_dims=(HIDDEN,), num_train=num_train, num_val=num_val,
        epochs=epochs, batch_size=BATCH_SIZE, update_rule="adam", learning_rate=LEARNING_RATE,
        weight_scale=WEIGHT_SCALE, dtype="float32", dataset="cifar10", seeds=(SEED,),
        num_train_samples=num_train_samples, checkpoint_every=0,
    )
    start = time.perf_counter()
    run_experiment(
        dataclasses.replace(config, keep_probs=(min(keep_probs),), epochs=1), data=data, jobs=1, progress=False
    )
    cold = time.perf_counter() - start
    rss_before = _rss_mib()
    start = time.perf_counter()
    results = run_experiment(config, data=data, jobs=jobs, progress=False)
    elapsed = time.perf_counter() - start
    if results.status != "complete":
        raise RuntimeError(f"the experiment ended with status {results.status}")
    runs = sorted(results.runs, key=lambda r: -r.keep_prob)
    return {
        "time_s": elapsed,
        "cold_s": cold,
        "rss_before_mib": rss_before,
        "final_train_acc": [r.final_train_acc for r in runs],
        "best_val_acc": [r.best_val_acc for r in runs],
        "final_loss": [r.loss_history[-1] for r in runs],
    }


def torch_program(
    *, keep_probs: list[float], epochs: int, num_train: int, num_val: int, num_train_samples: int | None,
    data_dir: str | None, threads: int, **_: Any,
) -> dict[str, Any]:
    """The same experiment written the usual PyTorch way (nn.Linear, nn.ReLU, nn.Dropout, cross-entropy,
    torch.optim.Adam), at ``threads`` intra-op threads."""
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    data = experiment_data(data_dir, num_train, num_val)
    X_train = torch.from_numpy(np.ascontiguousarray(data["X_train"].reshape(num_train, -1)))
    y_train = torch.from_numpy(data["y_train"])
    X_val = torch.from_numpy(np.ascontiguousarray(data["X_val"].reshape(num_val, -1)))
    y_val = torch.from_numpy(data["y_val"])
    input_dim = X_train.shape[1]
    num_classes = int(max(data["y_train"].max(), data["y_val"].max())) + 1
    iterations_per_epoch = max(num_train // BATCH_SIZE, 1)

    def accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
        with torch.no_grad():
            return float((model(X).argmax(dim=1) == y).float().mean())

    def one_run(keep_prob: float, num_epochs: int) -> tuple[float, float, float]:
        model_rng, solver_rng = _generators(SEED)
        w1 = (WEIGHT_SCALE * model_rng.standard_normal((input_dim, HIDDEN))).astype(np.float32)
        w2 = (WEIGHT_SCALE * model_rng.standard_normal((HIDDEN, num_classes))).astype(np.float32)
        first, second = nn.Linear(input_dim, HIDDEN), nn.Linear(HIDDEN, num_classes)
        with torch.no_grad():
            first.weight.copy_(torch.from_numpy(w1.T.copy()))
            second.weight.copy_(torch.from_numpy(w2.T.copy()))
            first.bias.zero_()
            second.bias.zero_()
        drop = nn.Dropout(1 - keep_prob) if keep_prob < 1 else nn.Identity()
        model = nn.Sequential(first, nn.ReLU(), drop, second)
        optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
        loss_fn = nn.CrossEntropyLoss()
        best_val, best_state, history = -1.0, None, []

        def record() -> float:
            nonlocal best_val, best_state
            model.eval()
            if num_train_samples is not None and num_train > num_train_samples:
                rows = torch.from_numpy(solver_rng.choice(num_train, num_train_samples))
                train_acc = accuracy(model, X_train[rows], y_train[rows])
            else:
                train_acc = accuracy(model, X_train, y_train)
            val_acc = accuracy(model, X_val, y_val)
            if val_acc > best_val:
                best_val = val_acc
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            model.train()
            return train_acc

        train_acc = record()
        for _ in range(num_epochs):
            for _ in range(iterations_per_epoch):
                rows = torch.from_numpy(solver_rng.choice(num_train, BATCH_SIZE))
                optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(model(X_train[rows]), y_train[rows])
                loss.backward()
                optimizer.step()
                history.append(loss.item())
            train_acc = record()
        model.load_state_dict(best_state)
        return train_acc, best_val, history[-1]

    start = time.perf_counter()
    one_run(min(keep_probs), 1)
    cold = time.perf_counter() - start
    rss_before = _rss_mib()
    start = time.perf_counter()
    runs = [one_run(k, epochs) for k in sorted(keep_probs, reverse=True)]
    elapsed = time.perf_counter() - start
    return {
        "time_s": elapsed,
        "cold_s": cold,
        "rss_before_mib": rss_before,
        "final_train_acc": [r[0] for r in runs],
        "best_val_acc": [r[1] for r in runs],
        "final_loss": [r[2] for r in runs],
    }
