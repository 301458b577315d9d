"""First-order update rules with the course's signature: ``next_w, config = rule(w, dw, config)``.

Each rule is pure: it never changes ``w``, ``dw`` or the ``config`` it is given, and returns a new
config dict holding every hyperparameter (defaults filled in) and new state arrays. The arithmetic
follows the course's operation order term by term, so float64 inputs reproduce the course's numbers
to the last bit, and it keeps ``w``'s dtype: hyperparameters are Python floats, which NumPy treats as
"weak" scalars, so a float32 ``w`` is updated entirely in float32.

Where Numba is installed (a declared dependency) each step runs as one compiled loop
(``optim/_fused.py``): the same operations in the same order and dtype, so the same bits, in one pass
over memory. Otherwise the rules run their NumPy operations block by block (64 Ki elements at a
time) rather than array by array: each operation is the course's, on the same operands, so every
value is the same to the last bit, but the temporaries of a block stay in the CPU's cache and the
large arrays are read once and written once per step, instead of once per operation.
``DROPOUT_LAB_KERNELS=numpy`` selects the NumPy code even where Numba is installed.

Config keys (defaults):

* ``sgd``: ``learning_rate`` (1e-2).
* ``sgd_momentum``: ``learning_rate`` (1e-2), ``momentum`` (0.9), ``velocity`` (zeros like w).
* ``rmsprop``: ``learning_rate`` (1e-2), ``decay_rate`` (0.99), ``epsilon`` (1e-8), ``cache`` (zeros).
* ``adam``: ``learning_rate`` (1e-3), ``beta1`` (0.9), ``beta2`` (0.999), ``epsilon`` (1e-8), ``m``
  and ``v`` (zeros), ``t`` (0, the number of steps taken).

Any other key is refused, so a misspelt ``learning_rte`` cannot silently train at the default.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral
from types import MappingProxyType
from typing import Any, Callable, Mapping

import numpy as np

from . import _fused
from .._parallel import for_ranges
from .._validation import _describe, check_float_array, check_positive_real, check_unit_interval
from ..errors import InvalidArgumentError, InvalidTypeError

__all__ = [
    "UPDATE_RULES",
    "UpdateRule",
    "adam",
    "get_update_rule",
    "rmsprop",
    "rule_name",
    "sgd",
    "sgd_momentum",
    "validate_config",
]

UpdateRule = Callable[[np.ndarray, np.ndarray, "dict[str, Any] | None"], "tuple[np.ndarray, dict[str, Any]]"]


@dataclass(frozen=True)
class _Spec:
    """What one rule's config may hold: scalar hyperparameters with defaults, and state arrays."""

    scalars: Mapping[str, float]
    arrays: tuple[str, ...]
    counters: tuple[str, ...] = ()

    @property
    def keys(self) -> tuple[str, ...]:
        return (*self.scalars, *self.arrays, *self.counters)


_SPECS: Mapping[str, _Spec] = MappingProxyType(
    {
        "sgd": _Spec({"learning_rate": 1e-2}, ()),
        "sgd_momentum": _Spec({"learning_rate": 1e-2, "momentum": 0.9}, ("velocity",)),
        "rmsprop": _Spec({"learning_rate": 1e-2, "decay_rate": 0.99, "epsilon": 1e-8}, ("cache",)),
        "adam": _Spec(
            {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}, ("m", "v"), ("t",)
        ),
    }
)

# Rates that multiply a running average must stay in [0, 1); the others are positive magnitudes.
_UNIT_INTERVAL = frozenset({"momentum", "decay_rate", "beta1", "beta2"})


def _check_weights(w: Any, dw: Any) -> None:
    check_float_array("w", w)
    check_float_array("dw", dw)
    if dw.shape != w.shape:
        raise InvalidArgumentError(f"dw must have w's shape {w.shape}, got shape {dw.shape}")
    if dw.dtype != w.dtype:
        raise InvalidTypeError(
            f"dw must have w's dtype {w.dtype} (mixing dtypes would change w's), got dtype {dw.dtype}"
        )


