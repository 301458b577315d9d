"""dropout-lab: a reference NumPy implementation of inverted dropout in fully connected networks.

Keep probabilities throughout: ``keep_prob`` (the course's ``p``) is the probability of KEEPING a
unit, the opposite of PyTorch's and Keras's dropout argument.

The top level holds one spelling of each thing a user starts from; the rest lives in the subpackages
(:mod:`dropout_lab.layers`, :mod:`dropout_lab.models`, :mod:`dropout_lab.optim`,
:mod:`dropout_lab.data`, :mod:`dropout_lab.experiments`, :mod:`dropout_lab.gradcheck`,
:mod:`dropout_lab.uncertainty`, :mod:`dropout_lab.calibration`). The calibration function is
``calibration_metrics``, not ``calibration``: that name is the module's, and a function of the same
name at the top level would hide it (``import dropout_lab.calibration as c`` would give the function). The cs231n
exercise's names (``dropout_forward``, ``get_CIFAR10_data``, ``eval_numerical_gradient``, ...) are in
:mod:`dropout_lab.course`. docs/api.md lists the whole public API.
"""

from .calibration import calibration_metrics
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
from .optim import KeepSchedule
from .solver import Divergence, Solver
from .uncertainty import mc_uncertainty

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
    "KeepSchedule",
    "Solver",
    "TrainingDivergedError",
    "TwoLayerNet",
    "assert_gradient_close",
    "calibration_metrics",
    "download_cifar10",
    "dropout",
    "dropout_backward",
    "dropout_mask",
    "get_cifar10_data",
    "get_digits_data",
    "load_checkpoint",
    "load_dataset",
    "mc_uncertainty",
    "save_checkpoint",
]
