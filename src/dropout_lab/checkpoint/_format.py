"""The checkpoint file itself: an ``.npz`` of plain arrays with a JSON metadata entry, written
atomically and read back with every entry checked, and the random generator states it stores.

The layout is described in :mod:`dropout_lab.checkpoint`.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_writer
from .._validation import check_path
from ..errors import CheckpointError, InvalidTypeError
from ._bounds import check_small_entries, check_training_entries, scan_headers
from ._bounds import fail as fail

FORMAT_VERSION = 1

# The bit generators NumPy ships; a state naming anything else is refused.
_BIT_GENERATORS = {
    cls.__name__: cls
    for cls in (np.random.PCG64, np.random.PCG64DXSM, np.random.MT19937, np.random.Philox, np.random.SFC64)
}

# The first bytes of a zip archive (an .npz), of an empty one, of an .npy file and of a pickle
# (protocol 2 and later start with the PROTO opcode).
_ZIP_MAGIC, _EMPTY_ZIP_MAGIC, _NPY_MAGIC, _PICKLE_MAGIC = b"PK\x03\x04", b"PK\x05\x06", b"\x93NUMPY", b"\x80"


# ----------------------------------------------------------------------------- JSON helpers
def to_json(obj: Any) -> Any:
    """Generator states and settings as JSON values; small arrays become tagged lists."""
    if isinstance(obj, Mapping):
        return {str(k): to_json(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return {"__ndarray__": obj.tolist(), "dtype": obj.dtype.str}
    if isinstance(obj, (list, tuple)):
        return [to_json(v) for v in obj]
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


def dumps(obj: Any) -> str:
    # Python writes floats with repr(), which reads back to the same double: scalars round-trip exactly.
    return json.dumps(to_json(obj), allow_nan=True)


def loads(text: str) -> Any:
    return json.loads(text, object_hook=_from_json_object)


# ----------------------------------------------------------------------------- random generators
def generator_state(rng: np.random.Generator) -> dict[str, Any]:
    """A copy of ``rng.bit_generator.state`` (a dict naming its bit generator class)."""
    state: dict[str, Any] = {**rng.bit_generator.state}
    return state


def _set_state(bit_generator: np.random.BitGenerator, state: Any) -> None:
    """Put a stored (untrusted) state into ``bit_generator``; NumPy's setter checks every part of it."""
    bit_generator.state = state


def check_generator_state(state: Any, where: str) -> dict[str, Any]:
    if not isinstance(state, dict) or state.get("bit_generator") not in _BIT_GENERATORS:
        name = state.get("bit_generator") if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(
            f"{where}: the random generator state names bit generator {name!r}; "
            f"expected one of {sorted(_BIT_GENERATORS)}"
        )
    probe = _BIT_GENERATORS[state["bit_generator"]](0)
    try:
        _set_state(probe, state)
    except (TypeError, ValueError, KeyError, IndexError, OverflowError) as exc:
        raise CheckpointError(f"{where}: the {state['bit_generator']} state is malformed ({exc})") from None
    return state


def restore_generator(rng: np.random.Generator | None, state: dict[str, Any]) -> np.random.Generator:
    """Put ``rng`` in ``state`` and return it; if its bit generator is of another class (or ``rng`` is
    None), return a new Generator on a bit generator of the stored class instead."""
    cls = _BIT_GENERATORS[state["bit_generator"]]
    if rng is not None and type(rng.bit_generator) is cls:
        _set_state(rng.bit_generator, state)
        return rng
    bit_generator = cls(0)
    _set_state(bit_generator, state)
    return np.random.Generator(bit_generator)


def check_global_state(state: Any, where: str) -> dict[str, Any]:
    probe = np.random.RandomState(0)
    try:
        probe.set_state(state)
    except (TypeError, ValueError, KeyError, IndexError, OverflowError) as exc:
        raise CheckpointError(f"{where}: the global RandomState state is malformed ({exc})") from None
    checked: dict[str, Any] = state
    return checked


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
        return str(self.metadata["kind"])

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


def array_record(arrays: Mapping[str, np.ndarray]) -> dict[str, dict[str, Any]]:
    return {name: {"shape": list(a.shape), "dtype": a.dtype.str} for name, a in arrays.items()}


def _encode(arrays: Mapping[str, np.ndarray], metadata: Mapping[str, Any]) -> dict[str, np.ndarray]:
    entries: dict[str, np.ndarray] = {
        "format_version": np.array(FORMAT_VERSION, dtype=np.int64),
        "metadata": np.array(dumps(metadata)),
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


def write_archive(
    path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray], metadata: Mapping[str, Any]
) -> Path:
    path = Path(path)
    entries = _encode(arrays, metadata)
    with atomic_writer(path, "wb") as handle:
        np.savez(handle, allow_pickle=False, **entries)
    return path


def encode_bytes(arrays: Mapping[str, np.ndarray], metadata: Mapping[str, Any]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **_encode(arrays, metadata))
    return buffer.getvalue()


def _read_entry(archive: zipfile.ZipFile, name: str) -> np.ndarray:
    # Read to its end, so zipfile checks the member's CRC: a corrupt byte fails here, not later.
    with archive.open(name + ".npy") as member:
        array: np.ndarray = np.lib.format.read_array(member, allow_pickle=False)
    return array


