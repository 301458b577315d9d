"""A restricted unpickler for CIFAR-10 batch files: data only, never code.

A CIFAR-10 batch is a Python 2 ``cPickle`` (protocol 2) of a dict whose strings are ``BINSTRING``
and whose image array is rebuilt through ``numpy.core.multiarray._reconstruct``. A plain
``pickle.load`` would call any global a file names, so a doctored "batch" could run arbitrary code.
:func:`restricted_loads` resolves only the handful of globals a batch (or a batch re-saved from
Python 3 and NumPy 1 or 2) needs, and even those through wrappers that accept plain data alone:

==================================================  ============================================
Global in the pickle                                What it may do here
==================================================  ============================================
``numpy.core.multiarray._reconstruct``,             make an EMPTY ``numpy.ndarray`` that the
``numpy._core.multiarray._reconstruct``             pickle then fills with its own bytes, of a
                                                    plain dtype with NumPy's own flags
``numpy.ndarray``                                   a token accepted by ``_reconstruct`` only
``numpy.dtype``                                     ``numpy.dtype(spec, align)``, always a copy
``numpy.core.multiarray.scalar`` (and ``_core``)    a NumPy scalar of such a plain dtype
``numpy.core.numeric._frombuffer`` (and ``_core``)  an array over pickled bytes (protocol 5),
                                                    of such a plain dtype
``_codecs.encode``                                  ``str`` to ``bytes`` by Latin-1 (how Python 3
                                                    writes ``bytes`` at protocol 2)
``__builtin__.bytes``, ``builtins.bytes``           the empty ``bytes`` object only
==================================================  ============================================

Every other global is refused with a :class:`~dropout_lab.errors.DataError` naming the file and
the global, before anything is called. Sizes are bounded by the file itself: no allowed callable
allocates more than the bytes the pickle holds.
"""

from __future__ import annotations

import io
import math
import os
import pickle
from typing import Any, Literal, cast

import numpy as np

from .._io import read_regular_file
from ..errors import DataError
from ._pickle_scan import MAX_PICKLE_OPCODES, check_opcodes

try:  # NumPy >= 1.26 has numpy._core; NumPy 2 warns on any use of numpy.core
    from numpy._core.multiarray import _reconstruct as _np_reconstruct
    from numpy._core.multiarray import scalar as _np_scalar
except ImportError:  # pragma: no cover - NumPy < 1.26
    from numpy.core.multiarray import _reconstruct as _np_reconstruct  # type: ignore[no-redef]  # the same names, on old NumPy
    from numpy.core.multiarray import scalar as _np_scalar  # type: ignore[no-redef]  # the same names, on old NumPy

__all__ = ["ALLOWED_GLOBALS", "MAX_PICKLE_OPCODES", "restricted_loads", "load_pickle_file"]


