"""Training faults at the experiment level: a loss that becomes NaN, Ctrl-C (SIGINT) and SIGKILL in
the middle of ``dropout-lab experiment`` (serial and parallel), and resuming from a damaged folder
(the one-line refusals of damaged checkpoints and results.json files are in tests/test_cli_errors.py).

After every fault the test checks what a user would rely on: the exit status, the one stderr line,
what ``results.json`` records, which checkpoints exist and that they are whole, and that
``dropout-lab experiment --resume`` then ends with histories bit-for-bit equal to an uninterrupted run.

The subprocess tests slow each call of the model down by two milliseconds (a ``sitecustomize`` hook
that only sleeps, never touches a number) so that the signal lands in the middle of a run whatever the
machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dropout_lab import cli
from dropout_lab.checkpoint import read_training_state
from dropout_lab.errors import CheckpointError
from dropout_lab.experiments import ExperimentConfig, load_experiment_data, run_experiment, run_one
from dropout_lab.models.fc_net import FullyConnectedNet

# The experiment every test here runs: three short runs on the embedded digits (5 steps per epoch).
SETTINGS = dict(keep_probs=(1.0, 0.5, 0.25), hidden_dims=(32,), num_train=100, epochs=12, batch_size=20, seeds=(0,))
CLI_ARGS = ["--keep-probs", "1,0.5,0.25", "--hidden-dims", "32", "--num-train", "100", "--epochs", "12",
            "--batch-size", "20", "--seed", "0", "--quiet"]
# Per call of the model's loss: 5 training steps and 5 scoring batches make an epoch 20 ms or more.
CALL_DELAY_S = 0.002

SLOW_MODEL_HOOK = '''
import os, time
_delay = os.environ.get("DROPOUT_LAB_TEST_CALL_DELAY")
if _delay:
    from dropout_lab import FullyConnectedNet as _Net
    _loss = _Net.loss
    def _slow_loss(self, X, y=None, _loss=_loss, _delay=float(_delay)):
        time.sleep(_delay)  # time only: the numbers computed are the same
        return _loss(self, X, y)
    _Net.loss = _slow_loss
'''


def histories(runs: list[dict[str, Any]]) -> dict[tuple[float, int], tuple]:
    """What must be bit-for-bit equal between two runs of one config (not wall_s)."""
    return {
        (r["keep_prob"], r["seed"]): (r["loss_history"], r["train_acc_history"], r["val_acc_history"],
                                      r["final_train_acc"], r["final_val_acc"], r["best_val_acc"], r["status"])
        for r in runs
    }


@pytest.fixture(scope="module")
def reference() -> dict[tuple[float, int], tuple]:
    """The uninterrupted experiment, run once in this process."""
    results = run_experiment(ExperimentConfig(**SETTINGS), progress=False)
    assert results.status == "complete"
    return histories([r.to_dict() for r in results.runs])


# ------------------------------------------------------------------------------- in-process interruption
@contextlib.contextmanager
def sigint_after_steps(steps: int) -> Iterator[None]:
    """Deliver SIGINT to this process during the ``steps``-th training step of the experiment (as its
    loss is computed), so that the run stops right after that step.

    ``run_experiment`` has installed its handler by then, so this is Ctrl-C as the user presses it.
    """
    original = FullyConnectedNet.loss
    count = [0]

    def loss(self: FullyConnectedNet, X: np.ndarray, y: np.ndarray | None = None) -> Any:
        out = original(self, X, y)
        if y is not None:
            count[0] += 1
            if count[0] == steps:
                signal.raise_signal(signal.SIGINT)
        return out

    FullyConnectedNet.loss = loss
    try:
        yield
    finally:
        FullyConnectedNet.loss = original


def make_interrupted(folder: Path, steps: int = 87, **changes: Any) -> ExperimentConfig:
    """An experiment folder as Ctrl-C leaves it: by default run 1 complete (60 steps), run 2
    stopped after 27 of its steps, in the middle of epoch 6, its checkpoint written."""
    config = ExperimentConfig(**{**SETTINGS, **changes})
    with sigint_after_steps(steps):
        results = run_experiment(config, out_dir=folder, progress=False)
    assert results.status == "interrupted"
    return config


def test_ctrl_c_in_process_checkpoints_mid_epoch_and_resume_is_exact(tmp_path, reference):
    make_interrupted(tmp_path)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["status"] == "interrupted"
    assert [(r["keep_prob"], r["status"]) for r in saved["runs"]] == [(1.0, "complete"), (0.5, "interrupted")]
    assert "stopped at iteration 27" in saved["runs"][1]["message"]
    # The complete run keeps its last checkpoint (a resume can give it more epochs).
    assert sorted(p.name for p in (tmp_path / "checkpoints").glob("*.npz")) == [
        "keep0.5_seed0_latest.npz", "keep1_seed0_latest.npz"
    ]
    assert read_training_state(tmp_path / "checkpoints" / "keep1_seed0_latest.npz").epoch == 12
    state = read_training_state(tmp_path / "checkpoints" / "keep0.5_seed0_latest.npz")
    assert (state.iteration, state.epoch) == (27, 5)  # mid-epoch: 5 epochs of 5 steps, and 2 more
    assert state.loss_history == saved["runs"][1]["loss_history"]

    resumed = run_experiment(out_dir=tmp_path, resume=True, progress=False)
    assert resumed.status == "complete"
    assert histories(json.loads((tmp_path / "results.json").read_text())["runs"]) == reference
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [
        "keep0.25_seed0_latest.npz", "keep0.5_seed0_latest.npz", "keep1_seed0_latest.npz"
    ]  # each run's last state: no temporary file, no config.json
    assert (tmp_path / "accuracy.png").read_bytes()[:4] == b"\x89PNG"


# ------------------------------------------------------------------------------------------- NaN
def test_a_nan_loss_stops_that_run_at_that_iteration(tmp_path, monkeypatch, capsys):
    """The 7th training step of the keep-0.5 run returns a NaN loss: that run stops there with a
    message that says where and why, keeps its best parameters; the others complete; status 3."""
    original = FullyConnectedNet.loss
    calls = {"n": 0}

    def loss(self, X, y=None):
        out = original(self, X, y)
        if y is None or self.keep_probs != (0.5,):
            return out
        calls["n"] += 1
        return (float("nan"), out[1]) if calls["n"] == 7 else out

    monkeypatch.setattr(FullyConnectedNet, "loss", loss)
    status = cli.main(["experiment", *CLI_ARGS, "--out", str(tmp_path)])
    captured = capsys.readouterr()
    assert status == cli.EXIT_DIVERGED == 3
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["status"] == "diverged"
    by_keep = {r["keep_prob"]: r for r in saved["runs"]}
    assert [by_keep[k]["status"] for k in (1.0, 0.5, 0.25)] == ["complete", "diverged", "complete"]
    bad = by_keep[0.5]
    # Where: iteration 7 of 60, in epoch 2 (5 steps per epoch); why: the learning rate.
    assert "iteration 7 / 60 (epoch 2 / 12)" in bad["message"] and "loss is nan" in bad["message"]
    assert "learning rate" in bad["message"] and "the best parameters so far (epoch " in bad["message"]
    assert len(bad["loss_history"]) == 6 and all(np.isfinite(bad["loss_history"]))
    assert len(bad["val_acc_history"]) == 2 and bad["best_val_acc"] == max(bad["val_acc_history"])
    # One stderr line per diverged run, naming it; the summary covers the completed runs only.
    assert captured.err.splitlines() == [f"dropout-lab: keep 0.5 seed 0: {bad['message']}"]
    assert [row["keep_prob"] for row in saved["summary"]["rows"]] == [1.0, 0.25]
    assert (tmp_path / "accuracy.png").exists() and str(tmp_path / "accuracy.png") in captured.out
    # The diverged run's checkpoint is gone (a resume trains it again from the start); the complete
    # runs keep theirs.
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [
        "keep0.25_seed0_latest.npz", "keep1_seed0_latest.npz"
    ]


def test_a_huge_learning_rate_diverges_every_run_and_exits_3(tmp_path):
    """sgd at 1e6 on the real command line: every run diverges, results.json says so, no figure."""
    result = subprocess.run(  # noqa: S603 - this interpreter on the test's own arguments
        [sys.executable, "-m", "dropout_lab.cli", "experiment", *CLI_ARGS, "--update-rule", "sgd", "--lr", "1e6",
         "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["status"] == "diverged" and saved["summary"]["rows"] == []
    for run in saved["runs"]:
        assert run["status"] == "diverged"
        assert "training diverged at iteration" in run["message"] and "learning rate" in run["message"]
        assert "(learning_rate 1e+06)" in run["message"]
        assert f"dropout-lab: keep {run['keep_prob']:g} seed 0: {run['message']}" in result.stderr.splitlines()
    assert not (tmp_path / "accuracy.png").exists()
    assert "accuracy.png" not in result.stdout


def test_divergence_is_reported_without_numpy_warnings(tmp_path, capsys):
    # One step per epoch: the accuracies are measured right after the step that blew the weights up.
    status = cli.main(["experiment", *CLI_ARGS, "--batch-size", "100", "--update-rule", "sgd", "--lr", "1e6",
                       "--out", str(tmp_path)])
    assert status == 3 and "Warning" not in capsys.readouterr().err


# ------------------------------------------------------------------------------------- signals, for real
def start_experiment(tmp_path: Path, out: Path, *extra: str, delay: float = CALL_DELAY_S) -> subprocess.Popen:
    hook = tmp_path / "hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(SLOW_MODEL_HOOK)
    # The hook, then the dropout_lab this process imported (not whichever one the interpreter has installed).
    source = Path(cli.__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(hook), str(source)]),
               DROPOUT_LAB_TEST_CALL_DELAY=str(delay))
    return subprocess.Popen(  # noqa: S603 - this interpreter on the test's own arguments
        [sys.executable, "-m", "dropout_lab.cli", "experiment", *CLI_ARGS, "--out", str(out), *extra],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,  # its own process group: a signal to the group reaches every worker
    )


def _epochs_done(path: Path) -> int | None:
    """The epochs a run's checkpoint records, or None if the run finished and removed it meanwhile."""
    try:
        return read_training_state(path).epoch
    except CheckpointError:
        if path.exists():
            raise  # a torn checkpoint: what atomic writes exist to prevent
        return None


