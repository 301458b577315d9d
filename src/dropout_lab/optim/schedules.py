"""Keep-probability schedules: the keep probability in effect at step (or epoch) ``t`` of training; and
the momentum schedule of SGD with momentum (:class:`MomentumSchedule`, at the end).

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

from .._validation import check_keep_prob, check_positive_int, check_positive_real, check_unit_interval
from ..errors import InvalidArgumentError

__all__ = [
    "KEEP_SCHEDULE_KINDS",
    "MOMENTUM_SCHEDULE_KINDS",
    "KeepSchedule",
    "MomentumSchedule",
    "curriculum_keep_prob",
    "linear_keep_prob",
    "linear_momentum",
]

#: The kinds of :class:`KeepSchedule`.
KEEP_SCHEDULE_KINDS = ("constant", "linear", "curriculum")
#: The kinds of :class:`MomentumSchedule`.
MOMENTUM_SCHEDULE_KINDS = ("constant", "linear")
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


def linear_momentum(start: float, final: float, epochs_done: float, epochs: float) -> float:
    """``start + (final - start) * min(epochs_done / epochs, 1)``: ``start`` at 0, ``final`` from
    ``epochs_done = epochs`` on (exactly), kept between the two against rounding.

    Args:
        start, final: momenta in [0, 1). epochs_done: the (fractional) epochs done, >= 0.
        epochs: the ramp's length in epochs, > 0.
    """
    start = check_unit_interval("start", start)
    final = check_unit_interval("final", final)
    epochs = check_positive_real("epochs", epochs)
    done = check_positive_real("epochs_done", epochs_done, allow_zero=True)
    if done >= epochs:
        return final
    value = start + (final - start) * (done / epochs)
    return min(max(value, min(start, final)), max(start, final))


@dataclass(frozen=True)
class MomentumSchedule:
    """How a :class:`~dropout_lab.solver.Solver` moves the momentum of 'sgd_momentum' during training.

    Before the update at step ``t`` (steps done before it, from 0) the Solver sets every parameter's
    ``optim_config['momentum']`` to ``schedule.momentum(final, t / iterations_per_epoch)``: ``t`` counts
    in fractional epochs, and ``final`` is the momentum the Solver's ``optim_config`` gives (the rule's
    default 0.9 without one). A linear schedule is
    ``momentum(t) = start + (final - start) * min(t / (iterations_per_epoch * epochs), 1)``: Hinton et
    al. 2012 (https://arxiv.org/abs/1207.0580) raise it from 0.5 to 0.99 over the first 500 epochs on
    MNIST; Srivastava et al. 2014 (Appendix B.1) give a final momentum of 0.95.

    Args:
        kind: 'constant' (``final`` throughout) or 'linear' (needs ``start`` and ``epochs``).
        start: the momentum at step 0, in [0, 1); only with 'linear'.
        epochs: the epochs the momentum takes to reach ``final`` (> 0, fractional allowed); only with 'linear'.

    Raises:
        InvalidArgumentError, InvalidTypeError: an unknown kind, a missing or bad ``start`` or ``epochs``,
            or one given to 'constant'.
    """

    kind: str = "constant"
    start: float | None = None
    epochs: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in MOMENTUM_SCHEDULE_KINDS:
            raise InvalidArgumentError(
                f"kind must be one of {list(MOMENTUM_SCHEDULE_KINDS)}, got {self.kind!r}"
            )
        for name, check in (("start", check_unit_interval), ("epochs", check_positive_real)):
            value = getattr(self, name)
            if self.kind == "linear":
                if value is None:
                    raise InvalidArgumentError(f"a 'linear' MomentumSchedule needs {name}, got None")
                object.__setattr__(self, name, check(name, value))
            elif value is not None:
                raise InvalidArgumentError(
                    f"{name} is used by a 'linear' MomentumSchedule only, got {name}={value!r} for kind {self.kind!r}"
                )

    def momentum(self, final: float, epochs_done: float) -> float:
        """The momentum after ``epochs_done`` (fractional) epochs, for a final momentum ``final``."""
        # __post_init__ made sure a linear schedule has start and epochs.
        if self.kind == "linear" and self.start is not None and self.epochs is not None:
            return linear_momentum(self.start, final, epochs_done, self.epochs)
        return check_unit_interval("final", final)

    def record(self) -> dict[str, Any]:
        """The schedule as JSON values (how a checkpoint records it)."""
        return {"kind": self.kind, "start": self.start, "epochs": self.epochs}