def _read_config(rule: str, config: Any, w: np.ndarray) -> dict[str, Any]:
    """Validate ``config`` for ``rule`` against ``w`` and return a new dict with every key filled in.

    State arrays are returned as given (not copied): the rules only read them.
    """
    spec = _SPECS[rule]
    if config is None:
        config = {}
    if not isinstance(config, Mapping):
        raise InvalidTypeError(f"config must be a dict or None, got {_describe(config)}")
    unknown = [key for key in config if key not in spec.keys]
    if unknown:
        raise InvalidArgumentError(
            f"config holds keys that {rule} does not use: {sorted(map(str, unknown))}; "
            f"it accepts {list(spec.keys)}"
        )
    out: dict[str, Any] = {}
    for key, default in spec.scalars.items():
        value = config.get(key, default)
        if key in _UNIT_INTERVAL:
            out[key] = check_unit_interval(f"config[{key!r}]", value)
        else:
            out[key] = check_positive_real(f"config[{key!r}]", value)
    for key in spec.arrays:
        if key not in config:
            out[key] = np.zeros_like(w)
            continue
        value = check_float_array(f"config[{key!r}]", config[key])
        if value.shape != w.shape or value.dtype != w.dtype:
            raise InvalidArgumentError(
                f"config[{key!r}] must match w (shape {w.shape}, dtype {w.dtype}), "
                f"got shape {value.shape} and dtype {value.dtype}"
            )
        out[key] = value
    for key in spec.counters:
        value = config.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, Integral) or value < 0:
            raise InvalidArgumentError(
                f"config[{key!r}] counts the steps taken and must be a non-negative integer, "
                f"got {_describe(value)}"
            )
        out[key] = int(value)
    return out


def validate_config(rule: str | Callable[..., Any], config: Any, w: np.ndarray) -> None:
    """Check ``config`` as the built-in ``rule`` would for a parameter like ``w``; do nothing else.

    The Solver calls this before training so that a bad optimizer setting fails at once rather than
    at the first step. For a callable that is not one of the built-in rules only the type is checked.
    """
    if isinstance(rule, str):
        get_update_rule(rule)  # an unknown name raises with the list of choices
    name = rule_name(rule)
    if name is None:
        if config is not None and not isinstance(config, Mapping):
            raise InvalidTypeError(f"config must be a dict or None, got {_describe(config)}")
        return
    check_float_array("w", w)
    _read_config(name, config, w)
    _fused.requested()  # a bad DROPOUT_LAB_KERNELS fails here, not at the first step


# Elements per block. Measured on a 2-core AMD EPYC (512 KiB L2): Adam on 1.5 million float32 values
# took 9.2 ms in blocks of 8 Ki, 6.4 in blocks of 16 Ki, 5.5 in blocks of 64 Ki (13.7 array by array).
# Larger blocks mean fewer NumPy calls (about a microsecond each); the two scratch rows stay in L2.
_BLOCK = 1 << 16


def _flat(a: np.ndarray) -> np.ndarray:
    """A 1-d view of ``a`` (a copy if ``a`` is not contiguous: only ever read)."""
    return a.reshape(-1)


def _blockwise(n: int, scratch_rows: int, dtype: np.dtype, block: Callable[[int, int, np.ndarray], None]) -> None:
    """Call ``block(s, e, scratch)`` on ``[0, n)`` in blocks of ``_BLOCK`` elements (the ranges of large
    arrays on several threads, see dropout_lab._parallel); ``scratch``: ``scratch_rows`` rows of the
    block's length, this thread's own."""

    def body(lo: int, hi: int) -> None:
        scratch = np.empty((scratch_rows, min(_BLOCK, hi - lo)), dtype=dtype)
        for s in range(lo, hi, _BLOCK):
            e = min(s + _BLOCK, hi)
            block(s, e, scratch[:, : e - s])

    for_ranges(body, n, align=_BLOCK)


