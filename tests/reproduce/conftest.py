"""Fixtures of the reproduce tests: every study run once at the tiny scale (on MNIST, or its stand-in),
and synthetic run records for checking the claims' logic."""

from __future__ import annotations

from pathlib import Path

import pytest

from dropout_lab.experiments.results import RunResult
from dropout_lab.reproduce import STUDIES, run_study


@pytest.fixture(scope="session")
def tiny_studies(mnist_experiment_dir, tmp_path_factory) -> dict[str, Path]:
    """Each study's folder after a run at the tiny scale (two jobs)."""
    root = tmp_path_factory.mktemp("tiny-studies")
    folders = {}
    for name in STUDIES:
        report = run_study(name, "tiny", out_dir=root / name, jobs=2, data_dir=mnist_experiment_dir, progress=False)
        assert report.status == "complete"
        folders[name] = report.out_dir
    return folders


def make_run(keep_prob: float, seed: int, test_error: float, train_error: float = 0.0, **settings) -> RunResult:
    """A complete run whose test error (weight scaling) and training error are the given percentages."""
    metrics = {"accuracy": 1 - test_error / 100, "nll": 0.1, "brier": 0.1, "ece": 0.1}
    return RunResult(
        keep_prob=keep_prob, seed=seed, loss_history=[1.0], train_acc_history=[1 - train_error / 100],
        val_acc_history=[0.9], final_train_acc=1 - train_error / 100, final_val_acc=0.9, best_val_acc=0.9, wall_s=1.0,
        settings=settings, test={"num_test": 100, "mc_samples": 1, "weight_scaling": metrics, "mc": metrics},
    )  # fmt: skip
