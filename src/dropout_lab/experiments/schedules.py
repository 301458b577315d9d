"""The experiment's schedules as text: ``keep_schedule`` and ``momentum_schedule`` settings parsed into
the :class:`~dropout_lab.optim.KeepSchedule` and :class:`~dropout_lab.optim.MomentumSchedule` a run's
Solver takes (both re-exported by :mod:`~dropout_lab.experiments.config`), and the check that the
momentum settings meet the one rule that has a momentum."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidArgumentError, InvalidTypeError
from ..optim.schedules import KeepSchedule, MomentumSchedule

__all__ = ["MOMENTUM_SETTINGS", "check_momentum_rule", "parse_keep_schedule", "parse_momentum_schedule"]

#: The experiment settings of update_rule 'sgd_momentum' alone, at their defaults (which any rule has).
MOMENTUM_SETTINGS = {"momentum": None, "momentum_schedule": "constant"}


def parse_keep_schedule(text: Any) -> KeepSchedule:
    """The :class:`~dropout_lab.optim.KeepSchedule` a config's ``keep_schedule`` text names: 'constant',
    'linear:RAMP' or 'curriculum:GAMMA' (RAMP and GAMMA in steps), each kind followed by ':epoch' for
    a schedule in epochs ('curriculum:0.05:epoch')."""
    if not isinstance(text, str):
        raise InvalidTypeError(f"keep_schedule must be text such as 'curriculum:0.001', got {type(text).__name__}")
    parts = text.strip().split(":")
    per = "step"
    if len(parts) > 1 and parts[-1] in ("step", "epoch"):
        per = parts.pop()
    kind, *params = parts
    usage = "'constant', 'linear:RAMP' or 'curriculum:GAMMA', then ':epoch' for a schedule in epochs"
    if kind == "constant" and not params:
        return KeepSchedule("constant", per)
    if kind in ("linear", "curriculum") and len(params) == 1:
        try:
            value = float(params[0])
        except ValueError:
            raise InvalidArgumentError(f"keep_schedule must be {usage}, got {text!r}") from None
        return KeepSchedule(kind, per, **{"ramp" if kind == "linear" else "gamma": value})
    raise InvalidArgumentError(f"keep_schedule must be {usage}, got {text!r}")


def parse_momentum_schedule(text: Any) -> MomentumSchedule:
    """The :class:`~dropout_lab.optim.MomentumSchedule` a config's ``momentum_schedule`` text names:
    'constant' (the final momentum throughout) or 'linear:START:EPOCHS' (from START, in [0, 1), to the
    final momentum over the first EPOCHS epochs, > 0; 'linear:0.5:500' is Hinton et al. 2012's)."""
    if not isinstance(text, str):
        raise InvalidTypeError(
            f"momentum_schedule must be text such as 'linear:0.5:500', got {type(text).__name__}"
        )
    kind, *params = text.strip().split(":")
    usage = "'constant' or 'linear:START:EPOCHS' (START in [0, 1), EPOCHS > 0)"
    if kind == "constant" and not params:
        return MomentumSchedule()
    if kind == "linear" and len(params) == 2:
        try:
            start, epochs = float(params[0]), float(params[1])
        except ValueError:
            raise InvalidArgumentError(f"momentum_schedule must be {usage}, got {text!r}") from None
        try:
            return MomentumSchedule("linear", start=start, epochs=epochs)
        except InvalidArgumentError as exc:
            raise InvalidArgumentError(f"momentum_schedule {text!r}: {exc}") from None
    raise InvalidArgumentError(f"momentum_schedule must be {usage}, got {text!r}")


def check_momentum_rule(values: dict[str, tuple[Any, ...]]) -> None:
    """Refuse a momentum setting (:data:`MOMENTUM_SETTINGS`) away from its default where any cell of
    the grid trains with another rule than 'sgd_momentum'. ``values``: ``update_rule`` and each momentum
    setting -> its values (the swept ones, or the one set): the grid is their cross product."""
    others = [rule for rule in values["update_rule"] if rule != "sgd_momentum"]
    for name, default in MOMENTUM_SETTINGS.items():
        used = [v for v in values[name] if v != default]
        if used and others:
            raise InvalidArgumentError(
                f"{name} {used[0]!r} is a setting of update_rule 'sgd_momentum' only, got update_rule {others[0]!r}"
            )
