"""MNIST (LeCun et al. 1998, http://yann.lecun.com/exdb/mnist/): the four idx files, read strictly.

The data set is four files in the idx format, gzip-compressed as distributed:

- ``train-images-idx3-ubyte.gz``: 60,000 images, ``train-labels-idx1-ubyte.gz``: their labels;
- ``t10k-images-idx3-ubyte.gz``: 10,000 test images, ``t10k-labels-idx1-ubyte.gz``: their labels.

An idx file is a big-endian header, then the values as unsigned bytes: images are the magic number
``0x00000803``, the count N, 28 rows and 28 columns, then N * 784 pixels (0 = background, 255 = ink);
labels are ``0x00000801`` and N, then N labels in 0..9. Every file is checked strictly against its
header (magic number, dimensions, exactly as many bytes as it declares, labels in 0..9), and a
compressed file is never decompressed past what its header declares: a gzip bomb is refused after
at most one byte too many. The same file uncompressed (the name without ``.gz``) is read as well; the
content decides (gzip's magic number or idx's), so a ``.gz`` a browser saved decompressed still reads.

Where the data lives: the folder ``mnist`` under the data root (:func:`resolve_data_root`: the
``root`` argument, else ``$DROPOUT_LAB_DATA``, else the per-user cache), or ``root`` itself when it
holds the training images; ``dropout-lab data download mnist`` (:func:`dropout_lab.data.download_mnist`)
puts it there.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import struct
import zlib
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np

from .._io import read_regular_file
from .._validation import check_float_dtype, check_path, check_positive_int
from ..errors import DataError, InvalidArgumentError
from .cifar10 import DATA_ENV_VAR, resolve_data_root

__all__ = [
    "MNIST_FOLDER",
    "MNIST_FILES",
    "resolve_mnist_dir",
    "read_mnist_images",
    "read_mnist_labels",
    "load_mnist",
    "get_mnist_data",
]

#: The folder under the data root that holds the four files.
MNIST_FOLDER = "mnist"
#: The four files as distributed (gzip-compressed): training images and labels, test images and labels.
MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
#: The MD5 of each file's *uncompressed* content (the idx bytes), by file name: a mirror that
#: compressed the files anew still verifies.
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte.gz": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte.gz": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte.gz": "27ae3e4e09519cfbb04c329615203637",
}

_SIDE = 28
_PIXELS = _SIDE * _SIDE
_NUM_CLASSES = 10
#: The most images or labels one file may hold: the training set's 60,000. With 28x28 images this
#: bounds what a header can make us decompress to 16 + 60,000 * 784 bytes (about 45 MiB).
MAX_COUNT = 60_000
_IMAGES_MAGIC, _LABELS_MAGIC = 0x00000803, 0x00000801
_GZIP_MAGIC = b"\x1f\x8b"
#: The most bytes an MNIST file may take on disk: the largest uncompressed file, plus room for gzip's
#: framing (a file stored without compression grows a little).
MAX_FILE_BYTES = 16 + MAX_COUNT * _PIXELS + (1 << 20)
_DOWNLOAD_HINT = "download it with `dropout-lab data download mnist` (or dropout_lab.data.download_mnist())"

Kind = Literal["images", "labels"]


class IdxContent(NamedTuple):
    """One idx file read and checked: ``values`` are the bytes after the header (N * 784 pixels or N
    labels), ``num`` is N, ``md5`` the MD5 of the whole uncompressed content, header included."""

    values: bytes
    num: int
    md5: str


def _stream_of(path: str, raw: bytes) -> io.BufferedIOBase:
    """The uncompressed content of ``raw``, judged by its first bytes: gzip's magic number, or an idx
    one (a ``.gz`` a browser saved already decompressed is read as it is)."""
    if raw[:2] == _GZIP_MAGIC:
        # GzipFile.read(n) decompresses no more than it returns: reads are bounded by what we ask.
        return gzip.GzipFile(filename=path, mode="rb", fileobj=io.BytesIO(raw))
    if path.endswith(".gz") and not raw.startswith(b"\x00\x00\x08"):
        raise DataError(f"{path}: not a valid gzip file (it starts with neither gzip's nor idx's magic number)")
    return io.BytesIO(raw)


def _header(path: str, stream: io.BufferedIOBase, kind: Kind) -> tuple[bytes, int, int]:
    """The header's bytes, the count N and the number of value bytes it declares."""
    magic, size = (_IMAGES_MAGIC, 16) if kind == "images" else (_LABELS_MAGIC, 8)
    header = stream.read(size)
    if len(header) < size:
        raise DataError(
            f"{path}: truncated: an idx {kind} file starts with a {size}-byte header, got {len(header)} bytes"
        )
    fields = struct.unpack(f">{size // 4}I", header)
    if fields[0] != magic:
        other = {_IMAGES_MAGIC: "an idx images file", _LABELS_MAGIC: "an idx labels file"}.get(fields[0])
        raise DataError(
            f"{path}: not an MNIST {kind} file: magic number 0x{fields[0]:08x}, expected 0x{magic:08x}"
            + (f" (this is {other})" if other else "")
        )
    count = fields[1]
    if not 1 <= count <= MAX_COUNT:
        raise DataError(f"{path}: its header declares {count} {kind}; an MNIST file holds 1 to {MAX_COUNT}")
    if kind == "images" and fields[2:] != (_SIDE, _SIDE):
        raise DataError(f"{path}: its header declares {fields[2]}x{fields[3]} images; MNIST's are {_SIDE}x{_SIDE}")
    return header, count, count * (_PIXELS if kind == "images" else 1)


