"""The embedded default data set: 8x8 handwritten digits, small enough to ship with the package.

``digits.csv.gz`` is scikit-learn's copy of the test set of the UCI "Optical Recognition of
Handwritten Digits" data set by E. Alpaydin and C. Kaynak (1998), UCI Machine Learning Repository,
https://doi.org/10.24432/C50P49, licensed CC BY 4.0. Each of its 1,797 rows is 64 pixel counts in
0..16 (an 8x8 image, row by row) followed by the label 0..9. The file's SHA-256 is checked on every
load.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
from importlib import resources
from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

from .._typing import FloatArray, IntArray
from .._validation import check_bool, check_float_dtype, check_positive_int
from ..errors import DataError, InvalidArgumentError
from .split import stratified_split

__all__ = ["load_digits", "get_digits_data"]

#: SHA-256 of the embedded ``digits.csv.gz``.
DIGITS_SHA256 = "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"
#: Rows in the embedded file.
DIGITS_NUM_EXAMPLES = 1797
_RESOURCE = "digits.csv.gz"
_MAX_PIXEL = 16


def _read_resource() -> bytes:
    return resources.files(__package__).joinpath(_RESOURCE).read_bytes()


@functools.lru_cache(maxsize=1)
def _digits_table() -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """pixels: int64 (1797, 64) in 0..16, labels: int64 (1797,), both read-only (shared by callers)."""
    name = f"{__package__}/{_RESOURCE}"
    try:
        raw = _read_resource()
    except OSError as exc:
        raise DataError(f"cannot read the embedded data file {name}: {exc}; reinstall dropout-lab") from exc
    digest = hashlib.sha256(raw).hexdigest()
    if digest != DIGITS_SHA256:
        raise DataError(
            f"the embedded data file {name} is corrupt: SHA-256 {digest}, expected {DIGITS_SHA256}; "
            "reinstall dropout-lab"
        )
    table = np.loadtxt(io.StringIO(gzip.decompress(raw).decode("ascii")), delimiter=",", dtype=np.int64)
    # The checksum pins the content; these checks keep the numbers below honest if it is ever updated.
    if table.shape != (DIGITS_NUM_EXAMPLES, 65):
        raise DataError(f"{name}: expected {DIGITS_NUM_EXAMPLES} rows of 65 values, got shape {table.shape}")
    pixels, labels = table[:, :64].copy(), table[:, 64].copy()
    if pixels.min() < 0 or pixels.max() > _MAX_PIXEL or labels.min() < 0 or labels.max() > 9:
        raise DataError(f"{name}: pixel values must lie in 0..16 and labels in 0..9")
    pixels.setflags(write=False)
    labels.setflags(write=False)
    return pixels, labels


def load_digits() -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """All 1,797 digits, unscaled.

    Returns:
        X: float64 (1797, 1, 8, 8), pixel counts 0..16 (one channel, channels first); y: int64 (1797,)
        in 0..9 (about 180 of each).

    Raises:
        DataError: the embedded file is missing or its SHA-256 does not match.
    """
    pixels, labels = _digits_table()
    return pixels.reshape(-1, 1, 8, 8).astype(np.float64), labels.copy()


def get_digits_data(
    num_training: int | None = None,
    num_validation: int = 397,
    num_test: int = 400,
    subtract_mean: bool = True,
    seed: int | np.random.Generator | None = 0,
    dtype: DTypeLike = np.float64,
) -> dict[str, NDArray[np.floating[Any] | np.int64]]:
    """The digits split for a classifier, in the same form as :func:`get_cifar10_data`.

    The split is stratified: each class ``c`` (``n_c`` examples of ``N = 1797``) puts
    ``n_c * size / N`` examples, rounded down or up, in each split, so class proportions match the
    whole set's to within one example. Which examples go where is drawn from
    ``np.random.default_rng(seed)``: the same seed gives the same split. The defaults give 1,000
    training, 397 validation and 400 test examples, every example used once.

    Pixels are scaled to [0, 1] (``x / 16``); then, with ``subtract_mean``, the training split's mean
    image ``mean = X_train.mean(axis=0)`` is subtracted from all three.

    Args:
        num_training: >= 1, or None for every example not in validation or test.
        num_validation, num_test: >= 0.
        subtract_mean: subtract the training split's mean image.
        seed: an int in [0, 2**32), a ``np.random.Generator`` (drawn from) or None (fresh entropy).
        dtype: float64 or float32.

    Returns:
        dict with ``X_train``: (num_training, 1, 8, 8), ``y_train``: int64 (num_training,),
        ``X_val``: (num_validation, 1, 8, 8), ``y_val``, ``X_test``: (num_test, 1, 8, 8), ``y_test``;
        X in ``dtype``.

    Raises:
        InvalidArgumentError: a negative size, or sizes adding up to more than 1,797 (or leaving no
            training example).
    """
    num_validation = check_positive_int("num_validation", num_validation, allow_zero=True)
    num_test = check_positive_int("num_test", num_test, allow_zero=True)
    if num_training is None:
        num_training = DIGITS_NUM_EXAMPLES - num_validation - num_test
        if num_training < 1:
            raise InvalidArgumentError(
                f"num_validation + num_test = {num_validation + num_test} leaves no training example: "
                f"the digits data set has {DIGITS_NUM_EXAMPLES} examples"
            )
    else:
        num_training = check_positive_int("num_training", num_training)
    total = num_training + num_validation + num_test
    if total > DIGITS_NUM_EXAMPLES:
        raise InvalidArgumentError(
            f"num_training + num_validation + num_test = {num_training} + {num_validation} + {num_test} "
            f"= {total}, but the digits data set has {DIGITS_NUM_EXAMPLES} examples"
        )
    subtract_mean = check_bool("subtract_mean", subtract_mean)
    dtype = check_float_dtype("dtype", dtype)

    pixels, labels = _digits_table()
    train, val, test = stratified_split(labels, [num_training, num_validation, num_test], seed)
    # x / 16 then the mean in float64, rounded to dtype once at the end.
    images = pixels.reshape(-1, 1, 8, 8) / float(_MAX_PIXEL)
    mean_image: FloatArray | float = images[train].mean(axis=0) if subtract_mean else 0.0

    def prepare(rows: IntArray) -> FloatArray:
        return (images[rows] - mean_image).astype(dtype)

    return {
        "X_train": prepare(train),
        "y_train": labels[train].copy(),
        "X_val": prepare(val),
        "y_val": labels[val].copy(),
        "X_test": prepare(test),
        "y_test": labels[test].copy(),
    }
