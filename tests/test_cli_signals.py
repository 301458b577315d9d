"""Signals and a vanished reader, with real processes: SIGTERM (what ``kill``, systemd and cluster
schedulers send) stops ``dropout-lab experiment`` as Ctrl-C does, at any moment, with exit status
143 (128 + 15; SIGINT's stays 130), and the experiment resumes to the uninterrupted numbers; a closed
standard output (``dropout-lab check | head -2``) ends quietly with exit status 141 (128 + SIGPIPE).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from dropout_lab import cli
from dropout_lab.experiments import cell_data

from .experiments.test_faults import (
    histories,
    reference,  # noqa: F401 - a fixture, used by name
    resume,
    signal_group,
    start_experiment,
    wait_for_progress,
)

TINY = ["experiment", "--quiet", "--keep-probs", "1", "--hidden-dims", "4", "--num-train", "20", "--epochs", "1"]


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_sigterm_during_training_saves_checkpoints_exits_143_and_resumes_bit_for_bit(tmp_path, reference, jobs):  # noqa: F811 - the fixture
    out = tmp_path / "out"
    child = start_experiment(tmp_path, out, "--jobs", jobs)
    wait_for_progress(child, out, need_complete=jobs == "1")
    _, stderr = signal_group(child, signal.SIGTERM)

    assert child.returncode == cli.EXIT_TERMINATED == 143, stderr
    assert stderr.splitlines() == [f"dropout-lab: interrupted; continue with: dropout-lab experiment --resume {out}"]
    saved = json.loads((out / "results.json").read_text())
    assert saved["status"] == "interrupted"
    partial = [r for r in saved["runs"] if r["status"] == "interrupted"]
    assert partial
    assert sorted(p.name for p in (out / "checkpoints").glob("*.npz")) == sorted(
        f"keep{r['keep_prob']:g}_seed0_latest.npz" for r in saved["runs"]  # the complete runs keep theirs too
    )
    finished = resume(out, jobs)
    assert finished.returncode == 0, finished.stderr
    saved = json.loads((out / "results.json").read_text())
    assert saved["status"] == "complete"
    assert histories(saved["runs"]) == reference


def test_sigint_still_exits_130_after_a_sigterm_run_in_the_same_process(tmp_path, monkeypatch, capsys):
    """The status follows the signal of this experiment, not of an earlier one."""
    def terminated(*_):
        os.kill(os.getpid(), signal.SIGTERM)  # handled by the time the call returns
        raise AssertionError("SIGTERM did not interrupt")

    monkeypatch.setattr(cell_data, "_full_data", terminated)
    assert cli.main([*TINY, "--out", str(tmp_path / "a")]) == cli.EXIT_TERMINATED
    monkeypatch.setattr(cell_data, "_full_data", lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    assert cli.main([*TINY, "--out", str(tmp_path / "b")]) == cli.EXIT_INTERRUPTED
    assert capsys.readouterr().err == "dropout-lab: interrupted\n" * 2


def test_sigterm_before_training_starts_exits_143_and_the_handler_is_restored(tmp_path, monkeypatch, capsys):
    def terminated(*_):
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("SIGTERM did not interrupt")

    monkeypatch.setattr(cell_data, "_full_data", terminated)
    before = signal.getsignal(signal.SIGTERM)
    assert cli.main([*TINY, "--out", str(tmp_path / "out")]) == cli.EXIT_TERMINATED == 143
    assert capsys.readouterr().err == "dropout-lab: interrupted\n"
    assert signal.getsignal(signal.SIGTERM) is before


def test_sigterm_while_the_figure_is_drawn_exits_143_with_results_saved(tmp_path, monkeypatch, capsys):
    """After the runs: results.json is whole, and the status says the work was cut short."""
    from dropout_lab.experiments import plot

    def terminated(runs, path, **options):
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("SIGTERM did not interrupt")

    monkeypatch.setattr(plot, "plot_accuracy", terminated)
    out = tmp_path / "out"
    assert cli.main([*TINY, "--out", str(out)]) == cli.EXIT_TERMINATED
    assert json.loads((out / "results.json").read_text())["runs"][0]["status"] == "complete"


def _with_closed_stdout(*argv: str) -> subprocess.CompletedProcess:
    """Run the command line with standard output a pipe whose reader is already gone (as when ``head``
    has read its lines and exited)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        source = Path(cli.__file__).resolve().parents[1]
        return subprocess.run(  # noqa: S603 - this interpreter on the test's own arguments
            [sys.executable, "-m", "dropout_lab.cli", *argv], stdout=write_end, stderr=subprocess.PIPE, text=True,
            timeout=300, env=dict(os.environ, PYTHONPATH=str(source)),
        )
    finally:
        os.close(write_end)


@pytest.mark.parametrize("argv", [("check",), ("experiment", "--resume", "no-such-folder")])
def test_a_closed_stdout_ends_quietly_with_status_141(argv):
    result = _with_closed_stdout(*argv)
    if argv[0] == "check":
        assert (result.returncode, result.stderr) == (cli.EXIT_BROKEN_PIPE, "") == (141, "")
    else:  # nothing printed on stdout: the error line and status are as ever
        assert result.returncode == 2 and "no-such-folder" in result.stderr


def test_a_broken_pipe_that_is_not_stdout_keeps_its_traceback(monkeypatch):
    def broken(args):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(cli, "_check", broken)
    with pytest.raises(BrokenPipeError):
        cli.main(["check"])
