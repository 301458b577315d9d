"""CIFAR-10 loaders: the team's sample, the course's split and centring, root resolution, bad files."""

from __future__ import annotations

import functools
import pickle
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dropout_lab import course
from dropout_lab.data import (
    CIFAR10_FOLDER,
    DATA_ENV_VAR,
    get_cifar10_data,
    load_cifar10,
    load_cifar10_batch,
    read_cifar10_batch,
    resolve_cifar10_dir,
    resolve_data_root,
)
from dropout_lab.errors import DataError, InvalidArgumentError, InvalidTypeError

from ._batches import binint, binstring, py2_array, py2_batch, py2_dict, py2_list, random_batch, write_cifar_folder

TRAIN_FILES = [f"data_batch_{i}" for i in range(1, 6)]


@functools.cache
def reference(folder: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The sample read independently with the standard unpickler (trusted files): uint8 (N, 3072)."""
    def read(name):
        with open(Path(folder) / name, "rb") as handle:
            batch = pickle.load(handle, encoding="bytes")  # noqa: S301 - the team's own sample
        return batch[b"data"], np.array(batch[b"labels"])

    parts = [read(name) for name in TRAIN_FILES]
    test = read("test_batch")
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), test[0], test[1]


@functools.cache
def loaded(folder: str):
    return load_cifar10(folder)


# ------------------------------------------------------------------------------------ the sample


def test_load_cifar10_shapes_dtypes_and_labels(cifar_dir):
    Xtr, ytr, Xte, yte = loaded(str(cifar_dir))
    assert Xtr.shape == (5000, 32, 32, 3) and Xtr.dtype == np.float64
    assert Xte.shape == (1000, 32, 32, 3) and Xte.dtype == np.float64
    assert ytr.shape == (5000,) and ytr.dtype == np.int64
    assert yte.shape == (1000,) and yte.dtype == np.int64
    assert ytr.min() == 0 and ytr.max() == 9 and yte.min() == 0 and yte.max() == 9
    assert np.bincount(ytr, minlength=10).tolist() == [500] * 10
    assert np.bincount(yte, minlength=10).tolist() == [100] * 10
    assert Xtr.min() >= 0 and Xtr.max() <= 255
    assert Xtr.flags.c_contiguous


def test_load_cifar10_matches_the_files_channels_last(cifar_dir):
    Xtr, ytr, Xte, yte = loaded(str(cifar_dir))
    data_tr, labels_tr, data_te, labels_te = reference(str(cifar_dir))
    # Pixel (row r, column c, channel k) of image i is byte k*1024 + r*32 + c of its row.
    i, r, c, k = 1234, 7, 19, 2
    assert Xtr[i, r, c, k] == data_tr[i, k * 1024 + r * 32 + c]
    assert np.array_equal(Xtr, data_tr.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    assert np.array_equal(Xte, data_te.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    assert np.array_equal(ytr, labels_tr) and np.array_equal(yte, labels_te)


def test_the_course_spellings_are_these_functions():
    assert course.load_CIFAR10 is load_cifar10
    assert course.get_CIFAR10_data is get_cifar10_data
    assert course.load_CIFAR_batch is load_cifar10_batch


def test_load_one_batch(cifar_dir):
    X, y = load_cifar10_batch(cifar_dir / "data_batch_2")
    data_tr, labels_tr, _, _ = reference(str(cifar_dir))
    assert X.shape == (1000, 32, 32, 3) and X.dtype == np.float64 and y.dtype == np.int64
    assert np.array_equal(X, data_tr[1000:2000].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    assert np.array_equal(y, labels_tr[1000:2000])


def test_get_data_split_and_mean_subtraction(cifar_dir):
    n_train, n_val, n_test = 3500, 700, 300
    out = get_cifar10_data(n_train, n_val, n_test, root=cifar_dir)
    data_tr, labels_tr, data_te, labels_te = reference(str(cifar_dir))
    assert list(out) == ["X_train", "y_train", "X_val", "y_val", "X_test", "y_test"]
    train = data_tr[:n_train].reshape(-1, 3, 32, 32).astype(np.float64)
    val = data_tr[n_train : n_train + n_val].reshape(-1, 3, 32, 32).astype(np.float64)
    test = data_te[:n_test].reshape(-1, 3, 32, 32).astype(np.float64)
    # Sums of integers below 2**53 are exact in float64, so this mean is the correctly rounded one.
    mean = train.sum(axis=0) / n_train
    assert out["X_train"].shape == (n_train, 3, 32, 32) and out["X_train"].dtype == np.float64
    assert np.array_equal(out["X_train"], train - mean)
    assert np.array_equal(out["X_val"], val - mean)
    assert np.array_equal(out["X_test"], test - mean)
    assert np.array_equal(out["y_train"], labels_tr[:n_train])
    assert np.array_equal(out["y_val"], labels_tr[n_train : n_train + n_val])
    assert np.array_equal(out["y_test"], labels_te[:n_test])
    assert all(out[k].dtype == np.int64 for k in ("y_train", "y_val", "y_test"))
    # Centred: the training split's mean is zero up to rounding of n_train values of size <= 255.
    assert np.abs(out["X_train"].mean(axis=0)).max() <= n_train * 255 * np.finfo(np.float64).eps


def test_get_data_matches_the_course_recipe(cifar_dir):
    """The course: load_CIFAR10, slice, subtract the NHWC mean, transpose to NCHW."""
    Xtr, ytr, Xte, yte = loaded(str(cifar_dir))
    n_train, n_val, n_test = 4000, 1000, 1000
    X_train, X_val, X_test = Xtr[:n_train].copy(), Xtr[n_train : n_train + n_val].copy(), Xte[:n_test].copy()
    mean_image = np.mean(X_train, axis=0)
    X_train -= mean_image
    X_val -= mean_image
    X_test -= mean_image
    out = get_cifar10_data(n_train, n_val, n_test, root=cifar_dir)
    assert np.array_equal(out["X_train"], X_train.transpose(0, 3, 1, 2))
    assert np.array_equal(out["X_val"], X_val.transpose(0, 3, 1, 2))
    assert np.array_equal(out["X_test"], X_test.transpose(0, 3, 1, 2))


def test_get_data_without_mean_subtraction_keeps_pixels(cifar_dir):
    out = get_cifar10_data(100, 50, 20, subtract_mean=False, root=cifar_dir)
    data_tr, _, data_te, _ = reference(str(cifar_dir))
    assert np.array_equal(out["X_train"], data_tr[:100].reshape(-1, 3, 32, 32))
    assert np.array_equal(out["X_val"], data_tr[100:150].reshape(-1, 3, 32, 32))
    assert np.array_equal(out["X_test"], data_te[:20].reshape(-1, 3, 32, 32))


def test_get_data_float32(cifar_dir):
    out64 = get_cifar10_data(1500, 100, 100, root=cifar_dir)
    out32 = get_cifar10_data(1500, 100, 100, root=cifar_dir, dtype=np.float32)
    for key in ("X_train", "X_val", "X_test"):
        assert out32[key].dtype == np.float32
        # Two float32 roundings (the mean, then x - mean) of values below 256, each at most 2**-17,
        # plus the float64 reference's own rounding (at most 2**-45).
        np.testing.assert_allclose(out32[key], out64[key], rtol=0, atol=2 * 2.0**-17 + 2.0**-45)
    assert out32["y_train"].dtype == np.int64


def test_zero_validation_and_test_rows(cifar_dir):
    out = get_cifar10_data(10, 0, 0, root=cifar_dir)
    assert out["X_val"].shape == (0, 3, 32, 32) and out["y_val"].shape == (0,)
    assert out["X_test"].shape == (0, 3, 32, 32) and out["y_test"].shape == (0,)


def test_asking_for_more_rows_than_the_files_hold_says_how_many(cifar_dir):
    with pytest.raises(InvalidArgumentError, match="hold 5000"):
        get_cifar10_data(root=cifar_dir)  # the course's 49,000 + 1,000
    with pytest.raises(InvalidArgumentError, match="hold 5000"):
        get_cifar10_data(4500, 501, 10, root=cifar_dir)
    with pytest.raises(InvalidArgumentError, match="holds 1000"):
        get_cifar10_data(10, 10, 1001, root=cifar_dir)
    assert get_cifar10_data(4500, 500, 1000, subtract_mean=False, root=cifar_dir)["X_val"].shape[0] == 500


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"num_training": -1}, "num_training"),
        ({"num_training": 0}, "num_training"),
        ({"num_validation": -5}, "num_validation"),
        ({"num_test": -1}, "num_test"),
    ],
)
def test_negative_sizes_name_the_argument(kwargs, name, tmp_path):
    with pytest.raises(InvalidArgumentError, match=name):
        get_cifar10_data(root=tmp_path, **kwargs)  # checked before the (missing) files are looked at


def test_bad_argument_types(tmp_path):
    with pytest.raises(InvalidTypeError, match="num_training"):
        get_cifar10_data(num_training=10.5, root=tmp_path)
    with pytest.raises(InvalidTypeError, match="subtract_mean"):
        get_cifar10_data(subtract_mean="yes", root=tmp_path)
    with pytest.raises(InvalidTypeError, match="dtype"):
        get_cifar10_data(dtype=np.int32, root=tmp_path)
    with pytest.raises(InvalidTypeError, match="root"):
        get_cifar10_data(root=42)


def test_only_the_batches_the_split_needs_are_read(tmp_path):
    write_cifar_folder(tmp_path, np.random.default_rng(0), rows=10)
    (tmp_path / "data_batch_3").write_bytes(b"corrupt")
    out = get_cifar10_data(15, 5, 3, root=tmp_path)
    assert out["X_train"].shape == (15, 3, 32, 32)
    with pytest.raises(DataError, match="data_batch_3"):
        get_cifar10_data(15, 6, 3, root=tmp_path)


# ------------------------------------------------------------------------------- where the data is


def test_root_argument_then_env_var_then_xdg_then_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv(DATA_ENV_VAR, raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert resolve_data_root() == tmp_path / "home" / ".cache" / "dropout-lab"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # invalid per the XDG spec: ignored
    assert resolve_data_root() == tmp_path / "home" / ".cache" / "dropout-lab"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert resolve_data_root() == tmp_path / "xdg" / "dropout-lab"
    monkeypatch.setenv(DATA_ENV_VAR, "")  # empty counts as unset
    assert resolve_data_root() == tmp_path / "xdg" / "dropout-lab"
    monkeypatch.setenv(DATA_ENV_VAR, str(tmp_path / "env"))
    assert resolve_data_root() == tmp_path / "env"
    assert resolve_data_root(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_data_root("~/x") == tmp_path / "home" / "x"


def test_env_var_root_loads_the_sample(cifar_dir, monkeypatch):
    monkeypatch.setenv(DATA_ENV_VAR, str(cifar_dir))
    assert resolve_cifar10_dir() == cifar_dir
    out = get_cifar10_data(20, 10, 5, subtract_mean=False)
    data_tr, _, _, _ = reference(str(cifar_dir))
    assert np.array_equal(out["X_train"], data_tr[:20].reshape(-1, 3, 32, 32))


def test_a_root_holding_the_cifar_folder(cifar_dir, tmp_path):
    (tmp_path / CIFAR10_FOLDER).symlink_to(cifar_dir, target_is_directory=True)
    assert resolve_cifar10_dir(tmp_path) == tmp_path / CIFAR10_FOLDER
    out = get_cifar10_data(20, 10, 5, subtract_mean=False, root=tmp_path)
    assert out["X_train"].shape == (20, 3, 32, 32)


def test_missing_folder_says_where_and_how_to_download(tmp_path):
    with pytest.raises(DataError) as info:
        load_cifar10(tmp_path / "nowhere")
    message = str(info.value)
    assert str(tmp_path / "nowhere" / CIFAR10_FOLDER) in message
    assert "dropout-lab data download cifar10" in message
    with pytest.raises(DataError, match="dropout-lab data download cifar10"):
        get_cifar10_data(10, 0, 0, root=tmp_path)


def test_missing_test_batch_and_gaps_are_data_errors(tmp_path):
    write_cifar_folder(tmp_path, np.random.default_rng(1), rows=4)
    (tmp_path / "test_batch").unlink()
    with pytest.raises(DataError, match="test_batch"):
        load_cifar10(tmp_path)
    write_cifar_folder(tmp_path, np.random.default_rng(1), rows=4)
    (tmp_path / "data_batch_2").unlink()
    with pytest.raises(DataError, match="data_batch_2 is missing"):
        load_cifar10(tmp_path)


def test_fewer_training_batches_are_read_in_order(tmp_path):
    written = write_cifar_folder(tmp_path, np.random.default_rng(2), rows=6, train_batches=2)
    Xtr, ytr, Xte, yte = load_cifar10(tmp_path)
    assert Xtr.shape == (12, 32, 32, 3)
    expected = np.concatenate([written["data_batch_1"][0], written["data_batch_2"][0]])
    assert np.array_equal(Xtr, expected.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    assert np.array_equal(ytr, np.concatenate([written["data_batch_1"][1], written["data_batch_2"][1]]))
    assert np.array_equal(yte, written["test_batch"][1])


# ----------------------------------------------------------------------------- re-saved batches


@pytest.mark.parametrize("str_keys", [False, True])
def test_numpy2_resaved_batch_loads(tmp_path, str_keys):
    rng = np.random.default_rng(3)
    data, labels = random_batch(rng, 8)
    batch = {"batch_label": b"resaved", "labels": labels.tolist(), "data": data, "filenames": [b"x"] * 8}
    if not str_keys:
        batch = {key.encode(): value for key, value in batch.items()}
    path = tmp_path / "data_batch_1"
    with open(path, "wb") as handle:
        pickle.dump(batch, handle, protocol=2)
    assert b"numpy._core.multiarray" in path.read_bytes()  # written by NumPy 2
    X, y = load_cifar10_batch(path)
    assert np.array_equal(X, data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    assert np.array_equal(y, labels) and y.dtype == np.int64


def test_labels_as_an_integer_array_load(tmp_path):
    data, labels = random_batch(np.random.default_rng(4), 5)
    path = tmp_path / "b"
    path.write_bytes(pickle.dumps({b"data": data, b"labels": labels.astype(np.uint8)}, protocol=2))
    _, y = read_cifar10_batch(path)
    assert np.array_equal(y, labels) and y.dtype == np.int64


# --------------------------------------------------------------------------------- broken batches


def _bad_batches() -> dict[str, bytes]:
    data, labels = random_batch(np.random.default_rng(6), 4)
    good = py2_batch(data, labels)
    ints = lambda values: py2_list([binint(v) for v in values])  # noqa: E731 (a one-line builder, read as a name)
    return {
        "empty file": b"",
        "truncated after the header": good[:2],
        "truncated in the labels": good[:60],
        "truncated in the pixels": good[: len(good) // 2],
        "truncated before the end": good[:-1],
        "random bytes": np.random.default_rng(7).integers(0, 256, 5000, dtype=np.uint8).tobytes(),
        "not a dict": b"\x80\x02" + ints([1, 2]) + b".",
        "no data": py2_dict([(b"labels", ints(labels.tolist()))]),
        "no labels": py2_dict([(b"data", py2_array(data))]),
        "data not an array": py2_dict([(b"data", binstring(b"x")), (b"labels", ints(labels.tolist()))]),
        "data of floats": py2_dict([(b"data", py2_array(data.astype(np.float32))), (b"labels", ints(labels.tolist()))]),
        "data too narrow": py2_dict([(b"data", py2_array(data[:, :3071].copy())), (b"labels", ints(labels.tolist()))]),
        "data 1-D": py2_dict([(b"data", py2_array(data[0].copy())), (b"labels", ints([1]))]),
        "no images": py2_dict([(b"data", py2_array(data[:0].copy())), (b"labels", ints([]))]),
        "label 10": py2_dict([(b"data", py2_array(data)), (b"labels", ints([0, 1, 2, 10]))]),
        "label -1": py2_dict([(b"data", py2_array(data)), (b"labels", ints([0, 1, 2]) [:-1] + binint(-1) + b"e")]),
        "too few labels": py2_dict([(b"data", py2_array(data)), (b"labels", ints([0, 1, 2]))]),
        "labels not integers": py2_dict([(b"data", py2_array(data)), (b"labels", py2_list([binstring(b"a")] * 4))]),
        "labels not a list": py2_dict([(b"data", py2_array(data)), (b"labels", binstring(b"0123"))]),
    }


BAD = _bad_batches()


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_batch_files_are_data_errors_naming_the_file(name, tmp_path):
    path = tmp_path / "data_batch_1"
    path.write_bytes(BAD[name])
    with pytest.raises(DataError) as info:
        read_cifar10_batch(path)
    assert str(path) in str(info.value)
    write_cifar_folder(tmp_path, np.random.default_rng(8), rows=3)
    (tmp_path / "data_batch_4").write_bytes(BAD[name])
    with pytest.raises(DataError) as info:
        load_cifar10(tmp_path)
    assert str(tmp_path / "data_batch_4") in str(info.value)


@pytest.mark.parametrize(
    "name, words",
    [
        ("no data", "no 'data'"),
        ("no labels", "no 'labels'"),
        ("data of floats", "uint8"),
        ("data too narrow", "3072"),
        ("label 10", "0..9"),
        ("label -1", "0..9"),
        ("too few labels", "one label per image"),
        ("not a dict", "expected a dict"),
        ("truncated before the end", "truncated"),
    ],
)
def test_bad_batch_messages_say_what_is_wrong(name, words, tmp_path):
    path = tmp_path / "test_batch"
    path.write_bytes(BAD[name])
    with pytest.raises(DataError, match=words.replace(".", r"\.")):
        read_cifar10_batch(path)


# -------------------------------------------------------------------------------------- fuzzing


@pytest.fixture(scope="module")
def scratch_file(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz") / "data_batch_1"


GOOD_SMALL = py2_batch(*random_batch(np.random.default_rng(12), 3))


@given(
    st.integers(0, len(GOOD_SMALL) - 1),
    st.lists(st.tuples(st.integers(0, len(GOOD_SMALL) - 1), st.integers(0, 255)), max_size=3),
)
def test_fuzz_truncated_and_corrupted_files_raise_data_error_only(scratch_file, cut, edits):
    corrupted = bytearray(GOOD_SMALL)
    for position, value in edits:
        corrupted[position] = value
    scratch_file.write_bytes(bytes(corrupted[: cut if not edits else len(corrupted)]))
    try:
        data, labels = read_cifar10_batch(scratch_file)
    except DataError as exc:
        assert str(scratch_file) in str(exc)
    else:
        # Some flips land in pixels or labels and still make a valid batch.
        assert data.dtype == np.uint8 and data.shape == (3, 3072)
        assert labels.dtype == np.int64 and labels.min() >= 0 and labels.max() <= 9


_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.binary(max_size=8),
    st.text(max_size=8),
    st.lists(st.one_of(st.integers(-(2**70), 2**70), st.booleans(), st.binary(max_size=2)), max_size=6),
    hnp.arrays(
        st.sampled_from([np.uint8, np.int8, np.int64, np.uint64, np.float32, np.bool_]),
        hnp.array_shapes(min_dims=0, max_dims=3, max_side=4),
    ),
    hnp.arrays(np.uint8, st.tuples(st.integers(0, 3), st.sampled_from([3071, 3072]))),
)


@given(
    st.dictionaries(st.sampled_from([b"data", b"labels", "data", "labels", b"other"]), _values, max_size=4),
    st.integers(2, 5),
)
def test_fuzz_batch_structures_raise_data_error_only(scratch_file, batch, protocol):
    scratch_file.write_bytes(pickle.dumps(batch, protocol=protocol))
    try:
        data, labels = read_cifar10_batch(scratch_file)
    except DataError as exc:
        assert str(scratch_file) in str(exc)
    else:
        assert data.dtype == np.uint8 and data.ndim == 2 and data.shape[1] == 3072 and data.shape[0] >= 1
        assert labels.shape == (data.shape[0],) and labels.dtype == np.int64
        assert labels.min() >= 0 and labels.max() <= 9


def test_keys_too_long_for_repr_are_described_in_one_line(tmp_path, monkeypatch):
    # Python refuses str() of an integer of more than 4,300 digits (a ValueError, a traceback through
    # the CLI). The unpickler refuses such keys in a file; the message does not depend on that.
    import dropout_lab.data.cifar10 as cifar10

    batch = {10**5000: 1, (2, 10**5000): 2, b"x" * 10**6: 3, "labels": [0]}
    monkeypatch.setattr(cifar10, "load_pickle_file", lambda path: batch)
    with pytest.raises(DataError) as info:
        read_cifar10_batch(tmp_path / "data_batch_1")
    message = str(info.value)
    assert "no 'data' entry" in message and "<an integer of 16,610 bits>" in message and "\n" not in message
    assert "<a tuple too long to show>" in message and "b'xxxx" in message and len(message) < 400


def test_a_batch_with_an_integer_key_of_5000_digits_is_a_data_error(tmp_path):
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({10**5000: 1}, protocol=2))
    with pytest.raises(DataError, match=r"data_batch_1: refused: .* more than 64 nodes"):
        read_cifar10_batch(path)
