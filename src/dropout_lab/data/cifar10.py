"""CIFAR-10 (Krizhevsky 2009, https://www.cs.toronto.edu/~kriz/cifar.html): loaders compatible with
the course's ``data_utils`` (whose spellings ``load_CIFAR_batch``, ``load_CIFAR10`` and
``get_CIFAR10_data`` are in :mod:`dropout_lab.course`).

The "python version" of CIFAR-10 is a folder ``cifar-10-batches-py`` with five training batches
``data_batch_1`` .. ``data_batch_5`` of 10,000 images each and a ``test_batch`` of 10,000, each a
Python 2 pickle of ``{b'data': uint8 (N, 3072), b'labels': [N ints in 0..9], ...}``; a row of
``data`` holds the red, then green, then blue 32x32 plane. The pickles are read with a restricted
unpickler (:mod:`dropout_lab.data._unpickle`) that never runs code a file names.

Where the data lives (:func:`resolve_data_root`): the ``root`` argument, else the environment variable
``DROPOUT_LAB_DATA``, else a per-user cache folder (``$XDG_CACHE_HOME/dropout-lab`` or
``~/.cache/dropout-lab``). The CIFAR folder is ``root`` itself when it holds ``data_batch_1``, else
``root/cifar-10-batches-py``, which is where ``dropout-lab data download cifar10``
(:func:`dropout_lab.data.download_cifar10`) puts it.
"""

from __future__ import annotations

import os
from numbers import Integral
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import check_bool, check_float_dtype, check_path, check_positive_int
from ..errors import DataError, InvalidArgumentError
from ._unpickle import load_pickle_file

__all__ = [
    "CIFAR10_FOLDER",
    "CIFAR10_CLASSES",
    "DATA_ENV_VAR",
    "resolve_data_root",
    "resolve_cifar10_dir",
    "read_cifar10_batch",
    "load_cifar10_batch",
    "load_cifar10",
    "get_cifar10_data",
]

#: Name of the folder the official archive unpacks to.
CIFAR10_FOLDER = "cifar-10-batches-py"
#: The environment variable that names the data root when no ``root`` argument is given.
DATA_ENV_VAR = "DROPOUT_LAB_DATA"
#: Label names in label order (the archive's ``batches.meta``).
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip

#: The training batch files, in order.
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
#: The test batch file.
TEST_BATCH = "test_batch"
#: Every batch file a complete CIFAR-10 folder holds.
BATCH_FILES = (*TRAIN_BATCHES, TEST_BATCH)
_ROW = 3 * 32 * 32
_MAX_ROWS_PER_BATCH = 10_000  # the release's batch size: a bound on what one training batch can hold
_MAX_TRAINING = 49_000  # the course's training split, the release's 50,000 less 1,000 for validation
_NUM_CLASSES = len(CIFAR10_CLASSES)
_DOWNLOAD_HINT = "download it with `dropout-lab data download cifar10` (or dropout_lab.data.download_cifar10())"


