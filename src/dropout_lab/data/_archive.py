"""Unpack the CIFAR-10 archive safely: every header checked before anything is written, sizes bounded.

:func:`unpack_cifar10` is the last step of :func:`dropout_lab.data.download_cifar10`. It reads the
archive's headers one at a time and checks each before the data behind it is read: regular files and
folders under ``cifar-10-batches-py/`` only (absolute paths, ``..``, symbolic and hard links, devices,
FIFOs and sparse files are refused), no more members than :data:`MAX_MEMBERS`, and declared sizes
within :data:`MAX_MEMBER_BYTES` a member and :data:`MAX_TOTAL_BYTES` in all. Only then does it unpack,
into a temporary folder inside the data root, counting the bytes actually written against the same
limits, and rename the finished folder into place: a failure leaves no partial folder. Unpacked files
are written with :func:`dropout_lab._io.atomic_writer`.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import re
import shutil
import tarfile
import tempfile
import zlib
from pathlib import Path, PurePosixPath
from typing import IO, NoReturn

from .._io import _fsync_dir, atomic_writer
from ..errors import DataError
from .cifar10 import BATCH_FILES, CIFAR10_FOLDER

__all__ = ["MAX_HEADER_BYTES", "MAX_MEMBERS", "MAX_MEMBER_BYTES", "MAX_TOTAL_BYTES", "unpack_cifar10"]

# What the archive may unpack to, from what CIFAR-10 holds: six batches of about 31.04 million bytes
# (29.6 MiB: 10,000 images of 3,072 bytes with their labels and file names, pickled), batches.meta
# and readme.html (a few hundred bytes), in 9 members: about 186.2 million bytes, 178 MiB. Each bound
# leaves a margin (a batch pickled another way, a mirror that adds a file) and stops an archive that
# would unpack to gigabytes: a sparse member stores no bytes for its holes, and gzip packs a GB of
# zeros into 1 MB.
#: The most one member may unpack to: about twice a batch.
MAX_MEMBER_BYTES = 64 << 20
#: The most all members together may unpack to: about 1.4 times the whole data set.
MAX_TOTAL_BYTES = 256 << 20
#: The most members (files and folders) the archive may hold; CIFAR-10 has 9.
MAX_MEMBERS = 64
#: The most the archive's headers (with long names and pax records) may take; CIFAR-10's take 5 KiB.
#: tarfile reads a pax record or a long name whole into memory, so this bounds memory before any
#: member is seen.
MAX_HEADER_BYTES = 1 << 20

_CHUNK = 1 << 16


def _member_path(member: tarfile.TarInfo, archive: Path) -> PurePosixPath:
    """The member's checked relative path inside ``cifar-10-batches-py/``; raises for anything unsafe."""
    name = member.name
    where = f"{archive}: refused member {name!r}"
    if member.issym() or member.islnk():
        kind = "a symbolic link" if member.issym() else "a hard link"
        raise DataError(f"{where}: it is {kind} (links are not allowed) to {member.linkname!r}")
    if member.isdev():
        raise DataError(f"{where}: it is a device or FIFO, not a regular file")
    if member.issparse():
        raise DataError(f"{where}: it is a sparse file (its holes would unpack to {member.size} bytes)")
    if not (member.isfile() or member.isdir()):
        raise DataError(f"{where}: unsupported member type {member.type!r}")
    if not name or "\x00" in name or "\\" in name:
        raise DataError(f"{where}: not a plain relative path")
    path = PurePosixPath(name)
    if path.is_absolute() or re.match(r"^[A-Za-z]:", name):
        raise DataError(f"{where}: it is an absolute path")
    parts = [p for p in path.parts if p != "."]
    if ".." in parts:
        raise DataError(f"{where}: it contains '..'")
    if not parts or parts[0] != CIFAR10_FOLDER:
        raise DataError(f"{where}: everything in the archive must be under {CIFAR10_FOLDER}/")
    return PurePosixPath(*parts)


class _BoundedStream:
    """The archive's uncompressed tar stream, for tarfile, refusing reads past a budget and seeks past an end.

    Both checks come before the bytes are decompressed or kept. While the headers are read, every
    read is header material (tarfile seeks over member data), so the budget starts at
    :data:`MAX_HEADER_BYTES`; :func:`unpack_cifar10` then allows the bytes the checked members declare.
    """

    def __init__(self, raw: gzip.GzipFile, archive: Path) -> None:
        self._raw = raw
        self._archive = archive
        self.end = MAX_HEADER_BYTES + MAX_TOTAL_BYTES
        self.allow(MAX_HEADER_BYTES, f"its headers take more than {MAX_HEADER_BYTES} bytes")

    def allow(self, budget: int, refusal: str) -> None:
        """From now on, reads may return ``budget`` bytes in all; past that, refuse with ``refusal``."""
        self._budget = budget
        self._refusal = refusal

    def _refuse(self, what: str) -> NoReturn:
        raise DataError(
            f"{self._archive}: refused: {what}; CIFAR-10 unpacks to about 178 MiB (limits: "
            f"{MAX_MEMBER_BYTES} bytes a member, {MAX_TOTAL_BYTES} in all, {MAX_HEADER_BYTES} of headers)"
        )

    def read(self, size: int | None = -1, /) -> bytes:
        # Never more than one byte past the budget is asked for: a huge request (a pax record tarfile
        # reads whole) is refused before it is decompressed into memory.
        want = self._budget + 1 if size is None or size < 0 else min(size, self._budget + 1)
        data = self._raw.read(want)
        if len(data) > self._budget:
            self._refuse(self._refusal)
        self._budget -= len(data)
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET, /) -> int:
        target = offset if whence == os.SEEK_SET else self._raw.seek(0, os.SEEK_CUR) + offset
        if whence not in (os.SEEK_SET, os.SEEK_CUR) or target > self.end:
            self._refuse(f"its members reach past byte {self.end} of the unpacked stream")
        return self._raw.seek(target)

    def tell(self) -> int:
        return self._raw.tell()

    def write(self, data: bytes, /) -> NoReturn:
        raise io.UnsupportedOperation("the archive is read, never written")

    def close(self) -> None:
        """Nothing to do: :func:`unpack_cifar10` closes the file it opened."""


