"""Layers as pure forward/backward function pairs: ``out, cache = f_forward(...)``,
``grads = f_backward(dout, cache)``."""

from .affine import (
    AffineCache,
    AffineReluCache,
    affine_backward,
    affine_forward,
    affine_relu_backward,
    affine_relu_forward,
)
from .dropout import DropoutCache, dropout, dropout_backward, dropout_forward, dropout_mask
from .losses import softmax_loss, svm_loss
from .normalization import (
    NormCache,
    batchnorm_backward,
    batchnorm_backward_alt,
    batchnorm_forward,
    layernorm_backward,
    layernorm_forward,
)
from .relu import ReluCache, relu_backward, relu_forward

__all__ = [
    "AffineCache",
    "AffineReluCache",
    "DropoutCache",
    "NormCache",
    "ReluCache",
    "affine_backward",
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
    "layernorm_backward",
    "layernorm_forward",
    "relu_backward",
    "relu_forward",
    "softmax_loss",
    "svm_loss",
]
