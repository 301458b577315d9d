"""Install MNIST into the data folder: from the mirrors, or from files the user already has.

:func:`download_mnist` is what ``dropout-lab data download mnist`` runs. The steps:

1. If ``<root>/mnist`` (or ``<root>`` itself) already holds the four files, return it: nothing is
   fetched or checked.
2. Fetch each of the four ``.gz`` files from the mirrors in turn (:data:`MNIST_MIRRORS`), or, with
   ``source``, take them from that folder (each as ``NAME.gz`` or uncompressed as ``NAME``; the
   ``.gz`` is used when both are there). Files go into a temporary folder inside ``<root>``.
3. Verify each file: its idx structure strictly (:func:`dropout_lab.data.mnist.read_idx`, which never
   decompresses more than the header declares), and the MD5 of its *uncompressed* content
   (:data:`dropout_lab.data.mnist.MNIST_MD5`), so a mirror that compressed the files anew verifies
   too. A mirror whose file fails is passed over for the next one.
4. Only when all four verify is the folder renamed to ``<root>/mnist``: a failure installs nothing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._io import _fsync_dir, atomic_write_bytes, read_regular_file
from .._validation import check_bool, check_path, check_positive_real
from ..errors import DataError, InvalidArgumentError, InvalidTypeError
from .cifar10 import resolve_data_root
from .download import _fetch, installed_already, make_data_root
from .mnist import MAX_FILE_BYTES, MNIST_FILES, MNIST_FOLDER, MNIST_MD5, _file_in, kind_of, mnist_is_complete, parse_idx

__all__ = ["MNIST_MIRRORS", "download_mnist"]

#: Where the four files are fetched from, in order: PyTorch's copy (what torchvision tries first),
#: Google's (what TensorFlow Datasets uses), then the original site.
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
_OFFLINE_HINT = (
    "without network, get the four files elsewhere and install them with `dropout-lab data download mnist "
    "--from DIR` (download_mnist(source=DIR))"
)


def _check_mirrors(mirrors: Any) -> tuple[str, ...]:
    if isinstance(mirrors, str) or not isinstance(mirrors, Sequence):
        raise InvalidTypeError(f"mirrors must be a sequence of URLs (str), got {type(mirrors).__name__}")
    if not mirrors:
        raise InvalidArgumentError("mirrors must name at least one URL, got none")
    checked = []
    for index, url in enumerate(mirrors):
        if not isinstance(url, str):
            raise InvalidTypeError(f"mirrors[{index}] must be a str, got {type(url).__name__}")
        if urllib.parse.urlsplit(url).scheme.lower() not in ("http", "https"):
            raise InvalidArgumentError(f"mirrors[{index}] must be an http:// or https:// URL, got {url!r}")
        checked.append(url if url.endswith("/") else url + "/")
    return tuple(checked)


def download_mnist(
    root: str | os.PathLike[str] | None = None,
    *,
    source: str | os.PathLike[str] | None = None,
    mirrors: Sequence[str] = MNIST_MIRRORS,
    progress: bool = True,
    timeout: float = 60.0,
) -> Path:
    """Fetch (or take from ``source``), verify and install MNIST into ``<root>/mnist``.

    Args:
        root: the data root (see :func:`dropout_lab.data.resolve_data_root`: the argument, else
            ``$DROPOUT_LAB_DATA``, else the per-user cache folder); created if missing.
        source: a folder that already holds the four files (each gzip-compressed as distributed, or
            uncompressed under the name without ``.gz``): they are verified as a download is and
            copied in as they are; nothing is fetched.
        mirrors: base URLs (http or https) tried in order for each file (the file name is appended).
        progress: draw a progress bar on stderr for each file, when stderr is a terminal.
        timeout: seconds to wait for a server on each connect or read.

    Returns:
        The folder that holds the four files: an existing complete one, else ``<root>/mnist``.

    Raises:
        DataError: a file could not be fetched from any mirror (the message names every URL tried, its
            reason and the ``--from`` way), a ``source`` file is missing, malformed or not MNIST's
            (another MD5), ``<root>/mnist`` exists but is incomplete, or ``<root>`` cannot be
            written. Nothing is installed then.
    """
    mirrors = _check_mirrors(mirrors)
    source_path = None if source is None else check_path("source", source).expanduser()
    progress = check_bool("progress", progress)
    timeout = check_positive_real("timeout", timeout)
    root_path = resolve_data_root(root)
    target = root_path / MNIST_FOLDER
    done = installed_already(root_path, target, mnist_is_complete, MNIST_FILES, "mnist")
    if done is not None:
        return done
    if source_path is not None and not source_path.is_dir():
        what = "does not exist" if not os.path.lexists(source_path) else "is not a folder"
        raise DataError(
            f"{source_path} {what}: --from (source=) for mnist takes the folder that holds {', '.join(MNIST_FILES)}"
        )
    # A source is verified whole before anything is created: a refused one leaves no trace.
    verified = None if source_path is None else [_verified_source(*pair) for pair in _source_files(source_path)]
    make_data_root(root_path)

    scratch = Path(tempfile.mkdtemp(prefix=f".{MNIST_FOLDER}.", suffix=".tmp", dir=root_path))
    try:
        folder = scratch / MNIST_FOLDER
        folder.mkdir()
        if verified is None:
            for name in MNIST_FILES:
                _fetch_verified(name, folder, mirrors, progress=progress, timeout=timeout)
        else:
            for file_name, raw in verified:
                atomic_write_bytes(folder / file_name, raw)
        # All four verified: the folder appears whole or not at all.
        os.rename(folder, target)
        _fsync_dir(root_path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def _mismatch(content_md5: str, name: str) -> str | None:
    expected = MNIST_MD5[name]
    if content_md5 == expected:
        return None
    return f"the MD5 of its uncompressed content is {content_md5}, expected {expected} (it is not MNIST's {name})"


def _source_files(source: Path) -> list[tuple[str, Path]]:
    """Each file's name and where ``source`` holds it; all four must be there, before any is read."""
    found = []
    for name in MNIST_FILES:
        path = _file_in(source, name)
        if path is None:
            raise DataError(
                f"{source} holds neither {name} nor {name.removesuffix('.gz')}: --from for mnist takes the "
                f"folder that holds the four files ({', '.join(MNIST_FILES)}); nothing was installed"
            )
        found.append((name, path))
    return found


