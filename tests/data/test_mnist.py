"""The MNIST loader: the real files (or a stand-in), the split, and every malformed file refused clearly."""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from pathlib import Path

import numpy as np
import pytest

from dropout_lab.data import (
    MNIST_FILES,
    MNIST_FOLDER,
    get_mnist_data,
    load_mnist,
    read_mnist_images,
    read_mnist_labels,
    resolve_mnist_dir,
)
from dropout_lab.data.mnist import MAX_COUNT, MAX_FILE_BYTES, MNIST_MD5, read_idx
from dropout_lab.errors import DataError, InvalidArgumentError, InvalidTypeError

from ._idx import LABELS_MAGIC, gz, idx_images, idx_labels, mnist_contents, write_mnist_folder

# The real files' class counts (training, test), from the files themselves.
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def loaded(mnist_dir):
    return load_mnist(mnist_dir)


@pytest.fixture
def real(loaded) -> bool:
    """Whether the files at hand are the real MNIST (else the conftest's generated stand-in: 1,200
    training and 200 test images; each test then checks what the stand-in allows)."""
    return len(loaded[1]) == 60_000


@pytest.fixture
def contents() -> dict[str, bytes]:
    return mnist_contents(np.random.default_rng(3), train=60, test=20)


# ------------------------------------------------------------------------------------ the real files


def test_real_files_shapes_dtypes_and_labels(loaded, real):
    Xtr, ytr, Xte, yte = loaded
    assert Xtr.dtype == Xte.dtype == np.uint8
    assert ytr.dtype == yte.dtype == np.int64
    assert list(ytr[:5]) == [5, 0, 4, 1, 9] and list(yte[:5]) == [7, 2, 1, 0, 4]
    if not real:  # the stand-in: its sizes, and every class present
        assert Xtr.shape == (1200, 784) and Xte.shape == (200, 784)
        assert np.bincount(ytr, minlength=10).min() > 0 and Xtr.max() <= 255
        return
    assert Xtr.shape == (60_000, 784) and Xte.shape == (10_000, 784)
    assert np.bincount(ytr).tolist() == TRAIN_COUNTS
    assert np.bincount(yte).tolist() == TEST_COUNTS
    assert Xtr.min() == 0 and Xtr.max() == 255
    # Digits are centred in their 28x28 box: the top row is background in all but 2 images.
    assert Xtr.reshape(-1, 28, 28)[:, 0, :].any(axis=1).sum() == 2
    assert int(Xtr[0].sum()) == 27525


def test_real_files_match_the_published_checksums(mnist_dir, real):
    """The real files: the published MD5s of their uncompressed content; the stand-in: read_idx's MD5
    is that of the uncompressed content (not of the .gz)."""
    for name in MNIST_FILES:
        kind = "images" if "images" in name else "labels"
        raw = gzip.decompress((Path(mnist_dir) / name).read_bytes())
        assert read_idx(Path(mnist_dir) / name, kind).md5 == hashlib.md5(raw).hexdigest()  # noqa: S324 - MNIST's own checksums
        if real:
            assert read_idx(Path(mnist_dir) / name, kind).md5 == MNIST_MD5[name]


def test_default_split_of_the_real_files(mnist_dir, loaded, real):
    Xtr, ytr, Xte, yte = loaded
    out = get_mnist_data(root=mnist_dir) if real else get_mnist_data(1000, 200, 200, root=mnist_dir)
    if not real:
        assert [out[k].shape[0] for k in ("X_train", "X_val", "X_test")] == [1000, 200, 200]
        assert all(0.0 <= out[k].min() and out[k].max() <= 1.0 for k in ("X_train", "X_val", "X_test"))
        everything_but_val = get_mnist_data(None, 200, 0, root=mnist_dir)  # None: all the rest trains
        assert everything_but_val["X_train"].shape[0] == len(ytr) - 200
        return
    assert list(out) == ["X_train", "y_train", "X_val", "y_val", "X_test", "y_test"]
    assert out["X_train"].shape == (50_000, 784) and out["X_val"].shape == (10_000, 784)
    assert out["X_test"].shape == (10_000, 784)
    for key in ("X_train", "X_val", "X_test"):
        assert out[key].dtype == np.float32
        assert out[key].min() == 0.0 and out[key].max() == 1.0
    assert np.array_equal(out["X_val"], Xtr[50_000:].astype(np.float32) / np.float32(255))
    assert np.array_equal(out["y_train"], ytr[:50_000]) and np.array_equal(out["y_val"], ytr[50_000:])
    assert np.array_equal(out["y_test"], yte)


