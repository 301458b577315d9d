"""The update rules run block by block (and in threads for large arrays) and write into given arrays
(``step_into``): the values must be those of the course's whole-array expressions, bit for bit, with
either kind of kernels (the ``kernels`` fixture)."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dropout_lab import InvalidArgumentError, InvalidTypeError
from dropout_lab.optim import adam, rmsprop, sgd, sgd_momentum
from dropout_lab.optim.rules import output_names, step_into

RULES = {"sgd": sgd, "sgd_momentum": sgd_momentum, "rmsprop": rmsprop, "adam": adam}

pytestmark = pytest.mark.usefixtures("kernels")


def seed_for(rule: str, shape: tuple[int, ...]) -> int:
    """A seed for one case, the same in every process (``hash`` of a string is not: PYTHONHASHSEED)."""
    return zlib.crc32(f"{rule} {shape}".encode())


def course(rule: str, w: np.ndarray, dw: np.ndarray, config: dict) -> tuple[np.ndarray, dict]:
    """The course's expressions, array by array (cs231n optim.py), with Python-float hyperparameters."""
    c = dict(config)
    if rule == "sgd":
        return w - c["learning_rate"] * dw, c
    if rule == "sgd_momentum":
        v = c["momentum"] * c["velocity"] - c["learning_rate"] * dw
        c["velocity"] = v
        return w + v, c
    if rule == "rmsprop":
        cache = c["decay_rate"] * c["cache"] + (1 - c["decay_rate"]) * dw**2
        c["cache"] = cache
        return w - c["learning_rate"] * dw / (np.sqrt(cache) + c["epsilon"]), c
    t = c["t"] + 1
    m = c["beta1"] * c["m"] + (1 - c["beta1"]) * dw
    mt = m / (1 - c["beta1"] ** t)
    v = c["beta2"] * c["v"] + (1 - c["beta2"]) * (dw**2)
    vt = v / (1 - c["beta2"] ** t)
    c.update(t=t, m=m, v=v)
    return w - c["learning_rate"] * mt / (np.sqrt(vt) + c["epsilon"]), c


def full_config(rule: str, w: np.ndarray, g: np.random.Generator) -> dict:
    """Every key set, with state arrays far from zero so that every operation matters."""
    shape, dtype = w.shape, w.dtype
    def state(scale: float, positive: bool = False) -> np.ndarray:
        values = scale * g.standard_normal(shape)
        return np.asarray(np.abs(values) if positive else values, dtype=dtype)

    return {
        "sgd": {"learning_rate": 0.037},
        "sgd_momentum": {"learning_rate": 0.021, "momentum": 0.87, "velocity": state(0.1)},
        "rmsprop": {"learning_rate": 0.013, "decay_rate": 0.97, "epsilon": 1e-7, "cache": state(0.3, positive=True)},
        "adam": {"learning_rate": 3e-3, "beta1": 0.85, "beta2": 0.995, "epsilon": 1e-6,
                 "m": state(0.2), "v": state(0.05, positive=True), "t": 6},
    }[rule]