def read_idx(path: str | os.PathLike[str], kind: Kind) -> IdxContent:
    """Read one MNIST idx file (gzip-compressed or not, as its first bytes say) and check it strictly.

    Raises:
        DataError: the file is missing, not a regular file, not valid gzip, has another magic number
            than ``kind``'s, declares another size than 28x28 or a count outside 1..60,000, holds fewer
            or more value bytes than its header declares, or (labels) a label outside 0..9; the
            message names the file and what was wrong.
    """
    name = os.fspath(check_path("path", path))
    raw = read_regular_file(name, max_bytes=MAX_FILE_BYTES, what="the MNIST file", error=DataError)
    return parse_idx(name, raw, kind)


def parse_idx(name: str, raw: bytes, kind: Kind) -> IdxContent:
    """Check and decode the bytes ``raw`` of the idx file ``name`` (gzip-compressed or not).

    Raises:
        DataError: as :func:`read_idx`; the message names ``name``.
    """
    try:
        with _stream_of(name, raw) as stream:
            header, count, expected = _header(name, stream, kind)
            # One byte more than declared is asked for, never more: a bomb stops there.
            values = stream.read(expected + 1)
            if len(values) < expected:
                raise DataError(
                    f"{name}: truncated: its header declares {count} {kind} ({expected} bytes after the "
                    f"header), the file holds {len(values)}"
                )
            if len(values) > expected:
                raise DataError(
                    f"{name}: refused: it holds more than the {expected} bytes its header declares "
                    f"({count} {kind}) after the header"
                )
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DataError(f"{name}: not a valid gzip file ({exc}); a file named .gz must be gzip-compressed") from exc
    if kind == "labels":
        labels = np.frombuffer(values, dtype=np.uint8)
        if labels.max() >= _NUM_CLASSES:
            bad = int(np.argmax(labels >= _NUM_CLASSES))
            raise DataError(
                f"{name}: labels must lie in 0..{_NUM_CLASSES - 1}, got {labels[bad]} at index {bad}"
            )
    digest = hashlib.md5(header, usedforsecurity=False)
    digest.update(values)
    return IdxContent(values, count, digest.hexdigest())


def kind_of(name: str) -> Kind:
    """What the MNIST file ``name`` holds, by its name."""
    return "images" if "-images-" in name else "labels"


def read_mnist_images(path: str | os.PathLike[str]) -> np.ndarray:
    """One idx images file as stored.

    Returns:
        uint8 (N, 784): each row one 28x28 image, row by row, 0 = background, 255 = ink.

    Raises:
        DataError: as :func:`read_idx`.
    """
    content = read_idx(path, "images")
    return np.frombuffer(content.values, dtype=np.uint8).reshape(content.num, _PIXELS)


def read_mnist_labels(path: str | os.PathLike[str]) -> np.ndarray:
    """One idx labels file.

    Returns:
        int64 (N,), in 0..9.

    Raises:
        DataError: as :func:`read_idx`.
    """
    return np.frombuffer(read_idx(path, "labels").values, dtype=np.uint8).astype(np.int64)


def _file_in(folder: Path, name: str) -> Path | None:
    """``folder/name`` (the ``.gz``), else the uncompressed file, else None; a link or FIFO counts as
    present, so that reading it gives a clear refusal rather than 'missing'."""
    for candidate in (folder / name, folder / name.removesuffix(".gz")):
        if os.path.lexists(candidate):
            return candidate
    return None


def mnist_is_complete(folder: str | os.PathLike[str]) -> bool:
    """True when ``folder`` holds each of the four files (compressed or not)."""
    return all(_file_in(Path(folder), name) is not None for name in MNIST_FILES)


def resolve_mnist_dir(root: str | os.PathLike[str] | None = None) -> Path:
    """The MNIST folder under the data root (see :func:`resolve_data_root`).

    Returns:
        ``root`` itself when it holds the training images (``train-images-idx3-ubyte.gz`` or the
        file uncompressed), else ``root/mnist`` when that holds them.

    Raises:
        DataError: neither holds them; the message names the path looked at and how to get the data.
    """
    base = resolve_data_root(root)
    folder = base if _file_in(base, MNIST_FILES[0]) is not None else base / MNIST_FOLDER
    if _file_in(folder, MNIST_FILES[0]) is None:
        where = "does not exist" if not folder.exists() else f"holds no {MNIST_FILES[0]}"
        raise DataError(
            f"MNIST not found: {folder} {where}; {_DOWNLOAD_HINT}, or pass root= (or set {DATA_ENV_VAR}) to "
            f"the folder that holds {MNIST_FOLDER}"
        )
    return folder


