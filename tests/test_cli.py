"""The command line's normal paths: experiment, check, data download, help and version."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

import dropout_lab
from dropout_lab import cli

SMALL = ["--keep-probs", "1,0.5", "--hidden-dims", "16", "--num-train", "60", "--epochs", "2", "--batch-size", "30"]


def test_experiment_writes_results_and_prints_the_table(tmp_path, capsys):
    out = tmp_path / "exp"
    status = cli.main(["experiment", *SMALL, "--seeds", "2", "--out", str(out), "--quiet"])
    captured = capsys.readouterr()
    assert status == 0
    assert "keep prob" in captured.out and "val acc vs keep 1" in captured.out
    assert f"wrote {out / 'results.json'}" in captured.out
    assert captured.err == ""  # --quiet and not a terminal: no progress bars
    saved = json.loads((out / "results.json").read_text())
    assert saved["config"]["keep_probs"] == [1.0, 0.5]
    assert saved["config"]["seeds"] == [0, 1]
    assert saved["config"]["hidden_dims"] == [16]
    assert (out / "accuracy.png").is_file()


def test_experiment_options_reach_the_config(tmp_path):
    out = tmp_path / "exp"
    args = [
        "experiment", "--keep-probs", "1,0.8", "--hidden-dims", "8,4", "--num-train", "50", "--num-val", "40",
        "--epochs", "1", "--batch-size", "25", "--update-rule", "sgd_momentum", "--lr", "0.01",
        "--weight-scale", "0.05", "--reg", "0.001", "--dtype", "float64", "--dataset", "digits", "--seed", "7",
        "--out", str(out), "--quiet",
    ]
    assert cli.main(args) == 0
    config = json.loads((out / "results.json").read_text())["config"]
    assert config == {
        **config,
        "keep_probs": [1.0, 0.8], "hidden_dims": [8, 4], "num_train": 50, "num_val": 40, "epochs": 1,
        "batch_size": 25, "update_rule": "sgd_momentum", "learning_rate": 0.01, "weight_scale": 0.05,
        "reg": 0.001, "dtype": "float64", "dataset": "digits", "seeds": [7],
    }


def test_check_passes_and_prints_each_value_with_its_tolerance(capsys):
    assert cli.main(["check"]) == 0
    out = capsys.readouterr().out.splitlines()
    checks = [line for line in out if line.startswith(("PASS", "FAIL"))]
    assert len(checks) == 28 and all(line.startswith("PASS") for line in checks)
    assert any("dropout backward" in line for line in checks)
    assert all("<=" in line for line in checks)
    assert out[-1] == "28 passed, 0 failed"


def test_check_fails_with_status_1_when_a_check_fails(monkeypatch, capsys):
    from dropout_lab import checks

    monkeypatch.setattr(
        checks,
        "run_sanity_checks",
        lambda: [checks.CheckResult("fine layer", 1e-10, 1e-8), checks.CheckResult("broken layer", 1.0, 1e-8)],
    )
    assert cli.main(["check"]) == 1
    assert capsys.readouterr().out.splitlines()[-1] == "1 passed, 1 failed"


def test_data_download_passes_its_options(monkeypatch, tmp_path, capsys):
    calls = []

    def fake(root, *, progress, **options):
        calls.append((root, progress, options))
        return tmp_path / "cifar-10-batches-py"

    monkeypatch.setattr(dropout_lab.data, "download_cifar10", fake)
    args = ["data", "download", "cifar10", "--data-dir", str(tmp_path), "--quiet", "--url", "http://127.0.0.1:9/x"]
    assert cli.main(args) == 0
    assert calls == [(str(tmp_path), False, {"url": "http://127.0.0.1:9/x"})]
    assert str(tmp_path / "cifar-10-batches-py") in capsys.readouterr().out


@pytest.mark.parametrize(
    "args", [["--help"], ["experiment", "--help"], ["check", "--help"], ["data", "download", "--help"]]
)
def test_help_everywhere_with_examples(args, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(args)
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "usage: dropout-lab" in out
    if args != ["--help"]:
        assert "example" in out


def test_version_and_console_script():
    result = subprocess.run([sys.executable, "-m", "dropout_lab.cli", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == f"dropout-lab {dropout_lab.__version__}"


def test_no_command_prints_help_and_exits_2(capsys):
    assert cli.main([]) == 2
    assert "usage: dropout-lab" in capsys.readouterr().out


# option: (the ExperimentConfig field its default comes from, how the help shows that default)
HELP_DEFAULTS = {
    "--keep-probs": ("keep_probs", lambda v: ",".join(f"{k:g}" for k in v)),
    "--hidden-dims": ("hidden_dims", lambda v: ",".join(map(str, v))),
    "--num-train": ("num_train", str),
    "--epochs": ("epochs", str),
    "--batch-size": ("batch_size", str),
    "--update-rule": ("update_rule", str),
    "--lr": ("learning_rate", lambda v: f"{v:g}"),
    "--weight-scale": ("weight_scale", lambda v: f"{v:g}"),
    "--reg": ("reg", lambda v: f"{v:g}"),
    "--dtype": ("dtype", str),
    "--dataset": ("dataset", str),
}


def experiment_help(capsys, monkeypatch) -> dict[str, str]:
    """``experiment --help``, one line per option (wide enough that argparse wraps nothing)."""
    monkeypatch.setenv("COLUMNS", "400")
    with pytest.raises(SystemExit):
        cli.main(["experiment", "--help"])
    lines = capsys.readouterr().out.splitlines()
    return {line.split()[0]: line for line in lines if line.startswith("  --")}


def test_experiment_help_shows_the_configs_defaults(capsys, monkeypatch):
    from dropout_lab.experiments import ExperimentConfig
    from dropout_lab.experiments.runner import default_jobs

    defaults = ExperimentConfig()
    shown = experiment_help(capsys, monkeypatch)
    for option, (field, show) in HELP_DEFAULTS.items():
        assert f"(default {show(getattr(defaults, field))}" in shown[option], shown[option]
    assert f"(default: seeds {','.join(map(str, defaults.seeds))})" in shown["--seeds"]
    assert "(default all)" in shown["--num-val"] and defaults.num_val is None
    assert "$DROPOUT_LAB_DATA" in shown["--data-dir"] and defaults.data_dir is None
    assert "sgd, sgd_momentum, rmsprop or adam" in shown["--update-rule"]
    assert "digits, cifar10 or mnist" in shown["--dataset"]
    assert f"(default: the cores this process may use over --threads-per-run, {default_jobs(1)} here" in shown["--jobs"]


def test_experiment_help_follows_a_changed_config_default(capsys, monkeypatch):
    """The help reads the config's defaults, so a default changed there changes the help too."""
    from dropout_lab.experiments import ExperimentConfig

    fields = {f.name: f for f in dataclasses.fields(ExperimentConfig)}
    monkeypatch.setattr(fields["epochs"], "default", 7)
    monkeypatch.setattr(fields["learning_rate"], "default", 0.125)
    monkeypatch.setattr(fields["keep_probs"], "default", (1.0, 0.3))
    shown = experiment_help(capsys, monkeypatch)
    assert "(default 7)" in shown["--epochs"]
    assert "(default 0.125)" in shown["--lr"]
    assert "(default 1,0.3)" in shown["--keep-probs"]


