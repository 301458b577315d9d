"""Fully connected networks with optional normalization and inverted dropout."""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Real
from typing import Any, overload

import numpy as np

from .._validation import (
    check_finite,
    check_float_dtype,
    check_generator,
    check_keep_prob,
    check_labels,
    check_nonempty_batch,
    check_positive_int,
    check_positive_real,
    check_seed,
)
from ..errors import InvalidArgumentError, InvalidTypeError
from ..layers.affine import affine_backward, affine_forward
from ..layers.dropout import DropoutCache, _apply_mask, dropout, dropout_backward, dropout_forward
from ..layers.losses import softmax_loss
from ..layers.normalization import (
    batchnorm_backward_alt,
    batchnorm_forward,
    layernorm_backward,
    layernorm_forward,
)
from ..layers.relu import relu_backward, relu_forward

NORMALIZATIONS = (None, "batchnorm", "layernorm")


class FullyConnectedNet:
    """``{affine - [batchnorm|layernorm] - relu - [dropout]} x (L - 1) - affine - softmax``.

    Parameters live in ``self.params``: ``W1..WL`` ((d_in, d_out) weights), ``b1..bL`` (biases),
    and with normalization ``gamma1..gamma(L-1)``, ``beta1..beta(L-1)``. Batchnorm's running
    statistics live in ``self.bn_params`` (see :meth:`buffers`).

    Args:
        hidden_dims: the L - 1 hidden layer sizes.
        input_dim: D, the number of values in one input example (inputs (N, d_1, ...) are flattened).
        num_classes: C.
        dropout: the probability of KEEPING a hidden unit (1 = no dropout), or one value per hidden
            layer. **Keep, not drop**: PyTorch's ``Dropout(p=0.2)`` is ``dropout=0.8`` here.
        normalization: None, 'batchnorm' or 'layernorm'.
        reg: L2 strength; the loss gains ``0.5 * reg * sum(W**2)`` over the weights only.
        weight_scale: standard deviation of the normal initial weights.
        dtype: float32 (training) or float64 (gradient checks); every parameter and computation.
        seed: fixes every dropout mask: each dropout call draws from
            ``np.random.RandomState(seed)``, so the network is a deterministic function, which is what a
            numerical gradient check needs, and wrong for training (the same units are dropped at
            every step). The Solver warns if asked to train such a model.
        dropout_keep_ratio: the newer course's name for ``dropout``; give one or the other.
        input_dropout: probability of keeping each input value (Hinton et al. 2012,
            https://arxiv.org/abs/1207.0580, keep 0.8 of input pixels); 1 = none.
        rng: a ``np.random.Generator`` for the initial weights and for a fresh dropout mask at every
            call: the training path. Without it, the weights are
            ``weight_scale * np.random.randn(d_in, d_out)`` from NumPy's global generator in layer order
            and unseeded masks come from ``np.random.rand``, as in the course.

    Without normalization, :meth:`loss` takes a fused path for scores and, with ``rng`` (and no
    ``seed``), for training: the same operations as the layer functions, on the same dropout masks,
    with the biases, ReLU and dropout applied in place, the ReLU and dropout gradients in one pass,
    and no gradient with respect to the input data (which nothing uses). The values are those of the
    layer-by-layer computation.
    """

    def __init__(
        self,
        hidden_dims: Sequence[int],
        input_dim: int = 3 * 32 * 32,
        num_classes: int = 10,
        dropout: float | Sequence[float] | None = None,
        normalization: str | None = None,
        reg: float = 0.0,
        weight_scale: float = 1e-2,
        dtype: Any = np.float32,
        seed: int | None = None,
        *,
        dropout_keep_ratio: float | Sequence[float] | None = None,
        input_dropout: float = 1.0,
        rng: np.random.Generator | None = None,
    ) -> None:
        if isinstance(hidden_dims, (str, bytes)) or not isinstance(hidden_dims, Sequence):
            raise InvalidTypeError(
                f"hidden_dims must be a sequence of positive integers, got {type(hidden_dims).__name__}"
            )
        hidden = [check_positive_int(f"hidden_dims[{i}]", h) for i, h in enumerate(hidden_dims)]
        input_dim = check_positive_int("input_dim", input_dim)
        num_classes = check_positive_int("num_classes", num_classes)
        if num_classes < 2:
            raise InvalidArgumentError(f"num_classes must be at least 2, got {num_classes}")
        if normalization not in NORMALIZATIONS:
            raise InvalidArgumentError(
                f"normalization must be None, 'batchnorm' or 'layernorm', got {normalization!r}"
            )
        self.reg = check_positive_real("reg", reg, allow_zero=True)
        weight_scale = check_positive_real("weight_scale", weight_scale)
        self.dtype = check_float_dtype("dtype", dtype).type
        self.seed = check_seed("seed", seed)
        self.rng = check_generator("rng", rng)
        if dropout is not None and dropout_keep_ratio is not None and dropout != dropout_keep_ratio:
            raise InvalidArgumentError(
                f"give dropout or dropout_keep_ratio, not both (got {dropout!r} and {dropout_keep_ratio!r})"
            )
        keep = dropout if dropout is not None else dropout_keep_ratio
        self.keep_probs = self._keep_probs(1.0 if keep is None else keep, len(hidden))
        self.input_keep_prob = check_keep_prob("input_dropout", input_dropout)

        self.normalization = normalization
        self.num_layers = len(hidden) + 1
        self.input_dim = input_dim
        self.num_classes = num_classes
        self.use_dropout = any(k != 1.0 for k in self.keep_probs) or self.input_keep_prob != 1.0

        self.params: dict[str, np.ndarray] = {}
        dims = [input_dim, *hidden, num_classes]
        for i in range(self.num_layers):
            d_in, d_out = dims[i], dims[i + 1]
            if self.rng is None:
                w = weight_scale * np.random.randn(d_in, d_out)
            else:
                w = weight_scale * self.rng.standard_normal((d_in, d_out))
            self.params[f"W{i + 1}"] = w
            self.params[f"b{i + 1}"] = np.zeros(d_out)
            if normalization is not None and i < self.num_layers - 1:
                self.params[f"gamma{i + 1}"] = np.ones(d_out)
                self.params[f"beta{i + 1}"] = np.zeros(d_out)
        for k, v in self.params.items():
            self.params[k] = v.astype(self.dtype)

        # The course's mutable per-layer dicts; batchnorm writes its running statistics into them.
        self.bn_params: list[dict[str, Any]] = []
        if normalization == "batchnorm":
            self.bn_params = [{"mode": "train"} for _ in range(self.num_layers - 1)]
        elif normalization == "layernorm":
            self.bn_params = [{} for _ in range(self.num_layers - 1)]

    @staticmethod
    def _keep_probs(keep: Any, num_hidden: int) -> tuple[float, ...]:
        if isinstance(keep, Real):
            return (check_keep_prob("dropout", keep),) * num_hidden
        if isinstance(keep, (str, bytes)) or not isinstance(keep, Sequence):
            raise InvalidTypeError(
                f"dropout must be a keep probability or a sequence of them, got {type(keep).__name__}"
            )
        if len(keep) != num_hidden:
            raise InvalidArgumentError(
                f"dropout must give one keep probability per hidden layer ({num_hidden}), got {len(keep)}"
            )
        return tuple(check_keep_prob(f"dropout[{i}]", k) for i, k in enumerate(keep))

    @property
    def fixed_dropout_masks(self) -> bool:
        """True when every dropout mask is a fixed function of ``seed`` (the same units dropped at every
        step): the :class:`~dropout_lab.models.protocol.Model` member the Solver asks before training."""
        return self.seed is not None and self.use_dropout

    # ----------------------------------------------------------------- state beyond params
    def buffers(self) -> dict[str, np.ndarray]:
        """Batchnorm's running statistics, ``running_mean{i}`` and ``running_var{i}`` (copies)."""
        out: dict[str, np.ndarray] = {}
        if self.normalization == "batchnorm":
            for i, p in enumerate(self.bn_params, start=1):
                for key in ("running_mean", "running_var"):
                    if key in p:
                        out[f"{key}{i}"] = p[key].copy()
        return out

    def load_buffers(self, buffers: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`buffers` returned; checks every name and shape before changing any."""
        expected = {}
        if self.normalization == "batchnorm":
            for i in range(1, self.num_layers):
                d = self.params[f"gamma{i}"].shape
                expected[f"running_mean{i}"] = d
                expected[f"running_var{i}"] = d
        unknown = sorted(set(buffers) - set(expected))
        if unknown:
            raise InvalidArgumentError(f"buffers holds names this model does not have: {unknown}")
        for name, value in buffers.items():
            if not isinstance(value, np.ndarray) or value.shape != expected[name]:
                raise InvalidArgumentError(
                    f"buffers[{name!r}] must be an array of shape {expected[name]}, got "
                    f"{getattr(value, 'shape', type(value).__name__)}"
                )
        for name, value in buffers.items():
            key = "running_mean" if name.startswith("running_mean") else "running_var"
            index = int(name[len(key):]) - 1
            self.bn_params[index][key] = value.astype(self.dtype, copy=True)

    # ----------------------------------------------------------------- forward and backward
    def _check_input(self, X: Any, y: Any) -> np.ndarray:
        if not isinstance(X, np.ndarray):
            raise InvalidTypeError(f"X must be a NumPy array, got {type(X).__name__}")
        if not (np.issubdtype(X.dtype, np.floating) or np.issubdtype(X.dtype, np.integer)):
            raise InvalidTypeError(f"X must hold real numbers (a float or integer dtype), got dtype {X.dtype}")
        if X.ndim < 2:
            raise InvalidArgumentError(f"X must have shape (N, d_1, ...), got shape {X.shape}")
        check_nonempty_batch("X", X)
        d = int(np.prod(X.shape[1:], dtype=np.int64))
        if d != self.input_dim:
            raise InvalidArgumentError(
                f"X must hold input_dim={self.input_dim} values per example, got shape {X.shape} ({d} values)"
            )
        # Values beyond the model's dtype become inf in the cast: reported by check_finite, not as a warning.
        with np.errstate(over="ignore", invalid="ignore"):
            inputs: np.ndarray = X.astype(self.dtype, copy=False)
        check_finite("X", inputs)
        if y is not None:
            check_labels("y", y, inputs.shape[0], self.num_classes)
        return inputs

    def _dropout(self, x: np.ndarray, keep_prob: float, train: bool) -> tuple[np.ndarray, DropoutCache | None]:
        if keep_prob == 1.0:
            return x, None
        if self.seed is None and self.rng is not None:
            return dropout(x, keep_prob, train=train, rng=self.rng)
        param: dict[str, Any] = {"mode": "train" if train else "test", "p": keep_prob}
        if self.seed is not None:
            param["seed"] = self.seed
        return dropout_forward(x, param)

    @overload
    def loss(self, X: np.ndarray, y: None = None) -> np.ndarray: ...

    @overload
    def loss(self, X: np.ndarray, y: np.ndarray) -> tuple[Any, dict[str, np.ndarray]]: ...

    def loss(
        self, X: np.ndarray, y: np.ndarray | None = None
    ) -> np.ndarray | tuple[Any, dict[str, np.ndarray]]:
        """Class scores, or the loss and its gradients.

        Args:
            X: (N, d_1, ..., d_k) inputs with d_1 * ... * d_k = input_dim; cast to the model's dtype.
            y: (N,) integer labels in [0, num_classes), or None.

        Returns:
            With ``y=None``: scores (N, C), computed in test mode (no dropout, batchnorm's running
            statistics). Otherwise ``(loss, grads)``, in training mode, with ``grads`` keyed like
            ``params``.
        """
        X = self._check_input(X, y)
        train = y is not None
        if self.normalization is None:
            if y is None:
                return self._scores(X)
            if self.seed is None and self.rng is not None:
                return self._train_step(X, y)
        for bn_param in self.bn_params:
            if self.normalization == "batchnorm":
                bn_param["mode"] = "train" if train else "test"

        caches = []
        h, input_cache = self._dropout(X, self.input_keep_prob, train)
        for i in range(1, self.num_layers):
            h, fc_cache = affine_forward(h, self.params[f"W{i}"], self.params[f"b{i}"])
            norm_cache = None
            if self.normalization == "batchnorm":
                h, norm_cache = batchnorm_forward(
                    h, self.params[f"gamma{i}"], self.params[f"beta{i}"], self.bn_params[i - 1]
                )
            elif self.normalization == "layernorm":
                h, norm_cache = layernorm_forward(
                    h, self.params[f"gamma{i}"], self.params[f"beta{i}"], self.bn_params[i - 1]
                )
            h, relu_cache = relu_forward(h)
            h, drop_cache = self._dropout(h, self.keep_probs[i - 1], train)
            caches.append((fc_cache, norm_cache, relu_cache, drop_cache))
        L = self.num_layers
        scores, last_cache = affine_forward(h, self.params[f"W{L}"], self.params[f"b{L}"])
        if y is None:
            return scores

        loss, dscores = softmax_loss(scores, y)
        grads: dict[str, np.ndarray] = {}
        dh, grads[f"W{L}"], grads[f"b{L}"] = affine_backward(dscores, last_cache)
        for i in range(L - 1, 0, -1):
            fc_cache, norm_cache, relu_cache, drop_cache = caches[i - 1]
            if drop_cache is not None:
                dh = dropout_backward(dh, drop_cache)
            dh = relu_backward(dh, relu_cache)
            if norm_cache is not None and self.normalization == "batchnorm":
                dh, grads[f"gamma{i}"], grads[f"beta{i}"] = batchnorm_backward_alt(dh, norm_cache)
            elif norm_cache is not None and self.normalization == "layernorm":
                dh, grads[f"gamma{i}"], grads[f"beta{i}"] = layernorm_backward(dh, norm_cache)
            dh, grads[f"W{i}"], grads[f"b{i}"] = affine_backward(dh, fc_cache)
        return self._add_l2(loss, grads)

    def _add_l2(self, loss: Any, grads: dict[str, np.ndarray]) -> tuple[Any, dict[str, np.ndarray]]:
        """``loss + 0.5 * reg * sum(W**2)`` over the weights, and ``reg * W`` added to their gradients
        (in place), in the course's order."""
        for i in range(1, self.num_layers + 1):
            w = self.params[f"W{i}"]
            loss += 0.5 * self.reg * np.sum(w * w)
            grads[f"W{i}"] += self.reg * w
        return loss, grads

    # ----------------------------------------------------------------- fused paths (no normalization)
    def _scores(self, X: np.ndarray) -> np.ndarray:
        """Test-mode scores (N, C): ``relu(h @ W + b)`` layer by layer (dropout is the identity)."""
        h = X.reshape(X.shape[0], -1)
        for i in range(1, self.num_layers):
            a = h.dot(self.params[f"W{i}"])
            a += self.params[f"b{i}"]
            h = np.maximum(0, a, out=a)
        scores: np.ndarray = h.dot(self.params[f"W{self.num_layers}"])
        scores += self.params[f"b{self.num_layers}"]
        return scores

    def _train_step(self, X: np.ndarray, y: np.ndarray) -> tuple[Any, dict[str, np.ndarray]]:
        """Loss and gradients in training mode, with fresh masks from ``self.rng``.

        The forward pass keeps each layer's output ``h_i = dropout(relu(h_{i-1} @ W_i + b_i))``. Since
        ``1 / keep_prob >= 1``, ``h_i > 0`` exactly where the unit was both active and kept, so the
        ReLU and dropout gradients together are ``dout * (1 / keep_prob)`` where ``h_i > 0`` and 0
        elsewhere: one masked pass, the same values as the two layer functions.
        """
        L = self.num_layers
        h = X.reshape(X.shape[0], -1)
        if self.input_keep_prob != 1.0:
            # X belongs to the caller: the dropped inputs go to a new array.
            h, _ = dropout(h, self.input_keep_prob, train=True, rng=self.rng)
        inputs = [h]  # inputs[i - 1]: layer i's input, (N, d_{i-1})
        for i in range(1, L):
            a = h.dot(self.params[f"W{i}"])
            a += self.params[f"b{i}"]
            np.maximum(0, a, out=a)
            keep_prob = self.keep_probs[i - 1]
            if keep_prob != 1.0:
                dropout(a, keep_prob, train=True, rng=self.rng, out=a)
            inputs.append(a)
            h = a
        scores = h.dot(self.params[f"W{L}"])
        scores += self.params[f"b{L}"]

        loss, dh = softmax_loss(scores, y)
        grads: dict[str, np.ndarray] = {}
        for i in range(L, 0, -1):
            x_in = inputs[i - 1]
            grads[f"W{i}"] = x_in.T.dot(dh)
            grads[f"b{i}"] = np.sum(dh, axis=0)
            if i == 1:
                break  # the gradient with respect to the data is never used
            dh = dh.dot(self.params[f"W{i}"].T)
            scale = dh.dtype.type(1 / self.keep_probs[i - 2])
            _apply_mask(dh, x_in > 0, scale, out=dh)
        if self.reg != 0.0:  # at reg 0 it would only cost a pass over every weight
            return self._add_l2(loss, grads)
        return loss, grads


class TwoLayerNet(FullyConnectedNet):
    """``affine - relu - affine - softmax`` in float64, the course's two-layer net.

    Args:
        input_dim: D. hidden_dim: H. num_classes: C.
        weight_scale: standard deviation of the initial weights, drawn from NumPy's global generator.
        reg: L2 strength.
    """

    def __init__(
        self,
        input_dim: int = 3 * 32 * 32,
        hidden_dim: int = 100,
        num_classes: int = 10,
        weight_scale: float = 1e-3,
        reg: float = 0.0,
    ) -> None:
        super().__init__(
            [hidden_dim],
            input_dim=input_dim,
            num_classes=num_classes,
            weight_scale=weight_scale,
            reg=reg,
            dtype=np.float64,
        )