def _verified_source(name: str, path: Path) -> tuple[str, bytes]:
    """The file name and bytes of ``path``, the source's copy of ``name``, checked as a download is."""
    raw = read_regular_file(path, max_bytes=MAX_FILE_BYTES, what="the MNIST file", error=DataError)
    reason = _mismatch(parse_idx(os.fspath(path), raw, kind_of(name)).md5, name)
    if reason is not None:
        raise DataError(f"{path} refused: {reason}; nothing was installed")
    return path.name, raw


def _fetch_verified(name: str, folder: Path, mirrors: tuple[str, ...], *, progress: bool, timeout: float) -> None:
    """Fetch ``name`` into ``folder`` from the first mirror whose copy verifies."""
    path = folder / name
    failures = []
    for mirror in mirrors:
        url = mirror + name
        try:
            _fetch(url, path, progress=progress, timeout=timeout, max_bytes=MAX_FILE_BYTES)
            raw = read_regular_file(path, max_bytes=MAX_FILE_BYTES, what="the downloaded file", error=DataError)
            reason = _mismatch(parse_idx(url, raw, kind_of(name)).md5, name)
        except DataError as exc:
            reason = str(exc).removesuffix("; run the download again to resume")
        if reason is None:
            return
        path.unlink(missing_ok=True)
        failures.append(reason if reason.startswith(("could not download", url)) else f"{url}: {reason}")
    tried = "the one mirror" if len(mirrors) == 1 else f"any of the {len(mirrors)} mirrors"
    raise DataError(
        f"could not download MNIST's {name} from {tried} ({'; '.join(failures)}); "
        f"nothing was installed; {_OFFLINE_HINT}"
    )
