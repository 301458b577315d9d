"""Crash-safe writes (``dropout_lab._io``): a writer SIGKILLed at random moments leaves either the old
file or the new one, never a torn one; errors leave the old file; a write error (a full disk, a
file-size limit) names the file; and every file the experiment writes (results.json, accuracy.png,
checkpoints) goes through these writers, fsynced before the rename."""

from __future__ import annotations

import builtins
import errno
import io
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from dropout_lab import _io, cli
from dropout_lab._io import atomic_write_bytes, atomic_write_text, atomic_writer
from dropout_lab.experiments import ExperimentConfig, run_experiment

IO_SOURCE = Path(_io.__file__)

# Two versions of different sizes, each a few MB: a torn file would be a prefix, a mix or a
# truncation, none of which equals either. Their first bytes say which version a file holds.
VERSION_SIZES = (3 << 20, (3 << 20) + 777_777)


def version(i: int) -> bytes:
    size = VERSION_SIZES[i % 2]
    head = f"version {i % 2} of {size} bytes\n".encode()
    body = np.random.default_rng(i % 2).integers(0, 256, size - len(head), dtype=np.uint8).tobytes()
    return head + body


WRITER = """
import importlib.util, sys
# _io.py alone, without the package: the writer starts in milliseconds, so the kills land in writes.
spec = importlib.util.spec_from_file_location("dl_io", sys.argv[1])
io = importlib.util.module_from_spec(spec)
spec.loader.exec_module(io)
versions = [open(sys.argv[3], "rb").read(), open(sys.argv[4], "rb").read()]
i = 0
while True:
    io.atomic_write_bytes(sys.argv[2], versions[i % 2])
    i += 1
    if i == 1:
        print("first write done", flush=True)
"""


def temp_files(folder: Path, target: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name.startswith(f".{target.name}.") and p.name.endswith(".tmp"))


