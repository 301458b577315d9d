"""Worker processes get the training arrays once, when they start, and every run they do uses them."""

from __future__ import annotations

import signal

import numpy as np

from dropout_lab.experiments import ExperimentConfig, run_one
from dropout_lab.experiments import runner


def test_worker_runs_train_on_the_arrays_given_at_start():
    g = np.random.default_rng(0)
    data = {
        "X_train": g.standard_normal((30, 6)).astype(np.float32),
        "y_train": g.integers(0, 3, 30),
        "X_val": g.standard_normal((12, 6)).astype(np.float32),
        "y_val": g.integers(0, 3, 12),
    }
    config = ExperimentConfig(keep_probs=(1.0, 0.5), hidden_dims=(8,), num_train=30, epochs=2, batch_size=10,
                              checkpoint_every=0)
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        runner._worker_init(None, data)
        assert runner._WORKER_DATA.keys() == data.keys()
        assert all(runner._WORKER_DATA[k] is data[k] for k in data)  # no copy within the process
        for keep_prob in config.keep_probs:
            values = runner._worker_run(config.to_dict(), keep_prob, 0, None)
            expected = run_one(config, keep_prob, 0, data).to_dict()
            values.pop("wall_s"), expected.pop("wall_s")
            assert values == expected
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
        runner._WORKER_DATA.clear()
