"""Models: classes that own parameters, and the protocol a model of your own must follow."""

from .fc_net import FullyConnectedNet, TwoLayerNet
from .protocol import BufferedModel, Model

__all__ = ["BufferedModel", "FullyConnectedNet", "Model", "TwoLayerNet"]