def resolve_data_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The folder that holds dropout-lab's downloaded data sets.

    Args:
        root: used as is (``~`` expanded) when given.

    Returns:
        ``root``, else ``$DROPOUT_LAB_DATA`` when set and non-empty, else ``$XDG_CACHE_HOME/dropout-lab``
        when ``XDG_CACHE_HOME`` is an absolute path, else ``~/.cache/dropout-lab``. The folder may not
        exist yet.
    """
    if root is not None:
        return check_path("root", root).expanduser()
    env = os.environ.get(DATA_ENV_VAR)
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME")
    # The XDG spec says relative values are invalid and must be ignored.
    if cache and os.path.isabs(cache):
        return Path(cache) / "dropout-lab"
    return Path.home() / ".cache" / "dropout-lab"


def _cifar10_dir_candidate(root: str | os.PathLike[str] | None) -> Path:
    base = resolve_data_root(root)
    if (base / TRAIN_BATCHES[0]).is_file():
        return base
    return base / CIFAR10_FOLDER


def resolve_cifar10_dir(root: str | os.PathLike[str] | None = None) -> Path:
    """The CIFAR-10 folder under the data root (see :func:`resolve_data_root`).

    Returns:
        ``root`` itself when it holds ``data_batch_1``, else ``root/cifar-10-batches-py`` when that
        holds ``data_batch_1``.

    Raises:
        DataError: neither holds ``data_batch_1``; the message names the path looked at and how to get
            the data.
    """
    folder = _cifar10_dir_candidate(root)
    if not (folder / TRAIN_BATCHES[0]).is_file():
        where = "does not exist" if not folder.exists() else "holds no data_batch_1"
        raise DataError(
            f"CIFAR-10 not found: {folder} {where}; {_DOWNLOAD_HINT}, or pass root= (or set "
            f"{DATA_ENV_VAR}) to the folder that holds {CIFAR10_FOLDER}"
        )
    return folder


def _key_text(key: object) -> str:
    """The first 40 characters of ``repr(key)``, whatever the key: a long string is cut before its repr
    is made, and an integer too long for ``repr`` (more than ``sys.get_int_max_str_digits()`` digits,
    a ValueError) is described by its size."""
    if isinstance(key, (str, bytes)) and len(key) > 1000:
        key = key[:1000]
    if isinstance(key, int) and key.bit_length() > 128:
        return f"<an integer of {key.bit_length():,} bits>"
    try:
        return repr(key)[:40]
    except ValueError:  # a huge integer inside a tuple key: repr refuses it
        return f"<a {type(key).__name__} too long to show>"


def _get_item(batch: dict[Any, Any], key: str) -> Any:
    # Python 2 batches have bytes keys; batches re-saved from Python 3 may have str keys.
    for candidate in (key.encode("ascii"), key):
        if candidate in batch:
            return batch[candidate]
    raise KeyError(key)


def read_cifar10_batch(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """Read one batch file as stored, checking its structure.

    Args:
        path: a ``data_batch_*`` or ``test_batch`` file.

    Returns:
        data: uint8 (N, 3072), each row the R, G, B 32x32 planes; labels: int64 (N,) in 0..9.

    Raises:
        DataError: the file is missing, unreadable, truncated, not a pickle, tries to load a global
            outside the allow-list, or is not a batch (not a dict, no ``data``/``labels``, ``data``
            not uint8 (N, 3072), labels not N integers in 0..9); the message names the file.
    """
    path = os.fspath(path)
    batch = load_pickle_file(path)
    if not isinstance(batch, dict):
        raise DataError(f"{path}: not a CIFAR-10 batch: expected a dict, got {type(batch).__name__}")
    try:
        data = _get_item(batch, "data")
        labels = _get_item(batch, "labels")
    except KeyError as exc:
        keys = sorted(_key_text(k) for k in batch)[:10]
        raise DataError(
            f"{path}: not a CIFAR-10 batch: no {exc.args[0]!r} entry (keys: {', '.join(keys) or 'none'})"
        ) from None
    if not isinstance(data, np.ndarray):
        raise DataError(f"{path}: 'data' must be a NumPy array, got {type(data).__name__}")
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != _ROW or data.shape[0] == 0:
        raise DataError(
            f"{path}: 'data' must be a uint8 array of shape (N, {_ROW}) with N >= 1, "
            f"got dtype {data.dtype} and shape {data.shape}"
        )
    labels = _check_batch_labels(path, labels, data.shape[0])
    return np.ascontiguousarray(data), labels


def _check_batch_labels(path: str, labels: Any, n: int) -> np.ndarray:
    if isinstance(labels, np.ndarray):
        array = labels
    elif isinstance(labels, (list, tuple)):
        if not all(isinstance(v, (Integral, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in labels):
            raise DataError(f"{path}: 'labels' must hold integers only")
        try:
            array = np.array([int(v) for v in labels], dtype=np.int64)
        except OverflowError:
            raise DataError(f"{path}: 'labels' must lie in 0..{_NUM_CLASSES - 1}, got a huge integer") from None
    else:
        raise DataError(f"{path}: 'labels' must be a list of integers, got {type(labels).__name__}")
    if array.dtype.kind not in "iu":
        raise DataError(f"{path}: 'labels' must be integers, got dtype {array.dtype}")
    if array.shape != (n,):
        raise DataError(f"{path}: 'labels' must hold one label per image ({n}), got shape {array.shape}")
    if array.min() < 0 or array.max() >= _NUM_CLASSES:
        raise DataError(
            f"{path}: 'labels' must lie in 0..{_NUM_CLASSES - 1}, got values from {array.min()} to {array.max()}"
        )
    return array.astype(np.int64)


def _to_nhwc(data: np.ndarray, dtype: np.dtype) -> np.ndarray:
    # The course: data.reshape(N, 3, 32, 32).transpose(0, 2, 3, 1).astype("float"); C order here.
    images: np.ndarray = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).astype(dtype, order="C")
    return images


def load_cifar10_batch(filename: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """One batch file the course's way (the course's ``load_CIFAR_batch``, :mod:`dropout_lab.course`).

    Returns:
        X: float64 (N, 32, 32, 3), pixel values 0..255, channels last; y: int64 (N,).

    Raises:
        DataError: as :func:`read_cifar10_batch`.
    """
    data, labels = read_cifar10_batch(filename)
    return _to_nhwc(data, np.dtype(np.float64)), labels


def _train_batch_paths(folder: Path) -> list[Path]:
    """data_batch_1.. that exist, in order; a gap before a later batch is an error."""
    present = [(folder / name).is_file() for name in TRAIN_BATCHES]
    count = present.index(False) if False in present else len(present)
    if count == 0:
        raise DataError(f"CIFAR-10 not found: {folder / TRAIN_BATCHES[0]} does not exist; {_DOWNLOAD_HINT}")
    if any(present[count:]):
        later = TRAIN_BATCHES[count + present[count:].index(True)]
        raise DataError(
            f"{folder}: {later} exists but {TRAIN_BATCHES[count]} is missing; the folder is incomplete, "
            f"{_DOWNLOAD_HINT}"
        )
    return [folder / name for name in TRAIN_BATCHES[:count]]


def _test_batch_path(folder: Path) -> Path:
    path = folder / TEST_BATCH
    if not path.is_file():
        raise DataError(f"CIFAR-10 is incomplete: {path} does not exist; {_DOWNLOAD_HINT}")
    return path


def load_cifar10(root: str | os.PathLike[str] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The whole data set the course's way (the course's ``load_CIFAR10``; about 1.5 GB in float64).

    Args:
        root: the CIFAR folder or the data root that holds it (see :func:`resolve_cifar10_dir`).

    Returns:
        Xtr: float64 (N_train, 32, 32, 3) from ``data_batch_1..5`` (all that exist, in order; 50,000
        for the full set); ytr: int64 (N_train,); Xte: float64 (N_test, 32, 32, 3) from ``test_batch``;
        yte: int64 (N_test,). Pixel values 0..255, channels last.

    Raises:
        DataError: the folder or ``data_batch_1`` or ``test_batch`` is missing (the message says how to
            download the data), or a batch is unreadable or malformed (as :func:`read_cifar10_batch`).
    """
    folder = resolve_cifar10_dir(root)
    train_paths = _train_batch_paths(folder)
    test_path = _test_batch_path(folder)
    xs, ys = [], []
    for path in train_paths:
        x, y = load_cifar10_batch(path)
        xs.append(x)
        ys.append(y)
    Xtr, ytr = np.concatenate(xs), np.concatenate(ys)
    del xs
    Xte, yte = load_cifar10_batch(test_path)
    return Xtr, ytr, Xte, yte


