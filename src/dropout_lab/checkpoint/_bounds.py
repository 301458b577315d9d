"""What a checkpoint may hold, checked from its ``.npy`` headers before any array is read.

A checkpoint is untrusted input, and its size on disk says little about what reading it costs:
deflate shrinks zeros about a thousand times (a 4 MB file can hold a 4 GB array), and an ``.npy``
header can declare a shape its data does not have (NumPy allocates the array before it finds the
data missing). So every member's header (magic, shape, dtype) is parsed from the first bytes of its
stream, and before anything else is read:

* every member is an ``.npy`` array, present once, that holds no Python objects;
* the size in its zip record is exactly what its header declares (header plus elements times item
  size), so what is read is what was declared;
* every entry is one the metadata accounts for, and of the size the metadata allows: parameters and
  buffers have their recorded shapes, best parameters and buffers the same ones, an optimizer state
  array is no larger than its parameter, the histories have exactly ``iteration`` values (losses)
  and one per measured epoch, no more than ``recorded_epochs`` (``epoch + 1`` or ``epoch``), and the
  metadata and generator states are strings of bounded length;
* the Solver settings a resume compares as counts (``eval_every``, ``num_steps``, ``patience``) are
  positive integers (or None for the last two).

The metadata's own shapes and counts are bounded by the reader's caller with what the run can have
(the model's shapes, the Solver's epochs and steps): see the ``precheck`` of
:func:`~dropout_lab.checkpoint.read_checkpoint`.
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path
from typing import IO, Any

import numpy as np
from numpy.lib import format as npy_format

from ..errors import CheckpointError

# The metadata is a JSON object of a few kilobytes (a few hundred characters per parameter); a
# generator state is at most about 8,000 characters (MT19937's 624 words). Generous bounds on both.
MAX_METADATA_CHARS = 1 << 21
MAX_STATE_CHARS = 1 << 16
# No array dropout-lab writes has items wider than this (float128, complex128; strings are bounded apart).
_MAX_NUMBER_ITEMSIZE = 16


def fail(path: Path | None, what: str) -> CheckpointError:
    """The error for checkpoint ``path``: ``what`` follows the file's name."""
    return CheckpointError(f"checkpoint {path} {what}")


