"""An experiment's output folder: which files in it are the experiment's own, a new folder per
experiment, and an exclusive lock held for the experiment's whole length.

The experiment's own files are recognized by their exact names and their content, never by the mere
fact that they lie in the folder:

* ``results.json``: a regular file that reads as a dropout-lab results file (its ``format``);
* ``accuracy.png`` and ``summary.png``: regular files that start with the PNG signature;
* ``runs.jsonl`` (the journal of finished runs) and ``.dropout-lab.lock`` (the lock): regular files;
* ``checkpoints/``: a real folder (a symbolic link is never followed), in which
  ``keep{K}_seed{S}_latest.npz`` (a run's checkpoint), ``config.json`` when it reads as an experiment
  config, and the ``.NAME.*.tmp`` leftovers of the atomic writes of those names are ours;
* ``.NAME.*.tmp`` beside the files above: what an atomic write killed midway leaves.

Any other file (a ``config.json`` beside ``results.json``, notes, data) is not ours: it is never
written, replaced or deleted. A file that bears one of our names but is not ours (a ``results.json``
of another program, a ``checkpoints`` symbolic link) makes ``force`` refuse instead of replacing it.

The lock is ``fcntl.flock`` on ``.dropout-lab.lock`` (POSIX: Linux and macOS). The kernel releases it
when the process ends, however it ends (SIGKILL included), so a stale lock never blocks a resume. On
network file systems flock may exclude only the processes of one machine.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import os
import re
import socket
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .._io import read_regular_file
from ..errors import DataError, DropoutLabError
from .config import NOT_IN_A_RUNS_NUMBERS, ExperimentConfig
from .results import JOURNAL_NAME, RESULTS_FORMAT, RESULTS_NAME

PLOT_NAME = "accuracy.png"
SUMMARY_NAME = "summary.png"
CHECKPOINT_DIR = "checkpoints"
CONFIG_NAME = "config.json"  # in checkpoints/: the settings the checkpoints were written with
LOCK_NAME = ".dropout-lab.lock"

#: A run's checkpoint: ``[cell-{hash}_]keep{K}_seed{S}_latest.npz`` (:func:`~dropout_lab.experiments.grid.run_name`).
_CHECKPOINT = re.compile(r"(?:cell-[0-9a-f]{10}_)?keep[0-9.e+-]+_seed[0-9]+_latest\.npz")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Larger than any results.json an experiment writes; a bigger file (or /dev/zero behind a name) is not ours.
_MAX_OWN_FILE = 1 << 30


@dataclass(frozen=True)
class NewFolder:
    """Ask :func:`~dropout_lab.experiments.run_experiment` for a folder of the experiment's own:
    ``{base}-YYYYMMDD-HHMMSS`` (local time), then ``-2``, ``-3``... if that is taken. It is created
    with ``mkdir``, which fails if the folder exists, so two processes never get the same one, and
    only once the experiment starts writing (an error found earlier leaves nothing behind)."""

    base: str | os.PathLike[str]


def make_new_folder(request: NewFolder) -> Path:
    """Create and return the folder ``request`` asks for (see :class:`NewFolder`)."""
    base = Path(request.base)
    try:
        base.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the output folder {base.parent}: {exc.strerror or exc}") from exc
    stem = f"{base.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    for suffix in range(1, 10_000):
        folder = base.parent / (stem if suffix == 1 else f"{stem}-{suffix}")
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            raise DataError(f"cannot create the output folder {folder}: {exc.strerror or exc}") from exc
        return folder
    raise DataError(f"cannot create a new output folder {base.parent / stem}-N: 9,999 are taken")


# ------------------------------------------------------------------------------------------ our files
def _regular(path: Path) -> os.stat_result | None:
    """``path``'s status if it is a regular file (not followed if a link), else None."""
    try:
        status = path.lstat()
    except OSError:
        return None
    return status if stat.S_ISREG(status.st_mode) else None


def _head(path: Path, size: int) -> bytes:
    with path.open("rb") as handle:
        return handle.read(size)


