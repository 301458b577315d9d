"""The compiled (Numba) update kernels: each step as one loop that does, element by element, exactly the
operations of the NumPy kernels (``_numpy_kernels.py``), in the same order and the same dtype (the
scalars arrive already cast to it), without fast-math, so that no operation is contracted, reordered or
approximated. ``_fused.py`` explains the choice between the two kinds.

This module imports Numba and is imported only where the compiled kernels are wanted (``_fused`` on
the first step that runs them), never with the package. The kernels are module-level functions that
capture nothing: Numba's disk cache keys a function by its bytecode and a hash of its closure's
values, so a kernel that captured another compiled function (a new object, with a new identity, in
each process) would never be found in the cache. ``nonfinite`` is a global, which Numba resolves by
name. The disk cache is switched on (and placed) by ``_numba_cache.enable``, not by ``cache=True``
here: where it goes is decided when they are first wanted, and Numba's own fallback for ``cache=True``
(the package's ``__pycache__``) is never used.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

Array = np.ndarray  # a 1-d float32 or float64 array, in the kernels' signatures

# error_model="numpy": x / 0 gives inf or NaN as in NumPy (Python's model raises, and its check in
# every iteration stops the loop from being vectorized). No fastmath: IEEE operations only. Numba reads
# none of the annotations below: it compiles for the types of the arguments it is called with.
_jit = numba.njit(nogil=True, boundscheck=False, error_model="numpy")


# ``x - x`` is NaN exactly when x is inf or NaN, and ``d != d`` exactly when d is NaN. OR-ing those
# flags vectorizes and costs about 5 % of Adam's loop; counting them (an integer sum) cost 40 %, more
# than NumPy's separate ``isfinite`` passes.
@_jit
def nonfinite(x: float) -> bool:
    d = x - x
    return d != d


@_jit
def sgd(w: Array, g: Array, w_out: Array, lr: Any) -> tuple[bool, bool]:
    bad_g = False
    bad_w = False
    for i in range(w.shape[0]):
        gi = g[i]
        wi = w[i] - gi * lr
        w_out[i] = wi
        bad_g |= nonfinite(gi)
        bad_w |= nonfinite(wi)
    return bad_g, bad_w


@_jit
def sgd_momentum(
    w: Array, g: Array, v: Array, w_out: Array, v_out: Array, momentum: Any, lr: Any
) -> tuple[bool, bool]:
    bad_g = False
    bad_w = False
    for i in range(w.shape[0]):
        gi = g[i]
        vi = v[i] * momentum - gi * lr
        v_out[i] = vi
        wi = w[i] + vi
        w_out[i] = wi
        bad_g |= nonfinite(gi)
        bad_w |= nonfinite(wi)
    return bad_g, bad_w


@_jit
def rmsprop(
    w: Array, g: Array, c: Array, w_out: Array, c_out: Array, decay_rate: Any, one_minus_decay: Any, lr: Any,
    eps: Any,
) -> tuple[bool, bool]:
    bad_g = False
    bad_w = False
    for i in range(w.shape[0]):
        gi = g[i]
        ci = c[i] * decay_rate + (gi * gi) * one_minus_decay
        c_out[i] = ci
        wi = w[i] - (gi * lr) / (np.sqrt(ci) + eps)
        w_out[i] = wi
        bad_g |= nonfinite(gi)
        bad_w |= nonfinite(wi)
    return bad_g, bad_w


@_jit
def adam(
    w: Array, g: Array, m: Array, v: Array, w_out: Array, m_out: Array, v_out: Array, beta1: Any,
    one_minus_beta1: Any, beta2: Any, one_minus_beta2: Any, bias1: Any, bias2: Any, lr: Any, eps: Any,
) -> tuple[bool, bool]:
    bad_g = False
    bad_w = False
    for i in range(w.shape[0]):
        gi = g[i]
        mi = m[i] * beta1 + gi * one_minus_beta1
        vi = v[i] * beta2 + (gi * gi) * one_minus_beta2
        m_out[i] = mi
        v_out[i] = vi
        wi = w[i] - ((mi / bias1) * lr) / (np.sqrt(vi / bias2) + eps)
        w_out[i] = wi
        bad_g |= nonfinite(gi)
        bad_w |= nonfinite(wi)
    return bad_g, bad_w


# Every compiled function of this module, the helper included (its disk cache is switched on too).
ALL = {"nonfinite": nonfinite, "sgd": sgd, "sgd_momentum": sgd_momentum, "rmsprop": rmsprop, "adam": adam}
