"""Update rules (SGD, SGD with momentum, RMSProp, Adam) and their registry."""

from .rules import (
    UPDATE_RULES,
    UpdateRule,
    adam,
    get_update_rule,
    rmsprop,
    rule_name,
    sgd,
    sgd_momentum,
    validate_config,
)

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
