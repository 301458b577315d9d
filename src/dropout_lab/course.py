"""The cs231n exercise's names, in one place: the surface its calling code uses.

The exercise's notebook and its ``cs231n`` modules call the functions below by these names. Each is the
library's own function (the same object, not a copy); the right-hand side is where it lives and how
the rest of dropout-lab spells it. ``from dropout_lab.course import *`` stands in for the exercise's
``from cs231n.layers import *``, ``from cs231n.data_utils import get_CIFAR10_data`` and the like.

Data (``cs231n.data_utils``):

* ``load_CIFAR_batch`` -> :func:`dropout_lab.data.load_cifar10_batch`
* ``load_CIFAR10`` -> :func:`dropout_lab.data.load_cifar10`
* ``get_CIFAR10_data`` -> :func:`dropout_lab.data.get_cifar10_data`

Layers (``cs231n.layers`` and ``cs231n.layer_utils``), each in :mod:`dropout_lab.layers`:

* ``dropout_forward`` -> :func:`dropout_lab.layers.dropout_forward`, the dict form
  ``dropout_forward(x, {"p": ..., "mode": ...})`` (``p`` is the probability of KEEPING a unit);
  :func:`dropout_lab.dropout` is the explicit form
* ``dropout_backward`` -> :func:`dropout_lab.layers.dropout_backward` (both forms' caches)
* ``affine_forward``, ``affine_backward``, ``relu_forward``, ``relu_backward``,
  ``affine_relu_forward``, ``affine_relu_backward``, ``batchnorm_forward``, ``batchnorm_backward``,
  ``batchnorm_backward_alt``, ``layernorm_forward``, ``layernorm_backward``, ``softmax_loss``,
  ``svm_loss`` -> the same names in :mod:`dropout_lab.layers`

Update rules (``cs231n.optim``): ``sgd``, ``sgd_momentum``, ``rmsprop``, ``adam`` -> the same names in
:mod:`dropout_lab.optim` (the Solver takes them by name: ``update_rule="adam"``).

Gradient checks (``cs231n.gradient_check`` and the notebook's ``rel_error``), which print or return
numbers; :func:`dropout_lab.assert_gradient_close` is the library's check that fails loudly:

* ``eval_numerical_gradient``, ``eval_numerical_gradient_array``, ``grad_check_sparse``,
  ``rel_error`` -> the same names in :mod:`dropout_lab.gradcheck`

Models and training (``cs231n.classifiers.fc_net``, ``cs231n.solver``): ``FullyConnectedNet``,
``TwoLayerNet`` -> :mod:`dropout_lab.models`; ``Solver`` -> :class:`dropout_lab.Solver`.
"""

from __future__ import annotations

from .data import get_cifar10_data, load_cifar10, load_cifar10_batch
from .gradcheck import eval_numerical_gradient, eval_numerical_gradient_array, grad_check_sparse, rel_error
from .layers import (
    affine_backward,
    affine_forward,
    affine_relu_backward,
    affine_relu_forward,
    batchnorm_backward,
    batchnorm_backward_alt,
    batchnorm_forward,
    dropout_backward,
    dropout_forward,
    layernorm_backward,
    layernorm_forward,
    relu_backward,
    relu_forward,
    softmax_loss,
    svm_loss,
)
from .models import FullyConnectedNet, TwoLayerNet
from .optim import adam, rmsprop, sgd, sgd_momentum
from .solver import Solver

__all__ = [
    "FullyConnectedNet",
    "Solver",
    "TwoLayerNet",
    "adam",
    "affine_backward",
    "affine_forward",
    "affine_relu_backward",
    "affine_relu_forward",
    "batchnorm_backward",
    "batchnorm_backward_alt",
    "batchnorm_forward",
    "dropout_backward",
    "dropout_forward",
    "eval_numerical_gradient",
    "eval_numerical_gradient_array",
    "get_CIFAR10_data",
    "grad_check_sparse",
    "layernorm_backward",
    "layernorm_forward",
    "load_CIFAR10",
    "load_CIFAR_batch",
    "rel_error",
    "relu_backward",
    "relu_forward",
    "rmsprop",
    "sgd",
    "sgd_momentum",
    "softmax_loss",
    "svm_loss",
]

# The course's spellings of the CIFAR-10 loaders (N802: the names are the course's, kept on purpose).
load_CIFAR_batch = load_cifar10_batch
load_CIFAR10 = load_cifar10
get_CIFAR10_data = get_cifar10_data
