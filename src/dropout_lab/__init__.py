"""dropout-lab: a reference NumPy implementation of inverted dropout in fully connected networks.

Keep probabilities throughout: ``keep_prob`` (the course's ``p``) is the probability of KEEPING a
unit, the opposite of PyTorch's and Keras's dropout argument.
"""

from .errors import (
    CheckpointError,
    DataError,
    DropoutLabError,
    InvalidArgumentError,
    InvalidTypeError,
    TrainingDivergedError,
)
from .gradcheck import (
    assert_gradient_close,
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    grad_check_sparse,
    rel_error,
)
from .layers import (
    affine_backward,
    affine_forward,
    affine_relu_backward,
    affine_relu_forward,
    batchnorm_backward,
    batchnorm_backward_alt,
    batchnorm_forward,
    dropout,
    dropout_backward,
    dropout_forward,
    dropout_mask,
    layernorm_backward,
    layernorm_forward,
    relu_backward,
    relu_forward,
    softmax_loss,
    svm_loss,
)
from .checkpoint import load_checkpoint, save_checkpoint
from .data import (
    download_cifar10,
    get_CIFAR10_data,
    get_cifar10_data,
    get_digits_data,
    load_CIFAR10,
    load_cifar10,
    load_dataset,
    load_digits,
)
from .models import FullyConnectedNet, TwoLayerNet
from .optim import adam, get_update_rule, rmsprop, sgd, sgd_momentum
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
    "adam",
    "affine_backward",
    "affine_forward",
    "affine_relu_backward",
    "affine_relu_forward",
    "assert_gradient_close",
    "batchnorm_backward",
    "batchnorm_backward_alt",
    "batchnorm_forward",
    "download_cifar10",
    "dropout",
    "dropout_backward",
    "dropout_forward",
    "dropout_mask",
    "eval_numerical_gradient",
    "eval_numerical_gradient_array",
    "get_cifar10_data",
    "get_CIFAR10_data",
    "get_digits_data",
    "get_update_rule",
    "grad_check_sparse",
    "layernorm_backward",
    "layernorm_forward",
    "load_checkpoint",
    "load_CIFAR10",
    "load_cifar10",
    "load_dataset",
    "load_digits",
    "rel_error",
    "relu_backward",
    "relu_forward",
    "rmsprop",
    "save_checkpoint",
    "sgd",
    "sgd_momentum",
    "softmax_loss",
    "svm_loss",
]
