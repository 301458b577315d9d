"""What a trainable model must have: the :class:`Model` protocol that the Solver and checkpoints accept.

Any object with these members trains with :class:`dropout_lab.Solver` and saves with
:func:`dropout_lab.checkpoint.save_checkpoint`; it need not derive from anything (a structural type,
checked by mypy and at run time). :class:`~dropout_lab.models.FullyConnectedNet` is one.

Required (:class:`Model`):

* ``params``: parameter name -> floating-point array; the Solver writes updated arrays into this dict.
* ``loss(X, y=None)``: ``X`` (N, d_1, ...); without labels the class scores (N, C); with ``y`` (N,)
  integer labels the pair ``(loss, grads)``, ``grads`` keyed like ``params``.

Optional, looked up at run time (the helpers below say how each one is read):

* ``buffers()`` and ``load_buffers(buffers)`` (:class:`BufferedModel`): state that gradients do not
  train, such as batchnorm's running statistics; saved in checkpoints and restored with the best
  parameters.
* ``rng``: the ``np.random.Generator`` the model draws its dropout masks from (saved in checkpoints;
  None or absent: the model draws from NumPy's global generator, or draws nothing).
* ``fixed_dropout_masks``: True when every dropout mask is a fixed function of a seed (the same units
  dropped at every step: meant for gradient checks); the Solver then warns and takes no random
  generator state of the model's. Absent: False.
* ``use_dropout``: whether the model drops units at all (absent: assumed True).
* ``num_classes`` and ``input_dim``: integers against which the Solver checks labels and inputs.
"""

from __future__ import annotations

from numbers import Integral
from typing import Any, Protocol, TypeGuard, cast, overload, runtime_checkable

import numpy as np

from .._validation import _describe
from ..errors import InvalidArgumentError, InvalidTypeError

__all__ = [
    "BufferedModel",
    "GeneratorModel",
    "Model",
    "check_model",
    "has_buffers",
    "has_generator",
    "model_buffers",
    "model_draws_from_global_rng",
    "model_fixed_dropout_masks",
    "model_int_attribute",
    "model_rng",
    "model_uses_dropout",
]


@runtime_checkable
class Model(Protocol):
    """A trainable classification model (see the module's docstring for the optional members)."""

    @property
    def params(self) -> dict[str, np.ndarray]:
        """Parameter name -> floating-point array, in a fixed order."""
        ...

    @overload
    def loss(self, X: np.ndarray, y: None = None) -> np.ndarray: ...

    @overload
    def loss(self, X: np.ndarray, y: np.ndarray) -> tuple[Any, dict[str, np.ndarray]]: ...

    def loss(self, X: np.ndarray, y: np.ndarray | None = None) -> Any:
        """Scores (N, C) for ``X`` (N, d_1, ...) without ``y``; ``(loss, grads)`` with ``y`` (N,).

        The loss is a real scalar (a float or a NumPy floating scalar); ``grads`` holds one array per
        parameter, of the parameter's shape.
        """
        ...


@runtime_checkable
class BufferedModel(Model, Protocol):
    """A :class:`Model` with state that gradients do not train (batchnorm's running statistics)."""

    def buffers(self) -> dict[str, np.ndarray]:
        """Buffer name -> array (copies, or arrays the model no longer changes in place)."""
        ...

    def load_buffers(self, buffers: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`buffers` returned; refuse (and change nothing) on a wrong name or shape."""
        ...


@runtime_checkable
class GeneratorModel(Model, Protocol):
    """A :class:`Model` that draws its dropout masks from its own ``np.random.Generator``."""

    rng: np.random.Generator


def has_generator(model: object) -> TypeGuard[GeneratorModel]:
    """Whether ``model.rng`` is a ``np.random.Generator``."""
    return isinstance(getattr(model, "rng", None), np.random.Generator)


def has_buffers(model: object) -> TypeGuard[BufferedModel]:
    """Whether ``model`` has callable ``buffers`` and ``load_buffers`` members."""
    return callable(getattr(model, "buffers", None)) and callable(getattr(model, "load_buffers", None))


def model_buffers(model: object) -> dict[str, np.ndarray]:
    """Copies of ``model.buffers()``, or ``{}`` for a model without a callable ``buffers``."""
    buffers = getattr(model, "buffers", None)
    if not callable(buffers):
        return {}
    return {str(name): np.array(value, copy=True) for name, value in buffers().items()}


def model_rng(model: object) -> np.random.Generator | None:
    """The model's ``rng`` if it is a ``np.random.Generator``, else None."""
    rng = getattr(model, "rng", None)
    return rng if isinstance(rng, np.random.Generator) else None


def model_uses_dropout(model: object) -> bool:
    """The model's ``use_dropout`` (absent: True, as a model that may drop units)."""
    return bool(getattr(model, "use_dropout", True))


def model_fixed_dropout_masks(model: object) -> bool:
    """The model's ``fixed_dropout_masks`` (absent: False)."""
    return bool(getattr(model, "fixed_dropout_masks", False))


def model_draws_from_global_rng(model: object) -> bool:
    """Whether the model's dropout masks come from NumPy's global generator: a model without a
    Generator ``rng``, without fixed masks, that uses dropout (an unknown model: yes)."""
    if model_rng(model) is not None or model_fixed_dropout_masks(model):
        return False
    return model_uses_dropout(model)


def model_int_attribute(model: object, name: str) -> int | None:
    """``model.<name>`` (``num_classes``, ``input_dim``) where it is an integer, else None."""
    value = getattr(model, name, None)
    if isinstance(value, bool) or not isinstance(value, Integral):
        return None
    return int(value)


def check_model(model: object) -> Model:
    """Return ``model`` if it has a ``params`` dict of floating-point arrays (not empty) and a callable
    ``loss``, else raise :class:`~dropout_lab.errors.InvalidTypeError` or ``InvalidArgumentError``."""
    params = getattr(model, "params", None)
    if not isinstance(params, dict) or not callable(getattr(model, "loss", None)):
        raise InvalidTypeError(
            f"model must have a params dict and a loss(X, y=None) method, got {type(model).__name__}"
        )
    if not params:
        raise InvalidArgumentError("model.params is empty: there is nothing to train")
    for name, value in params.items():
        if not isinstance(value, np.ndarray) or not np.issubdtype(value.dtype, np.floating):
            raise InvalidTypeError(f"model.params[{name!r}] must be a floating-point array, got {_describe(value)}")
    return cast(Model, model)
