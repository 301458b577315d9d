"""The training state: everything a Solver needs to continue a run exactly, written to and read from a
checkpoint, and the rules that decide whether a Solver may resume from it."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from numbers import Integral
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_write_bytes
from ..errors import CheckpointError
from ..layers.dropout import MASK_STREAM_VERSION
from ..models.protocol import Model, has_generator, model_draws_from_global_rng, model_rng
from ._format import (
    Checkpoint,
    array_record,
    check_generator_state,
    check_global_state,
    dumps,
    encode_bytes,
    fail,
    generator_state,
    loads,
    read_checkpoint,
    restore_generator,
)

_HISTORY_KEYS = ("loss", "train_acc", "val_acc")
# The mask stream of a checkpoint that records none (see TrainingState.mask_stream_version).
_UNRECORDED_MASK_STREAM = 2
_SCALAR_KINDS = {"float": float, "int": int, "bool": bool, "str": str}


@dataclass
class TrainingState:
    """Everything a Solver needs to continue a training run exactly where it stopped.

    Attributes:
        settings: the Solver's settings (JSON values). params, buffers: the model's, now.
        best_params, best_buffers: the model's at the best validation accuracy so far.
        optim_configs: parameter name -> the update rule's config (arrays and scalars).
        epoch: epochs completed. iteration: steps completed. best_epoch, best_val_acc.
        loss_history: one per step; train_acc_history, val_acc_history: one per measured epoch,
            ``acc_epochs`` (in increasing order from 0) says which; every epoch with ``eval_every=1``.
        recorded_epochs: epoch ends recorded, epoch 0 included: epoch + 1, or epoch when the Solver was
            interrupted while recording that epoch (the next ``train()`` records it first, drawing what
            the interrupted recording drew).
        acc_epochs, recorded_epochs: None stands for what a checkpoint written before they existed
            means (``eval_every=1``: ``range(len(train_acc_history))`` and ``len(train_acc_history)``);
            :func:`read_training_state` always fills them in.
        path: the file it was read from (None for a state not read from a file).
        solver_rng, model_rng: ``bit_generator.state`` dicts, or None when that party draws from
            NumPy's global generator (or has no generator). shared_rng: the model and Solver held the
            same Generator object. global_rng: ``np.random.get_state(legacy=False)``, or None when
            nothing draws from it.
        mask_stream_version: the :data:`~dropout_lab.layers.dropout.MASK_STREAM_VERSION` of the code
            that wrote the state: which dropout masks a Generator state yields. A checkpoint written
            before this field existed has none and is read as version 2: every commit that wrote
            training checkpoints from f456d2f ("fast masks from few random bits") until the field was
            added drew version-2 masks. The earlier commits (ecc3396 to f456d2f, all labelled 0.1.0)
            drew version-1 masks, and nothing in their files tells them apart: such a checkpoint
            resumes, but with other masks than its run drew before (only for keep probabilities that
            take fewer than 32 bits, such as 0.5, 0.25 and 0.75).
    """

    settings: dict[str, Any]
    params: dict[str, np.ndarray]
    buffers: dict[str, np.ndarray]
    best_params: dict[str, np.ndarray]
    best_buffers: dict[str, np.ndarray]
    optim_configs: dict[str, dict[str, Any]]
    epoch: int
    iteration: int
    best_epoch: int | None
    best_val_acc: float
    loss_history: list[float]
    train_acc_history: list[float]
    val_acc_history: list[float]
    solver_rng: dict[str, Any] | None
    model_rng: dict[str, Any] | None
    shared_rng: bool
    global_rng: dict[str, Any] | None
    path: Path | None = None
    mask_stream_version: int = MASK_STREAM_VERSION
    acc_epochs: list[int] | None = None
    recorded_epochs: int | None = None

    def measured_epochs(self) -> list[int]:
        """``acc_epochs``, or what a state without it means: every epoch was measured."""
        return list(range(len(self.train_acc_history))) if self.acc_epochs is None else list(self.acc_epochs)

    def ended_epochs(self) -> int:
        """``recorded_epochs``, or what a state without it means: one per accuracy recorded."""
        return len(self.train_acc_history) if self.recorded_epochs is None else self.recorded_epochs


def _encode_optim(
    configs: Mapping[str, Mapping[str, Any]],
) -> tuple[dict[str, np.ndarray], dict[str, list[list[Any]]]]:
    """The optimizer configs as arrays (``optim/<param>/<key>``) and a JSON layout: per parameter, one
    ``[key, kind, value]`` per entry (the value for plain scalars, None where an array holds it)."""
    arrays: dict[str, np.ndarray] = {}
    layout: dict[str, list[list[Any]]] = {}
    for param, config in configs.items():
        entries: list[list[Any]] = []
        for key, value in config.items():
            if not isinstance(key, str):
                raise CheckpointError(f"optimizer config for {param} has a non-string key {key!r}")
            name = f"optim/{param}/{key}"
            if isinstance(value, np.ndarray):
                arrays[name] = value
                entries.append([key, "array", None])
            elif isinstance(value, np.generic):
                arrays[name] = np.asarray(value)
                entries.append([key, "npscalar", None])
            elif value is None:
                entries.append([key, "none", None])
            elif isinstance(value, bool):
                entries.append([key, "bool", value])
            elif isinstance(value, Integral):
                entries.append([key, "int", int(value)])
            elif isinstance(value, float):
                entries.append([key, "float", value])
            elif isinstance(value, str):
                entries.append([key, "str", value])
            else:
                raise CheckpointError(
                    f"cannot store optimizer state {param}[{key!r}] of type {type(value).__name__}: "
                    "a checkpoint holds arrays, numbers, strings and None only"
                )
        layout[param] = entries
    return arrays, layout


def _decode_optim(checkpoint: Checkpoint, layout: Any) -> dict[str, dict[str, Any]]:
    path = checkpoint.path
    if not isinstance(layout, dict):
        raise fail(path, "has no optimizer records")
    configs: dict[str, dict[str, Any]] = {}
    for param, entries in layout.items():
        config: dict[str, Any] = {}
        for entry in entries if isinstance(entries, list) else [None]:
            if not (isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], str)):
                raise fail(path, f"has a malformed optimizer record for {param}: {entry!r}")
            key, kind, value = entry
            if kind in ("array", "npscalar"):
                array = checkpoint.arrays.get(f"optim/{param}/{key}")
                if array is None:
                    raise fail(path, f"is missing entry optim/{param}/{key}")
                config[key] = array if kind == "array" else array[()]
            elif kind == "none":
                config[key] = None
            elif kind in _SCALAR_KINDS and isinstance(value, _SCALAR_KINDS[kind]) and not (
                kind == "int" and isinstance(value, bool)
            ):
                config[key] = value
            else:
                raise fail(path, f"has a malformed optimizer record for {param}[{key!r}]: {entry!r}")
        configs[param] = config
    return configs


def write_training_state(paths: list[Path], state: TrainingState) -> None:
    """Write ``state`` to every path in ``paths`` (each atomically; the bytes are encoded once)."""
    optim_arrays, optim_layout = _encode_optim(state.optim_configs)
    arrays: dict[str, np.ndarray] = {}
    for prefix, group in (
        ("param", state.params),
        ("buffer", state.buffers),
        ("best_param", state.best_params),
        ("best_buffer", state.best_buffers),
    ):
        arrays.update({f"{prefix}/{k}": v for k, v in group.items()})
    arrays.update(optim_arrays)
    for key, value in (("solver", state.solver_rng), ("model", state.model_rng), ("global", state.global_rng)):
        if value is not None:
            # bit_generator.state holds 128-bit integers: JSON keeps them exact, a 0-d string holds it.
            arrays[f"rng/{key}"] = np.array(dumps(value))
    for key, values in zip(
        _HISTORY_KEYS, (state.loss_history, state.train_acc_history, state.val_acc_history), strict=True
    ):
        arrays[f"history/{key}"] = np.asarray(values, dtype=np.float64).reshape(-1)
    arrays["history/acc_epochs"] = np.asarray(state.measured_epochs(), dtype=np.int64).reshape(-1)
    metadata = {
        "kind": "training",
        "settings": state.settings,
        "params": array_record(state.params),
        "buffers": array_record(state.buffers),
        "best_buffers": list(state.best_buffers),
        "optimizer": optim_layout,
        "epoch": state.epoch,
        "iteration": state.iteration,
        "best_epoch": state.best_epoch,
        "best_val_acc": state.best_val_acc,
        "rng": {"shared": state.shared_rng},
        "mask_stream_version": state.mask_stream_version,
        "recorded_epochs": state.ended_epochs(),
    }
    data = encode_bytes(arrays, metadata)
    for path in paths:
        atomic_write_bytes(path, data)


def read_training_state(
    path: str | os.PathLike[str], *, precheck: Callable[[Checkpoint], None] | None = None
) -> TrainingState:
    """Read a training checkpoint, checking every part of it (not yet its fit to a model).

    Args:
        precheck: see :func:`read_checkpoint`: what the caller checks before any array is read
            (:func:`resume_precheck`: the fit to a Solver and its model).

    Raises:
        CheckpointError: see :func:`read_checkpoint`; also a model-only checkpoint, or any missing or
            malformed part of the training state.
    """

    def check_declared(declared: Checkpoint) -> None:
        if declared.kind != "training":
            raise fail(
                declared.path, "holds a model's parameters only; resuming a Solver needs a training checkpoint"
            )
        if precheck is not None:
            precheck(declared)

    checkpoint = read_checkpoint(path, precheck=check_declared)
    path = checkpoint.path
    meta = checkpoint.metadata

    def optional_integer(key: str) -> int | None:
        value = meta.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise fail(path, f"has a malformed {key!r} record: {value!r}")
        return value

    def integer(key: str) -> int:
        value = optional_integer(key)
        if value is None:
            raise fail(path, f"has a malformed {key!r} record: None")
        return value

    epoch = integer("epoch")
    iteration = integer("iteration")
    best_epoch = optional_integer("best_epoch")
    # Absent before the field existed: those files hold version-2 masks (see TrainingState).
    recorded_stream = optional_integer("mask_stream_version")
    mask_stream_version = _UNRECORDED_MASK_STREAM if recorded_stream is None else recorded_stream
    best_val_acc = meta.get("best_val_acc")
    if isinstance(best_val_acc, bool) or not isinstance(best_val_acc, (int, float)) or math.isnan(best_val_acc):
        raise fail(path, f"has a malformed 'best_val_acc' record: {best_val_acc!r}")
    settings = meta.get("settings")
    if not isinstance(settings, dict):
        raise fail(path, "has no Solver settings")

    params = checkpoint.params
    best_params: dict[str, np.ndarray] = {}
    # No epoch measured yet (a Solver interrupted while measuring epoch 0): no best parameters either.
    unmeasured = best_epoch is None and not any(name.startswith("best_param/") for name in checkpoint.arrays)
    for name, value in {} if unmeasured else params.items():
        best = checkpoint.arrays.get(f"best_param/{name}")
        if best is None or best.shape != value.shape or best.dtype != value.dtype:
            raise fail(path, f"is missing entry best_param/{name} of shape {value.shape} and dtype {value.dtype}")
        best_params[name] = best
    best_names = meta.get("best_buffers")
    if not isinstance(best_names, list):
        raise fail(path, "has no best_buffers record")
    best_buffers: dict[str, np.ndarray] = {}
    for name in best_names:
        best_buffer = checkpoint.arrays.get(f"best_buffer/{name}")
        if best_buffer is None or best_buffer.dtype.kind != "f":
            raise fail(path, f"is missing entry best_buffer/{name}")
        best_buffers[name] = best_buffer

    histories = []
    for key in _HISTORY_KEYS:
        history = checkpoint.arrays.get(f"history/{key}")
        if history is None or history.ndim != 1 or history.dtype != np.float64:
            raise fail(path, f"is missing entry history/{key}")
        histories.append([float(x) for x in history])
    loss_history, train_acc_history, val_acc_history = histories
    acc_epochs, recorded_epochs = _measured_epochs(checkpoint, epoch, len(train_acc_history))
    # epoch ends recorded, not epoch + 1: the Solver was interrupted while recording that epoch (see TrainingState).
    recorded = len(train_acc_history)
    if (
        len(loss_history) != iteration
        or recorded != len(val_acc_history)
        or recorded != len(acc_epochs)
        or recorded_epochs not in (epoch, epoch + 1)
    ):
        raise fail(
            path,
            f"has histories of lengths {len(loss_history)}, {len(train_acc_history)}, {len(val_acc_history)} "
            f"that do not match iteration {iteration} and epoch {epoch}",
        )

    optim_configs = _decode_optim(checkpoint, meta.get("optimizer"))
    if list(optim_configs) != list(params):
        raise fail(path, f"has optimizer states for {list(optim_configs)}, parameters {list(params)}")

    rng = meta.get("rng")
    if not isinstance(rng, dict):
        raise fail(path, "has no random generator record")
    where = f"checkpoint {path}"
    states: dict[str, Any] = {}
    for key in ("solver", "model", "global"):
        raw = checkpoint.arrays.get(f"rng/{key}")
        if raw is None:
            states[key] = None
            continue
        if raw.shape != () or raw.dtype.kind != "U":
            raise fail(path, f"entry rng/{key} is not a JSON string")
        try:
            states[key] = loads(str(raw[()]))
        except (ValueError, RecursionError) as exc:
            raise fail(path, f"entry rng/{key} is unreadable ({exc})") from None
    solver_state = None if states["solver"] is None else check_generator_state(states["solver"], where)
    model_state = None if states["model"] is None else check_generator_state(states["model"], where)
    global_state = None if states["global"] is None else check_global_state(states["global"], where)
    shared = rng.get("shared")
    if not isinstance(shared, bool):
        raise fail(path, f"has a malformed 'shared' generator record: {shared!r}")

    return TrainingState(
        settings=settings,
        params=params,
        buffers=checkpoint.buffers,
        best_params=best_params,
        best_buffers=best_buffers,
        optim_configs=optim_configs,
        epoch=epoch,
        iteration=iteration,
        best_epoch=best_epoch,
        best_val_acc=float(best_val_acc),
        loss_history=loss_history,
        train_acc_history=train_acc_history,
        val_acc_history=val_acc_history,
        solver_rng=solver_state,
        model_rng=model_state,
        shared_rng=shared,
        global_rng=global_state,
        path=path,
        mask_stream_version=mask_stream_version,
        acc_epochs=acc_epochs,
        recorded_epochs=recorded_epochs,
    )


def _measured_epochs(checkpoint: Checkpoint, epoch: int, recorded: int) -> tuple[list[int], int]:
    """``acc_epochs`` and ``recorded_epochs`` as ``checkpoint`` records them (``history/acc_epochs``
    and the ``recorded_epochs`` record, both or neither), checked: epochs in increasing order from 0,
    all recorded. A file without them was written before they existed, when every epoch was measured:
    ``range(recorded)`` and ``recorded`` (the number of accuracies)."""
    path = checkpoint.path
    array = checkpoint.arrays.get("history/acc_epochs")
    ended = checkpoint.metadata.get("recorded_epochs")
    if array is None and ended is None:
        return list(range(recorded)), recorded
    if array is None or array.ndim != 1 or array.dtype != np.int64:
        raise fail(path, "is missing entry history/acc_epochs (1-d int64), which its recorded_epochs record needs")
    if isinstance(ended, bool) or not isinstance(ended, int) or ended not in (epoch, epoch + 1):
        raise fail(path, f"has a malformed 'recorded_epochs' record: {ended!r} for epoch {epoch}")
    epochs = [int(e) for e in array]
    increasing = all(a < b for a, b in zip(epochs, epochs[1:], strict=False))
    if epochs and (epochs[0] != 0 or not increasing or epochs[-1] >= ended):
        shown = epochs if len(epochs) <= 10 else [*epochs[:10], "..."]
        raise fail(
            path,
            f"has measured epochs (history/acc_epochs) {shown}; expected increasing epochs from 0 below "
            f"recorded_epochs {ended}",
        )
    return epochs, ended


def settings_scalars(config: Mapping[str, Any]) -> dict[str, Any]:
    """The plain finite scalars of a config, for a checkpoint's record of the settings (arrays are
    state, stored apart; NaN and infinity are not JSON)."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, float) and not math.isfinite(value):
            continue
        if value is None or isinstance(value, (bool, int, float, str)):
            out[str(key)] = value
    return out