def test_each_config_field_maps_to_a_flag_of_the_experiment_parser(capsys):
    with pytest.raises(SystemExit):
        cli.main(["experiment", "--help"])
    shown = capsys.readouterr().out
    fields = {f.name for f in dataclasses.fields(cli.ExperimentConfig)}
    for field, flag in cli._FIELD_FLAGS.items():
        assert field in fields and f"{flag} " in shown, (field, flag)


def test_a_one_seed_run_says_how_to_get_intervals_and_a_verdict(tmp_path, capsys):
    assert cli.main(["experiment", *SMALL, "--out", str(tmp_path / "one"), "--quiet"]) == 0
    [note] = [line for line in capsys.readouterr().out.splitlines() if "--seeds K" in line]
    assert "confidence intervals and a verdict" in note
    assert cli.main(["experiment", *SMALL, "--seeds", "2", "--out", str(tmp_path / "two"), "--quiet"]) == 0
    assert "--seeds K" not in capsys.readouterr().out


def test_a_list_without_keep_1_says_why_the_comparison_columns_are_missing(tmp_path, capsys):
    small = [*SMALL[2:], "--keep-probs", "0.5,0.75", "--seeds", "2", "--out", str(tmp_path / "exp"), "--quiet"]
    assert cli.main(["experiment", *small]) == 0
    out = capsys.readouterr().out
    assert "vs keep 1" not in out
    assert "no keep probability 1 (no dropout) in --keep-probs: the columns that compare with it are missing" in out


def test_resuming_a_finished_experiment_says_there_was_nothing_to_do(tmp_path, capsys):
    out = tmp_path / "exp"
    assert cli.main(["experiment", *SMALL, "--out", str(out), "--quiet"]) == 0
    assert "nothing to do" not in capsys.readouterr().out
    assert cli.main(["experiment", "--resume", str(out), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith(f"nothing to do: every run in {out} was complete already\n")
    assert "keep prob" in captured.out and captured.err == ""


@pytest.mark.parametrize(("given", "threads", "expected"), [([], "1", 3), ([], "2", 1), (["--jobs", "2"], "1", 2)])
def test_jobs_defaults_to_the_usable_cores_over_threads_per_run(tmp_path, monkeypatch, given, threads, expected):
    from dropout_lab.experiments import runner

    used = []
    real_run_all = runner.run_all

    def spy(*args, jobs, **kwargs):
        used.append(jobs)
        return real_run_all(*args, jobs=jobs, **kwargs)

    monkeypatch.setattr(runner, "run_all", spy)
    monkeypatch.setattr(runner, "available_threads", lambda: 3)
    out = tmp_path / "exp"
    args = ["experiment", *SMALL, "--threads-per-run", threads, "--out", str(out), "--quiet", *given]
    assert cli.main(args) == 0
    assert cli.main(["experiment", "--resume", str(out), "--quiet", *given]) == 0  # the saved threads count too
    assert used == [expected, expected]
