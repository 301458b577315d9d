"""The reports' measures: intervals and their text, Monte Carlo averaging against weight scaling, and
the cost estimate, each against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dropout_lab.experiments import Interval
from dropout_lab.experiments.config import ExperimentConfig
from dropout_lab.models import FullyConnectedNet
from dropout_lab.reproduce.base import Part
from dropout_lab.reproduce.cost import FLOPS_PER_CORE, core_hours, run_count
from dropout_lab.reproduce.measures import (
    NO_RUNS,
    decided,
    excludes_zero,
    format_interval,
    interval,
    mc_error_curve,
    paired,
    within,
)


def test_paired_intervals_use_only_the_seeds_both_groups_have():
    iv = paired({0: 3.0, 1: 5.0, 2: 4.0, 7: 100.0}, {0: 1.0, 1: 2.0, 2: 2.0})
    # differences 2, 3, 2: mean 7/3, sd sqrt(1/3), t(0.975, 2) = 4.302653
    assert iv.n == 3 and iv.mean == pytest.approx(7 / 3)
    assert iv.half_width == pytest.approx(4.302653 * math.sqrt(1 / 3) / math.sqrt(3), rel=1e-6)
    assert excludes_zero(iv) is True
    assert paired({0: 1.0}, {1: 1.0}) is NO_RUNS


def test_intervals_are_written_with_their_seeds_or_say_why_not():
    assert format_interval(interval([1.0, 2.0, 3.0]), "%") == "2.00 ± 2.48% (95% CI, 3 seeds)"
    assert format_interval(interval([1.5])) == "1.50 (1 seed, no interval)"
    assert format_interval(interval([])) == "no complete run"
    assert excludes_zero(interval([1.5])) is None
    assert excludes_zero(interval([-1.0, 1.0, 0.5])) is False


def _net(keep: float) -> FullyConnectedNet:
    return FullyConnectedNet([20, 20], input_dim=6, num_classes=3, dropout=keep, dtype=np.float64,
                             rng=np.random.default_rng(0), weight_scale=0.5)  # fmt: skip


def test_without_dropout_every_monte_carlo_average_is_weight_scaling():
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(50, 6)), rng.integers(0, 3, 50)
    ws, errors = mc_error_curve(_net(1.0), X, y, (1, 2, 5), draws=2, seed=0)
    expected = 100 * np.mean(np.argmax(_net(1.0).predict_proba(X, 0), axis=1) != y)
    assert ws == pytest.approx(expected)
    np.testing.assert_array_equal(errors, np.full((2, 3), ws))


def test_monte_carlo_errors_are_those_of_the_running_means_of_the_passes():
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(40, 6)), rng.integers(0, 3, 40)
    net = _net(0.5)
    _, errors = mc_error_curve(net, X, y, (1, 3), draws=1, seed=5)
    stream = np.random.SeedSequence([5, 11]).spawn(1)[0]
    samples = net.predict_proba_samples(X, 3, np.random.default_rng(stream))
    for j, k in enumerate((1, 3)):
        assert errors[0, j] == pytest.approx(100 * np.mean(np.argmax(samples[:k].mean(axis=0), axis=1) != y))
    again = mc_error_curve(net, X, y, (1, 3), draws=1, seed=5)[1]
    np.testing.assert_array_equal(errors, again)  # a run's curve is reproducible


def test_the_cost_is_updates_times_batch_times_six_flops_per_weight():
    config = ExperimentConfig(hidden_dims=(10,), keep_probs=(1.0, 0.5), seeds=(0, 1), steps=100, batch_size=10,
                              dataset="mnist", num_train=1000)  # fmt: skip
    parts = [Part("a", "a", config)]
    assert run_count(parts) == 4
    weights = 784 * 10 + 10 * 10
    assert core_hours(parts) == pytest.approx(4 * 100 * 10 * 6 * weights / FLOPS_PER_CORE / 3600)
    by_epochs = ExperimentConfig(hidden_dims=(10,), keep_probs=(1.0,), epochs=3, batch_size=300, num_train=1000,
                                 dataset="mnist")  # fmt: skip
    assert core_hours([Part("b", "b", by_epochs)]) == pytest.approx(3 * 4 * 300 * 6 * weights / FLOPS_PER_CORE / 3600)


def test_zero_spread_and_one_seed_leave_a_verdict_undecided():
    same = paired({0: 2.0, 1: 3.0, 2: 4.0}, {0: 1.0, 1: 2.0, 2: 3.0})  # every seed's difference is 1
    assert same.half_width == 0 and excludes_zero(same) is None and within(same, 5.0) is None
    assert not decided(same, interval([1.0, 2.0]))
    assert decided(interval([1.0, 2.0]), interval([0.5, 0.7, 0.6]))


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [(-0.2, 0.3, True), (-0.6, 0.3, False), (0.6, 0.9, False), (-0.9, -0.6, False)],
    ids=["inside", "across the lower bound", "above", "below"],
)
def test_within_a_margin_needs_the_whole_interval_inside(low, high, expected):
    iv = Interval((low + high) / 2, low, high, (high - low) / 2, 4)
    assert within(iv, 0.5) is expected


def test_a_bonferroni_interval_is_labelled_with_its_coverage():
    assert format_interval(interval([1.0, 2.0, 3.0]), confidence=0.9875).endswith("(98.8% CI, 3 seeds)")