def get_cifar10_data(
    num_training: int | None = 49000,
    num_validation: int = 1000,
    num_test: int = 1000,
    subtract_mean: bool = True,
    root: str | os.PathLike[str] | None = None,
    *,
    dtype: Any = np.float64,
) -> dict[str, np.ndarray]:
    """CIFAR-10 split and centred for a classifier, as the course's ``get_CIFAR10_data``.

    The split is deterministic: training = rows ``[0, num_training)`` of the training batches taken in
    order, validation = rows ``[num_training, num_training + num_validation)``, test = the first
    ``num_test`` rows of ``test_batch``. With ``subtract_mean`` the mean image of the training split,
    ``mean = X_train.mean(axis=0)``, is subtracted from all three. Only as many training batches as
    the split needs are read.

    Args:
        num_training: >= 1; or None for as many as the folder holds less the validation rows, at most
            49,000 (what the experiment trains on: the whole release, or a sample of it).
        num_validation, num_test: >= 0.
        subtract_mean: subtract the training split's mean image.
        root: the CIFAR folder or the data root that holds it (see :func:`resolve_cifar10_dir`).
        dtype: float64 (the course's) or float32 (half the memory); the mean is computed exactly in
            float64 from the uint8 pixels, then rounded to ``dtype``.

    Returns:
        dict with ``X_train``: (num_training, 3, 32, 32), ``y_train``: int64 (num_training,),
        ``X_val``: (num_validation, 3, 32, 32), ``y_val``, ``X_test``: (num_test, 3, 32, 32),
        ``y_test``; X channels first in ``dtype``.

    Raises:
        InvalidArgumentError: a negative size (or num_training 0), or more rows asked for than the
            files hold (the message says how many they hold).
        DataError: as :func:`load_cifar10`.
    """
    if num_training is not None:
        num_training = check_positive_int("num_training", num_training)
    num_validation = check_positive_int("num_validation", num_validation, allow_zero=True)
    num_test = check_positive_int("num_test", num_test, allow_zero=True)
    subtract_mean = check_bool("subtract_mean", subtract_mean)
    dtype = check_float_dtype("dtype", dtype)
    folder = resolve_cifar10_dir(root)
    train_paths = _train_batch_paths(folder)
    test_path = _test_batch_path(folder)

    # Without num_training every batch is read (once); with it, only as many as the split needs.
    needed = len(train_paths) * _MAX_ROWS_PER_BATCH if num_training is None else num_training + num_validation
    datas, labels = [], []
    have = 0
    for path in train_paths:
        if have >= needed:
            break
        data, y = read_cifar10_batch(path)
        datas.append(data)
        labels.append(y)
        have += data.shape[0]
    if num_training is None:
        if have <= num_validation:
            raise DataError(
                f"{folder} holds {have} training images; more than num_validation = {num_validation} are needed"
            )
        num_training = min(_MAX_TRAINING, have - num_validation)
        needed = num_training + num_validation
    if have < needed:
        raise InvalidArgumentError(
            f"num_training + num_validation = {num_training} + {num_validation} = {needed} training "
            f"rows asked for, but the {len(train_paths)} training batches in {folder} hold {have}"
        )
    train_data = np.concatenate(datas)[:needed]
    train_labels = np.concatenate(labels)[:needed]
    del datas
    test_data, test_labels = read_cifar10_batch(test_path)
    if num_test > test_data.shape[0]:
        raise InvalidArgumentError(
            f"num_test = {num_test} asked for, but {test_path} holds {test_data.shape[0]} rows"
        )

    def planes(data: np.ndarray) -> np.ndarray:
        # A row is already the R, G, B planes: channels first is a plain reshape.
        return data.reshape(-1, 3, 32, 32).astype(dtype)

    X_train = planes(train_data[:num_training])
    X_val = planes(train_data[num_training:needed])
    X_test = planes(test_data[:num_test])
    if subtract_mean:
        # Sums of uint8 values in float64 are exact, so this is the correctly rounded mean, the same
        # value the course's np.mean over its float64 copy gives.
        mean_image = train_data[:num_training].reshape(-1, 3, 32, 32).mean(axis=0, dtype=np.float64)
        mean_image = mean_image.astype(dtype)
        X_train -= mean_image
        X_val -= mean_image
        X_test -= mean_image
    return {
        "X_train": X_train,
        "y_train": train_labels[:num_training].copy(),
        "X_val": X_val,
        "y_val": train_labels[num_training:needed].copy(),
        "X_test": X_test,
        "y_test": test_labels[:num_test].copy(),
    }

