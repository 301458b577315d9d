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
from .models import FullyConnectedNet, TwoLayerNet

__version__ = "0.1.0"

__all__ = [
    "CheckpointError",
    "DataError",
    "DropoutLabError",
    "FullyConnectedNet",
    "InvalidArgumentError",
    "InvalidTypeError",
    "TrainingDivergedError",
    "TwoLayerNet",
    "__version__",
    "affine_backward",
    "assert_gradient_close",
    "affine_forward",
    "affine_relu_backward",
    "affine_relu_forward",
    "batchnorm_backward",
    "batchnorm_backward_alt",
    "batchnorm_forward",
    "dropout",
    "dropout_backward",
    "dropout_forward",
    "dropout_mask",
    "eval_numerical_gradient",
    "eval_numerical_gradient_array",
    "grad_check_sparse",
    "layernorm_backward",
    "layernorm_forward",
    "rel_error",
    "relu_backward",
    "relu_forward",
    "softmax_loss",
    "svm_loss",
]
