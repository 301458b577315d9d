"""``run_study`` end to end at the tiny scale: every study's folder, report and measures, numbers that come
from the runs, resuming, and the folders and scales it refuses."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from dropout_lab.errors import DataError, InvalidArgumentError
from dropout_lab.experiments.results import RunResult, read_results
from dropout_lab.reproduce import STUDIES, plan, run_study
from dropout_lab.reproduce.base import PartRuns
from dropout_lab.reproduce.cost import core_hours, run_count
from dropout_lab.reproduce.report import VERDICTS
from dropout_lab.reproduce.studies.fig8_sparsity import hidden_activations

_PNG = b"\x89PNG\r\n\x1a\n"


def mnist_dir_of(studies: dict[str, Path]) -> str:
    """The data folder the tiny studies were run with (their configs record it)."""
    results = read_results(studies["fig8-sparsity"] / "relu")
    return str(results["config"]["data_dir"])


def _report(folder: Path) -> str:
    return (folder / "report.md").read_text(encoding="utf-8")


def _test_errors(folder: Path, part: str) -> dict[tuple[str, float], list[float]]:
    """(cell settings as JSON, keep) -> the runs' test errors (%) as their results.json records them."""
    groups: dict[tuple[str, float], list[float]] = {}
    for run in read_results(folder / part)["runs"]:
        key = (json.dumps(run["settings"], sort_keys=True), run["keep_prob"])
        groups.setdefault(key, []).append(100 * (1 - run["test"]["weight_scaling"]["accuracy"]))
    return groups


@pytest.mark.parametrize("name", list(STUDIES))
def test_each_study_writes_its_report_figures_and_measures(tiny_studies, name):
    folder = tiny_studies[name]
    text = _report(folder)
    study = STUDIES[name]
    for heading in ("## The paper", "## This reproduction", "## Results", "## Claims"):
        assert heading in text
    assert study.source in text and f"`{name}`" in text
    measures = json.loads((folder / "measures.json").read_text(encoding="utf-8"))
    claims = [line for line in text.splitlines() if line.startswith("- **")]
    assert len(claims) == len(measures["claims"]) >= 2
    for line, claim in zip(claims, measures["claims"], strict=True):
        assert line.startswith(f"- **{VERDICTS[claim['reproduced']]}**: {claim['text']}")
    for image in re.findall(r"!\[[^]]*\]\(([^)]+)\)", text):
        assert (folder / image).read_bytes().startswith(_PNG)
    for part in plan(name, "tiny"):
        assert (folder / part.name / "results.json").is_file()
        assert f"`{part.name}`" in text
    manifest = json.loads((folder / "study.json").read_text(encoding="utf-8"))
    assert (manifest["study"], manifest["scale"]) == (name, "tiny")
    paper = plan(name, "paper")
    assert f"| paper scale | {run_count(paper)} runs, about {core_hours(paper):,.0f} core hours |" in text


@pytest.mark.parametrize("name", list(STUDIES))
def test_the_paper_scale_trains_the_papers_way(name):
    # Appendix B.1's update count and final momentum, Hinton et al.'s ramp and decay, on all 50,000 images.
    for part in plan(name, "paper"):
        for _, cell in part.config.cells():
            assert (cell.steps, cell.momentum, cell.momentum_schedule, cell.lr_decay) == (
                1_000_000, 0.95, "linear:0.5:500", 0.998)
            assert cell.num_train == 50_000 or name == "fig10-dataset-size"
            # A dropout net's rate, 10 times a standard net's; Figure 9's nets (all max-norm, p = 1 too) and
            # Figure 8's (no max-norm, with and without dropout in one experiment) each share one rate.
            dropout = any(k < 1 for k in cell.keep_probs) or name == "fig9-dropout-rate"
            assert cell.learning_rate == (0.5 if dropout and name != "fig8-sparsity" else 0.05)


