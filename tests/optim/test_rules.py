"""Update rules: the course's expected arrays, an independent scalar loop, dtypes, purity, bad input."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dropout_lab.errors import InvalidArgumentError, InvalidTypeError
from dropout_lab.optim import (
    UPDATE_RULES,
    adam,
    get_update_rule,
    rmsprop,
    sgd,
    sgd_momentum,
)
from dropout_lab.optim.rules import rule_name, validate_config

# Every test here runs with each kind of update kernels.
pytestmark = pytest.mark.usefixtures("kernels")

N, D = 4, 5
# The course prints its expected arrays to 8 decimals: a correct value is within half a unit there.
PRINTED_ATOL = 5e-9


def course_inputs():
    w = np.linspace(-0.4, 0.6, num=N * D).reshape(N, D)
    dw = np.linspace(-0.6, 0.4, num=N * D).reshape(N, D)
    return w, dw


# ----------------------------------------------------------------------------- the course's numbers
def test_sgd_momentum_matches_the_course():
    w, dw = course_inputs()
    v = np.linspace(0.6, 0.9, num=N * D).reshape(N, D)
    next_w, config = sgd_momentum(w, dw, {"learning_rate": 1e-3, "velocity": v})
    expected_next_w = np.asarray([
        [0.1406, 0.20738947, 0.27417895, 0.34096842, 0.40775789],
        [0.47454737, 0.54133684, 0.60812632, 0.67491579, 0.74170526],
        [0.80849474, 0.87528421, 0.94207368, 1.00886316, 1.07565263],
        [1.14244211, 1.20923158, 1.27602105, 1.34281053, 1.4096],
    ])
    expected_velocity = np.asarray([
        [0.5406, 0.55475789, 0.56891579, 0.58307368, 0.59723158],
        [0.61138947, 0.62554737, 0.63970526, 0.65386316, 0.66802105],
        [0.68217895, 0.69633684, 0.71049474, 0.72465263, 0.73881053],
        [0.75296842, 0.76712632, 0.78128421, 0.79544211, 0.8096],
    ])
    np.testing.assert_allclose(next_w, expected_next_w, rtol=0, atol=PRINTED_ATOL)
    np.testing.assert_allclose(config["velocity"], expected_velocity, rtol=0, atol=PRINTED_ATOL)


def test_rmsprop_matches_the_course():
    w, dw = course_inputs()
    cache = np.linspace(0.6, 0.9, num=N * D).reshape(N, D)
    next_w, config = rmsprop(w, dw, {"learning_rate": 1e-2, "cache": cache})
    expected_next_w = np.asarray([
        [-0.39223849, -0.34037513, -0.28849239, -0.23659121, -0.18467247],
        [-0.132737, -0.08078555, -0.02881884, 0.02316247, 0.07515774],
        [0.12716641, 0.17918792, 0.23122175, 0.28326742, 0.33532447],
        [0.38739248, 0.43947102, 0.49155973, 0.54365823, 0.59576619],
    ])
    expected_cache = np.asarray([
        [0.5976, 0.6126277, 0.6277108, 0.64284931, 0.65804321],
        [0.67329252, 0.68859723, 0.70395734, 0.71937285, 0.73484377],
        [0.75037008, 0.7659518, 0.78158892, 0.79728144, 0.81302936],
        [0.82883269, 0.84469141, 0.86060554, 0.87657507, 0.8926],
    ])
    np.testing.assert_allclose(next_w, expected_next_w, rtol=0, atol=PRINTED_ATOL)
    np.testing.assert_allclose(config["cache"], expected_cache, rtol=0, atol=PRINTED_ATOL)


def test_adam_matches_the_course():
    w, dw = course_inputs()
    m = np.linspace(0.6, 0.9, num=N * D).reshape(N, D)
    v = np.linspace(0.7, 0.5, num=N * D).reshape(N, D)
    next_w, config = adam(w, dw, {"learning_rate": 1e-2, "m": m, "v": v, "t": 5})
    expected_next_w = np.asarray([
        [-0.40094747, -0.34836187, -0.29577703, -0.24319299, -0.19060977],
        [-0.1380274, -0.08544591, -0.03286534, 0.01971428, 0.0722929],
        [0.1248705, 0.17744702, 0.23002243, 0.28259667, 0.33516969],
        [0.38774145, 0.44031188, 0.49288093, 0.54544852, 0.59801459],
    ])
    expected_v = np.asarray([
        [0.69966, 0.68908382, 0.67851319, 0.66794809, 0.65738853],
        [0.64683452, 0.63628604, 0.6257431, 0.61520571, 0.60467385],
        [0.59414753, 0.58362676, 0.57311152, 0.56260183, 0.55209767],
        [0.54159906, 0.53110598, 0.52061845, 0.51013645, 0.49966],
    ])
    expected_m = np.asarray([
        [0.48, 0.49947368, 0.51894737, 0.53842105, 0.55789474],
        [0.57736842, 0.59684211, 0.61631579, 0.63578947, 0.65526316],
        [0.67473684, 0.69421053, 0.71368421, 0.73315789, 0.75263158],
        [0.77210526, 0.79157895, 0.81105263, 0.83052632, 0.85],
    ])
    np.testing.assert_allclose(next_w, expected_next_w, rtol=0, atol=PRINTED_ATOL)
    np.testing.assert_allclose(config["v"], expected_v, rtol=0, atol=PRINTED_ATOL)
    np.testing.assert_allclose(config["m"], expected_m, rtol=0, atol=PRINTED_ATOL)
    assert config["t"] == 6


def test_sgd_by_hand():
    w = np.array([1.0, -2.0, 0.5])
    dw = np.array([0.5, 0.25, -4.0])
    next_w, config = sgd(w, dw, {"learning_rate": 0.5})
    # 1 - 0.25, -2 - 0.125, 0.5 + 2: every number here is exact in binary.
    assert np.array_equal(next_w, np.array([0.75, -2.125, 2.5]))
    assert config == {"learning_rate": 0.5}


# ----------------------------------------------------------------------------- independent scalar loop
def scalar_reference(rule: str, w: np.ndarray, dw: np.ndarray, config: dict, steps: int = 1):
    """The update formulas element by element, in w's dtype, with the same gradient at every step."""
    T = w.dtype.type
    out_w = w.copy()
    state = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in config.items()}
    for _ in range(steps):
        t = state.get("t", 0) + 1
        new = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in state.items()}
        for i in range(w.size):
            x, g = T(out_w.flat[i]), T(dw.flat[i])
            lr = state["learning_rate"]
            if rule == "sgd":
                x = x - lr * g
            elif rule == "sgd_momentum":
                v = state["momentum"] * T(state["velocity"].flat[i]) - lr * g
                new["velocity"].flat[i] = v
                x = x + v
            elif rule == "rmsprop":
                dr = state["decay_rate"]
                c = dr * T(state["cache"].flat[i]) + (1 - dr) * (g * g)
                new["cache"].flat[i] = c
                x = x - lr * g / (np.sqrt(c) + state["epsilon"])
            else:
                b1, b2 = state["beta1"], state["beta2"]
                m = b1 * T(state["m"].flat[i]) + (1 - b1) * g
                v = b2 * T(state["v"].flat[i]) + (1 - b2) * (g * g)
                new["m"].flat[i], new["v"].flat[i] = m, v
                x = x - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + state["epsilon"])
            out_w.flat[i] = x
        if rule == "adam":
            new["t"] = t
        state = new
    return out_w, state


