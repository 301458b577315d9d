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
