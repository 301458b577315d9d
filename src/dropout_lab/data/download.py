"""Fetch and unpack the official CIFAR-10 archive, resumably, verified, and safely.

:func:`download_cifar10` is what ``dropout-lab data download cifar10`` runs. The steps:

1. If ``<root>/cifar-10-batches-py`` (or ``<root>`` itself) already holds all six batch files, return it:
   nothing is downloaded.
2. Download ``cifar-10-python.tar.gz`` into ``<root>`` as ``cifar-10-python.tar.gz.part``. A ``.part``
   left by an interrupted run is resumed with an HTTP ``Range`` request; a server that ignores the
   range (status 200) gets a full restart. An archive already in ``<root>`` under its final name whose
   MD5 matches is used without downloading (place one there by hand to work offline). The ``.part`` is
   opened without following links: a symbolic link, FIFO or anything else but a regular file there is
   refused, never written through. With ``source`` (``--from FILE``), the archive the user already has
   is copied in instead (read only, never moved), verified as it is copied: nothing is fetched.
3. Check the MD5 before anything is unpacked; on a mismatch the file is removed.
4. Check every member of the archive first (regular files and folders under ``cifar-10-batches-py/``
   only; absolute paths, ``..``, symbolic and hard links, devices, FIFOs and sparse files are refused),
   and the sizes its headers declare against what CIFAR-10 can hold, then unpack into a temporary folder
   inside ``<root>`` and rename the finished folder into place, so a failure leaves no partial folder
   (:mod:`dropout_lab.data._archive`). The archive is kept beside it (an unsafe one is removed).

The ``.part`` file is the one file written in place, not through :mod:`dropout_lab._io`: resuming
needs it to persist across a crash, and the MD5 check stands guard over its content.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import http.client
import os
import re
import stat
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, NoReturn

from tqdm.auto import tqdm

from .._io import atomic_writer
from .._validation import check_bool, check_path, check_positive_real
from ..errors import DataError, InvalidArgumentError, InvalidTypeError
from ._archive import MAX_TOTAL_BYTES, unpack_cifar10
from .cifar10 import BATCH_FILES, CIFAR10_FOLDER, resolve_data_root

__all__ = ["download_cifar10"]

#: The official archive.
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
#: Its MD5, as published on https://www.cs.toronto.edu/~kriz/cifar.html.
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
#: The archive's file name in the data root.
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"

_OFFLINE_HINT = (
    f"without network, get {CIFAR10_ARCHIVE} elsewhere and install it with `dropout-lab data download cifar10 "
    "--from FILE` (download_cifar10(source=FILE))"
)
_CHUNK = 1 << 16
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.IGNORECASE)
_UNSATISFIED_RANGE = re.compile(r"bytes\s+\*/(\d+)", re.IGNORECASE)


def cifar10_is_complete(folder: str | os.PathLike[str]) -> bool:
    """True when ``folder`` holds ``data_batch_1`` .. ``data_batch_5`` and ``test_batch`` as files."""
    folder = Path(folder)
    return all((folder / name).is_file() for name in BATCH_FILES)


def _check_args(url: Any, md5: Any, progress: Any, timeout: Any) -> tuple[str, str, bool, float]:
    if not isinstance(url, str):
        raise InvalidTypeError(f"url must be a str, got {type(url).__name__}")
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise InvalidArgumentError(f"url must be an http:// or https:// URL, got {url!r}")
    if not isinstance(md5, str) or not re.fullmatch(r"[0-9a-fA-F]{32}", md5):
        raise InvalidArgumentError(f"md5 must be 32 hexadecimal digits, got {md5!r}")
    progress = check_bool("progress", progress)
    timeout = check_positive_real("timeout", timeout)
    return url, md5.lower(), progress, timeout


def installed_already(
    root: Path, target: Path, is_complete: Callable[[Path], bool], files: Sequence[str], name: str
) -> Path | None:
    """The folder that already holds the data set (``target``, or ``root`` itself), if one does; a
    DataError if ``target`` exists without all of ``files`` (a download is never mixed into it)."""
    for candidate in (target, root):
        if is_complete(candidate):
            return candidate
    if target.exists() or target.is_symlink():
        raise DataError(
            f"{target} exists but lacks some of {', '.join(files)}; remove it and run "
            f"`dropout-lab data download {name}` again"
        )
    return None


def make_data_root(root: Path) -> None:
    """Create the data folder (and its parents); DataError naming it if that fails."""
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the data folder {root}: {exc.strerror or exc}") from exc


def download_cifar10(
    root: str | os.PathLike[str] | None = None,
    *,
    source: str | os.PathLike[str] | None = None,
    url: str = CIFAR10_URL,
    md5: str = CIFAR10_MD5,
    progress: bool = True,
    timeout: float = 60.0,
) -> Path:
    """Download, verify and unpack CIFAR-10 into ``<root>/cifar-10-batches-py``.

    Args:
        root: the data root (see :func:`dropout_lab.data.resolve_data_root`: the argument, else
            ``$DROPOUT_LAB_DATA``, else the per-user cache folder); created if missing.
        source: the archive ``cifar-10-python.tar.gz`` already at hand (for a machine without
            network): its MD5 is checked as a download's is, it is copied into ``<root>`` and unpacked
            from there (the file at ``source`` is only read); nothing is fetched.
        url: where to fetch the archive (http or https).
        md5: the archive's expected MD5 (hex).
        progress: draw a progress bar (tqdm, in bytes) on stderr, when stderr is a terminal; False
            draws nothing.
        timeout: seconds to wait for the server on each connect or read.

    Returns:
        The folder that holds the batch files: an existing complete one, else the freshly unpacked
        ``<root>/cifar-10-batches-py``.

    Raises:
        DataError: the download failed (the message names the URL and the reason; a ``.part`` file
            stays for the next run to resume; the message names the ``--from`` way), the MD5 does not
            match (the file is removed; nothing is unpacked), ``source`` is not a regular file, the
            archive is unreadable or holds an unsafe or unexpected member (named), the archive lacks
            a batch file, ``<root>/cifar-10-batches-py`` exists but is incomplete, or ``<root>`` cannot
            be written.
    """
    url, md5, progress, timeout = _check_args(url, md5, progress, timeout)
    source_path = None if source is None else check_path("source", source).expanduser()
    root_path = resolve_data_root(root)
    target = root_path / CIFAR10_FOLDER
    done = installed_already(root_path, target, cifar10_is_complete, BATCH_FILES, "cifar10")
    if done is not None:
        return done
    make_data_root(root_path)

    archive = root_path / CIFAR10_ARCHIVE
    if source_path is not None:
        _copy_verified(source_path, archive, md5)
    elif not (archive.is_file() and _md5_of(archive) == md5):
        _remove(archive)
        part = root_path / (CIFAR10_ARCHIVE + ".part")
        try:
            _fetch(url, part, progress=progress, timeout=timeout, max_bytes=MAX_TOTAL_BYTES)
        except DataError as exc:
            raise DataError(f"{exc}; {_OFFLINE_HINT}") from exc
        digest = _md5_of(part)
        if digest != md5:
            _remove(part)
            raise DataError(
                f"the file downloaded from {url} is corrupt: MD5 {digest}, expected {md5}; it was "
                "removed, run the download again"
            )
        os.replace(part, archive)
    unpack_cifar10(archive, root_path)
    return target


def _copy_verified(source: Path, archive: Path, md5: str) -> None:
    """Copy ``source`` to ``archive`` (atomically) if its MD5 is ``md5``; else write nothing.

    The copy is what is hashed, read once through a descriptor checked to be a regular file, so the
    bytes verified are the bytes installed.
    """
    what = f"the CIFAR-10 archive {source}"
    try:
        kind_ok = stat.S_ISREG(os.stat(source).st_mode)
        if kind_ok:
            fd = os.open(source, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise DataError(f"cannot read {what}: {exc.strerror or exc}") from exc
    if not kind_ok:
        raise DataError(f"cannot read {what}: it is not a regular file; --from for cifar10 takes {CIFAR10_ARCHIVE}")
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise DataError(f"cannot read {what}: it is not a regular file")
        digest = hashlib.md5(usedforsecurity=False)
        copied = 0
        with atomic_writer(archive, "wb") as out:
            while block := handle.read(1 << 20):
                copied += len(block)
                if copied > MAX_TOTAL_BYTES:
                    raise DataError(f"{what} refused: it holds more than {MAX_TOTAL_BYTES} bytes (163 MiB expected)")
                digest.update(block)
                out.write(block)
            if digest.hexdigest() != md5:
                raise DataError(
                    f"{what} refused: MD5 {digest.hexdigest()}, expected {md5} (it is not the CIFAR-10 python "
                    "archive, or it is damaged); nothing was installed"
                )


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------- fetch


def _describe_network_error(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    if isinstance(exc, http.client.IncompleteRead):
        return f"the connection closed early ({len(exc.partial)} bytes of the last read)"
    return str(exc) or type(exc).__name__


def _open(url: str, offset: int, timeout: float) -> Any:
    headers = {"User-Agent": "dropout-lab", "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    # The scheme is checked (http or https only) where the URL enters, in _check_args.
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - scheme checked
    return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - scheme checked


def _not_a_file(part: Path, what: str) -> DataError:
    return DataError(
        f"{part} is {what}, not a regular file: the download is not written through it; remove it and "
        "run the download again"
    )


def _part_size(part: Path) -> int:
    """The size of the ``.part`` an earlier run left (0 if none); refuses a link or anything but a file."""
    try:
        info = os.lstat(part)
    except FileNotFoundError:
        return 0
    except OSError as exc:
        raise DataError(f"cannot inspect {part}: {exc.strerror or exc}") from exc
    if stat.S_ISLNK(info.st_mode):
        raise _not_a_file(part, "a symbolic link")
    if not stat.S_ISREG(info.st_mode):
        raise _not_a_file(part, "a folder, FIFO, socket or device")
    return info.st_size


def _open_part(part: Path, start: int) -> IO[bytes]:
    """``part`` opened for writing at byte ``start`` (cut there), created if missing, never through a link.

    ``O_NOFOLLOW`` refuses a symbolic link placed at the path (also one placed after
    :func:`_part_size` looked), ``O_NONBLOCK`` keeps a FIFO from blocking the open, and the open file
    must be a regular one.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(part, flags, 0o666)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _not_a_file(part, "a symbolic link") from exc
        if exc.errno == errno.ENXIO:  # a FIFO nobody reads
            raise _not_a_file(part, "a FIFO") from exc
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise _not_a_file(part, "a folder, FIFO, socket or device")
        os.set_blocking(fd, True)
        os.ftruncate(fd, start)
        os.lseek(fd, start, os.SEEK_SET)
        return os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        raise