def _path_of(folder: Path, name: str) -> Path:
    path = _file_in(folder, name)
    if path is None:
        raise DataError(
            f"MNIST is incomplete: {folder} holds neither {name} nor {name.removesuffix('.gz')}; {_DOWNLOAD_HINT}"
        )
    return path


def _read_pair(folder: Path, images_name: str, labels_name: str) -> tuple[np.ndarray, np.ndarray]:
    images_path, labels_path = _path_of(folder, images_name), _path_of(folder, labels_name)
    images, labels = read_mnist_images(images_path), read_mnist_labels(labels_path)
    if images.shape[0] != labels.shape[0]:
        raise DataError(
            f"MNIST files disagree: {images_path} holds {images.shape[0]} images but {labels_path} holds "
            f"{labels.shape[0]} labels"
        )
    return images, labels


def load_mnist(root: str | os.PathLike[str] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The whole data set as stored.

    Args:
        root: the MNIST folder or the data root that holds it (see :func:`resolve_mnist_dir`).

    Returns:
        Xtr: uint8 (60000, 784); ytr: int64 (60000,); Xte: uint8 (10000, 784); yte: int64 (10000,).
        Pixels 0..255, each row one 28x28 image row by row (as many rows as the files hold).

    Raises:
        DataError: the folder or a file is missing (the message says how to download the data), a
            file is malformed (as :func:`read_idx`), or an images file and its labels file hold
            different counts.
    """
    folder = resolve_mnist_dir(root)
    Xtr, ytr = _read_pair(folder, MNIST_FILES[0], MNIST_FILES[1])
    Xte, yte = _read_pair(folder, MNIST_FILES[2], MNIST_FILES[3])
    return Xtr, ytr, Xte, yte


def get_mnist_data(
    num_training: int | None = 50000,
    num_validation: int = 10000,
    num_test: int | None = 10000,
    root: str | os.PathLike[str] | None = None,
    dtype: Any = np.float32,
) -> dict[str, np.ndarray]:
    """MNIST split for a classifier, pixels scaled to [0, 1] (no mean is subtracted).

    The split is deterministic, as :func:`dropout_lab.data.get_cifar10_data`'s: training = the first
    ``num_training`` rows of the training file, validation = the next ``num_validation``, test = the
    first ``num_test`` rows of the test file. Pixels are ``value / 255`` computed in ``dtype``.

    Args:
        num_training: >= 1, or None: every training row but the validation's (as
            :func:`~dropout_lab.data.get_cifar10_data` takes None). num_validation, num_test: >= 0
            (num_test None: every row of the test file).
            ``num_training + num_validation`` at most the training images the files hold (60,000),
            ``num_test`` at most the test images (10,000).
        root: the MNIST folder or the data root that holds it (see :func:`resolve_mnist_dir`).
        dtype: float32 (the default) or float64.

    Returns:
        dict with ``X_train: (num_training, 784)``, ``y_train: (num_training,)``, ``X_val``, ``y_val``,
        ``X_test``, ``y_test``; X in ``dtype``, values in [0, 1]; y int64 in 0..9.

    Raises:
        InvalidArgumentError: a negative size (or num_training 0), or more rows asked for than the
            files hold (the message says how many they hold).
        InvalidTypeError: a dtype other than float32 or float64.
        DataError: as :func:`load_mnist`.
    """
    if num_training is not None:
        num_training = check_positive_int("num_training", num_training)
    num_validation = check_positive_int("num_validation", num_validation, allow_zero=True)
    if num_test is not None:
        num_test = check_positive_int("num_test", num_test, allow_zero=True)
    dtype = check_float_dtype("dtype", dtype)
    Xtr, ytr, Xte, yte = load_mnist(root)
    if num_test is None:
        num_test = Xte.shape[0]
    if num_training is None:
        num_training = Xtr.shape[0] - num_validation
        if num_training < 1:
            raise InvalidArgumentError(
                f"num_validation {num_validation} leaves no training rows: the MNIST training file holds {Xtr.shape[0]}"
            )
    needed = num_training + num_validation
    if needed > Xtr.shape[0]:
        raise InvalidArgumentError(
            f"num_training + num_validation = {num_training} + {num_validation} = {needed} training rows "
            f"asked for, but the MNIST training file holds {Xtr.shape[0]}"
        )
    if num_test > Xte.shape[0]:
        raise InvalidArgumentError(f"num_test = {num_test} asked for, but the MNIST test file holds {Xte.shape[0]}")

    def scaled(pixels: np.ndarray) -> np.ndarray:
        # Divided in dtype itself: a float32 result never passes through float64.
        out: np.ndarray = np.divide(pixels, dtype.type(255), dtype=dtype)
        return out

    return {
        "X_train": scaled(Xtr[:num_training]),
        "y_train": ytr[:num_training].copy(),
        "X_val": scaled(Xtr[num_training:needed]),
        "y_val": ytr[num_training:needed].copy(),
        "X_test": scaled(Xte[:num_test]),
        "y_test": yte[:num_test].copy(),
    }
