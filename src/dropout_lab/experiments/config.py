"""The configuration of a dropout regularization experiment: one frozen, self-validating dataclass."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

from .._validation import (
    check_float_dtype,
    check_keep_prob,
    check_path,
    check_positive_int,
    check_positive_real,
    check_seed,
)
from ..data import DATASETS
from ..errors import InvalidArgumentError, InvalidTypeError
from ..optim import UPDATE_RULES


def _tuple_of(name: str, values: Any) -> tuple[Any, ...]:
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise InvalidTypeError(f"{name} must be a sequence, got {type(values).__name__}")
    items = tuple(values)
    if not items:
        raise InvalidArgumentError(f"{name} must not be empty")
    return items


@dataclass(frozen=True)
class ExperimentConfig:
    """Train the same net at several dropout keep probabilities and seeds.

    The defaults mirror the cs231n Dropout exercise: keep probabilities 1, 0.9, 0.75, 0.5, 0.25, one
    hidden layer of 500, 500 training examples, the full validation split, 25 epochs, batches of 100,
    Adam at 5e-4, weight scale 1e-2, float32.

    Attributes:
        keep_probs: probabilities of KEEPING a hidden unit (1 = no dropout; the baseline for the
            paired comparisons).
        hidden_dims: hidden layer sizes.
        num_train: training examples used (the first ``num_train`` of the training split).
        num_val: validation examples used (None: the whole validation split).
        epochs, batch_size, update_rule, learning_rate, weight_scale, reg, dtype: as for the Solver and
            FullyConnectedNet.
        dataset: 'digits' (embedded, no download) or 'cifar10'.
        data_dir: where CIFAR-10 lies (None: $DROPOUT_LAB_DATA, then the per-user cache folder).
        seeds: one run per (keep probability, seed); runs with the same seed share initial weights and
            minibatch order, so their differences are paired.
        num_train_samples: training examples drawn to measure training accuracy after each epoch
            (None: all of them).
        checkpoint_every: epochs between checkpoints (used by resume; 0 turns checkpoints off).
    """

    keep_probs: tuple[float, ...] = (1.0, 0.9, 0.75, 0.5, 0.25)
    hidden_dims: tuple[int, ...] = (500,)
    num_train: int = 500
    num_val: int | None = None
    epochs: int = 25
    batch_size: int = 100
    update_rule: str = "adam"
    learning_rate: float = 5e-4
    weight_scale: float = 1e-2
    reg: float = 0.0
    dtype: str = "float32"
    dataset: str = "digits"
    data_dir: str | None = None
    seeds: tuple[int, ...] = (0,)
    num_train_samples: int | None = None
    checkpoint_every: int = 1

    def __post_init__(self) -> None:
        keep = tuple(
            check_keep_prob(f"keep_probs[{i}]", k) for i, k in enumerate(_tuple_of("keep_probs", self.keep_probs))
        )
        if len(set(keep)) != len(keep):
            raise InvalidArgumentError(f"keep_probs must not repeat a value, got {list(keep)}")
        hidden = tuple(
            check_positive_int(f"hidden_dims[{i}]", h) for i, h in enumerate(_tuple_of("hidden_dims", self.hidden_dims))
        )
        seeds = tuple(check_seed(f"seeds[{i}]", s) for i, s in enumerate(_tuple_of("seeds", self.seeds)))
        if len(set(seeds)) != len(seeds):
            raise InvalidArgumentError(f"seeds must not repeat a value, got {list(seeds)}")
        object.__setattr__(self, "keep_probs", keep)
        object.__setattr__(self, "hidden_dims", hidden)
        object.__setattr__(self, "seeds", seeds)
        check_positive_int("num_train", self.num_train)
        if self.num_val is not None:
            check_positive_int("num_val", self.num_val)
        check_positive_int("epochs", self.epochs)
        check_positive_int("batch_size", self.batch_size)
        # isinstance first: an unhashable value (a list) cannot even be looked up.
        if not isinstance(self.update_rule, str) or self.update_rule not in UPDATE_RULES:
            raise InvalidArgumentError(
                f"update_rule must be one of {', '.join(sorted(UPDATE_RULES))}, got {self.update_rule!r}"
            )
        check_positive_real("learning_rate", self.learning_rate)
        check_positive_real("weight_scale", self.weight_scale)
        check_positive_real("reg", self.reg, allow_zero=True)
        object.__setattr__(self, "dtype", check_float_dtype("dtype", self.dtype).name)
        if not isinstance(self.dataset, str) or self.dataset not in DATASETS:
            raise InvalidArgumentError(f"dataset must be one of {', '.join(DATASETS)}, got {self.dataset!r}")
        if self.data_dir is not None:
            # Kept as given (a str, so that the config stays JSON); checked to be a path now.
            check_path("data_dir", self.data_dir)
            object.__setattr__(self, "data_dir", os.fspath(self.data_dir))
        if self.num_train_samples is not None:
            check_positive_int("num_train_samples", self.num_train_samples)
        check_positive_int("checkpoint_every", self.checkpoint_every, allow_zero=True)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: tuples become lists."""
        out = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ExperimentConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error naming them."""
        if not isinstance(values, dict):
            raise InvalidTypeError(f"an experiment config must be a JSON object, got {type(values).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InvalidArgumentError(f"unknown experiment settings: {', '.join(unknown)}")
        return cls(**values)
