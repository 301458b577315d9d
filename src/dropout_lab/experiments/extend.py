"""Extending a saved experiment on ``--resume``: more seeds, more keep probabilities, more values of a
swept setting (a setting that was not swept becomes swept), or more epochs, reusing every saved run.

The rule: every saved run must be a run of the extended experiment (the same settings, keep
probability and seed), except that its epoch budget may grow when ``epochs`` is not swept; then the
run continues from its last checkpoint (kept for this) to the new budget, as if it had been started
with it. Anything else is a conflict and is refused before any work: a saved run would be dropped or
would have to change (another ``dtype``, ``eval_every``, fewer epochs, another ``steps``).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from ..errors import InvalidArgumentError
from .config import SWEEPABLE, ExperimentConfig
from .grid import cell_key, cell_label, run_name
from .records import keep_text
from .results import RunResult

__all__ = ["check_extension", "extended_config", "rekey", "rename_saved_checkpoints"]

_BUDGET = ("epochs", "steps")


def _without_budget(config: ExperimentConfig) -> dict[str, Any]:
    return {k: v for k, v in config.identity().items() if k not in _BUDGET}


def _match(saved_cell: ExperimentConfig, wanted: ExperimentConfig) -> tuple[dict[str, Any], ExperimentConfig]:
    """The wanted cell that continues ``saved_cell``: the same settings; the same budget, or (epochs not
    swept) more epochs. InvalidArgumentError naming the difference if there is none."""
    ours = _without_budget(saved_cell)
    candidates = [(s, c) for s, c in wanted.cells() if _without_budget(c) == ours]
    for settings, cell in candidates:
        if (cell.epochs, cell.steps) == (saved_cell.epochs, saved_cell.steps):
            return settings, cell
    if not candidates:
        _, first = wanted.cells()[0]
        theirs = _without_budget(first)
        differ = [k for k in sorted(set(ours) | set(theirs)) if ours.get(k) != theirs.get(k)]
        detail = "; ".join(f"{k} {ours.get(k)!r} saved, {theirs.get(k)!r} now" for k in differ[:3])
        raise InvalidArgumentError(
            f"the saved runs{_of(saved_cell, wanted)} are not runs of the extended experiment ({detail}): a resume "
            "adds seeds, keep probabilities, values of a swept setting or epochs, and drops or changes no run; "
            "start a new experiment (another --out) for other settings"
        )
    if "epochs" in wanted.sweep or "steps" in wanted.sweep or len(candidates) != 1:
        raise InvalidArgumentError(
            f"the saved runs{_of(saved_cell, wanted)} trained epochs {saved_cell.epochs}, steps {saved_cell.steps}; "
            "the swept budget must keep that value"
        )
    [(settings, cell)] = candidates  # budget not swept: one cell per other settings
    if cell.steps != saved_cell.steps:
        raise InvalidArgumentError(
            f"steps {saved_cell.steps} of the saved runs cannot become {cell.steps} in a resume (a run's budget in "
            "updates does not extend: its last epoch may be partial); sweep steps in a new experiment"
        )
    if cell.epochs < saved_cell.epochs:
        raise InvalidArgumentError(
            f"epochs {cell.epochs} is fewer than the {saved_cell.epochs} the saved runs trained: a resume adds "
            "epochs, it does not remove them"
        )
    if cell.steps is None and saved_cell.epochs % cell.eval_every != 0:
        raise InvalidArgumentError(
            f"the saved runs' last epoch ({saved_cell.epochs}) is not a multiple of eval_every ({cell.eval_every}): "
            "extended, their accuracy would be measured at an epoch a run started with the new budget skips"
        )
    return settings, cell


def _of(saved_cell: ExperimentConfig, wanted: ExperimentConfig) -> str:
    label = cell_label({k: dataclasses.asdict(saved_cell)[k] for k in wanted.sweep if k not in _BUDGET})
    return f" ({label})" if label else ""


def check_extension(saved: ExperimentConfig, records: list[RunResult], wanted: ExperimentConfig) -> ExperimentConfig:
    """``wanted`` if it extends ``saved`` (every saved run, ``records`` included, is one of its runs, up to
    more epochs); InvalidArgumentError saying what conflicts otherwise."""
    for name in ("keep_probs", "seeds"):
        dropped = [v for v in getattr(saved, name) if v not in getattr(wanted, name)]
        if dropped:
            shown = ", ".join(keep_text(v) if name == "keep_probs" else str(v) for v in dropped)
            raise InvalidArgumentError(f"{name} must keep the saved experiment's {shown}: a resume drops no run")
    matched = [cell_key(_match(cell, wanted)[0]) for _, cell in saved.cells()]
    if len(set(matched)) != len(matched):
        raise InvalidArgumentError(
            "two swept values of the saved experiment would become one run of the extended experiment "
            "(a swept epochs or steps given one value?): a resume drops no run; give every saved value"
        )
    rekey(saved, records, wanted)
    return wanted


def rekey(saved: ExperimentConfig, records: list[RunResult], wanted: ExperimentConfig) -> list[RunResult]:
    """``records`` (of ``saved``'s runs) with their cells' settings as ``wanted``'s grid names them."""
    cells = {cell_key(settings): cell for settings, cell in saved.cells()}
    out = []
    for record in records:
        settings, _ = _match(cells[cell_key(record.settings)], wanted)
        out.append(dataclasses.replace(record, settings=settings))
    return out


def rename_saved_checkpoints(saved: ExperimentConfig, wanted: ExperimentConfig, checkpoint_dir: Path) -> None:
    """Give each saved run's checkpoint the name its run has in ``wanted``'s grid (a cell's name hashes
    its swept settings, which an extension may add to), before anything else is written: each rename is
    atomic, and a file already under the new name is left alone."""
    for old_settings, cell in saved.cells():
        settings, _ = _match(cell, wanted)
        if settings == old_settings:
            continue
        for keep_prob in cell.keep_probs:
            for seed in cell.seeds:
                old = checkpoint_dir / f"{run_name(keep_prob, seed, old_settings)}_latest.npz"
                new = checkpoint_dir / f"{run_name(keep_prob, seed, settings)}_latest.npz"
                if old.is_file() and not new.exists():
                    os.replace(old, new)


def extended_config(saved: ExperimentConfig, given: dict[str, Any]) -> ExperimentConfig:
    """``saved`` extended by ``given`` (settings in :meth:`ExperimentConfig.from_settings`'s shorthand,
    the command line's): keep probabilities, seeds and the values of a sweepable setting are added to
    the saved ones (a setting that was not swept becomes swept if a new value comes); one value of
    ``epochs`` or ``steps`` replaces the saved budget (more epochs for every run); any other setting
    replaces the saved one. Whether the result extends ``saved`` is :func:`check_extension`'s to say."""
    parsed = ExperimentConfig.from_settings(given)  # checks the names and values
    explicit = {**{n: getattr(parsed, n) for n in given if n not in parsed.sweep}, **parsed.sweep}
    settings: dict[str, Any] = {
        k: v for k, v in saved.to_dict().items() if k != "sweep" and k not in saved.sweep
    }
    for name, values in saved.sweep.items():
        settings[name] = [list(v) if isinstance(v, tuple) else v for v in values]
    for name, value in explicit.items():
        many = name in parsed.sweep
        listed = value if many else [value]
        new = [list(v) if isinstance(v, tuple) else v for v in listed] if name in SWEEPABLE else value
        if name in ("keep_probs", "seeds"):
            settings[name] = list(dict.fromkeys([*settings[name], *value]))
        elif name in SWEEPABLE and not (name in ("epochs", "steps") and not many):
            old = settings[name] if name in saved.sweep else [settings[name]]
            if name == "hidden_dims" and name not in saved.sweep:
                old = [list(saved.hidden_dims)]
            merged = [*old, *[v for v in new if v not in old]]
            settings[name] = merged if len(merged) > 1 or name != "hidden_dims" else merged[0]
        else:
            settings[name] = value
    return ExperimentConfig.from_settings(settings)