FULL_CONFIG = {
    "sgd": {"learning_rate": 0.03},
    "sgd_momentum": {"learning_rate": 0.03, "momentum": 0.8},
    "rmsprop": {"learning_rate": 0.03, "decay_rate": 0.9, "epsilon": 1e-6},
    "adam": {"learning_rate": 0.03, "beta1": 0.8, "beta2": 0.95, "epsilon": 1e-6, "t": 0},
}
STATE_KEYS = {"sgd": (), "sgd_momentum": ("velocity",), "rmsprop": ("cache",), "adam": ("m", "v")}


@st.composite
def problems(draw):
    rule = draw(st.sampled_from(sorted(UPDATE_RULES)))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
    width = 32 if dtype == np.float32 else 64
    signed = st.floats(-10, 10, width=width)
    positive = st.floats(0, 10, width=width)
    w = draw(hnp.arrays(dtype, shape, elements=signed))
    dw = draw(hnp.arrays(dtype, shape, elements=signed))
    config = dict(FULL_CONFIG[rule])
    for key in STATE_KEYS[rule]:
        # cache and v are running averages of squares: never negative.
        config[key] = draw(hnp.arrays(dtype, shape, elements=positive if key in ("cache", "v") else signed))
    return rule, w, dw, config


@given(problems(), st.integers(1, 3))
def test_rules_equal_the_scalar_loop_bit_for_bit(problem, steps):
    rule, w, dw, config = problem
    expected_w, expected_state = scalar_reference(rule, w, dw, config, steps)
    next_w, state = w, config
    for _ in range(steps):
        next_w, state = UPDATE_RULES[rule](next_w, dw, state)
    assert next_w.dtype == w.dtype
    assert np.array_equal(next_w, expected_w)
    for key, value in expected_state.items():
        if isinstance(value, np.ndarray):
            assert state[key].dtype == w.dtype, key
            assert np.array_equal(state[key], value), key
        else:
            assert state[key] == value, key


