"""Test helpers: CIFAR-10 batch files written byte for byte the way the original Python 2 cPickle did.

``py2_batch`` emits the opcodes of the official files by hand (a test checks that it reproduces a
sample file exactly), so small, crafted and broken batches can be made without Python 2.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

PROTO2 = b"\x80\x02"
STOP = b"."
MARK = b"("
TUPLE = b"t"
REDUCE = b"R"
BUILD = b"b"


def binstring(value: bytes) -> bytes:
    """SHORT_BINSTRING or BINSTRING, as Python 2 wrote a str."""
    if len(value) < 256:
        return b"U" + bytes([len(value)]) + value
    return b"T" + struct.pack("<i", len(value)) + value


def binint(value: int) -> bytes:
    if 0 <= value < 256:
        return b"K" + bytes([value])
    if 0 <= value < 65536:
        return b"M" + struct.pack("<H", value)
    return b"J" + struct.pack("<i", value)


def py2_array(array: np.ndarray, *, module: bytes = b"numpy.core.multiarray", dtype_flags: int = 0) -> bytes:
    """An ndarray as NumPy 1 under Python 2 pickled it (``_reconstruct`` + ``BUILD``); ``dtype_flags``:
    the flags field of the dtype's state (0 in every genuine file)."""
    shape = MARK + b"".join(binint(n) for n in array.shape) + TUPLE
    dtype = (
        b"cnumpy\ndtype\n" + MARK + binstring(array.dtype.str[1:].encode()) + binint(0) + binint(1) + TUPLE + REDUCE
        + MARK + binint(3) + binstring(b"|" if array.dtype.itemsize == 1 else b"<")
        + b"NNN" + binint(-1) + binint(-1) + binint(dtype_flags) + TUPLE + BUILD
    )  # fmt: skip
    return (
        b"c" + module + b"\n_reconstruct\n"
        + MARK + b"cnumpy\nndarray\n" + MARK + binint(0) + TUPLE + binstring(b"b") + TUPLE + REDUCE
        + MARK + binint(1) + shape + dtype + b"\x89" + binstring(array.tobytes()) + TUPLE + BUILD
    )  # fmt: skip


def py2_list(items: list[bytes]) -> bytes:
    return b"]" + MARK + b"".join(items) + b"e"


def py2_dict(entries: list[tuple[bytes, bytes]]) -> bytes:
    """A protocol-2 pickle of a dict whose keys are Python 2 str and whose values are pickled parts."""
    body = b"".join(binstring(key) + value for key, value in entries)
    return PROTO2 + b"}" + MARK + body + b"u" + STOP


def py2_batch(
    data: np.ndarray,
    labels: list[int] | np.ndarray,
    *,
    batch_label: bytes = b"training batch 1 of 5",
    filenames: list[bytes] | None = None,
    module: bytes = b"numpy.core.multiarray",
) -> bytes:
    """A whole batch file: ``{'batch_label', 'labels', 'data', 'filenames'}`` in the official order."""
    if filenames is None:
        filenames = [f"img_{i:04d}.png".encode() for i in range(len(labels))]
    return py2_dict(
        [
            (b"batch_label", binstring(batch_label)),
            (b"labels", py2_list([binint(int(v)) for v in labels])),
            (b"data", py2_array(data, module=module)),
            (b"filenames", py2_list([binstring(name) for name in filenames])),
        ]
    )


def random_batch(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (n, 3072) pixels and int64 (n,) labels cycling through all ten classes."""
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = (np.arange(n) + int(rng.integers(10))) % 10
    return data, labels.astype(np.int64)


def write_cifar_folder(
    folder: Path, rng: np.random.Generator, *, rows: int = 10, train_batches: int = 5
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """A small cifar-10-batches-py folder of py2 batches; returns ``{file name: (data, labels)}``."""
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    names = [f"data_batch_{i}" for i in range(1, train_batches + 1)] + ["test_batch"]
    for name in names:
        data, labels = random_batch(rng, rows)
        (folder / name).write_bytes(py2_batch(data, labels, batch_label=name.encode()))
        written[name] = (data, labels)
    return written
