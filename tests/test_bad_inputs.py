"""Bad input, systematically: one table of calls that must be refused, swept over every public
function and class (``dropout_lab.__all__``, ``dropout_lab.experiments.__all__``, the Solver and its
methods, the optimizers, the gradient checks, the data loaders, checkpoints).

Each row is a call with one thing wrong. The test checks that the call raises the project exception
the row names (a :class:`DropoutLabError` that is also a ``ValueError``, ``TypeError`` or, for files,
``OSError``); that the message names the argument and, where the row says so, what was given; that
no argument was modified; that no file appeared in (or changed under) the working folder; that
NumPy's global generator did not move (nothing was drawn before the refusal); and that no warning
was raised on the way.

``docs/errors.md`` is generated from this same table (``python docs/make_errors_table.py``), and a
test here keeps it up to date.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import dropout_lab
from dropout_lab import (
    FullyConnectedNet,
    KeepSchedule,
    Solver,
    TwoLayerNet,
    assert_gradient_close,
    calibration_metrics,
    course,
    download_cifar10,
    dropout,
    dropout_backward,
    dropout_mask,
    experiments,
    get_cifar10_data,
    get_digits_data,
    load_checkpoint,
    load_dataset,
    mc_uncertainty,
    reproduce,
    save_checkpoint,
)
from dropout_lab.calibration import plot_reliability
from dropout_lab.course import get_CIFAR10_data, load_CIFAR10, load_CIFAR_batch
from dropout_lab.data import load_cifar10, load_cifar10_batch
from dropout_lab.errors import (
    CheckpointError,
    DataError,
    DropoutLabError,
    InvalidArgumentError,
    InvalidTypeError,
)
from dropout_lab.experiments import (
    ExperimentConfig,
    RunResult,
    RunSpec,
    extended_config,
    format_summary_table,
    load_experiment_data,
    load_study,
    mean_ci,
    paired_difference,
    plot_accuracy,
    read_results,
    run_experiment,
    run_one,
    summarize,
    summary_to_dict,
    verdict,
)
from dropout_lab.gradcheck import eval_numerical_gradient, eval_numerical_gradient_array, grad_check_sparse, rel_error
from dropout_lab.layers import (
    affine_backward,
    affine_forward,
    affine_relu_backward,
    affine_relu_forward,
    alpha_dropout,
    alpha_dropout_affine,
    alpha_dropout_backward,
    batchnorm_backward,
    batchnorm_backward_alt,
    batchnorm_forward,
    dropconnect_affine,
    dropconnect_affine_backward,
    dropout_forward,
    gaussian_dropout,
    gaussian_dropout_backward,
    layernorm_backward,
    layernorm_forward,
    relu_backward,
    relu_forward,
    selu_backward,
    selu_forward,
    softmax_loss,
    svm_loss,
)
from dropout_lab.optim import MomentumSchedule, adam, get_update_rule, max_norm, rmsprop, sgd, sgd_momentum
from dropout_lab.reproduce import default_out_dir, plan, run_study, study

from .data._batches import write_cifar_folder

ARG, TYPE, DATA, CKPT = InvalidArgumentError, InvalidTypeError, DataError, CheckpointError
REPO_ROOT = Path(__file__).resolve().parent.parent
NAN, INF = float("nan"), float("inf")



# --------------------------------------------------------------------------------------- the table
class Tmp:
    """A path inside the test's own temporary folder, filled in when the case runs."""

    def __init__(self, name: str = "") -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<tmp>/{self.name}"


@dataclass(frozen=True)
class Case:
    """One bad call and what it must get.

    api: the public name called. bad: what is wrong with the call, in words (the docs' first column).
    error: the exception class it must raise. names: text the message must contain: the argument's
    name. given: text that shows what was given (the value, the shape, the dtype), or None.
    setup: makes files in the temporary folder before the call.
    """

    api: str
    bad: str
    error: type[DropoutLabError]
    names: str
    given: str | None
    call: Callable[..., Any]
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    setup: Callable[[Path], None] | None = None

    @property
    def id(self) -> str:
        return f"{self.api}: {self.bad}"


CASES: list[Case] = []