# Each kernel computes one rule's step from the validated ``config`` into ``out``: ``out['w']`` gets
# next_w and ``out[key]`` each new state array, all C-contiguous with w's shape and dtype and sharing
# no memory with the inputs. It returns ``config`` with the new state. Every value is computed the
# same way whatever the blocks and threads.
def _sgd_numpy(w: np.ndarray, dw: np.ndarray, config: dict[str, Any], out: Mapping[str, np.ndarray]) -> dict[str, Any]:
    lr = config["learning_rate"]
    w_in, g, w_out = _flat(w), _flat(dw), _flat(out["w"])

    def block(s: int, e: int, _: np.ndarray) -> None:
        step = np.multiply(g[s:e], lr, out=w_out[s:e])  # next_w = w - learning_rate * dw
        np.subtract(w_in[s:e], step, out=step)

    _blockwise(w_in.size, 0, w.dtype, block)
    return config


def _sgd_momentum_numpy(
    w: np.ndarray, dw: np.ndarray, config: dict[str, Any], out: Mapping[str, np.ndarray]
) -> dict[str, Any]:
    momentum, lr = config["momentum"], config["learning_rate"]
    w_in, g, v_in = _flat(w), _flat(dw), _flat(config["velocity"])
    w_out, v_out = _flat(out["w"]), _flat(out["velocity"])

    def block(s: int, e: int, scratch: np.ndarray) -> None:
        a = scratch[0]
        vb = np.multiply(v_in[s:e], momentum, out=v_out[s:e])  # v = momentum * v - learning_rate * dw
        np.multiply(g[s:e], lr, out=a)
        np.subtract(vb, a, out=vb)
        np.add(w_in[s:e], vb, out=w_out[s:e])  # next_w = w + v

    _blockwise(w_in.size, 1, w.dtype, block)
    config["velocity"] = out["velocity"]
    return config


def _rmsprop_numpy(w: np.ndarray, dw: np.ndarray, config: dict[str, Any], out: Mapping[str, np.ndarray]) -> dict[str, Any]:
    decay_rate, lr, eps = config["decay_rate"], config["learning_rate"], config["epsilon"]
    w_in, g, c_in = _flat(w), _flat(dw), _flat(config["cache"])
    w_out, c_out = _flat(out["w"]), _flat(out["cache"])

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

    _blockwise(w_in.size, 2, w.dtype, block)
    config["cache"] = out["cache"]
    return config


def _adam_numpy(w: np.ndarray, dw: np.ndarray, config: dict[str, Any], out: Mapping[str, np.ndarray]) -> dict[str, Any]:
    beta1, beta2 = config["beta1"], config["beta2"]
    lr, eps = config["learning_rate"], config["epsilon"]
    t = config["t"] + 1
    # Python floats, as in the course's expressions: NumPy applies them in w's dtype.
    bias1, bias2 = 1 - beta1**t, 1 - beta2**t
    w_in, g, m_in, v_in = _flat(w), _flat(dw), _flat(config["m"]), _flat(config["v"])
    w_out, m_out, v_out = _flat(out["w"]), _flat(out["m"]), _flat(out["v"])

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

    _blockwise(w_in.size, 2, w.dtype, block)
    config["t"], config["m"], config["v"] = t, out["m"], out["v"]
    return config


_KERNELS: Mapping[str, Callable[..., dict[str, Any]]] = MappingProxyType(
    {"sgd": _sgd_numpy, "sgd_momentum": _sgd_momentum_numpy, "rmsprop": _rmsprop_numpy, "adam": _adam_numpy}
)


def _fused_scalars(rule: str, config: dict[str, Any], dtype: np.dtype) -> tuple[Any, ...]:
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
    return (T(beta1), T(1 - beta1), T(beta2), T(1 - beta2), T(1 - beta1**t), T(1 - beta2**t), T(lr), T(config["epsilon"]))


