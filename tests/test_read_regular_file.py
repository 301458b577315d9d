"""``read_regular_file``: files a user hands back are read only if they are regular files of a sane
size; a FIFO, a device behind a symlink or a file too big is refused before it is read."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from dropout_lab._io import read_regular_file
from dropout_lab.errors import CheckpointError, DataError


def _read(path: Path | str, max_bytes: int = 100, error: type[Exception] = DataError) -> bytes:
    return read_regular_file(path, max_bytes=max_bytes, what="the test file", error=error)


@pytest.mark.parametrize("size", [0, 1, 99, 100])
def test_a_regular_file_up_to_the_limit_reads_whole(tmp_path, size):
    path = tmp_path / "file.bin"
    path.write_bytes(bytes(range(size)))
    assert _read(path) == bytes(range(size))
    assert _read(str(path)) == bytes(range(size))


def test_a_symlink_to_a_regular_file_is_followed(tmp_path):
    (tmp_path / "target").write_bytes(b"data")
    (tmp_path / "link").symlink_to(tmp_path / "target")
    assert _read(tmp_path / "link") == b"data"


def test_a_file_over_the_limit_is_refused_naming_it_and_the_limit(tmp_path):
    path = tmp_path / "big.json"
    path.write_bytes(b"x" * 101)
    with pytest.raises(DataError) as info:
        _read(path)
    assert str(path) in str(info.value) and "the test file" in str(info.value)
    assert "101 bytes, more than the 100" in str(info.value)


def test_a_sparse_file_far_over_the_limit_is_refused_without_reading_it(tmp_path):
    path = tmp_path / "sparse"
    with open(path, "wb") as handle:
        handle.truncate(1 << 40)  # 1 TiB of holes: reading it would take the machine's memory
    with pytest.raises(DataError, match=r"1,099,511,627,776 bytes, more than the 1,048,576"):
        read_regular_file(path, max_bytes=1 << 20, what="the test file", error=DataError)


def test_a_symlink_to_dev_zero_is_refused(tmp_path):
    link = tmp_path / "results.json"
    link.symlink_to("/dev/zero")
    with pytest.raises(DataError, match=r"results\.json: it is a character device, not a regular file"):
        _read(link)


def test_a_fifo_is_refused_at_once_instead_of_blocking(tmp_path):
    fifo = tmp_path / "results.json"
    os.mkfifo(fifo)
    outcome: list[BaseException | bytes] = []

    def read() -> None:
        try:
            outcome.append(_read(fifo))
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread to check
            outcome.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=20)
    if reader.is_alive():  # blocked in open(): a writer releases it before the test fails
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(timeout=20)
        pytest.fail("reading a FIFO blocked")
    (error,) = outcome
    assert isinstance(error, DataError) and "it is a FIFO (named pipe), not a regular file" in str(error)
    assert str(fifo) in str(error)


def test_folders_and_missing_files_are_refused_naming_them(tmp_path):
    with pytest.raises(DataError, match=f"{tmp_path}: it is a folder, not a regular file"):
        _read(tmp_path)
    with pytest.raises(DataError, match=f"{tmp_path / 'missing'}: No such file or directory"):
        _read(tmp_path / "missing")


def test_the_error_is_the_callers(tmp_path):
    path = tmp_path / "_latest.npz"
    path.write_bytes(b"x" * 200)
    with pytest.raises(CheckpointError, match="_latest.npz: it holds 200 bytes, more than the 100"):
        _read(path, error=CheckpointError)


def test_a_file_that_reports_no_size_is_still_bounded():
    # /proc files are regular but report size 0: what they hold is read, up to the limit only.
    assert os.stat("/proc/self/status").st_size == 0
    assert b"Name:" in _read("/proc/self/status", max_bytes=1 << 20)
    with pytest.raises(DataError, match="more than the 10 bytes it may have"):
        _read("/proc/self/status", max_bytes=10)
