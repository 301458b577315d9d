"""Checkpoints: ``.npz`` archives of plain arrays, never pickles.

A checkpoint is written with ``np.savez`` through :func:`dropout_lab._io.atomic_writer` (a temporary
file beside the target, fsynced, then renamed), so a crash leaves the old file or the new one, never a
torn one; it is read with ``np.load(path, allow_pickle=False)``, so a file holding Python objects is
refused rather than executed.

Layout (format version 1). Every entry is an array; names use ``/`` as a separator:

* ``format_version``: 0-d int64. ``metadata``: 0-d unicode, a JSON object with ``kind`` ('model' or
  'training'), ``params`` and ``buffers`` (name -> shape and dtype, in the model's order) and, for a
  training checkpoint, everything scalar: the Solver's settings, epoch, iteration, best epoch and
  accuracy, the optimizer configs' scalars (learning rate after decay, t, betas...), whether the
  model and Solver shared one Generator.
* ``param/<name>``, ``buffer/<name>``: the model's parameters and buffers (batchnorm statistics).
* Training checkpoints add ``best_param/<name>``, ``best_buffer/<name>``, ``optim/<param>/<key>`` (the
  optimizer's state arrays: m, v, velocity, cache), ``history/loss``, ``history/train_acc`` and
  ``history/val_acc`` (float64), and ``rng/solver``, ``rng/model``, ``rng/global``: the random
  generators' states, each where that generator is used.

Random generator states (``bit_generator.state``, a dict of big integers and small arrays, or
``np.random.get_state(legacy=False)``) are stored as JSON strings in 0-d unicode arrays; they are
restored into a bit generator of the same class, so a resumed run draws exactly the numbers the
uninterrupted one would have.
"""

from __future__ import annotations

import io
import json
import math
import os
from dataclasses import dataclass, field
from numbers import Integral
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ._io import atomic_write_bytes, atomic_writer
from ._validation import check_file_to_write, check_path
from .errors import CheckpointError, InvalidArgumentError, InvalidTypeError

__all__ = [
    "FORMAT_VERSION",
    "Checkpoint",
    "TrainingState",
    "apply_model_state",
    "check_model_compatible",
    "generator_state",
    "load_checkpoint",
    "read_checkpoint",
    "read_training_state",
    "restore_generator",
    "save_checkpoint",
    "write_training_state",
]

FORMAT_VERSION = 1

# The bit generators NumPy ships; a state naming anything else is refused.
_BIT_GENERATORS = {
    cls.__name__: cls
    for cls in (np.random.PCG64, np.random.PCG64DXSM, np.random.MT19937, np.random.Philox, np.random.SFC64)
}

_HISTORY_KEYS = ("loss", "train_acc", "val_acc")

# The first bytes of a zip archive (an .npz), of an empty one, of an .npy file and of a pickle
# (protocol 2 and later start with the PROTO opcode).
_ZIP_MAGIC, _EMPTY_ZIP_MAGIC, _NPY_MAGIC, _PICKLE_MAGIC = b"PK\x03\x04", b"PK\x05\x06", b"\x93NUMPY", b"\x80"