def wait_for_progress(child: subprocess.Popen, out: Path, *, need_complete: bool = True) -> None:
    """Until a run is under way: its checkpoint records 1 to 6 of its 12 epochs, so at least 6 epochs
    (120 ms and more) are left when the signal comes; with ``need_complete``, also until the journal
    lists a completed run (one run after another: ``--jobs 1``; parallel runs advance together, epoch
    by epoch, so none is complete while another is half done)."""
    deadline = time.monotonic() + 60
    while True:
        assert child.poll() is None, f"the experiment ended before it was interrupted: {child.communicate()}"
        assert time.monotonic() < deadline, "no progress in 60 s"
        try:
            runs = json.loads((out / "results.json").read_text())["runs"]
        except FileNotFoundError:
            runs = []
        # The runs finished since the start are in the journal (results.json is written at the end).
        runs += journal_runs(out)
        if not need_complete or any(r["status"] == "complete" for r in runs):
            for path in (out / "checkpoints").glob("*_latest.npz"):
                epochs = _epochs_done(path)
                if epochs is not None and 1 <= epochs <= SETTINGS["epochs"] // 2:
                    return
        time.sleep(0.005)


def journal_runs(out: Path) -> list[dict[str, Any]]:
    """The whole lines of the experiment's journal of finished runs."""
    try:
        text = (out / "runs.jsonl").read_text()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.split("\n")[:-1]]


