"""Test helpers: MNIST idx files written by hand (header, then the values as bytes), small or broken."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

IMAGES_MAGIC, LABELS_MAGIC = 0x00000803, 0x00000801
FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
         "t10k-labels-idx1-ubyte.gz")


def idx_images(images: np.ndarray, *, magic: int = IMAGES_MAGIC, count: int | None = None,
               rows: int = 28, cols: int = 28) -> bytes:
    """An idx3 file of uint8 ``images`` (N, 784); the header's fields can be set to lie."""
    n = len(images) if count is None else count
    return struct.pack(">4I", magic, n, rows, cols) + np.asarray(images, dtype=np.uint8).tobytes()


def idx_labels(labels: np.ndarray, *, magic: int = LABELS_MAGIC, count: int | None = None) -> bytes:
    """An idx1 file of ``labels`` (N,) as unsigned bytes."""
    n = len(labels) if count is None else count
    return struct.pack(">2I", magic, n) + np.asarray(labels, dtype=np.uint8).tobytes()


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def random_split(rng: np.random.Generator, n: int, *, first: tuple[int, ...] = ()) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images and labels: the ten classes in turn (shuffled) after ``first``; the pixels are noise
    plus a per-class brightness, so a net can learn the classes."""
    labels = np.arange(n) % 10
    rng.shuffle(labels)
    labels[: len(first)] = first
    noise = rng.integers(0, 156, size=(n, 784))
    return (noise + 10 * labels[:, None]).astype(np.uint8), labels.astype(np.int64)


def mnist_contents(rng: np.random.Generator, train: int = 1200, test: int = 200) -> dict[str, bytes]:
    """The four files' uncompressed contents, by .gz name (the training labels start 5, 0, 4, 1, 9 as
    the real ones do)."""
    Xtr, ytr = random_split(rng, train, first=(5, 0, 4, 1, 9))
    Xte, yte = random_split(rng, test, first=(7, 2, 1, 0, 4))
    return dict(zip(FILES, (idx_images(Xtr), idx_labels(ytr), idx_images(Xte), idx_labels(yte)), strict=True))


def write_mnist_folder(folder: Path, contents: dict[str, bytes], *, compress: bool = True) -> Path:
    """Write ``contents`` into ``folder`` as the .gz files (or uncompressed, under the names without .gz)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in contents.items():
        if compress:
            (folder / name).write_bytes(gz(data))
        else:
            (folder / name.removesuffix(".gz")).write_bytes(data)
    return folder
