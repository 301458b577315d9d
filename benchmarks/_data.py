"""Inputs for the benchmarks: CIFAR-shaped synthetic data, or real CIFAR-10 from a folder."""

from __future__ import annotations

import numpy as np

CIFAR_SHAPE = (3, 32, 32)
NUM_CLASSES = 10


def synthetic_cifar(
    num_train: int, num_val: int, seed: int = 0, dtype: str = "float32"
) -> dict[str, np.ndarray]:
    """CIFAR-shaped data as the course prepares it: uint8 pixels as floats, the training mean image
    subtracted, labels in [0, 10).

    Returns:
        X_train: (num_train, 3, 32, 32), y_train: (num_train,) int64, X_val: (num_val, 3, 32, 32),
        y_val: (num_val,) int64.
    """
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(num_train + num_val, *CIFAR_SHAPE), dtype=np.uint8)
    X = pixels.astype(dtype)
    del pixels
    X_train, X_val = X[:num_train], X[num_train:]
    mean = X_train.mean(axis=0, dtype=np.float64).astype(dtype)
    X_train -= mean
    X_val -= mean
    y = rng.integers(0, NUM_CLASSES, size=num_train + num_val).astype(np.int64)
    return {"X_train": X_train, "y_train": y[:num_train], "X_val": X_val, "y_val": y[num_train:]}


def experiment_data(
    data_dir: str | None, num_train: int, num_val: int, dtype: str = "float32"
) -> dict[str, np.ndarray]:
    """The experiment's arrays: synthetic when ``data_dir`` is None, else the course's CIFAR-10 split
    read from ``data_dir`` through dropout-lab's loader (first ``num_train`` training and ``num_val``
    validation images)."""
    if data_dir is None:
        return synthetic_cifar(num_train, num_val, dtype=dtype)
    from dropout_lab.experiments import ExperimentConfig, load_experiment_data

    config = ExperimentConfig(
        dataset="cifar10", data_dir=data_dir, num_train=num_train, num_val=num_val, dtype=dtype
    )
    return load_experiment_data(config)


def describe(data_dir: str | None) -> str:
    if data_dir is None:
        return "synthetic CIFAR-shaped (uint8 pixels, mean subtracted, random labels)"
    return f"CIFAR-10 from {data_dir}"
