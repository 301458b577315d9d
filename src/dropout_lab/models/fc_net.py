"""Fully connected networks with optional normalization and a dropout of the dropout family."""

from __future__ import annotations

from collections.abc import Sequence
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
from ..layers.losses import softmax_loss
from ..layers.normalization import (
    batchnorm_backward_alt,
    layernorm_backward,
)
from . import _predict
from ._dropout_layers import DropoutFamilyLayers
from ._fused_net import fused_scores, fused_train_step
from ._variants import (
    activation_backward,
    affine_any_backward,
    check_variant,
    unit_noise_backward,
)

NORMALIZATIONS = (None, "batchnorm", "layernorm")


class FullyConnectedNet(DropoutFamilyLayers):
    """``{affine - [batchnorm|layernorm] - relu|selu - [dropout]} x (L - 1) - affine - softmax``.

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
        weight_scale: standard deviation of the normal initial weights (``init='normal'``).
        dtype: float32 (training) or float64 (gradient checks); every parameter and computation.
        seed: fixes every dropout mask: each dropout call draws from
            ``np.random.RandomState(seed)``, so the network is a deterministic function, which is what a
            numerical gradient check needs, and wrong for training (the same units are dropped at
            every step). The Solver warns if asked to train such a model. (The other dropout kinds
            draw from ``np.random.default_rng(seed)``, afresh at each call.)
        dropout_keep_ratio: the newer course's name for ``dropout``; give one or the other.
        input_dropout: probability of keeping each input value (Hinton et al. 2012,
            https://arxiv.org/abs/1207.0580, keep 0.8 of input pixels); 1 = none.
        rng: a ``np.random.Generator`` for the initial weights and for a fresh dropout mask at every
            call: the training path. Without it, the weights are
            ``weight_scale * np.random.randn(d_in, d_out)`` from NumPy's global generator in layer order
            and unseeded masks come from ``np.random.rand``, as in the course.
        dropout_kind: which dropout the keep probabilities drive: 'bernoulli' (inverted dropout of
            the units, :func:`~dropout_lab.layers.dropout`; the default), 'gaussian' (Gaussian dropout
            of the units, :func:`~dropout_lab.layers.gaussian_dropout`: the same mean and variance),
            'alpha' (:func:`~dropout_lab.layers.alpha_dropout` of the units; SELU nets only: it is
            refused with ReLU) or 'dropconnect' (:func:`~dropout_lab.layers.dropconnect_affine`, a mask
            on the WEIGHTS, one per minibatch: ``input_dropout``
            applies to W1, which reads the input, and ``dropout[i]`` to W(i+2), which reads hidden
            layer i + 1, the same connections whose source units Bernoulli dropout would drop). Every
            kind but 'bernoulli' draws only from a Generator: give ``rng`` (or ``seed``, for
            gradient checks, where every call draws from ``np.random.default_rng(seed)``).
        activation: 'relu' (default) or 'selu' (Klambauer et al. 2017).
        init: 'normal' (``weight_scale * N(0, 1)``), 'lecun' (LeCun normal, ``N(0, 1) / sqrt(d_in)``,
            which SELU's self-normalization assumes) or 'he' (He et al. 2015, https://arxiv.org/abs/1502.01852,
            ``N(0, 1) * sqrt(2 / d_in)``: a ReLU net's signal keeps its scale however narrow the layers;
            PyTorch's ``kaiming_normal_``); ``weight_scale`` is unused by the last two. None (default):
            'lecun' for SELU nets, 'normal' for ReLU nets.

    ``keep_probs`` (one per hidden layer) and ``input_keep_prob`` may be assigned between steps (a
    keep-probability schedule): the next call of :meth:`loss` uses the new values, and
    ``use_dropout`` follows them. Both are checked on assignment.

    :meth:`predict_proba` gives class probabilities by weight scaling or by Monte Carlo dropout, and
    :meth:`predict_proba_samples` those of each Monte Carlo pass. Checkpoints record ``dropout_kind``
    and ``activation``, and loading or resuming into a model of another is refused.

    Without normalization, :meth:`loss` takes a fused path for test-mode scores and, for
    ``dropout_kind='bernoulli'`` with ``activation='relu'`` only, with ``rng`` (and no ``seed``), for
    training: the same operations as the layer functions, on the same dropout masks,
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
        dropout_kind: str = "bernoulli",
        activation: str = "relu",
        init: str | None = None,
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
        self._keep_probs = self._check_keep_probs("dropout", 1.0 if keep is None else keep, len(hidden))
        self._input_keep_prob = check_keep_prob("input_dropout", input_dropout)
        self.dropout_kind, self.activation, self.init = check_variant(dropout_kind, activation, init)
        if self.dropout_kind != "bernoulli" and self.use_dropout and self.rng is None and self.seed is None:
            raise InvalidArgumentError(
                f"rng is required for dropout_kind={self.dropout_kind!r}: its noise is drawn from a "
                "numpy.random.Generator only (rng=np.random.default_rng(seed), or seed= for gradient checks)"
            )

        self.normalization = normalization
        self.num_layers = len(hidden) + 1
        self.input_dim = input_dim
        self.num_classes = num_classes

        self.params: dict[str, np.ndarray] = {}
        dims = [input_dim, *hidden, num_classes]
        for i in range(self.num_layers):
            d_in, d_out = dims[i], dims[i + 1]
            # LeCun normal: unit-variance pre-activations for unit-variance inputs (SELU's fixed point);
            # He normal: twice that, so that a ReLU (which zeroes half) keeps the signal's scale.
            scale = {"lecun": 1.0 / np.sqrt(d_in), "he": np.sqrt(2.0 / d_in)}.get(self.init, weight_scale)
            if self.rng is None:
                w = scale * np.random.randn(d_in, d_out)
            else:
                w = scale * self.rng.standard_normal((d_in, d_out))
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
                return fused_scores(self.params, self.num_layers, self.activation, X)
            fused = self.dropout_kind == "bernoulli" and self.activation == "relu"
            if fused and self.seed is None and self.rng is not None:
                step = fused_train_step(self.params, self._keep_probs, self._input_keep_prob, self.rng, X, y)
                # At reg 0 the L2 term would only cost a pass over every weight.
                return self._add_l2(*step) if self.reg != 0.0 else step
        for bn_param in self.bn_params:
            if self.normalization == "batchnorm":
                bn_param["mode"] = "train" if train else "test"

        scores, caches, last_cache = self._forward(X, train, None, self.bn_params)
        if y is None:
            return scores

        L = self.num_layers
        loss, dscores = softmax_loss(scores, y)
        grads: dict[str, np.ndarray] = {}
        dh, grads[f"W{L}"], grads[f"b{L}"] = affine_any_backward(dscores, last_cache)
        for i in range(L - 1, 0, -1):
            fc_cache, norm_cache, act_cache, drop_cache = caches[i - 1]
            if drop_cache is not None:
                dh = unit_noise_backward(dh, drop_cache)
            dh = activation_backward(dh, act_cache)
            if norm_cache is not None and self.normalization == "batchnorm":
                dh, grads[f"gamma{i}"], grads[f"beta{i}"] = batchnorm_backward_alt(dh, norm_cache)
            elif norm_cache is not None and self.normalization == "layernorm":
                dh, grads[f"gamma{i}"], grads[f"beta{i}"] = layernorm_backward(dh, norm_cache)
            dh, grads[f"W{i}"], grads[f"b{i}"] = affine_any_backward(dh, fc_cache)
        return self._add_l2(loss, grads)

    # ----------------------------------------------------------------- probabilities
    def _batch_scores(self, X: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        """Scores of one batch: test mode without ``rng``, one stochastic pass (dropout in training
        mode from ``rng``, batchnorm with its running statistics) with it."""
        if rng is None:
            return self.loss(X)
        inputs = self._check_input(X, None)
        bn_params = [{**p, "mode": "test"} for p in self.bn_params]
        scores: np.ndarray = self._forward(inputs, True, rng, bn_params)[0]
        return scores

    def _check_rows(self, X: Any, batch_size: int) -> np.ndarray:
        """X checked whole before any pass draws (a bad value in a late batch must not leave the
        caller's generator half advanced), one batch at a time (never a cast copy of all of X)."""
        if not isinstance(X, np.ndarray) or X.ndim < 2 or X.shape[0] == 0:
            self._check_input(X, None)  # raises the error that names what is wrong
        for start in range(0, X.shape[0], batch_size):
            self._check_input(X[start : start + batch_size], None)
        rows: np.ndarray = X
        return rows

    def predict_proba(
        self,
        X: np.ndarray,
        mc_samples: int = 0,
        rng: np.random.Generator | None = None,
        *,
        batch_size: int = _predict.DEFAULT_BATCH_SIZE,
    ) -> np.ndarray:
        """Class probabilities (N, C), in the model's dtype.

        ``mc_samples=0``: weight-scaling inference, ``softmax(self.loss(X))`` (every dropout is the
        identity in test mode; DropConnect uses the mean weights). ``mc_samples=K > 0``: Monte Carlo
        dropout, the average of the softmax over K stochastic passes, dropout in training mode with
        masks from ``rng``, batchnorm in test mode. X is taken ``batch_size`` rows at a time, so
        memory stays that of one batch's pass; pass k covers every batch before pass k + 1, and the
        result is a function of ``rng``'s state and ``batch_size``.

        Args:
            X: (N, d_1, ..., d_k) inputs, as for :meth:`loss`. mc_samples: K >= 0.
            rng: a ``np.random.Generator``, required when K > 0 (the model's own ``rng`` is not
                touched). batch_size: rows per pass.
        """
        mc_samples, batch_size = _predict.check_mc(mc_samples, rng, batch_size, allow_zero=True)
        X = self._check_rows(X, batch_size)
        return _predict.mean_probabilities(
            X, self.num_classes, self.dtype, self._batch_scores, mc_samples, rng, batch_size
        )

    def predict_proba_samples(
        self,
        X: np.ndarray,
        mc_samples: int,
        rng: np.random.Generator,
        *,
        batch_size: int = _predict.DEFAULT_BATCH_SIZE,
    ) -> np.ndarray:
        """The probabilities of each Monte Carlo pass, (K, N, C) in the model's dtype, for uncertainty
        measures; drawn as :meth:`predict_proba` draws them, whose result is their mean over axis 0.

        Args:
            X: (N, d_1, ..., d_k). mc_samples: K >= 1. rng: a ``np.random.Generator`` (required).
            batch_size: rows per pass.
        """
        mc_samples, batch_size = _predict.check_mc(mc_samples, rng, batch_size, allow_zero=False)
        X = self._check_rows(X, batch_size)
        return _predict.sampled_probabilities(
            X, self.num_classes, self.dtype, self._batch_scores, mc_samples, rng, batch_size
        )

    def _add_l2(self, loss: Any, grads: dict[str, np.ndarray]) -> tuple[Any, dict[str, np.ndarray]]:
        """``loss + 0.5 * reg * sum(W**2)`` over the weights, and ``reg * W`` added to their gradients
        (in place), in the course's order."""
        for i in range(1, self.num_layers + 1):
            w = self.params[f"W{i}"]
            loss += 0.5 * self.reg * np.sum(w * w)
            grads[f"W{i}"] += self.reg * w
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
