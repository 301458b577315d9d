"""``run_study`` end to end at the tiny scale: every study's folder, report and measures, numbers that come
from the runs, resuming, and the folders and scales it refuses."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from dropout_lab.errors import InvalidArgumentError
from dropout_lab.experiments.results import RunResult, read_results
from dropout_lab.reproduce import STUDIES, plan, run_study
from dropout_lab.reproduce.base import PartRuns
from dropout_lab.reproduce.report import VERDICTS
from dropout_lab.reproduce.studies.fig8_sparsity import hidden_activations

_PNG = b"\x89PNG\r\n\x1a\n"


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


@pytest.mark.parametrize("name", ["fig10-dataset-size", "table9-regularizers", "gaussian-dropout", "fig9-dropout-rate"])
def test_the_test_errors_in_a_report_are_the_runs_own(tiny_studies, name):
    # Every group's mean test error, computed here from the runs' records, is printed in the report.
    folder = tiny_studies[name]
    text = _report(folder)
    for part in plan(name, "tiny"):
        for errors in _test_errors(folder, part.name).values():
            assert f"{np.mean(errors):.2f}" in text, (part.name, errors)


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
    # The activations the report counts are those of the nets restored from the runs' checkpoints.
    folder = tiny_studies["fig8-sparsity"]
    measures = json.loads((folder / "measures.json").read_text(encoding="utf-8"))["measures"]
    (part,) = plan("fig8-sparsity", "tiny", data_dir=mnist_experiment_dir)
    records = [RunResult.from_dict(r) for r in read_results(folder / part.name)["runs"]]
    seen = 0
    for run, model, data in PartRuns(part, folder / part.name, records).models():
        seen += 1
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