# ----------------------------------------------------------------------------- JSON helpers
def _to_json(obj: Any) -> Any:
    """Generator states and settings as JSON values; small arrays become tagged lists."""
    if isinstance(obj, Mapping):
        return {str(k): _to_json(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return {"__ndarray__": obj.tolist(), "dtype": obj.dtype.str}
    if isinstance(obj, (list, tuple)):
        return [_to_json(v) for v in obj]
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    return obj


def _from_json_object(obj: dict[str, Any]) -> Any:
    if "__ndarray__" not in obj:
        return obj
    # Untrusted text: every failure becomes the ValueError that the readers report as a bad file.
    try:
        dtype = np.dtype(obj["dtype"])
        if dtype.kind not in "uif":
            raise ValueError(f"a stored array has dtype {dtype}; only numbers are accepted")
        return np.array(obj["__ndarray__"], dtype=dtype)
    except (KeyError, TypeError, OverflowError) as exc:
        raise ValueError(f"a stored array is malformed ({exc!r})") from None


def _dumps(obj: Any) -> str:
    # Python writes floats with repr(), which reads back to the same double: scalars round-trip exactly.
    return json.dumps(_to_json(obj), allow_nan=True)


def _loads(text: str) -> Any:
    return json.loads(text, object_hook=_from_json_object)


# ----------------------------------------------------------------------------- random generators
def generator_state(rng: np.random.Generator) -> dict[str, Any]:
    """A copy of ``rng.bit_generator.state`` (a dict naming its bit generator class)."""
    return rng.bit_generator.state


def _check_generator_state(state: Any, where: str) -> dict[str, Any]:
    if not isinstance(state, dict) or state.get("bit_generator") not in _BIT_GENERATORS:
        name = state.get("bit_generator") if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(
            f"{where}: the random generator state names bit generator {name!r}; "
            f"expected one of {sorted(_BIT_GENERATORS)}"
        )
    probe = _BIT_GENERATORS[state["bit_generator"]](0)
    try:
        probe.state = state
    except (TypeError, ValueError, KeyError, IndexError, OverflowError) as exc:
        raise CheckpointError(f"{where}: the {state['bit_generator']} state is malformed ({exc})") from None
    return state


def restore_generator(rng: np.random.Generator | None, state: dict[str, Any]) -> np.random.Generator:
    """Put ``rng`` in ``state`` and return it; if its bit generator is of another class (or ``rng`` is
    None), return a new Generator on a bit generator of the stored class instead."""
    cls = _BIT_GENERATORS[state["bit_generator"]]
    if rng is not None and type(rng.bit_generator) is cls:
        rng.bit_generator.state = state
        return rng
    bit_generator = cls(0)
    bit_generator.state = state
    return np.random.Generator(bit_generator)


def _check_global_state(state: Any, where: str) -> dict[str, Any]:
    probe = np.random.RandomState(0)
    try:
        probe.set_state(state)
    except (TypeError, ValueError, KeyError, IndexError, OverflowError) as exc:
        raise CheckpointError(f"{where}: the global RandomState state is malformed ({exc})") from None
    return state


# ----------------------------------------------------------------------------- the file itself
@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint file as read: its metadata and every array entry.

    Attributes:
        path: the file. metadata: the parsed JSON object.
        arrays: every entry except ``format_version`` and ``metadata``, by name.
    """

    path: Path
    metadata: dict[str, Any]
    arrays: Mapping[str, np.ndarray] = field(repr=False)

    @property
    def kind(self) -> str:
        return self.metadata["kind"]

    def _group(self, prefix: str, names: Mapping[str, Any]) -> dict[str, np.ndarray]:
        return {name: self.arrays[f"{prefix}/{name}"] for name in names}

    @property
    def params(self) -> dict[str, np.ndarray]:
        """The model's parameters, in the model's order."""
        return self._group("param", self.metadata["params"])

    @property
    def buffers(self) -> dict[str, np.ndarray]:
        """The model's buffers (batchnorm running statistics), possibly empty."""
        return self._group("buffer", self.metadata["buffers"])


def _array_record(arrays: Mapping[str, np.ndarray]) -> dict[str, dict[str, Any]]:
    return {name: {"shape": list(a.shape), "dtype": a.dtype.str} for name, a in arrays.items()}


def _encode(arrays: Mapping[str, np.ndarray], metadata: Mapping[str, Any]) -> dict[str, np.ndarray]:
    entries: dict[str, np.ndarray] = {
        "format_version": np.array(FORMAT_VERSION, dtype=np.int64),
        "metadata": np.array(_dumps(metadata)),
    }
    for name, value in arrays.items():
        value = np.asarray(value)
        # np.savez would pickle an object array; a checkpoint must hold numbers only.
        if value.dtype.hasobject:
            raise InvalidTypeError(
                f"checkpoint entry {name!r} holds Python objects; only numeric arrays can be stored"
            )
        entries[name] = value
    return entries


def _write(path: str | os.PathLike, arrays: Mapping[str, np.ndarray], metadata: Mapping[str, Any]) -> Path:
    path = Path(path)
    entries = _encode(arrays, metadata)
    with atomic_writer(path, "wb") as handle:
        np.savez(handle, **entries)
    return path


def _encode_bytes(arrays: Mapping[str, np.ndarray], metadata: Mapping[str, Any]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **_encode(arrays, metadata))
    return buffer.getvalue()


def _fail(path: Path, what: str) -> CheckpointError:
    return CheckpointError(f"checkpoint {path} {what}")


def read_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read and check a checkpoint file's structure (not yet its fit to any model).

    Raises:
        CheckpointError: the file is missing, not an ``.npz`` archive, truncated or corrupt, holds
            pickled objects, comes from another format version, or its entries disagree with its
            metadata. The message names the file.
    """
    path = check_path("path", path)
    if not path.is_file():
        raise _fail(path, "does not exist or is not a file")
    try:
        # Our own handle: np.load leaks the file it opened when a damaged archive fails to parse.
        with open(path, "rb") as handle:
            magic = handle.read(len(_ZIP_MAGIC))
            handle.seek(0)
            if magic[:1] == _PICKLE_MAGIC:
                raise _fail(path, "is refused: it is a pickle of Python objects, which dropout-lab never loads")
            if magic not in (_ZIP_MAGIC, _EMPTY_ZIP_MAGIC, _NPY_MAGIC[: len(_ZIP_MAGIC)]):
                # np.load would take anything else for a pickle: say what it really is.
                raise _fail(path, "is not an .npz checkpoint archive: it is corrupt, empty or another kind of file")
            loaded = np.load(handle, allow_pickle=False)
            if isinstance(loaded, np.ndarray):
                raise _fail(path, "is a single .npy array, not an .npz checkpoint archive")
            with loaded:
                # Reading every entry now checks each one's CRC: a corrupt byte fails here, not later.
                entries = {name: loaded[name] for name in loaded.files}
    except CheckpointError:
        raise
    except ValueError as exc:
        if "pickle" in str(exc) or "Object arrays" in str(exc):
            raise _fail(
                path, "is refused: it holds Python objects (pickled data), which dropout-lab never loads"
            ) from None
        raise _fail(path, f"is corrupt or truncated ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - every failure to parse the archive is a damaged file
        # zipfile and NumPy's header parser fail in many ways on damaged bytes: besides OSError,
        # EOFError, BadZipFile and KeyError, fuzzing a checkpoint gave NotImplementedError (a "zip file
        # version" or compression method), RuntimeError ("encrypted") and tokenize.TokenError.
        raise _fail(path, f"is corrupt or truncated ({type(exc).__name__}: {str(exc)[:200]})") from None

    version = entries.pop("format_version", None)
    if version is None or version.shape != () or version.dtype.kind not in "iu":
        raise _fail(path, "is not a dropout-lab checkpoint (no format_version entry)")
    if int(version) != FORMAT_VERSION:
        raise _fail(
            path, f"has format version {int(version)}; this dropout-lab reads version {FORMAT_VERSION}"
        )
    raw = entries.pop("metadata", None)
    if raw is None or raw.shape != () or raw.dtype.kind != "U":
        raise _fail(path, "has no metadata entry")
    try:
        metadata = _loads(str(raw[()]))
    except (ValueError, RecursionError) as exc:  # RecursionError: JSON nested thousands deep
        raise _fail(path, f"has unreadable metadata ({exc})") from None
    if not isinstance(metadata, dict) or metadata.get("kind") not in ("model", "training"):
        raise _fail(path, "has metadata without a kind ('model' or 'training')")
    checkpoint = Checkpoint(path, metadata, entries)
    for prefix, group in (("param", "params"), ("buffer", "buffers")):
        _check_group(checkpoint, prefix, metadata.get(group))
    return checkpoint


def _check_group(checkpoint: Checkpoint, prefix: str, record: Any) -> None:
    """Each ``prefix/<name>`` entry exists, is a float array, and matches the recorded shape and dtype."""
    path = checkpoint.path
    if not isinstance(record, dict):
        raise _fail(path, f"has metadata without the {prefix} records")
    for name, info in record.items():
        array = checkpoint.arrays.get(f"{prefix}/{name}")
        if array is None:
            raise _fail(path, f"is missing entry {prefix}/{name}")
        if array.dtype.kind != "f":
            raise _fail(path, f"entry {prefix}/{name} has dtype {array.dtype}, not a float dtype")
        recorded = info if isinstance(info, dict) else {}
        if list(array.shape) != recorded.get("shape") or array.dtype.str != recorded.get("dtype"):
            raise _fail(path, f"entry {prefix}/{name} disagrees with its metadata record {info}")
    start = len(prefix) + 1
    extra = sorted(k for k in checkpoint.arrays if k.startswith(prefix + "/") and k[start:] not in record)
    if extra:
        raise _fail(path, f"has entries its metadata does not list: {extra}")


def check_model_compatible(checkpoint: Checkpoint | TrainingState, model: Any) -> None:
    """Raise :class:`CheckpointError` unless ``model`` has the checkpoint's parameter names, shapes and
    dtypes, and can take its buffers. Changes nothing."""
    path = checkpoint.path
    stored = checkpoint.params
    current = getattr(model, "params", None)
    if not isinstance(current, dict):
        raise InvalidTypeError(f"model must have a params dict, got {type(model).__name__}")
    missing = [name for name in current if name not in stored]
    extra = [name for name in stored if name not in current]
    if missing or extra:
        raise _fail(
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
        if value.shape != here.shape:
            raise _fail(
                path,
                f"is for another architecture: parameter {name} has shape {value.shape} in the "
                f"checkpoint and {here.shape} in the model",
            )
        if value.dtype != here.dtype:
            raise _fail(
                path,
                f"does not match the model's dtype: parameter {name} is {value.dtype} in the checkpoint "
                f"and {here.dtype} in the model",
            )
    buffers = checkpoint.buffers
    if buffers and not callable(getattr(model, "load_buffers", None)):
        raise _fail(path, f"holds buffers {sorted(buffers)} but the model has no load_buffers()")
    if callable(getattr(model, "buffers", None)):
        for name, value in model.buffers().items():
            if name in buffers and buffers[name].shape != value.shape:
                raise _fail(
                    path,
                    f"is for another architecture: buffer {name} has shape {buffers[name].shape} in the "
                    f"checkpoint and {value.shape} in the model",
                )


def apply_model_state(
    path: Path, model: Any, params: Mapping[str, np.ndarray], buffers: Mapping[str, np.ndarray]
) -> None:
    """Put ``buffers`` then ``params`` (already checked with :func:`check_model_compatible`) into
    ``model``.

    The buffers go first because ``load_buffers`` is the one step that may still refuse them (it
    checks every name and shape before changing anything); after it nothing can fail, so a refusal
    leaves the model as it was.
    """
    if buffers:
        try:
            model.load_buffers(dict(buffers))
        except (InvalidArgumentError, InvalidTypeError) as exc:
            raise _fail(path, f"does not fit the model's buffers: {exc}") from None
    for name, value in params.items():
        model.params[name] = value.copy()


def _model_arrays(model: Any) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    params = getattr(model, "params", None)
    if not isinstance(params, dict):
        raise InvalidTypeError(f"model must have a params dict, got {type(model).__name__}")
    buffers = model.buffers() if callable(getattr(model, "buffers", None)) else {}
    return dict(params), dict(buffers)


def save_checkpoint(
    path: str | os.PathLike, model: Any, *, metadata: Mapping[str, Any] | None = None
) -> Path:
    """Save a model's parameters and buffers to ``path`` (an ``.npz``; written atomically).

    Args:
        path: the file to write; its folder must exist.
        model: anything with a ``params`` dict of float arrays, and optionally ``buffers()``.
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
        "params": _array_record(params),
        "buffers": _array_record(buffers),
    }
    if metadata is not None:
        try:
            json.dumps(_to_json(metadata))
        except (TypeError, ValueError) as exc:
            raise InvalidTypeError(f"metadata must be JSON-serializable: {exc}") from None
        meta["user"] = metadata
    arrays = {f"param/{k}": v for k, v in params.items()}
    arrays.update({f"buffer/{k}": v for k, v in buffers.items()})
    return _write(path, arrays, meta)


def load_checkpoint(path: str | os.PathLike, model: Any) -> dict[str, Any]:
    """Load the parameters and buffers of a checkpoint (model or training) into ``model``.

    Everything is checked first: on any error the model is left as it was.

    Returns:
        The checkpoint's metadata.

    Raises:
        CheckpointError: unreadable file, or one for another architecture or dtype.
    """
    if not isinstance(getattr(model, "params", None), dict):
        raise InvalidTypeError(f"model must have a params dict, got {type(model).__name__}")
    checkpoint = read_checkpoint(path)
    check_model_compatible(checkpoint, model)
    apply_model_state(checkpoint.path, model, checkpoint.params, checkpoint.buffers)
    return checkpoint.metadata


# ----------------------------------------------------------------------------- training state
_SCALAR_KINDS = {"float": float, "int": int, "bool": bool, "str": str}


@dataclass
class TrainingState:
    """Everything a Solver needs to continue a training run exactly where it stopped.

    Attributes:
        settings: the Solver's settings (JSON values). params, buffers: the model's, now.
        best_params, best_buffers: the model's at the best validation accuracy so far.
        optim_configs: parameter name -> the update rule's config (arrays and scalars).
        epoch: epochs completed. iteration: steps completed. best_epoch, best_val_acc.
        loss_history: one per step; train_acc_history, val_acc_history: epoch + 1 entries.
        path: the file it was read from (None for a state not read from a file).
        solver_rng, model_rng: ``bit_generator.state`` dicts, or None when that party draws from
            NumPy's global generator (or has no generator). shared_rng: the model and Solver held the
            same Generator object. global_rng: ``np.random.get_state(legacy=False)``, or None when
            nothing draws from it.
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


def _encode_optim(configs: Mapping[str, Mapping[str, Any]]) -> tuple[dict[str, np.ndarray], dict[str, list]]:
    arrays: dict[str, np.ndarray] = {}
    layout: dict[str, list] = {}
    for param, config in configs.items():
        entries = []
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
        raise _fail(path, "has no optimizer records")
    configs: dict[str, dict[str, Any]] = {}
    for param, entries in layout.items():
        config: dict[str, Any] = {}
        for entry in entries if isinstance(entries, list) else [None]:
            if not (isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], str)):
                raise _fail(path, f"has a malformed optimizer record for {param}: {entry!r}")
            key, kind, value = entry
            if kind in ("array", "npscalar"):
                array = checkpoint.arrays.get(f"optim/{param}/{key}")
                if array is None:
                    raise _fail(path, f"is missing entry optim/{param}/{key}")
                config[key] = array if kind == "array" else array[()]
            elif kind == "none":
                config[key] = None
            elif kind in _SCALAR_KINDS and isinstance(value, _SCALAR_KINDS[kind]) and not (
                kind == "int" and isinstance(value, bool)
            ):
                config[key] = value
            else:
                raise _fail(path, f"has a malformed optimizer record for {param}[{key!r}]: {entry!r}")
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
            arrays[f"rng/{key}"] = np.array(_dumps(value))
    for key, values in zip(
        _HISTORY_KEYS, (state.loss_history, state.train_acc_history, state.val_acc_history)
    ):
        arrays[f"history/{key}"] = np.asarray(values, dtype=np.float64).reshape(-1)
    metadata = {
        "kind": "training",
        "settings": state.settings,
        "params": _array_record(state.params),
        "buffers": _array_record(state.buffers),
        "best_buffers": list(state.best_buffers),
        "optimizer": optim_layout,
        "epoch": state.epoch,
        "iteration": state.iteration,
        "best_epoch": state.best_epoch,
        "best_val_acc": state.best_val_acc,
        "rng": {"shared": state.shared_rng},
    }
    data = _encode_bytes(arrays, metadata)
    for path in paths:
        atomic_write_bytes(path, data)


def read_training_state(path: str | os.PathLike) -> TrainingState:
    """Read a training checkpoint, checking every part of it (not yet its fit to a model).

    Raises:
        CheckpointError: see :func:`read_checkpoint`; also a model-only checkpoint, or any missing or
            malformed part of the training state.
    """
    checkpoint = read_checkpoint(path)
    path = checkpoint.path
    meta = checkpoint.metadata
    if checkpoint.kind != "training":
        raise _fail(path, "holds a model's parameters only; resuming a Solver needs a training checkpoint")

    def integer(key: str, *, optional: bool = False) -> int | None:
        value = meta.get(key)
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise _fail(path, f"has a malformed {key!r} record: {value!r}")
        return value

    epoch = integer("epoch")
    iteration = integer("iteration")
    best_epoch = integer("best_epoch", optional=True)
    best_val_acc = meta.get("best_val_acc")
    if isinstance(best_val_acc, bool) or not isinstance(best_val_acc, (int, float)) or math.isnan(best_val_acc):
        raise _fail(path, f"has a malformed 'best_val_acc' record: {best_val_acc!r}")
    settings = meta.get("settings")
    if not isinstance(settings, dict):
        raise _fail(path, "has no Solver settings")

    params = checkpoint.params
    best_params: dict[str, np.ndarray] = {}
    for name, value in params.items():
        best = checkpoint.arrays.get(f"best_param/{name}")
        if best is None or best.shape != value.shape or best.dtype != value.dtype:
            raise _fail(path, f"is missing entry best_param/{name} of shape {value.shape} and dtype {value.dtype}")
        best_params[name] = best
    best_names = meta.get("best_buffers")
    if not isinstance(best_names, list):
        raise _fail(path, "has no best_buffers record")
    best_buffers: dict[str, np.ndarray] = {}
    for name in best_names:
        value = checkpoint.arrays.get(f"best_buffer/{name}")
        if value is None or value.dtype.kind != "f":
            raise _fail(path, f"is missing entry best_buffer/{name}")
        best_buffers[name] = value

    histories = []
    for key in _HISTORY_KEYS:
        value = checkpoint.arrays.get(f"history/{key}")
        if value is None or value.ndim != 1 or value.dtype != np.float64:
            raise _fail(path, f"is missing entry history/{key}")
        histories.append([float(x) for x in value])
    loss_history, train_acc_history, val_acc_history = histories
    if len(loss_history) != iteration or len(train_acc_history) != epoch + 1 or len(val_acc_history) != epoch + 1:
        raise _fail(
            path,
            f"has histories of lengths {len(loss_history)}, {len(train_acc_history)}, {len(val_acc_history)} "
            f"that do not match iteration {iteration} and epoch {epoch}",
        )

    optim_configs = _decode_optim(checkpoint, meta.get("optimizer"))
    if list(optim_configs) != list(params):
        raise _fail(path, f"has optimizer states for {list(optim_configs)}, parameters {list(params)}")

    rng = meta.get("rng")
    if not isinstance(rng, dict):
        raise _fail(path, "has no random generator record")
    where = f"checkpoint {path}"
    states: dict[str, Any] = {}
    for key in ("solver", "model", "global"):
        raw = checkpoint.arrays.get(f"rng/{key}")
        if raw is None:
            states[key] = None
            continue
        if raw.shape != () or raw.dtype.kind != "U":
            raise _fail(path, f"entry rng/{key} is not a JSON string")
        try:
            states[key] = _loads(str(raw[()]))
        except (ValueError, RecursionError) as exc:
            raise _fail(path, f"entry rng/{key} is unreadable ({exc})") from None
    solver_rng = None if states["solver"] is None else _check_generator_state(states["solver"], where)
    model_rng = None if states["model"] is None else _check_generator_state(states["model"], where)
    global_rng = None if states["global"] is None else _check_global_state(states["global"], where)
    shared = rng.get("shared")
    if not isinstance(shared, bool):
        raise _fail(path, f"has a malformed 'shared' generator record: {shared!r}")

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
        solver_rng=solver_rng,
        model_rng=model_rng,
        shared_rng=shared,
        global_rng=global_rng,
        path=path,
    )