def _is_results(path: Path) -> bool:
    status = _regular(path)
    if status is None or status.st_size > _MAX_OWN_FILE:
        return False
    try:
        values = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(values, dict) and values.get("format") == RESULTS_FORMAT and "config" in values


def _is_png(path: Path) -> bool:
    try:
        return _regular(path) is not None and _head(path, 8) == _PNG_SIGNATURE
    except OSError:
        return False


def _is_config(path: Path) -> bool:
    status = _regular(path)
    if status is None or status.st_size > 1 << 20:
        return False
    try:
        ExperimentConfig.from_dict(json.loads(path.read_bytes()))
    except (OSError, ValueError, RecursionError, TypeError, DropoutLabError):
        return False
    return True


def _leftover_of(name: str, names: tuple[str, ...] | re.Pattern[str]) -> bool:
    """``name`` is what an atomic write of one of ``names`` leaves when killed (``.NAME.xxxx.tmp``)."""
    if not (name.startswith(".") and name.endswith(".tmp")):
        return False
    target = name[1:].rsplit(".", 2)[0]
    return target in names if isinstance(names, tuple) else names.fullmatch(target) is not None


_TOP_NAMES = (RESULTS_NAME, PLOT_NAME, SUMMARY_NAME, JOURNAL_NAME)