def _fetch(url: str, part: Path, *, progress: bool, timeout: float, max_bytes: int) -> None:
    """Download ``url`` into ``part``, resuming from its current size when the server allows; a body
    that would make ``part`` larger than ``max_bytes`` is refused (a DataError) as it arrives."""
    offset = _part_size(part)
    try:
        # At most two rounds: a range the server cannot honour sends us back to byte 0 once.
        for _attempt in range(2):
            try:
                response = _open(url, offset, timeout)
            except urllib.error.HTTPError as exc:
                exc.close()
                if exc.code == 416 and offset:
                    match = _UNSATISFIED_RANGE.match(exc.headers.get("Content-Range", "") if exc.headers else "")
                    if match and int(match.group(1)) == offset:
                        return  # the .part is already whole; the MD5 check decides
                    offset = 0
                    continue
                raise
            with response:
                start = _response_start(response, offset)
                if start is None:  # 206 for another range than asked: start over
                    offset = 0
                    continue
                _receive(response, part, start, url, progress, max_bytes)
                return
    except DataError:
        raise
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise DataError(
            f"could not download {url}: {_describe_network_error(exc)}"
            + ("; run the download again to resume" if _has_bytes(part) else "")
        ) from exc


def _has_bytes(part: Path) -> bool:
    try:
        info = os.lstat(part)
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and info.st_size > 0


