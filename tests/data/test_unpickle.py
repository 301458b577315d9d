"""The restricted unpickler: real batch formats load, code never runs, garbage is a DataError."""

from __future__ import annotations

import copyreg
import io
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dropout_lab.data._pickle_scan import MAX_CHOSEN_HASH_KEYS, MAX_KEY_NODES
from dropout_lab.data._unpickle import ALLOWED_GLOBALS, load_pickle_file, restricted_loads
from dropout_lab.errors import DataError

from ._batches import PROTO2, binint, binstring, py2_array, py2_batch, random_batch

SOURCE = "/some/where/data_batch_9"
SMALL_DATA, SMALL_LABELS = random_batch(np.random.default_rng(11), 3)
SMALL = py2_batch(SMALL_DATA, SMALL_LABELS)
PLAIN = (dict, list, tuple, bytes, bytearray, str, int, float, bool, type(None), np.ndarray, np.dtype, np.generic)


# ------------------------------------------------------------------------------- payloads that run code


class _Reduce:
    """Pickles as ``func(*args)`` through the REDUCE opcode, as an attacker's object would."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _touch_command(marker: Path) -> str:
    return f"{sys.executable} -c \"open(r'{marker}', 'w').close()\""


def _touch_source(marker: Path) -> str:
    return f"open(r'{marker}', 'w').close()"


def _global(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _unicode(text: str) -> bytes:
    data = text.encode()
    return b"X" + len(data).to_bytes(4, "little") + data


def payloads(marker: Path) -> dict[str, bytes]:
    """Pickles that would create ``marker`` if their globals were resolved and called."""
    cmd = _touch_command(marker)
    src = _touch_source(marker)
    made = {
        "os.system REDUCE (posix.system)": pickle.dumps(_Reduce(os.system, cmd), protocol=2),
        "os.system REDUCE protocol 0": pickle.dumps(_Reduce(os.system, cmd), protocol=0),
        "builtins.eval REDUCE": pickle.dumps(_Reduce(eval, src), protocol=2),
        "builtins.exec STACK_GLOBAL": pickle.dumps(_Reduce(exec, src), protocol=4),
        "subprocess.Popen STACK_GLOBAL": pickle.dumps(
            _Reduce(subprocess.Popen, [sys.executable, "-c", src]), protocol=5
        ),
        "os.system GLOBAL by hand": PROTO2 + _global("os", "system") + b"(" + _unicode(cmd) + b"tR.",
        "posix.system GLOBAL by hand": PROTO2 + _global("posix", "system") + b"(" + _unicode(cmd) + b"tR.",
        "os.system INST": b"(" + _unicode(cmd) + b"ios\nsystem\n.",
        "os.system OBJ": PROTO2 + b"(" + _global("os", "system") + _unicode(cmd) + b"o.",
        "builtins.eval OBJ": PROTO2 + b"(" + _global("builtins", "eval") + _unicode(src) + b"o.",
        "__builtin__.eval (Python 2 name)": PROTO2 + _global("__builtin__", "eval") + b"(" + _unicode(src) + b"tR.",
        "subprocess.Popen NEWOBJ": PROTO2 + _global("subprocess", "Popen") + b"(" + _unicode(cmd) + b"t\x81.",
        "builtins.getattr chain": PROTO2
        + _global("builtins", "getattr")
        + b"("
        + _global("os", "system")
        + _unicode("__call__")
        + b"tR("
        + _unicode(cmd)
        + b"tR.",
        "numpy.load (another numpy global)": PROTO2 + _global("numpy", "load") + b"(" + _unicode(str(marker)) + b"tR.",
        # Hidden inside an otherwise valid batch, after the array: refused mid-stream.
        "payload inside a real batch": py2_batch(
            np.zeros((2, 3072), np.uint8), [1, 2], batch_label=b"x"
        )[:-2]
        + binstring(b"extra")
        + _global("os", "system")
        + b"("
        + _unicode(cmd)
        + b"tRu.",
    }
    return made


PAYLOAD_NAMES = sorted(payloads(Path("/nonexistent/marker")))


@pytest.mark.parametrize("name", PAYLOAD_NAMES)
def test_pickles_that_run_code_are_refused_and_do_not_run(name, tmp_path):
    marker = tmp_path / "marker"
    data = payloads(marker)[name]
    with pytest.raises(DataError, match="refused to load the global") as info:
        restricted_loads(data, SOURCE)
    assert SOURCE in str(info.value)
    assert not marker.exists()
    # The same through a file: the message names the file.
    path = tmp_path / "data_batch_1"
    path.write_bytes(data)
    with pytest.raises(DataError, match="refused") as info:
        load_pickle_file(path)
    assert str(path) in str(info.value)
    assert not marker.exists()


@pytest.mark.parametrize("name", ["os.system GLOBAL by hand", "builtins.eval REDUCE", "os.system INST"])
def test_the_payloads_do_run_under_plain_pickle(name, tmp_path):
    """Control: the payloads above are real, so their refusal is what keeps the marker away."""
    marker = tmp_path / "marker"
    pickle.loads(payloads(marker)[name])  # noqa: S301 - our own payload, to prove it works
    assert marker.exists()


def test_refusal_names_the_global(tmp_path):
    marker = tmp_path / "marker"
    with pytest.raises(DataError, match=r"os\.system"):
        restricted_loads(payloads(marker)["os.system GLOBAL by hand"], SOURCE)
    with pytest.raises(DataError, match=r"subprocess\.Popen"):
        restricted_loads(payloads(marker)["subprocess.Popen STACK_GLOBAL"], SOURCE)


@pytest.mark.parametrize("warm", [False, True], ids=["registry", "cached"])
@pytest.mark.parametrize(("opcode", "width"), [(b"\x82", 1), (b"\x83", 2), (b"\x84", 4)], ids=["EXT1", "EXT2", "EXT4"])
def test_extension_registry_opcodes_are_refused_too(opcode, width, warm, tmp_path):
    marker = tmp_path / "marker"
    code = {1: 0xF1, 2: 0xF1F2, 4: 0x7F3A1}[width]  # extension codes nobody else registers
    copyreg.add_extension("os", "system", code)
    ext = opcode + code.to_bytes(width, "little")
    try:
        if warm:  # a plain unpickling of the opcode alone caches os.system; nothing is called
            assert pickle.loads(PROTO2 + ext + b".") is os.system  # noqa: S301 - our own bytes
        data = PROTO2 + ext + b"(" + _unicode(_touch_command(marker)) + b"tR."
        name = {1: "EXT1", 2: "EXT2", 4: "EXT4"}[width]
        with pytest.raises(DataError, match=rf"{SOURCE}: refused: opcode 1 \({name}\) loads a global through copyreg"):
            restricted_loads(data, SOURCE)
    finally:
        copyreg.remove_extension("os", "system", code)
        copyreg.clear_extension_cache()
    assert not marker.exists()


def test_allowed_globals_are_exactly_what_batches_need():
    assert ("numpy.core.multiarray", "_reconstruct") in ALLOWED_GLOBALS
    assert ("numpy._core.multiarray", "_reconstruct") in ALLOWED_GLOBALS
    assert {module for module, _ in ALLOWED_GLOBALS} <= {
        "numpy",
        "numpy.core.multiarray",
        "numpy._core.multiarray",
        "numpy.core.numeric",
        "numpy._core.numeric",
        "_codecs",
        "__builtin__",
        "builtins",
    }
    assert ("builtins", "eval") not in ALLOWED_GLOBALS
    assert {name for module, name in ALLOWED_GLOBALS if module in ("builtins", "__builtin__")} == {"bytes"}


# -------------------------------------------------------------------- the allowed globals, abused


def _reconstruct_call(
    shape: bytes, typecode: bytes = binstring(b"b"), subtype: bytes = _global("numpy", "ndarray")
) -> bytes:
    return PROTO2 + _global("numpy.core.multiarray", "_reconstruct") + b"(" + subtype + shape + typecode + b"tR."


# Each would work with NumPy's and Python's own callables (a test below checks that), and with an
# attacker's sizes (2**40 rather than 1000) would allocate memory before any check could look at it.
ABUSES = {
    "_reconstruct of a non-empty shape": _reconstruct_call(b"(" + binint(1000) + b"t"),
    "_reconstruct of an object array": _reconstruct_call(b"(" + binint(1000) + b"t", binstring(b"O")),
    # NEWOBJ would call ndarray.__new__(ndarray, shape, object), filling memory with None.
    "NEWOBJ of numpy.ndarray": (
        PROTO2 + _global("numpy", "ndarray") + b"((" + binint(1000) + b"t" + binstring(b"O") + b"t\x81."
    ),
    "REDUCE of numpy.ndarray": PROTO2 + _global("numpy", "ndarray") + b"((" + binint(1000) + b"tt" + b"R.",
    "bytes(n) allocates n bytes": PROTO2 + _global("__builtin__", "bytes") + b"(" + binint(1000) + b"tR.",
    "_codecs.encode with a zlib codec": (
        PROTO2 + _global("_codecs", "encode") + b"(" + binstring(b"x") + _unicode("zlib") + b"tR."
    ),
    # BUILD's slot state would setattr() on the shared object, its dict state update __dict__.
    "BUILD slot state on an allowed global": (
        PROTO2 + _global("numpy", "dtype") + b"N}" + binstring(b"__call__") + b"Ns\x86b."
    ),
    "BUILD dict state on an allowed global": PROTO2 + _global("_codecs", "encode") + b"}" + binstring(b"x") + b"Nsb.",
}


@pytest.mark.parametrize("name", sorted(ABUSES))
def test_allowed_globals_accept_plain_data_only(name):
    with pytest.raises(DataError) as info:
        restricted_loads(ABUSES[name], SOURCE)
    assert SOURCE in str(info.value)
    # Nothing was tampered with: a batch still loads.
    assert np.array_equal(restricted_loads(SMALL, SOURCE)[b"data"], SMALL_DATA)


@pytest.mark.parametrize(
    "name",
    [
        "_reconstruct of a non-empty shape",
        "_reconstruct of an object array",
        "NEWOBJ of numpy.ndarray",
        "REDUCE of numpy.ndarray",
        "bytes(n) allocates n bytes",
        "_codecs.encode with a zlib codec",
    ],
)
def test_the_abuses_do_work_under_plain_pickle(name):
    """Control: plain pickle builds these, so the refusals above come from the restrictions."""
    obj = pickle.loads(ABUSES[name], encoding="bytes")  # noqa: S301 - data-only payloads
    assert len(obj) >= 1000 or isinstance(obj, bytes)


def test_dtype_from_a_pickle_is_a_copy_not_numpys_shared_descriptor():
    # np.dtype('u1', False, False) would be NumPy's own uint8 descriptor, and BUILD then calls its
    # __setstate__; the unpickler always makes a copy.
    data = PROTO2 + _global("numpy", "dtype") + b"(" + binstring(b"u1") + b"\x89\x89tR."
    dtype = restricted_loads(data, SOURCE)
    assert dtype == np.dtype(np.uint8)
    assert dtype is not np.dtype(np.uint8)



# NumPy's dtype flags (numpy/_core/include/numpy/ndarraytypes.h): item holds references (1), list
# pickle (2), item is a pointer (4), needs init (8), needs the Python API (16), getitem (32).
@pytest.mark.parametrize("flags", [1, 2, 4, 8, 16, 32, 63])
def test_dtypes_with_forged_flags_are_refused_before_an_array_is_made(flags):
    # Found by fuzzing a batch: a "uint8" whose state claims object references compares equal to
    # uint8, and NumPy raised an internal error when the array made with it was freed.
    data = PROTO2 + b"}(" + binstring(b"data") + py2_array(SMALL_DATA, dtype_flags=flags) + b"u."
    with pytest.raises(DataError, match="the one NumPy writes for a plain numeric dtype"):
        restricted_loads(data, SOURCE)


def test_a_forged_dtype_is_refused_for_scalars_and_protocol_5_arrays():
    forged = (
        _global("numpy", "dtype") + b"(" + binstring(b"u1") + b"\x89\x88tR"
        + b"(" + binint(3) + binstring(b"|") + b"NNN" + binint(-1) + binint(-1) + binint(1) + b"tb"
    )  # fmt: skip
    scalar = PROTO2 + _global("numpy._core.multiarray", "scalar") + b"(" + forged + binstring(b"\x07") + b"tR."
    with pytest.raises(DataError, match="plain numeric dtype"):
        restricted_loads(scalar, SOURCE)
    from_buffer = (
        PROTO2 + _global("numpy._core.numeric", "_frombuffer") + b"(" + binstring(b"\x01\x02")
        + forged + b"(" + binint(2) + b"t" + _unicode("C") + b"tR."
    )  # fmt: skip
    with pytest.raises(DataError, match="plain numeric dtype"):
        restricted_loads(from_buffer, SOURCE)


def test_build_on_a_protocol_5_array_is_refused():
    good = _global("numpy", "dtype") + b"(" + binstring(b"u1") + b"\x89\x88tR"
    forged = good + b"(" + binint(3) + binstring(b"|") + b"NNN" + binint(-1) + binint(-1) + binint(1) + b"tb"
    array = (
        _global("numpy._core.numeric", "_frombuffer") + b"(" + binstring(b"\x01\x02") + good
        + b"(" + binint(2) + b"t" + _unicode("C") + b"tR"
    )  # fmt: skip
    with pytest.raises(DataError, match="the one NumPy writes for a plain numeric dtype"):
        restricted_loads(PROTO2 + array + b"(" + forged + b"tb.", SOURCE)
    # Nor any state at all: a _frombuffer array is complete (NumPy writes none after it).
    state = b"(" + binint(1) + b"(" + binint(2) + b"t" + good + b"\x89" + binstring(b"\x03\x04") + b"tb"
    with pytest.raises(DataError, match="takes no state"):
        restricted_loads(PROTO2 + array + state + b".", SOURCE)
    assert np.array_equal(restricted_loads(PROTO2 + array + b".", SOURCE), [1, 2])  # control



def test_a_dtype_state_with_an_integer_for_fields_is_refused_without_crashing():
    # Found by fuzzing: one flipped byte (None -> BINPUT) shortened the dtype's state so that NumPy's
    # dtype.__setstate__ took -1 for the fields and the interpreter died of a segmentation fault. A
    # child process, so that a regression is a failed test rather than a dead test run.
    data = bytearray(SMALL)
    where = data.index(b"NNNJ\xff\xff\xff\xff")
    data[where] = ord("q")
    # The flip made BINPUT 78 ('N'), which the opcode scan now refuses before the dtype is built; with
    # BINPUT 0 the same shortened state reaches the dtype, whose check is what this test is about.
    data[where + 1] = 0
    code = (
        "import sys\n"
        "from dropout_lab.data._unpickle import restricted_loads\n"
        "from dropout_lab.errors import DataError\n"
        "try:\n"
        "    restricted_loads(sys.stdin.buffer.read(), 'x')\n"
        "except DataError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run(  # noqa: S603 - this interpreter, our code
        [sys.executable, "-c", code], input=bytes(data), capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    assert b"the one NumPy writes for a plain numeric dtype" in done.stdout


def _dtype_pickle(spec: bytes, state: bytes) -> bytes:
    return PROTO2 + _global("numpy", "dtype") + b"(" + binstring(spec) + b"\x89\x88tR" + state + b"b."


def _state(*items: bytes) -> bytes:
    return b"(" + b"".join(items) + b"t"


_CANONICAL = [binint(3), binstring(b"|"), b"N", b"N", b"N", binint(-1), binint(-1), binint(0)]


@pytest.mark.parametrize(
    "spec, state",
    [
        (b"u1", _state(*_CANONICAL[:7])),  # one item short
        (b"u1", _state(*_CANONICAL, b"N")),  # metadata
        (b"u1", _state(binint(4), *_CANONICAL[1:])),  # another version
        (b"u1", _state(*_CANONICAL[:3], binstring(b"x"), *_CANONICAL[4:])),  # names
        (b"u1", _state(*_CANONICAL[:4], b"}", *_CANONICAL[5:])),  # fields
        (b"u1", _state(*_CANONICAL[:5], binint(4), *_CANONICAL[6:])),  # element size
        (b"u1", _state(*_CANONICAL[:1], binstring(b"<"), *_CANONICAL[2:])),  # byte order of 1 byte
        (b"i4", _state(*_CANONICAL)),  # no byte order for 4 bytes
        (b"u1", b"N"),  # not a tuple
    ],
)
def test_dtype_states_other_than_numpys_own_are_refused(spec, state):
    with pytest.raises(DataError, match="dtype's"):
        restricted_loads(_dtype_pickle(spec, state), SOURCE)


@pytest.mark.parametrize("spec", [b"O", b"U3", b"S4", b"V8", b"M8", b"m8", b"u1,u1"])
def test_dtypes_other_than_booleans_and_numbers_are_refused(spec):
    data = PROTO2 + _global("numpy", "dtype") + b"(" + binstring(spec) + b"\x89\x88tR."
    with pytest.raises(DataError, match="only allowed for booleans and numbers|short type string"):
        restricted_loads(data, SOURCE)


@pytest.mark.parametrize("dtype", [">i4", "<i4", ">f8", "<c8", "?", "u1", "<u8"])
def test_numeric_arrays_and_scalars_load_as_numpys_own_unpickling_loads_them(dtype):
    array = np.arange(6).astype(dtype).reshape(2, 3)
    for protocol in (2, 4):
        data = pickle.dumps({"a": array, "s": array[0, 1]}, protocol=protocol)
        loaded = restricted_loads(data, SOURCE)
        expected = pickle.loads(data)  # noqa: S301 - our own data
        # NumPy itself returns big-endian arrays in this machine's order, the values unchanged.
        assert loaded["a"].dtype == expected["a"].dtype and loaded["a"].dtype.byteorder == expected["a"].dtype.byteorder
        assert np.array_equal(loaded["a"], array) and loaded["s"] == array[0, 1]
        assert type(loaded["s"]) is type(expected["s"]) and loaded["s"].dtype == expected["s"].dtype


def test_array_states_must_match_their_bytes():
    good = py2_array(np.zeros((2, 3), dtype=np.uint8))
    short = good.replace(binstring(bytes(6)), binstring(bytes(5)))
    assert short != good
    with pytest.raises(DataError, match="needs 6 bytes, got 5"):
        restricted_loads(PROTO2 + short + b".", SOURCE)


def test_loaded_arrays_are_plain_ndarrays_wherever_they_are():
    rng = np.random.default_rng(3)
    data, labels = random_batch(rng, 2)
    nested = {"data": data, "more": [data[:1], (data[1:], {"deep": data})]}
    for protocol in (2, 5):
        loaded = restricted_loads(pickle.dumps(nested, protocol=protocol), SOURCE)
        arrays = [loaded["data"], loaded["more"][0], loaded["more"][1][0], loaded["more"][1][1]["deep"]]
        assert [type(a) for a in arrays] == [np.ndarray] * 4
        assert np.array_equal(arrays[3], data) and np.array_equal(arrays[1], data[:1])
    batch = restricted_loads(SMALL, SOURCE)
    assert type(batch[b"data"]) is np.ndarray


def test_no_internal_object_leaks_through_keys_or_sets():
    # A dtype is hashable, so a pickle can use one as a dict key or a set member (protocol 4 sets).
    data = pickle.dumps({np.dtype(np.uint8): [frozenset({np.dtype(np.int64)}), {np.dtype(np.float32)}]}, protocol=4)
    loaded = restricted_loads(data, SOURCE)
    ((key, (frozen, mutable)),) = loaded.items()
    assert type(key) is type(np.dtype(np.uint8)) and key == np.uint8
    assert type(frozen) is frozenset and frozen == {np.dtype(np.int64)}
    assert type(mutable) is set and mutable == {np.dtype(np.float32)}

# ------------------------------------------------------------------------------- formats that load


@pytest.mark.parametrize("module", [b"numpy.core.multiarray", b"numpy._core.multiarray"])
def test_python2_batch_arrays_load_under_both_numpy_module_names(module):
    rng = np.random.default_rng(5)
    data, labels = random_batch(rng, 7)
    batch = restricted_loads(py2_batch(data, labels, module=module), SOURCE)
    assert set(batch) == {b"batch_label", b"labels", b"data", b"filenames"}
    assert batch[b"data"].dtype == np.uint8
    assert np.array_equal(batch[b"data"], data)
    assert batch[b"labels"] == labels.tolist()


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
@pytest.mark.parametrize("str_keys", [False, True])
def test_python3_resaved_batches_load(protocol, str_keys):
    rng = np.random.default_rng(protocol)
    data, labels = random_batch(rng, 6)
    keys = ["batch_label", "labels", "data", "filenames", "empty"]
    values = [b"resaved", labels.tolist(), data, [b"a.png"] * 6, b""]
    batch = {(k if str_keys else k.encode()): v for k, v in zip(keys, values, strict=True)}
    loaded = restricted_loads(pickle.dumps(batch, protocol=protocol), SOURCE)
    key = (lambda k: k) if str_keys else (lambda k: k.encode())
    assert np.array_equal(loaded[key("data")], data)
    assert loaded[key("labels")] == labels.tolist()
    assert loaded[key("batch_label")] == b"resaved"
    assert loaded[key("empty")] == b""


def test_numpy_integer_labels_load():
    labels = [np.int64(3), np.uint8(9)]
    loaded = restricted_loads(pickle.dumps({"labels": labels}, protocol=2), SOURCE)
    assert loaded["labels"] == [3, 9]
    assert [type(v) for v in loaded["labels"]] == [np.int64, np.uint8]


# ------------------------------------------------------------------------------- malformed input




@pytest.mark.parametrize("cut", [0, 1, 2, 3, 20, 60, 120, len(SMALL) // 2, len(SMALL) - 200, len(SMALL) - 1])
def test_truncated_batches_are_data_errors(cut):
    with pytest.raises(DataError) as info:
        restricted_loads(SMALL[:cut], SOURCE)
    assert SOURCE in str(info.value)


def test_bytes_after_the_pickle_are_a_data_error():
    with pytest.raises(DataError, match="unexpected bytes after the end"):
        restricted_loads(SMALL + b"\x00junk", SOURCE)


def test_persistent_ids_are_refused():
    with pytest.raises(DataError, match=SOURCE):
        restricted_loads(PROTO2 + binstring(b"id") + b"Q.", SOURCE)


def test_unreadable_files_are_data_errors_naming_them(tmp_path):
    with pytest.raises(DataError, match="missing_file"):
        load_pickle_file(tmp_path / "missing_file")
    with pytest.raises(DataError, match=str(tmp_path)):
        load_pickle_file(tmp_path)  # a folder


@given(st.binary(max_size=300))
def test_fuzz_random_bytes_give_data_error_only(data):
    try:
        obj = restricted_loads(data, SOURCE)
    except DataError as exc:
        assert SOURCE in str(exc)
    else:
        assert isinstance(obj, PLAIN)


@given(st.integers(0, len(SMALL) - 1))
def test_fuzz_truncation_gives_data_error_only(cut):
    with pytest.raises(DataError):
        restricted_loads(SMALL[:cut], SOURCE)


@given(st.lists(st.tuples(st.integers(0, len(SMALL) - 1), st.integers(0, 255)), min_size=1, max_size=4))
def test_fuzz_corrupted_bytes_give_data_error_or_data(edits):
    corrupted = bytearray(SMALL)
    for position, value in edits:
        corrupted[position] = value
    try:
        obj = restricted_loads(bytes(corrupted), SOURCE)
    except DataError as exc:
        assert SOURCE in str(exc)
    else:
        # A flip inside pixel bytes or a label still makes a pickle; it is plain data.
        assert isinstance(obj, PLAIN)


def test_py2_array_helper_round_trips():
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    data = PROTO2 + py2_array(array) + b"."
    assert np.array_equal(restricted_loads(data, SOURCE), array)
    assert np.array_equal(pickle.load(io.BytesIO(data), encoding="bytes"), array)  # noqa: S301 (our own bytes: NumPy's unpickling is the oracle)


# ------------------------------------------------------------------------------- bounded by the file


def _list_bomb(levels: int, leaf: object = 0, protocol: int = 2) -> bytes:
    """``L = [leaf]``, then ``levels`` times ``L = [L, L]``: the pickle grows by a few bytes a level
    (memo GETs share ``L``), its expansion into a tree doubles every level."""
    nested: object = [leaf]
    for _ in range(levels):
        nested = [nested, nested]
    return pickle.dumps(nested, protocol=protocol)


def _bombs(levels: int) -> dict[str, bytes]:
    tuples: object = (0,)
    dicts: object = {"a": 0}
    for _ in range(levels):
        tuples = (tuples, tuples)
        dicts = {"a": dicts, "b": dicts}
    return {
        "lists": _list_bomb(levels),
        "tuples": pickle.dumps(tuples, protocol=2),
        "dicts": pickle.dumps(dicts, protocol=2),
        # Leaves that the unpickler converts (an array, a dtype as a key): shared, not copied.
        "arrays": _list_bomb(levels, np.arange(3, dtype=np.uint8)),
        "dtype keys": _list_bomb(levels, {np.dtype(np.uint8): [np.dtype(np.int64)]}, protocol=4),
    }


@pytest.mark.parametrize("kind", sorted(_bombs(1)))
def test_shared_references_are_not_expanded(kind):
    # Converting every reference into a fresh object made 2**19 lists (tens of MB) from these
    # 150-byte pickles, and twice that per level more: a 163-byte pickle took 1.4 GB.
    import tracemalloc

    data = _bombs(18)[kind]
    tracemalloc.start()
    try:
        loaded = restricted_loads(data, SOURCE)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 200 * len(data) + (64 << 10), f"{peak} bytes traced for a {len(data)}-byte pickle"
    step = "a" if kind == "dicts" else 0
    assert loaded[step] is loaded["b" if kind == "dicts" else 1]  # shared, as pickle.loads shares it
    leaf, expected = loaded, pickle.loads(data)  # noqa: S301 - our own data
    for _ in range(19):
        leaf, expected = leaf[step], expected[step]
    if kind == "arrays":
        assert type(leaf) is np.ndarray and np.array_equal(leaf, expected)
    elif kind == "dtype keys":
        ((key, value),) = leaf.items()
        assert type(key) is type(np.dtype(np.uint8)) and key == np.uint8 and value == [np.dtype(np.int64)]
    else:
        assert leaf == expected == 0


def test_a_deep_list_bomb_loads_at_once_in_a_small_address_space(tmp_path):
    # 60 levels: 2**61 lists if expanded. A child with a 2 GB address-space cap, so that a regression
    # is a quick failure, not a machine out of memory; through the file loader, as the CLI reads it.
    path = tmp_path / "data_batch_1"
    path.write_bytes(_list_bomb(60))
    code = (
        "import resource, sys\n"
        "from dropout_lab.data._unpickle import load_pickle_file\n"
        "resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))\n"
        "loaded = load_pickle_file(sys.argv[1])\n"
        "assert loaded[0] is loaded[1]\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, timeout=60)  # noqa: S603 - this interpreter, our code
    assert done.returncode == 0 and done.stdout == b"ok\n", done.stderr.decode(errors="replace")[-2000:]


def test_cycles_load_as_pickle_loads_them():
    # Converted in place, a list that holds itself is no longer a RecursionError.
    cyclic: list = [np.arange(2)]
    cyclic.append(cyclic)
    holder = {"self": cyclic, "pair": (cyclic,)}
    loaded = restricted_loads(pickle.dumps(holder, protocol=2), SOURCE)
    assert loaded["self"][1] is loaded["self"] and loaded["pair"][0] is loaded["self"]
    assert type(loaded["self"][0]) is np.ndarray


def test_a_symlink_to_dev_zero_is_refused_not_read_until_memory_runs_out(tmp_path):
    # Read whole, /dev/zero never ends: a child with a 2 GB address-space cap, so that a regression
    # is a failed test, not a machine out of memory.
    link = tmp_path / "data_batch_1"
    link.symlink_to("/dev/zero")
    code = (
        "import resource, sys\n"
        "from dropout_lab.data._unpickle import load_pickle_file\n"
        "from dropout_lab.errors import DataError\n"
        "resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))\n"
        "try:\n"
        "    load_pickle_file(sys.argv[1])\n"
        "except DataError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(link)], capture_output=True, timeout=60)  # noqa: S603 - this interpreter, our code
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    assert done.stdout.decode() == f"cannot read the pickle file {link}: it is a character device, not a regular file\n"


def test_a_fifo_is_refused_instead_of_blocking(tmp_path):
    fifo = tmp_path / "data_batch_1"
    os.mkfifo(fifo)
    code = (
        "import sys\n"
        "from dropout_lab.data._unpickle import load_pickle_file\n"
        "from dropout_lab.errors import DataError\n"
        "try:\n"
        "    load_pickle_file(sys.argv[1])\n"
        "except DataError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(fifo)], capture_output=True, timeout=30)  # noqa: S603 - this interpreter, our code
    message = f"cannot read the pickle file {fifo}: it is a FIFO (named pipe), not a regular file\n"
    assert done.stdout.decode() == message


def test_a_file_bigger_than_any_batch_is_refused_before_it_is_read(tmp_path):
    from dropout_lab.data._unpickle import MAX_PICKLE_BYTES

    path = tmp_path / "data_batch_1"
    with open(path, "wb") as handle:
        handle.truncate(MAX_PICKLE_BYTES + 1)
    with pytest.raises(DataError, match=f"{path}: it holds 67,108,865 bytes, more than the 67,108,864"):
        load_pickle_file(path)
    path.write_bytes(SMALL)  # control
    assert np.array_equal(load_pickle_file(path)[b"data"], SMALL_DATA)


@pytest.mark.parametrize("index", [3, 1 << 27, (1 << 32) - 1])
def test_memo_indices_beyond_the_objects_made_are_refused_before_the_memo_grows(index):
    # CPython's unpickler sizes its memo by the index it is given: this 9-byte pickle took 2 GB at
    # 2**27, and 2**32 - 1 asks for 64 GB.
    data = PROTO2 + b"N" + b"r" + index.to_bytes(4, "little") + b"."
    with pytest.raises(DataError, match=rf"{SOURCE}: not a valid pickle: opcode 2 stores memo entry {index:,}"):
        restricted_loads(data, SOURCE)


def test_memo_indices_with_gaps_still_load():
    # An index up to the number of opcodes before it is a pickle some tool could write (an optimizer
    # that drops unused entries without renumbering them): loaded, not refused.
    data = PROTO2 + b"]" + b"q\x01" + b"N" + b"q\x03" + b"a" + b"h\x03" + b"a" + b"."
    assert restricted_loads(data, SOURCE) == [None, None]


def test_pickles_of_more_opcodes_than_any_batch_are_refused_at_once():
    from dropout_lab.data._unpickle import MAX_PICKLE_OPCODES

    data = PROTO2 + b"N0" * (MAX_PICKLE_OPCODES // 2) + b"N."
    with pytest.raises(DataError, match=f"more than {MAX_PICKLE_OPCODES:,} opcodes"):
        restricted_loads(data, SOURCE)
    assert restricted_loads(PROTO2 + b"N0" * 1000 + b"N.", SOURCE) is None  # control: fewer of them


# ------------------------------------------------------------------------------- keys cheap to hash


def _tuple_bomb(levels: int) -> tuple:
    """``t = (0,)``, then ``levels`` times ``t = (t, t)``: a few bytes a level in a pickle (memo GETs),
    but hashing it visits ``2**levels`` tuples (a tuple's hash is not cached)."""
    nested: tuple = (0,)
    for _ in range(levels):
        nested = (nested, nested)
    return nested


def _key_bombs(levels: int) -> dict[str, bytes]:
    # Made by hand: pickle.dumps({key: 1}) would hash the key itself (a tuple pickles without hashing).
    bomb = pickle.dumps(_tuple_bomb(levels), protocol=2)[2:-1]  # its opcodes, without PROTO and STOP
    proto4 = b"\x80\x04"
    return {
        "dict key (SETITEMS)": PROTO2 + b"}(" + bomb + b"K\x01" + binstring(b"b") + b"K\x02u.",
        "dict key (SETITEM)": PROTO2 + b"}" + bomb + b"K\x01s.",
        "dict key (DICT)": PROTO2 + b"(" + bomb + b"K\x01d.",
        "set member (ADDITEMS)": proto4 + b"\x8f(" + bomb + b"\x90.",
        "frozenset member (FROZENSET)": proto4 + b"(" + bomb + b"\x91.",
    }


@pytest.mark.parametrize("levels", [26, 60])
@pytest.mark.parametrize("kind", sorted(_key_bombs(1)))
def test_keys_that_take_exponential_time_to_hash_are_refused_at_once(kind, levels):
    # 26 levels took CPython's unpickler 2.4 s to hash (at constant memory), 60 would take centuries.
    data = _key_bombs(levels)[kind]
    assert len(data) < 1000
    refused = rf"{SOURCE}: refused: opcode [\d,]+ hashes a dict key or set member of more than {MAX_KEY_NODES} nodes"
    with pytest.raises(DataError, match=refused):
        restricted_loads(data, SOURCE)


@pytest.mark.parametrize("kind", sorted(_key_bombs(1)))
def test_small_tuples_as_keys_still_load(kind):
    # 4 levels: 47 nodes (the 1 and the tuple (1,), then each level one tuple and its two items):
    # within the bound, so loaded as pickle.loads loads them.
    data = _key_bombs(4)[kind]
    assert restricted_loads(data, SOURCE) == pickle.loads(data, encoding="bytes")  # noqa: S301 - our own bytes


def test_a_shared_tuple_as_a_value_is_not_a_key_and_loads():
    data = pickle.dumps({b"shape": _tuple_bomb(60)}, protocol=2)
    loaded = restricted_loads(data, SOURCE)[b"shape"]
    assert loaded[0] is loaded[1]


def test_an_integer_key_of_thousands_of_digits_is_refused():
    # Cheap to hash, but such keys are what colliding hashes are made of, and no batch has one.
    data = pickle.dumps({10**5000: 1}, protocol=2)
    with pytest.raises(DataError, match=rf"{SOURCE}: refused: .* more than {MAX_KEY_NODES} nodes"):
        restricted_loads(data, SOURCE)
    assert restricted_loads(pickle.dumps({2**1000: 1}, protocol=2), SOURCE) == {2**1000: 1}


def _colliding(count: int) -> dict[int, int]:
    # k * (2**61 - 1) hashes to 0 for every k: each insertion compares with every key before it.
    return {k * ((1 << 61) - 1): 0 for k in range(1, count + 1)}


def test_keys_with_colliding_hashes_are_bounded_in_number():
    # 20,000 of them took CPython's unpickler 6.4 s (quadratic); the opcode bound allows 300,000.
    refused = rf"{SOURCE}: refused: the pickle has more than {MAX_CHOSEN_HASH_KEYS:,} dict keys"
    with pytest.raises(DataError, match=refused):
        restricted_loads(pickle.dumps(_colliding(MAX_CHOSEN_HASH_KEYS + 1), protocol=2), SOURCE)
    assert restricted_loads(pickle.dumps(_colliding(MAX_CHOSEN_HASH_KEYS), protocol=2), SOURCE) == _colliding(
        MAX_CHOSEN_HASH_KEYS
    )


def test_string_and_small_integer_keys_are_not_counted():
    many = {**{i: i for i in range(5000)}, **{str(i): i for i in range(5000)}, **{b"%d" % i: i for i in range(5000)}}
    assert restricted_loads(pickle.dumps(many, protocol=2), SOURCE) == many


@pytest.mark.parametrize(
    "data",
    [PROTO2 + b"a.", PROTO2 + b"Nu.", PROTO2 + b"h\x05.", PROTO2 + b"]NN(s.", PROTO2 + b"(2."],
    ids=["APPEND on nothing", "SETITEMS without a mark", "GET never PUT", "SETITEM under a mark", "DUP under a mark"],
)
def test_opcodes_with_nothing_to_work_on_are_refused_by_the_scan(data):
    with pytest.raises(DataError, match=rf"{SOURCE}: not a valid pickle: opcode \d+ \(\w+\) finds no object"):
        restricted_loads(data, SOURCE)
    with pytest.raises(Exception):  # noqa: B017 - whatever it raises, the C unpickler refuses them too
        pickle.loads(data)  # noqa: S301 - our own bytes


@pytest.mark.parametrize(
    "dims",
    [
        [1] * 65,  # more dimensions than NumPy has
        [2**63, 0],  # a size NumPy cannot have (the product is 0: only the bound refuses it)
        [10**600] * 2000 + [0],  # thousands of huge integers: their product alone would take long
    ],
    ids=["65 dims", "2**63", "2000 huge ints"],
)
def test_array_shapes_are_bounded_before_their_product(dims):
    good = py2_array(np.zeros((2, 3), dtype=np.uint8))
    shape = b"(" + binint(2) + binint(3) + b"t"
    assert good.count(shape) == 1
    huge = b"(" + b"".join(b"L%dL\n" % n for n in dims) + b"t"  # LONG opcodes: any size
    with pytest.raises(DataError, match="at most 64 non-negative integers below 2\\*\\*63"):
        restricted_loads(PROTO2 + good.replace(shape, huge).replace(binstring(bytes(6)), binstring(b"")) + b".", SOURCE)