def _run_fused(
    kernel: Callable[..., tuple[bool, bool]], rule: str, w: np.ndarray, dw: np.ndarray, config: dict[str, Any],
    out: Mapping[str, np.ndarray],
) -> tuple[dict[str, Any], bool, bool]:
    """The compiled kernel over ``for_ranges``: the new config, and whether dw and next_w hold a NaN or
    an infinity."""
    state = _SPECS[rule].arrays
    arrays = [_flat(w), _flat(dw), *(_flat(config[k]) for k in state), _flat(out["w"]), *(_flat(out[k]) for k in state)]
    scalars = _fused_scalars(rule, config, w.dtype)
    flags: list[tuple[bool, bool]] = []

    def body(lo: int, hi: int) -> None:
        flags.append(kernel(*(a[lo:hi] for a in arrays), *scalars))

    for_ranges(body, arrays[0].size, align=_BLOCK)
    for key in state:
        config[key] = out[key]
    if rule == "adam":
        config["t"] += 1
    return config, any(f[0] for f in flags), any(f[1] for f in flags)


def output_names(rule: str) -> tuple[str, ...]:
    """The arrays a built-in rule's step writes: ``'w'`` (next_w) and its state arrays."""
    return ("w", *_SPECS[rule].arrays)


def _step(
    rule: str, w: Any, dw: Any, config: Any, out: Mapping[str, np.ndarray] | None
) -> tuple[np.ndarray, dict[str, Any], bool | None, bool | None]:
    """The step, and whether dw and next_w hold a NaN or an infinity (None: not checked)."""
    _check_weights(w, dw)
    config = _read_config(rule, config, w)
    if out is None:
        out = {key: np.empty(w.shape, dtype=w.dtype) for key in output_names(rule)}
    fused = _fused.kernels()  # w is float32 or float64 (checked above): both are compiled
    if fused is None:
        return out["w"], _KERNELS[rule](w, dw, config, out), None, None
    config, bad_dw, bad_w = _run_fused(getattr(fused, rule), rule, w, dw, config, out)
    return out["w"], config, bad_dw, bad_w


def step_into(
    rule: str, w: np.ndarray, dw: np.ndarray, config: dict[str, Any] | None, out: Mapping[str, np.ndarray]
) -> tuple[np.ndarray, dict[str, Any], bool | None, bool | None]:
    """The built-in ``rule``'s step, written into arrays the caller provides (the Solver reuses its own).

    The same values as ``UPDATE_RULES[rule](w, dw, config)``, bit for bit, and as pure towards its
    inputs; only where the results go differs.

    Args:
        rule: a built-in rule's name. w, dw, config: as for the rule.
        out: ``out['w']`` for next_w and ``out[key]`` for each state array the rule keeps (see
            :func:`output_names`); each C-contiguous, of w's shape and dtype, and sharing no memory
            with ``w``, ``dw`` or the config's arrays (the caller's duty: not checked).

    Returns:
        ``out['w']``, the new config (which holds ``out``'s state arrays), and whether ``dw`` and
        next_w hold a NaN or an infinity, found in the same pass by the compiled kernels (None, None
        when the NumPy kernels ran: not checked).
    """
    if rule not in _KERNELS:
        raise InvalidArgumentError(f"rule must be one of {sorted(_KERNELS)}, got {rule!r}")
    return _step(rule, w, dw, config, out)