def _response_start(response: Any, offset: int) -> int | None:
    """Where the body starts in the file: 0 for a full response, ``offset`` for a matching range."""
    if response.status == 206:
        match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
        if not offset or match is None or int(match.group(1)) != offset:
            return None
        return offset
    if response.status != 200:
        raise DataError(f"could not download {response.geturl()}: unexpected HTTP status {response.status}")
    return 0  # the whole file, also when the server ignored our Range header


def _progress_bar(name: str, total: int | None, start: int, *, enabled: bool) -> tqdm[NoReturn]:
    """A byte-counting bar on stderr from ``start`` of ``total`` bytes; ``enabled=False`` draws
    nothing, and neither does a stderr that is not a terminal (tqdm's ``disable=None``)."""
    return tqdm(
        desc=name,
        total=total,
        initial=start,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        file=sys.stderr,
        disable=None if enabled else True,
    )


def _receive(response: Any, part: Path, start: int, url: str, progress: bool, max_bytes: int) -> None:
    length = response.headers.get("Content-Length")
    total = start + int(length) if length and length.isdigit() else None
    done = start
    # Written in place (not via atomic_writer): an interrupted download must leave its bytes behind.
    with _open_part(part, start) as out:
        bar = _progress_bar(part.name.removesuffix(".part"), total, start, enabled=progress)
        try:
            while True:
                chunk = response.read(_CHUNK)
                if not chunk:
                    break
                done += len(chunk)
                if done > max_bytes:
                    raise DataError(f"could not download {url}: it sends more than the {max_bytes} bytes it can have")
                out.write(chunk)
                bar.update(len(chunk))
        finally:
            out.flush()
            bar.close()
    if total is not None and done != total:
        raise DataError(
            f"could not download {url}: the connection closed after {done} of {total} bytes; run "
            "the download again to resume"
        )