def signal_group(child: subprocess.Popen, sig: int) -> tuple[str, str]:
    """Send ``sig`` to the experiment and its workers, as Ctrl-C in a terminal does; wait for the end."""
    try:
        with contextlib.suppress(ProcessLookupError):  # the group may be gone already
            os.killpg(child.pid, sig)
        return child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()


def resume(out: Path, jobs: str) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - this interpreter on the test's own arguments
        [sys.executable, "-m", "dropout_lab.cli", "experiment", "--resume", str(out), "--jobs", jobs, "--quiet"],
        capture_output=True, text=True, timeout=120,
    )


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_sigint_stops_cleanly_and_resume_is_bit_for_bit(tmp_path, reference, jobs):
    out = tmp_path / "out"
    child = start_experiment(tmp_path, out, "--jobs", jobs)
    wait_for_progress(child, out, need_complete=jobs == "1")
    stdout, stderr = signal_group(child, signal.SIGINT)

    assert child.returncode == cli.EXIT_INTERRUPTED == 130, stderr
    assert "Traceback" not in stderr
    assert stderr.splitlines() == [f"dropout-lab: interrupted; continue with: dropout-lab experiment --resume {out}"]
    saved = json.loads((out / "results.json").read_text())
    assert saved["status"] == "interrupted"
    complete = [r for r in saved["runs"] if r["status"] == "complete"]
    partial = [r for r in saved["runs"] if r["status"] == "interrupted"]
    assert partial and (complete or jobs == "2") and len(complete) + len(partial) <= 3
    for run in complete:  # completed runs are saved whole and match the uninterrupted ones
        assert histories([run]).items() <= reference.items()
    checkpoints = sorted(p.name for p in (out / "checkpoints").glob("*.npz"))
    assert checkpoints == sorted(f"keep{r['keep_prob']:g}_seed0_latest.npz" for r in partial + complete)
    for run in partial:
        state = read_training_state(out / "checkpoints" / f"keep{run['keep_prob']:g}_seed0_latest.npz")
        assert state.iteration == len(run["loss_history"]) < 60
        assert state.loss_history == run["loss_history"]
    assert not (out / "accuracy.png").exists()

    finished = resume(out, jobs)
    assert finished.returncode == 0, finished.stderr
    saved = json.loads((out / "results.json").read_text())
    assert saved["status"] == "complete"
    assert histories(saved["runs"]) == reference
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == sorted(
        f"keep{r['keep_prob']:g}_seed0_latest.npz" for r in saved["runs"]
    )  # every run's last state, nothing else (no temp file, no config.json)
    assert (out / "accuracy.png").exists()