@given(problems())
def test_rules_never_change_their_inputs(problem):
    rule, w, dw, config = problem
    w_copy, dw_copy, config_copy = w.copy(), dw.copy(), copy.deepcopy(config)
    config_arrays = {k: v for k, v in config.items() if isinstance(v, np.ndarray)}
    next_w, new_config = UPDATE_RULES[rule](w, dw, config)
    assert np.array_equal(w, w_copy) and np.array_equal(dw, dw_copy)
    assert config.keys() == config_copy.keys()
    for key, value in config.items():
        if isinstance(value, np.ndarray):
            assert value is config_arrays[key] and np.array_equal(value, config_copy[key])
        else:
            assert value == config_copy[key]
    assert new_config is not config
    assert next_w is not w and not np.shares_memory(next_w, w)
    for key in STATE_KEYS[rule]:
        assert not np.shares_memory(new_config[key], config[key])


def test_adam_counts_steps_and_corrects_bias():
    w = np.array([0.5, -1.0, 2.0])
    dw = np.array([0.2, -3.0, 1e-3])
    config = None
    current = w
    for step in (1, 2, 3):
        previous = current
        current, config = adam(current, dw, config)
        assert config["t"] == step
        # The same gradient at every step: m and v are geometric sums whose bias correction
        # recovers dw and dw**2 exactly (up to rounding), so each step moves every weight by
        # lr * dw / (|dw| + eps), close to lr * sign(dw).
        expected_step = 1e-3 * dw / (np.abs(dw) + 1e-8)
        np.testing.assert_allclose(previous - current, expected_step, rtol=1e-12, atol=0)
        np.testing.assert_allclose(config["m"], (1 - 0.9**step) * dw, rtol=1e-14)
        np.testing.assert_allclose(config["v"], (1 - 0.999**step) * dw**2, rtol=1e-13)


def test_defaults_are_the_course_ones():
    w = np.zeros((2, 3))
    dw = np.ones((2, 3))
    assert sgd(w, dw)[1] == {"learning_rate": 1e-2}
    _, c = sgd_momentum(w, dw)
    assert (c["learning_rate"], c["momentum"]) == (1e-2, 0.9)
    np.testing.assert_array_equal(c["velocity"], -1e-2 * dw)
    _, c = rmsprop(w, dw)
    assert (c["learning_rate"], c["decay_rate"], c["epsilon"]) == (1e-2, 0.99, 1e-8)
    np.testing.assert_array_equal(c["cache"], (1 - 0.99) * dw**2)
    _, c = adam(w, dw)
    assert (c["learning_rate"], c["beta1"], c["beta2"], c["epsilon"], c["t"]) == (1e-3, 0.9, 0.999, 1e-8, 1)


@pytest.mark.parametrize("rule", sorted(UPDATE_RULES))
def test_float32_stays_float32(rule):
    w = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    dw = np.linspace(2, -1, 12, dtype=np.float32).reshape(3, 4)
    config = {"learning_rate": np.float64(1e-2)}  # a float64 scalar must not promote the update
    for _ in range(3):
        w, config = UPDATE_RULES[rule](w, dw, config)
        assert w.dtype == np.float32
        for key in STATE_KEYS[rule]:
            assert config[key].dtype == np.float32


