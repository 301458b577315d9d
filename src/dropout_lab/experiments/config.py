"""The configuration of a dropout regularization experiment: one frozen, self-validating dataclass.

An experiment is a grid: keep probabilities x seeds x the values of every swept setting (``sweep``).
Each point of the swept settings is a *cell*; its runs are compared with the cell's own baseline (keep
probability 1, the same other settings, paired by seed). :meth:`ExperimentConfig.cells` expands them.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
from dataclasses import dataclass, field
from typing import Any

from .._validation import (
    check_float_dtype,
    check_keep_prob,
    check_path,
    check_positive_int,
    check_positive_real,
    check_seed,
    check_unit_interval,
)
from ..data import DATASETS
from ..errors import DropoutLabError, InvalidArgumentError, InvalidTypeError
from ..optim import UPDATE_RULES

# The parsers live in .schedules; imported here too, where parse_keep_schedule was first.
from .schedules import MOMENTUM_SETTINGS, check_momentum_rule, parse_keep_schedule, parse_momentum_schedule

#: The most runs (keep probabilities x seeds) an experiment may hold: every run's record stays in
#: memory and in results.json, and a count beyond this is a typing slip, not a plan.
MAX_RUNS = 100_000
#: The most Monte Carlo passes a run's test evaluation may make (Srivastava et al. 2014's Figure 11
#: goes to 120; each pass costs a forward pass over the test split).
MAX_MC_SAMPLES = 10_000
#: The most BLAS and elementwise threads a run may ask for.
MAX_THREADS_PER_RUN = 1024
# Per data set: inputs per example, classes, validation examples (the whole split), for the memory
# estimate made before anything is loaded.
_DATA_SHAPES = {"digits": (64, 10, 397), "cifar10": (3072, 10, 1000), "mnist": (784, 10, 10000)}
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
NOT_IN_A_RUNS_NUMBERS = ("keep_probs", "seeds", "data_dir", "checkpoint_every", "sweep")

#: The settings an experiment can sweep (besides keep_probs and seeds): each takes a list of values in
#: ``sweep``, and the experiment is the cross product. In this order the cells are enumerated.
SWEEPABLE = (
    "dataset", "num_train", "hidden_dims", "input_keep_prob", "learning_rate", "reg", "weight_scale",
    "update_rule", "batch_size", "epochs", "steps", "max_norm", "keep_schedule", "patience", "dropout_kind",
    "activation", "momentum", "lr_decay", "momentum_schedule", "init",
)  # fmt: skip

# Settings added after results format 1, left out of a run's identity at their defaults so that the
# checkpoints written before they existed still resume (their runs had exactly these values).
_ADDED_LATER = {
    "input_keep_prob": 1.0, "steps": None, "eval_every": 1, "num_val_samples": None, "max_norm": None,
    "keep_schedule": "constant", "patience": None, "mc_samples": 0, "dropout_kind": "bernoulli", "activation": "relu",
    "momentum": None, "lr_decay": 1.0, "momentum_schedule": "constant", "init": None,
}  # fmt: skip


def _json_value(value: Any) -> Any:
    return list(value) if isinstance(value, (tuple, list)) else value


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
        input_keep_prob: the probability of keeping each input value (1: no input dropout).
        steps: the budget in updates instead of epochs (None: ``epochs`` epochs): the papers compare
            training set sizes at a fixed number of updates.
        eval_every: accuracy is measured every ``eval_every`` epochs (and after the last one).
        num_train_samples: training examples drawn to measure training accuracy after each epoch
            (None: all of them).
        num_val_samples: validation examples drawn for each measurement (None: all of them).
        max_norm: c: after every update each hidden unit's incoming weights are rescaled to norm at most
            c (Srivastava et al. 2014, section 5.1); None: no bound.
        keep_schedule: how the keep probabilities move during training, as text
            (:func:`parse_keep_schedule`): 'constant', 'linear:RAMP' or 'curriculum:GAMMA' (per step),
            with ':epoch' after it for RAMP or GAMMA per epoch.
        patience: early stopping: a run ends once this many measured epochs in a row bring no better
            validation accuracy (None: never).
        dropout_kind: the dropout family's member: 'bernoulli' (the exercise's), 'gaussian', 'dropconnect'
            or 'alpha' (with activation 'selu'); see :class:`~dropout_lab.models.FullyConnectedNet`.
        activation: 'relu' or 'selu' (a self-normalizing net: LeCun-normal initial weights unless ``init``
            says otherwise).
        init: the initial weights: 'normal' (``weight_scale * N(0, 1)``), 'lecun' or 'he' (see
            :class:`~dropout_lab.models.FullyConnectedNet`); None: the activation's ('lecun' for SELU).
        momentum: the (final) momentum of update_rule 'sgd_momentum', in [0, 1) (None: the rule's 0.9);
            refused with another rule.
        lr_decay: after each epoch the learning rate is multiplied by it, in (0, 1] (1: constant).
        momentum_schedule: how the momentum of 'sgd_momentum' moves, as text
            (:func:`~.schedules.parse_momentum_schedule`): 'constant', or 'linear:START:EPOCHS', from
            START to ``momentum`` over the first EPOCHS epochs (Hinton et al. 2012: 'linear:0.5:500').
        mc_samples: K > 0: each complete run is evaluated on the data set's test split, by weight
            scaling and by the MC average of K stochastic passes (accuracy, NLL, Brier score, ECE;
            :mod:`~dropout_lab.experiments.evaluation`); 0: no test evaluation.
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
    input_keep_prob: float = 1.0
    steps: int | None = None
    eval_every: int = 1
    num_val_samples: int | None = None
    max_norm: float | None = None
    keep_schedule: str = "constant"
    patience: int | None = None
    mc_samples: int = 0
    dropout_kind: str = "bernoulli"
    activation: str = "relu"
    momentum: float | None = None
    lr_decay: float = 1.0
    momentum_schedule: str = "constant"
    init: str | None = None
    sweep: dict[str, tuple[Any, ...]] = field(default_factory=dict, hash=False)

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
        sweep = self._checked_sweep()
        cells = math.prod(len(values) for values in sweep.values())
        if len(keep) * len(seeds) * cells > MAX_RUNS:
            grid = " x ".join(str(len(v)) for v in (keep, seeds, *sweep.values()))
            raise InvalidArgumentError(
                f"an experiment holds at most {MAX_RUNS} runs (keep_probs x seeds x the swept values; each run's "
                f"record stays in memory and in results.json), got {grid} = {len(keep) * len(seeds) * cells}"
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
        object.__setattr__(self, "input_keep_prob", check_keep_prob("input_keep_prob", self.input_keep_prob))
        if self.steps is not None:
            check_positive_int("steps", self.steps)
        check_positive_int("eval_every", self.eval_every)
        if self.num_val_samples is not None:
            check_positive_int("num_val_samples", self.num_val_samples)
        if self.max_norm is not None:
            object.__setattr__(self, "max_norm", check_positive_real("max_norm", self.max_norm))
        parse_keep_schedule(self.keep_schedule)
        if self.patience is not None:
            check_positive_int("patience", self.patience)
        from ..models._variants import check_variant

        check_variant(self.dropout_kind, self.activation, self.init)
        if check_positive_int("mc_samples", self.mc_samples, allow_zero=True) > MAX_MC_SAMPLES:
            raise InvalidArgumentError(f"mc_samples must be at most {MAX_MC_SAMPLES}, got {self.mc_samples}")
        if self.momentum is not None:
            object.__setattr__(self, "momentum", check_unit_interval("momentum", self.momentum))
        lr_decay = check_positive_real("lr_decay", self.lr_decay)
        if lr_decay > 1.0:
            raise InvalidArgumentError(f"lr_decay must lie in (0, 1], got {lr_decay}")
        object.__setattr__(self, "lr_decay", lr_decay)
        parse_momentum_schedule(self.momentum_schedule)
        # Each swept value is checked as the setting it stands for (after the fields: an error in a
        # field is reported as the field's); the momentum settings' pairing with the grid's update rules
        # is checked after them, over the whole grid.
        for name, values in sweep.items():
            apart: dict[str, Any] = {}
            if name in MOMENTUM_SETTINGS or name == "update_rule":
                apart = {"update_rule": "sgd_momentum"} if name in MOMENTUM_SETTINGS else dict(MOMENTUM_SETTINGS)
            for i, value in enumerate(values):
                try:
                    dataclasses.replace(self, sweep={}, **{**apart, name: value})
                except DropoutLabError as exc:
                    raise type(exc)(f"sweep {name}[{i}]: {exc}") from None
        check_momentum_rule(
            {name: sweep.get(name, (getattr(self, name),)) for name in ("update_rule", *MOMENTUM_SETTINGS)}
        )
        object.__setattr__(self, "sweep", sweep)

    def _checked_sweep(self) -> dict[str, tuple[Any, ...]]:
        """``sweep`` with its names checked and its values as tuples (architectures as tuples of ints),
        in :data:`SWEEPABLE`'s order."""
        if not isinstance(self.sweep, dict):
            raise InvalidTypeError(f"sweep must be a dict of setting name to values, got {type(self.sweep).__name__}")
        unknown = [name for name in self.sweep if name not in SWEEPABLE]
        if unknown:
            raise InvalidArgumentError(
                f"sweep: {', '.join(map(repr, unknown))} cannot be swept; the settings that can: {', '.join(SWEEPABLE)}"
            )
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        sweep: dict[str, tuple[Any, ...]] = {}
        for name in SWEEPABLE:
            if name not in self.sweep:
                continue
            values = _tuple_of(f"sweep {name}", self.sweep[name])
            if name == "hidden_dims":
                values = tuple(_tuple_of(f"sweep hidden_dims[{i}]", v) for i, v in enumerate(values))
                for i, dims in enumerate(values):
                    if any(isinstance(d, (list, tuple, dict, set)) for d in dims):
                        raise InvalidTypeError(
                            f"sweep hidden_dims[{i}] must be a list of layer sizes, got {list(dims)!r}"
                        )
            else:
                for i, v in enumerate(values):
                    if isinstance(v, (list, tuple, dict, set)):
                        raise InvalidTypeError(f"sweep {name}[{i}] must be a single value, got {v!r}")
            if len(set(values)) != len(values):
                shown = [_json_value(v) for v in values]
                raise InvalidArgumentError(f"sweep {name} must not repeat a value, got {shown}")
            if _json_value(getattr(self, name)) != _json_value(defaults[name]):  # (500,) and [500] alike
                raise InvalidArgumentError(
                    f"{name} is both set ({_json_value(getattr(self, name))!r}) and swept "
                    f"({[_json_value(v) for v in values]}): give it one way"
                )
            sweep[name] = values
        return sweep

    def cells(self) -> list[tuple[dict[str, Any], ExperimentConfig]]:
        """The cells of the grid, in order: ``(settings, config)`` per point of the swept settings, where
        ``settings`` holds the swept values (JSON-ready: architectures as lists; empty without a sweep)
        and ``config`` is this config with those values and no sweep (its runs' settings)."""
        if not self.sweep:
            return [({}, self)]
        names = list(self.sweep)
        cells = []
        for values in itertools.product(*self.sweep.values()):
            cells.append(
                ({n: _json_value(v) for n, v in zip(names, values, strict=True)},
                 dataclasses.replace(self, sweep={}, **dict(zip(names, values, strict=True))))
            )  # fmt: skip
        return cells

    def identity(self) -> dict[str, Any]:
        """The settings a run's numbers are a function of (with its keep probability and seed): every
        field but :data:`NOT_IN_A_RUNS_NUMBERS`, and the settings added later at their defaults. For a
        cell's config (no sweep)."""
        values = {k: v for k, v in self.to_dict().items() if k not in NOT_IN_A_RUNS_NUMBERS}
        return {k: v for k, v in values.items() if k not in _ADDED_LATER or v != _ADDED_LATER[k]}

    def memory_estimate(self, input_dim: int | None = None, num_classes: int = 10) -> dict[str, int]:
        """Bytes one run needs, by part (for a sweep: the largest cell's); see :meth:`_memory_estimate`."""
        estimates = [cell._memory_estimate(input_dim, num_classes) for _, cell in self.cells()]
        return max(estimates, key=lambda parts: sum(parts.values()))

    def _memory_estimate(self, input_dim: int | None = None, num_classes: int = 10) -> dict[str, int]:
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
        have = machine_memory()
        for _, cell in self.cells():
            parts = cell._memory_estimate(input_dim, num_classes)
            if have is not None and sum(parts.values()) > have:
                cell._refuse_memory(parts, have)

    def _refuse_memory(self, parts: dict[str, int], have: int) -> None:
        need = sum(parts.values())
        raise InvalidArgumentError(
            f"one run needs about {format_bytes(need)}, more than this machine's {format_bytes(have)} of memory: "
            f"{format_bytes(parts['activations'])} for a step's activations (batch_size {self.batch_size}), "
            f"{format_bytes(parts['parameters'])} for the parameters and optimizer state (hidden_dims "
            f"{list(self.hidden_dims)}), {format_bytes(parts['data'])} for the data (num_train {self.num_train})"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: tuples become lists (the sweep's architectures too)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["sweep"] = {name: [_json_value(v) for v in values] for name, values in self.sweep.items()}
        return {k: _json_value(v) for k, v in out.items()}

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


    @classmethod
    def from_settings(cls, values: dict[str, Any]) -> ExperimentConfig:
        """A config from settings as a person writes them (a study file, the command line): a list of
        values for a sweepable setting sweeps it (a list of lists for ``hidden_dims``, whose plain list
        is one architecture); one value, or a list of one, sets it; ``seeds`` may be a count K (seeds
        0 to K-1). Unknown names are an error that suggests the closest known one."""
        if not isinstance(values, dict):
            raise InvalidTypeError(f"experiment settings must be a table (dict), got {type(values).__name__}")
        known = [f.name for f in dataclasses.fields(cls) if f.name != "sweep"]
        settings: dict[str, Any] = {}
        sweep: dict[str, Any] = {}
        for name, value in values.items():
            if name not in known:
                import difflib

                close = difflib.get_close_matches(str(name), known, n=1)
                hint = f" (did you mean {close[0]}?)" if close else f"; the settings: {', '.join(known)}"
                raise InvalidArgumentError(f"unknown experiment setting {name!r}{hint}")
            if name == "seeds" and isinstance(value, int) and not isinstance(value, bool):
                value = tuple(range(check_positive_int("seeds", value)))
            if name not in (*SWEEPABLE, "keep_probs", "seeds") and isinstance(value, (list, tuple)):
                raise InvalidArgumentError(
                    f"{name} cannot be swept, got the list {list(value)!r}; the settings that can: "
                    f"{', '.join(SWEEPABLE)}"
                )
            if name in SWEEPABLE and isinstance(value, (list, tuple)):
                items = list(value)
                if name == "hidden_dims" and not any(isinstance(v, (list, tuple)) for v in items):
                    items = [items]  # one architecture
                if len(items) == 1:
                    settings[name] = tuple(items[0]) if name == "hidden_dims" else items[0]
                else:
                    sweep[name] = items
            else:
                settings[name] = value
        return cls(**settings, sweep=sweep)


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
