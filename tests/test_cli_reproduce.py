"""``dropout-lab reproduce``: the list of studies, a study run from the command line, and its refusals
(one line on stderr, exit status 2, nothing written)."""

from __future__ import annotations

import pytest

from dropout_lab.cli import main
from dropout_lab.reproduce import STUDIES


def test_without_a_study_it_lists_them(capsys):
    assert main(["reproduce"]) == 0
    out = capsys.readouterr().out
    for name, study in STUDIES.items():
        assert name in out and study.source in out
    assert "core hours" in out


def test_a_study_runs_and_prints_its_verdicts(tmp_path, mnist_experiment_dir, capsys):
    out_dir = tmp_path / "fig8"
    argv = ["reproduce", "fig8-sparsity", "--scale", "tiny", "--out", str(out_dir), "--data-dir",
            str(mnist_experiment_dir), "--jobs", "2", "--quiet"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    starts = ("reproduced:", "not reproduced:", "undecided:")
    verdicts = [line for line in out.splitlines() if line.strip().startswith(starts)]
    assert len(verdicts) == 2
    assert f"wrote {out_dir / 'report.md'}" in out
    again = f"reproduce fig8-sparsity --scale tiny --out {out_dir} --data-dir {mnist_experiment_dir} --jobs 2"
    assert f"`dropout-lab {again}`" in (out_dir / "report.md").read_text()  # the command that resumes it


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["reproduce", "fig99"], "no study 'fig99'"),
        (["reproduce", "fig9-dropout-rate", "--scale", "paper"], "--yes"),
        (["reproduce", "fig9-dropout-rate", "--scale", "huge"], "invalid choice: 'huge'"),
        (["reproduce", "--jobs", "2"], "--jobs needs a study"),
        (["reproduce", "--scale", "paper"], "--scale needs a study"),
        (["reproduce", "fig8-sparsity", "--out", " "], "argument --out: expected a folder"),
        (["reproduce", "fig8-sparsity", "--jobs", "0"], "expected a positive integer, got 0"),
    ],
    ids=["unknown study", "paper scale here", "unknown scale", "flags without a study", "a scale without a study",
         "blank out", "zero jobs"],
)
def test_bad_input_is_one_line_and_status_2(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []  # nothing written (the default folder is under results/)