def assert_same_bits(a: np.ndarray, b: np.ndarray) -> None:
    """Same dtype, shape and bits (the course's expressions give a NumPy scalar for a 0-d w)."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    assert np.array_equal(a.reshape(-1).view(f"u{a.itemsize}"), b.reshape(-1).view(f"u{b.itemsize}"))


@pytest.mark.parametrize("rule", sorted(RULES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, threads", [((7,), "1"), ((3, 65536 + 5), "1"), ((1100, 500), "2"), ((), "1")])
def test_rules_equal_the_course_expressions_bit_for_bit(rule, dtype, shape, threads, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", threads)
    g = np.random.default_rng(seed_for(rule, shape))
    w = np.asarray(g.standard_normal(shape), dtype=dtype)
    dw = np.asarray(0.5 * g.standard_normal(shape), dtype=dtype)
    config = full_config(rule, w, g)
    before = copy.deepcopy(config)
    w_copy, dw_copy = w.copy(), dw.copy()
    next_w, new_config = RULES[rule](w, dw, config)
    expected_w, expected_config = course(rule, w, dw, before)
    assert_same_bits(next_w, expected_w)
    for key in output_names(rule)[1:]:
        assert_same_bits(new_config[key], expected_config[key])
    assert new_config.get("t") == expected_config.get("t")
    # Pure: nothing given was changed.
    assert np.array_equal(w, w_copy) and np.array_equal(dw, dw_copy)
    for key, value in before.items():
        assert np.array_equal(config[key], value)


@pytest.mark.parametrize("rule", sorted(RULES))
def test_non_contiguous_inputs(rule):
    g = np.random.default_rng(8)
    w = g.standard_normal((40, 30)).T  # views, not C-contiguous
    dw = g.standard_normal((30, 40))[:, ::-1].copy(order="F")
    config = {k: (v.T.copy().T if isinstance(v, np.ndarray) else v) for k, v in full_config(rule, w, g).items()}
    next_w, new_config = RULES[rule](w, dw, config)
    expected_w, _ = course(rule, w, dw, config)
    assert next_w.shape == w.shape
    assert_same_bits(np.ascontiguousarray(next_w), np.ascontiguousarray(expected_w))


@pytest.mark.parametrize("rule", sorted(RULES))
def test_step_into_writes_the_given_arrays(rule):
    g = np.random.default_rng(9)
    w = g.standard_normal((50, 20)).astype(np.float32)
    dw = g.standard_normal((50, 20)).astype(np.float32)
    config = full_config(rule, w, g)
    out = {key: np.full_like(w, np.nan) for key in output_names(rule)}
    next_w, new_config, _, _ = step_into(rule, w, dw, copy.deepcopy(config), out)
    assert next_w is out["w"]
    for key in output_names(rule)[1:]:
        assert new_config[key] is out[key]
    expected_w, expected_config = RULES[rule](w, dw, copy.deepcopy(config))
    assert_same_bits(next_w, expected_w)
    assert {k for k in new_config} == {k for k in expected_config}


def test_the_seeds_are_the_same_in_every_process():
    """A failure must be reproducible: the cases' seeds may not depend on the process's hash seed."""
    code = "from tests.optim.test_rules_blocked import seed_for; print(seed_for('adam', (3, 65541)))"
    root = Path(__file__).resolve().parents[2]
    seeds = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run(  # noqa: S603 (this interpreter, our code)
            [sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True, check=True
        )
        seeds.add(done.stdout.strip())
    assert seeds == {str(seed_for("adam", (3, 65541)))}


@pytest.mark.parametrize("rule, name", [(rule, name) for rule in sorted(RULES) for name in output_names(rule)])
def test_step_into_refuses_an_out_it_cannot_write_through(rule, name):
    """The kernels write through a flat view of each output: a non-contiguous or read-only array would
    receive nothing (or the write would fail halfway), so it is refused before anything is written."""
    g = np.random.default_rng(11)
    w = g.standard_normal((50, 20))
    config = full_config(rule, w, g)
    for bad, reason in [(np.empty((20, 50)).T, "not C-contiguous"), (np.empty((50, 40))[:, ::2], "not C-contiguous"),
                        (np.empty((50, 20)), "read-only")]:
        out = {k: np.full_like(w, np.nan) for k in output_names(rule)}
        if reason == "read-only":
            bad.flags.writeable = False
        out[name] = bad
        with pytest.raises(InvalidArgumentError, match=rf"out\['{name}'\] must be a writeable C-contiguous.*{reason}"):
            step_into(rule, w, w, copy.deepcopy(config), out)
        assert all(np.isnan(v).all() for k, v in out.items() if k != name)  # nothing was written


@pytest.mark.parametrize(
    "out, message",
    [({}, r"out must hold \['w', 'm', 'v'\] for adam, got keys \[\]"),
     ({"w": np.empty((4, 3)), "m": np.empty((3, 4)), "v": np.empty((3, 4))}, r"out\['w'\] must match w"),
     ({"w": np.empty((3, 4), np.float32), "m": np.empty((3, 4)), "v": np.empty((3, 4))}, r"out\['w'\] must match w"),
     ({"w": [0.0] * 12, "m": np.empty((3, 4)), "v": np.empty((3, 4))}, r"out\['w'\] must be a NumPy array")],
)
def test_step_into_refuses_out_arrays_unlike_w(out, message):
    w = np.zeros((3, 4))
    with pytest.raises((InvalidArgumentError, InvalidTypeError), match=message):
        step_into("adam", w, w, None, out)


def test_step_into_refuses_an_unknown_rule():
    w = np.zeros(3)
    with pytest.raises(InvalidArgumentError, match="rule must be one of"):
        step_into("adagrad", w, w, None, {"w": np.empty(3)})


def test_output_names():
    assert output_names("sgd") == ("w",)
    assert output_names("sgd_momentum") == ("w", "velocity")
    assert output_names("rmsprop") == ("w", "cache")
    assert output_names("adam") == ("w", "m", "v")


@given(
    w=hnp.arrays(
        dtype=st.sampled_from([np.float32, np.float64]),
        shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=12),
        elements=st.floats(-1e3, 1e3, width=32),
    ),
    rule=st.sampled_from(sorted(RULES)),
    seed=st.integers(0, 2**32 - 1),
)
def test_property_rules_equal_the_course_expressions(w, rule, seed):
    g = np.random.default_rng(seed)
    dw = g.standard_normal(w.shape).astype(w.dtype)
    config = full_config(rule, w, g)
    next_w, _ = RULES[rule](w, dw, copy.deepcopy(config))
    expected_w, _ = course(rule, w, dw, config)
    assert_same_bits(next_w, expected_w)
