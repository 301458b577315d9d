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

#: The most runs (keep probabilities x seeds) an experiment may hold: every run's record stays in
#: memory and in results.json, and a count beyond this is a typing slip, not a plan.
MAX_RUNS = 100_000
#: The most BLAS and elementwise threads a run may ask for.
MAX_THREADS_PER_RUN = 1024
# Per data set: inputs per example, classes, validation examples (the whole split), for the memory
# estimate made before anything is loaded.
_DATA_SHAPES = {"digits": (64, 10, 397), "cifar10": (3072, 10, 1000)}
# Arrays of the parameters' size a run holds per state array of its update rule, beside the parameters,
# their gradients, the best parameters so far and the step's output (next_w).
_STATE_ARRAYS = {"sgd": 0, "sgd_momentum": 1, "rmsprop": 1, "adam": 2}
# Arrays of a layer's width a step holds per example: the affine output, the ReLU output, the dropout
# output and the gradients flowing back (the masks and caches are smaller or shared with these).
_ACTIVATIONS_PER_UNIT = 4
_SCORING_BATCH = 1000  # the Solver's accuracy_batch_size: scoring runs the net on this many at once


def _tuple_of(name: str, values: Any) -> tuple[Any, ...]:
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise InvalidTypeError(f"{name} must be a sequence, got {type(values).__name__}")
    items = tuple(values)
    if not items:
        raise InvalidArgumentError(f"{name} must not be empty")
    return items


# The settings a run's numbers do not depend on: which other runs there are, where the data lies, how
# often checkpoints are written. Two runs whose other settings (and keep probability and seed) agree
# compute the same numbers; checkpoints are compared on those other settings only.
NOT_IN_A_RUNS_NUMBERS = ("keep_probs", "seeds", "data_dir", "checkpoint_every")

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
        threads_per_run: the BLAS and elementwise threads each run trains with, whatever the number of
            runs training at once (``jobs``): a run's numbers depend on it (the BLAS splits its sums
            among its threads), never on ``jobs``. ``jobs`` runs use ``jobs * threads_per_run`` cores.
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
    threads_per_run: int = 1

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
        if len(keep) * len(seeds) > MAX_RUNS:
            raise InvalidArgumentError(
                f"an experiment holds at most {MAX_RUNS} runs (keep_probs x seeds; each run's record stays in "
                f"memory and in results.json), got {len(keep)} x {len(seeds)} = {len(keep) * len(seeds)}"
            )
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
        if check_positive_int("threads_per_run", self.threads_per_run) > MAX_THREADS_PER_RUN:
            raise InvalidArgumentError(
                f"threads_per_run must be at most {MAX_THREADS_PER_RUN}, got {self.threads_per_run}"
            )

    def memory_estimate(self, input_dim: int | None = None, num_classes: int = 10) -> dict[str, int]:
        """Bytes one run needs, by part: ``parameters`` (weights, biases, gradients, the best so far,
        the update rule's state and output), ``activations`` (a step's, for ``batch_size`` examples, or
        a scoring batch's if larger) and ``data`` (the training and validation examples).

        ``input_dim``: inputs per example (default: the data set's). Exact integers, however large the
        settings (no array is made).
        """
        default_inputs, _, val_rows = _DATA_SHAPES[self.dataset]
        dims = [default_inputs if input_dim is None else input_dim, *self.hidden_dims, num_classes]
        itemsize = 8 if self.dtype == "float64" else 4
        params = sum(d_in * d_out + d_out for d_in, d_out in zip(dims[:-1], dims[1:], strict=True))
        copies = 4 + 2 * _STATE_ARRAYS.get(self.update_rule, 2)
        rows = max(self.batch_size, _SCORING_BATCH)
        activations = rows * (dims[0] + _ACTIVATIONS_PER_UNIT * sum(dims[1:])) * itemsize + rows * 8  # + indices
        examples = self.num_train + (val_rows if self.num_val is None else self.num_val)
        data = examples * dims[0] * itemsize
        return {"parameters": params * copies * itemsize, "activations": activations, "data": data}

    def check_fits_memory(self, input_dim: int | None = None, num_classes: int = 10) -> None:
        """Refuse (InvalidArgumentError naming the settings and the estimate) a run that cannot fit in
        this machine's memory (:meth:`memory_estimate` against the physical memory, or the container's
        limit if lower), before anything is allocated. Nothing is refused where the memory is unknown."""
        parts = self.memory_estimate(input_dim, num_classes)
        need, have = sum(parts.values()), machine_memory()
        if have is None or need <= have:
            return
        raise InvalidArgumentError(
            f"one run needs about {format_bytes(need)}, more than this machine's {format_bytes(have)} of memory: "
            f"{format_bytes(parts['activations'])} for a step's activations (batch_size {self.batch_size}), "
            f"{format_bytes(parts['parameters'])} for the parameters and optimizer state (hidden_dims "
            f"{list(self.hidden_dims)}), {format_bytes(parts['data'])} for the data (num_train {self.num_train})"
        )

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


def machine_memory() -> int | None:
    """Bytes of memory this process can have: the physical memory, or the cgroup's limit (a container's)
    if lower; None where neither can be read."""
    try:
        total: int | None = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # not a POSIX system
        total = None
    try:
        with open("/sys/fs/cgroup/memory.max", encoding="ascii") as file:  # cgroup v2; 'max': no limit
            text = file.read(64).strip()
    except OSError:
        text = ""
    if text.isdigit():
        total = int(text) if total is None else min(total, int(text))
    return total if total is None or total > 0 else None


def format_bytes(n: int) -> str:
    """``n`` bytes in binary units (``12.3 GiB``); beyond the exbibytes, the power of ten below it (a count too
    large for a float is still shown)."""
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
    if n >= 1024 ** len(units):
        return f"10**{len(str(n)) - 1} bytes"
    power = 0
    while power + 1 < len(units) and n >= 1024 ** (power + 1):
        power += 1
    return f"{n} B" if power == 0 else f"{n / 1024**power:.1f} {units[power]}"