class _CountingReader:
    """A read-only stream that counts the bytes read from it (the length of an ``.npy`` header)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self.count += len(data)
        return data


def _shell(shape: tuple[int, ...], dtype: np.dtype[Any]) -> np.ndarray:
    """An array of ``shape`` and ``dtype`` that takes no memory (one item, broadcast): what the checks
    look at (shape and dtype) before any data is read."""
    return np.broadcast_to(np.zeros((), dtype=dtype), shape)


def scan_headers(archive: zipfile.ZipFile, path: Path) -> dict[str, np.ndarray]:
    """Every member's declared shape and dtype, as memory-free shells by entry name (``.npy`` dropped).

    Raises:
        CheckpointError: a member that is not an ``.npy`` array, appears twice, holds Python objects,
            has an unknown header version or items wider than any checkpoint's, or whose zip record
            disagrees with its header's size. Damaged headers raise what NumPy's parser raises (the
            caller reports those as a corrupt file).
    """
    shells: dict[str, np.ndarray] = {}
    for info in archive.infolist():
        if not info.filename.endswith(".npy"):
            raise fail(path, f"has entry {info.filename!r}, which is not an .npy array")
        name = info.filename[: -len(".npy")]
        if name in shells:
            raise fail(path, f"has entry {name} twice")
        with archive.open(info) as member:
            stream = _CountingReader(member)
            version = npy_format.read_magic(stream)
            if version == (1, 0):
                shape, _, dtype = npy_format.read_array_header_1_0(stream)
            elif version == (2, 0):
                shape, _, dtype = npy_format.read_array_header_2_0(stream)
            else:
                raise fail(path, f"is corrupt: entry {name} has .npy format version {version}")
        if dtype.hasobject:
            raise fail(path, f"is refused: entry {name} holds Python objects, which dropout-lab never loads")
        if any(n < 0 for n in shape):
            raise fail(path, f"is corrupt: entry {name} declares shape {shape}")
        limit = 4 * MAX_METADATA_CHARS if dtype.kind == "U" else _MAX_NUMBER_ITEMSIZE
        if dtype.itemsize > limit:
            raise fail(path, f"entry {name} has items of {dtype.itemsize} bytes ({dtype}), more than any checkpoint's")
        declared = stream.count + math.prod(shape) * dtype.itemsize
        if info.file_size != declared:
            raise fail(
                path,
                f"is corrupt: entry {name} declares shape {shape} of {dtype} ({declared} bytes with its "
                f"header) but its zip record holds {info.file_size} bytes",
            )
        shells[name] = _shell(shape, dtype)
    return shells


def check_small_entries(path: Path, shells: dict[str, np.ndarray]) -> None:
    """``format_version`` and ``metadata``, read before everything else, are as small as they should be."""
    version = shells.get("format_version")
    if version is not None and (version.shape != () or version.dtype.kind not in "iu"):
        raise fail(path, "is not a dropout-lab checkpoint (no format_version entry)")
    metadata = shells.get("metadata")
    if metadata is not None and (metadata.shape != () or metadata.dtype.kind != "U"):
        raise fail(path, "has no metadata entry")
    if metadata is not None and metadata.dtype.itemsize > 4 * MAX_METADATA_CHARS:
        chars = metadata.dtype.itemsize // 4
        raise fail(path, f"has a metadata entry of {chars} characters, more than {MAX_METADATA_CHARS}")


def _count(path: Path, metadata: dict[str, Any], key: str) -> int:
    value = metadata.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise fail(path, f"has a malformed {key!r} record: {value!r}")
    return value


def _recorded_epochs(path: Path, metadata: dict[str, Any], epoch: int) -> int | None:
    """The ``recorded_epochs`` record (epoch ends recorded: ``epoch + 1``, or ``epoch`` while one is
    pending), or None for a file written before it existed."""
    if "recorded_epochs" not in metadata:
        return None
    value = metadata["recorded_epochs"]
    if isinstance(value, bool) or not isinstance(value, int) or value not in (epoch, epoch + 1):
        raise fail(path, f"has a malformed 'recorded_epochs' record: {value!r} for epoch {epoch}")
    return value


# Solver settings that must be positive integers (None allowed where True) in a training checkpoint.
_COUNT_SETTINGS = {"eval_every": False, "num_steps": True, "patience": True}


def check_count_settings(path: Path, metadata: dict[str, Any]) -> None:
    """The settings of :data:`_COUNT_SETTINGS` a file records are positive integers (or None where
    allowed); absent ones are those of a file written before they existed."""
    settings = metadata.get("settings")
    if not isinstance(settings, dict):
        return  # the reader of the training state refuses it with its own words
    for key, none_allowed in _COUNT_SETTINGS.items():
        if key not in settings or (none_allowed and settings[key] is None):
            continue
        value = settings[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            expected = "a positive integer" + (" or None" if none_allowed else "")
            raise fail(path, f"has a malformed {key!r} setting: {value!r}; expected {expected}")


def _optimizer_entries(metadata: dict[str, Any]) -> dict[str, str]:
    """``optim/<param>/<key>`` -> 'array' or 'npscalar', for the well-formed records (the reader of the
    training state refuses the others with its own words)."""
    layout = metadata.get("optimizer")
    entries: dict[str, str] = {}
    if isinstance(layout, dict):
        for param, records in layout.items():
            for record in records if isinstance(records, list) else []:
                if isinstance(record, list) and len(record) == 3 and record[1] in ("array", "npscalar"):
                    entries[f"optim/{param}/{record[0]}"] = str(record[1])
    return entries


def check_training_entries(path: Path, metadata: dict[str, Any], shells: dict[str, np.ndarray]) -> list[str]:
    """Check the entries a training checkpoint adds to a model's, each against what its metadata
    allows; return the names of those that no record accounts for."""
    params = {k[len("param/") :]: v for k, v in shells.items() if k.startswith("param/")}
    buffers = {k[len("buffer/") :]: v for k, v in shells.items() if k.startswith("buffer/")}
    largest = max((a.size for a in (*params.values(), *buffers.values())), default=0)
    best_buffers = metadata.get("best_buffers")
    best_buffer_names = set(best_buffers) if isinstance(best_buffers, list) else set()
    optimizer = _optimizer_entries(metadata)
    unknown: list[str] = []
    lengths: dict[str, int] = {}
    for name, shell in shells.items():
        group, _, rest = name.partition("/")
        if group == "best_param" and rest in params:
            if shell.shape != params[rest].shape or shell.dtype != params[rest].dtype:
                value = params[rest]
                raise fail(path, f"is missing entry {name} of shape {value.shape} and dtype {value.dtype}")
        elif group == "best_buffer" and rest in best_buffer_names:
            limit = buffers[rest].shape if rest in buffers else None
            if shell.dtype.kind != "f" or (shell.shape != limit if limit is not None else shell.size > largest):
                raise fail(path, f"entry {name} has shape {shell.shape} and dtype {shell.dtype}, unlike its buffer")
        elif group == "optim" and name in optimizer and rest.partition("/")[0] in params:
            param = params[rest.partition("/")[0]]
            too_big = shell.shape != () if optimizer[name] == "npscalar" else shell.size > param.size
            if too_big or shell.dtype.kind not in "biuf":
                raise fail(
                    path,
                    f"entry {name} has shape {shell.shape} and dtype {shell.dtype}; an optimizer state is "
                    f"numbers, no more than its parameter's {param.size}",
                )
        elif group == "history" and rest in ("loss", "train_acc", "val_acc", "acc_epochs"):
            if shell.ndim != 1 or shell.dtype != (np.int64 if rest == "acc_epochs" else np.float64):
                raise fail(path, f"is missing entry {name}")
            lengths[rest] = shell.shape[0]
        elif group == "rng" and rest in ("solver", "model", "global"):
            if shell.shape != () or shell.dtype.kind != "U":
                raise fail(path, f"entry {name} is not a JSON string")
            if shell.dtype.itemsize > 4 * MAX_STATE_CHARS:
                chars = shell.dtype.itemsize // 4
                raise fail(path, f"entry {name} holds {chars} characters, more than a generator state has")
        elif group not in ("param", "buffer"):
            unknown.append(name)
    check_count_settings(path, metadata)
    if lengths or "recorded_epochs" in metadata:
        iteration, epoch = _count(path, metadata, "iteration"), _count(path, metadata, "epoch")
        ended = _recorded_epochs(path, metadata, epoch)
        # One accuracy per measured epoch, of the epoch ends recorded: epoch + 1, or epoch for a
        # Solver interrupted while recording that epoch. A file without the record measured them all.
        recorded = lengths.get("train_acc", lengths.get("val_acc", epoch + 1))
        expected = {"loss": iteration, "train_acc": recorded, "val_acc": recorded}
        if ended is None:
            fits = recorded in (epoch, epoch + 1) and "acc_epochs" not in lengths
        else:
            expected["acc_epochs"] = recorded
            fits = recorded <= ended
        if not fits or any(lengths.get(key, n) != n for key, n in expected.items()):
            found = ", ".join(str(lengths.get(key, "none")) for key in expected)
            raise fail(
                path, f"has histories of lengths {found} that do not match iteration {iteration} and epoch {epoch}"
            )
    return unknown
