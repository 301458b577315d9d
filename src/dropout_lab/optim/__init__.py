"""Update rules (SGD, SGD with momentum, RMSProp, Adam), their registry, and the choice of kernels
that run them (:func:`use_kernels`, :func:`kernels`); the max-norm constraint applied after an update
(:mod:`~dropout_lab.optim.constraints`), keep-probability schedules and the momentum schedule
(:mod:`~dropout_lab.optim.schedules`)."""

from ._fused import kernels, use_kernels
from .constraints import max_norm
from .rules import (
    UPDATE_RULES,
    UpdateRule,
    adam,
    get_update_rule,
    rmsprop,
    sgd,
    sgd_momentum,
)
from .schedules import KeepSchedule, MomentumSchedule, curriculum_keep_prob, linear_keep_prob, linear_momentum

__all__ = [
    "UPDATE_RULES",
    "KeepSchedule",
    "MomentumSchedule",
    "UpdateRule",
    "adam",
    "curriculum_keep_prob",
    "get_update_rule",
    "kernels",
    "linear_keep_prob",
    "linear_momentum",
    "max_norm",
    "rmsprop",
    "sgd",
    "sgd_momentum",
    "use_kernels",
]