def _check_members(tar: tarfile.TarFile, archive: Path) -> list[tuple[tarfile.TarInfo, PurePosixPath]]:
    """Every member's checked path, each header checked as it is read, before the data behind it."""
    checked: list[tuple[tarfile.TarInfo, PurePosixPath]] = []
    total = 0
    for member in tar:
        if len(checked) == MAX_MEMBERS:
            raise DataError(f"{archive}: refused: it holds more than {MAX_MEMBERS} members; CIFAR-10 has 9")
        relative = _member_path(member, archive)
        if member.isfile():
            where = f"{archive}: refused member {member.name!r}"
            if member.size > MAX_MEMBER_BYTES:
                raise DataError(
                    f"{where}: it unpacks to {member.size} bytes, more than the {MAX_MEMBER_BYTES} a "
                    "CIFAR-10 file can take"
                )
            total += member.size
            if total > MAX_TOTAL_BYTES:
                raise DataError(
                    f"{where}: with it, the members unpack to {total} bytes, more than the "
                    f"{MAX_TOTAL_BYTES} CIFAR-10 can take"
                )
        checked.append((member, relative))
    return checked


def unpack_cifar10(archive: Path, root: Path) -> None:
    """Unpack ``archive`` (the CIFAR-10 ``.tar.gz``) into ``root / "cifar-10-batches-py"``.

    Raises:
        DataError: the archive is unreadable, holds an unsafe or unexpected member (named; the archive
            is then removed), would unpack to more than the limits allow, or lacks a batch file.
    """
    try:
        with gzip.open(archive, "rb") as raw, contextlib.ExitStack() as stack:
            stream = _BoundedStream(raw, archive)
            try:
                # Every member is checked, header by header, before anything is written.
                tar = stack.enter_context(tarfile.open(fileobj=stream, mode="r:"))
                checked = _check_members(tar, archive)
            except DataError:
                archive.unlink(missing_ok=True)  # an unsafe archive is not kept for another try
                raise
            except (ValueError, IndexError) as exc:  # tarfile's parsers of sparse maps, on crafted headers
                raise DataError(f"cannot unpack {archive}: a malformed header ({type(exc).__name__}: {exc})") from exc
            # From here on every read is member data: no more than the checked headers declare.
            declared = sum(member.size for member, _ in checked if member.isfile())
            stream.allow(declared, f"its members hold more than the {declared} bytes their headers declare")
            scratch = Path(tempfile.mkdtemp(prefix=f".{CIFAR10_FOLDER}.", suffix=".tmp", dir=root))
            try:
                _write_members(tar, checked, scratch)
                unpacked = scratch / CIFAR10_FOLDER
                missing = [name for name in BATCH_FILES if not (unpacked / name).is_file()]
                if missing:
                    raise DataError(f"{archive} is not the CIFAR-10 archive: it lacks {', '.join(missing)}")
                os.rename(unpacked, root / CIFAR10_FOLDER)
                _fsync_dir(root)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
    except DataError:
        raise
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise DataError(f"cannot unpack {archive}: {exc}") from exc


def _write_members(tar: tarfile.TarFile, checked: list[tuple[tarfile.TarInfo, PurePosixPath]], scratch: Path) -> None:
    """Unpack the checked members under ``scratch``, counting the bytes written against the limits."""
    written = 0
    for member, relative in checked:
        destination = scratch.joinpath(*relative.parts)
        if member.isdir():
            destination.mkdir(parents=True, exist_ok=True)
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        source = tar.extractfile(member)
        if source is None:  # pragma: no cover - only links and specials have no data, refused above
            raise DataError(f"cannot read member {member.name!r}")
        with source, atomic_writer(destination, "wb") as out:
            written += _copy_member(source, out, member, budget=MAX_TOTAL_BYTES - written)


def _copy_member(source: IO[bytes], out: IO[bytes], member: tarfile.TarInfo, *, budget: int) -> int:
    """Copy one member's bytes; stop at more than its header declared or than ``budget`` allows.

    The headers were checked, and tarfile reads no further than a member's size; this counts what
    is actually written, so a reader that yields more (a sparse map, a tarfile fault) stops here too.
    """
    limit = min(member.size, MAX_MEMBER_BYTES, budget)
    copied = 0
    while chunk := source.read(min(_CHUNK, limit - copied + 1)):
        copied += len(chunk)
        if copied > limit:
            raise DataError(
                f"refused member {member.name!r}: it unpacks to more than {limit} bytes (its header "
                f"declares {member.size}; limits: {MAX_MEMBER_BYTES} a member, {MAX_TOTAL_BYTES} in all)"
            )
        out.write(chunk)
    return copied