def read_checkpoint(
    path: str | os.PathLike[str], *, precheck: Callable[[Checkpoint], None] | None = None
) -> Checkpoint:
    """Read and check a checkpoint file's structure (not yet its fit to any model).

    Nothing is allocated for an entry before its declared size is checked (see
    :mod:`dropout_lab.checkpoint._bounds`): every entry must be one the metadata accounts for, of the
    size it allows.

    Args:
        precheck: called with the checkpoint as declared (its metadata and, as ``arrays``, memory-free
            stand-ins of every entry's shape and dtype) before any array is read; it raises
            :class:`CheckpointError` for a file the caller cannot take (another model's shapes, more
            steps than the run has).

    Raises:
        CheckpointError: the file is missing, not an ``.npz`` archive, truncated or corrupt, holds
            pickled objects or entries its metadata does not account for, comes from another format
            version, or its entries disagree with its metadata. The message names the file.
    """
    path = check_path("path", path)
    if not path.is_file():
        raise fail(path, "does not exist or is not a file")
    try:
        with open(path, "rb") as handle:
            magic = handle.read(len(_ZIP_MAGIC))
            handle.seek(0)
            if magic[:1] == _PICKLE_MAGIC:
                raise fail(path, "is refused: it is a pickle of Python objects, which dropout-lab never loads")
            if magic == _NPY_MAGIC[: len(_ZIP_MAGIC)]:
                raise fail(path, "is a single .npy array, not an .npz checkpoint archive")
            if magic not in (_ZIP_MAGIC, _EMPTY_ZIP_MAGIC):
                raise fail(path, "is not an .npz checkpoint archive: it is corrupt, empty or another kind of file")
            with zipfile.ZipFile(handle) as archive:
                shells = scan_headers(archive, path)
                check_small_entries(path, shells)
                small: dict[str, np.ndarray] = {
                    name: _read_entry(archive, name) for name in ("format_version", "metadata") if name in shells
                }
                metadata = _check_metadata(path, small)
                declared = Checkpoint(path, metadata, {k: v for k, v in shells.items() if k not in small})
                _check_layout(declared)
                if precheck is not None:
                    try:
                        precheck(declared)
                    except Exception as exc:  # noqa: BLE001 (the caller's error, carried past the handler below)
                        raise _CallerError(exc) from None
                entries = {name: _read_entry(archive, name) for name in declared.arrays}
    except _CallerError as wrapped:
        # The caller's check failed (its model is not what it should be, say): its error as it is,
        # not "corrupt", which is for what the file's bytes do to zipfile and NumPy.
        raise wrapped.error from None
    except CheckpointError:
        raise
    except Exception as exc:  # noqa: BLE001 - every failure to parse the archive is a damaged file
        # zipfile and NumPy's header parser fail in many ways on damaged bytes: besides OSError,
        # EOFError, BadZipFile, KeyError and ValueError, fuzzing a checkpoint gave NotImplementedError (a
        # "zip file version" or compression method), RuntimeError ("encrypted") and tokenize.TokenError.
        raise fail(path, f"is corrupt or truncated ({type(exc).__name__}: {str(exc)[:200]})") from None
    return Checkpoint(path, metadata, entries)


class _CallerError(Exception):
    """Carries an error of ``read_checkpoint``'s precheck past its handler for damaged files."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def _check_metadata(path: Path, small: dict[str, np.ndarray]) -> dict[str, Any]:
    version = small.get("format_version")
    if version is None:
        raise fail(path, "is not a dropout-lab checkpoint (no format_version entry)")
    if int(version) != FORMAT_VERSION:
        raise fail(
            path, f"has format version {int(version)}; this dropout-lab reads version {FORMAT_VERSION}"
        )
    raw = small.get("metadata")
    if raw is None:
        raise fail(path, "has no metadata entry")
    try:
        metadata = loads(str(raw[()]))
    except (ValueError, RecursionError) as exc:  # RecursionError: JSON nested thousands deep
        raise fail(path, f"has unreadable metadata ({exc})") from None
    if not isinstance(metadata, dict) or metadata.get("kind") not in ("model", "training"):
        raise fail(path, "has metadata without a kind ('model' or 'training')")
    return metadata


def _check_layout(checkpoint: Checkpoint) -> None:
    """Every entry is one the metadata accounts for, of the size it allows (see ``_bounds``)."""
    metadata = checkpoint.metadata
    for prefix, group in (("param", "params"), ("buffer", "buffers")):
        _check_group(checkpoint, prefix, metadata.get(group))
    if metadata["kind"] == "training":
        unknown = check_training_entries(checkpoint.path, metadata, dict(checkpoint.arrays))
    else:
        unknown = [name for name in checkpoint.arrays if name.partition("/")[0] not in ("param", "buffer")]
    if unknown:
        raise fail(checkpoint.path, f"has entries its metadata does not list: {sorted(unknown)}")


def _check_group(checkpoint: Checkpoint, prefix: str, record: Any) -> None:
    """Each ``prefix/<name>`` entry exists, is a float array, and matches the recorded shape and dtype."""
    path = checkpoint.path
    if not isinstance(record, dict):
        raise fail(path, f"has metadata without the {prefix} records")
    for name, info in record.items():
        array = checkpoint.arrays.get(f"{prefix}/{name}")
        if array is None:
            raise fail(path, f"is missing entry {prefix}/{name}")
        if array.dtype.kind != "f":
            raise fail(path, f"entry {prefix}/{name} has dtype {array.dtype}, not a float dtype")
        recorded = info if isinstance(info, dict) else {}
        if list(array.shape) != recorded.get("shape") or array.dtype.str != recorded.get("dtype"):
            raise fail(path, f"entry {prefix}/{name} disagrees with its metadata record {info}")
    start = len(prefix) + 1
    extra = sorted(k for k in checkpoint.arrays if k.startswith(prefix + "/") and k[start:] not in record)
    if extra:
        raise fail(path, f"has entries its metadata does not list: {extra}")

