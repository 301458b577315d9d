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
from .alpha_dropout import AlphaDropoutCache, alpha_dropout, alpha_dropout_affine, alpha_dropout_backward
from .dropconnect import DropConnectCache, dropconnect_affine, dropconnect_affine_backward
from .dropout import DropoutCache, dropout, dropout_backward, dropout_forward, dropout_mask
from .gaussian_dropout import GaussianDropoutCache, gaussian_dropout, gaussian_dropout_backward
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
from .selu import SELU_ALPHA, SELU_LAMBDA, SeluCache, selu_backward, selu_forward

__all__ = [
    "AffineCache",
    "AffineReluCache",
    "AlphaDropoutCache",
    "DropConnectCache",
    "DropoutCache",
    "GaussianDropoutCache",
    "NormCache",
    "ReluCache",
    "SELU_ALPHA",
    "SELU_LAMBDA",
    "SeluCache",
    "affine_backward",
    "affine_forward",
    "affine_relu_backward",
    "affine_relu_forward",
    "alpha_dropout",
    "alpha_dropout_affine",
    "alpha_dropout_backward",
    "batchnorm_backward",
    "batchnorm_backward_alt",
    "batchnorm_forward",
    "dropconnect_affine",
    "dropconnect_affine_backward",
    "dropout",
    "dropout_backward",
    "dropout_forward",
    "dropout_mask",
    "gaussian_dropout",
    "gaussian_dropout_backward",
    "layernorm_backward",
    "layernorm_forward",
    "relu_backward",
    "relu_forward",
    "selu_backward",
    "selu_forward",
    "softmax_loss",
    "svm_loss",
]
