"""Model checkpoints: a model's parameters and buffers saved, checked against a model, and loaded."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._validation import check_file_to_write
from ..errors import InvalidArgumentError, InvalidTypeError
from ..models.protocol import has_buffers, model_buffers
from ._format import Checkpoint, array_record, fail, read_checkpoint, to_json, write_archive

if TYPE_CHECKING:
    from ..models.protocol import Model
    from ._training import TrainingState


# What a checkpoint without an architecture record was written by: every FullyConnectedNet before
# dropout kinds and activations existed dropped units with Bernoulli dropout after ReLUs.
_UNRECORDED_ARCHITECTURE = {"dropout_kind": "bernoulli", "activation": "relu"}


def model_architecture(model: object) -> dict[str, str] | None:
    """What a model computes beyond its parameters' names and shapes, as checkpoints record it:
    ``{"dropout_kind": ..., "activation": ...}`` for a model with both as strings (a
    :class:`~dropout_lab.models.FullyConnectedNet`), else None (nothing to record or compare).

    A model checkpoint keeps it under ``metadata['architecture']``, a training checkpoint under
    ``metadata['settings']['architecture']`` (the Solver's settings).
    """
    kind, activation = getattr(model, "dropout_kind", None), getattr(model, "activation", None)
    if not isinstance(kind, str) or not isinstance(activation, str):
        return None
    return {"dropout_kind": kind, "activation": activation}


def _recorded_architecture(checkpoint: Checkpoint | TrainingState) -> Any:
    if isinstance(checkpoint, Checkpoint):
        meta = checkpoint.metadata
        settings = meta.get("settings")
        if meta.get("kind") == "training":
            return settings.get("architecture") if isinstance(settings, dict) else None
        return meta.get("architecture")
    return checkpoint.settings.get("architecture")


def _check_architecture(checkpoint: Checkpoint | TrainingState, model: Model) -> None:
    """The model's dropout kind and activation must be the checkpoint's (a checkpoint that records
    none was written by a Bernoulli-dropout ReLU net): the same parameters would compute another
    function, and a resumed run would continue another training."""
    ours = model_architecture(model)
    if ours is None:
        return
    recorded = _recorded_architecture(checkpoint)
    theirs = _UNRECORDED_ARCHITECTURE if recorded is None else recorded
    if not isinstance(theirs, dict) or any(not isinstance(theirs.get(key), str) for key in ours):
        raise fail(checkpoint.path, f"has a malformed architecture record: {recorded!r}")
    differ = [key for key in ours if theirs[key] != ours[key]]
    if differ:
        said = "" if recorded is not None else " (it records none: written before dropout kinds existed)"
        raise fail(
            checkpoint.path,
            "is for another architecture: "
            + "; ".join(f"{key} is {theirs[key]!r} in the checkpoint and {ours[key]!r} in the model" for key in differ)
            + said,
        )


def check_model_compatible(checkpoint: Checkpoint | TrainingState, model: Model) -> None:
    """Raise :class:`CheckpointError` unless ``model`` has the checkpoint's parameter names, shapes and
    dtypes, its dropout kind and activation (see :func:`model_architecture`), and can take its
    buffers. Changes nothing."""
    path = checkpoint.path
    stored = checkpoint.params
    current = getattr(model, "params", None)
    if not isinstance(current, dict):
        raise InvalidTypeError(f"model must have a params dict, got {type(model).__name__}")
    missing = [name for name in current if name not in stored]
    extra = [name for name in stored if name not in current]
    if missing or extra:
        raise fail(
            path,
            "is for another architecture: "
            + "; ".join(
                part
                for part in (
                    f"the model has parameters the checkpoint lacks: {missing}" if missing else "",
                    f"the checkpoint has parameters the model lacks: {extra}" if extra else "",
                )
                if part
            ),
        )
    for name, value in stored.items():
        here = current[name]
        if not isinstance(here, np.ndarray):
            raise InvalidTypeError(f"model.params[{name!r}] must be a NumPy array, got {type(here).__name__}")
        if value.shape != here.shape:
            raise fail(
                path,
                f"is for another architecture: parameter {name} has shape {value.shape} in the "
                f"checkpoint and {here.shape} in the model",
            )
        if value.dtype != here.dtype:
            raise fail(
                path,
                f"does not match the model's dtype: parameter {name} is {value.dtype} in the checkpoint "
                f"and {here.dtype} in the model",
            )
    _check_architecture(checkpoint, model)
    buffers = checkpoint.buffers
    if buffers and not callable(getattr(model, "load_buffers", None)):
        raise fail(path, f"holds buffers {sorted(buffers)} but the model has no load_buffers()")
    if has_buffers(model):
        for name, value in model.buffers().items():
            if name in buffers and buffers[name].shape != value.shape:
                raise fail(
                    path,
                    f"is for another architecture: buffer {name} has shape {buffers[name].shape} in the "
                    f"checkpoint and {value.shape} in the model",
                )


def apply_model_state(
    path: Path | None, model: Model, params: Mapping[str, np.ndarray], buffers: Mapping[str, np.ndarray]
) -> None:
    """Put ``buffers`` then ``params`` (already checked with :func:`check_model_compatible`) into
    ``model``.

    The buffers go first because ``load_buffers`` is the one step that may still refuse them (it
    checks every name and shape before changing anything); after it nothing can fail, so a refusal
    leaves the model as it was.
    """
    if buffers:
        load_buffers = getattr(model, "load_buffers", None)
        if not callable(load_buffers):
            raise fail(path, f"holds buffers {sorted(buffers)} but the model has no load_buffers()")
        try:
            load_buffers(dict(buffers))
        except (InvalidArgumentError, InvalidTypeError) as exc:
            raise fail(path, f"does not fit the model's buffers: {exc}") from None
    for name, value in params.items():
        model.params[name] = value.copy()


def _model_arrays(model: Model) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    params = getattr(model, "params", None)  # checked, not trusted: the caller may pass anything
    if not isinstance(params, dict):
        raise InvalidTypeError(f"model must have a params dict, got {type(model).__name__}")
    return dict(params), model_buffers(model)


def save_checkpoint(
    path: str | os.PathLike[str], model: Model, *, metadata: Mapping[str, Any] | None = None
) -> Path:
    """Save a model's parameters and buffers to ``path`` (an ``.npz``; written atomically).

    Args:
        path: the file to write; its folder must exist.
        model: a :class:`~dropout_lab.models.Model`: a ``params`` dict of float arrays, and optionally
            ``buffers()``.
        metadata: extra JSON-serializable facts to keep under ``metadata['user']``.

    Returns:
        The path written.
    """
    path = check_file_to_write("path", path)
    params, buffers = _model_arrays(model)
    for name, value in params.items():
        if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
            raise InvalidTypeError(f"model.params[{name!r}] must be a float array, got {type(value).__name__}")
    meta: dict[str, Any] = {
        "kind": "model",
        "model_class": type(model).__name__,
        "params": array_record(params),
        "buffers": array_record(buffers),
    }
    architecture = model_architecture(model)
    if architecture is not None:
        meta["architecture"] = architecture
    if metadata is not None:
        try:
            json.dumps(to_json(metadata))
        except (TypeError, ValueError) as exc:
            raise InvalidTypeError(f"metadata must be JSON-serializable: {exc}") from None
        meta["user"] = metadata
    arrays = {f"param/{k}": v for k, v in params.items()}
    arrays.update({f"buffer/{k}": v for k, v in buffers.items()})
    return write_archive(path, arrays, meta)


def load_checkpoint(path: str | os.PathLike[str], model: Model) -> dict[str, Any]:
    """Load the parameters and buffers of a checkpoint (model or training) into ``model``.

    Everything is checked first: on any error the model is left as it was.

    Returns:
        The checkpoint's metadata.

    Raises:
        CheckpointError: unreadable file, or one for another architecture or dtype.
    """
    if not isinstance(getattr(model, "params", None), dict):
        raise InvalidTypeError(f"model must have a params dict, got {type(model).__name__}")
    # The model's shapes bound what is read: a file declaring larger arrays is refused unread.
    checkpoint = read_checkpoint(path, precheck=lambda declared: check_model_compatible(declared, model))
    check_model_compatible(checkpoint, model)
    apply_model_state(checkpoint.path, model, checkpoint.params, checkpoint.buffers)
    return checkpoint.metadata

