"""The opcode scan that :func:`~dropout_lab.data._unpickle.restricted_loads` runs before anything is built.

CPython's unpickler spends memory and time that a small file can make out of all proportion to it:

- its memo is sized by the largest index a file names (``LONG_BINPUT 2**27`` in a 9-byte file took 2 GB);
- it hashes every dict key and set member, and a tuple hashes its items again each time it is hashed:
  ``t1 = (t0, t0)``, ``t2 = (t1, t1)``, ... (each level two memo GETs of the one before) is a key of a
  few hundred bytes whose hash visits ``2**levels`` tuples (time doubles per level, memory stays flat);
- keys whose hashes a file chooses can all collide (``k * (2**61 - 1)`` hashes to 0 for every ``k``),
  and a dict of ``n`` such keys takes ``n**2 / 2`` comparisons to build (20,000 of them: seconds; the
  opcode bound allows some 300,000);
- ``EXT1``/``EXT2``/``EXT4`` name globals through :mod:`copyreg`'s extension registry, and an entry in its
  cache is used without calling ``find_class``, which the allow-list relies on.

:func:`check_opcodes` walks the opcodes (:func:`pickletools.genops`), keeping the unpickler's stack and
memo as CPython's C unpickler does, but holding for each object only what a hash of it would cost: how
many nodes it expands to (tuples and frozensets count each item again however often it is shared, an
integer one node per 64 bits; lists, dicts and sets, which cannot be hashed, count one) and whether its
hash is one a file could choose. It refuses, naming the file: more than :data:`MAX_PICKLE_OPCODES`
opcodes, a memo index beyond the objects made so far, an extension-registry opcode, a dict key or set
member that expands to more than :data:`MAX_KEY_NODES` nodes, and more than :data:`MAX_CHOSEN_HASH_KEYS`
keys or members with hashes a file can choose. A CIFAR-10 batch has string keys and no sets, so it is
never refused. An opcode that finds nothing to work on (an empty stack, no mark, a memo entry never
stored) is refused too, so that the scan never falls out of step with the unpickler; an opcode that
cannot be read at all (a truncated file, an unknown opcode) ends the scan, and the unpickler, which
fails at the same opcode before building anything after it, names what is wrong.
"""

from __future__ import annotations

import pickletools

from ..errors import DataError

__all__ = ["MAX_CHOSEN_HASH_KEYS", "MAX_KEY_NODES", "MAX_PICKLE_OPCODES", "check_opcodes"]

#: The most opcodes a pickle may hold. A CIFAR-10 batch has about 20,000 (a label and a file name per
#: image; the pixels are one string); the bound keeps what the unpickler builds (its stack, its memo,
#: the objects) and the scan within a small multiple of a batch, whatever a file holds.
MAX_PICKLE_OPCODES = 1 << 20

#: The most nodes a dict key or set member may expand to (see the module's docstring). A batch's keys
#: are strings (one node); a dtype or a small tuple of numbers as a key is well within it.
MAX_KEY_NODES = 64

#: The most dict keys and set members (all uses counted) whose hash a file can choose: anything but
#: str, bytes, None, booleans and integers below 2**61 - 1 in magnitude (which hash to themselves, so
#: distinct ones never collide). Even if all of them collide, building the dicts takes at most
#: ``MAX_CHOSEN_HASH_KEYS**2 / 2`` comparisons of objects of at most :data:`MAX_KEY_NODES` nodes.
MAX_CHOSEN_HASH_KEYS = 1024

_HASH_MODULUS = (1 << 61) - 1  # sys.hash_info.modulus on 64-bit CPython

# What the scan keeps for each object: (nodes, how its hash is made: one of the three below).
_Info = tuple[int, int]
_FIXED, _CHOSEN, _BYTES_MAKER = 0, 1, 2
_PLAIN: _Info = (1, _FIXED)  # str, bytes, None, booleans; and lists, dicts, sets (unhashable)
_ANY: _Info = (1, _CHOSEN)  # floats, objects the allowed globals make, ...
# The globals that make bytes (how Python 3 writes bytes at protocol 2): what they make is plain.
_MAKE_BYTES = frozenset({"_codecs encode", "__builtin__ bytes", "builtins bytes"})

