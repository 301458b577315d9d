"""float32 training never silently upcasts: every floating-point array that any dropout-lab function
holds while a Solver trains a float32 model is float32 (checked on every function return through a
profiler hook), and so are the model's outputs, parameters, gradients, optimizer states, the Solver's
reused buffers and its best parameters. Dropout masks are stored as booleans."""

from __future__ import annotations

import sys
import threading
from typing import Any

import numpy as np
import pytest

from dropout_lab import FullyConnectedNet, Solver, dropout, dropout_mask
from dropout_lab.layers import dropout_forward

PACKAGE_FOLDER = "dropout_lab"


class ArrayTracer:
    """Records, at every return from a dropout-lab function, the floating-point arrays among its local
    variables and its return value whose dtype is not the expected one."""

    def __init__(self, expected: np.dtype, allowed: set[tuple[str, str]] = frozenset()):
        self.expected = np.dtype(expected)
        self.allowed = allowed
        self.bad: list[str] = []
        self.seen = 0

    def _check(self, where: str, name: str, value: Any) -> None:
        if isinstance(value, np.ndarray) and value.dtype.kind == "f":
            self.seen += 1
            if value.dtype != self.expected and (where.split(":")[-1], name) not in self.allowed:
                self.bad.append(f"{where} {name}: {value.dtype} {value.shape}")
        elif isinstance(value, (tuple, list)):
            for i, item in enumerate(value[:8]):
                self._check(where, f"{name}[{i}]", item)
        elif isinstance(value, dict):
            for key, item in list(value.items())[:32]:
                self._check(where, f"{name}[{key!r}]", item)

    def __call__(self, frame, event, arg):
        if event != "return":
            return
        code = frame.f_code
        if PACKAGE_FOLDER not in code.co_filename.replace("\\", "/").split("/src/")[-1]:
            return
        where = f"{code.co_filename.rsplit('/', 1)[-1]}:{code.co_name}"
        for name, value in list(frame.f_locals.items()):
            self._check(where, name, value)
        self._check(where, "<return>", arg)

    def __enter__(self) -> ArrayTracer:
        sys.setprofile(self)
        threading.setprofile(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        sys.setprofile(None)
        threading.setprofile(None)


def float32_data(seed: int, n_train: int = 60, n_val: int = 30, dim=(3, 4, 4), classes: int = 5):
    g = np.random.default_rng(seed)
    return {
        "X_train": g.standard_normal((n_train, *dim)).astype(np.float32),
        "y_train": g.integers(0, classes, n_train),
        "X_val": g.standard_normal((n_val, *dim)).astype(np.float32),
        "y_val": g.integers(0, classes, n_val),
    }


def all_state_arrays(solver: Solver) -> dict[str, np.ndarray]:
    arrays = {f"params[{k}]": v for k, v in solver.model.params.items()}
    arrays.update({f"best_params[{k}]": v for k, v in solver.best_params.items()})
    for name, config in solver.optim_configs.items():
        arrays.update({f"optim_configs[{name}][{k}]": v for k, v in config.items() if isinstance(v, np.ndarray)})
    for name, slots in solver._buffers.items():
        for key, pair in slots.items():
            arrays.update({f"_buffers[{name}][{key}][{i}]": a for i, a in enumerate(pair) if a is not None})
    arrays.update({f"buffers[{k}]": v for k, v in solver.model.buffers().items()})
    return arrays


@pytest.mark.parametrize("rule", ["sgd", "sgd_momentum", "rmsprop", "adam"])
@pytest.mark.parametrize(
    "model_kwargs",
    [
        {"dropout": 0.5},  # the fused training path
        {"dropout": [0.75, 0.9], "input_dropout": 0.8, "reg": 0.01},
        {"dropout": 0.5, "normalization": "batchnorm"},  # the layer-by-layer path
        {"dropout": 0.6, "normalization": "layernorm"},
    ],
)
def test_every_array_on_the_float32_training_path_is_float32(rule, model_kwargs):
    data = float32_data(0)
    hidden = [16, 12] if isinstance(model_kwargs["dropout"], list) else [16]
    model = FullyConnectedNet(
        hidden, input_dim=48, num_classes=5, dtype=np.float32, rng=np.random.default_rng(1), **model_kwargs
    )
    solver = Solver(
        model, data, update_rule=rule, optim_config={"learning_rate": 1e-3}, batch_size=20, num_epochs=2,
        verbose=False, rng=np.random.default_rng(2),
    )
    with ArrayTracer(np.float32) as tracer:
        solver.train()
        loss, grads = model.loss(data["X_train"][:7], data["y_train"][:7])
        scores = model.loss(data["X_val"])
    assert tracer.bad == []
    assert tracer.seen > 100  # the hook did see the training path
    assert isinstance(loss, np.floating) and loss.dtype == np.float32
    assert scores.dtype == np.float32
    assert {k: g.dtype for k, g in grads.items()} == {k: np.dtype(np.float32) for k in model.params}
    arrays = all_state_arrays(solver)
    assert any(name.startswith("_buffers") for name in arrays)  # the reused buffers were checked too
    assert {name: a.dtype for name, a in arrays.items()} == {name: np.dtype(np.float32) for name in arrays}
    assert all(isinstance(v, float) for v in solver.loss_history)


def test_the_course_path_keeps_float32_data_and_only_its_uniforms_are_float64():
    """Without rng the masks come from np.random.rand (float64 uniforms, the course's numbers): that
    array is the only float64 one, and it never meets the data."""
    data = float32_data(3)
    model = FullyConnectedNet([16], input_dim=48, num_classes=5, dropout=0.5, dtype=np.float32)
    solver = Solver(model, data, update_rule="adam", batch_size=20, num_epochs=1, verbose=False, seed=4)
    state = np.random.get_state()
    try:
        with ArrayTracer(np.float32, allowed={("dropout_forward", "uniforms")}) as tracer:
            solver.train()
    finally:
        np.random.set_state(state)
    assert tracer.bad == []
    arrays = all_state_arrays(solver)
    assert {a.dtype for a in arrays.values()} == {np.dtype(np.float32)}


def test_float64_input_is_cast_once_at_the_model_boundary():
    data = float32_data(5)
    X64 = data["X_train"][:9].astype(np.float64)
    model = FullyConnectedNet([16], input_dim=48, num_classes=5, dropout=0.5, rng=np.random.default_rng(0))
    # The given array itself is float64 where the checks before the cast look at it.
    before_cast = {("loss", "X"), ("_check_input", "X"), ("check_nonempty_batch", "x")}
    with ArrayTracer(np.float32, allowed=before_cast) as tracer:
        loss, grads = model.loss(X64, data["y_train"][:9])
    assert tracer.bad == []
    assert loss.dtype == np.float32 and all(g.dtype == np.float32 for g in grads.values())


def test_the_tracer_catches_an_upcast():
    """The hook is not vacuous: a float64 array made inside dropout-lab is reported."""
    x = np.ones((4, 4), dtype=np.float32)
    with ArrayTracer(np.float32) as tracer:
        dropout_forward(x, {"mode": "train", "p": 0.5, "seed": 1})  # its uniforms are float64
    assert any("uniforms" in line and "float64" in line for line in tracer.bad)


@pytest.mark.parametrize("keep_prob", [0.5, 0.75, 0.9, 0.123])
def test_masks_are_stored_as_one_byte_booleans(keep_prob):
    x = np.ones((33, 17), dtype=np.float32)
    _, cache = dropout(x, keep_prob, train=True, rng=np.random.default_rng(0))
    assert cache.mask.dtype == np.bool_ and cache.mask.nbytes == x.size
    _, cache = dropout_forward(x, {"mode": "train", "p": keep_prob, "seed": 3})
    assert cache.mask.dtype == np.bool_
    assert dropout_mask((5, 6), keep_prob, np.random.default_rng(1)).dtype == np.bool_
