"""An experiment's runs: one :class:`RunSpec` per (cell, keep probability, seed), their names and keys.

A *cell* is one point of the swept settings (``ExperimentConfig.sweep``); its ``settings`` are the swept
values, ``{}`` without a sweep. A run is known by its key ``(cell key, keep probability, seed)``, which
the results, the journal and a resume use to find it, and by its name, which its checkpoint files use.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from .._validation import check_keep_prob, check_seed
from ..errors import InvalidArgumentError, InvalidTypeError
from .config import ExperimentConfig
from .records import keep_text

__all__ = ["RunKey", "RunSpec", "cell_key", "cell_label", "expand", "run_label", "run_name"]

#: How a run is found among others: (its cell's key, keep probability, seed).
RunKey = tuple[str, float, int]


def cell_key(settings: dict[str, Any]) -> str:
    """A cell's settings as canonical JSON (the same settings give the same text, in any order)."""
    return json.dumps(settings, sort_keys=True, allow_nan=False)


def cell_label(settings: dict[str, Any]) -> str:
    """A cell's settings for people: ``num_train 500, hidden_dims 256-256`` ('' without a sweep)."""
    def shown(value: Any) -> str:
        if isinstance(value, list):
            return "-".join(map(str, value))
        return f"{value:g}" if isinstance(value, float) else str(value)

    return ", ".join(f"{name} {shown(value)}" for name, value in settings.items())


def run_label(settings: dict[str, Any], keep_prob: float, seed: int) -> str:
    """``keep 0.5 seed 2`` with the cell's settings in front, for progress lines and errors."""
    cell = cell_label(settings)
    return (f"{cell}, " if cell else "") + f"keep {keep_text(keep_prob)} seed {seed}"


def run_name(keep_prob: float, seed: int, settings: dict[str, Any] | None = None) -> str:
    """The run's name, in its checkpoints' file names: ``keep{keep_text(keep_prob)}_seed{seed}``, after
    ``cell-{10 hex digits}_`` (a hash of the cell's settings) in a sweep. Two runs never share a name
    (0.5000001 is not 0.5; two cells' hashes would have to collide in 40 bits)."""
    name = f"keep{keep_text(keep_prob)}_seed{seed}"
    if settings:
        name = f"cell-{hashlib.sha256(cell_key(settings).encode()).hexdigest()[:10]}_{name}"
    return name


@dataclass(frozen=True)
class RunSpec:
    """One run: its cell's config (no sweep), the cell's swept values, the keep probability and seed.

    Small and picklable: what a worker (a thread here, a Dask task elsewhere) needs to train the run.
    """

    config: ExperimentConfig
    keep_prob: float
    seed: int
    settings: dict[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if not isinstance(self.config, ExperimentConfig):
            raise InvalidTypeError(f"config must be an ExperimentConfig, got {type(self.config).__name__}")
        if self.config.sweep:
            raise InvalidArgumentError("config must be one cell's, without a sweep (see ExperimentConfig.cells())")
        object.__setattr__(self, "keep_prob", check_keep_prob("keep_prob", self.keep_prob))
        if check_seed("seed", self.seed) is None:
            raise InvalidArgumentError("seed must be an integer in [0, 2**32), got None")
        if not isinstance(self.settings, dict):
            raise InvalidTypeError(f"settings must be a dict, got {type(self.settings).__name__}")

    @property
    def key(self) -> RunKey:
        return (cell_key(self.settings), self.keep_prob, self.seed)

    @property
    def name(self) -> str:
        return run_name(self.keep_prob, self.seed, self.settings)

    @property
    def label(self) -> str:
        return run_label(self.settings, self.keep_prob, self.seed)

    def identity(self) -> str:
        """What the run's numbers are a function of, as canonical JSON: its cell's settings that shape
        them (:meth:`ExperimentConfig.identity`), the keep probability (exact: JSON writes a float's
        shortest exact digits) and the seed. The Solver records it in every checkpoint and refuses to
        continue a checkpoint of another run."""
        values = {**self.config.identity(), "keep_prob": self.keep_prob, "seed": self.seed}
        return json.dumps(values, sort_keys=True, allow_nan=False)


def expand(config: ExperimentConfig) -> list[RunSpec]:
    """Every run of ``config``, cell by cell, then by keep probability, then by seed."""
    return [
        RunSpec(cell, keep_prob, seed, settings)
        for settings, cell in config.cells()
        for keep_prob in cell.keep_probs
        for seed in cell.seeds
    ]
