"""The dropout family's side of :class:`~dropout_lab.models.FullyConnectedNet`: its keep
probabilities (assignable between steps), where each kind draws its masks, and the layer-by-layer
forward pass that every path but the fused ones takes. A base class, so that ``fc_net.py`` keeps to
the model's construction, loss and prediction."""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Real
from typing import Any

import numpy as np

from .._validation import check_keep_prob
from ..errors import InvalidArgumentError, InvalidTypeError
from ..layers.affine import AffineCache, affine_forward
from ..layers.dropconnect import DropConnectCache, dropconnect_affine
from ..layers.dropout import DropoutCache, dropout, dropout_forward
from ..layers.normalization import batchnorm_forward, layernorm_forward
from ._variants import NoiseCache, activation_forward, unit_noise


class DropoutFamilyLayers:
    """The keep probabilities and the layer-by-layer forward pass of a fully connected net (a base of
    :class:`~dropout_lab.models.FullyConnectedNet`, which sets every attribute below)."""

    params: dict[str, np.ndarray]
    num_layers: int
    normalization: str | None
    dropout_kind: str
    activation: str
    seed: int | None
    rng: np.random.Generator | None
    _keep_probs: tuple[float, ...]
    _input_keep_prob: float

    @staticmethod
    def _check_keep_probs(name: str, keep: Any, num_hidden: int) -> tuple[float, ...]:
        if isinstance(keep, Real):
            return (check_keep_prob(name, keep),) * num_hidden
        if isinstance(keep, (str, bytes)) or not isinstance(keep, Sequence):
            raise InvalidTypeError(
                f"{name} must be a keep probability or a sequence of them, got {type(keep).__name__}"
            )
        if len(keep) != num_hidden:
            raise InvalidArgumentError(
                f"{name} must give one keep probability per hidden layer ({num_hidden}), got {len(keep)}"
            )
        return tuple(check_keep_prob(f"{name}[{i}]", k) for i, k in enumerate(keep))

    @property
    def keep_probs(self) -> tuple[float, ...]:
        """The keep probability of each hidden layer's dropout; assignable between steps (one value
        for every layer, or one per layer), checked on assignment."""
        return self._keep_probs

    @keep_probs.setter
    def keep_probs(self, keep: float | Sequence[float]) -> None:
        keep_probs = self._check_keep_probs("keep_probs", keep, self.num_layers - 1)
        self._check_generator_for(keep_probs, self._input_keep_prob)
        self._keep_probs = keep_probs

    @property
    def input_keep_prob(self) -> float:
        """The keep probability of the input's dropout; assignable between steps, checked on assignment."""
        return self._input_keep_prob

    @input_keep_prob.setter
    def input_keep_prob(self, keep: float) -> None:
        input_keep_prob = check_keep_prob("input_keep_prob", keep)
        self._check_generator_for(self._keep_probs, input_keep_prob)
        self._input_keep_prob = input_keep_prob

    def _check_generator_for(self, keep_probs: tuple[float, ...], input_keep_prob: float) -> None:
        dropping = any(k != 1.0 for k in keep_probs) or input_keep_prob != 1.0
        if dropping and self.dropout_kind != "bernoulli" and self.rng is None and self.seed is None:
            raise InvalidArgumentError(
                f"rng is required for dropout_kind={self.dropout_kind!r}: this model has no Generator to "
                "draw its noise from, so its keep probabilities must stay 1"
            )

    @property
    def use_dropout(self) -> bool:
        """Whether any keep probability (hidden or input) is below 1, as they stand now."""
        return any(k != 1.0 for k in self._keep_probs) or self._input_keep_prob != 1.0

    def _dropout(self, x: np.ndarray, keep_prob: float, train: bool) -> tuple[np.ndarray, DropoutCache | None]:
        if keep_prob == 1.0:
            return x, None
        if self.seed is None and self.rng is not None:
            return dropout(x, keep_prob, train=train, rng=self.rng)
        param: dict[str, Any] = {"mode": "train" if train else "test", "p": keep_prob}
        if self.seed is not None:
            param["seed"] = self.seed
        return dropout_forward(x, param)

    def _generator(self, train: bool, rng: np.random.Generator | None) -> np.random.Generator | None:
        """Where the other kinds draw: ``rng`` when given (Monte Carlo prediction), else a fresh
        ``default_rng(seed)`` (a fixed mask: gradient checks), else the model's ``rng``."""
        if not train or rng is not None:
            return rng
        if self.seed is not None:
            return np.random.default_rng(self.seed)
        if self.rng is None:  # only reachable if rng was taken away after construction
            raise InvalidArgumentError(
                f"rng is required for dropout_kind={self.dropout_kind!r} in training mode: set model.rng to "
                "a numpy.random.Generator"
            )
        return self.rng

    def _unit_dropout(
        self, h: np.ndarray, keep_prob: float, train: bool, rng: np.random.Generator | None
    ) -> tuple[np.ndarray, NoiseCache | None]:
        """The dropout of units ``h`` (None: the model's own source of masks, see :meth:`_generator`)."""
        if keep_prob == 1.0 or self.dropout_kind == "dropconnect":
            return h, None
        if self.dropout_kind == "bernoulli":
            if rng is None:
                return self._dropout(h, keep_prob, train)
            return dropout(h, keep_prob, train=train, rng=rng)
        return unit_noise(self.dropout_kind, h, keep_prob, train, self._generator(train, rng))

    def _affine(
        self, h: np.ndarray, i: int, train: bool, rng: np.random.Generator | None
    ) -> tuple[np.ndarray, AffineCache | DropConnectCache]:
        """Layer i's affine map; with DropConnect, its weights masked by the keep probability of the
        units they read (the input's for W1, hidden layer i - 1's for Wi)."""
        w, b = self.params[f"W{i}"], self.params[f"b{i}"]
        keep_prob = self._input_keep_prob if i == 1 else self._keep_probs[i - 2]
        if self.dropout_kind == "dropconnect" and keep_prob != 1.0:
            return dropconnect_affine(h, w, b, keep_prob, train=train, rng=self._generator(train, rng))
        return affine_forward(h, w, b)

    def _forward(
        self, X: np.ndarray, train: bool, rng: np.random.Generator | None, bn_params: list[dict[str, Any]]
    ) -> tuple[np.ndarray, list[tuple[Any, ...]], AffineCache | DropConnectCache]:
        """Scores layer by layer, with each layer's caches: dropout in training mode when ``train``
        (from ``rng`` when given), normalization in the mode its ``bn_params`` say."""
        caches = []
        h, _ = self._unit_dropout(X, self._input_keep_prob, train, rng)
        for i in range(1, self.num_layers):
            h, fc_cache = self._affine(h, i, train, rng)
            norm_cache = None
            if self.normalization == "batchnorm":
                h, norm_cache = batchnorm_forward(
                    h, self.params[f"gamma{i}"], self.params[f"beta{i}"], bn_params[i - 1]
                )
            elif self.normalization == "layernorm":
                h, norm_cache = layernorm_forward(
                    h, self.params[f"gamma{i}"], self.params[f"beta{i}"], bn_params[i - 1]
                )
            h, act_cache = activation_forward(self.activation, h)
            h, drop_cache = self._unit_dropout(h, self._keep_probs[i - 1], train, rng)
            caches.append((fc_cache, norm_cache, act_cache, drop_cache))
        scores, last_cache = self._affine(h, self.num_layers, train, rng)
        return scores, caches, last_cache

