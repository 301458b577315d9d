"""Update rules (SGD, SGD with momentum, RMSProp, Adam), their registry, and the choice of kernels
that run them (:func:`use_kernels`, :func:`kernels`)."""

from ._fused import kernels, use_kernels
from .rules import (
    UPDATE_RULES,
    UpdateRule,
    adam,
    get_update_rule,
    rmsprop,
    sgd,
    sgd_momentum,
)

__all__ = [
    "UPDATE_RULES",
    "UpdateRule",
    "adam",
    "get_update_rule",
    "kernels",
    "rmsprop",
    "sgd",
    "sgd_momentum",
    "use_kernels",
]