def experiment_files(folder: Path) -> list[str]:
    """The names in ``folder`` that only an experiment writes (``checkpoints`` included, whatever it
    is); empty if there are none or the folder does not exist."""
    try:
        names = sorted(os.listdir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [n for n in names if n in (*_TOP_NAMES, CHECKPOINT_DIR) or _leftover_of(n, _TOP_NAMES)]


def refuse_if_taken(folder: Path) -> None:
    """DataError if ``folder`` holds another experiment's files: a new experiment never writes there."""
    found = experiment_files(folder)
    if found:
        raise DataError(
            f"the output folder {folder} holds another experiment's files ({', '.join(found)}): continue it "
            f"with --resume {folder}, choose another --out, or replace it with --force"
        )


def _own_checkpoint_files(checkpoints: Path) -> list[Path]:
    """The files of ``checkpoints/`` that are ours; DataError if ``config.json`` there is not."""
    ours = []
    for name in sorted(os.listdir(checkpoints)):
        path = checkpoints / name
        if name == CONFIG_NAME:
            if not _is_config(path):
                raise DataError(f"{path} is not an experiment config written by dropout-lab; it is left alone: "
                                "move it, or choose another --out")
            ours.append(path)
        elif (_CHECKPOINT.fullmatch(name) or _leftover_of(name, _CHECKPOINT) or _leftover_of(name, (CONFIG_NAME,))) \
                and _regular(path) is not None:  # fmt: skip
            ours.append(path)
    return ours


def remove_experiment_files(folder: Path) -> None:
    """Remove the experiment's own files from ``folder`` (``--force``), and nothing else.

    Everything is checked before anything is removed: if a file bears one of our names but is not ours
    (see the module's docstring), DataError names it and the folder is left as it was.
    """
    doomed: list[Path] = []
    for name in experiment_files(folder):
        path = folder / name
        if name == CHECKPOINT_DIR:
            if path.is_symlink() or not path.is_dir():
                raise DataError(f"{path} is not a folder dropout-lab made (a symbolic link or a file); it is "
                                "neither followed nor removed: remove it yourself, or choose another --out")
            doomed += _own_checkpoint_files(path)
            continue
        own = {RESULTS_NAME: _is_results, PLOT_NAME: _is_png, SUMMARY_NAME: _is_png}.get(
            name, lambda p: _regular(p) is not None
        )(path)
        if not own:
            raise DataError(f"{path} was not written by dropout-lab; it is left alone: move it, or choose "
                            "another --out")
        doomed.append(path)
    for path in doomed:
        path.unlink(missing_ok=True)
    with contextlib.suppress(FileNotFoundError, OSError):  # not empty: other files stay, and so does it
        (folder / CHECKPOINT_DIR).rmdir()


def check_checkpoint_dir(checkpoints: Path) -> None:
    """DataError if ``checkpoints`` exists but is not a real folder: a link is never followed."""
    if checkpoints.is_symlink() or (checkpoints.exists() and not checkpoints.is_dir()):
        raise DataError(f"{checkpoints} is not a folder dropout-lab made (a symbolic link or a file); it is "
                        "neither followed nor written into")


# ------------------------------------------------------------------------------------------ lock
@contextlib.contextmanager
def locked(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` inside this block (see the module's docstring).

    After locking, the holder (pid, host, start time) is written into the lock file, where a process
    refused the lock reads it for its message. The lock file stays when the block ends (removing it
    would let two processes lock two different files of one name).

    Raises:
        DataError: another process holds the lock (the message says which), or the lock file is not a
            regular file.
    """
    path = folder / LOCK_NAME
    # O_NONBLOCK: a FIFO put there opens at once (and is then refused) instead of blocking.
    flags = os.O_RDWR | os.O_CREAT | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise DataError(f"{path} is a symbolic link; dropout-lab does not follow it") from exc
        if exc.errno == errno.EISDIR:
            raise DataError(
                f"{path} is a folder, not dropout-lab's lock file; remove it or choose another --out"
            ) from exc
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise DataError(f"{path} is not a regular file, not dropout-lab's lock file; remove it or choose another --out")
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DataError(
                f"the output folder {folder} is in use by another dropout-lab process ({_holder(fd)}): wait for "
                "it to end, or choose another --out"
            ) from None
        started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "started": started}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(holder) + "\n").encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def _holder(fd: int) -> str:
    try:
        holder = json.loads(os.pread(fd, 4096, 0))
        return f"pid {int(holder['pid'])} on {holder['host']}, started {holder['started']}"
    except (OSError, ValueError, TypeError, KeyError):
        return "it has not recorded itself yet"  # locked a moment ago; it writes its pid next


# ------------------------------------------------------------------------------ writing and resuming
def prepare_out_dir(out_dir: Path) -> None:
    """Create ``out_dir`` (and its parents) and check that it is writable; DataError names it if not."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the output folder {out_dir}: {exc.strerror or exc}") from exc
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise DataError(f"the output folder {out_dir} is not writable")


def check_checkpoint_config(config: ExperimentConfig, checkpoint_dir: Path) -> None:
    """Refuse to resume checkpoints written under other settings than ``config``'s."""
    path = checkpoint_dir / CONFIG_NAME
    if not os.path.lexists(path):
        return
    data = read_regular_file(path, max_bytes=1 << 20, what="the checkpoints' settings", error=DataError)
    try:
        saved = ExperimentConfig.from_dict(json.loads(data.decode("utf-8")))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError, DropoutLabError) as exc:
        raise DataError(f"{path} cannot be read: {exc}") from exc
    ours, theirs = config.to_dict(), saved.to_dict()
    # Swept settings and the epoch budget may differ in an extended experiment (experiments/extend.py
    # checks those); each checkpoint also names its run, which the Solver checks on loading it.
    free = {*NOT_IN_A_RUNS_NUMBERS, "epochs", *config.sweep, *saved.sweep}
    differ = [k for k in ours if ours[k] != theirs[k] and k not in free]
    if differ:
        detail = "; ".join(f"{k}: {theirs[k]!r} there, {ours[k]!r} in results.json" for k in differ)
        raise DataError(f"the checkpoints in {checkpoint_dir} were written with other settings ({detail})")


def remove_checkpoint_temp_files(checkpoint_dir: Path) -> list[Path]:
    """Delete the temporary checkpoint files a killed process left in ``checkpoint_dir`` (a SIGKILL
    during a write: up to the size of a checkpoint each) and return them.

    Only regular files named as our checkpoint writes name them, directly in the folder; nothing
    through a symbolic link (the folder itself included). For a resume, which holds the folder: no
    other process of ours is writing there.
    """
    if checkpoint_dir.is_symlink() or not checkpoint_dir.is_dir():
        return []
    removed = []
    with os.scandir(checkpoint_dir) as entries:
        for entry in entries:
            if _leftover_of(entry.name, _CHECKPOINT) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed
