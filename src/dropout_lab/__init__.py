"""dropout-lab: a reference NumPy implementation of inverted dropout in fully connected networks.

Keep probabilities throughout: ``keep_prob`` (the course's ``p``) is the probability of KEEPING a
unit, the opposite of PyTorch's and Keras's dropout argument.

The top level holds one spelling of each thing a user starts from; the rest lives in the subpackages
(:mod:`dropout_lab.layers`, :mod:`dropout_lab.models`, :mod:`dropout_lab.optim`,
:mod:`dropout_lab.data`, :mod:`dropout_lab.experiments`, :mod:`dropout_lab.gradcheck`). The cs231n
exercise's names (``dropout_forward``, ``get_CIFAR10_data``, ``eval_numerical_gradient``, ...) are in
:mod:`dropout_lab.course`. docs/api.md lists the whole public API.
"""

from .checkpoint import load_checkpoint, save_checkpoint
from .data import download_cifar10, get_cifar10_data, get_digits_data, load_dataset
from .errors import (
    CheckpointError,
    DataError,
    DropoutLabError,
    InvalidArgumentError,
    InvalidTypeError,
    TrainingDivergedError,
)
from .gradcheck import assert_gradient_close
from .layers import dropout, dropout_backward, dropout_mask
from .models import FullyConnectedNet, TwoLayerNet
from .solver import Divergence, Solver

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "CheckpointError",
    "DataError",
    "Divergence",
    "DropoutLabError",
    "FullyConnectedNet",
    "InvalidArgumentError",
    "InvalidTypeError",
    "Solver",
    "TrainingDivergedError",
    "TwoLayerNet",
    "assert_gradient_close",
    "download_cifar10",
    "dropout",
    "dropout_backward",
    "dropout_mask",
    "get_cifar10_data",
    "get_digits_data",
    "load_checkpoint",
    "load_dataset",
    "save_checkpoint",
]
