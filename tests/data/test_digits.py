"""The embedded digits: checksum, shapes, scaling, stratified and reproducible splits."""

from __future__ import annotations

import gzip
import hashlib
from importlib import resources

import numpy as np
import pytest

from dropout_lab.data import digits as digits_module
from dropout_lab.data import get_digits_data, load_dataset, load_digits
from dropout_lab.errors import DataError, InvalidArgumentError, InvalidTypeError

N = 1797
SPLITS = (("X_train", "y_train"), ("X_val", "y_val"), ("X_test", "y_test"))


def raw_table() -> np.ndarray:
    """The CSV parsed independently of the library: (1797, 65) integers."""
    text = gzip.decompress(resources.files("dropout_lab.data").joinpath("digits.csv.gz").read_bytes()).decode()
    return np.array([[int(v) for v in line.split(",")] for line in text.splitlines()])


RAW = raw_table()


def test_embedded_file_has_the_published_checksum():
    data = resources.files("dropout_lab.data").joinpath("digits.csv.gz").read_bytes()
    assert hashlib.sha256(data).hexdigest() == digits_module.DIGITS_SHA256
    assert digits_module.DIGITS_SHA256 == "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"


def test_load_digits_shapes_values_and_labels():
    X, y = load_digits()
    assert X.shape == (N, 1, 8, 8) and X.dtype == np.float64
    assert y.shape == (N,) and y.dtype == np.int64
    assert X.min() == 0 and X.max() == 16
    assert np.array_equal(X.reshape(N, 64), RAW[:, :64])
    assert np.array_equal(y, RAW[:, 64])
    assert sorted(set(y.tolist())) == list(range(10))


def test_load_digits_returns_fresh_arrays():
    X, y = load_digits()
    X[:] = -1
    y[:] = -1
    X2, y2 = load_digits()
    assert X2.min() == 0 and y2.min() == 0


def test_a_corrupt_embedded_file_is_refused(monkeypatch):
    monkeypatch.setattr(digits_module, "_read_resource", lambda: b"\x1f\x8b tampered")
    digits_module._digits_table.cache_clear()
    try:
        with pytest.raises(DataError, match="SHA-256"):
            load_digits()
        with pytest.raises(DataError, match="corrupt"):
            get_digits_data()
    finally:
        monkeypatch.undo()
        digits_module._digits_table.cache_clear()
    assert load_digits()[0].shape == (N, 1, 8, 8)


def test_default_split_sizes_and_dtypes():
    out = get_digits_data()
    assert list(out) == ["X_train", "y_train", "X_val", "y_val", "X_test", "y_test"]
    sizes = [out[x].shape[0] for x, _ in SPLITS]
    assert sizes == [1000, 397, 400]
    for x, y in SPLITS:
        assert out[x].shape[1:] == (1, 8, 8) and out[x].dtype == np.float64
        assert out[y].dtype == np.int64 and out[y].shape == (out[x].shape[0],)


def _row_ids(out: dict, unscaled: bool = True) -> list[np.ndarray]:
    """Map each returned example back to its row of the CSV (the 1,797 rows are distinct)."""
    lookup = {tuple(row): i for i, row in enumerate(RAW[:, :64])}
    assert len(lookup) == N
    ids = []
    for x, y in SPLITS:
        pixels = np.rint(out[x].reshape(-1, 64) * 16).astype(np.int64)
        rows = np.array([lookup[tuple(p)] for p in pixels], dtype=np.int64)
        assert np.array_equal(RAW[rows, 64], out[y])  # the labels travel with their images
        ids.append(rows)
    return ids


def test_splits_are_disjoint_and_cover_distinct_rows():
    out = get_digits_data(subtract_mean=False)
    train, val, test = _row_ids(out)
    every = np.concatenate([train, val, test])
    assert len(set(every.tolist())) == every.size == N  # disjoint, and all used by default
    small = get_digits_data(300, 100, 50, subtract_mean=False)
    ids = np.concatenate(_row_ids(small))
    assert len(set(ids.tolist())) == ids.size == 450


