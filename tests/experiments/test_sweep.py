"""Sweeps: the grid of cells (each against its own keep 1), study files, budgets in updates, and a
resume that extends an experiment (more seeds, keep probabilities, axis values, epochs)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dropout_lab import cli
from dropout_lab.errors import DataError, DropoutLabError, InvalidArgumentError
from dropout_lab.experiments import ExperimentConfig, load_experiment_data, run_experiment, run_one, scheduler
from dropout_lab.experiments.extend import extended_config
from dropout_lab.experiments.grid import RunSpec, expand, run_name
from dropout_lab.experiments.study import load_study

BASE = dict(keep_probs=(1.0, 0.5), hidden_dims=(8,), num_train=40, num_val=60, epochs=2, batch_size=20, seeds=(0, 1))


def base(*swept: str, **changes) -> dict:
    """BASE without the settings a test sweeps (a swept setting is not also set), with ``changes``."""
    return {**{k: v for k, v in BASE.items() if k not in swept}, **changes}


def records(runs) -> dict:
    """What must be bit-for-bit equal between two runs of one setting (not wall_s)."""
    return {
        r.key: (r.loss_history, r.train_acc_history, r.val_acc_history, r.final_val_acc, r.best_val_acc, r.acc_epochs)
        for r in runs
    }


# ------------------------------------------------------------------------------------------ the grid
def test_cells_are_the_cross_product_in_sweepable_order():
    sweep = {"hidden_dims": [[8], [16, 16]], "learning_rate": [1e-3, 1e-2]}
    config = ExperimentConfig(**base("hidden_dims"), sweep=sweep)
    cells = config.cells()
    assert [s for s, _ in cells] == [
        {"hidden_dims": [8], "learning_rate": 1e-3}, {"hidden_dims": [8], "learning_rate": 1e-2},
        {"hidden_dims": [16, 16], "learning_rate": 1e-3}, {"hidden_dims": [16, 16], "learning_rate": 1e-2},
    ]
    assert [(c.hidden_dims, c.learning_rate, c.sweep) for _, c in cells][3] == ((16, 16), 1e-2, {})
    specs = expand(config)
    assert len(specs) == 4 * 2 * 2 and len({s.key for s in specs}) == len(specs)
    assert len({s.name for s in specs}) == len(specs)  # checkpoint names never collide
    assert all(s.name.startswith("cell-") and s.name.endswith(f"_keep{s.keep_prob:g}_seed{s.seed}") for s in specs)
    assert run_name(0.5, 1) == "keep0.5_seed1"  # no sweep: the names of before


def test_a_run_identity_without_the_new_settings_is_unchanged():
    """Checkpoints written before input_keep_prob, steps, eval_every, num_val_samples and sweep existed
    name their run without them: at their defaults they stay out of the identity."""
    identity = json.loads(RunSpec(ExperimentConfig(), 0.5, 3).identity())
    assert set(identity) == {
        "hidden_dims", "num_train", "num_val", "epochs", "batch_size", "update_rule", "learning_rate", "weight_scale",
        "reg", "dtype", "dataset", "num_train_samples", "threads_per_run", "keep_prob", "seed",
    }
    assert "steps" in json.loads(RunSpec(ExperimentConfig(steps=100), 0.5, 3).identity())


@pytest.mark.parametrize("kwargs, words", [
    ({"sweep": {"dtype": ["float32", "float64"]}}, "'dtype' cannot be swept"),
    ({"sweep": {"num_train": [10, 10]}}, "must not repeat"),
    ({"sweep": {"num_train": []}}, "must not be empty"),
    ({"sweep": {"num_train": [10, [20]]}}, r"sweep num_train\[1\] must be a single value"),
    ({"sweep": {"learning_rate": [1e-3, -1.0]}}, r"sweep learning_rate\[1\]: learning_rate must be a finite number"),
    ({"sweep": {"hidden_dims": [[8], [0]]}}, r"sweep hidden_dims\[1\]: hidden_dims\[0\]"),
    ({"num_train": 70, "sweep": {"num_train": [10, 20]}}, r"num_train is both set \(70\) and swept"),
    ({"sweep": {"num_train": list(range(1, 30_000))}, "seeds": (0, 1)}, "at most 100000 runs"),
    ({"sweep": ["num_train"]}, "sweep must be a dict"),
    ({"sweep": {"hidden_dims": [[8], [[8]]]}}, r"sweep hidden_dims\[1\] must be a list of layer sizes"),
])
def test_bad_sweeps_are_refused_with_what_was_given(kwargs, words):
    with pytest.raises(DropoutLabError, match=words):
        ExperimentConfig(**kwargs)


def test_each_cell_is_its_own_experiment_bit_for_bit(tmp_path):
    """A sweep's runs are the runs of each cell's config trained alone, and each cell's summary
    compares its keep probabilities with its own keep 1."""
    sweep = {"num_train": [20, 40], "hidden_dims": [[8], [12]]}
    config = ExperimentConfig(**base("num_train", "hidden_dims"), sweep=sweep)
    results = run_experiment(config, out_dir=tmp_path / "exp", jobs=2, progress=False)
    assert results.status == "complete" and len(results.runs) == 16
    alone = []
    for settings, cell in config.cells():
        data = load_experiment_data(cell)
        assert len(data["y_train"]) == cell.num_train
        for k in cell.keep_probs:
            for s in cell.seeds:
                run = run_one(cell, k, s, data)
                run.settings = settings
                alone.append(run)
    assert records(results.runs) == records(alone)
    saved = json.loads((tmp_path / "exp" / "results.json").read_text())
    assert saved["grid"] == {"num_train": [20, 40], "hidden_dims": [[8], [12]]}
    assert "summary" not in saved  # one per cell instead
    assert [c["settings"] for c in saved["cells"]] == [s for s, _ in config.cells()]
    for cell, (settings, summary) in zip(saved["cells"], results.cell_summaries, strict=True):
        rows = cell["summary"]["rows"]
        assert [r["keep_prob"] for r in rows] == [1.0, 0.5] and rows[1]["val_diff_vs_keep1"]["n"] == 2
        ours = [r for r in results.runs if r.settings == settings]
        diff = [b.final_val_acc - a.final_val_acc for a, b in zip(ours[:2], ours[2:], strict=True)]
        assert rows[1]["val_diff_vs_keep1"]["mean"] == pytest.approx(np.mean(diff), abs=1e-12)
        assert summary[1].val_diff_vs_keep1.mean == pytest.approx(np.mean(diff), abs=1e-12)
    with pytest.raises(InvalidArgumentError, match="cell_summaries"):
        results.summary  # noqa: B018 - the property raises


def test_a_sweep_over_num_train_slices_the_arrays_given(tmp_path):
    data = load_experiment_data(ExperimentConfig(**{**BASE, "num_train": 60}))
    config = ExperimentConfig(**base("num_train", keep_probs=(1.0,), seeds=(0,)), sweep={"num_train": [20, 60]})
    results = run_experiment(config, data=data, progress=False)
    assert [r.final_train_acc * n % 1 for r, n in zip(results.runs, (20, 60), strict=True)] == [0, 0]
    for run, n in zip(results.runs, (20, 60), strict=True):
        alone = run_one(ExperimentConfig(**{**BASE, "num_train": n, "keep_probs": (1.0,), "seeds": (0,)}), 1.0, 0,
                        {k: v[:n] if k.endswith("train") else v for k, v in data.items()})
        assert run.loss_history == alone.loss_history


# ------------------------------------------------------------------------------------------ budgets
def test_steps_and_eval_every_reach_the_runs_and_results(tmp_path):
    config = ExperimentConfig(**{**BASE, "seeds": (0,)}, steps=7, eval_every=2)  # 2 steps an epoch: 4 epochs
    results = run_experiment(config, out_dir=tmp_path, progress=False)
    for run in results.runs:
        assert len(run.loss_history) == 7 and run.acc_epochs == [0, 2, 4] and run.epochs_done == 4
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["runs"][0]["acc_epochs"] == [0, 2, 4]
    assert saved["config"]["steps"] == 7 and saved["config"]["eval_every"] == 2


# ------------------------------------------------------------------------------------------ extending
def test_a_resume_extends_with_seeds_keep_probs_axis_values_and_epochs_reusing_every_run(tmp_path, monkeypatch):
    first = ExperimentConfig(**BASE)
    run_experiment(first, out_dir=tmp_path / "exp", progress=False)
    wanted = extended_config(first, {"seeds": 3, "keep_probs": [0.25], "num_train": [20], "epochs": 3})
    assert wanted.keep_probs == (1.0, 0.5, 0.25) and wanted.seeds == (0, 1, 2) and wanted.epochs == 3
    assert wanted.sweep == {"num_train": (40, 20)}

    started: list[tuple] = []
    real = scheduler.Run.__init__

    def spy(self, solver, spec, evaluate=None):
        started.append((spec.settings["num_train"], spec.keep_prob, spec.seed, solver.epoch))
        real(self, solver, spec, evaluate)

    monkeypatch.setattr(scheduler.Run, "__init__", spy)
    extended = run_experiment(wanted, out_dir=tmp_path / "exp", resume=True, progress=False)
    assert extended.status == "complete" and len(extended.runs) == 2 * 3 * 3
    # The 4 saved runs continue from their last checkpoint (epoch 2); the 14 others start at 0.
    continued = sorted(s for s in started if s[3] == 2)
    assert continued == [(40, k, s, 2) for k in (0.5, 1.0) for s in (0, 1)]
    assert len(started) == 18 and sum(s[3] == 0 for s in started) == 14
    fresh = run_experiment(wanted, out_dir=tmp_path / "fresh", progress=False)
    assert records(extended.runs) == records(fresh.runs)  # as if started with the extended settings

    # Nothing left to add: a resume of the extended experiment trains nothing.
    started.clear()
    again = run_experiment(out_dir=tmp_path / "exp", resume=True, progress=False)
    assert started == [] and records(again.runs) == records(extended.runs)


@pytest.mark.parametrize("given, words", [
    ({"epochs": 1}, "epochs 1 is fewer than the 2"),
    ({"dtype": "float64"}, "not runs of the extended experiment.*dtype 'float32' saved, 'float64' now"),
    ({"steps": 9}, "steps None of the saved runs cannot become 9"),
    ({"threads_per_run": 2}, "threads_per_run 1 saved, 2 now"),
])
def test_a_resume_that_would_change_a_saved_run_is_refused_before_any_work(tmp_path, given, words):
    run_experiment(ExperimentConfig(**BASE), out_dir=tmp_path, progress=False)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and p.name != ".dropout-lab.lock"}
    saved = ExperimentConfig.from_dict(json.loads((tmp_path / "results.json").read_text())["config"])
    with pytest.raises(InvalidArgumentError, match=words):
        run_experiment(extended_config(saved, given), out_dir=tmp_path, resume=True, progress=False)
    assert {p: p.read_bytes() for p in before} == before


def test_a_resume_never_drops_a_saved_run(tmp_path):
    run_experiment(ExperimentConfig(**BASE), out_dir=tmp_path, progress=False)
    with pytest.raises(InvalidArgumentError, match="keep_probs must keep the saved experiment's 0.5"):
        run_experiment(ExperimentConfig(**{**BASE, "keep_probs": (1.0,)}), out_dir=tmp_path, resume=True,
                       progress=False)


def test_the_command_line_extends_an_experiment(tmp_path, capsys):
    out = tmp_path / "exp"
    small = ["experiment", "--quiet", "--keep-probs", "1,0.5", "--hidden-dims", "8", "--num-train", "40",
             "--num-val", "60", "--epochs", "2", "--batch-size", "20", "--seeds", "2"]
    assert cli.main([*small, "--out", str(out)]) == 0
    assert cli.main(["experiment", "--quiet", "--resume", str(out), "--hidden-dims", "8", "12", "--seeds", "3"]) == 0
    printed = capsys.readouterr().out
    assert "hidden_dims 8:" in printed and "hidden_dims 12:" in printed
    assert "settings: digits, 40 train, 2 epochs" in printed  # the unswept settings, above the tables
    saved = json.loads((out / "results.json").read_text())
    assert saved["grid"] == {"hidden_dims": [[8], [12]]} and saved["config"]["seeds"] == [0, 1, 2]
    assert len(saved["runs"]) == 2 * 2 * 3 and {r["status"] for r in saved["runs"]} == {"complete"}


# ------------------------------------------------------------------------------------------ study files
STUDY = """
# a 2 x 2 sweep
keep_probs = [1, 0.5]
hidden_dims = [[8], [12]]
num_train = [20, 40]
num_val = 60
epochs = 1
batch_size = 20
seeds = 2
"""


def test_a_study_file_is_the_flags_written_down(tmp_path, capsys):
    study = tmp_path / "study.toml"
    study.write_text(STUDY)
    config = load_study(study)
    assert config.sweep == {"num_train": (20, 40), "hidden_dims": ((8,), (12,))} and config.seeds == (0, 1)
    assert load_study(study, epochs=2).epochs == 2  # the flags given beside it win
    argv = ["experiment", "--quiet", "--config", str(study), "--epochs", "2", "--out", str(tmp_path / "a")]
    assert cli.main(argv) == 0
    saved = json.loads((tmp_path / "a" / "results.json").read_text())
    assert ExperimentConfig.from_dict(saved["config"]) == load_study(study, epochs=2)
    assert "num_train 20, hidden_dims 8:" in capsys.readouterr().out


@pytest.mark.parametrize("text, words", [
    ("keep_probs = [1, 0.5", "is not valid TOML"),
    ("learning_rat = 0.1", "unknown experiment setting 'learning_rat' \\(did you mean learning_rate\\?\\)"),
    ("num_train = -3", "num_train must be a positive integer"),
    ("a = " + "[" * 100_000 + "]" * 100_000, "nests its values too deeply"),
])
def test_a_bad_study_file_names_itself_and_what_is_wrong(tmp_path, text, words):
    study = tmp_path / "study.toml"
    study.write_text(text)
    with pytest.raises((DataError, InvalidArgumentError), match=words) as caught:
        load_study(study)
    assert str(study) in str(caught.value)


# ------------------------------------------------------------------------------------------ Dask and MNIST
def test_a_sweep_on_a_dask_cluster_equals_the_local_run(tmp_path, dask_cluster):
    config = ExperimentConfig(**BASE, sweep={"learning_rate": [5e-4, 1e-3]})
    local = run_experiment(config, out_dir=tmp_path / "local", jobs=2, progress=False)
    remote = run_experiment(config, out_dir=tmp_path / "remote", scheduler=dask_cluster.address, progress=False)
    assert remote.status == "complete" and records(remote.runs) == records(local.runs)
    assert json.loads((tmp_path / "remote" / "results.json").read_text())["cells"] == json.loads(
        (tmp_path / "local" / "results.json").read_text())["cells"]
    # The workers wrote the checkpoints into the shared folder.
    assert sorted(p.name for p in (tmp_path / "remote" / "checkpoints").glob("*.npz")) == sorted(
        f"{s.name}_latest.npz" for s in expand(config))


def test_the_command_line_reads_the_scheduler_from_the_environment(tmp_path, dask_cluster, monkeypatch, capsys):
    monkeypatch.setenv("DROPOUT_LAB_SCHEDULER", dask_cluster.address)
    argv = ["experiment", "--quiet", "--keep-probs", "1", "--hidden-dims", "8", "--num-train", "40", "--epochs", "1",
            "--out", str(tmp_path / "exp")]
    assert cli.main(argv) == 0
    assert json.loads((tmp_path / "exp" / "results.json").read_text())["status"] == "complete"
    monkeypatch.setenv("DROPOUT_LAB_SCHEDULER", "tcp://127.0.0.1:9")  # nothing listens on the discard port
    argv[-1] = str(tmp_path / "other")
    assert cli.main(argv) == 2
    assert "tcp://127.0.0.1:9" in capsys.readouterr().err and not (tmp_path / "other").exists()


def test_an_experiment_on_mnist(mnist_experiment_dir, tmp_path):
    config = ExperimentConfig(dataset="mnist", data_dir=str(mnist_experiment_dir), keep_probs=(1.0,), hidden_dims=(16,),
                              num_train=200, num_val=100, epochs=1, batch_size=50)
    data = load_experiment_data(config)
    assert data["X_train"].shape == (200, 784) and data["X_train"].dtype == np.float32
    assert 0.0 <= data["X_train"].min() and data["X_train"].max() <= 1.0
    results = run_experiment(config, out_dir=tmp_path, progress=False)
    assert results.status == "complete" and results.runs[0].final_train_acc > 0.1


def test_an_interrupted_sweep_on_dask_resumes_to_the_uninterrupted_numbers(tmp_path, dask_cluster, monkeypatch):
    """Ctrl-C (the stop flag) after the first finished run: the running runs checkpoint on the workers
    and return 'interrupted'; a resume (on the cluster) ends with the numbers of an uninterrupted run."""
    from dropout_lab.experiments import runner

    config = ExperimentConfig(**{**BASE, "epochs": 6}, sweep={"learning_rate": [5e-4, 1e-3]})
    flags: list[scheduler.StopFlag] = []

    class FirstFlag(scheduler.StopFlag):
        def __init__(self) -> None:
            super().__init__()
            flags.append(self)

    real_append = runner.RunJournal.append

    def append_then_stop(self, run):
        real_append(self, run)
        flags[-1].request()  # as SIGINT's handler does

    monkeypatch.setattr(runner, "StopFlag", FirstFlag)
    monkeypatch.setattr(runner.RunJournal, "append", append_then_stop)
    stopped = run_experiment(config, out_dir=tmp_path / "exp", scheduler=dask_cluster.address, progress=False)
    assert stopped.status == "interrupted"
    statuses = [r.status for r in stopped.runs]
    assert "complete" in statuses and ("interrupted" in statuses or len(stopped.runs) < len(expand(config)))
    monkeypatch.undo()

    resumed = run_experiment(out_dir=tmp_path / "exp", resume=True, scheduler=dask_cluster.address, progress=False)
    reference = run_experiment(config, out_dir=tmp_path / "reference", jobs=2, progress=False)
    assert resumed.status == "complete" and records(resumed.runs) == records(reference.runs)


def test_the_example_studies_are_valid_experiments():
    """examples/*.toml (make demo's among them) load as the experiments they describe."""
    folder = Path(__file__).resolve().parents[2] / "examples"
    studies = sorted(folder.glob("*.toml"))
    assert {p.name for p in studies} >= {"digits-demo.toml", "mnist-size.toml", "mnist-variants.toml"}
    for study in studies:
        config = load_study(study)
        assert config.sweep and len(expand(config)) >= 8, study.name


def test_a_resume_that_would_merge_two_saved_cells_is_refused(tmp_path):
    """Saved epochs 1 and 2 (swept), then one value of epochs: both saved cells would become one run,
    and one of them would be dropped."""
    saved = ExperimentConfig(**base("epochs", keep_probs=(1.0,), seeds=(0,)), sweep={"epochs": [1, 2]})
    run_experiment(saved, out_dir=tmp_path, progress=False)
    with pytest.raises(InvalidArgumentError, match="would become one run"):
        run_experiment(ExperimentConfig(**base(keep_probs=(1.0,), seeds=(0,), epochs=3)), out_dir=tmp_path,
                       resume=True, progress=False)
    with pytest.raises(InvalidArgumentError, match="swept budget must keep that value"):
        run_experiment(ExperimentConfig(**base("epochs", keep_probs=(1.0,), seeds=(0,)), sweep={"epochs": [3, 4]}),
                       out_dir=tmp_path, resume=True, progress=False)
    assert len(json.loads((tmp_path / "results.json").read_text())["runs"]) == 2


def test_an_extension_renames_the_saved_checkpoints_first_and_a_later_resume_continues_them(tmp_path, monkeypatch):
    """An extension that only adds a swept value renames every saved run's checkpoint to its new cell
    name at once; a later extension with more epochs then continues each from where it stopped."""
    first = ExperimentConfig(**base(seeds=(0,)))
    run_experiment(first, out_dir=tmp_path, progress=False)
    wanted = extended_config(first, {"num_train": [20]})
    run_experiment(wanted, out_dir=tmp_path, resume=True, progress=False)
    names = sorted(p.name for p in (tmp_path / "checkpoints").glob("*.npz"))
    assert names == sorted(f"{s.name}_latest.npz" for s in expand(wanted)) and all(n.startswith("cell-") for n in names)
    started = []
    real = scheduler.Run.__init__

    def spy(self, solver, spec, evaluate=None):
        started.append((spec.settings["num_train"], solver.epoch))
        real(self, solver, spec, evaluate)

    monkeypatch.setattr(scheduler.Run, "__init__", spy)
    longer = extended_config(wanted, {"epochs": 3})
    extended = run_experiment(longer, out_dir=tmp_path, resume=True, progress=False)
    assert sorted(started) == [(20, 2), (20, 2), (40, 2), (40, 2)]
    monkeypatch.undo()
    assert records(extended.runs) == records(run_experiment(longer, out_dir=tmp_path / "fresh", progress=False).runs)