@pytest.mark.parametrize("name", ["fig10-dataset-size", "table9-regularizers", "gaussian-dropout", "fig9-dropout-rate"])
def test_the_test_errors_in_a_report_are_the_runs_own(tiny_studies, name):
    # Every group's mean test error, computed here from the runs' records, is printed in the report.
    folder = tiny_studies[name]
    rows = [line for line in _report(folder).splitlines() if line.startswith("| ")]  # the tables' rows
    for part in plan(name, "tiny"):
        for errors in _test_errors(folder, part.name).values():
            shown = f"| {np.mean(errors):.2f} ± " if len(errors) > 1 else f"| {np.mean(errors):.2f} ("
            assert any(shown in row for row in rows), (part.name, errors)


def test_mc_averaging_restores_the_nets_the_runs_evaluated(tiny_studies):
    # The weight-scaling error of the nets restored from the checkpoints is the runs' own test error:
    # the analysis looked at the nets that were trained, not fresh ones.
    folder = tiny_studies["fig11-mc-averaging"]
    measures = json.loads((folder / "measures.json").read_text(encoding="utf-8"))["measures"]
    recorded = {run["seed"]: 100 * (1 - run["test"]["weight_scaling"]["accuracy"])
                for run in read_results(folder / "dropout")["runs"]}  # fmt: skip
    assert {int(s): v for s, v in measures["weight_scaling"].items()} == pytest.approx(recorded, abs=1e-9)
    errors = np.array(measures["mc"]["0"])  # (draws, ks)
    assert errors.shape == (2, len(measures["ks"]))
    assert np.all((errors >= 0) & (errors <= 100))


def test_sparsity_measures_the_trained_hidden_layer(tiny_studies, mnist_experiment_dir):
    # The activations the report counts are those of the nets restored from the runs' checkpoints: each
    # restored net's test accuracy is the one its run recorded when it finished training.
    folder = tiny_studies["fig8-sparsity"]
    measures = json.loads((folder / "measures.json").read_text(encoding="utf-8"))["measures"]
    (part,) = plan("fig8-sparsity", "tiny", data_dir=mnist_experiment_dir)
    records = [RunResult.from_dict(r) for r in read_results(folder / part.name)["runs"]]
    seen = 0
    for run, model, data in PartRuns(part, folder / part.name, records).models():
        seen += 1
        accuracy = float(np.mean(np.argmax(model.predict_proba(data["X_test"], 0), axis=1) == data["y_test"]))
        assert accuracy == run.test["weight_scaling"]["accuracy"]
        acts = hidden_activations(model, data["X_test"])
        assert acts.shape == (len(data["y_test"]), 16)
        expected = measures["mean_activation"][f"{run.keep_prob:g}"][str(run.seed)]
        assert float(acts.astype(np.float64).mean()) == pytest.approx(expected, rel=1e-12)
    assert seen == len(records) == 4


def test_running_a_study_again_resumes_it_and_trains_nothing(mnist_experiment_dir, tmp_path):
    out = tmp_path / "gauss"
    first = run_study("gaussian-dropout", "tiny", out_dir=out, data_dir=mnist_experiment_dir, progress=False)
    runs_before = read_results(out / "kinds")["runs"]
    measures_before = json.loads((out / "measures.json").read_text(encoding="utf-8"))["measures"]
    again = run_study("gaussian-dropout", "tiny", out_dir=out, data_dir=mnist_experiment_dir, progress=False)
    assert first.status == again.status == "complete"
    assert read_results(out / "kinds")["runs"] == runs_before  # the same records: nothing trained again
    assert json.loads((out / "measures.json").read_text(encoding="utf-8"))["measures"] == measures_before
    manifest = json.loads((out / "study.json").read_text(encoding="utf-8"))
    assert len(manifest["invocations"]) == 2


def test_another_study_or_scale_is_refused_in_a_study_folder(tiny_studies, tmp_path):
    folder = tiny_studies["fig8-sparsity"]
    before = sorted(p.name for p in folder.iterdir())
    with pytest.raises(InvalidArgumentError, match="holds the study 'fig8-sparsity' at scale 'tiny'"):
        run_study("gaussian-dropout", "tiny", out_dir=folder)
    with pytest.raises(InvalidArgumentError, match="not 'fig8-sparsity' at scale 'small'"):
        run_study("fig8-sparsity", "small", out_dir=folder)
    assert sorted(p.name for p in folder.iterdir()) == before