# ----------------------------------------------------------------------------- random generators
def generator_states(solver_rng: np.random.Generator | None, model: Model) -> dict[str, Any]:
    """The random generator fields of a :class:`TrainingState` (``solver_rng``, ``model_rng``,
    ``shared_rng``, ``global_rng``) for a Solver that draws from ``solver_rng`` (None: from NumPy's
    global generator) and its ``model``. NumPy's global state is kept only where something draws from it."""
    rng = model_rng(model)
    uses_global = solver_rng is None or model_draws_from_global_rng(model)
    return {
        "solver_rng": None if solver_rng is None else generator_state(solver_rng),
        "model_rng": None if rng is None else generator_state(rng),
        "shared_rng": solver_rng is not None and rng is solver_rng,
        "global_rng": np.random.get_state(legacy=False) if uses_global else None,
    }


def restore_generators(
    state: TrainingState, model: Model, solver_rng: np.random.Generator | None
) -> np.random.Generator | None:
    """Put ``state``'s generators back: the model's ``rng`` and NumPy's global generator in place,
    and return the generator the Solver draws from next (None: NumPy's global one).

    The checkpoint's source of randomness wins; ``solver_rng`` is reused (set to the stored state) when
    its bit generator class matches, and a Generator the model and Solver share here but did not share
    in the run being resumed is split into two again.
    """
    previous = model_rng(model)
    if state.model_rng is not None and has_generator(model):
        model.rng = restore_generator(previous, state.model_rng)
    if state.global_rng is not None:
        # The run drew from NumPy's global generator; continuing it exactly means resetting it.
        np.random.set_state(state.global_rng)
    if state.solver_rng is None:
        return None
    if state.shared_rng and has_generator(model):
        return model.rng
    if solver_rng is not None and solver_rng is previous:
        # Shared here but not in the run being resumed: the two streams must be separate again.
        return restore_generator(None, state.solver_rng)
    return restore_generator(solver_rng, state.solver_rng)