def test_sigkill_at_random_moments_leaves_one_whole_version(tmp_path):
    versions = [version(0), version(1)]
    sources = tmp_path / "sources"
    sources.mkdir()
    for i, data in enumerate(versions):
        (sources / f"v{i}").write_bytes(data)
    folder = tmp_path / "out"
    folder.mkdir()
    target = folder / "state.bin"
    bystander = folder / "notes.txt"
    bystander.write_text("not ours")
    rng = np.random.default_rng(20240605)
    seen_versions, leftovers = set(), 0
    for kill in range(8):
        before = set(temp_files(folder, target))
        with subprocess.Popen(  # noqa: S603 (fixed argv: this interpreter, our script, tmp_path files; no shell)
            [sys.executable, "-c", WRITER, str(IO_SOURCE), str(target), str(sources / "v0"), str(sources / "v1")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        ) as writer:
            try:
                assert writer.stdout.readline() == b"first write done\n", writer.stderr.read()
                # A reproducible "random" moment among the next few writes (each takes milliseconds).
                time.sleep(rng.uniform(0.0, 0.05))
                writer.send_signal(signal.SIGKILL)
                writer.wait(timeout=30)
            finally:
                if writer.poll() is None:
                    writer.kill()
                    writer.wait()
        assert writer.returncode == -signal.SIGKILL
        data = target.read_bytes()
        assert data in versions, f"kill {kill}: a torn file of {len(data)} bytes"
        seen_versions.add(versions.index(data))
        new_temps = set(temp_files(folder, target)) - before
        assert len(new_temps) <= 1, f"kill {kill}: {sorted(p.name for p in new_temps)}"
        leftovers += len(new_temps)
        assert sorted(p.name for p in folder.iterdir() if not p.name.endswith(".tmp")) == ["notes.txt", "state.bin"]
    # The writer alternates, so the kills found each version at least once.
    assert seen_versions == {0, 1}

    # A later successful write replaces the target and touches nothing else: neither the file
    # beside it nor a temporary file that might belong to another writer still at work.
    left = temp_files(folder, target)
    assert len(left) == leftovers
    atomic_write_bytes(target, b"after the crashes")
    assert target.read_bytes() == b"after the crashes"
    assert bystander.read_text() == "not ours"
    assert temp_files(folder, target) == left


@pytest.mark.parametrize("error", [RuntimeError("disk on fire"), KeyboardInterrupt()])
def test_an_error_mid_write_leaves_the_old_file_and_no_temporary(tmp_path, error):
    target = tmp_path / "results.json"
    target.write_text("old")
    with pytest.raises(type(error)):
        with atomic_writer(target, "w") as handle:
            handle.write("new, half written")
            raise error
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_a_target_that_is_a_folder_is_refused_and_cleaned_up(tmp_path):
    (tmp_path / "taken").mkdir()
    with pytest.raises(IsADirectoryError):
        atomic_write_text(tmp_path / "taken", "text")
    assert [p.name for p in tmp_path.iterdir()] == ["taken"] and list((tmp_path / "taken").iterdir()) == []


def test_a_missing_folder_fails_before_writing(tmp_path):
    with pytest.raises(FileNotFoundError):
        atomic_write_bytes(tmp_path / "missing" / "x.bin", b"x")
    assert list(tmp_path.iterdir()) == []


def test_new_files_get_the_permissions_open_would_give(tmp_path):
    old = os.umask(0o027)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o640


def test_text_is_utf8_and_mode_is_checked(tmp_path):
    atomic_write_text(tmp_path / "t.txt", "keep ½ ✓\n")
    assert (tmp_path / "t.txt").read_bytes() == "keep ½ ✓\n".encode()
    with pytest.raises(ValueError, match="mode"):
        with atomic_writer(tmp_path / "t.txt", "a"):
            pass
    assert (tmp_path / "t.txt").read_text(encoding="utf-8") == "keep ½ ✓\n"


def test_every_file_the_experiment_writes_is_fsynced_then_renamed_into_place(tmp_path, monkeypatch):
    """Record every open for writing, fsync and rename while an experiment with checkpoints runs."""
    out = tmp_path / "out"
    events: list[tuple[str, str]] = []
    real_open, real_os_open, real_fsync, real_replace = builtins.open, os.open, os.fsync, os.replace

    def inside(path) -> bool:
        try:
            return Path(os.fsdecode(path)).resolve().is_relative_to(out.resolve())
        except (TypeError, ValueError):
            return False

    def spy_open(file, mode="r", *args, **kwargs):
        if isinstance(file, (str, bytes, os.PathLike)) and inside(file) and any(c in mode for c in "wax+"):
            events.append(("open", os.fsdecode(file)))
        return real_open(file, mode, *args, **kwargs)

    def spy_os_open(path, flags, *args, **kwargs):
        if inside(path) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            events.append(("os.open", os.fsdecode(path)))
        return real_os_open(path, flags, *args, **kwargs)

    def spy_fsync(fd):
        target = os.readlink(f"/proc/self/fd/{fd}") if isinstance(fd, int) else str(fd)
        events.append(("fsync", target))
        return real_fsync(fd)

    def spy_replace(src, dst, *args, **kwargs):
        if inside(dst):
            events.append(("replace", f"{os.fsdecode(src)} -> {os.fsdecode(dst)}"))
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", spy_open)
    monkeypatch.setattr(os, "open", spy_os_open)
    monkeypatch.setattr(os, "fsync", spy_fsync)
    monkeypatch.setattr(os, "replace", spy_replace)
    config = ExperimentConfig(keep_probs=(1.0, 0.5), hidden_dims=(8,), num_train=40, epochs=2, batch_size=20)
    run_experiment(config, out_dir=out, progress=False)
    monkeypatch.undo()

    replaced = {}
    for kind, what in events:
        if kind in ("open", "os.open"):
            name = Path(what).name
            # Nothing under the output folder is opened for writing except a fresh temporary file, the
            # journal (appended to, each record fsynced) and the lock file (it only names its holder).
            if name in (".dropout-lab.lock", "runs.jsonl"):
                continue
            assert name.startswith(".") and name.endswith(".tmp"), f"{what} was written in place"
        if kind == "replace":
            src, dst = what.split(" -> ")
            assert Path(src).parent == Path(dst).parent and Path(src).name.startswith(f".{Path(dst).name}.")
            assert ("fsync", str(Path(src).resolve())) in events[: events.index((kind, what))], f"{src} not fsynced"
            replaced[Path(dst).relative_to(out).as_posix()] = replaced.get(Path(dst).relative_to(out).as_posix(), 0) + 1
    # checkpoints/config.json: the settings the checkpoints are written with, checked on resume.
    expected = {"results.json", "accuracy.png", "summary.png", "checkpoints/config.json",
                "checkpoints/keep1_seed0_latest.npz", "checkpoints/keep0.5_seed0_latest.npz"}
    assert set(replaced) == expected
    # One checkpoint per epoch per run, and results.json at the start and the end (runs go to the journal).
    assert replaced["checkpoints/keep1_seed0_latest.npz"] == replaced["checkpoints/keep0.5_seed0_latest.npz"] == 2
    assert replaced["results.json"] == 2
    assert replaced["checkpoints/config.json"] == 1
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    assert written == [  # each run's last checkpoint stays (a resume may give it more epochs)
        ".dropout-lab.lock", "accuracy.png", "checkpoints", "checkpoints/keep0.5_seed0_latest.npz",
        "checkpoints/keep1_seed0_latest.npz", "results.json", "summary.png",
    ]


# ------------------------------------------------------------------- write errors name the file


class _FullDisk(io.FileIO):
    """A file whose every write fails as the kernel reports it: an errno and no file name."""

    code = errno.ENOSPC

    def write(self, data) -> int:  # type: ignore[override] - fails before looking at data
        raise OSError(self.code, os.strerror(self.code))


def fail_writes(monkeypatch, code: int, name_part: str = "") -> None:
    """Every file os.fdopen opens for writing whose name holds ``name_part`` fails its writes with ``code``."""
    real_fdopen = os.fdopen

    def fdopen(fd, mode="r", *args, encoding=None, **kwargs):
        if "w" not in mode or name_part not in Path(os.readlink(f"/proc/self/fd/{fd}")).name:
            return real_fdopen(fd, mode, *args, encoding=encoding, **kwargs)
        raw = _FullDisk(fd, "w")
        raw.code = code
        buffered = io.BufferedWriter(raw)
        return buffered if "b" in mode else io.TextIOWrapper(buffered, encoding=encoding)

    monkeypatch.setattr(os, "fdopen", fdopen)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EFBIG])