class _Global:
    """Base of the objects the allowed globals resolve to.

    No ``__dict__`` and no slots: the ``BUILD`` opcode can neither add attributes nor replace
    ``__call__``, so a pickle cannot tamper with these shared objects (a plain function's
    ``__defaults__`` could be rewritten through ``BUILD``'s slot state).
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"<restricted {type(self).__name__.lstrip('_')}>"


class _NDArrayToken(_Global):
    """Stands for ``numpy.ndarray``: neither a type nor callable, so ``NEWOBJ``, ``REDUCE``, ``INST``
    and ``OBJ`` cannot build arrays of arbitrary shape from it; only :class:`_Reconstruct` takes it."""

    __slots__ = ()


_NDARRAY = _NDArrayToken()


# The kinds of dtype a pickle may make: booleans, integers, floats, complex numbers (a batch needs
# uint8 pixels and integer labels). Strings, void, structured, datetime and object dtypes are refused.
_PLAIN_KINDS = "biufc"

# The byte orders a dtype of more than one byte may have in its pickled state.
_BYTE_ORDERS: dict[str, Literal["<", ">", "="]] = {"<": "<", ">": ">", "=": "="}


class _PendingDType:
    """What ``numpy.dtype(spec, align)`` makes here: a fresh plain numeric dtype, held until it is used.

    The pickle then ``BUILD``s it with the dtype's state. NumPy's ``dtype.__setstate__`` trusts that
    state: a flipped byte in a batch made it build a "uint8" whose flags claim object references
    (NumPy raised an internal error when the array made with it was freed) or whose fields were an
    integer (a segmentation fault). So the state is never handed to NumPy: it must be the one NumPy
    writes for a plain numeric dtype, and only its byte order is taken from it. The arrays, scalars
    and results that use the dtype get the real ``numpy.dtype`` (:func:`_dtype_of`, :func:`_as_plain`).
    """

    __slots__ = ("dtype",)

    def __init__(self, dtype: np.dtype) -> None:
        self.dtype = dtype

    def __setstate__(self, state: Any) -> None:
        # NumPy writes (3, byte order, None, None, None, -1, -1, 0) for every plain numeric dtype.
        if not (
            isinstance(state, tuple)
            and len(state) == 8
            and type(state[0]) is int
            and state[0] == 3
            and all(item is None for item in state[2:5])
            and all(type(item) is int for item in state[5:])
            and state[5:] == (-1, -1, 0)
        ):
            raise TypeError("a dtype's state must be the one NumPy writes for a plain numeric dtype")
        order = state[1].decode("latin-1") if isinstance(state[1], bytes) else state[1]
        if self.dtype.itemsize == 1 and order == "|":
            return
        if self.dtype.itemsize > 1 and isinstance(order, str) and order in _BYTE_ORDERS:
            # Through the type string, so that this machine's own order reads '=' as NumPy's has it.
            self.dtype = np.dtype(self.dtype.newbyteorder(_BYTE_ORDERS[order]).str)
            return
        raise TypeError(f"a dtype's byte order must be '<', '>' or '=' ('|' for one byte), got {state[1]!r:.20}")


def _dtype_of(value: Any, what: str) -> np.dtype:
    """The real dtype behind a :class:`_PendingDType` that the pickle passes to ``what``."""
    if not isinstance(value, _PendingDType):
        raise TypeError(f"{what} needs a numpy.dtype made by the pickle")
    return value.dtype


class _Array(np.ndarray):
    """The arrays the unpickler makes: an ndarray whose ``BUILD`` (``__setstate__``) checks the state
    it is handed before NumPy sees it. :func:`restricted_loads` returns them as plain ndarray views."""

    __slots__ = ()

    def __setstate__(self, state: Any) -> None:
        # NumPy writes (1, shape, dtype, is_fortran, raw bytes); the version is optional.
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise TypeError("an array's state must be (version, shape, dtype, is_fortran, data)")
        if len(state) == 5 and not (type(state[0]) is int and state[0] == 1):
            raise TypeError("an array's state must have version 1")
        shape, dtype, fortran, data = state[-4:]
        dtype = _dtype_of(dtype, "an array")
        # At most NumPy's 64 dimensions, each below 2**63 (as NumPy's own sizes are): checked before
        # the product, which a shape of thousands of huge integers would make slow.
        if (
            not isinstance(shape, tuple)
            or len(shape) > 64
            or not all(type(n) is int and 0 <= n < 2**63 for n in shape)
        ):
            raise TypeError("an array's shape must be a tuple of at most 64 non-negative integers below 2**63")
        if not isinstance(fortran, bool) or not isinstance(data, bytes):
            raise TypeError("an array's state must hold a bool and the array's bytes")
        if len(data) != math.prod(shape) * dtype.itemsize:
            raise TypeError(
                f"an array of shape {shape!s:.40} and dtype {dtype} needs {math.prod(shape) * dtype.itemsize} "
                f"bytes, got {len(data)}"
            )
        # NumPy's stubs ask for a numpy.bool flag; its C code parses an int, so a bool is what it takes.
        super().__setstate__((1, shape, dtype, fortran, data))  # type: ignore[arg-type]  # see the comment above


class _BufferArray(_Array):
    """An array ``_frombuffer`` made: complete already, so no state may follow (NumPy writes none)."""

    __slots__ = ()

    def __setstate__(self, state: Any) -> None:
        raise TypeError("an array made by _frombuffer takes no state")


def _as_plain(obj: Any) -> Any:
    """``obj`` with every :class:`_Array` in its containers (dict keys and values, lists, tuples,
    sets) replaced by an ndarray view and every :class:`_PendingDType` by its dtype.

    Each object is converted once, however many references a pickle makes to it (memo GETs share
    objects, as ``pickle.loads`` does): a 163-byte pickle nesting a list in itself twice, 22 levels
    deep, is 23 lists here, where converting every reference made 2**23 of them. Lists and dicts are
    the unpickler's own fresh objects, so they are converted in place, and the result has the same
    shared references and cycles the pickle describes.
    """
    # id -> (original, converted): the original is kept so that its id is not reused while this runs.
    memo: dict[int, tuple[Any, Any]] = {}

    def convert(item: Any) -> Any:
        if not isinstance(item, (_Array, _PendingDType, dict, list, tuple, set, frozenset)):
            return item
        seen = memo.get(id(item))
        if seen is not None:
            return seen[1]
        if isinstance(item, _Array):
            result: Any = item.view(np.ndarray)
        elif isinstance(item, _PendingDType):
            result = item.dtype
        elif isinstance(item, list):
            memo[id(item)] = (item, item)  # before the items: a list may hold itself
            for index, value in enumerate(item):
                plain = convert(value)
                if plain is not value:
                    item[index] = plain
            return item
        elif isinstance(item, dict):
            memo[id(item)] = (item, item)
            pairs = [(convert(key), key, value) for key, value in item.items()]
            if any(plain is not key for plain, key, _ in pairs):
                # A key changed (a dtype): rebuild the dict in its order, in place.
                item.clear()
                item.update((plain, value) for plain, _, value in pairs)
            for key, value in item.items():
                plain = convert(value)
                if plain is not value:
                    item[key] = plain
            return item
        else:  # tuple, set, frozenset: hashable members, so no cycle runs through them alone
            members = [convert(value) for value in item]
            changed = any(plain is not value for plain, value in zip(members, item, strict=True))
            result = type(item)(members) if changed else item
        memo[id(item)] = (item, result)
        return result

    return convert(obj)


class _Reconstruct(_Global):
    __slots__ = ()

    def __call__(self, subtype: Any, shape: Any, typecode: Any) -> np.ndarray:
        # NumPy always pickles arrays as _reconstruct(ndarray, (0,), b'b') followed by BUILD with
        # the real shape and bytes, which _Array.__setstate__ checks against the data it is given;
        # an empty start is all a genuine pickle asks for, so anything else is refused.
        if subtype is not _NDARRAY:
            raise TypeError("_reconstruct is only allowed for numpy.ndarray")
        if not isinstance(shape, tuple) or not all(type(n) is int and n >= 0 for n in shape):
            raise TypeError("_reconstruct needs a tuple of non-negative integers as the shape")
        if 0 not in shape:
            raise TypeError("_reconstruct is only allowed for an empty array")
        if typecode not in (b"b", "b"):
            raise TypeError("_reconstruct needs the type code 'b'")
        # NumPy's stubs type _reconstruct as returning object; it returns an instance of its first argument.
        return cast(np.ndarray, _np_reconstruct(_Array, shape, typecode))


class _DType(_Global):
    __slots__ = ()

    def __call__(self, spec: Any, align: Any = False, copy: Any = True) -> _PendingDType:
        # Always a fresh copy, whatever the pickle asks: np.dtype('u1') without copy is NumPy's
        # shared uint8 descriptor.
        if not (isinstance(align, int) and align in (0, 1)):
            raise TypeError("numpy.dtype's align must be a bool")
        if not isinstance(spec, (str, bytes)) or len(spec) > 8:
            raise TypeError("numpy.dtype needs a short type string such as 'u1'")
        dtype = np.dtype(spec.decode("latin-1") if isinstance(spec, bytes) else spec, bool(align), True)
        if dtype.kind not in _PLAIN_KINDS or dtype.fields is not None or dtype.subdtype is not None:
            raise TypeError(f"numpy.dtype is only allowed for booleans and numbers, got {dtype}")
        return _PendingDType(dtype)


class _Scalar(_Global):
    __slots__ = ()

    def __call__(self, dtype: Any, data: Any = None) -> Any:
        dtype = _dtype_of(dtype, "scalar")
        if not isinstance(data, bytes) or len(data) != dtype.itemsize:
            raise TypeError(f"scalar needs the {dtype.itemsize} bytes of one {dtype} value")
        return _np_scalar(dtype, data)


class _FromBuffer(_Global):
    __slots__ = ()

    def __call__(self, buffer: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
        dtype = _dtype_of(dtype, "_frombuffer")
        if not isinstance(buffer, (bytes, bytearray)):
            raise TypeError("_frombuffer needs bytes")
        if order not in ("C", "F"):
            raise TypeError("_frombuffer needs order 'C' or 'F'")
        array: np.ndarray = np.frombuffer(buffer, dtype=dtype).reshape(shape, order=order).view(_BufferArray)
        return array


class _Latin1Encode(_Global):
    __slots__ = ()

    def __call__(self, text: Any, encoding: Any = "utf-8") -> bytes:
        # Python 3 writes bytes at protocol 2 as _codecs.encode(text, 'latin1'); other codecs
        # (zlib, bz2, rot13, ...) are transforms no batch needs, so they are refused.
        if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
            raise TypeError("_codecs.encode is only allowed for str with encoding 'latin1'")
        return text.encode("latin-1")


class _EmptyBytes(_Global):
    __slots__ = ()

    def __call__(self, *args: Any) -> bytes:
        # Python 3 writes b'' at protocol 2 as bytes(); bytes(n) would allocate n bytes.
        if args:
            raise TypeError("bytes() is only allowed without arguments")
        return b""


_RECONSTRUCT = _Reconstruct()
_SCALAR = _Scalar()
_FROMBUFFER = _FromBuffer()
_EMPTY_BYTES = _EmptyBytes()

_ALLOWED: dict[tuple[str, str], _Global] = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _DType(),
    ("numpy.core.multiarray", "scalar"): _SCALAR,
    ("numpy._core.multiarray", "scalar"): _SCALAR,
    ("numpy.core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy._core.numeric", "_frombuffer"): _FROMBUFFER,
    ("_codecs", "encode"): _Latin1Encode(),
    ("__builtin__", "bytes"): _EMPTY_BYTES,
    ("builtins", "bytes"): _EMPTY_BYTES,
}

#: The most bytes :func:`load_pickle_file` reads: twice the largest CIFAR-10 batch (a ``data_batch_*``
#: of 10,000 images is about 31 MB), with room for batches re-saved by other pickle protocols.
MAX_PICKLE_BYTES = 64 << 20

#: The ``(module, name)`` globals a CIFAR-10 batch pickle may name; everything else is refused.
ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(_ALLOWED)


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, source: str) -> None:
        # encoding="bytes": Python 2 str (BINSTRING) stays bytes, as the arrays' raw data must.
        super().__init__(file, encoding="bytes")
        self._source = source

    def find_class(self, module: str, name: str) -> Any:
        # Called for GLOBAL, STACK_GLOBAL and INST (check_opcodes refuses EXT*) before anything is built, with
        # the names exactly as written in the file (no Python 2 -> 3 renaming has happened yet).
        allowed = _ALLOWED.get((module, name))
        if allowed is not None:
            return allowed
        raise DataError(
            f"{self._source}: refused to load the global {module!s:.80}.{name!s:.80}: a CIFAR-10 "
            "batch holds only NumPy arrays, strings, numbers and lists, so this file is either not "
            "a batch or an attempt to run code"
        )

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent ids are not allowed")


def restricted_loads(data: bytes, source: str = "<bytes>") -> Any:
    """Unpickle ``data`` allowing only :data:`ALLOWED_GLOBALS`.

    Args:
        data: the whole pickle; bytes after its STOP opcode are an error.
        source: how to name the data in messages (the file's path).

    Returns:
        The unpickled object (dicts, lists, bytes, str, numbers, NumPy arrays, dtypes, scalars).

    Raises:
        DataError: a refused global, or data that is truncated, malformed or not a pickle, naming
            ``source`` and what was wrong.
    """
    check_opcodes(data, source)  # limits on what the unpickler may build, before it builds anything
    stream = io.BytesIO(data)
    try:
        obj = _as_plain(_RestrictedUnpickler(stream, source).load())
    except DataError:
        raise
    except RecursionError as exc:
        raise DataError(f"{source}: not a valid pickle (nested too deeply)") from exc
    except EOFError as exc:
        raise DataError(f"{source}: the file is truncated or empty (the pickle ends early)") from exc
    except Exception as exc:
        # Only the wrappers above and the unpickler itself can raise here, so the message is ours
        # or the unpickler's; it is cut short because corrupt data can make it long.
        reason = f"{type(exc).__name__}: {exc}"
        if len(reason) > 200:
            reason = reason[:197] + "..."
        raise DataError(f"{source}: not a valid CIFAR-10 pickle (truncated or malformed: {reason})") from exc
    trailing = len(data) - stream.tell()
    if trailing:
        raise DataError(f"{source}: {trailing} unexpected bytes after the end of the pickle")
    return obj


def load_pickle_file(path: str | os.PathLike[str]) -> Any:
    """Read the regular file at ``path`` (at most :data:`MAX_PICKLE_BYTES`) and unpickle it with
    :func:`restricted_loads`.

    Raises:
        DataError: the file cannot be read, is not a regular file (a FIFO, a device such as
            ``/dev/zero`` behind a symlink), is too big, or its content is refused or malformed (naming
            the file).
    """
    # Read whole, so that every length inside the pickle is bounded by the file.
    data = read_regular_file(path, max_bytes=MAX_PICKLE_BYTES, what="the pickle file", error=DataError)
    return restricted_loads(data, os.fspath(path))