# ----------------------------------------------------------------------------- bad input
W = np.zeros((2, 3))


@pytest.mark.parametrize(
    "rule, w, dw, config, error, words",
    [
        ("sgd", [0.0, 1.0], np.zeros(2), None, InvalidTypeError, "w must be a NumPy array"),
        ("sgd", np.zeros(3, dtype=np.int64), np.zeros(3), None, InvalidTypeError, "floating-point"),
        ("sgd", W, np.zeros((3, 2)), None, InvalidArgumentError, "dw must have w's shape (2, 3)"),
        ("adam", W, W.astype(np.float32), None, InvalidTypeError, "dw must have w's dtype float64"),
        ("sgd", W, W, {"learning_rate": 0.0}, InvalidArgumentError, "config['learning_rate']"),
        ("adam", W, W, {"learning_rate": -1e-3}, InvalidArgumentError, "config['learning_rate']"),
        ("rmsprop", W, W, {"learning_rate": float("nan")}, InvalidArgumentError, "learning_rate"),
        ("sgd", W, W, {"learning_rate": "fast"}, InvalidTypeError, "learning_rate"),
        ("sgd_momentum", W, W, {"momentum": 1.0}, InvalidArgumentError, "config['momentum'] must lie in [0, 1)"),
        ("rmsprop", W, W, {"decay_rate": -0.1}, InvalidArgumentError, "config['decay_rate']"),
        ("adam", W, W, {"beta1": 1.5}, InvalidArgumentError, "config['beta1']"),
        ("adam", W, W, {"beta2": 1.0}, InvalidArgumentError, "config['beta2']"),
        ("adam", W, W, {"epsilon": 0.0}, InvalidArgumentError, "config['epsilon']"),
        ("adam", W, W, {"t": -1}, InvalidArgumentError, "config['t']"),
        ("adam", W, W, {"t": 1.5}, InvalidArgumentError, "config['t']"),
        ("sgd_momentum", W, W, {"velocity": np.zeros(6)}, InvalidArgumentError, "config['velocity'] must match w"),
        ("rmsprop", W, W, {"cache": np.zeros((2, 3), np.float32)}, InvalidArgumentError, "dtype float32"),
        ("adam", W, W, {"m": [[0.0] * 3] * 2}, InvalidTypeError, "config['m']"),
        ("sgd", W, W, {"learning_rte": 0.1}, InvalidArgumentError, "['learning_rte']"),
        ("adam", W, W, {"momentum": 0.9, "beta": 0.5}, InvalidArgumentError, "['beta', 'momentum']"),
        ("sgd", W, W, [("learning_rate", 0.1)], InvalidTypeError, "config must be a dict"),
    ],
)
def test_bad_arguments_are_refused_with_their_names(rule, w, dw, config, error, words):
    with pytest.raises(error) as info:
        UPDATE_RULES[rule](w, dw, config)
    assert words in str(info.value)


def test_registry():
    assert get_update_rule("adam") is adam
    assert get_update_rule("sgd_momentum") is sgd_momentum

    def custom(w, dw, config=None):
        return w, config

    assert get_update_rule(custom) is custom
    with pytest.raises(InvalidArgumentError) as info:
        get_update_rule("adamw")
    assert "'adamw'" in str(info.value)
    for name in ("adam", "rmsprop", "sgd", "sgd_momentum"):
        assert name in str(info.value)
    with pytest.raises(InvalidTypeError):
        get_update_rule(3)
    assert rule_name(adam) == "adam" and rule_name("sgd") == "sgd"
    assert rule_name(custom) is None and rule_name("adamw") is None


def test_validate_config_checks_without_updating():
    w = np.zeros(3)
    validate_config("adam", {"learning_rate": 1e-2}, w)
    validate_config(adam, None, w)
    with pytest.raises(InvalidArgumentError, match="learning_rte"):
        validate_config(adam, {"learning_rte": 1e-2}, w)
    with pytest.raises(InvalidArgumentError, match="adamw"):
        validate_config("adamw", {}, w)
    # A callable of the caller's own gets its config passed through unchecked, but it must be a dict.
    validate_config(lambda w, dw, config: (w, config), {"anything": 1}, w)
    with pytest.raises(InvalidTypeError):
        validate_config(lambda w, dw, config: (w, config), 3, w)