@pytest.mark.parametrize("how", ["bytes", "text", "writer"])
def test_a_write_error_names_the_file_and_leaves_no_temporary(tmp_path, monkeypatch, code, how):
    """Issue 11, contract gaps: ENOSPC and EFBIG from a write named no file ("No space left on device")."""
    target = tmp_path / "results.json"
    target.write_text("old")
    fail_writes(monkeypatch, code)
    with pytest.raises(OSError) as info:
        if how == "bytes":
            atomic_write_bytes(target, b"x" * 100_000)
        elif how == "text":
            atomic_write_text(target, "x" * 100_000)
        else:
            with atomic_writer(target, "wb") as handle:
                handle.write(b"x")  # buffered: the error comes from the flush on the way out
    assert info.value.errno == code
    assert info.value.filename == str(target)
    assert str(target) in str(info.value) and os.strerror(code) in str(info.value)
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_an_error_that_already_names_a_file_keeps_its_name(tmp_path):
    elsewhere = str(tmp_path / "elsewhere")
    with pytest.raises(OSError) as info:
        with atomic_writer(tmp_path / "a.bin"):
            raise OSError(errno.EACCES, "Permission denied", elsewhere)
    assert info.value.filename == elsewhere
    # One without an errno is not an OS report about a file: it is left as it was.
    with pytest.raises(OSError) as info:
        with atomic_writer(tmp_path / "a.bin"):
            raise OSError("a message")
    assert info.value.filename is None and str(info.value) == "a message"
    assert list(tmp_path.iterdir()) == []


FSIZE_WRITER = """
import importlib.util, json, resource, signal, sys
spec = importlib.util.spec_from_file_location("dl_io", sys.argv[1])
io = importlib.util.module_from_spec(spec)
spec.loader.exec_module(io)
# What `ulimit -f 64` does; without the signal ignored the kernel would end the process instead.
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))
try:
    io.atomic_write_bytes(sys.argv[2], bytes(1 << 20))
except OSError as exc:
    print(json.dumps({"errno": exc.errno, "filename": exc.filename, "message": str(exc)}))
"""


def test_a_file_size_limit_efbig_names_the_file(tmp_path):
    """A real EFBIG: the process's file-size limit (RLIMIT_FSIZE) is below what is written."""
    target = tmp_path / "state.npz"
    target.write_bytes(b"old")
    child = subprocess.run(  # noqa: S603 - this interpreter, a fixed script, tmp_path files; no shell
        [sys.executable, "-c", FSIZE_WRITER, str(IO_SOURCE), str(target)],
        capture_output=True, text=True, timeout=60, check=True,
    )
    report = json.loads(child.stdout)
    assert report["errno"] == errno.EFBIG
    assert report["filename"] == str(target) and str(target) in report["message"]
    assert target.read_bytes() == b"old"
    assert list(tmp_path.iterdir()) == [target]


TINY_RUN = ["experiment", "--quiet", "--keep-probs", "1", "--hidden-dims", "4", "--num-train", "20", "--epochs", "1"]


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EFBIG])
@pytest.mark.parametrize(("what", "name_part", "written"), [
    ("checkpoint", "_latest.npz.", "checkpoints/keep1_seed0_latest.npz"),
    ("figure", ".accuracy.png.", "accuracy.png"),
])
def test_the_command_line_names_the_file_it_could_not_write(tmp_path, monkeypatch, capsys, code, what, name_part,
                                                            written):
    """One line on stderr naming the file, exit status 2, and no temporary file left; before: for ENOSPC
    "dropout-lab: error: No space left on device", for EFBIG a traceback and exit status 1."""
    out = tmp_path / "out"
    fail_writes(monkeypatch, code, name_part)
    status = cli.main([*TINY_RUN, "--out", str(out)])
    monkeypatch.undo()
    stderr = capsys.readouterr().err
    assert status == cli.EXIT_USAGE, stderr
    assert stderr == f"dropout-lab: error: {out / written}: {os.strerror(code)}\n"
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