_LEAVES = frozenset(
    {
        "STRING", "BINSTRING", "SHORT_BINSTRING", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8",
        "UNICODE", "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "NONE", "NEWTRUE", "NEWFALSE",
        "EMPTY_LIST", "EMPTY_DICT", "EMPTY_SET", "EMPTY_TUPLE",
    }
)  # fmt: skip
_INTS = frozenset({"INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4"})
_CHOSEN_LEAVES = frozenset({"FLOAT", "BINFLOAT", "PERSID", "NEXT_BUFFER"})
_TUPLES = {"TUPLE1": 1, "TUPLE2": 2, "TUPLE3": 3}
_MEMO_PUTS = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})
_MEMO_GETS = frozenset({"GET", "BINGET", "LONG_BINGET"})
# Opcodes that pop this many objects and push one the allowed globals make (or refuse to).
_CALLS = {"STACK_GLOBAL": 2, "REDUCE": 2, "NEWOBJ": 2, "NEWOBJ_EX": 3, "BINPERSID": 1}
_EXTENSIONS = frozenset({"EXT1", "EXT2", "EXT4"})


class _Malformed(Exception):
    """The opcodes do not make a pickle the unpickler could follow this far."""


class _Scan:
    """The unpickler's stack, marks and memo as CPython's C unpickler keeps them (its marks fence the
    stack: an opcode may not pop below the latest mark), holding an :data:`_Info` per object."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.stack: list[_Info] = []
        self.marks: list[int] = []
        self.memo: dict[int, _Info] = {}
        self.chosen_keys = 0

    def pop(self, count: int = 1) -> list[_Info]:
        fence = self.marks[-1] if self.marks else 0
        if len(self.stack) - count < fence:
            raise _Malformed
        items = self.stack[len(self.stack) - count :]
        del self.stack[len(self.stack) - count :]
        return items

    def pop_mark(self) -> list[_Info]:
        if not self.marks:
            raise _Malformed
        mark = self.marks.pop()
        items = self.stack[mark:]
        del self.stack[mark:]
        return items

    def top(self) -> _Info:
        fence = self.marks[-1] if self.marks else 0
        if len(self.stack) <= fence:
            raise _Malformed
        return self.stack[-1]

    def target(self, above: int) -> None:
        """The list, dict or set that APPEND(S), SETITEM(S) or ADDITEMS adds to: below ``above`` more items."""
        fence = self.marks[-1] if self.marks else 0
        if len(self.stack) - above - 1 < fence or len(self.stack) - above < 1:
            raise _Malformed

    def keys(self, keys: list[_Info], count: int) -> None:
        """Refuse the keys or members about to be hashed if hashing them could take unbounded time."""
        for nodes, chosen in keys:
            if nodes > MAX_KEY_NODES:
                raise DataError(
                    f"{self.source}: refused: opcode {count:,} hashes a dict key or set member of more than "
                    f"{MAX_KEY_NODES} nodes (nested tuples, each shared item counted again, or 64-bit words of "
                    "an integer), which a CIFAR-10 batch never has; hashing it could take exponential time"
                )
            if chosen != _FIXED:
                self.chosen_keys += 1
                if self.chosen_keys > MAX_CHOSEN_HASH_KEYS:
                    raise DataError(
                        f"{self.source}: refused: the pickle has more than {MAX_CHOSEN_HASH_KEYS:,} dict keys or "
                        "set members other than strings and small integers, which a CIFAR-10 batch never has "
                        "(keys whose hashes collide make a dict take quadratic time to build)"
                    )

    def step(self, name: str, arg: object, count: int) -> None:
        """Do what opcode ``name`` (its ``count``-th) does to the stack, marks and memo."""
        if name in _LEAVES:
            self.stack.append(_PLAIN)
        elif name in _INTS:
            # INT also writes booleans (I00, I01); LONG's text form is parsed by genops as an int.
            value = abs(arg) if isinstance(arg, int) else 0
            nodes = min(1 + value.bit_length() // 64, MAX_KEY_NODES + 1)
            self.stack.append((nodes, _CHOSEN if value >= _HASH_MODULUS else _FIXED))
        elif name in _CHOSEN_LEAVES:
            self.stack.append(_ANY)
        elif name == "GLOBAL":
            self.stack.append((1, _BYTES_MAKER) if arg in _MAKE_BYTES else _ANY)
        elif name == "MARK":
            self.marks.append(len(self.stack))
        elif name in _TUPLES or name == "TUPLE":
            items = self.pop(_TUPLES[name]) if name in _TUPLES else self.pop_mark()
            self.stack.append((min(1 + sum(nodes for nodes, _ in items), MAX_KEY_NODES + 1), _CHOSEN))
        elif name == "FROZENSET":
            items = self.pop_mark()
            self.keys(items, count)
            self.stack.append((min(1 + sum(nodes for nodes, _ in items), MAX_KEY_NODES + 1), _CHOSEN))
        elif name in ("LIST", "POP_MARK", "INST", "OBJ"):
            items = self.pop_mark()
            if name != "POP_MARK":
                self.stack.append(_ANY if name != "LIST" else _PLAIN)
        elif name == "DICT":
            items = self.pop_mark()
            self.keys(items[::2], count)
            self.stack.append(_PLAIN)
        elif name == "APPEND":
            self.target(1)
            self.pop()
        elif name == "SETITEM":
            self.target(2)
            self.keys(self.pop(2)[:1], count)
        elif name in ("APPENDS", "SETITEMS", "ADDITEMS"):
            items = self.pop_mark()
            self.target(0)
            if name != "APPENDS":
                self.keys(items[::2] if name == "SETITEMS" else items, count)
        elif name in _CALLS:
            called = self.pop(_CALLS[name])[0]
            self.stack.append(_PLAIN if name == "REDUCE" and called[1] == _BYTES_MAKER else _ANY)
        elif name == "BUILD":
            self.pop()
            self.top()
        elif name == "POP":
            if self.marks and self.marks[-1] == len(self.stack):
                self.marks.pop()  # C's unpickler pops a mark that is on top of the stack
            else:
                self.pop()
        elif name == "DUP":
            self.stack.append(self.top())
        elif name in _MEMO_PUTS or name == "MEMOIZE":
            index = len(self.memo) if name == "MEMOIZE" else arg
            if not isinstance(index, int):
                raise _Malformed
            # Each object takes an opcode to make, so no pickler writes an index beyond the count.
            if not 0 <= index <= count:
                raise DataError(
                    f"{self.source}: not a valid pickle: opcode {count:,} stores memo entry {index:,}, beyond "
                    "the objects made before it"
                )
            self.memo[index] = self.top()
        elif name in _MEMO_GETS:
            if not isinstance(arg, int) or arg not in self.memo:
                raise _Malformed
            self.stack.append(self.memo[arg])
        elif name in _EXTENSIONS:
            # The registry's cache hands out a global without find_class (no batch uses it).
            raise DataError(
                f"{self.source}: refused: opcode {count:,} ({name}) loads a global through copyreg's extension "
                "registry, which a CIFAR-10 batch never uses"
            )
        elif name == "READONLY_BUFFER":
            self.top()
        # PROTO, FRAME and STOP change nothing the scan keeps.


def check_opcodes(data: bytes, source: str) -> None:
    """Refuse, before anything is built, a pickle that would make the unpickler use memory or time out
    of proportion to it (see the module's docstring), with a :class:`~dropout_lab.errors.DataError`
    naming ``source``. Malformed opcodes are left to the unpickler, which names what is wrong."""
    scan = _Scan(source)
    try:
        for count, (opcode, arg, _) in enumerate(pickletools.genops(data)):
            if count >= MAX_PICKLE_OPCODES:
                raise DataError(
                    f"{source}: refused: the pickle holds more than {MAX_PICKLE_OPCODES:,} opcodes, more "
                    "than any CIFAR-10 batch"
                )
            try:
                scan.step(opcode.name, arg, count)
            except _Malformed:
                # Refused rather than left to the unpickler: a scan out of step with it checks nothing.
                raise DataError(
                    f"{source}: not a valid pickle: opcode {count:,} ({opcode.name}) finds no object, mark or "
                    "memo entry to work on"
                ) from None
    except DataError:
        raise
    except Exception:  # noqa: BLE001 - genops cannot read an opcode: the unpickler fails there too, and names it
        return