def case(api: str, bad: str, error: type, names: str, given: str | None = None, *,
         setup: Callable[[Path], None] | None = None):
    """``case(api, what is wrong, error, argument name, what was given)(callable, *args, **kwargs)``."""

    def bind(call: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        CASES.append(Case(api, bad, error, names, given, call, args, kwargs, setup))

    return bind


def _show(kwargs: dict[str, Any]) -> str:
    """``key=value, ...`` for a case's description, the same in every run (no memory addresses)."""

    def one(value: Any) -> str:
        if isinstance(value, np.ndarray):
            return f"array{value.shape}"
        if isinstance(value, (np.random.RandomState, np.random.Generator)):
            return f"a {type(value).__name__}"
        return re.sub(r" at 0x[0-9a-fA-F]+", "", repr(value))

    return ", ".join(f"{k}={one(v)}" for k, v in kwargs.items())


# ------------------------------------------------------------------------------------- shared data
_g = np.random.default_rng(20240605)
X = _g.standard_normal((4, 5))
W = _g.standard_normal((5, 3))
B = _g.standard_normal(3)
DOUT = _g.standard_normal((4, 3))
G5, B5 = np.ones(5), np.zeros(5)
Y3 = np.array([0, 2, 1, 1])  # labels of X's 4 rows for 3 classes
SCORES = _g.standard_normal((4, 3))
_, AFFINE_CACHE = affine_forward(X, W, B)
_, AFFINE_RELU_CACHE = affine_relu_forward(X, W, B)
_, RELU_CACHE = relu_forward(X)
_, DROPOUT_CACHE = dropout(X, 0.5, train=True, rng=np.random.default_rng(1))
_, BN_CACHE = batchnorm_forward(X, G5, B5, {"mode": "train"})
_, LN_CACHE = layernorm_forward(X, G5, B5, {})
RNG = np.random.default_rng(7)


def _net(**kwargs: Any) -> FullyConnectedNet:
    return FullyConnectedNet([6], input_dim=5, num_classes=3, rng=np.random.default_rng(3), **kwargs)


NET = _net()
NET_BN = FullyConnectedNet([6], input_dim=5, num_classes=3, normalization="batchnorm",
                           rng=np.random.default_rng(4))
DATA_OK = {
    "X_train": _g.standard_normal((8, 5)),
    "y_train": np.arange(8) % 3,
    "X_val": _g.standard_normal((6, 5)),
    "y_val": np.arange(6) % 3,
}
SOLVER = Solver(NET, DATA_OK, verbose=False, seed=0)


def _data(**changes: Any) -> dict[str, Any]:
    out = {k: v for k, v in DATA_OK.items() if k not in changes.get("drop", ())}
    out.update({k: v for k, v in changes.items() if k != "drop"})
    return out


def _solver(**kwargs: Any) -> Solver:
    data = kwargs.pop("data", DATA_OK)
    return Solver(kwargs.pop("model", NET), data, verbose=kwargs.pop("verbose", False), **kwargs)


RUN = {"keep_prob": 1.0, "seed": 0, "final_train_acc": 0.5, "final_val_acc": 0.4, "best_val_acc": 0.45,
       "train_acc_history": [0.1, 0.5], "val_acc_history": [0.1, 0.4]}
TINY = {"keep_probs": (1.0,), "hidden_dims": (4,), "num_train": 20, "epochs": 1, "batch_size": 10}


# ------------------------------------------------------------------------------------------- layers
def _array_kinds(api: str, call: Callable[..., Any], position: int, args: tuple, name: str, kwargs=None) -> None:
    """The dtypes and types an array argument can never have, at ``args[position]``."""
    kwargs = kwargs or {}
    shape = args[position].shape
    for bad, value, given in (
        ("a list", args[position].tolist(), "list"),
        ("None", None, "None"),
        ("an integer dtype", np.ones(shape, dtype=np.int64), "int64"),
        ("a bool dtype", np.ones(shape, dtype=bool), "bool"),
        ("a complex dtype", np.ones(shape, dtype=np.complex128), "complex128"),
        ("an object dtype", np.ones(shape, dtype=object), "object"),
        ("float16", np.ones(shape, dtype=np.float16), "float16"),
    ):
        new = list(args)
        new[position] = value
        case(api, f"{name} is {bad}", TYPE, name, given)(call, *new, **kwargs)


_array_kinds("affine_forward", affine_forward, 0, (X, W, B), "x")
_array_kinds("affine_forward", affine_forward, 1, (X, W, B), "w")
_array_kinds("affine_forward", affine_forward, 2, (X, W, B), "b")
case("affine_forward", "x and w do not fit: x (4, 5), w (4, 3)", ARG, "w", "(4, 3)")(affine_forward, X, W[:4], B)
case("affine_forward", "x has shape (4, 2, 3): 6 features for w's 5", ARG, "w", "(5, 3)")(
    affine_forward, X[:, :6].repeat(2, axis=1)[:, :6].reshape(4, 2, 3), W, B)
case("affine_forward", "an empty batch x (0, 5)", ARG, "x", "(0, 5)")(affine_forward, X[:0], W, B)
case("affine_forward", "x is 0-dimensional", ARG, "x", "()")(affine_forward, np.array(1.0), W, B)
case("affine_forward", "w is 1-dimensional", ARG, "w", "(5,)")(affine_forward, X, W[:, 0], B)
case("affine_forward", "b does not fit w: b (2,), w (5, 3)", ARG, "b", "(2,)")(affine_forward, X, W, B[:2])
case("affine_forward", "b is 2-dimensional", ARG, "b", "(1, 3)")(affine_forward, X, W, B[None])
case("affine_forward", "w float32 with x float64", TYPE, "w", "float32")(affine_forward, X, W.astype(np.float32), B)
case("affine_forward", "b float32 with x float64", TYPE, "b", "float32")(affine_forward, X, W, B.astype(np.float32))
case("affine_backward", "cache is None", TYPE, "cache", "NoneType")(affine_backward, DOUT, None)
case("affine_backward", "cache is a plain tuple", TYPE, "cache", "tuple")(affine_backward, DOUT, (X, W, B))
case("affine_backward", "dout (4, 2) does not fit the output (4, 3)", ARG, "dout", "(4, 2)")(
    affine_backward, DOUT[:, :2], AFFINE_CACHE)
case("affine_backward", "dout is 1-dimensional", ARG, "dout", "(3,)")(affine_backward, DOUT[0], AFFINE_CACHE)
case("affine_backward", "dout is a list", TYPE, "dout", "list")(affine_backward, DOUT.tolist(), AFFINE_CACHE)
case("affine_backward", "dout has an integer dtype", TYPE, "dout", "int64")(
    affine_backward, DOUT.astype(np.int64), AFFINE_CACHE)
case("affine_backward", "dout float32 for a float64 forward pass", TYPE, "dout", "float32")(
    affine_backward, DOUT.astype(np.float32), AFFINE_CACHE)
case("affine_relu_forward", "x and w do not fit", ARG, "w", "(4, 3)")(affine_relu_forward, X, W[:4], B)
case("affine_relu_forward", "x has an integer dtype", TYPE, "x", "int64")(affine_relu_forward, X.astype(np.int64), W, B)
case("affine_relu_backward", "cache is None", TYPE, "cache", "NoneType")(affine_relu_backward, DOUT, None)
case("affine_relu_backward", "cache is an AffineCache", TYPE, "cache", "AffineCache")(
    affine_relu_backward, DOUT, AFFINE_CACHE)
case("affine_relu_backward", "dout (4, 2) does not fit", ARG, "dout", "(4, 2)")(
    affine_relu_backward, DOUT[:, :2], AFFINE_RELU_CACHE)
_array_kinds("relu_forward", relu_forward, 0, (X,), "x")
case("relu_backward", "cache is None", TYPE, "cache", "NoneType")(relu_backward, X, None)
case("relu_backward", "dout (4, 4) does not fit x (4, 5)", ARG, "dout", "(4, 4)")(relu_backward, X[:, :4], RELU_CACHE)
case("relu_backward", "dout has an integer dtype", TYPE, "dout", "int64")(relu_backward, X.astype(np.int64), RELU_CACHE)
case("relu_backward", "dout float32 for a float64 forward pass", TYPE, "dout", "float32")(
    relu_backward, X.astype(np.float32), RELU_CACHE)

# Keep probabilities, everywhere one is taken.
BAD_KEEP = [("0 (an int)", 0, ARG, "0.0"), ("0.0", 0.0, ARG, "0.0"), ("-0.1", -0.1, ARG, "-0.1"),
            ("1.5", 1.5, ARG, "1.5"), ("NaN", NAN, ARG, "nan"), ("inf", INF, ARG, "inf"),
            ("'0.5' (a string)", "0.5", TYPE, "'0.5'"), ("None", None, TYPE, "None"), ("True", True, TYPE, "True"),
            ("a 1-element array", np.array([0.5]), TYPE, None)]
for label, value, error, given in BAD_KEEP:
    case("dropout", f"keep_prob {label}", error, "keep_prob", given)(dropout, X, value, train=True, rng=RNG)
    case("dropout_forward", f"dropout_param['p'] {label}", error, "dropout_param['p']", given)(
        dropout_forward, X, {"mode": "train", "p": value})
    case("dropout_mask", f"keep_prob {label}", error, "keep_prob", given)(dropout_mask, (3, 4), value, RNG)
    if value is not None:  # None is the documented "no dropout"
        case("FullyConnectedNet", f"dropout {label}", error, "dropout", "str" if value == "0.5" else given)(
            _net, dropout=value)
    case("ExperimentConfig", f"keep_probs containing {label}", error, "keep_probs[1]", given)(
        ExperimentConfig, keep_probs=(1.0, value))
_array_kinds("dropout", dropout, 0, (X, 0.5), "x", {"train": True, "rng": RNG})
case("dropout", "train is 'yes'", TYPE, "train", "'yes'")(dropout, X, 0.5, train="yes", rng=RNG)
case("dropout", "train is None", TYPE, "train", "None")(dropout, X, 0.5, train=None, rng=RNG)
case("dropout", "rng is a legacy RandomState", TYPE, "rng", "RandomState")(
    dropout, X, 0.5, train=True, rng=np.random.RandomState(0))
case("dropout", "rng is an int seed", TYPE, "rng", "3 (int)")(dropout, X, 0.5, train=True, rng=3)
case("dropout", "no rng in training mode", ARG, "rng")(dropout, X, 0.5, train=True)
_array_kinds("dropout_forward", dropout_forward, 0, (X, {"mode": "train", "p": 0.5}), "x")
case("dropout_forward", "dropout_param is a list", TYPE, "dropout_param", "list")(dropout_forward, X, [0.5, "train"])
case("dropout_forward", "dropout_param without 'p'", TYPE, "dropout_param['p']", "None")(
    dropout_forward, X, {"mode": "train"})
case("dropout_forward", "mode 'eval'", ARG, "dropout_param['mode']", "'eval'")(
    dropout_forward, X, {"mode": "eval", "p": 0.5})
case("dropout_forward", "mode missing", ARG, "dropout_param['mode']", "None")(dropout_forward, X, {"p": 0.5})
case("dropout_forward", "mode True", ARG, "dropout_param['mode']", "True")(dropout_forward, X, {"mode": True, "p": 0.5})
case("dropout_forward", "seed -1", ARG, "dropout_param['seed']", "-1")(
    dropout_forward, X, {"mode": "train", "p": 0.5, "seed": -1})
case("dropout_forward", "seed 2**32", ARG, "dropout_param['seed']", "4294967296")(
    dropout_forward, X, {"mode": "train", "p": 0.5, "seed": 2**32})
case("dropout_forward", "seed 1.5", TYPE, "dropout_param['seed']", "1.5")(
    dropout_forward, X, {"mode": "train", "p": 0.5, "seed": 1.5})
case("dropout_backward", "cache is a plain tuple", TYPE, "cache", "tuple")(dropout_backward, X, (None, 2.0))
case("dropout_backward", "dout (4, 4) does not fit the mask (4, 5)", ARG, "dout", "(4, 4)")(
    dropout_backward, X[:, :4], DROPOUT_CACHE)
case("dropout_backward", "dout has an integer dtype", TYPE, "dout", "int64")(
    dropout_backward, X.astype(np.int64), DROPOUT_CACHE)
case("dropout_mask", "rng is None", TYPE, "rng", "None")(dropout_mask, (3, 4), 0.5, None)
case("dropout_mask", "shape with a negative size", ARG, "shape", "-1")(
    dropout_mask, (-1, 4), 0.5, RNG)
case("dropout_mask", "shape with a float size", TYPE, "shape", "2.5")(
    dropout_mask, (2.5, 4), 0.5, RNG)
case("dropout_mask", "shape is a string", TYPE, "shape", "'ab'")(dropout_mask, "ab", 0.5, RNG)

# The dropout family of dropout_lab.layers: Gaussian dropout, DropConnect, SELU and alpha dropout.
_, GAUSSIAN_CACHE = gaussian_dropout(X, 0.5, train=True, rng=np.random.default_rng(1))
_, DROPCONNECT_CACHE = dropconnect_affine(X, W, B, 0.5, train=True, rng=np.random.default_rng(1))
_, SELU_CACHE = selu_forward(X)
_, ALPHA_CACHE = alpha_dropout(X, 0.5, train=True, rng=np.random.default_rng(1))
for label, value, error, given in BAD_KEEP:
    case("gaussian_dropout", f"keep_prob {label}", error, "keep_prob", given)(
        gaussian_dropout, X, value, train=True, rng=RNG)
    case("alpha_dropout", f"keep_prob {label}", error, "keep_prob", given)(alpha_dropout, X, value, train=True, rng=RNG)
    case("alpha_dropout_affine", f"keep_prob {label}", error, "keep_prob", given)(alpha_dropout_affine, value)
    case("dropconnect_affine", f"keep_prob {label}", error, "keep_prob", given)(
        dropconnect_affine, X, W, B, value, train=True, rng=RNG)
for api, call in (("gaussian_dropout", gaussian_dropout), ("alpha_dropout", alpha_dropout)):
    _array_kinds(api, call, 0, (X, 0.5), "x", {"train": True, "rng": RNG})
    case(api, "train is 'yes'", TYPE, "train", "'yes'")(call, X, 0.5, train="yes", rng=RNG)
    case(api, "rng is a legacy RandomState", TYPE, "rng", "RandomState")(
        call, X, 0.5, train=True, rng=np.random.RandomState(0))
    case(api, "rng is an int seed", TYPE, "rng", "3 (int)")(call, X, 0.5, train=True, rng=3)
    case(api, "no rng in training mode", ARG, "rng")(call, X, 0.5, train=True)
_DC = {"train": True, "rng": RNG}
_array_kinds("dropconnect_affine", dropconnect_affine, 0, (X, W, B, 0.5), "x", _DC)
_array_kinds("dropconnect_affine", dropconnect_affine, 1, (X, W, B, 0.5), "w", _DC)
_array_kinds("dropconnect_affine", dropconnect_affine, 2, (X, W, B, 0.5), "b", _DC)
case("dropconnect_affine", "x and w do not fit: x (4, 5), w (4, 3)", ARG, "w", "(4, 3)")(
    dropconnect_affine, X, W[:4], B, 0.5, **_DC)
case("dropconnect_affine", "b does not fit w: b (2,), w (5, 3)", ARG, "b", "(2,)")(
    dropconnect_affine, X, W, B[:2], 0.5, **_DC)
case("dropconnect_affine", "w float32 with x float64", TYPE, "w", "float32")(
    dropconnect_affine, X, W.astype(np.float32), B, 0.5, **_DC)
case("dropconnect_affine", "an empty batch x (0, 5)", ARG, "x", "(0, 5)")(dropconnect_affine, X[:0], W, B, 0.5, **_DC)
case("dropconnect_affine", "train is None", TYPE, "train", "None")(dropconnect_affine, X, W, B, 0.5, train=None, rng=RNG)
case("dropconnect_affine", "no rng in training mode", ARG, "rng")(dropconnect_affine, X, W, B, 0.5, train=True)
case("dropconnect_affine_backward", "cache is an AffineCache", TYPE, "cache", "AffineCache")(
    dropconnect_affine_backward, DOUT, AFFINE_CACHE)
case("dropconnect_affine_backward", "dout (4, 2) does not fit the output (4, 3)", ARG, "dout", "(4, 2)")(
    dropconnect_affine_backward, DOUT[:, :2], DROPCONNECT_CACHE)
case("dropconnect_affine_backward", "dout float32 for a float64 forward pass", TYPE, "dout", "float32")(
    dropconnect_affine_backward, DOUT.astype(np.float32), DROPCONNECT_CACHE)
for api, call, cache in (("gaussian_dropout_backward", gaussian_dropout_backward, GAUSSIAN_CACHE),
                         ("alpha_dropout_backward", alpha_dropout_backward, ALPHA_CACHE),
                         ("selu_backward", selu_backward, SELU_CACHE)):
    case(api, "cache is a DropoutCache", TYPE, "cache", "DropoutCache")(call, X, DROPOUT_CACHE)
    case(api, "cache is None", TYPE, "cache", "NoneType")(call, X, None)
    case(api, "dout (4, 4) does not fit the input (4, 5)", ARG, "dout", "(4, 4)")(call, X[:, :4], cache)
    case(api, "dout has an integer dtype", TYPE, "dout", "int64")(call, X.astype(np.int64), cache)
    case(api, "dout float32 for a float64 forward pass", TYPE, "dout", "float32")(call, X.astype(np.float32), cache)
_array_kinds("selu_forward", selu_forward, 0, (X,), "x")

for name, loss in (("softmax_loss", softmax_loss), ("svm_loss", svm_loss)):
    _array_kinds(name, loss, 0, (SCORES, Y3), "x")
    case(name, "x is 1-dimensional", ARG, "x", "(3,)")(loss, SCORES[0], Y3[:1])
    case(name, "an empty batch x (0, 3)", ARG, "x", "(0, 3)")(loss, SCORES[:0], Y3[:0])
    case(name, "y is a list", TYPE, "y", "list")(loss, SCORES, Y3.tolist())
    case(name, "y has a float dtype", TYPE, "y", "float64")(loss, SCORES, Y3.astype(np.float64))
    case(name, "y has a bool dtype", TYPE, "y", "bool")(loss, SCORES, Y3 > 0)
    case(name, "y (3,) for 4 rows of scores", ARG, "y", "(3,)")(loss, SCORES, Y3[:3])
    case(name, "y is 2-dimensional", ARG, "y", "(4, 1)")(loss, SCORES, Y3[:, None])
    case(name, "a label equal to C", ARG, "y", "[0, 3)")(loss, SCORES, np.array([0, 1, 2, 3]))
    case(name, "a negative label", ARG, "y", "-1")(loss, SCORES, np.array([0, -1, 2, 1]))
    case(name, "a huge uint64 label", ARG, "y", "9223372036854775808")(
        loss, SCORES, np.array([0, 2**63, 1, 1], dtype=np.uint64))

BN_TRAIN = {"mode": "train"}
for name, forward, param in (("batchnorm_forward", batchnorm_forward, BN_TRAIN),
                             ("layernorm_forward", layernorm_forward, {})):
    pname = "bn_param" if name.startswith("batch") else "ln_param"
    _array_kinds(name, forward, 0, (X, G5, B5, param), "x")
    _array_kinds(name, forward, 1, (X, G5, B5, param), "gamma")
    case(name, "x is 3-dimensional", ARG, "x", "(4, 5, 1)")(forward, X[..., None], G5, B5, param)
    case(name, "an empty batch x (0, 5)", ARG, "x", "(0, 5)")(forward, X[:0], G5, B5, param)
    case(name, "gamma (3,) for 5 features", ARG, "gamma", "(3,)")(forward, X, G5[:3], B5, param)
    case(name, "beta (2,) for 5 features", ARG, "beta", "(2,)")(forward, X, G5, B5[:2], param)
    case(name, "gamma is 2-dimensional", ARG, "gamma", "(1, 5)")(forward, X, G5[None], B5, param)
    case(name, "beta float32 with x float64", TYPE, "beta", "float32")(forward, X, G5, B5.astype(np.float32), param)
    case(name, f"{pname} is None", TYPE, pname, "NoneType")(forward, X, G5, B5, None)
    for eps, error, given in ((0, ARG, "0.0"), (-1e-5, ARG, "-1e-05"), (NAN, ARG, "nan"), (INF, ARG, "inf"),
                              ("1e-5", TYPE, "'1e-5'")):
        case(name, f"eps {given}", error, f"{pname}['eps']", given)(forward, X, G5, B5, {**param, "eps": eps})
case("batchnorm_forward", "bn_param is a list", TYPE, "bn_param", "list")(batchnorm_forward, X, G5, B5, ["train"])
case("batchnorm_forward", "mode 'eval'", ARG, "bn_param['mode']", "'eval'")(batchnorm_forward, X, G5, B5, {"mode": "eval"})
case("batchnorm_forward", "mode missing", ARG, "bn_param['mode']", "None")(batchnorm_forward, X, G5, B5, {})
for momentum, error, given in ((1.5, ARG, "1.5"), (-0.1, ARG, "-0.1"), (NAN, ARG, "nan"), ("0.9", TYPE, "'0.9'")):
    case("batchnorm_forward", f"momentum {given}", error, "bn_param['momentum']", given)(
        batchnorm_forward, X, G5, B5, {"mode": "train", "momentum": momentum})
case("batchnorm_forward", "running_mean (3,) for 5 features", ARG, "bn_param['running_mean']", "(3,)")(
    batchnorm_forward, X, G5, B5, {"mode": "test", "running_mean": np.zeros(3), "running_var": np.ones(5)})
case("batchnorm_forward", "running_var has an integer dtype", TYPE, "bn_param['running_var']", "int64")(
    batchnorm_forward, X, G5, B5, {"mode": "test", "running_mean": np.zeros(5), "running_var": np.ones(5, dtype=int)})
case("batchnorm_forward", "running_mean float32 with x float64", TYPE, "bn_param['running_mean']", "float32")(
    batchnorm_forward, X, G5, B5, {"mode": "test", "running_mean": np.zeros(5, np.float32), "running_var": np.ones(5)})
case("batchnorm_forward", "running_mean is a list", TYPE, "bn_param['running_mean']", "list")(
    batchnorm_forward, X, G5, B5, {"mode": "test", "running_mean": [0.0] * 5, "running_var": np.ones(5)})
for name, backward, cache, other in (
    ("batchnorm_backward", batchnorm_backward, BN_CACHE, LN_CACHE),
    ("batchnorm_backward_alt", batchnorm_backward_alt, BN_CACHE, LN_CACHE),
    ("layernorm_backward", layernorm_backward, LN_CACHE, BN_CACHE),
):
    case(name, "cache is None (the test-mode forward pass keeps none)", TYPE, "cache", "NoneType")(backward, X, None)
    case(name, "cache from the other normalization", ARG, "cache", "_forward")(backward, X, other)
    case(name, "dout (4, 4) does not fit x (4, 5)", ARG, "dout", "(4, 4)")(backward, X[:, :4], cache)
    case(name, "dout has an integer dtype", TYPE, "dout", "int64")(backward, X.astype(np.int64), cache)
    case(name, "dout float32 for a float64 forward pass", TYPE, "dout", "float32")(backward, X.astype(np.float32), cache)

# ------------------------------------------------------------------------------------------ optimizers
Wo, dWo = _g.standard_normal((3, 4)), _g.standard_normal((3, 4))
for name, rule in (("sgd", sgd), ("sgd_momentum", sgd_momentum), ("rmsprop", rmsprop), ("adam", adam)):
    _array_kinds(name, rule, 0, (Wo, dWo), "w")
    _array_kinds(name, rule, 1, (Wo, dWo), "dw")
    case(name, "dw (4, 3) does not fit w (3, 4)", ARG, "dw", "(4, 3)")(rule, Wo, dWo.T)
    case(name, "dw float32 with w float64", TYPE, "dw", "float32")(rule, Wo, dWo.astype(np.float32))
    case(name, "config is a list", TYPE, "config", "list")(rule, Wo, dWo, [1e-3])
    case(name, "a misspelt config key 'learning_rte'", ARG, "config", "learning_rte")(rule, Wo, dWo, {"learning_rte": 1e-3})
    for lr, error, given in ((0, ARG, "0.0"), (-1e-3, ARG, "-0.001"), (NAN, ARG, "nan"), (INF, ARG, "inf"),
                             ("1e-3", TYPE, "'1e-3'"), (None, TYPE, "None"), (True, TYPE, "True")):
        case(name, f"learning_rate {given}", error, "config['learning_rate']", given)(
            rule, Wo, dWo, {"learning_rate": lr})
for key, rule, value, error, given in (
    ("momentum", sgd_momentum, 1.0, ARG, "1.0"), ("momentum", sgd_momentum, -0.5, ARG, "-0.5"),
    ("momentum", sgd_momentum, NAN, ARG, "nan"), ("decay_rate", rmsprop, 1.0, ARG, "1.0"),
    ("epsilon", rmsprop, 0.0, ARG, "0.0"), ("beta1", adam, 1.0, ARG, "1.0"), ("beta2", adam, NAN, ARG, "nan"),
    ("epsilon", adam, -1e-8, ARG, "-1e-08"), ("t", adam, -1, ARG, "-1"), ("t", adam, 1.5, ARG, "1.5"),
    ("t", adam, True, ARG, "True"),
):
    case(rule.__name__, f"config['{key}'] {given}", error, f"config['{key}']", given)(rule, Wo, dWo, {key: value})
for key, rule in (("velocity", sgd_momentum), ("cache", rmsprop), ("m", adam), ("v", adam)):
    case(rule.__name__, f"config['{key}'] (4, 3) for w (3, 4)", ARG, f"config['{key}']", "(4, 3)")(
        rule, Wo, dWo, {key: np.zeros((4, 3))})
    case(rule.__name__, f"config['{key}'] float32 for w float64", ARG, f"config['{key}']", "float32")(
        rule, Wo, dWo, {key: np.zeros((3, 4), np.float32)})
    case(rule.__name__, f"config['{key}'] is a list", TYPE, f"config['{key}']", "list")(
        rule, Wo, dWo, {key: np.zeros((3, 4)).tolist()})
case("get_update_rule", "an unknown rule 'adamw'", ARG, "update_rule", "'adamw'")(get_update_rule, "adamw")
case("get_update_rule", "a number", TYPE, "update_rule", "3 (int)")(get_update_rule, 3)
case("get_update_rule", "None", TYPE, "update_rule", "None")(get_update_rule, None)
for bad, args, kwargs, error, names, given in (
    ("w is a list", (Wo.tolist(), 1.0), {}, TYPE, "w", "list"),
    ("w is 1-D", (np.ones(3), 1.0), {}, ARG, "w", "(3,)"),
    ("w has an integer dtype", (np.ones((3, 4), dtype=np.int64), 1.0), {}, TYPE, "w", "int64"),
    ("max_value 0", (Wo, 0.0), {}, ARG, "max_value", "0.0"),
    ("max_value NaN", (Wo, NAN), {}, ARG, "max_value", "nan"),
    ("out float32 for w float64", (Wo, 1.0), {"out": np.zeros((3, 4), np.float32)}, ARG, "out", "float32"),
):
    case("max_norm", bad, error, names, given)(max_norm, *args, **kwargs)
for bad, kwargs, error, names, given in (
    ("an unknown kind 'cosine'", {"kind": "cosine"}, ARG, "kind", "'cosine'"),
    ("per 'batch'", {"per": "batch"}, ARG, "per", "'batch'"),
    ("a curriculum without gamma", {"kind": "curriculum"}, ARG, "gamma", "None"),
    ("gamma -1", {"kind": "curriculum", "gamma": -1}, ARG, "gamma", "-1.0"),
    ("a linear ramp of 0", {"kind": "linear", "ramp": 0}, ARG, "ramp", "0.0"),
    ("gamma for a linear ramp", {"kind": "linear", "ramp": 3, "gamma": 0.1}, ARG, "gamma", "gamma=0.1"),
):
    case("KeepSchedule", bad, error, names, given)(KeepSchedule, **kwargs)
for bad, kwargs, error, names, given in (
    ("an unknown kind 'cosine'", {"kind": "cosine"}, ARG, "kind", "'cosine'"),
    ("a linear schedule without start", {"kind": "linear", "epochs": 10}, ARG, "start", "None"),
    ("a linear schedule without epochs", {"kind": "linear", "start": 0.5}, ARG, "epochs", "None"),
    ("start 1", {"kind": "linear", "start": 1.0, "epochs": 10}, ARG, "start", "1.0"),
    ("start NaN", {"kind": "linear", "start": NAN, "epochs": 10}, ARG, "start", "nan"),
    ("start '0.5'", {"kind": "linear", "start": "0.5", "epochs": 10}, TYPE, "start", "'0.5'"),
    ("epochs 0", {"kind": "linear", "start": 0.5, "epochs": 0}, ARG, "epochs", "0.0"),
    ("epochs inf", {"kind": "linear", "start": 0.5, "epochs": INF}, ARG, "epochs", "inf"),
    ("start for a constant schedule", {"kind": "constant", "start": 0.5}, ARG, "start", "start=0.5"),
):
    case("MomentumSchedule", bad, error, names, given)(MomentumSchedule, **kwargs)

# --------------------------------------------------------------------------------------- gradcheck
def _sum(v: np.ndarray) -> float:
    return float(np.sum(v**2))


for bad, a, b, error, names, given in (
    ("shapes differ", np.ones(2), np.ones(3), ARG, "x and y", "(3,)"),
    ("strings", "a", "b", TYPE, "x", "'a'"),
    ("None", None, None, TYPE, "x", "None"),
    ("complex values", np.ones(2) * 1j, np.ones(2), TYPE, "x", "complex128"),
    ("bool values", np.ones(2, dtype=bool), np.ones(2), TYPE, "x", "bool"),
    ("empty arrays", np.ones(0), np.ones(0), ARG, "x and y", "(0,)"),
    ("a ragged list", [[1.0], [1.0, 2.0]], np.ones(2), TYPE, "x", "list"),
):
    case("rel_error", bad, error, names, given)(rel_error, a, b)
case("eval_numerical_gradient", "f is None", TYPE, "f", "None")(eval_numerical_gradient, None, np.ones(3))
case("eval_numerical_gradient", "f returns a tuple (loss, grads)", ARG, "f", "tuple")(
    eval_numerical_gradient, lambda v: (1.0, {}), np.ones(3), verbose=False)
case("eval_numerical_gradient", "f returns an array", ARG, "f", "(3,)")(
    eval_numerical_gradient, lambda v: v * 2, np.ones(3), verbose=False)
_array_kinds("eval_numerical_gradient", eval_numerical_gradient, 1, (_sum, np.ones(3)), "x", {"verbose": False})
for h, error, given in ((0, ARG, "0.0"), (-1e-5, ARG, "-1e-05"), (NAN, ARG, "nan"), ("1e-5", TYPE, "'1e-5'")):
    case("eval_numerical_gradient", f"h {given}", error, "h", given)(eval_numerical_gradient, _sum, np.ones(3), h=h)
    case("eval_numerical_gradient_array", f"h {given}", error, "h", given)(
        eval_numerical_gradient_array, np.sin, np.ones(3), np.ones(3), h=h)
    case("grad_check_sparse", f"h {given}", error, "h", given)(
        grad_check_sparse, _sum, np.ones(3), np.ones(3), h=h, verbose=False)
    case("assert_gradient_close", f"h {given}", error, "h", given)(assert_gradient_close, _sum, np.ones(3), np.ones(3), h=h)
case("eval_numerical_gradient", "verbose is 'no'", TYPE, "verbose", "'no'")(eval_numerical_gradient, _sum, np.ones(3), verbose="no")
case("eval_numerical_gradient_array", "f is None", TYPE, "f", "None")(eval_numerical_gradient_array, None, np.ones(3), np.ones(3))
case("eval_numerical_gradient_array", "df (2,) for f(x) of shape (3,)", ARG, "df", "(2,)")(
    eval_numerical_gradient_array, np.sin, np.ones(3), np.ones(2))
case("eval_numerical_gradient_array", "df has an integer dtype", TYPE, "df", "int64")(
    eval_numerical_gradient_array, np.sin, np.ones(3), np.ones(3, dtype=np.int64))
case("eval_numerical_gradient_array", "x has an integer dtype", TYPE, "x", "int64")(
    eval_numerical_gradient_array, np.sin, np.ones(3, dtype=np.int64), np.ones(3))
case("grad_check_sparse", "f is a string", TYPE, "f", "'loss'")(grad_check_sparse, "loss", np.ones(3), np.ones(3))
case("grad_check_sparse", "analytic_grad (2,) for x (3,)", ARG, "analytic_grad", "(2,)")(
    grad_check_sparse, _sum, np.ones(3), np.ones(2), verbose=False)
case("grad_check_sparse", "an empty x", ARG, "x", "(0,)")(grad_check_sparse, _sum, np.ones(0), np.ones(0), verbose=False)
case("grad_check_sparse", "num_checks 0", ARG, "num_checks", "0")(grad_check_sparse, _sum, np.ones(3), np.ones(3), 0)
case("grad_check_sparse", "num_checks 2.5", TYPE, "num_checks", "2.5")(grad_check_sparse, _sum, np.ones(3), np.ones(3), 2.5)
case("grad_check_sparse", "rng is a RandomState", TYPE, "rng", "RandomState")(
    grad_check_sparse, _sum, np.ones(3), np.ones(3), rng=np.random.RandomState(0))
case("grad_check_sparse", "verbose is 1", TYPE, "verbose", "1 (int)")(
    grad_check_sparse, _sum, np.ones(3), np.ones(3), rng=RNG, verbose=1)
case("assert_gradient_close", "x in float32", ARG, "x", "float32")(
    assert_gradient_close, _sum, np.ones(3, np.float32), np.ones(3))
case("assert_gradient_close", "analytic (2,) for x (3,)", ARG, "analytic", "(2,)")(
    assert_gradient_close, _sum, np.ones(3), np.ones(2))
case("assert_gradient_close", "analytic is complex", TYPE, "analytic", "complex128")(
    assert_gradient_close, _sum, np.ones(3), np.ones(3) * 1j)
case("assert_gradient_close", "an empty x", ARG, "x", "(0,)")(assert_gradient_close, _sum, np.ones(0), np.ones(0))
for tol, error, given in ((-1.0, ARG, "-1.0"), (0, ARG, "0.0"), (NAN, ARG, "nan"), ("1e-7", TYPE, "'1e-7'")):
    case("assert_gradient_close", f"tol {given}", error, "tol", given)(
        assert_gradient_close, _sum, np.ones(3), 2 * np.ones(3), tol=tol)
case("assert_gradient_close", "name is 3", TYPE, "name", "3 (int)")(assert_gradient_close, _sum, np.ones(3), 2 * np.ones(3), name=3)
case("assert_gradient_close", "df has an integer dtype", TYPE, "df", "int64")(
    assert_gradient_close, np.sin, np.ones(3), np.cos(np.ones(3)), df=np.ones(3, dtype=np.int64))
case("assert_gradient_close", "f is None", TYPE, "f", "None")(assert_gradient_close, None, np.ones(3), np.ones(3))

# ------------------------------------------------------------------------------------------- models
for kwargs, error, names, given in (
    ({"hidden_dims": None}, TYPE, "hidden_dims", "NoneType"),
    ({"hidden_dims": "64"}, TYPE, "hidden_dims", "str"),
    ({"hidden_dims": 64}, TYPE, "hidden_dims", "int"),
    ({"hidden_dims": [0]}, ARG, "hidden_dims[0]", "0"),
    ({"hidden_dims": [8, -1]}, ARG, "hidden_dims[1]", "-1"),
    ({"hidden_dims": [2.5]}, TYPE, "hidden_dims[0]", "2.5"),
    ({"input_dim": 0}, ARG, "input_dim", "0"),
    ({"input_dim": "5"}, TYPE, "input_dim", "'5'"),
    ({"num_classes": 1}, ARG, "num_classes", "1"),
    ({"num_classes": 0}, ARG, "num_classes", "0"),
    ({"dropout": [0.5, 0.5]}, ARG, "dropout", "2"),
    ({"dropout": "0.5,0.5"}, TYPE, "dropout", "str"),
    ({"dropout": 0.5, "dropout_keep_ratio": 0.8}, ARG, "dropout_keep_ratio", "0.8"),
    ({"dropout_keep_ratio": 0.0}, ARG, "dropout", "0.0"),
    ({"input_dropout": 0.0}, ARG, "input_dropout", "0.0"),
    ({"input_dropout": 2}, ARG, "input_dropout", "2.0"),
    ({"normalization": "groupnorm"}, ARG, "normalization", "'groupnorm'"),
    ({"normalization": "BatchNorm"}, ARG, "normalization", "'BatchNorm'"),
    ({"normalization": ["batchnorm"]}, ARG, "normalization", "['batchnorm']"),
    ({"reg": -1e-3}, ARG, "reg", "-0.001"),
    ({"reg": NAN}, ARG, "reg", "nan"),
    ({"reg": INF}, ARG, "reg", "inf"),
    ({"weight_scale": 0}, ARG, "weight_scale", "0.0"),
    ({"weight_scale": -1e-2}, ARG, "weight_scale", "-0.01"),
    ({"dtype": np.int64}, TYPE, "dtype", "int64"),
    ({"dtype": np.float16}, TYPE, "dtype", "float16"),
    ({"dtype": np.complex128}, TYPE, "dtype", "complex128"),
    ({"dtype": "bogus"}, TYPE, "dtype", "'bogus'"),
    ({"dtype": None}, TYPE, "dtype", "None"),
    ({"seed": -1}, ARG, "seed", "-1"),
    ({"seed": 1.5}, TYPE, "seed", "1.5"),
    ({"rng": np.random.RandomState(0)}, TYPE, "rng", "RandomState"),
    ({"rng": 0}, TYPE, "rng", "0 (int)"),
    ({"dropout_kind": "standout"}, ARG, "dropout_kind", "'standout'"),
    ({"dropout_kind": "Bernoulli"}, ARG, "dropout_kind", "'Bernoulli'"),
    ({"dropout_kind": None}, TYPE, "dropout_kind", "None"),
    ({"activation": "tanh"}, ARG, "activation", "'tanh'"),
    ({"activation": 1}, TYPE, "activation", "1"),
    ({"init": "xavier"}, ARG, "init", "'xavier'"),
    ({"dropout_kind": "alpha"}, ARG, "activation", "'relu'"),
    ({"dropout_kind": "alpha", "activation": "relu"}, ARG, "activation", "'relu'"),
    ({"dropout_kind": "gaussian", "dropout": 0.5, "rng": None}, ARG, "rng", None),
    ({"dropout_kind": "dropconnect", "input_dropout": 0.8, "rng": None}, ARG, "rng", None),
):
    call_kwargs = {"hidden_dims": [6], "input_dim": 5, "num_classes": 3, **kwargs}
    if "rng" not in kwargs:
        call_kwargs["rng"] = np.random.default_rng(0)
    bad = _show(kwargs)
    case("FullyConnectedNet", bad, error, names, given)(FullyConnectedNet, **call_kwargs)
for kwargs, names, given in (({"hidden_dim": 0}, "hidden_dim", "0"), ({"num_classes": 1}, "num_classes", "1"),
                             ({"weight_scale": -1.0}, "weight_scale", "-1.0"), ({"input_dim": -3}, "input_dim", "-3")):
    case("TwoLayerNet", _show(kwargs), ARG, names, given)(TwoLayerNet, **kwargs)
Xn = DATA_OK["X_train"]
for bad, Xb, yb, error, names, given in (
    ("X is a list", Xn.tolist(), None, TYPE, "X", "list"),
    ("X has a complex dtype", Xn.astype(complex), None, TYPE, "X", "complex128"),
    ("X has a bool dtype", Xn > 0, None, TYPE, "X", "bool"),
    ("X has an object dtype", Xn.astype(object), None, TYPE, "X", "object"),
    ("X is 1-dimensional", Xn[0], None, ARG, "X", "(5,)"),
    ("X with 4 values per example for input_dim 5", Xn[:, :4], None, ARG, "input_dim", "(8, 4)"),
    ("an empty batch X (0, 5)", Xn[:0], None, ARG, "X", "(0, 5)"),
    ("X holding a NaN", np.where(np.eye(8, 5) > 0, NAN, Xn), None, ARG, "X", "NaN"),
    ("X holding an infinity", np.where(np.eye(8, 5) > 0, INF, Xn), None, ARG, "X", "infinite"),
    ("y has a float dtype", Xn, DATA_OK["y_train"].astype(float), TYPE, "y", "float64"),
    ("a label equal to num_classes", Xn, np.full(8, 3), ARG, "y", "[0, 3)"),
    ("a negative label", Xn, np.full(8, -1), ARG, "y", "-1"),
    ("y (7,) for 8 examples", Xn, DATA_OK["y_train"][:7], ARG, "y", "(7,)"),
    ("y is a list", Xn, DATA_OK["y_train"].tolist(), TYPE, "y", "list"),
):
    case("FullyConnectedNet.loss", bad, error, names, given)(NET.loss, Xb, yb)
for bad, args, kwargs, error, names, given in (
    ("mc_samples -1", (Xn, -1), {}, ARG, "mc_samples", "-1"),
    ("mc_samples 1.5", (Xn, 1.5), {}, TYPE, "mc_samples", "1.5"),
    ("mc_samples True", (Xn, True), {}, TYPE, "mc_samples", "True"),
    ("mc_samples 3 without rng", (Xn, 3), {}, ARG, "rng", None),
    ("rng is an int seed", (Xn, 3, 7), {}, TYPE, "rng", "7 (int)"),
    ("rng is a legacy RandomState", (Xn, 3, np.random.RandomState(0)), {}, TYPE, "rng", "RandomState"),
    ("batch_size 0", (Xn,), {"batch_size": 0}, ARG, "batch_size", "0"),
    ("batch_size None", (Xn,), {"batch_size": None}, TYPE, "batch_size", "None"),
    ("X is a list", (Xn.tolist(),), {}, TYPE, "X", "list"),
    ("X is 1-dimensional", (Xn[0],), {}, ARG, "X", "(5,)"),
    ("an empty batch X (0, 5)", (Xn[:0], 2, RNG), {}, ARG, "X", "(0, 5)"),
    ("X with 4 values per example for input_dim 5", (Xn[:, :4], 2, RNG), {}, ARG, "input_dim", "(8, 4)"),
    ("X holding a NaN", (np.where(np.eye(8, 5) > 0, NAN, Xn), 2, RNG), {}, ARG, "X", "NaN"),
):
    case("FullyConnectedNet.predict_proba", bad, error, names, given)(NET.predict_proba, *args, **kwargs)
for bad, args, error, names, given in (
    ("mc_samples 0", (Xn, 0, RNG), ARG, "mc_samples", "0"),
    ("rng None", (Xn, 2, None), ARG, "rng", None),
    ("X is a list", (Xn.tolist(), 2, RNG), TYPE, "X", "list"),
):
    case("FullyConnectedNet.predict_proba_samples", bad, error, names, given)(NET.predict_proba_samples, *args)
for bad, name, value, error, names, given in (
    ("keep_probs (1.5,)", "keep_probs", (1.5,), ARG, "keep_probs[0]", "1.5"),
    ("keep_probs with 2 values for 1 hidden layer", "keep_probs", (0.5, 0.5), ARG, "keep_probs", "2"),
    ("keep_probs '0.5'", "keep_probs", "0.5", TYPE, "keep_probs", "str"),
    ("input_keep_prob 0", "input_keep_prob", 0, ARG, "input_keep_prob", "0.0"),
    ("input_keep_prob None", "input_keep_prob", None, TYPE, "input_keep_prob", "None"),
):
    case(f"FullyConnectedNet.{name}", f"assigned {bad}", error, names, given)(setattr, NET, name, value)
case("FullyConnectedNet.keep_probs", "assigned 0.5 on a Gaussian net without rng", ARG, "rng")(
    setattr, FullyConnectedNet([6], input_dim=5, num_classes=3, dropout_kind="gaussian"), "keep_probs", 0.5)
case("FullyConnectedNet.loss", "X holding 1e300, infinite in the model's float32", ARG, "X", "infinite")(
    NET.loss, np.full((8, 5), 1e300))
case("FullyConnectedNet.load_buffers", "an unknown buffer name", ARG, "buffers", "running_mean9")(
    NET_BN.load_buffers, {"running_mean9": np.zeros(6)})
case("FullyConnectedNet.load_buffers", "running_mean1 (5,) for 6 units", ARG, "buffers['running_mean1']", "(5,)")(
    NET_BN.load_buffers, {"running_mean1": np.zeros(5)})

# ------------------------------------------------------------------------------------------- Solver
for bad, data, error, names, given in (
    ("data is a list", [Xn, DATA_OK["y_train"]], TYPE, "data", "list"),
    ("data is None", None, TYPE, "data", "None"),
    ("data without y_val", _data(drop=("y_val",)), ARG, "y_val", None),
    ("X_train is a list", _data(X_train=Xn.tolist()), TYPE, "data['X_train']", "list"),
    ("X_train has a complex dtype", _data(X_train=Xn.astype(complex)), TYPE, "data['X_train']", "complex128"),
    ("X_train has a bool dtype", _data(X_train=Xn > 0), TYPE, "data['X_train']", "bool"),
    ("X_train is empty", _data(X_train=Xn[:0], y_train=DATA_OK["y_train"][:0]), ARG, "data['X_train']", "(0, 5)"),
    ("X_train is 1-dimensional", _data(X_train=Xn[:, 0]), ARG, "data['X_train']", "(8,)"),
    ("X_val with 4 values per example for input_dim 5", _data(X_val=DATA_OK["X_val"][:, :4]), ARG, "data['X_val']",
     "(6, 4)"),
    ("y_train (7,) for 8 examples", _data(y_train=DATA_OK["y_train"][:7]), ARG, "data['y_train']", "(7,)"),
    ("y_val has a float dtype", _data(y_val=DATA_OK["y_val"].astype(float)), TYPE, "data['y_val']", "float64"),
    ("y_train has a bool dtype", _data(y_train=DATA_OK["y_train"] > 0), TYPE, "data['y_train']", "bool"),
    ("y_train holds the label 3 for 3 classes", _data(y_train=np.full(8, 3)), ARG, "data['y_train']", "[0, 3)"),
    ("y_val holds a negative label", _data(y_val=np.full(6, -1)), ARG, "data['y_val']", "-1"),
    ("X_train holds a NaN", _data(X_train=np.where(np.eye(8, 5) > 0, NAN, Xn)), ARG, "data['X_train']", "NaN"),
    ("X_val holds an infinity", _data(X_val=np.full((6, 5), INF)), ARG, "data['X_val']", "infinite"),
):
    case("Solver", bad, error, names, given)(_solver, data=data)
for kwargs, error, names, given in (
    ({"model": None}, TYPE, "model", "NoneType"),
    ({"model": object()}, TYPE, "model", "object"),
    ({"update_rule": "adamw"}, ARG, "update_rule", "'adamw'"),
    ({"update_rule": "Adam"}, ARG, "update_rule", "'Adam'"),
    ({"update_rule": 3}, TYPE, "update_rule", "3 (int)"),
    ({"update_rule": None}, TYPE, "update_rule", "None"),
    ({"optim_config": [1e-3]}, TYPE, "optim_config", "list"),
    ({"optim_config": {"learning_rate": 0.0}}, ARG, "learning_rate", "0.0"),
    ({"optim_config": {"learning_rate": -1.0}}, ARG, "learning_rate", "-1.0"),
    ({"optim_config": {"learning_rate": NAN}}, ARG, "learning_rate", "nan"),
    ({"optim_config": {"learning_rate": INF}}, ARG, "learning_rate", "inf"),
    ({"update_rule": "adam", "optim_config": {"learning_rate": "1e-3"}}, TYPE, "learning_rate", "'1e-3'"),
    ({"update_rule": "adam", "optim_config": {"lr": 1e-3}}, ARG, "config", "lr"),
    ({"update_rule": "sgd_momentum", "optim_config": {"momentum": 1.0}}, ARG, "momentum", "1.0"),
    ({"lr_decay": 0.0}, ARG, "lr_decay", "0.0"),
    ({"lr_decay": NAN}, ARG, "lr_decay", "nan"),
    ({"lr_decay": -0.5}, ARG, "lr_decay", "-0.5"),
    ({"batch_size": 0}, ARG, "batch_size", "0"),
    ({"batch_size": -10}, ARG, "batch_size", "-10"),
    ({"batch_size": 2.5}, TYPE, "batch_size", "2.5"),
    ({"batch_size": "100"}, TYPE, "batch_size", "'100'"),
    ({"batch_size": True}, TYPE, "batch_size", "True"),
    ({"num_epochs": 0}, ARG, "num_epochs", "0"),
    ({"num_epochs": -1}, ARG, "num_epochs", "-1"),
    ({"num_epochs": None}, TYPE, "num_epochs", "None"),
    ({"num_steps": 0}, ARG, "num_steps", "0"),
    ({"num_steps": -100}, ARG, "num_steps", "-100"),
    ({"num_steps": 2.5}, TYPE, "num_steps", "2.5"),
    ({"num_steps": "4000"}, TYPE, "num_steps", "'4000'"),
    ({"num_steps": True}, TYPE, "num_steps", "True"),
    ({"eval_every": 0}, ARG, "eval_every", "0"),
    ({"eval_every": -2}, ARG, "eval_every", "-2"),
    ({"eval_every": None}, TYPE, "eval_every", "None"),
    ({"eval_every": 1.5}, TYPE, "eval_every", "1.5"),
    ({"num_train_samples": 0}, ARG, "num_train_samples", "0"),
    ({"num_val_samples": "all"}, TYPE, "num_val_samples", "'all'"),
    ({"print_every": 0}, ARG, "print_every", "0"),
    ({"verbose": "yes"}, TYPE, "verbose", "'yes'"),
    ({"stop_on_nonfinite": None}, TYPE, "stop_on_nonfinite", "None"),
    ({"keep_epoch_checkpoints": 1}, TYPE, "keep_epoch_checkpoints", "1 (int)"),
    ({"checkpoint_every": 0}, ARG, "checkpoint_every", "0"),
    ({"checkpoint_name": Tmp("missing/run")}, ARG, "checkpoint_name", "missing"),
    ({"checkpoint_name": 3}, TYPE, "checkpoint_name", "3 (int)"),
    ({"checkpoint_name": ""}, ARG, "checkpoint_name", "''"),
    ({"rng": 3}, TYPE, "rng", "3 (int)"),
    ({"rng": np.random.RandomState(0)}, TYPE, "rng", "RandomState"),
    ({"seed": -1}, ARG, "seed", "-1"),
    ({"seed": 2**32}, ARG, "seed", "4294967296"),
    ({"seed": "0"}, TYPE, "seed", "'0'"),
    ({"seed": 1, "rng": np.random.default_rng(1)}, ARG, "rng or seed", None),
    ({"learning_rate": 1e-3}, TYPE, "learning_rate", "unexpected keyword argument"),
    ({"on_epoch_end": 3}, TYPE, "on_epoch_end", "3 (int)"),
    ({"should_stop": True}, TYPE, "should_stop", "True"),
    ({"max_norm": 0.0}, ARG, "max_norm", "0.0"),
    ({"max_norm": INF}, ARG, "max_norm", "inf"),
    ({"max_norm": "2"}, TYPE, "max_norm", "'2'"),
    ({"keep_schedule": "curriculum"}, TYPE, "keep_schedule", "'curriculum'"),
    ({"momentum_schedule": "linear:0.5:10"}, TYPE, "momentum_schedule", "'linear:0.5:10'"),
    ({"momentum_schedule": MomentumSchedule("linear", start=0.5, epochs=2)}, ARG, "momentum_schedule",
     "update_rule 'sgd'"),
    ({"update_rule": "adam", "momentum_schedule": MomentumSchedule()}, ARG, "momentum_schedule", "update_rule 'adam'"),
    ({"patience": 0}, ARG, "patience", "0"),
    ({"patience": 1.5}, TYPE, "patience", "1.5"),
):
    bad = _show(kwargs)
    case("Solver", bad, error, names, given)(_solver, **kwargs)
case("Solver", "resume_from a file that does not exist", CKPT, "checkpoint", "missing.npz")(
    _solver, resume_from=Tmp("missing.npz"))
case("Solver", "resume_from a file that is not a checkpoint", CKPT, "checkpoint", "garbage.npz",
     setup=lambda folder: (folder / "garbage.npz").write_bytes(b"PK\x03\x04 not really a zip"))(
    _solver, resume_from=Tmp("garbage.npz"))
for bad, args, kwargs, error, names, given in (
    ("X is a list", (Xn.tolist(), DATA_OK["y_train"]), {}, ARG, "X", "list"),
    ("y (7,) for 8 examples", (Xn, DATA_OK["y_train"][:7]), {}, ARG, "y", "(8,)"),
    ("num_samples 0", (Xn, DATA_OK["y_train"]), {"num_samples": 0}, ARG, "num_samples", "0"),
    ("batch_size 0", (Xn, DATA_OK["y_train"]), {"batch_size": 0}, ARG, "batch_size", "0"),
    ("X holds a NaN", (np.full((8, 5), NAN), DATA_OK["y_train"]), {}, ARG, "X", "NaN"),
    ("y has a float dtype", (Xn, DATA_OK["y_train"].astype(float)), {}, TYPE, "y", "float64"),
    ("y holds the label 7 for 3 classes", (Xn, np.full(8, 7)), {}, ARG, "y", "7"),
):
    case("Solver.check_accuracy", bad, error, names, given)(SOLVER.check_accuracy, *args, **kwargs)
case("Solver.resume", "a file that does not exist", CKPT, "checkpoint", "nope.npz")(SOLVER.resume, Tmp("nope.npz"))
case("Solver.train", "epochs 0", ARG, "epochs", "0")(SOLVER.train, epochs=0)
case("Solver.train", "epochs -2", ARG, "epochs", "-2")(SOLVER.train, -2)
case("Solver.train", "epochs 1.5", TYPE, "epochs", "1.5")(SOLVER.train, 1.5)
case("Solver.checkpoint_path", "a Solver without checkpoint_name", ARG, "checkpoint_name")(SOLVER.checkpoint_path, 1)


# ------------------------------------------------------------------------------------------ checkpoints
def _other_architecture(folder: Path) -> None:
    save_checkpoint(folder / "other.npz", FullyConnectedNet([7], input_dim=5, num_classes=3, rng=np.random.default_rng(0)))


def _float32_model(folder: Path) -> None:
    save_checkpoint(folder / "f32.npz", _net(dtype=np.float32))


def _pickled(folder: Path) -> None:
    with open(folder / "pickled.npz", "wb") as handle:
        np.savez(handle, format_version=np.array(1), metadata=np.array([{"kind": "model"}], dtype=object))


case("save_checkpoint", "path is None", TYPE, "path", "None")(save_checkpoint, None, NET)
case("save_checkpoint", "path is a number", TYPE, "path", "3 (int)")(save_checkpoint, 3, NET)
case("save_checkpoint", "path is empty", ARG, "path", "''")(save_checkpoint, "", NET)
case("save_checkpoint", "path in a folder that does not exist", ARG, "path", "missing")(
    save_checkpoint, Tmp("missing/model.npz"), NET)
case("save_checkpoint", "path is an existing folder", ARG, "path", "folder",
     setup=lambda folder: (folder / "folder").mkdir())(save_checkpoint, Tmp("folder"), NET)
case("save_checkpoint", "model is None", TYPE, "model", "NoneType")(save_checkpoint, Tmp("m.npz"), None)
case("save_checkpoint", "metadata that is not JSON", TYPE, "metadata", "object")(
    save_checkpoint, Tmp("m.npz"), NET, metadata={"when": object()})
case("load_checkpoint", "path is None", TYPE, "path", "None")(load_checkpoint, None, _net())
case("load_checkpoint", "a file that does not exist", CKPT, "checkpoint", "nope.npz")(load_checkpoint, Tmp("nope.npz"), _net())
case("load_checkpoint", "a file of random bytes", CKPT, "checkpoint", "not an .npz",
     setup=lambda folder: (folder / "junk.npz").write_bytes(bytes(range(256)) * 4))(load_checkpoint, Tmp("junk.npz"), _net())
case("load_checkpoint", "an empty file", CKPT, "checkpoint", "corrupt",
     setup=lambda folder: (folder / "empty.npz").write_bytes(b""))(load_checkpoint, Tmp("empty.npz"), _net())
case("load_checkpoint", "a folder", CKPT, "checkpoint", "not a file",
     setup=lambda folder: (folder / "dir.npz").mkdir())(load_checkpoint, Tmp("dir.npz"), _net())
case("load_checkpoint", "a checkpoint holding pickled objects", CKPT, "checkpoint", "pickled", setup=_pickled)(
    load_checkpoint, Tmp("pickled.npz"), _net())
case("load_checkpoint", "a checkpoint of another architecture", CKPT, "checkpoint", "another architecture",
     setup=_other_architecture)(load_checkpoint, Tmp("other.npz"), _net())
case("load_checkpoint", "a float32 checkpoint into a float64 model", CKPT, "checkpoint", "float32",
     setup=_float32_model)(load_checkpoint, Tmp("f32.npz"), _net(dtype=np.float64))
case("load_checkpoint", "model is None", TYPE, "model", "NoneType", setup=_other_architecture)(
    load_checkpoint, Tmp("other.npz"), None)


# ------------------------------------------------------------------------------------------------ data
def _garbage_cifar(folder: Path) -> None:
    (folder / "cifar").mkdir()
    for name in ("data_batch_1", "test_batch"):
        (folder / "cifar" / name).write_bytes(b"\x80\x02}q\x00garbage")


def _payload_cifar(folder: Path) -> None:
    (folder / "cifar").mkdir()
    # A pickle that would call os.system("touch ran") if unpickled with pickle.load.
    payload = b"\x80\x02cos\nsystem\nq\x00X\t\x00\x00\x00touch ranq\x01\x85q\x02Rq\x03."
    for name in ("data_batch_1", "test_batch"):
        (folder / "cifar" / name).write_bytes(payload)


def _small_cifar(folder: Path) -> None:
    write_cifar_folder(folder / "cifar", np.random.default_rng(0), rows=10, train_batches=1)


def _only_train_batch(folder: Path) -> None:
    write_cifar_folder(folder / "cifar", np.random.default_rng(0), rows=10, train_batches=1)
    (folder / "cifar" / "test_batch").unlink()


for kwargs, error, names, given in (
    ({"num_training": 0}, ARG, "num_training", "0"),
    ({"num_training": -5}, ARG, "num_training", "-5"),
    ({"num_training": 2.5}, TYPE, "num_training", "2.5"),
    ({"num_training": 5000}, ARG, "num_training", "5000"),
    ({"num_validation": -1}, ARG, "num_validation", "-1"),
    ({"num_test": -1}, ARG, "num_test", "-1"),
    ({"num_test": "10"}, TYPE, "num_test", "'10'"),
    ({"num_validation": 1000, "num_test": 900}, ARG, "num_validation + num_test", "1900"),
    ({"dtype": np.int64}, TYPE, "dtype", "int64"),
    ({"dtype": None}, TYPE, "dtype", "None"),
    ({"dtype": "float16"}, TYPE, "dtype", "float16"),
    ({"seed": -1}, ARG, "seed", "-1"),
    ({"seed": "a"}, TYPE, "seed", "'a'"),
    ({"seed": np.random.RandomState(0)}, TYPE, "seed", "RandomState"),
    ({"subtract_mean": "yes"}, TYPE, "subtract_mean", "'yes'"),
):
    case("get_digits_data", _show(kwargs), error, names, given)(
        get_digits_data, **kwargs)
case("load_dataset", "an unknown name 'imagenet'", ARG, "data set", "'imagenet'")(load_dataset, "imagenet")
case("load_dataset", "name None", TYPE, "name", "NoneType")(load_dataset, None)
case("load_dataset", "an option the loader does not take", TYPE, "keyword arguments", "colour")(
    load_dataset, "digits", colour="red")
case("load_dataset", "a bad option passed through", ARG, "num_training", "0")(load_dataset, "digits", num_training=0)
for name, loader in (("get_CIFAR10_data", get_CIFAR10_data), ("get_cifar10_data", get_cifar10_data)):
    case(name, "root that does not exist", DATA, "CIFAR-10 not found", "missing")(loader, root=Tmp("missing"))
    case(name, "root is a file", DATA, "CIFAR-10 not found", "file",
         setup=lambda folder: (folder / "file").write_bytes(b"x"))(loader, root=Tmp("file"))
    case(name, "root is a number", TYPE, "root", "int")(loader, root=5)
    case(name, "root is empty", ARG, "root", "empty")(loader, root="")
    case(name, "num_training 0", ARG, "num_training", "0")(loader, num_training=0, root=Tmp("missing"))
    case(name, "num_validation -1", ARG, "num_validation", "-1")(loader, num_validation=-1, root=Tmp("missing"))
    case(name, "dtype int64", TYPE, "dtype", "int64")(loader, dtype=np.int64, root=Tmp("missing"))
    case(name, "subtract_mean 1", TYPE, "subtract_mean", "1 (int)")(loader, subtract_mean=1, root=Tmp("missing"))
    case(name, "batches that are not pickles of a batch", DATA, "data_batch_1", "cifar", setup=_garbage_cifar)(
        loader, num_training=5, num_validation=1, num_test=1, root=Tmp("cifar"))
    case(name, "a batch that would run os.system", DATA, "data_batch_1", "os", setup=_payload_cifar)(
        loader, num_training=5, num_validation=1, num_test=1, root=Tmp("cifar"))
    case(name, "more training rows than the batches hold", ARG, "num_training", "100", setup=_small_cifar)(
        loader, num_training=100, num_validation=0, num_test=1, root=Tmp("cifar"))
    case(name, "more test rows than test_batch holds", ARG, "num_test", "11", setup=_small_cifar)(
        loader, num_training=5, num_validation=0, num_test=11, root=Tmp("cifar"))
    case(name, "a folder without test_batch", DATA, "test_batch", "incomplete", setup=_only_train_batch)(
        loader, num_training=5, num_validation=0, num_test=1, root=Tmp("cifar"))
for name, loader in (("load_CIFAR_batch", load_CIFAR_batch), ("load_cifar10_batch", load_cifar10_batch)):
    case(name, "a batch that would run os.system", DATA, "data_batch_1", "os", setup=_payload_cifar)(
        loader, Tmp("cifar/data_batch_1"))
for name, loader in (("load_CIFAR10", load_CIFAR10), ("load_cifar10", load_cifar10)):
    case(name, "root that does not exist", DATA, "CIFAR-10 not found", "missing")(loader, Tmp("missing"))
    case(name, "root is a number", TYPE, "root", "int")(loader, 5)
    case(name, "a batch that would run os.system", DATA, "data_batch_1", "os", setup=_payload_cifar)(loader, Tmp("cifar"))
for kwargs, error, names, given in (
    ({"url": "ftp://example.org/cifar.tar.gz"}, ARG, "url", "'ftp://example.org/cifar.tar.gz'"),
    ({"url": "file:///etc/passwd"}, ARG, "url", "'file:///etc/passwd'"),
    ({"url": 3}, TYPE, "url", "int"),
    ({"md5": "xyz"}, ARG, "md5", "'xyz'"),
    ({"md5": None}, ARG, "md5", "None"),
    ({"progress": "yes"}, TYPE, "progress", "'yes'"),
    ({"timeout": 0}, ARG, "timeout", "0.0"),
    ({"timeout": NAN}, ARG, "timeout", "nan"),
    ({"timeout": "60"}, TYPE, "timeout", "'60'"),
):
    case("download_cifar10", _show(kwargs), error, names, given)(
        download_cifar10, Tmp("data"), **kwargs)
case("download_cifar10", "root is a number", TYPE, "root", "int")(download_cifar10, 5)
case("download_cifar10", "root is a file", DATA, "data folder", "file",
     setup=lambda folder: (folder / "file").write_bytes(b"x"))(download_cifar10, Tmp("file"))
case("download_cifar10", "root holds an incomplete cifar-10-batches-py", DATA, "cifar-10-batches-py", "lacks",
     setup=lambda folder: (folder / "data" / "cifar-10-batches-py").mkdir(parents=True))(download_cifar10, Tmp("data"))

# ------------------------------------------------------------------------------------------ experiments
for kwargs, error, names, given in (
    ({"keep_probs": "0.5"}, TYPE, "keep_probs", "str"),
    ({"keep_probs": None}, TYPE, "keep_probs", "NoneType"),
    ({"keep_probs": 0.5}, TYPE, "keep_probs", "float"),
    ({"keep_probs": ()}, ARG, "keep_probs", "empty"),
    ({"keep_probs": (0.5, 0.5)}, ARG, "keep_probs", "[0.5, 0.5]"),
    ({"hidden_dims": ()}, ARG, "hidden_dims", "empty"),
    ({"hidden_dims": (0,)}, ARG, "hidden_dims[0]", "0"),
    ({"hidden_dims": (64, -1)}, ARG, "hidden_dims[1]", "-1"),
    ({"hidden_dims": (2.5,)}, TYPE, "hidden_dims[0]", "2.5"),
    ({"hidden_dims": "64"}, TYPE, "hidden_dims", "str"),
    ({"num_train": 0}, ARG, "num_train", "0"),
    ({"num_train": -100}, ARG, "num_train", "-100"),
    ({"num_train": 1e3}, TYPE, "num_train", "1000.0"),
    ({"num_val": 0}, ARG, "num_val", "0"),
    ({"epochs": 0}, ARG, "epochs", "0"),
    ({"epochs": -3}, ARG, "epochs", "-3"),
    ({"epochs": True}, TYPE, "epochs", "True"),
    ({"epochs": "25"}, TYPE, "epochs", "'25'"),
    ({"batch_size": 0}, ARG, "batch_size", "0"),
    ({"batch_size": -1}, ARG, "batch_size", "-1"),
    ({"update_rule": "adamw"}, ARG, "update_rule", "'adamw'"),
    ({"update_rule": ["adam"]}, ARG, "update_rule", "['adam']"),
    ({"update_rule": None}, ARG, "update_rule", "None"),
    ({"learning_rate": 0.0}, ARG, "learning_rate", "0.0"),
    ({"learning_rate": -5e-4}, ARG, "learning_rate", "-0.0005"),
    ({"learning_rate": NAN}, ARG, "learning_rate", "nan"),
    ({"learning_rate": INF}, ARG, "learning_rate", "inf"),
    ({"learning_rate": "5e-4"}, TYPE, "learning_rate", "'5e-4'"),
    ({"weight_scale": 0.0}, ARG, "weight_scale", "0.0"),
    ({"weight_scale": NAN}, ARG, "weight_scale", "nan"),
    ({"reg": -1.0}, ARG, "reg", "-1.0"),
    ({"reg": INF}, ARG, "reg", "inf"),
    ({"dtype": "float16"}, TYPE, "dtype", "float16"),
    ({"dtype": "int32"}, TYPE, "dtype", "int32"),
    ({"dtype": "bogus"}, TYPE, "dtype", "'bogus'"),
    ({"dtype": None}, TYPE, "dtype", "None"),
    ({"dataset": "imagenet"}, ARG, "dataset", "'imagenet'"),
    ({"dataset": "CIFAR10"}, ARG, "dataset", "'CIFAR10'"),
    ({"dataset": None}, ARG, "dataset", "None"),
    ({"data_dir": 5}, TYPE, "data_dir", "5 (int)"),
    ({"data_dir": ""}, ARG, "data_dir", "''"),
    ({"seeds": ()}, ARG, "seeds", "empty"),
    ({"seeds": (-1,)}, ARG, "seeds[0]", "-1"),
    ({"seeds": (2**32,)}, ARG, "seeds[0]", "4294967296"),
    ({"seeds": (0, 0)}, ARG, "seeds", "[0, 0]"),
    ({"seeds": (0.5,)}, TYPE, "seeds[0]", "0.5"),
    ({"seeds": 3}, TYPE, "seeds", "int"),
    ({"num_train_samples": 0}, ARG, "num_train_samples", "0"),
    ({"checkpoint_every": -1}, ARG, "checkpoint_every", "-1"),
    ({"threads_per_run": 0}, ARG, "threads_per_run", "0"),
    ({"threads_per_run": 5000}, ARG, "threads_per_run", "5000"),
    ({"threads_per_run": 1.5}, TYPE, "threads_per_run", "1.5"),
    ({"update_rule": "sgd_momentum", "momentum": 1.0}, ARG, "momentum", "1.0"),
    ({"update_rule": "sgd_momentum", "momentum": -0.5}, ARG, "momentum", "-0.5"),
    ({"update_rule": "sgd_momentum", "momentum": NAN}, ARG, "momentum", "nan"),
    ({"update_rule": "sgd_momentum", "momentum": "0.9"}, TYPE, "momentum", "'0.9'"),
    ({"momentum": 0.9}, ARG, "update_rule", "'adam'"),
    ({"update_rule": "rmsprop", "momentum": 0.9}, ARG, "momentum", "'rmsprop'"),
    ({"init": "xavier"}, ARG, "init", "'xavier'"),
    ({"init": 2}, TYPE, "init", "2"),
    ({"sweep": {"init": ["he", "glorot"]}}, ARG, "init", "'glorot'"),
    ({"lr_decay": 0.0}, ARG, "lr_decay", "0.0"),
    ({"lr_decay": 1.5}, ARG, "lr_decay", "1.5"),
    ({"lr_decay": -0.5}, ARG, "lr_decay", "-0.5"),
    ({"lr_decay": NAN}, ARG, "lr_decay", "nan"),
    ({"lr_decay": "0.99"}, TYPE, "lr_decay", "'0.99'"),
    ({"update_rule": "sgd_momentum", "momentum_schedule": "linear:0.5"}, ARG, "momentum_schedule", "'linear:0.5'"),
    ({"update_rule": "sgd_momentum", "momentum_schedule": "linear:1.5:10"}, ARG, "start", "1.5"),
    ({"update_rule": "sgd_momentum", "momentum_schedule": "linear:0.5:0"}, ARG, "epochs", "0.0"),
    ({"update_rule": "sgd_momentum", "momentum_schedule": "cosine"}, ARG, "momentum_schedule", "'cosine'"),
    ({"update_rule": "sgd_momentum", "momentum_schedule": None}, TYPE, "momentum_schedule", "NoneType"),
    ({"momentum_schedule": "linear:0.5:500"}, ARG, "momentum_schedule", "update_rule 'adam'"),
    ({"momentum": 0.9, "sweep": {"update_rule": ["sgd_momentum", "sgd"]}}, ARG, "momentum 0.9", "update_rule 'sgd'"),
    ({"update_rule": "sgd_momentum", "sweep": {"lr_decay": [0.5, 2.0]}}, ARG, "lr_decay", "2.0"),
):
    case("ExperimentConfig", _show(kwargs), error, names, given)(
        ExperimentConfig, **kwargs)
case("ExperimentConfig", "seeds=(0, ..., 100000), more runs than an experiment holds", ARG, "runs", "100001")(
    ExperimentConfig, seeds=tuple(range(100_001)))
case("ExperimentConfig.from_dict", "a list", TYPE, "config", "list")(ExperimentConfig.from_dict, [1])
case("ExperimentConfig.from_dict", "an unknown setting 'colour'", ARG, "settings", "colour")(
    ExperimentConfig.from_dict, {"colour": "red"})
case("ExperimentConfig.from_dict", "a bad value", ARG, "epochs", "0")(ExperimentConfig.from_dict, {"epochs": 0})
TINY_CONFIG = ExperimentConfig(**TINY)
case("run_experiment", "no config", ARG, "config")(run_experiment, None, progress=False)
case("run_experiment", "config is a dict", TYPE, "config", "dict")(run_experiment, TINY, progress=False)
case("run_experiment", "jobs 0", ARG, "jobs", "0")(run_experiment, TINY_CONFIG, jobs=0, progress=False)
case("run_experiment", "jobs 1.5", TYPE, "jobs", "1.5")(run_experiment, TINY_CONFIG, jobs=1.5, progress=False)
case("run_experiment", "resume without out_dir", ARG, "out_dir")(run_experiment, resume=True, progress=False)
case("run_experiment", "resume a folder without results.json", DATA, "results.json", "experiment's output folder")(
    run_experiment, out_dir=Tmp(), resume=True, progress=False)
case("run_experiment", "resume a folder whose results.json is not JSON", DATA, "results.json", "JSON",
     setup=lambda folder: (folder / "results.json").write_text("{not json"))(
    run_experiment, out_dir=Tmp(), resume=True, progress=False)
case("run_experiment", "resume a folder whose results.json is another program's", DATA, "results.json", "format",
     setup=lambda folder: (folder / "results.json").write_text('{"accuracy": 0.9}'))(
    run_experiment, out_dir=Tmp(), resume=True, progress=False)
case("run_experiment", "num_train larger than the data set", ARG, "num_train", "100000")(
    run_experiment, ExperimentConfig(**{**TINY, "num_train": 100_000}), out_dir=Tmp("out"), progress=False)
case("run_experiment", "progress 'yes'", TYPE, "progress", "'yes'")(
    run_experiment, TINY_CONFIG, progress="yes")
case("run_experiment", "out_dir is a number", TYPE, "out_dir", "int")(
    run_experiment, TINY_CONFIG, out_dir=5, progress=False)
case("run_experiment", "data without X_train", ARG, "data", "X_train")(
    run_experiment, TINY_CONFIG, data={"y_train": np.zeros(3, int)}, progress=False)
case("load_experiment_data", "config is None", TYPE, "config", "None")(
    load_experiment_data, None)
case("load_study", "a file that does not exist", DATA, "study.toml")(load_study, Tmp("study.toml"))
case("load_study", "path is None", TYPE, "path", "None")(load_study, None)
case("load_study", "a study that is not TOML", DATA, "study.toml", "not valid TOML",
     setup=lambda folder: (folder / "study.toml").write_text("keep_probs = [1,"))(load_study, Tmp("study.toml"))
case("load_study", "a study with an unknown setting", ARG, "study.toml", "'hiden_dims'",
     setup=lambda folder: (folder / "study.toml").write_text("hiden_dims = [8]"))(load_study, Tmp("study.toml"))
case("load_study", "a study that sets and sweeps num_train", ARG, "study.toml", "num_train",
     setup=lambda folder: (folder / "study.toml").write_text("num_train = [20, 20]"))(load_study, Tmp("study.toml"))
# dropout_lab.reproduce: every refusal comes before the study's folder (or any other) is made.
_S = "fig8-sparsity"
case("run_study", "a study name that is a number", TYPE, "study", "int")(run_study, 8)
case("run_study", "a study that does not exist", ARG, "study", "'fig99'")(run_study, "fig99")
case("run_study", "a scale that does not exist", ARG, "scale", "'huge'")(run_study, _S, "huge")
case("run_study", "zero jobs", ARG, "jobs", "0")(run_study, _S, "tiny", jobs=0)
case("run_study", "yes that is text", TYPE, "yes", "'y'")(run_study, _S, "tiny", yes="y")
case("run_study", "progress that is text", TYPE, "progress", "'yes'")(run_study, _S, "tiny", progress="yes")
case("run_study", "a blank scheduler address", ARG, "scheduler", "' '")(run_study, _S, "tiny", scheduler=" ")
case("run_study", "a command that is not text", TYPE, "command", "int")(run_study, _S, "tiny", command=3)
case("run_study", "out_dir that is a number", TYPE, "out_dir", "int")(run_study, _S, "tiny", out_dir=3)
case("run_study", "data_dir that is a number", TYPE, "data_dir", "int")(run_study, _S, "tiny", data_dir=3)
case("run_study", "the paper scale here without yes or a scheduler", ARG, "yes=True", "60 runs")(
    run_study, "fig9-dropout-rate", "paper")
case("run_study", "a data folder without MNIST", DATA, "MNIST not found", setup=lambda folder: (folder / "data").mkdir())(
    run_study, _S, "tiny", data_dir=Tmp("data"), out_dir=Tmp("study"))
case("run_study", "an out_dir that holds other files", ARG, "out_dir", "holds files that are not this study's",
     setup=lambda folder: (folder / "mine").mkdir() or (folder / "mine" / "notes.txt").write_text("x"))(
    run_study, _S, "tiny", out_dir=Tmp("mine"))
case("plan", "a study that does not exist", ARG, "study", "'fig99'")(plan, "fig99")
case("plan", "a scale that does not exist", ARG, "scale", "'large'")(plan, _S, "large")
case("plan", "data_dir that is a list", TYPE, "data_dir", "list")(plan, _S, "small", ["data"])
case("study", "a name that is None", TYPE, "study", "NoneType")(study, None)
case("study", "a name close to a study's", ARG, "study", "did you mean fig8-sparsity?")(study, "fig8-sparsity ")
case("default_out_dir", "a scale that does not exist", ARG, "scale", "'Small'")(default_out_dir, _S, "Small")
case("extended_config", "given settings that are not a dict", TYPE, "settings", "list")(
    extended_config, TINY_CONFIG, ["seeds"])
case("extended_config", "an unknown setting", ARG, "'sedes'")(extended_config, TINY_CONFIG, {"sedes": 3})
case("extended_config", "a list for a setting that cannot be swept", ARG, "num_val", "[10, 20]")(
    extended_config, TINY_CONFIG, {"num_val": [10, 20]})
case("RunSpec", "a config that is not an ExperimentConfig", TYPE, "config", "dict")(RunSpec, {"epochs": 1}, 0.5, 0)
case("RunSpec", "a config with a sweep", ARG, "config", "sweep")(
    RunSpec, ExperimentConfig(sweep={"num_train": [20, 40]}), 0.5, 0)
case("RunSpec", "keep_prob 0", ARG, "keep_prob", "0")(RunSpec, TINY_CONFIG, 0.0, 0)
case("read_results", "a folder without results.json", DATA, "results.json", "does not exist")(read_results, Tmp())
case("read_results", "out_dir is None", TYPE, "out_dir", "None")(read_results, None)
for bad, args, error, names, given in (
    ("config is None", (None, 0.5, 0, DATA_OK), TYPE, "config", "NoneType"),
    ("keep_prob 0", (TINY_CONFIG, 0.0, 0, DATA_OK), ARG, "keep_prob", "0.0"),
    ("seed -1", (TINY_CONFIG, 0.5, -1, DATA_OK), ARG, "seed", "-1"),
    ("data without X_train", (TINY_CONFIG, 0.5, 0, {}), ARG, "data", "X_train"),
):
    case("run_one", bad, error, names, given)(run_one, *args)
case("RunResult.from_dict", "a record missing its histories", ARG, "loss_history", None)(RunResult.from_dict, {"keep_prob": 1.0, "seed": 0})
_RECORD = {"keep_prob": 1.0, "seed": 0, "loss_history": [2.3], "train_acc_history": [0.5], "val_acc_history": [0.5],
           "final_train_acc": 0.5, "final_val_acc": 0.5, "best_val_acc": 0.5, "wall_s": 1.0}
for bad, changes, names, given in (
    ("an infinite loss (JSON's Infinity or 1e999)", {"loss_history": [2.3, INF]}, "loss_history", "item 1 is inf"),
    ("a NaN accuracy in a history", {"val_acc_history": [NAN]}, "val_acc_history", "item 0 is nan"),
    ("an accuracy of 10**400 (an int no float holds)", {"best_val_acc": 10**400}, "best_val_acc", "1329 bits"),
    ("an infinite wall time", {"wall_s": INF}, "wall_s", "inf"),
):
    case("RunResult.from_dict", bad, ARG, names, given)(RunResult.from_dict, {**_RECORD, **changes})
for bad, values, error, names, given in (
    ("an empty list", [], ARG, "values", "none"),
    ("a NaN", [0.1, NAN], ARG, "values", "NaN"),
    ("an infinity", [0.1, INF], ARG, "values", "infinite"),
    ("a string", "0.5", TYPE, "values", "'0.5'"),
    ("None", None, TYPE, "values", "None"),
    ("a nested list", [[0.1, 0.2]], ARG, "values", "(1, 2)"),
    ("complex numbers", np.array([1j, 2j]), TYPE, "values", "complex128"),
    ("booleans", [True, False], TYPE, "values", "bool"),
    ("strings in a list", [0.1, "a"], TYPE, "values", "<U"),
):
    case("mean_ci", bad, error, names, given)(mean_ci, values)
for confidence, error, given in ((0, ARG, "0.0"), (1, ARG, "1.0"), (1.5, ARG, "1.5"), (NAN, ARG, "nan"),
                                 ("0.95", TYPE, "'0.95'")):
    case("mean_ci", f"confidence {given}", error, "confidence", given)(mean_ci, [0.1, 0.2], confidence=confidence)
    case("paired_difference", f"confidence {given}", error, "confidence", given)(
        paired_difference, [0.1, 0.2], [0.1, 0.3], confidence=confidence)
    case("summarize", f"confidence {given}", error, "confidence", given)(summarize, [RUN], confidence=confidence)
    case("plot_accuracy", f"confidence {given}", error, "confidence", given)(
        plot_accuracy, [RUN], Tmp("a.png"), confidence=confidence)
case("paired_difference", "lengths 2 and 1", ARG, "treatment and control", "2 and 1")(paired_difference, [0.1, 0.2], [0.1])
case("paired_difference", "treatment None", TYPE, "treatment", "None")(paired_difference, None, [0.1])
case("paired_difference", "control holds an infinity", ARG, "control", "infinite")(paired_difference, [0.1, 0.2], [0.1, INF])
case("verdict", "None", TYPE, "interval", "None")(verdict, None)
case("verdict", "a plain tuple", TYPE, "interval", "tuple")(verdict, (0.1, 0.0, 0.2, 0.1, 3))
for bad, runs, error, names, given in (
    ("runs is a number", 5, TYPE, "runs", "5 (int)"),
    ("runs is a string", "runs", TYPE, "runs", "'runs'"),
    ("runs is one dict", RUN, TYPE, "runs", "dict"),
    ("a run without seed", [{k: v for k, v in RUN.items() if k != "seed"}], ARG, "runs[0]", "'seed'"),
    ("a run with keep_prob 0", [{**RUN, "keep_prob": 0.0}], ARG, "runs[0].keep_prob", "0.0"),
    ("a run with seed 1.5", [{**RUN, "seed": 1.5}], TYPE, "runs[0].seed", "1.5"),
    ("a run with an accuracy of 1.5", [{**RUN, "final_val_acc": 1.5}], ARG, "runs[0].final_val_acc", "1.5"),
    ("a run with an accuracy of NaN", [{**RUN, "best_val_acc": NAN}], ARG, "runs[0].best_val_acc", "nan"),
    ("a run with an accuracy '0.5'", [{**RUN, "final_train_acc": "0.5"}], TYPE, "runs[0].final_train_acc", "'0.5'"),
    ("the same (keep_prob, seed) twice", [RUN, RUN], ARG, "runs[1]", "seed=0"),
):
    case("summarize", bad, error, names, given)(summarize, runs)
case("summary_to_dict", "rows of numbers", TYPE, "rows[0]", "1 (int)")(summary_to_dict, [1])
case("summary_to_dict", "rows is None", TYPE, "rows", "None")(summary_to_dict, None)
case("format_summary_table", "rows is a string", TYPE, "rows[0]", "'x'")(format_summary_table, "x")
case("format_summary_table", "rows is None", TYPE, "rows", "None")(format_summary_table, None)
for bad, runs, path, error, names, given, setup in (
    ("no runs", [], Tmp("a.png"), ARG, "runs", "none", None),
    ("runs is a number", 5, Tmp("a.png"), TYPE, "runs", "5 (int)", None),
    ("runs is a string", "runs", Tmp("a.png"), TYPE, "runs", "'runs'", None),
    ("a run without histories", [{"keep_prob": 1.0, "seed": 0}], Tmp("a.png"), ARG, "runs[0]", "train_acc_history", None),
    ("an accuracy of 1.1", [{**RUN, "train_acc_history": [0.1, 1.1]}], Tmp("a.png"), ARG,
     "runs[0].train_acc_history", "1.1", None),
    ("an accuracy of NaN", [{**RUN, "val_acc_history": [0.1, NAN]}], Tmp("a.png"), ARG, "runs[0].val_acc_history",
     "nan", None),
    ("an empty history", [{**RUN, "val_acc_history": []}], Tmp("a.png"), ARG, "runs[0].val_acc_history", "(0,)", None),
    ("histories of different lengths", [{**RUN, "val_acc_history": [0.1]}], Tmp("a.png"), ARG, "runs[0]",
     "2 train accuracies but 1", None),
    ("a history of strings", [{**RUN, "val_acc_history": ["a", "b"]}], Tmp("a.png"), TYPE,
     "runs[0].val_acc_history", "['a', 'b']", None),
    ("path in a folder that does not exist", [RUN], Tmp("missing/a.png"), ARG, "path", "missing", None),
    ("path is an existing folder", [RUN], Tmp("dir"), ARG, "path", "dir", lambda folder: (folder / "dir").mkdir()),
    ("path is None", [RUN], None, TYPE, "path", "None", None),
):
    case("plot_accuracy", bad, error, names, given, setup=setup)(plot_accuracy, runs, path)
case("plot_accuracy", "title is a number", TYPE, "title", "3 (int)")(plot_accuracy, [RUN], Tmp("a.png"), title=3)


# ------------------------------------------------------------------------------ uncertainty, calibration
MC = np.array([[[0.7, 0.3], [0.5, 0.5]], [[0.6, 0.4], [0.2, 0.8]]])  # (K=2, N=2, C=2)
for bad, samples, error, names, given in (
    ("samples is a list", MC.tolist(), TYPE, "samples", "list"),
    ("samples (N, C) without K", MC[0], ARG, "samples", "(2, 2)"),
    ("one class", np.ones((2, 2, 1)), ARG, "samples", "(2, 2, 1)"),
    ("samples float16", MC.astype(np.float16), TYPE, "samples", "float16"),
    ("a negative probability", np.array([[[1.5, -0.5]]]), ARG, "samples", "1.5"),
    ("a NaN", np.array([[[NAN, 0.5]]]), ARG, "samples", "nan"),
    ("a row summing to 0.9", np.array([[[0.5, 0.4]]]), ARG, "samples", "0.9"),
):
    case("mc_uncertainty", bad, error, names, given)(mc_uncertainty, samples)
PROBS, LABELS = MC[0], np.array([0, 1])
for bad, args, kwargs, error, names, given in (
    ("probs is a list", (PROBS.tolist(), LABELS), {}, TYPE, "probs", "list"),
    ("probs (K, N, C)", (MC, LABELS), {}, ARG, "probs", "(2, 2, 2)"),
    ("probs rows summing to 1.1", (np.array([[0.5, 0.6], [0.5, 0.5]]), LABELS), {}, ARG, "probs", "1.1"),
    ("y holds the label 2 for 2 classes", (PROBS, np.array([0, 2])), {}, ARG, "y", "2"),
    ("y has a float dtype", (PROBS, LABELS.astype(float)), {}, TYPE, "y", "float64"),
    ("y (1,) for 2 examples", (PROBS, LABELS[:1]), {}, ARG, "y", "(1,)"),
    ("bins 0", (PROBS, LABELS), {"bins": 0}, ARG, "bins", "0"),
    ("bins 2.5", (PROBS, LABELS), {"bins": 2.5}, TYPE, "bins", "2.5"),
):
    case("calibration_metrics", bad, error, names, given)(calibration_metrics, *args, **kwargs)
for bad, args, kwargs, error, names, given in (
    ("result is a dict", ({"ece": 0.1}, Tmp("r.png")), {}, TYPE, "result", "dict"),
    ("path in a folder that does not exist", (calibration_metrics(PROBS, LABELS), Tmp("missing/r.png")), {}, ARG,
     "path", "missing"),
    ("title is a number", (calibration_metrics(PROBS, LABELS), Tmp("r.png")), {"title": 3}, TYPE, "title",
     "3 (int)"),
):
    case("plot_reliability", bad, error, names, given)(plot_reliability, *args, **kwargs)


# ------------------------------------------------------------------------------------------- running a case
def _resolve(value: Any, folder: Path) -> Any:
    if isinstance(value, Tmp):
        return folder / value.name if value.name else folder
    if isinstance(value, tuple):
        items = [_resolve(v, folder) for v in value]
        return type(value)(*items) if hasattr(value, "_fields") else tuple(items)
    if isinstance(value, list):
        return [_resolve(v, folder) for v in value]
    if isinstance(value, dict):
        return {k: _resolve(v, folder) for k, v in value.items()}
    return value


def _freeze(value: Any) -> Any:
    """A comparable fingerprint of everything a call could modify in place."""
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            return ("objects", value.shape, tuple(map(repr, value.ravel().tolist())))
        return ("array", value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, dict):
        return ("dict", tuple((repr(k), _freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(_freeze(v) for v in value))
    if isinstance(value, np.random.Generator):
        return ("generator", repr(value.bit_generator.state))
    if isinstance(value, np.random.RandomState):
        return ("randomstate", repr(value.get_state(legacy=False)))
    if isinstance(value, (FullyConnectedNet, Solver)):
        model = value.model if isinstance(value, Solver) else value
        return ("model", _freeze(model.params), _freeze(getattr(model, "bn_params", None)),
                _freeze(getattr(model, "rng", None)))
    if isinstance(value, float) and value != value:
        return ("nan",)
    return ("value", repr(value))


def _tree(folder: Path) -> dict[str, str]:
    """Every file and folder under ``folder`` with a digest of its content."""
    out = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        out[key] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@dataclass
class Outcome:
    error: BaseException | None
    inputs_unchanged: bool
    files_unchanged: bool
    global_rng_unchanged: bool


def run_case(c: Case, folder: Path) -> Outcome:
    """Run one case with ``folder`` as the working folder and its temporary folder."""
    if c.setup is not None:
        c.setup(folder)
    files = _tree(folder)
    # Bound methods carry their object (a Solver, a model) in __self__: it must not change either.
    owner = getattr(c.call, "__self__", None)
    args, kwargs = _resolve(c.args, folder), _resolve(c.kwargs, folder)
    before = _freeze((args, kwargs, owner))
    global_state = _freeze(np.random.get_state(legacy=False))
    cwd = os.getcwd()
    os.chdir(folder)
    error: BaseException | None = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a refusal is an exception, never a warning first
            c.call(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the outcome is what the test inspects
        error = exc
    finally:
        os.chdir(cwd)
    return Outcome(
        error=error,
        inputs_unchanged=_freeze((args, kwargs, owner)) == before,
        files_unchanged=_tree(folder) == files,
        global_rng_unchanged=_freeze(np.random.get_state(legacy=False)) == global_state,
    )


def _params() -> list:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), [i for i in ids if ids.count(i) > 1]
    return [pytest.param(c, id=c.id) for c in CASES]


@pytest.mark.parametrize("c", _params())
def test_bad_input_is_refused_clearly(c: Case, tmp_path: Path) -> None:
    outcome = run_case(c, tmp_path)
    error = outcome.error
    assert error is not None, f"{c.id}: accepted without an error"
    assert isinstance(error, c.error), f"{c.id}: {type(error).__name__}: {error}"
    assert isinstance(error, DropoutLabError) and isinstance(error, (ValueError, TypeError, OSError))
    message = str(error)
    assert c.names in message, f"the message does not name {c.names!r}: {message}"
    if c.given is not None:
        assert c.given in message, f"the message does not show what was given ({c.given!r}): {message}"
    assert "\n" not in message
    assert outcome.inputs_unchanged, f"{c.id}: an argument was modified"
    assert outcome.files_unchanged, f"{c.id}: a file was written: {sorted(p.name for p in tmp_path.rglob('*'))}"
    assert outcome.global_rng_unchanged, f"{c.id}: NumPy's global generator moved before the refusal"


# Plain records (NamedTuples and dataclasses that only hold values) and names without arguments.
NOT_CALLED_WITH_ARGUMENTS = {
    "__version__", "DropoutLabError", "InvalidArgumentError", "InvalidTypeError", "DataError", "CheckpointError",
    "TrainingDivergedError", "Divergence", "load_digits", "DATASETS", "ExperimentResults", "Interval",
    "KeepProbSummary", "SCALES", "STUDIES", "Claim", "Findings", "Part", "Study", "StudyReport",
}


def test_the_table_covers_every_public_name():
    # What a user calls by name: the top level, the course's names, the experiments, and the two
    # subpackage functions the table also tries.
    public = set(dropout_lab.__all__) | set(course.__all__) | set(experiments.__all__) | set(reproduce.__all__)
    public |= {"load_cifar10", "load_cifar10_batch", "get_update_rule", "max_norm", "plot_reliability",
               "MomentumSchedule"}
    public |= {"gaussian_dropout", "gaussian_dropout_backward", "dropconnect_affine", "dropconnect_affine_backward",
               "selu_forward", "selu_backward", "alpha_dropout", "alpha_dropout_backward", "alpha_dropout_affine"}
    covered = {c.api.split(".")[0] for c in CASES}
    assert public - NOT_CALLED_WITH_ARGUMENTS - covered == set()
    assert covered - public == set()
    for name in ("Solver.check_accuracy", "Solver.resume", "FullyConnectedNet.loss", "ExperimentConfig.from_dict"):
        assert any(c.api == name for c in CASES)
    assert len(CASES) >= 500


def _make_errors_table():
    spec = importlib.util.spec_from_file_location("make_errors_table", REPO_ROOT / "docs" / "make_errors_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_errors_doc_is_up_to_date(tmp_path):
    made = _make_errors_table().render(tmp_path)
    written = (REPO_ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    assert made == written, "docs/errors.md is stale: run python docs/make_errors_table.py"


def normalize(text: str, folder: Path) -> str:
    """A message with the temporary folder and memory addresses made stable, for the docs."""
    text = text.replace(str(folder), "<tmp>")
    return re.sub(r" at 0x[0-9a-fA-F]+", " at 0x…", text)