def test_sigint_to_the_parent_alone_stops_every_parallel_run(tmp_path):
    out = tmp_path / "out"
    child = start_experiment(tmp_path, out, "--jobs", "2")
    wait_for_progress(child, out, need_complete=False)
    try:
        child.send_signal(signal.SIGINT)  # the parent only, as `kill -INT PID` does
        child.communicate(timeout=60)
    finally:
        signal_group(child, signal.SIGKILL)
    assert child.returncode == 130
    saved = json.loads((out / "results.json").read_text())
    assert any(r["status"] == "interrupted" for r in saved["runs"])


def test_sigkill_leaves_whole_files_and_resume_is_bit_for_bit(tmp_path, reference):
    """No chance to clean up: results.json still says 'interrupted' (what it says while the runs train),
    the checkpoints are whatever the last atomic write left, and resuming must still reproduce the
    uninterrupted run exactly."""
    out = tmp_path / "out"
    child = start_experiment(tmp_path, out, "--jobs", "1")
    wait_for_progress(child, out)
    time.sleep(np.random.default_rng(5).uniform(0.0, 0.05))
    signal_group(child, signal.SIGKILL)
    assert child.returncode == -signal.SIGKILL

    saved = json.loads((out / "results.json").read_text())  # whole JSON, never torn
    assert saved["status"] == "interrupted"
    leftovers = [
        p for p in (out / "checkpoints").iterdir() if not p.name.endswith("_latest.npz") and p.name != "config.json"
    ]
    assert all(p.name.startswith(".") and p.name.endswith(".tmp") for p in leftovers)
    for path in (out / "checkpoints").glob("*_latest.npz"):
        read_training_state(path)  # every checkpoint on disk is whole
    assert any(r["status"] == "complete" for r in journal_runs(out))  # the finished run is in the journal

    finished = resume(out, "1")
    assert finished.returncode == 0, finished.stderr
    assert histories(json.loads((out / "results.json").read_text())["runs"]) == reference


