"""Data sets: the embedded 8x8 digits (the default), CIFAR-10 and MNIST (downloaded on request).

Each comes as the course's dict ``X_train, y_train, X_val, y_val, X_test, y_test`` (CIFAR-10's images
channels first, MNIST's as rows of 784 pixels); :func:`load_dataset` picks one by name, as the experiment does.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError, InvalidTypeError
from .cifar10 import (
    CIFAR10_CLASSES,
    CIFAR10_FOLDER,
    DATA_ENV_VAR,
    get_cifar10_data,
    load_cifar10,
    load_cifar10_batch,
    read_cifar10_batch,
    resolve_cifar10_dir,
    resolve_data_root,
)
from .digits import get_digits_data, load_digits
from .download import download_cifar10
from .mnist import (
    MNIST_FILES,
    MNIST_FOLDER,
    get_mnist_data,
    load_mnist,
    read_mnist_images,
    read_mnist_labels,
    resolve_mnist_dir,
)
from .mnist_download import MNIST_MIRRORS, download_mnist
from .split import stratified_split

__all__ = [
    "CIFAR10_CLASSES",
    "CIFAR10_FOLDER",
    "DATASETS",
    "DATA_ENV_VAR",
    "MNIST_FILES",
    "MNIST_FOLDER",
    "MNIST_MIRRORS",
    "download_cifar10",
    "download_mnist",
    "get_cifar10_data",
    "get_digits_data",
    "get_mnist_data",
    "load_cifar10",
    "load_cifar10_batch",
    "load_dataset",
    "load_digits",
    "load_mnist",
    "read_cifar10_batch",
    "read_mnist_images",
    "read_mnist_labels",
    "resolve_cifar10_dir",
    "resolve_mnist_dir",
    "resolve_data_root",
    "stratified_split",
]


_LOADERS: dict[str, Callable[..., dict[str, np.ndarray]]] = {
    "digits": get_digits_data,
    "cifar10": get_cifar10_data,
    "mnist": get_mnist_data,
}
#: The names :func:`load_dataset` accepts.
DATASETS = tuple(_LOADERS)


def load_dataset(name: str, **kwargs: Any) -> dict[str, np.ndarray]:
    """A data set by name, split for a classifier.

    Args:
        name: ``'digits'`` (:func:`get_digits_data`, embedded), ``'cifar10'`` (:func:`get_cifar10_data`,
            downloaded with ``dropout-lab data download cifar10``) or ``'mnist'`` (:func:`get_mnist_data`,
            downloaded with ``dropout-lab data download mnist``).
        **kwargs: passed on to that function (sizes, ``subtract_mean``, ``dtype``, ``seed`` or ``root``).

    Returns:
        dict with ``X_train, y_train, X_val, y_val, X_test, y_test``.

    Raises:
        InvalidArgumentError: an unknown name (the message lists the choices).
    """
    if not isinstance(name, str):
        raise InvalidTypeError(f"name must be a str, one of {', '.join(DATASETS)}; got {type(name).__name__}")
    loader = _LOADERS.get(name)
    if loader is None:
        raise InvalidArgumentError(f"unknown data set {name!r}: choose one of {', '.join(map(repr, DATASETS))}")
    accepted = list(inspect.signature(loader).parameters)
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        # A TypeError, as Python raises for any call with an unexpected keyword argument.
        raise InvalidTypeError(
            f"load_dataset({name!r}) got unknown keyword arguments {unknown}; {name} accepts {accepted}"
        )
    return loader(**kwargs)
