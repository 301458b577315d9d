"""Which update kernels run (:func:`use_kernels`, :func:`kernels`), and how the compiled (Numba) ones run.

Every built-in rule has two kernels that give the same values, bit for bit, and the same flags:

* the NumPy kernels (``_numpy_kernels.py``): the course's operations on blocks of the arrays;
* the compiled kernels (``_numba_kernels.py``): each step as one loop compiled by Numba that does,
  element by element, exactly the operations of the NumPy kernels, in the same order and the same dtype
  (the scalars arrive already cast to it), without fast-math, so that no operation is contracted,
  reordered or approximated (the tests compare the two on random, huge, tiny, infinite and NaN inputs).
  What changes is memory traffic: ``w``, ``dw`` and the state are read once and the results written
  once, instead of once per NumPy operation (see BENCHMARKS.md).

Both kinds also say whether ``dw`` or next_w holds a NaN or an infinity, found in the same pass, so
the Solver's divergence check needs no pass of its own.

The choice: :func:`use_kernels` inside a ``with`` block, else the environment variable
``DROPOUT_LAB_KERNELS`` ('numba' or 'numpy'; unset or empty means 'numba'), read at each step where no
``use_kernels`` block is in effect. The compiled kernels need Numba (a declared dependency); where it
cannot be imported, the NumPy kernels run. :func:`kernels` says which run.

``numba`` is imported on the first step that uses it, not with the package. The compiled kernels are
cached on disk in a per-user folder (``$DROPOUT_LAB_NUMBA_CACHE_DIR``, else ``~/.cache/dropout-lab/numba``
or its XDG equivalent; never inside the package), so that later processes load them instead of
compiling them; ``_numba_cache.py`` says where, and what bounds that cache.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
from collections.abc import Callable, Iterator, Mapping
from types import SimpleNamespace
from typing import Any

import numpy as np

from .._parallel import BLOCK, for_ranges
from .._validation import _describe
from ..errors import InvalidArgumentError
from ._numpy_kernels import flat

ENV_VARIABLE = "DROPOUT_LAB_KERNELS"
CHOICES = ("numba", "numpy")

# No default value: where no use_kernels block has set it, the environment decides.
_choice: contextvars.ContextVar[str] = contextvars.ContextVar("dropout_lab_kernels")


def use_kernels(name: str) -> contextlib.AbstractContextManager[None]:
    """Inside the ``with`` block, the built-in update rules run the ``name`` kernels.

    ``with use_kernels("numpy"): solver.train()`` trains with the NumPy kernels; the values and the
    non-finite flags are the same with either. Blocks nest (the innermost wins), and the choice
    replaces ``DROPOUT_LAB_KERNELS`` (which is then not read).

    The choice is a :class:`contextvars.ContextVar`: it holds in the calling thread and in the asyncio
    tasks created inside the block (they copy the context). A ``threading.Thread`` started inside the
    block does not see it (on Python before 3.14, and after unless ``sys.flags.thread_inherit_context``):
    it starts from an empty context, where the environment variable decides. To carry the choice
    over, start the thread's target with ``contextvars.copy_context().run`` (one copy per thread).
    The threads that dropout-lab itself starts for one array (``dropout_lab._parallel``) need nothing:
    the kernels are chosen once per step, in the thread that called the rule.

    Args:
        name: 'numba' (the compiled kernels; the NumPy ones where Numba cannot be imported, see
            :func:`kernels`) or 'numpy'.

    Raises:
        InvalidArgumentError: any other name, when called (before the block is entered).
    """
    if not isinstance(name, str) or name not in CHOICES:
        got = repr(name) if isinstance(name, str) else _describe(name)
        raise InvalidArgumentError(f"use_kernels: name must be 'numba' or 'numpy', got {got}")
    return _using(name)


@contextlib.contextmanager
def _using(name: str) -> Iterator[None]:
    token = _choice.set(name)
    try:
        yield
    finally:
        _choice.reset(token)


def requested() -> str:
    """The kernels asked for here: the innermost :func:`use_kernels` block's in this context, else
    ``DROPOUT_LAB_KERNELS``'s ('numba' also when unset or empty; case and spaces do not matter).

    Raises:
        InvalidArgumentError: the variable is read and holds anything else (a misspelt 'numpy' must
            not silently compile).
    """
    choice = _choice.get(None)
    if choice is not None:
        return choice
    raw = os.environ.get(ENV_VARIABLE, "")
    value = raw.strip().lower() or "numba"
    if value not in CHOICES:
        raise InvalidArgumentError(f"{ENV_VARIABLE} must be 'numba' or 'numpy' (or unset), got {raw!r}")
    return value


def kernels() -> str:
    """The kernels that the built-in update rules run now, in this context: 'numba' or 'numpy'.

    'numba' where it is requested (:func:`requested`) and Numba can be imported. Where 'numba' is
    requested but Numba cannot be imported, the NumPy kernels run instead, with the same values and
    flags and without a warning, and this returns 'numpy'. Asking imports Numba where it is requested
    (and compiles nothing).

    Raises:
        InvalidArgumentError: as :func:`requested`.
    """
    return "numpy" if compiled() is None else "numba"


def compiled() -> SimpleNamespace | None:
    """The compiled kernels where they are to run now, else None (the NumPy kernels run)."""
    return _kernels_for(requested())


@functools.cache
def _kernels_for(choice: str) -> SimpleNamespace | None:
    if choice == "numpy":
        return None
    try:
        import numba
    except ImportError:
        return None
    return _load(numba)


@functools.cache
def _load(numba: Any) -> SimpleNamespace:
    """The compiled kernels, their disk cache switched on (once per process, before their first call)."""
    from . import _numba_cache, _numba_kernels

    _numba_cache.enable(numba, _numba_kernels.ALL, _numba_kernels.__file__)
    return SimpleNamespace(**{rule: _numba_kernels.ALL[rule] for rule in ("sgd", "sgd_momentum", "rmsprop", "adam")})


def _scalars(rule: str, config: Mapping[str, Any], dtype: np.dtype[Any]) -> tuple[Any, ...]:
    """The scalars of the compiled kernel's signature, cast to w's dtype as NumPy casts the Python
    floats of the NumPy kernels (rounded once, to nearest)."""
    T = dtype.type
    lr = config["learning_rate"]
    if rule == "sgd":
        return (T(lr),)
    if rule == "sgd_momentum":
        return (T(config["momentum"]), T(lr))
    if rule == "rmsprop":
        rate = config["decay_rate"]
        return (T(rate), T(1 - rate), T(lr), T(config["epsilon"]))
    beta1, beta2, t = config["beta1"], config["beta2"], config["t"] + 1
    return (
        T(beta1), T(1 - beta1), T(beta2), T(1 - beta2), T(1 - beta1**t), T(1 - beta2**t), T(lr), T(config["epsilon"])
    )


def run(
    fused: SimpleNamespace, rule: str, state: tuple[str, ...], w: np.ndarray, dw: np.ndarray,
    config: dict[str, Any], out: Mapping[str, np.ndarray],
) -> tuple[dict[str, Any], bool, bool]:
    """``rule``'s compiled kernel over ``for_ranges``, as the NumPy kernels are called (``state``: the
    names of the rule's state arrays): the new config, and whether dw and next_w hold a NaN or an
    infinity."""
    kernel: Callable[..., tuple[bool, bool]] = getattr(fused, rule)
    arrays = [flat(w), flat(dw), *(flat(config[k]) for k in state), flat(out["w"]), *(flat(out[k]) for k in state)]
    scalars = _scalars(rule, config, w.dtype)
    flags: list[tuple[bool, bool]] = []

    def body(lo: int, hi: int) -> None:
        flags.append(kernel(*(a[lo:hi] for a in arrays), *scalars))

    for_ranges(body, arrays[0].size, align=BLOCK)
    for key in state:
        config[key] = out[key]
    if rule == "adam":
        config["t"] += 1
    return config, any(f[0] for f in flags), any(f[1] for f in flags)
