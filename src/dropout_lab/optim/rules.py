"""First-order update rules with the course's signature: ``next_w, config = rule(w, dw, config)``.

Each rule is pure: it never changes ``w``, ``dw`` or the ``config`` it is given, and returns a new
config dict holding every hyperparameter (defaults filled in) and new state arrays. The arithmetic
follows the course's operation order term by term, so float64 inputs reproduce the course's numbers
to the last bit, and it keeps ``w``'s dtype: hyperparameters are Python floats, which NumPy treats as
"weak" scalars, so a float32 ``w`` is updated entirely in float32.

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


def sgd(w: np.ndarray, dw: np.ndarray, config: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Vanilla stochastic gradient descent: ``next_w = w - learning_rate * dw``.

    Args:
        w: parameters, any shape, float32 or float64. dw: gradient, w's shape and dtype.
        config: ``learning_rate`` (default 1e-2), or None.

    Returns:
        next_w: w's shape and dtype, and a new config.
    """
    _check_weights(w, dw)
    config = _read_config("sgd", config, w)
    next_w = w - config["learning_rate"] * dw
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
    _check_weights(w, dw)
    config = _read_config("sgd_momentum", config, w)
    v = config["momentum"] * config["velocity"] - config["learning_rate"] * dw
    next_w = w + v
    config["velocity"] = v
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
    _check_weights(w, dw)
    config = _read_config("rmsprop", config, w)
    decay_rate = config["decay_rate"]
    cache = decay_rate * config["cache"] + (1 - decay_rate) * dw**2
    next_w = w - config["learning_rate"] * dw / (np.sqrt(cache) + config["epsilon"])
    config["cache"] = cache
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
    _check_weights(w, dw)
    config = _read_config("adam", config, w)
    beta1, beta2 = config["beta1"], config["beta2"]
    t = config["t"] + 1
    m = beta1 * config["m"] + (1 - beta1) * dw
    mt = m / (1 - beta1**t)
    v = beta2 * config["v"] + (1 - beta2) * (dw**2)
    vt = v / (1 - beta2**t)
    next_w = w - config["learning_rate"] * mt / (np.sqrt(vt) + config["epsilon"])
    config["t"], config["m"], config["v"] = t, m, v
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