@pytest.mark.parametrize("sizes", [(None, 397, 400), (300, 100, 50), (1797 - 20, 10, 10), (50, 0, 7)])
def test_every_class_in_proportion_in_every_split(sizes):
    out = get_digits_data(*sizes, subtract_mean=False)
    class_counts = np.bincount(RAW[:, 64], minlength=10)
    for _, y in SPLITS:
        m = out[y].size
        counts = np.bincount(out[y], minlength=10)
        exact = class_counts * m / N
        assert np.all(np.abs(counts - exact) < 1), (y, counts, exact)


def test_scaling_and_mean_subtraction():
    raw = get_digits_data(subtract_mean=False, seed=3)
    centred = get_digits_data(seed=3)
    assert raw["X_train"].min() == 0 and raw["X_train"].max() == 1
    assert np.array_equal(raw["X_train"] * 16, np.rint(raw["X_train"] * 16))  # multiples of 1/16
    mean = raw["X_train"].mean(axis=0)
    for x, y in SPLITS:
        assert np.array_equal(centred[x], raw[x] - mean)
        assert np.array_equal(centred[y], raw[y])
    # Centred: zero up to the rounding of 1,000 terms below 1 in the sums.
    assert np.abs(centred["X_train"].mean(axis=0)).max() <= 1000 * np.finfo(np.float64).eps


def test_same_seed_same_split_other_seed_other_split():
    a, b, c = get_digits_data(seed=7), get_digits_data(seed=7), get_digits_data(seed=8)
    for key in a:
        assert np.array_equal(a[key], b[key])
    assert not np.array_equal(a["y_train"], c["y_train"])
    assert set(_row_ids(get_digits_data(seed=7, subtract_mean=False))[2].tolist()) != set(
        _row_ids(get_digits_data(seed=8, subtract_mean=False))[2].tolist()
    )


def test_a_generator_as_seed_is_drawn_from():
    rng = np.random.default_rng(5)
    first, second = get_digits_data(seed=rng), get_digits_data(seed=rng)
    assert not np.array_equal(first["y_train"], second["y_train"])
    again = get_digits_data(seed=np.random.default_rng(5))
    assert np.array_equal(first["X_train"], again["X_train"])


def test_float32():
    out64, out32 = get_digits_data(), get_digits_data(dtype=np.float32)
    for x, _ in SPLITS:
        assert out32[x].dtype == np.float32
        # One rounding to float32 of values in (-1, 1).
        np.testing.assert_allclose(out32[x], out64[x], rtol=0, atol=2.0**-24)


def test_requests_larger_than_the_data_set_are_refused():
    with pytest.raises(InvalidArgumentError, match="1797"):
        get_digits_data(1500, 200, 100)
    with pytest.raises(InvalidArgumentError, match="leaves no training example"):
        get_digits_data(None, 1000, 797)
    assert get_digits_data(1597, 100, 100)["X_train"].shape[0] == 1597


@pytest.mark.parametrize(
    "kwargs, error, name",
    [
        ({"num_training": -1}, InvalidArgumentError, "num_training"),
        ({"num_training": 0}, InvalidArgumentError, "num_training"),
        ({"num_validation": -1}, InvalidArgumentError, "num_validation"),
        ({"num_test": -3}, InvalidArgumentError, "num_test"),
        ({"num_test": 2.5}, InvalidTypeError, "num_test"),
        ({"seed": -1}, InvalidArgumentError, "seed"),
        ({"seed": "zero"}, InvalidTypeError, "seed"),
        ({"dtype": np.int64}, InvalidTypeError, "dtype"),
        ({"subtract_mean": 1}, InvalidTypeError, "subtract_mean"),
    ],
)
def test_bad_arguments_name_themselves(kwargs, error, name):
    with pytest.raises(error, match=name):
        get_digits_data(**kwargs)


def test_load_dataset_digits_passes_arguments_on():
    out = load_dataset("digits", num_training=100, num_validation=20, num_test=30, seed=1)
    assert [out[x].shape[0] for x, _ in SPLITS] == [100, 20, 30]
    assert np.array_equal(out["X_train"], get_digits_data(100, 20, 30, seed=1)["X_train"])
