"""The data of an experiment's cells: each data set's splits loaded once, each cell's slice of them.

A cell (one point of a sweep) trains on the first ``num_train`` training examples of its data set and
validates on the first ``num_val`` validation examples (all by default). Here in the process that runs
the experiment (:class:`DataSource`), and in a Dask worker (:func:`worker_data`, a small per-process
cache, so that the runs a worker trains load each data set once).
"""

from __future__ import annotations

import functools

import numpy as np

from ..errors import InvalidArgumentError, InvalidTypeError
from .config import ExperimentConfig
from .grid import RunSpec, cell_key

__all__ = ["DataSource", "load_experiment_data", "worker_data"]


def _full_data(dataset: str, dtype: str, data_dir: str | None, with_test: bool = False) -> dict[str, np.ndarray]:
    """The data set's training and validation splits, in ``dtype`` (and its test split, ``with_test``)."""
    if dataset == "cifar10":
        from ..data import get_cifar10_data

        # The course's split: the rows the folder holds (at most 49,000) then 1,000 for validation, each
        # batch read once; the test batch is checked, and used only for a test evaluation.
        return get_cifar10_data(None, 1000, 1000 if with_test else 0, root=data_dir, dtype=dtype)
    if dataset == "mnist":
        from ..data import get_mnist_data

        # The last 10,000 training images validate (50,000 of the release's 60,000 train); the test
        # file (all of it: the release's 10,000) is read only for a test evaluation.
        return get_mnist_data(None, 10_000, None if with_test else 0, root=data_dir, dtype=dtype)
    from ..data import get_digits_data

    return get_digits_data(dtype=dtype)


def _cell_data(config: ExperimentConfig, full: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A cell's arrays from its data set's splits: the first ``num_train`` training examples (as the
    exercise takes ``X_train[:500]``) and the first ``num_val`` validation examples (None: all)."""
    n_train, n_val = len(full["y_train"]), len(full["y_val"])
    if config.num_train > n_train:
        raise InvalidArgumentError(
            f"num_train must be at most {n_train}, the size of the {config.dataset} training split, "
            f"got {config.num_train}"
        )
    num_val = n_val if config.num_val is None else config.num_val
    if num_val > n_val:
        raise InvalidArgumentError(
            f"num_val must be at most {n_val}, the size of the {config.dataset} validation split, got {num_val}"
        )
    dtype = np.dtype(config.dtype)
    cell = {
        "X_train": np.ascontiguousarray(full["X_train"][: config.num_train], dtype=dtype),
        "y_train": np.asarray(full["y_train"][: config.num_train], dtype=np.int64),
        "X_val": np.ascontiguousarray(full["X_val"][:num_val], dtype=dtype),
        "y_val": np.asarray(full["y_val"][:num_val], dtype=np.int64),
    }
    if config.mc_samples > 0:  # a test evaluation: the whole test split
        if "X_test" not in full or not len(full["y_test"]):
            raise InvalidArgumentError(f"mc_samples {config.mc_samples} needs a test split, which the data given lack")
        cell["X_test"] = np.ascontiguousarray(full["X_test"], dtype=dtype)
        cell["y_test"] = np.asarray(full["y_test"], dtype=np.int64)
    return cell


def load_experiment_data(config: ExperimentConfig) -> dict[str, np.ndarray]:
    """The training and validation arrays a run of ``config`` uses, cast to the config's dtype (for a
    sweep, one cell's: pass one of ``config.cells()``).

    Training: the first ``num_train`` examples of the data set's training split (as the exercise takes
    ``X_train[:500]``); validation: the whole validation split, or its first ``num_val``.
    """
    if not isinstance(config, ExperimentConfig):
        raise InvalidTypeError(f"config must be an ExperimentConfig, got {type(config).__name__}")
    if config.sweep:
        raise InvalidArgumentError("load_experiment_data takes one cell's config, without a sweep (see config.cells())")
    return _cell_data(config, _full_data(config.dataset, config.dtype, config.data_dir, config.mc_samples > 0))


class DataSource:
    """Each cell's arrays, each data set loaded once: from ``data`` if the caller gave arrays (sliced to
    a cell's ``num_train`` when that is swept), else from the cell's data set."""

    def __init__(self, config: ExperimentConfig, data: dict[str, np.ndarray] | None) -> None:
        if data is not None and "dataset" in config.sweep:
            raise InvalidArgumentError("data (the arrays to train on) cannot go with a sweep over dataset")
        if data is not None and config.mc_samples > 0 and not {"X_test", "y_test"} <= set(data):
            raise InvalidArgumentError(
                f"mc_samples {config.mc_samples} needs a test split: data must also hold X_test and y_test"
            )
        self.given, self.slice_given = data, "num_train" in config.sweep
        self.full: dict[tuple[str, str, bool], dict[str, np.ndarray]] = {}
        self.cells: dict[str, dict[str, np.ndarray]] = {}

    def __call__(self, spec: RunSpec) -> dict[str, np.ndarray]:
        cell = cell_key(spec.settings)
        if cell not in self.cells:
            config = spec.config
            if self.given is not None:
                self.cells[cell] = self.given if not self.slice_given else _cell_data(config, self.given)
            else:
                source = (config.dataset, config.dtype, config.mc_samples > 0)
                if source not in self.full:
                    self.full[source] = _full_data(config.dataset, config.dtype, config.data_dir, config.mc_samples > 0)
                self.cells[cell] = _cell_data(config, self.full[source])
        return self.cells[cell]

    def check_all(self, specs: list[RunSpec]) -> None:
        """Load every cell's data now, so that a missing data set or a num_train too large for it
        fails before any training."""
        for spec in specs:
            self(spec)




@functools.lru_cache(maxsize=2)
def _worker_full_data(dataset: str, dtype: str, data_dir: str | None, with_test: bool) -> dict[str, np.ndarray]:
    return _full_data(dataset, dtype, data_dir, with_test)


def worker_data(spec: RunSpec) -> dict[str, np.ndarray]:
    """The arrays of ``spec``'s cell, in a Dask worker: its data set read from the worker's own data
    folder (the config's ``data_dir``, else $DROPOUT_LAB_DATA or the cache there), kept for the next
    runs (the last two data sets)."""
    config = spec.config
    return _cell_data(config, _worker_full_data(config.dataset, config.dtype, config.data_dir, config.mc_samples > 0))