# ------------------------------------------------------------------------------ the split, any files


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_split_takes_rows_in_order_and_scales_in_the_dtype(mnist_dir, loaded, dtype):
    Xtr, ytr, Xte, yte = loaded
    out = get_mnist_data(100, 30, 20, root=mnist_dir, dtype=dtype)
    assert out["X_train"].dtype == out["X_val"].dtype == out["X_test"].dtype == np.dtype(dtype)
    # value / 255 correctly rounded in the dtype itself (a float32 result never passes through float64).
    assert np.array_equal(out["X_train"], Xtr[:100].astype(dtype) / dtype(255))
    assert np.array_equal(out["X_val"], Xtr[100:130].astype(dtype) / dtype(255))
    assert np.array_equal(out["X_test"], Xte[:20].astype(dtype) / dtype(255))
    assert np.array_equal(out["y_train"], ytr[:100]) and np.array_equal(out["y_val"], ytr[100:130])
    assert np.array_equal(out["y_test"], yte[:20])
    assert all(out[k].dtype == np.int64 for k in ("y_train", "y_val", "y_test"))
    assert out["X_train"].flags.c_contiguous and out["X_train"].flags.writeable
    assert out["y_train"].flags.writeable


def test_zero_validation_and_test_rows(mnist_dir):
    out = get_mnist_data(10, 0, 0, root=mnist_dir)
    assert out["X_val"].shape == (0, 784) and out["X_test"].shape == (0, 784) and out["y_val"].shape == (0,)


def test_num_test_none_takes_the_whole_test_file(mnist_dir, loaded):
    out = get_mnist_data(10, 10, None, root=mnist_dir)
    assert out["X_test"].shape == (len(loaded[3]), 784)
    np.testing.assert_array_equal(out["y_test"], loaded[3])


def test_asking_for_more_rows_than_the_files_hold(mnist_dir, loaded):
    held = len(loaded[1])
    with pytest.raises(InvalidArgumentError, match=f"{held - 5} \\+ 10 = {held + 5} training rows .* holds {held}"):
        get_mnist_data(held - 5, 10, root=mnist_dir)
    with pytest.raises(InvalidArgumentError, match=f"num_test = {len(loaded[3]) + 1}"):
        get_mnist_data(10, 10, len(loaded[3]) + 1, root=mnist_dir)


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"num_training": 0}, InvalidArgumentError, "num_training"),
        ({"num_validation": -1}, InvalidArgumentError, "num_validation"),
        ({"num_test": 2.5}, InvalidTypeError, "num_test"),
        ({"dtype": np.int32}, InvalidTypeError, "dtype"),
        ({"root": 5}, InvalidTypeError, "root"),
    ],
)
def test_bad_arguments(mnist_dir, kwargs, error, words):
    with pytest.raises(error, match=words):
        get_mnist_data(**{"root": mnist_dir, **kwargs})


# -------------------------------------------------------------------------------------- the folder


def test_the_folder_is_root_or_root_mnist_or_the_env_var(tmp_path, contents, monkeypatch):
    write_mnist_folder(tmp_path / MNIST_FOLDER, contents)
    assert resolve_mnist_dir(tmp_path) == tmp_path / MNIST_FOLDER
    assert resolve_mnist_dir(tmp_path / MNIST_FOLDER) == tmp_path / MNIST_FOLDER
    monkeypatch.setenv("DROPOUT_LAB_DATA", str(tmp_path))
    Xtr, ytr, _, _ = load_mnist()
    assert Xtr.shape == (60, 784) and list(ytr[:5]) == [5, 0, 4, 1, 9]


def test_uncompressed_files_are_read_too(tmp_path, contents):
    write_mnist_folder(tmp_path, contents, compress=False)
    packed = load_mnist(write_mnist_folder(tmp_path / "packed", contents))
    for a, b in zip(load_mnist(tmp_path), packed, strict=True):
        assert np.array_equal(a, b)