def test_a_folder_of_other_files_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(InvalidArgumentError, match="holds files that are not this study's"):
        run_study("fig8-sparsity", "tiny", out_dir=tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_the_paper_scale_is_refused_here_without_yes_or_a_scheduler(tmp_path):
    out = tmp_path / "paper"
    with pytest.raises(InvalidArgumentError, match=r"60 runs, about [0-9,]+ core hours.*--scheduler.*--yes"):
        run_study("fig9-dropout-rate", "paper", out_dir=out)
    assert not out.exists()


def test_a_study_without_its_checkpoints_is_refused_not_analysed_afresh(tiny_studies, tmp_path):
    folder = tmp_path / "fig8"
    shutil.copytree(tiny_studies["fig8-sparsity"], folder)
    lost = sorted((folder / "relu" / "checkpoints").glob("*_latest.npz"))[0]
    lost.unlink()
    report_before = (folder / "report.md").read_bytes()
    with pytest.raises(DataError, match=re.escape(str(lost))):
        run_study("fig8-sparsity", "tiny", out_dir=folder, data_dir=mnist_dir_of(tiny_studies), progress=False)
    assert (folder / "report.md").read_bytes() == report_before


def test_an_interrupted_study_writes_no_report_and_resumes(mnist_experiment_dir, tmp_path, monkeypatch):
    from dropout_lab.reproduce import run as run_module

    real = run_module.run_experiment
    calls = []

    def stopped_after_the_first_part(config, **kwargs):
        results = real(config, **kwargs)
        calls.append(kwargs["out_dir"].name)
        if len(calls) == 1:
            results.status = "interrupted"
        return results

    monkeypatch.setattr(run_module, "run_experiment", stopped_after_the_first_part)
    out = tmp_path / "table9"
    first = run_study("table9-regularizers", "tiny", out_dir=out, data_dir=mnist_experiment_dir, progress=False)
    assert first.status == "interrupted" and first.findings is None
    assert not (out / "report.md").exists() and calls == ["l2"]
    monkeypatch.setattr(run_module, "run_experiment", real)
    again = run_study("table9-regularizers", "tiny", out_dir=out, data_dir=mnist_experiment_dir, progress=False)
    assert again.status == "complete" and (out / "report.md").is_file()
    statuses = [i["status"] for i in json.loads((out / "study.json").read_text(encoding="utf-8"))["invocations"]]
    assert statuses == ["interrupted", "complete"]


def test_a_study_folder_planned_otherwise_is_refused(tiny_studies, tmp_path):
    folder = tmp_path / "fig8"
    shutil.copytree(tiny_studies["fig8-sparsity"], folder)
    manifest = json.loads((folder / "study.json").read_text(encoding="utf-8"))
    manifest["parts"] = ["relu", "another"]
    (folder / "study.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(InvalidArgumentError, match="as planned by another version"):
        run_study("fig8-sparsity", "tiny", out_dir=folder)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not a study's manifest"),
        ('{"study": "fig8-sparsity", "scale": "tiny", "parts": ["relu"], "invocations": [{"wall_s": "1"}]}',
         "wall_s"),
        ('{"study": "fig8-sparsity", "scale": "tiny", "parts": ["relu"], "invocations": [{"wall_s": -1}]}',
         "wall_s"),
        ('{"study": "fig8-sparsity", "scale": "tiny", "parts": ["relu"]}', "'invocations'"),
        ("[1, 2]", "is not a study's manifest"),
        (" " * (1 << 20) + "{}", "the study's manifest"),
    ],
    ids=["not JSON", "a wall time as text", "a negative wall time", "no invocations", "a list", "too large"],
)
def test_a_damaged_manifest_is_refused_before_any_work(tmp_path, content, message):
    # Its wall times are summed in the report: a damaged one would fail only after the training.
    folder = tmp_path / "study"
    folder.mkdir()
    (folder / "study.json").write_text(content, encoding="utf-8")
    with pytest.raises(InvalidArgumentError, match=re.escape(message)):
        run_study("fig8-sparsity", "tiny", out_dir=folder)
    assert [p.name for p in folder.iterdir()] == ["study.json"]
