"""Studies: an experiment written as a TOML file, so that a sweep is a document to review and re-run.

The keys are :class:`~dropout_lab.experiments.ExperimentConfig`'s settings, with the command line's
shorthand (:meth:`~dropout_lab.experiments.ExperimentConfig.from_settings`): a list of values sweeps a
setting, ``seeds`` may be a count. For example, training set size against keep probability on MNIST::

    # mnist-size.toml: dropout-lab experiment --config mnist-size.toml --out results/mnist-size
    dataset = "mnist"
    hidden_dims = [1024, 1024]      # one architecture; [[256, 256], [1024, 1024]] sweeps two
    num_train = [500, 5000]         # swept
    keep_probs = [1, 0.5]
    input_keep_prob = [1, 0.8]      # swept
    seeds = 3                       # seeds 0, 1, 2
    update_rule = "sgd_momentum"
    learning_rate = 0.05
    steps = 4000                    # a budget in updates, the same for every training set size
    eval_every = 10

Command-line flags given beside ``--config`` replace the file's values of those settings.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

from .._io import read_regular_file
from .._validation import check_path
from ..errors import DataError, DropoutLabError
from .config import ExperimentConfig

__all__ = ["MAX_STUDY_BYTES", "load_study", "read_study"]

#: A study is a page of settings; a larger file is not one (or is a link to something endless).
MAX_STUDY_BYTES = 1 << 20


def read_study(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The settings a study file holds, as a dict (checked to be TOML, not yet as settings)."""
    file = check_path("path", path)
    data = read_regular_file(file, max_bytes=MAX_STUDY_BYTES, what="the study file", error=DataError)
    # Python 3.10 reads TOML with tomli, the package that became 3.11's tomllib (the same API).
    tomllib = importlib.import_module("tomllib" if sys.version_info >= (3, 11) else "tomli")
    try:
        values: dict[str, Any] = tomllib.loads(data.decode("utf-8"))
        return values
    except UnicodeDecodeError as exc:
        raise DataError(f"{file} is not UTF-8 text: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise DataError(f"{file} is not valid TOML: {exc}") from exc
    except RecursionError as exc:  # arrays nested thousands deep: no study is, and the parser recurses
        raise DataError(f"{file} nests its values too deeply to be a study file") from exc


def load_study(path: str | os.PathLike[str], **overrides: Any) -> ExperimentConfig:
    """The experiment a study file describes, with ``overrides`` (settings, in the same shorthand)
    replacing the file's; errors name the file."""
    values = {**read_study(path), **overrides}
    try:
        return ExperimentConfig.from_settings(values)
    except DropoutLabError as exc:
        raise type(exc)(f"{os.fspath(path)}: {exc}") from None
