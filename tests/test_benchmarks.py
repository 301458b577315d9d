"""The benchmark scripts keep working (no timings are checked here: benchmarks print figures, tests
check behaviour): the flop count, the synthetic data, the measured programs on a tiny workload, and
the report without PyTorch."""

from __future__ import annotations

import numpy as np

from benchmarks import _harness
from benchmarks._data import synthetic_cifar
from benchmarks._programs import lab_program
from benchmarks.experiment import FULL, Workload, matmul_program, report


def test_the_experiment_flop_count_is_the_exercise_s():
    B, D, H, C = 100, 3072, 500, 10
    steps = 5 * 25 * (500 // 100)
    evaluations = 5 * 26
    per_step = 2 * B * D * H * 2 + 2 * B * H * C * 3  # forward and dW of both layers, and dh
    per_evaluation = 2 * (500 + 1000) * (D * H + H * C)
    assert FULL.steps == steps and FULL.evaluations == evaluations
    assert FULL.flops() == steps * per_step + evaluations * per_evaluation
    assert round(FULL.flops() / 1e9) == 987


def test_synthetic_data_is_cifar_shaped_float32_with_the_training_mean_removed():
    data = synthetic_cifar(50, 20, seed=3)
    assert data["X_train"].shape == (50, 3, 32, 32) and data["X_val"].shape == (20, 3, 32, 32)
    assert data["X_train"].dtype == np.float32 and data["y_train"].dtype == np.int64
    assert np.abs(data["X_train"].mean(axis=0)).max() < 1e-3
    assert set(np.unique(data["y_train"])) <= set(range(10))


def test_programs_run_on_a_tiny_workload_and_the_report_leaves_pytorch_out():
    tiny = Workload(keep_probs=(1.0, 0.5), epochs=1, num_train=200, num_val=100)
    values = lab_program(**tiny.args(None), jobs=1)
    assert len(values["final_train_acc"]) == 2 and values["time_s"] > 0
    ref = matmul_program(gemms=tiny.gemms(), fraction=0.5)
    assert ref["time_s"] > 0
    fake = _harness.WorkerResult(values=values, peak_rss_mib=100.0, wall_s=1.0)
    measured = {
        "workload": tiny, "results": {"dropout-lab (jobs=1)": [fake]}, "ref_threads": [1.0], "ref_single": [2.0],
        "probe": {"subnormal": {"W1": 0}, "values": 10}, "threads": 2,
    }
    experiment_md, limit_md, targets = report(measured)
    assert "PyTorch not measured" in experiment_md
    assert [t["target"].split(":")[0] for t in targets] == ["limit"]
    assert "| dropout-lab (jobs=1) |" in limit_md