def test_a_missing_folder_says_how_to_get_the_data(tmp_path):
    with pytest.raises(DataError, match="MNIST not found") as info:
        load_mnist(tmp_path / "nowhere")
    assert "dropout-lab data download mnist" in str(info.value) and "nowhere" in str(info.value)


def test_a_missing_file_is_named(tmp_path, contents):
    write_mnist_folder(tmp_path, contents)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="incomplete.*t10k-labels-idx1-ubyte.gz"):
        load_mnist(tmp_path)


def test_images_and_labels_of_different_counts(tmp_path, contents):
    contents["train-labels-idx1-ubyte.gz"] = idx_labels(np.zeros(59, dtype=np.uint8))
    write_mnist_folder(tmp_path, contents)
    with pytest.raises(DataError, match="60 images but .*train-labels-idx1-ubyte.gz holds 59 labels"):
        load_mnist(tmp_path)


# --------------------------------------------------------------------------------------- bad files

IMAGES = np.zeros((3, 784), dtype=np.uint8)
LABELS = np.array([1, 2, 3])
BAD_IMAGES = {
    "labels magic": (idx_images(IMAGES, magic=LABELS_MAGIC), "magic number 0x00000801, expected 0x00000803"),
    "other magic": (idx_images(IMAGES, magic=0x00000804), "magic number 0x00000804"),
    "short header": (idx_images(IMAGES)[:10], "truncated: an idx images file starts with a 16-byte header"),
    "truncated": (idx_images(IMAGES)[:-1], "truncated: its header declares 3 images (2352 bytes"),
    "count over the file": (idx_images(IMAGES, count=4), "header declares 4 images"),
    "bytes past the end": (idx_images(IMAGES) + b"\0", "more than the 2352 bytes its header declares"),
    "no images": (idx_images(IMAGES[:0]), "declares 0 images"),
    "a huge count": (idx_images(IMAGES, count=2**32 - 1), f"1 to {MAX_COUNT}"),
    "27 rows": (idx_images(IMAGES, rows=27), "27x28 images"),
}
BAD_LABELS = {
    "images magic": (idx_labels(LABELS, magic=0x803), "this is an idx images file"),
    "label 10": (idx_labels(np.array([1, 10, 3])), "labels must lie in 0..9, got 10 at index 1"),
    "label 255": (idx_labels(np.array([255])), "got 255 at index 0"),
    "truncated": (idx_labels(LABELS)[:-2], "truncated"),
}


@pytest.mark.parametrize("compress", [True, False], ids=["gz", "raw"])
@pytest.mark.parametrize("case", sorted(BAD_IMAGES))
def test_bad_images_files(tmp_path, case, compress):
    data, words = BAD_IMAGES[case]
    path = tmp_path / ("x-images.gz" if compress else "x-images")
    path.write_bytes(gz(data) if compress else data)
    with pytest.raises(DataError) as info:
        read_mnist_images(path)
    assert str(path) in str(info.value) and words in str(info.value)


@pytest.mark.parametrize("case", sorted(BAD_LABELS))
def test_bad_labels_files(tmp_path, case):
    data, words = BAD_LABELS[case]
    path = tmp_path / "x-labels.gz"
    path.write_bytes(gz(data))
    with pytest.raises(DataError) as info:
        read_mnist_labels(path)
    assert str(path) in str(info.value) and words in str(info.value)


def test_a_gz_name_holding_the_file_decompressed_is_read_as_it_is(tmp_path, contents):
    # Browsers sometimes save a .gz download already decompressed, under the same name.
    write_mnist_folder(tmp_path / "plain", contents, compress=False)
    for path in (tmp_path / "plain").iterdir():
        path.rename(path.with_name(path.name + ".gz"))
    packed = load_mnist(write_mnist_folder(tmp_path / "packed", contents))
    for a, b in zip(load_mnist(tmp_path / "plain"), packed, strict=True):
        assert np.array_equal(a, b)


