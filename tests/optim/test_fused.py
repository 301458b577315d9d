"""The two kinds of update kernels (compiled with Numba, and NumPy's): the same bits and the same
non-finite flags on every input; and how they are chosen (``use_kernels``, ``kernels``, and
DROPOUT_LAB_KERNELS as the default)."""

from __future__ import annotations

import contextvars
import copy
import os
import subprocess
import sys
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dropout_lab.errors import InvalidArgumentError
from dropout_lab.optim import _fused, kernels, rules, use_kernels
from dropout_lab.optim.rules import output_names, step_into

from .test_rules_blocked import full_config

RULES = ("sgd", "sgd_momentum", "rmsprop", "adam")


def run(rule: str, w: np.ndarray, dw: np.ndarray, config: dict, *, compiled: bool) -> tuple:
    with use_kernels("numba" if compiled else "numpy"):
        assert kernels() == ("numba" if compiled else "numpy")
        out = {key: np.empty(w.shape, dtype=w.dtype) for key in output_names(rule)}
        next_w, new_config, bad_dw, bad_w = step_into(rule, w, dw, copy.deepcopy(config), out)
    return next_w, new_config, bad_dw, bad_w


def assert_same(a: np.ndarray, b: np.ndarray) -> None:
    """Same bits wherever a value is not NaN, and NaN in the same places (a NaN's payload carries no
    meaning and is not compared)."""
    assert a.dtype == b.dtype and a.shape == b.shape
    nan = np.isnan(a)
    assert np.array_equal(nan, np.isnan(b))
    bits = f"u{a.itemsize}"
    assert np.array_equal(a[~nan].view(bits), b[~nan].view(bits))


def special_values(dtype) -> list[float]:
    info = np.finfo(dtype)
    return [0.0, -0.0, float(info.tiny), float(info.tiny) / 8, float(info.max), -float(info.max), 1e-30,
            np.inf, -np.inf, np.nan, 1.0, -1.0, 0.5]


# ----------------------------------------------------------------------------- same values, same flags
@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_kernels_match_numpy_on_large_arrays(rule, dtype):
    g = np.random.default_rng(3)
    shape = (1100, 500)  # above the threshold at which the ranges go to two threads
    w = g.standard_normal(shape).astype(dtype)
    dw = (0.3 * g.standard_normal(shape)).astype(dtype)
    config = full_config(rule, w, g)
    compiled = run(rule, w, dw, config, compiled=True)
    reference = run(rule, w, dw, config, compiled=False)
    assert_same(compiled[0], reference[0])
    for key in output_names(rule)[1:]:
        assert_same(compiled[1][key], reference[1][key])
    assert compiled[1].get("t") == reference[1].get("t")
    assert compiled[2:] == reference[2:] == (False, False)