def test_a_running_experiment_is_locked_and_a_killed_one_resumes(tmp_path, reference):
    """While the experiment runs, a second process on its folder (a --resume, a --force) is refused
    with the holder's pid; once it is SIGKILLed (no chance to unlock) the folder resumes exactly."""
    out = tmp_path / "out"
    # 0.2 s a call (2 s an epoch): the experiment outlasts the two processes started meanwhile.
    child = start_experiment(tmp_path, out, "--jobs", "1", delay=0.2)
    try:
        wait_for_progress(child, out, need_complete=False)
        for argv in (["--resume", str(out)], [*CLI_ARGS, "--out", str(out), "--force"]):
            second = subprocess.run(  # noqa: S603 - this interpreter on the test's own arguments
                [sys.executable, "-m", "dropout_lab.cli", "experiment", *argv, "--quiet"],
                capture_output=True, text=True, timeout=120,
            )
            assert second.returncode == 2, second.stderr
            [line] = second.stderr.splitlines()
            assert f"{out} is in use by another dropout-lab process (pid {child.pid} on " in line
        assert child.poll() is None  # the first one is untouched
    finally:
        signal_group(child, signal.SIGKILL)
    finished = resume(out, "1")
    assert finished.returncode == 0, finished.stderr
    assert histories(json.loads((out / "results.json").read_text())["runs"]) == reference


# ------------------------------------------------------------------------------ resuming a damaged folder
def corrupt_checkpoint(folder: Path) -> Path:
    path = folder / "checkpoints" / "keep0.5_seed0_latest.npz"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def edit_config(folder: Path, **changes: Any) -> None:
    path = folder / "results.json"
    saved = json.loads(path.read_text())
    saved["config"].update(changes)
    path.write_text(json.dumps(saved, indent=2))


@pytest.mark.parametrize("changes", [{"learning_rate": 0.1}, {"reg": 0.5}])
def test_a_results_json_from_another_training_config_is_refused(tmp_path, capsys, changes):
    make_interrupted(tmp_path)
    edit_config(tmp_path, **changes)
    assert cli.main(["experiment", "--resume", str(tmp_path), "--quiet"]) == 2


def test_a_parallel_resume_that_fails_loses_no_other_run(tmp_path, capsys):
    # Two partial runs to resume in parallel, keep 0.5 and keep 0.25; the keep-0.5 checkpoint is damaged.
    make_interrupted(tmp_path)
    assert [r["status"] for r in json.loads((tmp_path / "results.json").read_text())["runs"]] == [
        "complete", "interrupted"]
    # Ctrl-C stops after one partial run; the keep-0.25 checkpoint comes from an experiment
    # interrupted later, in run 3, the way the experiment itself writes it.
    other = tmp_path / "other"
    make_interrupted(other, steps=147)
    (tmp_path / "checkpoints" / "keep0.25_seed0_latest.npz").write_bytes(
        (other / "checkpoints" / "keep0.25_seed0_latest.npz").read_bytes())
    corrupt_checkpoint(tmp_path)
    saved = (tmp_path / "checkpoints" / "keep0.25_seed0_latest.npz").read_bytes()
    assert cli.main(["experiment", "--resume", str(tmp_path), "--jobs", "2", "--quiet"]) == 2
    survivor = tmp_path / "checkpoints" / "keep0.25_seed0_latest.npz"
    assert survivor.exists() and survivor.read_bytes() == saved


def test_resuming_a_finished_experiment_changes_no_result(tmp_path, reference, capsys):
    run_experiment(ExperimentConfig(**SETTINGS), out_dir=tmp_path, progress=False)
    before = json.loads((tmp_path / "results.json").read_text())
    assert cli.main(["experiment", "--resume", str(tmp_path), "--quiet"]) == 0
    after = json.loads((tmp_path / "results.json").read_text())
    assert after["runs"] == before["runs"] and histories(after["runs"]) == reference