def test_good_small_files_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(7, 784), dtype=np.uint8)
    labels = rng.integers(0, 10, size=7)
    (tmp_path / "i.gz").write_bytes(gz(idx_images(images)))
    (tmp_path / "l.gz").write_bytes(gz(idx_labels(labels)))
    assert np.array_equal(read_mnist_images(tmp_path / "i.gz"), images)
    assert np.array_equal(read_mnist_labels(tmp_path / "l.gz"), labels)
    assert read_mnist_labels(tmp_path / "l.gz").dtype == np.int64


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"plain bytes, not gzip", "not a valid gzip file"),
        (gz(idx_images(IMAGES))[:-12], "not a valid gzip file"),  # the stream ends before its end marker
        (gz(idx_images(IMAGES))[:-8] + b"\0" * 8, "not a valid gzip file"),  # a wrong CRC
    ],
    ids=["not gzip", "cut short", "bad crc"],
)
def test_broken_gzip(tmp_path, data, words):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(data)
    with pytest.raises(DataError, match=words) as info:
        read_mnist_images(path)
    assert str(path) in str(info.value)


def _bomb(header: bytes, zeros: int) -> bytes:
    """gzip of ``header`` then ``zeros`` zero bytes, made in chunks (never held uncompressed)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = [packer.compress(header)]
    chunk = bytes(1 << 20)
    for _ in range(zeros >> 20):
        out.append(packer.compress(chunk))
    out.append(packer.flush())
    return b"".join(out)


def test_a_gzip_bomb_is_refused_after_what_its_header_declares(tmp_path, monkeypatch):
    # A header for 3 images, then 256 MiB of zeros: refused, and never decompressed past 2,352 + 1 bytes.
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(_bomb(idx_images(IMAGES), 256 << 20))
    assert path.stat().st_size < 1 << 20
    asked = []
    original = gzip.GzipFile.read

    def recording(self, size=-1):
        asked.append(size)
        return original(self, size)

    monkeypatch.setattr(gzip.GzipFile, "read", recording)
    with pytest.raises(DataError, match="refused: it holds more than the 2352 bytes its header declares"):
        read_mnist_images(path)
    assert asked == [16, 2353]


def test_a_bomb_declaring_too_many_images_is_refused_at_its_header(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(_bomb(idx_images(IMAGES, count=10**9), 16 << 20))
    with pytest.raises(DataError, match="declares 1000000000 images"):
        read_mnist_images(path)


def test_a_compressed_file_bigger_than_any_mnist_file_is_not_read(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    with open(path, "wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)  # sparse: no disk used
    with pytest.raises(DataError, match="more than the"):
        read_mnist_images(path)


def test_a_fifo_where_a_file_should_be_is_refused_without_blocking(tmp_path, contents):
    write_mnist_folder(tmp_path, contents)
    (tmp_path / MNIST_FILES[0]).unlink()
    os.mkfifo(tmp_path / MNIST_FILES[0])
    with pytest.raises(DataError, match="FIFO") as info:
        load_mnist(tmp_path)
    assert MNIST_FILES[0] in str(info.value)


def test_a_symlink_to_a_device_is_refused(tmp_path, contents):
    write_mnist_folder(tmp_path, contents)
    (tmp_path / MNIST_FILES[1]).unlink()
    (tmp_path / MNIST_FILES[1]).symlink_to("/dev/zero")
    with pytest.raises(DataError, match="character device") as info:
        load_mnist(tmp_path)
    assert MNIST_FILES[1] in str(info.value)


def test_a_dangling_symlink_is_refused_not_called_missing(tmp_path, contents):
    write_mnist_folder(tmp_path, contents)
    (tmp_path / MNIST_FILES[2]).unlink()
    (tmp_path / MNIST_FILES[2]).symlink_to(tmp_path / "gone")
    with pytest.raises(DataError, match="cannot read the MNIST file .*t10k-images"):
        load_mnist(tmp_path)


def test_a_folder_where_a_file_should_be_is_refused(tmp_path, contents):
    write_mnist_folder(tmp_path, contents)
    (tmp_path / MNIST_FILES[3]).unlink()
    (tmp_path / MNIST_FILES[3]).mkdir()
    with pytest.raises(DataError, match="a folder"):
        load_mnist(tmp_path)
