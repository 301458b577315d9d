"""Keep-probability schedules: constant, linear ramp, and Curriculum Dropout (Morerio et al. 2017); the
momentum schedule (Hinton et al. 2012)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dropout_lab.errors import InvalidArgumentError, InvalidTypeError
from dropout_lab.optim import KeepSchedule, MomentumSchedule, curriculum_keep_prob, linear_keep_prob, linear_momentum

keep_probs = st.floats(0.01, 1.0)
times = st.integers(0, 10_000)


def test_curriculum_hand_values():
    # (1 - 0.5) * exp(-0.1 t) + 0.5
    assert curriculum_keep_prob(0.5, 0, 0.1) == 1.0
    assert curriculum_keep_prob(0.5, 1, 0.1) == pytest.approx(0.5 * math.exp(-0.1) + 0.5, rel=1e-15)
    assert curriculum_keep_prob(0.5, 10, 0.1) == pytest.approx(0.5 / math.e + 0.5, rel=1e-15)
    assert curriculum_keep_prob(0.25, 2, math.log(2)) == pytest.approx(0.75 / 4 + 0.25, rel=1e-15)
    # Decayed away: the target, exactly.
    assert curriculum_keep_prob(0.3, 100_000, 1.0) == 0.3


def test_linear_hand_values():
    assert [linear_keep_prob(0.3, t, 4) for t in (0, 2, 4, 5)] == pytest.approx([1.0, 0.65, 0.3, 0.3], rel=1e-15)
    assert linear_keep_prob(0.5, 1, 4) == 0.875
    # At and after the ramp's end: the target exactly (1 - (1 - 0.3) is not 0.3 in floating point).
    assert linear_keep_prob(0.3, 4, 4) == 0.3 and linear_keep_prob(0.3, 9, 4) == 0.3


@given(keep=keep_probs, gamma=st.floats(1e-6, 10.0), ramp=st.floats(0.5, 1e4), t=times)
def test_schedules_start_at_one_stay_in_range_and_never_rise(keep, gamma, ramp, t):
    for schedule in (KeepSchedule("curriculum", gamma=gamma), KeepSchedule("linear", ramp=ramp)):
        assert schedule.keep_prob(keep, 0) == 1.0
        now, later = schedule.keep_prob(keep, t), schedule.keep_prob(keep, t + 1)
        assert keep <= later <= now <= 1.0
    assert KeepSchedule().keep_prob(keep, t) == keep


@given(gamma=st.floats(1e-6, 10.0), t=times)
def test_a_target_of_one_stays_one(gamma, t):
    assert KeepSchedule("curriculum", gamma=gamma).keep_prob(1.0, t) == 1.0
    assert KeepSchedule("linear", ramp=3).keep_prob(1.0, t) == 1.0


def test_record_is_json_values():
    assert KeepSchedule("curriculum", per="epoch", gamma=0.5).record() == {
        "kind": "curriculum", "per": "epoch", "gamma": 0.5, "ramp": None,
    }
    assert KeepSchedule("linear", ramp=10).ramp == 10.0


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        ({"kind": "cosine"}, InvalidArgumentError, "kind must be one of"),
        ({"per": "batch"}, InvalidArgumentError, "per must be 'step' or 'epoch'"),
        ({"kind": "curriculum"}, InvalidArgumentError, "needs gamma"),
        ({"kind": "linear"}, InvalidArgumentError, "needs ramp"),
        ({"kind": "curriculum", "gamma": -1.0}, InvalidArgumentError, "gamma must be a finite number > 0"),
        ({"kind": "curriculum", "gamma": "fast"}, InvalidTypeError, "gamma must be a real number"),
        ({"kind": "linear", "ramp": 0}, InvalidArgumentError, "ramp must be a finite number > 0"),
        ({"kind": "constant", "gamma": 0.1}, InvalidArgumentError, "gamma is used by a 'curriculum'"),
        ({"kind": "curriculum", "gamma": 0.1, "ramp": 3}, InvalidArgumentError, "ramp is used by a 'linear'"),
    ],
)
def test_bad_schedules(kwargs, error, words):
    with pytest.raises(error, match=words):
        KeepSchedule(**kwargs)


def test_bad_times_and_targets():
    with pytest.raises(InvalidArgumentError, match="t must be a non-negative integer"):
        curriculum_keep_prob(0.5, -1, 0.1)
    with pytest.raises(InvalidArgumentError, match="probability of KEEPING"):
        linear_keep_prob(0.0, 1, 3)


# ----------------------------------------------------------------------------- momentum
def test_linear_momentum_hand_values():
    # 0.5 + (0.9 - 0.5) * min(e / 2, 1) at e = 0, 0.5, 1, 1.5, 2, 3 epochs
    values = [linear_momentum(0.5, 0.9, e, 2) for e in (0, 0.5, 1, 1.5, 2, 3)]
    assert values == pytest.approx([0.5, 0.6, 0.7, 0.8, 0.9, 0.9], rel=1e-15)
    # Hinton et al. 2012 on MNIST: 0.5 to 0.99 over 500 epochs; at epoch 250, half way.
    assert linear_momentum(0.5, 0.99, 250, 500) == pytest.approx(0.745, rel=1e-15)
    # At and after the ramp's end: the final momentum exactly.
    assert linear_momentum(0.5, 0.95, 500, 500) == 0.95 and linear_momentum(0.5, 0.95, 1e9, 500) == 0.95


def test_the_schedule_at_steps_in_fractional_epochs():
    # 4 steps an epoch, a ramp of 2.5 epochs from 0.5 to 0.95: t steps done -> 0.5 + 0.45 * min(t / 10, 1).
    schedule = MomentumSchedule("linear", start=0.5, epochs=2.5)
    assert [schedule.momentum(0.95, t / 4) for t in (0, 1, 5, 10, 11)] == pytest.approx(
        [0.5, 0.545, 0.725, 0.95, 0.95], rel=1e-15)
    assert MomentumSchedule().momentum(0.9, 7.25) == 0.9  # constant: the final momentum throughout
    # A start above the final one falls instead, staying between the two.
    assert MomentumSchedule("linear", start=0.9, epochs=1).momentum(0.5, 0.5) == pytest.approx(0.7, rel=1e-15)


@given(start=st.floats(0.0, 0.999), final=st.floats(0.0, 0.999), epochs=st.floats(0.01, 1e3),
       done=st.floats(0.0, 2e3))
def test_linear_momentum_stays_between_start_and_final_and_moves_one_way(start, final, epochs, done):
    now, later = linear_momentum(start, final, done, epochs), linear_momentum(start, final, done + 0.5, epochs)
    low, high = min(start, final), max(start, final)
    assert low <= now <= high and low <= later <= high
    assert (later - now) * (final - start) >= 0


def test_momentum_schedule_record_is_json_values():
    assert MomentumSchedule("linear", start=0.5, epochs=500).record() == {"kind": "linear", "start": 0.5,
                                                                          "epochs": 500.0}
    assert MomentumSchedule().record() == {"kind": "constant", "start": None, "epochs": None}


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        ({"kind": "cosine"}, InvalidArgumentError, "kind must be one of"),
        ({"kind": "linear", "epochs": 10}, InvalidArgumentError, "needs start"),
        ({"kind": "linear", "start": 0.5}, InvalidArgumentError, "needs epochs"),
        ({"kind": "linear", "start": 1.0, "epochs": 10}, InvalidArgumentError, r"start must lie in \[0, 1\)"),
        ({"kind": "linear", "start": "0.5", "epochs": 10}, InvalidTypeError, "start must be a real number"),
        ({"kind": "linear", "start": 0.5, "epochs": 0}, InvalidArgumentError, "epochs must be a finite number > 0"),
        ({"kind": "constant", "start": 0.5}, InvalidArgumentError, "start is used by a 'linear'"),
    ],
)
def test_bad_momentum_schedules(kwargs, error, words):
    with pytest.raises(error, match=words):
        MomentumSchedule(**kwargs)


def test_bad_momentum_times_and_finals():
    with pytest.raises(InvalidArgumentError, match="epochs_done must be a finite number >= 0"):
        linear_momentum(0.5, 0.9, -1, 10)
    with pytest.raises(InvalidArgumentError, match=r"final must lie in \[0, 1\)"):
        MomentumSchedule().momentum(1.0, 0)
