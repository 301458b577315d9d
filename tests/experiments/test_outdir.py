"""The output folder (issue 11, "nothing lost, nothing mixed"): a new experiment never writes into
another's folder; --force removes only the experiment's own files; the default folder is a new one
per experiment; the folder is locked while an experiment runs; two keep probabilities never share a
file; and results.json is written a fixed number of times however many runs there are (a journal
holds the runs as they finish, and a resume reads it, a torn last line included)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dropout_lab import cli
from dropout_lab.checkpoint import read_training_state
from dropout_lab.errors import DataError
from dropout_lab.experiments import ExperimentConfig, outdir, run_experiment, runner
from dropout_lab.experiments.grid import RunSpec
from dropout_lab.experiments.results import JOURNAL_NAME

# Two runs of one epoch each: about a second.
TINY = dict(keep_probs=(1.0, 0.5), hidden_dims=(4,), num_train=20, num_val=20, epochs=1, batch_size=10, seeds=(0,))
CLI_TINY = ["experiment", "--quiet", "--keep-probs", "1,0.5", "--hidden-dims", "4", "--num-train", "20",
            "--num-val", "20", "--epochs", "1", "--batch-size", "10", "--seed", "0"]


def tree(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (links not followed) with its content's hash; the lock file, whose
    content is rewritten by every process that takes the lock, aside."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.name == outdir.LOCK_NAME:
            continue
        if path.is_symlink():
            out[str(path.relative_to(folder))] = "-> " + os.readlink(path)
        elif path.is_file():
            out[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            out[str(path.relative_to(folder))] = "dir"
    return out


def histories(results) -> dict:
    return {(r.keep_prob, r.seed): (r.loss_history, r.train_acc_history, r.val_acc_history) for r in results.runs}


# ------------------------------------------------------------------------------ a folder of another
def test_a_new_experiment_refuses_a_folder_that_holds_another(tmp_path, capsys):
    """The issue's case: an experiment at lr 5e-4, then a new one at lr 1e-2 into the same folder.
    It used to exit 0 with the first one's histories under the second one's settings."""
    out = tmp_path / "exp"
    run_experiment(ExperimentConfig(**TINY), out_dir=out, progress=False)
    before = tree(out)
    with pytest.raises(DataError) as error:
        run_experiment(ExperimentConfig(**{**TINY, "learning_rate": 1e-2}), out_dir=out, progress=False)
    message = str(error.value)
    assert str(out) in message and f"--resume {out}" in message and "--out" in message and "--force" in message
    assert tree(out) == before

    status = cli.main([*CLI_TINY, "--lr", "1e-2", "--out", str(out)])
    captured = capsys.readouterr()
    assert status == 2 and captured.out == ""
    assert captured.err.splitlines() == [f"dropout-lab: error: {message}"]
    assert tree(out) == before


@pytest.mark.parametrize("name", ["results.json", "checkpoints", "runs.jsonl", "accuracy.png"])
def test_any_of_an_experiments_files_makes_a_folder_taken(tmp_path, name):
    out = tmp_path / "exp"
    out.mkdir()
    (out / name).mkdir() if name == "checkpoints" else (out / name).write_text("x")
    with pytest.raises(DataError, match="holds another experiment's files"):
        run_experiment(ExperimentConfig(**TINY), out_dir=out, progress=False)
    assert sorted(p.name for p in out.iterdir()) == [name]


def test_an_empty_folder_or_one_of_other_files_is_fine(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run_experiment(ExperimentConfig(**TINY), out_dir=empty, progress=False).status == "complete"
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text('{"mine": true}')
    assert run_experiment(ExperimentConfig(**TINY), out_dir=other, progress=False).status == "complete"
    assert (other / "config.json").read_text() == '{"mine": true}'


# ------------------------------------------------------------------------------ --force
def test_force_replaces_only_the_experiments_own_files(tmp_path, capsys):
    out = tmp_path / "exp"
    run_experiment(ExperimentConfig(**{**TINY, "epochs": 3}), out_dir=out, progress=False)
    # What an interrupted experiment leaves, and files of the user's.
    (out / "checkpoints" / "keep0.5_seed0_latest.npz").write_bytes(b"PK\x03\x04")
    (out / "checkpoints" / "config.json").write_text(json.dumps(ExperimentConfig(**TINY).to_dict()))
    (out / "checkpoints" / ".keep0.5_seed0_latest.npz.abc123.tmp").write_bytes(b"half")
    (out / JOURNAL_NAME).write_text("")
    (out / "config.json").write_text('{"mine": true}')
    (out / "checkpoints" / "notes.txt").write_text("mine too")
    status = cli.main([*CLI_TINY, "--lr", "1e-2", "--out", str(out), "--force"])
    assert status == 0, capsys.readouterr().err
    saved = json.loads((out / "results.json").read_text())
    assert saved["config"]["learning_rate"] == 1e-2 and saved["config"]["epochs"] == 1
    assert all(len(r["val_acc_history"]) == 2 for r in saved["runs"])  # the new runs, not the old ones
    assert (out / "config.json").read_text() == '{"mine": true}'
    # The old runs' checkpoints went; the new runs' last checkpoints and the user's file are there.
    names = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert names == sorted(["notes.txt", *(f"keep{k:g}_seed0_latest.npz" for k in TINY["keep_probs"])])
    assert all(read_training_state(out / "checkpoints" / n).epoch == 1 for n in names if n.endswith(".npz"))
    assert not (out / JOURNAL_NAME).exists()


def test_force_never_follows_a_checkpoints_link(tmp_path):
    target = tmp_path / "precious"
    target.mkdir()
    (target / "keep0.5_seed0_latest.npz").write_bytes(b"not yours")
    (target / "config.json").write_text(json.dumps(ExperimentConfig(**TINY).to_dict()))
    out = tmp_path / "exp"
    run_experiment(ExperimentConfig(**TINY), out_dir=out, progress=False)
    shutil.rmtree(out / "checkpoints")
    os.symlink(target, out / "checkpoints")
    before, kept = tree(out), tree(target)
    with pytest.raises(DataError, match="checkpoints is not a folder dropout-lab made.*neither followed"):
        run_experiment(ExperimentConfig(**TINY), out_dir=out, force=True, progress=False)
    with pytest.raises(DataError, match="holds another experiment's files"):
        run_experiment(ExperimentConfig(**TINY), out_dir=out, progress=False)
    assert tree(out) == before and tree(target) == kept


@pytest.mark.parametrize(
    "name, content, words",
    [
        ("results.json", '{"accuracy": 0.9}', "results.json was not written by dropout-lab"),
        ("accuracy.png", "a drawing", "accuracy.png was not written by dropout-lab"),
        ("checkpoints/config.json", '{"mine": true}', "config.json is not an experiment config"),
    ],
)
def test_force_refuses_a_file_of_our_name_that_is_not_ours(tmp_path, name, content, words):
    out = tmp_path / "exp"
    run_experiment(ExperimentConfig(**{**TINY, "checkpoint_every": 1}), out_dir=out, progress=False)
    (out / name).write_text(content)
    before = tree(out)
    with pytest.raises(DataError, match=words):
        run_experiment(ExperimentConfig(**TINY), out_dir=out, force=True, progress=False)
    assert tree(out) == before  # checked before anything was removed


def test_force_and_resume_together_are_refused(tmp_path, capsys):
    with pytest.raises(ValueError, match="choose one"):
        run_experiment(out_dir=tmp_path, resume=True, force=True, progress=False)
    assert cli.main(["experiment", "--resume", str(tmp_path), "--force"]) == 2
    assert "--force" in capsys.readouterr().err


# ------------------------------------------------------------------------------ the default folder
def test_the_default_folder_is_a_new_one_per_experiment(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(outdir.time, "strftime", lambda fmt: "20261201-120000")  # both in one second
    assert cli.main(CLI_TINY) == 0
    first = capsys.readouterr().out
    assert cli.main([*CLI_TINY, "--lr", "1e-2"]) == 0
    second = capsys.readouterr().out
    folders = sorted(p.name for p in (tmp_path / "results").iterdir())
    assert folders == ["experiment-20261201-120000", "experiment-20261201-120000-2"]
    assert f"wrote {Path('results', folders[0], 'results.json')}" in first
    assert f"wrote {Path('results', folders[1], 'results.json')}" in second
    configs = [json.loads((tmp_path / "results" / f / "results.json").read_text())["config"] for f in folders]
    assert [c["learning_rate"] for c in configs] == [5e-4, 1e-2]


def test_the_default_folder_is_made_only_once_the_experiment_starts_writing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main([*CLI_TINY, "--num-train", "100000"]) == 2
    assert list(tmp_path.iterdir()) == []


def test_a_new_folder_is_created_exclusively(tmp_path, monkeypatch):
    monkeypatch.setattr(outdir.time, "strftime", lambda fmt: "20261201-120000")
    request = outdir.NewFolder(tmp_path / "deep" / "exp")
    made = [outdir.make_new_folder(request) for _ in range(3)]
    assert [p.name for p in made] == ["exp-20261201-120000", "exp-20261201-120000-2", "exp-20261201-120000-3"]


# ------------------------------------------------------------------------------ exact keep probabilities
def test_keep_probabilities_that_differ_never_share_a_checkpoint_or_a_row(tmp_path):
    """keep 0.5 and 0.5000001 were both 'keep0.5' in checkpoint names (formatted with :g)."""
    assert runner.run_name(0.5, 0) == "keep0.5_seed0"  # unchanged where the short form is exact
    assert runner.run_name(0.25, 3) == "keep0.25_seed3" and runner.run_name(1.0, 0) == "keep1_seed0"
    assert runner.run_name(0.5000001, 0) == "keep0.5000001_seed0"
    assert runner.run_name(1 - 2**-40, 0) != runner.run_name(1.0, 0)
    config = ExperimentConfig(**{**TINY, "keep_probs": (0.5, 0.5000001)})
    data = runner.load_experiment_data(config)
    names = {runner._build_solver(RunSpec(config, k, 0), data, tmp_path).checkpoint_name for k in config.keep_probs}
    assert len(names) == 2
    results = run_experiment(config, out_dir=tmp_path / "exp", progress=False)
    assert [row.keep_prob for row in results.summary] == [0.5, 0.5000001]
    saved = json.loads((tmp_path / "exp" / "results.json").read_text())
    assert [row["keep_prob"] for row in saved["summary"]["rows"]] == [0.5, 0.5000001]


# ------------------------------------------------------------------------------ the lock
def test_a_folder_locked_by_another_is_refused_with_who_holds_it(tmp_path):
    out = tmp_path / "exp"
    run_experiment(ExperimentConfig(**TINY), out_dir=out, progress=False)
    before = tree(out)
    with outdir.locked(out):
        held = re.escape(f"{out} is in use by another dropout-lab process (pid {os.getpid()} on ")
        for call in (dict(resume=True), dict(config=ExperimentConfig(**TINY), force=True)):
            with pytest.raises(DataError, match=held):
                run_experiment(out_dir=out, progress=False, **call)
    assert tree(out) == before
    assert run_experiment(out_dir=out, resume=True, progress=False).status == "complete"  # released


HOLD_LOCK = """
import sys, time
from pathlib import Path
from dropout_lab.experiments.outdir import locked
with locked(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(60)
"""


@pytest.mark.parametrize("kind", ["folder", "fifo"])
def test_a_lock_file_that_is_not_a_file_is_one_clear_error(tmp_path, kind):
    """A folder or a FIFO where the lock file goes was a traceback (IsADirectoryError, EINVAL)."""
    lock = tmp_path / "out" / outdir.LOCK_NAME
    lock.parent.mkdir()
    lock.mkdir() if kind == "folder" else os.mkfifo(lock)
    with pytest.raises(DataError, match=r"not dropout-lab's lock file"):
        with outdir.locked(tmp_path / "out"):
            pass
    assert lock.exists()  # left as it was


def test_a_lock_held_by_another_process_and_released_when_it_is_killed(tmp_path):
    out = tmp_path / "exp"
    run_experiment(ExperimentConfig(**TINY), out_dir=out, progress=False)
    source = str(Path(cli.__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=source)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(out)], stdout=subprocess.PIPE, text=True,  # noqa: S603 - this interpreter, our script
                              env=env)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        second = subprocess.run(  # noqa: S603 - this interpreter on the test's own arguments
            [sys.executable, "-m", "dropout_lab.cli", "experiment", "--resume", str(out), "--quiet"],
            capture_output=True, text=True, timeout=120, env=env,
        )
        assert second.returncode == 2 and second.stdout == ""
        assert second.stderr.splitlines() == [
            f"dropout-lab: error: the output folder {out} is in use by another dropout-lab process "
            f"(pid {holder.pid} on {os.uname().nodename}, started {_started(out)}): wait for it to end, or "
            "choose another --out"
        ]
    finally:
        holder.kill()  # SIGKILL: no chance to unlock; the kernel releases the lock
        holder.communicate()
    assert run_experiment(out_dir=out, resume=True, progress=False).status == "complete"


def _started(out: Path) -> str:
    return json.loads((out / outdir.LOCK_NAME).read_text())["started"]


# ------------------------------------------------------------------------------ the journal
def test_results_json_is_written_a_fixed_number_of_times_whatever_the_runs(tmp_path, monkeypatch):
    """It was rewritten after every run, the summary recomputed each time: quadratic in the runs."""
    real = runner.write_results
    writes: list[int] = []
    monkeypatch.setattr(runner, "write_results", lambda results, out: (writes.append(1), real(results, out)))
    for n_seeds in (1, 4):
        writes.clear()
        config = ExperimentConfig(**{**TINY, "seeds": tuple(range(n_seeds))})
        run_experiment(config, out_dir=tmp_path / str(n_seeds), progress=False)
        assert len(writes) == 2  # at the start and at the end


def _killed_folder(tmp_path: Path, reference) -> Path:
    """What a SIGKILL during the second run leaves: results.json as written at the start, the first
    run in the journal, and the second run's line cut short."""
    out = tmp_path / "killed"
    out.mkdir()
    start = json.loads((tmp_path / "whole" / "results.json").read_text())
    (out / "results.json").write_text(json.dumps({**start, "status": "interrupted", "runs": [], "summary": {}}))
    first, second = start["runs"]
    line2 = json.dumps(second)
    (out / JOURNAL_NAME).write_text(json.dumps(first) + "\n" + line2[: len(line2) // 2])
    return out


def test_resume_reads_the_journal_and_ignores_a_torn_last_line(tmp_path):
    whole = run_experiment(ExperimentConfig(**{**TINY, "epochs": 2}), out_dir=tmp_path / "whole", progress=False)
    out = _killed_folder(tmp_path, whole)
    resumed = run_experiment(out_dir=out, resume=True, progress=False)
    assert resumed.status == "complete" and histories(resumed) == histories(whole)
    # The first run came from the journal (its wall time as recorded), the torn one was trained again.
    assert resumed.runs[0].wall_s == whole.runs[0].wall_s and resumed.runs[1].wall_s != whole.runs[1].wall_s
    saved = json.loads((out / "results.json").read_text())
    assert saved["status"] == "complete" and len(saved["runs"]) == 2
    assert not (out / JOURNAL_NAME).exists()


def test_a_damaged_journal_line_that_is_not_the_last_is_refused(tmp_path):
    whole = run_experiment(ExperimentConfig(**{**TINY, "epochs": 2}), out_dir=tmp_path / "whole", progress=False)
    out = _killed_folder(tmp_path, whole)
    journal = out / JOURNAL_NAME
    journal.write_text("{oops\n" + journal.read_text())
    before = tree(out)
    with pytest.raises(DataError, match=r"runs.jsonl, line 1"):
        run_experiment(out_dir=out, resume=True, progress=False)
    assert tree(out) == before


def test_the_journal_holds_each_run_as_it_finishes(tmp_path, monkeypatch):
    seen: list[list[str]] = []
    real = runner.RunJournal.append

    def spy(self, run):
        real(self, run)
        seen.append([json.loads(line)["keep_prob"] for line in self.path.read_text().splitlines()])

    monkeypatch.setattr(runner.RunJournal, "append", spy)
    run_experiment(ExperimentConfig(**TINY), out_dir=tmp_path, progress=False)
    assert seen == [[1.0], [1.0, 0.5]]
    assert not (tmp_path / JOURNAL_NAME).exists()  # results.json holds them all at the end


def test_checkpoint_settings_are_compared_on_what_a_runs_numbers_depend_on(tmp_path):
    """checkpoint_every does not change a run's numbers (the run identity leaves it out), so checkpoints
    written with another one resume; a setting that does change them is refused."""
    config = ExperimentConfig(keep_probs=(1.0,), seeds=(0,), epochs=2, checkpoint_every=1)
    (tmp_path / runner.CONFIG_NAME).write_text(json.dumps({**config.to_dict(), "checkpoint_every": 2}))
    outdir.check_checkpoint_config(config, tmp_path)  # accepted
    # The epoch budget may grow in an extended experiment: each checkpoint names its run, with its epochs.
    (tmp_path / runner.CONFIG_NAME).write_text(json.dumps({**config.to_dict(), "epochs": 3}))
    outdir.check_checkpoint_config(config, tmp_path)  # accepted
    (tmp_path / runner.CONFIG_NAME).write_text(json.dumps({**config.to_dict(), "reg": 0.5}))
    with pytest.raises(DataError, match=r"other settings \(reg: 0.5 there, 0.0 in results.json\)"):
        outdir.check_checkpoint_config(config, tmp_path)
