"""Crash-safe file writing: every file dropout-lab writes goes through here.

A file is written to a temporary name in the same folder, flushed, fsynced and renamed over the
target, and the folder is fsynced: a crash at any moment leaves either the old file or the new one,
never a torn one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, overload

if TYPE_CHECKING:
    # Only for annotations: at run time this module needs nothing but the standard library (the
    # crash tests load it on its own in a child process).
    from ._typing import StrPath


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some platforms cannot open folders; the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@overload
def atomic_writer(path: StrPath, mode: Literal["wb"] = "wb") -> contextlib.AbstractContextManager[IO[bytes]]: ...


@overload
def atomic_writer(path: StrPath, mode: Literal["w"]) -> contextlib.AbstractContextManager[IO[str]]: ...


@contextlib.contextmanager
def atomic_writer(path: StrPath, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on a clean exit it replaces ``path`` atomically.

    On an exception the temporary file is removed and ``path`` is left as it was. An ``OSError`` that
    names no file (a full disk, ``EFBIG`` from a file-size limit: errors of a write, a flush or an
    fsync) leaves with ``path`` as its ``filename``, so its message says which file could not be written.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', got {mode!r}")
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    tmp = Path(tmp_name)
    try:
        # mkstemp makes the file private (0600); give it the permissions a plain open() would.
        os.fchmod(fd, 0o666 & ~_current_umask())
        with os.fdopen(fd, mode, encoding="utf-8" if mode == "w" else None) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if isinstance(exc, OSError) and exc.errno is not None and exc.filename is None:
            exc.filename = os.fspath(target)  # the kernel's errors of a write name no file
        raise
    _fsync_dir(folder)


def atomic_write_bytes(path: StrPath, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_writer`)."""
    with atomic_writer(path, "wb") as handle:
        handle.write(data)


def atomic_write_text(path: StrPath, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_writer`)."""
    with atomic_writer(path, "w") as handle:
        handle.write(text)



def _file_kind(mode: int) -> str | None:
    """What a file of ``mode`` is, in a user's words, or None for a regular file."""
    import stat

    if stat.S_ISREG(mode):
        return None
    kinds = (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def read_regular_file(path: str | os.PathLike[str], *, max_bytes: int, what: str, error: type[Exception]) -> bytes:
    """The bytes of the regular file at ``path``, refusing anything else before reading it.

    For files a user hands back (a data set, ``results.json``, a checkpoint): a symlink to
    ``/dev/zero`` would read until memory runs out and a FIFO would block forever. Links are
    followed; what they lead to must be a regular file of at most ``max_bytes`` bytes. The file is
    opened without blocking (a FIFO swapped in after the first check does not block either) and the
    opened descriptor is what is checked, so a file swapped in between cannot slip through; at most
    ``max_bytes + 1`` bytes are read, so a file that grows while it is read is refused too.

    Args:
        path: the file.
        max_bytes: the most bytes the file may hold.
        what: what the file is, for messages ("the CIFAR-10 batch").
        error: the error to raise, called with the message (``DataError`` for data and results,
            ``CheckpointError`` for checkpoints).

    Raises:
        ``error``: the file does not exist, cannot be opened or read, is not a regular file (a folder,
            FIFO, device or socket), or holds more than ``max_bytes`` bytes; the message names
            ``path``, ``what`` it is and, when it is too big, the limit.
    """
    name = os.fspath(path)

    def refuse(reason: str) -> Exception:
        return error(f"cannot read {what} {name}: {reason}")

    try:
        # A first look by path, so that a device or FIFO is not even opened (opening one can act).
        kind = _file_kind(os.stat(name).st_mode)
        if kind is None:
            fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise refuse(exc.strerror or str(exc)) from exc
    if kind is not None:
        raise refuse(f"it is {kind}, not a regular file")
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        kind = _file_kind(info.st_mode)
        if kind is not None:
            raise refuse(f"it is {kind}, not a regular file")
        if info.st_size > max_bytes:
            raise refuse(f"it holds {info.st_size:,} bytes, more than the {max_bytes:,} it may have")
        try:
            data = handle.read(info.st_size + 1)
            if len(data) > info.st_size:  # it grew since fstat, or reports no size (as /proc files do)
                data += handle.read(max_bytes + 1 - len(data))
        except OSError as exc:
            raise refuse(exc.strerror or str(exc)) from exc
    if len(data) > max_bytes:
        raise refuse(f"it holds more than the {max_bytes:,} bytes it may have (it grew while it was read)")
    return data
