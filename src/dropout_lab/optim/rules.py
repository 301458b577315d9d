"""First-order update rules with the course's signature: ``next_w, config = rule(w, dw, config)``.

Each rule is pure: it never changes ``w``, ``dw`` or the ``config`` it is given, and returns a new
config dict holding every hyperparameter (defaults filled in) and new state arrays. The arithmetic
follows the course's operation order term by term, so float64 inputs reproduce the course's numbers
to the last bit, and it keeps ``w``'s dtype: hyperparameters are Python floats, which NumPy treats as
"weak" scalars, so a float32 ``w`` is updated entirely in float32.

Two kinds of kernels run the steps, with the same values to the last bit: the NumPy kernels
(``optim/_numpy_kernels.py``: the course's operations, block by block) and, where Numba is installed
(a declared dependency), compiled loops (``optim/_fused.py``: the same operations in the same order
and dtype, in one pass over memory). :func:`dropout_lab.optim.use_kernels` chooses between them, with
the environment variable ``DROPOUT_LAB_KERNELS`` as the default; :func:`dropout_lab.optim.kernels`
says which run.

Config keys (defaults):

* ``sgd``: ``learning_rate`` (1e-2).
* ``sgd_momentum``: ``learning_rate`` (1e-2), ``momentum`` (0.9), ``velocity`` (zeros like w).
* ``rmsprop``: ``learning_rate`` (1e-2), ``decay_rate`` (0.99), ``epsilon`` (1e-8), ``cache`` (zeros).
* ``adam``: ``learning_rate`` (1e-3), ``beta1`` (0.9), ``beta2`` (0.999), ``epsilon`` (1e-8), ``m``
  and ``v`` (zeros), ``t`` (0, the number of steps taken).

Any other key is refused, so a misspelt ``learning_rte`` cannot silently train at the default.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from numbers import Integral
from types import MappingProxyType
from typing import Any

import numpy as np

from .._validation import _describe, check_float_array, check_positive_real, check_unit_interval
from ..errors import InvalidArgumentError, InvalidTypeError
from . import _fused
from ._numpy_kernels import KERNELS

__all__ = [
    "UPDATE_RULES",
    "UpdateRule",
    "adam",
    "get_update_rule",
    "hyperparameter",
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
    accepted = spec.keys  # built once, not once per key (this runs at every step)
    unknown = [key for key in config if key not in accepted]
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


def hyperparameter(rule: str, config: Mapping[str, Any], key: str) -> float:
    """The built-in ``rule``'s hyperparameter ``key`` as ``config`` sets it, else its default (a
    config the rule accepts: see :func:`validate_config`)."""
    return float(config.get(key, _SPECS[rule].scalars[key]))


def output_names(rule: str) -> tuple[str, ...]:
    """The arrays a built-in rule's step writes: ``'w'`` (next_w) and its state arrays."""
    return ("w", *_SPECS[rule].arrays)


def _step(
    rule: str, w: Any, dw: Any, config: Any, out: Mapping[str, np.ndarray] | None
) -> tuple[np.ndarray, dict[str, Any], bool, bool]:
    """The step, and whether dw and next_w hold a NaN or an infinity (either kernels find it)."""
    _check_weights(w, dw)
    config = _read_config(rule, config, w)
    if out is None:
        out = {key: np.empty(w.shape, dtype=w.dtype) for key in output_names(rule)}
    else:
        _check_out(rule, out, w)
    fused = _fused.compiled()  # w is float32 or float64 (checked above): both are compiled
    if fused is None:
        config, bad_dw, bad_w = KERNELS[rule](w, dw, config, out)
    else:
        config, bad_dw, bad_w = _fused.run(fused, rule, _SPECS[rule].arrays, w, dw, config, out)
    return out["w"], config, bad_dw, bad_w


def _check_out(rule: str, out: Any, w: np.ndarray) -> None:
    """``out`` must hold, for each of the rule's outputs, a writeable C-contiguous array like ``w``: the
    kernels write through a flat view of each, which only such an array has (any other would get its
    writes into a copy, and lose them)."""
    if not isinstance(out, Mapping):
        raise InvalidTypeError(f"out must be a dict of arrays, got {_describe(out)}")
    for key in output_names(rule):
        name = f"out[{key!r}]"
        if key not in out:
            raise InvalidArgumentError(
                f"out must hold {list(output_names(rule))} for {rule}, got keys {sorted(map(str, out))}"
            )
        value = check_float_array(name, out[key])
        if value.shape != w.shape or value.dtype != w.dtype:
            raise InvalidArgumentError(
                f"{name} must match w (shape {w.shape}, dtype {w.dtype}), "
                f"got shape {value.shape} and dtype {value.dtype}"
            )
        if not value.flags.c_contiguous or not value.flags.writeable:
            raise InvalidArgumentError(
                f"{name} must be a writeable C-contiguous array (the step is written through a flat view "
                f"of it), got one that is {'not C-contiguous' if not value.flags.c_contiguous else 'read-only'}"
            )


def step_into(
    rule: str, w: np.ndarray, dw: np.ndarray, config: dict[str, Any] | None, out: Mapping[str, np.ndarray]
) -> tuple[np.ndarray, dict[str, Any], bool, bool]:
    """The built-in ``rule``'s step, written into arrays the caller provides (the Solver reuses its own).

    The same values as ``UPDATE_RULES[rule](w, dw, config)``, bit for bit, and as pure towards its
    inputs; only where the results go differs.

    Args:
        rule: a built-in rule's name. w, dw, config: as for the rule.
        out: ``out['w']`` for next_w and ``out[key]`` for each state array the rule keeps (see
            :func:`output_names`); each writeable, C-contiguous and of w's shape and dtype (checked),
            and sharing no memory with ``w``, ``dw`` or the config's arrays (the caller's duty: not
            checked).

    Returns:
        ``out['w']``, the new config (which holds ``out``'s state arrays), and whether ``dw`` and
        next_w hold a NaN or an infinity, found in the same pass by whichever kernels ran (see
        :func:`dropout_lab.optim.use_kernels`).

    Raises:
        InvalidArgumentError: an unknown rule, or an ``out`` array that is missing, unlike ``w``, not
            C-contiguous or read-only (before anything is written).
    """
    if rule not in KERNELS:
        raise InvalidArgumentError(f"rule must be one of {sorted(KERNELS)}, got {rule!r}")
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
