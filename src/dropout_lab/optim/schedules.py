"""Keep-probability schedules: the keep probability in effect at step (or epoch) ``t`` of training.

Each schedule maps a target keep probability ``keep_prob`` (the model's) and a time ``t`` (steps or
epochs done before the step, from 0) to the keep probability of that step:

* ``constant``: ``keep_prob`` at every step (what training without a schedule does).
* ``linear``: from 1 (no dropout) down to ``keep_prob`` in a straight line over ``ramp`` steps (or
  epochs), then ``keep_prob``: ``1 - (1 - keep_prob) * min(t / ramp, 1)``.
* ``curriculum``: Curriculum Dropout (Morerio et al. 2017, ICCV, https://arxiv.org/abs/1703.06229):
  ``(1 - keep_prob) * exp(-gamma * t) + keep_prob``, 1 at ``t = 0`` and decaying to ``keep_prob``.

All are non-increasing in ``t`` and lie in ``[keep_prob, 1]``; a target of 1 stays 1. Keras and PyTorch
have no such option (the paper's code changes the rate of its dropout layers from a callback).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .._validation import check_keep_prob, check_positive_int, check_positive_real
from ..errors import InvalidArgumentError

__all__ = ["KEEP_SCHEDULE_KINDS", "KeepSchedule", "curriculum_keep_prob", "linear_keep_prob"]

#: The kinds of :class:`KeepSchedule`.
KEEP_SCHEDULE_KINDS = ("constant", "linear", "curriculum")
_PER = ("step", "epoch")


def linear_keep_prob(keep_prob: float, t: int, ramp: float) -> float:
    """``1 - (1 - keep_prob) * min(t / ramp, 1)``: 1 at ``t = 0``, ``keep_prob`` from ``t = ramp`` on.

    Args:
        keep_prob: the target keep probability, in (0, 1]. t: steps (or epochs) done, >= 0.
        ramp: the steps (or epochs) the keep probability takes to fall to ``keep_prob``, > 0.
    """
    keep_prob = check_keep_prob("keep_prob", keep_prob)
    t = check_positive_int("t", t, allow_zero=True)
    ramp = check_positive_real("ramp", ramp)
    if t >= ramp:
        return keep_prob  # exactly: 1 - (1 - keep_prob) may differ from keep_prob in the last bit
    return min(1.0, max(keep_prob, 1.0 - (1.0 - keep_prob) * (t / ramp)))


def curriculum_keep_prob(keep_prob: float, t: int, gamma: float) -> float:
    """``(1 - keep_prob) * exp(-gamma * t) + keep_prob`` (Morerio et al. 2017): 1 at ``t = 0``,
    decaying to ``keep_prob``; kept within ``[keep_prob, 1]`` against rounding.

    Args:
        keep_prob: the target keep probability, in (0, 1]. t: steps (or epochs) done, >= 0.
        gamma: the decay rate per step (or epoch), > 0.
    """
    keep_prob = check_keep_prob("keep_prob", keep_prob)
    t = check_positive_int("t", t, allow_zero=True)
    gamma = check_positive_real("gamma", gamma)
    if t == 0:
        return 1.0
    return min(1.0, max(keep_prob, (1.0 - keep_prob) * math.exp(-gamma * t) + keep_prob))


@dataclass(frozen=True)
class KeepSchedule:
    """How a :class:`~dropout_lab.solver.Solver` moves the model's keep probabilities during training.

    Before each step the Solver sets every keep probability of the model (``model.keep_probs``, one per
    hidden layer, and ``model.input_keep_prob``) to ``schedule.keep_prob(target, t)``, where the
    targets are the model's keep probabilities when the Solver was made, and ``t`` counts the steps
    done (``per='step'``) or the epochs done (``per='epoch'``) before that step.

    Args:
        kind: 'constant' (the target throughout), 'linear' (needs ``ramp``) or 'curriculum' (needs
            ``gamma``); see the module's formulas.
        per: 'step' (default) or 'epoch': the unit of ``t``, ``ramp`` and ``gamma``.
        gamma: the curriculum's decay rate per unit of ``t`` (> 0); only with 'curriculum'.
        ramp: the linear ramp's length in units of ``t`` (> 0); only with 'linear'.

    Raises:
        InvalidArgumentError, InvalidTypeError: an unknown kind or unit, a missing or bad ``gamma`` or
            ``ramp``, or one given to a kind that does not use it.
    """

    kind: str = "constant"
    per: str = "step"
    gamma: float | None = None
    ramp: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in KEEP_SCHEDULE_KINDS:
            raise InvalidArgumentError(f"kind must be one of {list(KEEP_SCHEDULE_KINDS)}, got {self.kind!r}")
        if self.per not in _PER:
            raise InvalidArgumentError(f"per must be 'step' or 'epoch', got {self.per!r}")
        for name, kind in (("gamma", "curriculum"), ("ramp", "linear")):
            value = getattr(self, name)
            if self.kind == kind:
                if value is None:
                    raise InvalidArgumentError(f"a {kind!r} KeepSchedule needs {name}, got None")
                object.__setattr__(self, name, check_positive_real(name, value))
            elif value is not None:
                raise InvalidArgumentError(
                    f"{name} is used by a {kind!r} KeepSchedule only, got {name}={value!r} for kind {self.kind!r}"
                )

    def keep_prob(self, target: float, t: int) -> float:
        """The keep probability at time ``t`` (steps or epochs done, >= 0) for a target ``target``."""
        # __post_init__ made sure the kind's own parameter is set.
        if self.kind == "linear" and self.ramp is not None:
            return linear_keep_prob(target, t, self.ramp)
        if self.kind == "curriculum" and self.gamma is not None:
            return curriculum_keep_prob(target, t, self.gamma)
        return check_keep_prob("keep_prob", target)

    def record(self) -> dict[str, Any]:
        """The schedule as JSON values (how a checkpoint records it)."""
        return {"kind": self.kind, "per": self.per, "gamma": self.gamma, "ramp": self.ramp}