@settings(max_examples=150, deadline=None)
@given(
    data=st.data(),
    rule=st.sampled_from(RULES),
    dtype=st.sampled_from([np.float32, np.float64]),
    shape=hnp.array_shapes(min_dims=0, max_dims=2, max_side=9),
)
def test_property_compiled_equals_numpy_including_inf_nan_and_subnormals(data, rule, dtype, shape):
    values = st.one_of(st.sampled_from(special_values(dtype)), st.floats(-1e4, 1e4, width=32))
    arrays = lambda: data.draw(hnp.arrays(dtype, shape, elements=values))  # noqa: E731 (a fresh draw per call, read as a name)
    w, dw = arrays(), arrays()
    g = np.random.default_rng(0)
    config = full_config(rule, w, g)
    for key in output_names(rule)[1:]:
        state = arrays()
        config[key] = np.array(np.abs(state), dtype=dtype) if key in ("v", "cache") else state
    with np.errstate(all="ignore"):
        compiled = run(rule, w, dw, config, compiled=True)
        reference = run(rule, w, dw, config, compiled=False)
    assert_same(compiled[0], reference[0])
    for key in output_names(rule)[1:]:
        assert_same(compiled[1][key], reference[1][key])
    # The flags the Solver's divergence check relies on, the same from both kinds.
    assert compiled[2:] == reference[2:]
    assert compiled[2] == (not np.all(np.isfinite(dw)))
    assert compiled[3] == (not np.all(np.isfinite(reference[0])))


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("where", [0, (1 << 19) + 3, (1 << 20) - 1])  # first range, second range, last value
def test_flags_are_combined_over_thread_ranges(rule, where, kernels, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    g = np.random.default_rng(5)
    w = g.standard_normal(1 << 20).astype(np.float32)
    dw = g.standard_normal(1 << 20).astype(np.float32)
    config = full_config(rule, w, g)

    def flags() -> tuple:
        out = {key: np.empty(w.shape, dtype=w.dtype) for key in output_names(rule)}
        return step_into(rule, w, dw, copy.deepcopy(config), out)[2:]

    assert flags() == (False, False)
    dw[where] = np.inf
    with np.errstate(all="ignore"):
        assert flags() == (True, True)
    dw[where] = 0.0
    w[where] = np.nan  # a bad weight with a finite gradient: only next_w is flagged
    with np.errstate(all="ignore"):
        assert flags() == (False, True)


def test_the_pure_rules_run_the_chosen_kernels(kernels, monkeypatch):
    calls = []
    if kernels == "numba":
        original = _fused.run
        monkeypatch.setattr(_fused, "run", lambda *a: calls.append("numba") or original(*a))
    else:
        original_sgd = rules.KERNELS["sgd"]
        spy = {**rules.KERNELS, "sgd": lambda *a: calls.append("numpy") or original_sgd(*a)}
        monkeypatch.setattr(rules, "KERNELS", spy)
    w = np.arange(6.0, dtype=np.float32)
    next_w, _ = rules.sgd(w, w)
    assert calls == [kernels]
    assert np.array_equal(next_w, w - np.float32(1e-2) * w)


# ----------------------------------------------------------------------------- the choice
def test_use_kernels_chooses_and_nests(monkeypatch):
    monkeypatch.delenv("DROPOUT_LAB_KERNELS", raising=False)
    assert kernels() == "numba"
    with use_kernels("numpy"):
        assert kernels() == "numpy"
        with use_kernels("numba"):
            assert kernels() == "numba"
        assert kernels() == "numpy"
    assert kernels() == "numba"


def test_use_kernels_replaces_the_environment_variable(monkeypatch):
    monkeypatch.setenv("DROPOUT_LAB_KERNELS", "numpy")
    assert kernels() == "numpy"
    with use_kernels("numba"):
        assert kernels() == "numba"
    monkeypatch.setenv("DROPOUT_LAB_KERNELS", "nmupy")  # not read while a block has chosen
    with use_kernels("numpy"):
        assert kernels() == "numpy"
        w = np.ones(3)
        assert rules.sgd(w, w)[0][0] == 1 - 1e-2


@pytest.mark.parametrize("name", ["nmupy", "NumPy", "", None, 1, ["numpy"]])
def test_use_kernels_refuses_a_bad_name_when_called(name):
    with pytest.raises(InvalidArgumentError, match=r"use_kernels: name must be 'numba' or 'numpy', got") as info:
        use_kernels(name)  # no with: the call itself refuses
    assert repr(name) in str(info.value)


def test_the_choice_is_per_thread_and_copy_context_carries_it(monkeypatch):
    """A thread starts from an empty context (the environment decides) unless its target runs in a
    copy of the caller's context."""
    monkeypatch.setenv("DROPOUT_LAB_KERNELS", "numba")
    seen = {}

    def look(key: str) -> None:
        seen[key] = kernels()

    with use_kernels("numpy"):
        plain = threading.Thread(target=look, args=("plain",))
        copied = threading.Thread(target=contextvars.copy_context().run, args=(look, "copied"))
        plain.start(), copied.start()
        plain.join(), copied.join()
        look("here")
    assert seen == {"plain": "numba", "copied": "numpy", "here": "numpy"}


@pytest.mark.parametrize("choice", ["numpy", "numba"])
def test_a_step_on_several_threads_uses_the_callers_choice(choice, monkeypatch):
    """The elementwise threads of one step never read the choice themselves: with a bad
    DROPOUT_LAB_KERNELS any thread that did would raise."""
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    monkeypatch.setenv("DROPOUT_LAB_KERNELS", "bogus")
    w = np.ones(1 << 20, dtype=np.float32)
    with use_kernels(choice):
        next_w, _ = rules.adam(w, w)
    assert next_w.shape == w.shape


def test_the_environment_variable_selects_the_numpy_kernels():
    code = (
        "from dropout_lab.optim import kernels; import sys; "
        "sys.exit(0 if kernels() == 'numpy' and 'numba' not in sys.modules else 1)"
    )
    env = {"DROPOUT_LAB_KERNELS": "numpy", "PATH": "", "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    assert subprocess.run([sys.executable, "-c", code], env=env).returncode == 0  # noqa: S603 (this interpreter, our code)


def test_without_numba_the_numpy_kernels_run_with_the_same_flags(monkeypatch):
    monkeypatch.setitem(sys.modules, "numba", None)  # import numba now raises ImportError
    _fused._kernels_for.cache_clear()
    try:
        with use_kernels("numba"):
            assert kernels() == "numpy"
            w = np.arange(6.0, dtype=np.float32)
            next_w, _, bad_dw, bad_w = step_into("sgd", w, w, None, {"w": np.empty_like(w)})
            assert (bad_dw, bad_w) == (False, False)
            assert np.array_equal(next_w, w - np.float32(1e-2) * w)
            w[2] = np.inf
            with np.errstate(all="ignore"):
                assert step_into("sgd", w, w, None, {"w": np.empty_like(w)})[2:] == (True, True)
    finally:
        _fused._kernels_for.cache_clear()


def test_importing_the_package_does_not_import_numba():
    code = "import dropout_lab, sys; sys.exit('numba' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0  # noqa: S603 (this interpreter, our code)


@pytest.mark.parametrize(
    "value, expected", [("numpy", "numpy"), (" NumPy ", "numpy"), ("numba", "numba"), ("", "numba")]
)
def test_the_environment_variable_values(value, expected, monkeypatch):
    monkeypatch.setenv("DROPOUT_LAB_KERNELS", value)
    assert _fused.requested() == expected


def test_a_misspelt_kernel_choice_is_refused_before_training(monkeypatch):
    from dropout_lab import FullyConnectedNet, Solver

    monkeypatch.setenv("DROPOUT_LAB_KERNELS", "nmupy")
    g = np.random.default_rng(0)
    data = {"X_train": g.standard_normal((20, 4)), "y_train": np.arange(20) % 3,
            "X_val": g.standard_normal((6, 4)), "y_val": np.arange(6) % 3}
    model = FullyConnectedNet([5], input_dim=4, num_classes=3, rng=g)
    before = {k: v.copy() for k, v in model.params.items()}
    with pytest.raises(InvalidArgumentError, match=r"DROPOUT_LAB_KERNELS must be 'numba' or 'numpy'.*'nmupy'"):
        Solver(model, data, update_rule="adam", verbose=False)
    with pytest.raises(InvalidArgumentError, match="DROPOUT_LAB_KERNELS"):
        rules.adam(before["W1"], before["W1"])
    with pytest.raises(InvalidArgumentError, match="DROPOUT_LAB_KERNELS"):
        kernels()
    assert all(np.array_equal(model.params[k], v) for k, v in before.items())
