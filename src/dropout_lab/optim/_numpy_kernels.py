"""The update rules' NumPy kernels: the course's operations, run block by block.

Each operation is the course's, on the same operands and in w's dtype, so every value is the same to
the last bit as the course's whole-array expressions; but the operations run on blocks of
``dropout_lab._parallel.BLOCK`` elements rather than on whole arrays, so that a block's temporaries
stay in the CPU's cache and the large arrays are read once and written once per step instead of once
per operation. The ranges of large arrays run on several threads (``dropout_lab._parallel``).

Each kernel also says whether ``dw`` and next_w hold a NaN or an infinity, checked block by block
while the block is in cache: the same flags as the compiled kernels (``_fused.py``) return.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

from .._parallel import BLOCK, for_ranges

# A kernel's result: the config with the new state, and whether dw and next_w hold a NaN or an inf.
Result = tuple[dict[str, Any], bool, bool]


def flat(a: np.ndarray) -> np.ndarray:
    """``a`` as one dimension: a view where ``a`` is C-contiguous, else a copy.

    Outputs are written through the result, so they must be C-contiguous (``rules.step_into`` refuses
    any other, and the rules make their own); a copy is only ever read (inputs of any layout).
    """
    return a.reshape(-1)


def _blockwise(
    scratch_rows: int, dtype: np.dtype[Any], block: Callable[[int, int, np.ndarray], None], g: np.ndarray,
    w_out: np.ndarray,
) -> tuple[bool, bool]:
    """Call ``block(s, e, scratch)`` on ``[0, g.size)`` in blocks of ``BLOCK`` elements (the ranges of
    large arrays on several threads); ``scratch``: ``scratch_rows`` rows of the block's length, this
    thread's own. Returns whether ``g`` and ``w_out`` (after the blocks wrote it) hold a NaN or an
    infinity."""
    flags: list[tuple[bool, bool]] = []

    def body(lo: int, hi: int) -> None:
        size = min(BLOCK, hi - lo)
        scratch = np.empty((scratch_rows, size), dtype=dtype)
        finite = np.empty(size, dtype=bool)
        bad_g = bad_w = False
        for s in range(lo, hi, BLOCK):
            e = min(s + BLOCK, hi)
            block(s, e, scratch[:, : e - s])
            ok = finite[: e - s]
            # Once a range has found one, it looks no further.
            bad_g = bad_g or not np.isfinite(g[s:e], out=ok).all()
            bad_w = bad_w or not np.isfinite(w_out[s:e], out=ok).all()
        flags.append((bad_g, bad_w))

    for_ranges(body, g.size, align=BLOCK)
    return any(f[0] for f in flags), any(f[1] for f in flags)


# Each kernel computes one rule's step from the validated ``config`` into ``out``: ``out['w']`` gets
# next_w and ``out[key]`` each new state array, all C-contiguous with w's shape and dtype and sharing
# no memory with the inputs. It returns ``config`` with the new state, and the two flags. Every value
# is computed the same way whatever the blocks and threads.
def _sgd(w: np.ndarray, dw: np.ndarray, config: dict[str, Any], out: Mapping[str, np.ndarray]) -> Result:
    lr = config["learning_rate"]
    w_in, g, w_out = flat(w), flat(dw), flat(out["w"])

    def block(s: int, e: int, _: np.ndarray) -> None:
        step = np.multiply(g[s:e], lr, out=w_out[s:e])  # next_w = w - learning_rate * dw
        np.subtract(w_in[s:e], step, out=step)

    bad_dw, bad_w = _blockwise(0, w.dtype, block, g, w_out)
    return config, bad_dw, bad_w


def _sgd_momentum(w: np.ndarray, dw: np.ndarray, config: dict[str, Any], out: Mapping[str, np.ndarray]) -> Result:
    momentum, lr = config["momentum"], config["learning_rate"]
    w_in, g, v_in = flat(w), flat(dw), flat(config["velocity"])
    w_out, v_out = flat(out["w"]), flat(out["velocity"])

    def block(s: int, e: int, scratch: np.ndarray) -> None:
        a = scratch[0]
        vb = np.multiply(v_in[s:e], momentum, out=v_out[s:e])  # v = momentum * v - learning_rate * dw
        np.multiply(g[s:e], lr, out=a)
        np.subtract(vb, a, out=vb)
        np.add(w_in[s:e], vb, out=w_out[s:e])  # next_w = w + v

    bad_dw, bad_w = _blockwise(1, w.dtype, block, g, w_out)
    config["velocity"] = out["velocity"]
    return config, bad_dw, bad_w


def _rmsprop(w: np.ndarray, dw: np.ndarray, config: dict[str, Any], out: Mapping[str, np.ndarray]) -> Result:
    decay_rate, lr, eps = config["decay_rate"], config["learning_rate"], config["epsilon"]
    w_in, g, c_in = flat(w), flat(dw), flat(config["cache"])
    w_out, c_out = flat(out["w"]), flat(out["cache"])

    def block(s: int, e: int, scratch: np.ndarray) -> None:
        a, b = scratch
        gb = g[s:e]
        cb = np.multiply(c_in[s:e], decay_rate, out=c_out[s:e])  # cache = rate * cache + (1 - rate) * dw**2
        np.multiply(gb, gb, out=a)
        np.multiply(a, 1 - decay_rate, out=a)
        np.add(cb, a, out=cb)
        np.multiply(gb, lr, out=a)  # next_w = w - learning_rate * dw / (sqrt(cache) + epsilon)
        np.sqrt(cb, out=b)
        np.add(b, eps, out=b)
        np.divide(a, b, out=a)
        np.subtract(w_in[s:e], a, out=w_out[s:e])

    bad_dw, bad_w = _blockwise(2, w.dtype, block, g, w_out)
    config["cache"] = out["cache"]
    return config, bad_dw, bad_w


def _adam(w: np.ndarray, dw: np.ndarray, config: dict[str, Any], out: Mapping[str, np.ndarray]) -> Result:
    beta1, beta2 = config["beta1"], config["beta2"]
    lr, eps = config["learning_rate"], config["epsilon"]
    t = config["t"] + 1
    # Python floats, as in the course's expressions: NumPy applies them in w's dtype.
    bias1, bias2 = 1 - beta1**t, 1 - beta2**t
    w_in, g, m_in, v_in = flat(w), flat(dw), flat(config["m"]), flat(config["v"])
    w_out, m_out, v_out = flat(out["w"]), flat(out["m"]), flat(out["v"])

    def block(s: int, e: int, scratch: np.ndarray) -> None:
        a, b = scratch
        gb = g[s:e]
        mb = np.multiply(m_in[s:e], beta1, out=m_out[s:e])  # m = beta1 * m + (1 - beta1) * dw
        np.multiply(gb, 1 - beta1, out=a)
        np.add(mb, a, out=mb)
        np.multiply(gb, gb, out=b)  # v = beta2 * v + (1 - beta2) * (dw**2)
        np.multiply(b, 1 - beta2, out=b)
        vb = np.multiply(v_in[s:e], beta2, out=v_out[s:e])
        np.add(vb, b, out=vb)
        np.divide(vb, bias2, out=b)  # sqrt(vt) + epsilon, vt = v / (1 - beta2**t)
        np.sqrt(b, out=b)
        np.add(b, eps, out=b)
        np.divide(mb, bias1, out=a)  # next_w = w - learning_rate * mt / (...), mt = m / (1 - beta1**t)
        np.multiply(a, lr, out=a)
        np.divide(a, b, out=a)
        np.subtract(w_in[s:e], a, out=w_out[s:e])

    bad_dw, bad_w = _blockwise(2, w.dtype, block, g, w_out)
    config["t"], config["m"], config["v"] = t, out["m"], out["v"]
    return config, bad_dw, bad_w


KERNELS: Mapping[str, Callable[[np.ndarray, np.ndarray, dict[str, Any], Mapping[str, np.ndarray]], Result]] = (
    MappingProxyType({"sgd": _sgd, "sgd_momentum": _sgd_momentum, "rmsprop": _rmsprop, "adam": _adam})
)
