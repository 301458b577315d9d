"""The experiment end to end: files, schema, reproducibility (serial and parallel), pairing, CIFAR-10."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dropout_lab.errors import InvalidArgumentError
from dropout_lab.experiments import ExperimentConfig, read_results, run_experiment
from dropout_lab.layers.dropout import MASK_STREAM_VERSION

TINY = dict(keep_probs=(1.0, 0.5), hidden_dims=(32,), num_train=120, epochs=3, batch_size=40, seeds=(0, 1))


def _histories(results):
    return {(r.keep_prob, r.seed): (r.loss_history, r.train_acc_history, r.val_acc_history) for r in results.runs}


def test_end_to_end_files_and_schema(tmp_path):
    config = ExperimentConfig(**TINY)
    results = run_experiment(config, out_dir=tmp_path, progress=False)
    assert results.status == "complete"
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved == read_results(tmp_path)
    assert set(saved) == {"format", "status", "config", "versions", "grid", "cells", "summary", "runs"}
    assert saved["grid"] == {} and saved["cells"] == [{"settings": {}, "summary": saved["summary"]}]
    assert saved["status"] == "complete"
    assert ExperimentConfig.from_dict(saved["config"]) == config
    assert set(saved["versions"]) == {"dropout_lab", "numpy", "python", "mask_stream", "blas", "blas_kernel"}
    assert saved["versions"]["mask_stream"] == str(MASK_STREAM_VERSION)
    assert [(r["keep_prob"], r["seed"]) for r in saved["runs"]] == [(1.0, 0), (1.0, 1), (0.5, 0), (0.5, 1)]
    iterations = config.epochs * (config.num_train // config.batch_size)
    for run in saved["runs"]:
        assert len(run["loss_history"]) == iterations
        assert len(run["train_acc_history"]) == len(run["val_acc_history"]) == config.epochs + 1
        assert run["final_train_acc"] == run["train_acc_history"][-1]
        assert run["final_val_acc"] == run["val_acc_history"][-1]
        assert run["best_val_acc"] == max(run["val_acc_history"])
        assert run["wall_s"] > 0 and run["status"] == "complete"
    rows = saved["summary"]["rows"]
    assert [row["keep_prob"] for row in rows] == [1.0, 0.5]
    png = (tmp_path / "accuracy.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    # Each finished run leaves its last checkpoint (for a resume that adds epochs), and nothing else:
    # no temporary file anywhere.
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == sorted(
        f"keep{k:g}_seed{s}_latest.npz" for k in config.keep_probs for s in config.seeds
    )
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


def test_same_config_and_seed_give_identical_histories_serial_and_parallel(tmp_path):
    """A net this small never splits a BLAS call across threads, so the thread count a run gets does
    not reach its numbers (larger products can differ in the last bit between BLAS thread counts;
    README, "The experiment")."""
    config = ExperimentConfig(**TINY)
    serial = run_experiment(config, out_dir=tmp_path / "a", progress=False)
    again = run_experiment(config, out_dir=tmp_path / "b", progress=False)
    parallel = run_experiment(config, out_dir=tmp_path / "c", jobs=2, progress=False)
    assert _histories(serial) == _histories(again) == _histories(parallel)


def test_runs_with_the_same_seed_are_paired():
    """Same seed: the same initial weights and minibatches, so epoch 0 (before training, test mode)
    is identical for every keep probability; different seeds differ."""
    config = ExperimentConfig(**TINY)
    results = run_experiment(config, progress=False)
    by = {(r.keep_prob, r.seed): r for r in results.runs}
    for seed in (0, 1):
        assert by[(1.0, seed)].val_acc_history[0] == by[(0.5, seed)].val_acc_history[0]
        assert by[(1.0, seed)].train_acc_history[0] == by[(0.5, seed)].train_acc_history[0]
    assert by[(1.0, 0)].loss_history != by[(1.0, 1)].loss_history
    assert by[(1.0, 0)].loss_history != by[(0.5, 0)].loss_history


def test_training_leaves_numpys_global_generator_alone():
    before = np.random.get_state()
    run_experiment(ExperimentConfig(**{**TINY, "seeds": (0,)}), progress=False)
    after = np.random.get_state()
    assert np.array_equal(before[1], after[1]) and before[2] == after[2]


def test_cifar10_sample(cifar_dir, tmp_path):
    config = ExperimentConfig(
        keep_probs=(1.0, 0.5), hidden_dims=(50,), num_train=200, num_val=300, epochs=2, dataset="cifar10",
        data_dir=str(cifar_dir), seeds=(0,),
    )
    results = run_experiment(config, out_dir=tmp_path, progress=False)
    assert results.status == "complete"
    for run in results.runs:
        assert len(run.val_acc_history) == 3
        # Ten classes: a net that learned nothing sits near 10%; two epochs on 200 images beat that.
        assert run.final_train_acc > 0.15


def test_sizes_larger_than_the_data_are_refused_before_training(tmp_path):
    with pytest.raises(InvalidArgumentError, match="num_train must be at most"):
        run_experiment(ExperimentConfig(**{**TINY, "num_train": 100_000}), out_dir=tmp_path, progress=False)
    with pytest.raises(InvalidArgumentError, match="num_val must be at most"):
        run_experiment(ExperimentConfig(**{**TINY, "num_val": 100_000}), progress=False)


@pytest.mark.parametrize(
    "change, pattern",
    [
        ({"keep_probs": (1.0, 0.0)}, r"keep_probs\[1\]"),
        ({"keep_probs": (0.5, 0.5)}, "repeat"),
        ({"keep_probs": ()}, "keep_probs must not be empty"),
        ({"hidden_dims": (0,)}, r"hidden_dims\[0\]"),
        ({"epochs": 0}, "epochs"),
        ({"batch_size": -1}, "batch_size"),
        ({"update_rule": "lbfgs"}, "update_rule"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"dtype": "float16"}, "dtype"),
        ({"dataset": "imagenet"}, "dataset"),
        ({"seeds": (1, 1)}, "seeds"),
    ],
)
def test_config_validation(change, pattern):
    with pytest.raises((ValueError, TypeError), match=pattern):
        ExperimentConfig(**{**TINY, **change})


def test_config_round_trips_through_json():
    config = ExperimentConfig(**TINY)
    assert ExperimentConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ValueError, match="unknown experiment settings: colour"):
        ExperimentConfig.from_dict({**config.to_dict(), "colour": "red"})


# ------------------------------------------------------------------------------ statuses
def test_results_json_holds_only_the_documented_statuses(tmp_path, monkeypatch):
    """While the runs train, results.json says 'interrupted' (what it is if the process dies), never
    a status outside RUN_STATUSES. It is written twice, at the start and at the end (the finished
    runs go to the journal meanwhile)."""
    from dropout_lab.experiments import runner
    from dropout_lab.experiments.results import RUN_STATUSES

    seen = []
    real_write = runner.write_results

    def spy(results, out_dir):
        real_write(results, out_dir)
        seen.append(json.loads((out_dir / "results.json").read_text())["status"])

    monkeypatch.setattr(runner, "write_results", spy)
    run_experiment(ExperimentConfig(**{**TINY, "seeds": (0,)}), out_dir=tmp_path, progress=False)
    assert seen == ["interrupted", "complete"]
    assert set(seen) <= set(RUN_STATUSES) == {"complete", "diverged", "interrupted"}


@pytest.mark.parametrize("status", ["stopped", None, 1])
def test_read_results_refuses_an_undocumented_status(tmp_path, status):
    from dropout_lab.errors import DataError

    run_experiment(ExperimentConfig(**{**TINY, "seeds": (0,)}), out_dir=tmp_path, progress=False)
    path = tmp_path / "results.json"
    saved = json.loads(path.read_text())
    path.write_text(json.dumps({**saved, "status": status}))
    with pytest.raises(DataError, match=r"status must be one of complete, diverged, interrupted"):
        read_results(tmp_path)
    with pytest.raises(DataError, match="status"):
        run_experiment(out_dir=tmp_path, resume=True, progress=False)


def test_a_file_an_earlier_release_left_running_resumes_as_interrupted(tmp_path):
    """Earlier releases wrote status 'running' while training: such a folder was interrupted, and
    --resume finishes it with the numbers of an uninterrupted run."""
    config = ExperimentConfig(**{**TINY, "seeds": (0,)})
    whole = run_experiment(config, out_dir=tmp_path / "whole", progress=False)
    run_experiment(config, out_dir=tmp_path / "old", progress=False)
    path = tmp_path / "old" / "results.json"
    saved = json.loads(path.read_text())
    path.write_text(json.dumps({**saved, "status": "running", "runs": saved["runs"][:1]}))
    assert read_results(tmp_path / "old")["status"] == "running"  # read as it is, accepted
    resumed = run_experiment(out_dir=tmp_path / "old", resume=True, progress=False)
    assert resumed.status == "complete"
    assert _histories(resumed) == _histories(whole)


def test_resume_refuses_runs_drawn_from_another_mask_stream(tmp_path):
    from dropout_lab.errors import DataError

    run_experiment(ExperimentConfig(**{**TINY, "seeds": (0,)}), out_dir=tmp_path, progress=False)
    path = tmp_path / "results.json"
    saved = json.loads(path.read_text())
    path.write_text(json.dumps({**saved, "versions": {**saved["versions"], "mask_stream": "1"}}))
    before = path.read_bytes()
    with pytest.raises(DataError, match=r"mask stream '1'.*start a new experiment"):
        run_experiment(out_dir=tmp_path, resume=True, progress=False)
    assert path.read_bytes() == before


def test_experiment_results_refuse_an_undocumented_status():
    from dropout_lab.experiments import ExperimentResults

    with pytest.raises(InvalidArgumentError, match="status must be one of complete, diverged, interrupted"):
        ExperimentResults(ExperimentConfig(**TINY), [], status="running")


# ------------------------------------------------------------------------------ CIFAR-10 loading
def test_cifar10_batches_are_read_once_and_split_as_the_course_does(tmp_path, monkeypatch):
    import dropout_lab.data
    import dropout_lab.data.cifar10
    from dropout_lab.data import get_cifar10_data, read_cifar10_batch
    from dropout_lab.experiments import load_experiment_data

    from ..data._batches import write_cifar_folder

    folder = tmp_path / "cifar"
    write_cifar_folder(folder, np.random.default_rng(0), rows=700, train_batches=2)
    reads = []

    def counting(path):
        reads.append(str(path))
        return read_cifar10_batch(path)

    # Both names: the package's and the one get_cifar10_data calls.
    monkeypatch.setattr(dropout_lab.data, "read_cifar10_batch", counting)
    monkeypatch.setattr(dropout_lab.data.cifar10, "read_cifar10_batch", counting)
    for dtype in ("float32", "float64"):
        reads.clear()
        config = ExperimentConfig(dataset="cifar10", data_dir=str(folder), num_train=300, dtype=dtype)
        data = load_experiment_data(config)
        train_reads = [r for r in reads if "data_batch" in r]
        assert sorted(train_reads) == [str(folder / "data_batch_1"), str(folder / "data_batch_2")]
        # 1,400 rows: 400 for training, 1,000 for validation, as get_cifar10_data splits them.
        expected = get_cifar10_data(400, 1000, 0, root=folder, dtype=dtype)
        np.testing.assert_array_equal(data["X_train"], expected["X_train"][:300])
        np.testing.assert_array_equal(data["y_train"], expected["y_train"][:300])
        np.testing.assert_array_equal(data["X_val"], expected["X_val"])
        np.testing.assert_array_equal(data["y_val"], expected["y_val"])
        assert data["X_train"].dtype == data["X_val"].dtype == np.dtype(dtype)


@pytest.mark.parametrize("kind", ["link to /dev/zero", "fifo", "too large"])
def test_resume_reads_results_json_only_from_a_regular_file_of_sane_size(tmp_path, monkeypatch, kind):
    """A results.json that is a link to /dev/zero read until memory ran out, a FIFO blocked forever."""
    import os
    import threading

    from dropout_lab.errors import DataError
    from dropout_lab.experiments import results as results_module

    path = tmp_path / "results.json"
    if kind == "link to /dev/zero":
        path.symlink_to("/dev/zero")
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        monkeypatch.setattr(results_module, "MAX_RESULTS_BYTES", 100)
        path.write_text(json.dumps({"format": 1, "config": {}, "padding": "x" * 200}))
    outcome: list[BaseException] = []

    def resume() -> None:
        try:
            run_experiment(out_dir=tmp_path, resume=True, progress=False)
        except BaseException as exc:  # noqa: BLE001 (handed to the test's thread)
            outcome.append(exc)

    reader = threading.Thread(target=resume, daemon=True)
    reader.start()
    reader.join(timeout=30)
    assert not reader.is_alive(), "still reading results.json after 30 s"
    assert len(outcome) == 1 and isinstance(outcome[0], DataError), outcome
    assert str(path) in str(outcome[0]) and "results file" in str(outcome[0])