# ------------------------------------------------------------------------- the run a checkpoint belongs to
@pytest.mark.parametrize(
    "changes, words",
    [
        ({"learning_rate": 1e-2}, "learning_rate: 0.0005 there, 0.01 here"),
        ({"reg": 0.1}, "reg: 0.0 there, 0.1 here"),
        ({"weight_scale": 0.05}, "weight_scale: 0.01 there, 0.05 here"),
        ({"num_train": 80}, "num_train: 100 there, 80 here"),
        ({"epochs": 20}, "epochs: 12 there, 20 here"),
    ],
)
def test_a_run_never_continues_another_runs_checkpoint(tmp_path, changes, words):
    """Issue 11, finding 1: a new run with another --lr (--reg, --weight-scale, --num-train) whose
    checkpoint folder holds an interrupted run's ``_latest.npz`` continued that run silently."""
    make_interrupted(tmp_path)  # keep 0.5 stopped in epoch 6, at lr 5e-4
    latest = tmp_path / "checkpoints" / "keep0.5_seed0_latest.npz"
    saved = latest.read_bytes()
    config = ExperimentConfig(**{**SETTINGS, **changes})
    with pytest.raises(CheckpointError, match="belongs to another run") as info:
        run_one(config, 0.5, 0, load_experiment_data(config), checkpoint_dir=tmp_path / "checkpoints")
    assert words in str(info.value) and str(latest) in str(info.value)
    assert latest.read_bytes() == saved


def test_a_resume_refuses_a_checkpoint_written_with_other_settings(tmp_path, capsys):
    # results.json says lr 1e-2, the checkpoint was written at 5e-4 (and no config.json says so).
    make_interrupted(tmp_path)
    edit_config(tmp_path, learning_rate=1e-2)
    (tmp_path / "checkpoints" / "config.json").unlink()
    with pytest.raises(CheckpointError, match="learning_rate: 0.0005 there, 0.01 here"):
        run_experiment(out_dir=tmp_path, resume=True, progress=False)
    assert cli.main(["experiment", "--resume", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "belongs to another run" in err


def test_keep_probabilities_that_differ_never_share_a_checkpoint(tmp_path):
    make_interrupted(tmp_path)  # keep 0.5 stopped mid-run, its checkpoint kept
    config = ExperimentConfig(**SETTINGS)
    data = load_experiment_data(config)
    latest = tmp_path / "checkpoints" / "keep0.5_seed0_latest.npz"
    saved = latest.read_bytes()
    near = run_one(config, 0.5000001, 0, data, checkpoint_dir=tmp_path / "checkpoints")
    fresh = run_one(config, 0.5000001, 0, data)
    assert near.loss_history == fresh.loss_history and near.status == "complete"
    assert latest.read_bytes() == saved


# ------------------------------------------------------------------------------- leftovers of a SIGKILL
def test_a_resume_removes_the_temporary_files_a_killed_write_left(tmp_path, reference):
    """Issue 11, finding 9: a SIGKILL while a checkpoint is written leaves its temporary file (up to
    25 MB for the exercise's net); the resume deletes ours, in the checkpoint folder only."""
    make_interrupted(tmp_path)
    checkpoints = tmp_path / "checkpoints"
    ours = [checkpoints / ".keep0.5_seed0_latest.npz.k3x9_q2z.tmp",
            checkpoints / ".keep1_seed0_latest.npz.abcdefgh.tmp"]
    for path in ours:
        path.write_bytes(bytes(2**20))
    outside = tmp_path.parent / f"{tmp_path.name}-outside.txt"
    outside.write_text("not the experiment's")
    kept = [
        checkpoints / "notes.tmp",
        checkpoints / "keep0.5_seed0_latest.npz.abcdefgh.tmp",  # not a name atomic_writer gives
        checkpoints / ".keep0.5_seed0_latest.npz.abcdefgh.tmp.bak",
        tmp_path / ".keep0.5_seed0_latest.npz.abcdefgh.tmp",  # not in the checkpoint folder
    ]
    for path in kept:
        path.write_text("keep me")
    link = checkpoints / ".keep0.25_seed0_latest.npz.linkedto.tmp"
    link.symlink_to(outside)
    folder = checkpoints / ".keep0.25_seed0_latest.npz.afolder_.tmp"
    folder.mkdir()

    resumed = run_experiment(out_dir=tmp_path, resume=True, progress=False)
    assert resumed.status == "complete"
    assert histories(json.loads((tmp_path / "results.json").read_text())["runs"]) == reference
    assert not any(path.exists() for path in ours)
    assert all(path.read_text() == "keep me" for path in kept)
    assert link.is_symlink() and outside.read_text() == "not the experiment's" and folder.is_dir()