def sgd(w: np.ndarray, dw: np.ndarray, config: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Vanilla stochastic gradient descent: ``next_w = w - learning_rate * dw``.

    Args:
        w: parameters, any shape, float32 or float64. dw: gradient, w's shape and dtype.
        config: ``learning_rate`` (default 1e-2), or None.

    Returns:
        next_w: w's shape and dtype, and a new config.
    """
    next_w, config, _, _ = _step("sgd", w, dw, config, None)
    return next_w, config


def sgd_momentum(
    w: np.ndarray, dw: np.ndarray, config: dict[str, Any] | None = None
) -> tuple[np.ndarray, dict[str, Any]]:
    """SGD with momentum: ``v = momentum * v - learning_rate * dw``; ``next_w = w + v``.

    Args:
        w: parameters, any shape, float32 or float64. dw: gradient, w's shape and dtype.
        config: ``learning_rate`` (1e-2), ``momentum`` in [0, 1) (0.9), ``velocity`` (w's shape and
            dtype; zeros), or None.

    Returns:
        next_w: w's shape and dtype, and a new config with the new ``velocity``.
    """
    next_w, config, _, _ = _step("sgd_momentum", w, dw, config, None)
    return next_w, config


def rmsprop(
    w: np.ndarray, dw: np.ndarray, config: dict[str, Any] | None = None
) -> tuple[np.ndarray, dict[str, Any]]:
    """RMSProp (Tieleman and Hinton 2012, Lecture 6.5 of "Neural Networks for Machine Learning").

    ``cache = decay_rate * cache + (1 - decay_rate) * dw**2``;
    ``next_w = w - learning_rate * dw / (sqrt(cache) + epsilon)``.

    Args:
        w: parameters, any shape, float32 or float64. dw: gradient, w's shape and dtype.
        config: ``learning_rate`` (1e-2), ``decay_rate`` in [0, 1) (0.99), ``epsilon`` (1e-8),
            ``cache`` (w's shape and dtype; zeros), or None.

    Returns:
        next_w: w's shape and dtype, and a new config with the new ``cache``.
    """
    next_w, config, _, _ = _step("rmsprop", w, dw, config, None)
    return next_w, config


def adam(w: np.ndarray, dw: np.ndarray, config: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Adam with bias correction (Kingma and Ba 2015, https://arxiv.org/abs/1412.6980).

    ``t += 1``; ``m = beta1 * m + (1 - beta1) * dw``; ``v = beta2 * v + (1 - beta2) * dw**2``;
    ``next_w = w - learning_rate * m_hat / (sqrt(v_hat) + epsilon)`` with ``m_hat = m / (1 - beta1**t)``
    and ``v_hat = v / (1 - beta2**t)``. ``t`` is incremented before the bias correction, as in the
    course, so the first step uses ``t = 1``.

    Args:
        w: parameters, any shape, float32 or float64. dw: gradient, w's shape and dtype.
        config: ``learning_rate`` (1e-3), ``beta1`` (0.9) and ``beta2`` (0.999) in [0, 1),
            ``epsilon`` (1e-8), ``m`` and ``v`` (w's shape and dtype; zeros), ``t`` (0), or None.

    Returns:
        next_w: w's shape and dtype, and a new config with the new ``m``, ``v`` and ``t``.
    """
    next_w, config, _, _ = _step("adam", w, dw, config, None)
    return next_w, config


UPDATE_RULES: Mapping[str, UpdateRule] = MappingProxyType(
    {"sgd": sgd, "sgd_momentum": sgd_momentum, "rmsprop": rmsprop, "adam": adam}
)


def get_update_rule(name_or_callable: str | UpdateRule) -> UpdateRule:
    """The update rule called ``name_or_callable`` ('sgd', 'sgd_momentum', 'rmsprop', 'adam'), or the
    callable itself.

    Raises:
        InvalidArgumentError: an unknown name (the message lists the choices).
        InvalidTypeError: neither a string nor a callable.
    """
    if isinstance(name_or_callable, str):
        try:
            return UPDATE_RULES[name_or_callable]
        except KeyError:
            raise InvalidArgumentError(
                f"update_rule must be one of {sorted(UPDATE_RULES)} or a callable, "
                f"got {name_or_callable!r}"
            ) from None
    if callable(name_or_callable):
        return name_or_callable
    raise InvalidTypeError(
        f"update_rule must be a rule name ({', '.join(sorted(UPDATE_RULES))}) or a callable "
        f"next_w, config = rule(w, dw, config), got {_describe(name_or_callable)}"
    )


def rule_name(rule: Any) -> str | None:
    """The registry name of a built-in rule (given by name or as the function), else None."""
    if isinstance(rule, str):
        return rule if rule in UPDATE_RULES else None
    # Identity, not equality or hashing: any callable may be passed here.
    return next((name for name, known in UPDATE_RULES.items() if known is rule), None)
