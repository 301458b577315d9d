"""Calibration: NLL, multi-class Brier score, ECE with equal-width bins, reliability diagram."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dropout_lab.calibration import Calibration, calibration_metrics, plot_reliability
from dropout_lab.errors import InvalidArgumentError, InvalidTypeError


def test_certain_and_right_is_perfect():
    probs = np.eye(3)[[0, 2, 1, 1]]
    result = calibration_metrics(probs, np.array([0, 2, 1, 1]), bins=10)
    assert (result.nll, result.brier, result.ece, result.accuracy) == (0.0, 0.0, 0.0, 1.0)
    assert result.bins.counts.tolist() == [0] * 9 + [4]
    assert result.bins.confidence[-1] == 1.0 and result.bins.accuracy[-1] == 1.0
    assert np.isnan(result.bins.confidence[:-1]).all() and np.isnan(result.bins.accuracy[:-1]).all()


def test_a_perfectly_calibrated_toy():
    # Ten examples at confidence 0.8, eight of them right; ten at 0.6, six right: ECE 0.
    probs = np.array([[0.8, 0.2]] * 10 + [[0.4, 0.6]] * 10)
    y = np.array([0] * 8 + [1] * 2 + [1] * 6 + [0] * 4)
    result = calibration_metrics(probs, y, bins=5)
    assert result.ece == pytest.approx(0.0, abs=1e-15)
    assert result.accuracy == 0.7
    assert result.bins.counts.tolist() == [0, 0, 10, 10, 0]
    np.testing.assert_allclose(result.bins.confidence[2:4], [0.6, 0.8], rtol=1e-15)
    np.testing.assert_allclose(result.bins.accuracy[2:4], [0.6, 0.8], rtol=1e-15)


def test_a_small_example_worked_by_hand():
    # Example 0: [0.7, 0.2, 0.1], label 0: right at confidence 0.7.
    # Example 1: [0.3, 0.6, 0.1], label 0: wrong at confidence 0.6.
    # Example 2: [0.1, 0.1, 0.8], label 2: right at confidence 0.8.
    probs = np.array([[0.7, 0.2, 0.1], [0.3, 0.6, 0.1], [0.1, 0.1, 0.8]])
    y = np.array([0, 0, 2])
    result = calibration_metrics(probs, y, bins=2)
    # NLL: -(ln 0.7 + ln 0.3 + ln 0.8) / 3.
    assert result.nll == pytest.approx(-(math.log(0.7) + math.log(0.3) + math.log(0.8)) / 3, rel=1e-15)
    # Brier: (0.09 + 0.04 + 0.01) + (0.49 + 0.36 + 0.01) + (0.01 + 0.01 + 0.04) = 0.14 + 0.86 + 0.06, / 3.
    assert result.brier == pytest.approx(1.06 / 3, rel=1e-14)
    # Two bins, (0, 0.5] and (0.5, 1]: all three in the second; accuracy 2/3, mean confidence 0.7.
    assert result.bins.counts.tolist() == [0, 3]
    assert result.ece == pytest.approx(abs(2 / 3 - 0.7), rel=1e-13)
    # Five bins: 0.6 in (0.4, 0.6], 0.7 in (0.6, 0.8], 0.8 in (0.6, 0.8] (right-closed).
    five = calibration_metrics(probs, y, bins=5)
    assert five.bins.counts.tolist() == [0, 0, 1, 2, 0]
    # ECE = (1/3)|0 - 0.6| + (2/3)|1 - 0.75| = 0.2 + 1/6.
    assert five.ece == pytest.approx(0.2 + 1 / 6, rel=1e-14)
    np.testing.assert_allclose(five.bins.edges, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0])


def test_a_zero_probability_on_the_true_class_is_infinite_nll():
    result = calibration_metrics(np.array([[1.0, 0.0]]), np.array([1]))
    assert result.nll == math.inf and result.brier == 2.0 and result.ece == 1.0


@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 40), c=st.integers(2, 5), bins=st.integers(1, 20))
def test_ranges_and_counts(seed, n, c, bins):
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(c), size=n).astype(np.float32)
    probs /= probs.sum(axis=1, keepdims=True)
    y = rng.integers(0, c, n)
    result = calibration_metrics(probs, y, bins=bins)
    assert result.bins.counts.sum() == n and result.num_examples == n
    assert 0 <= result.ece <= 1 and 0 <= result.brier <= 2 and result.nll >= 0
    filled = result.bins.counts > 0
    assert (result.bins.confidence[filled] >= result.bins.edges[:-1][filled] - 1e-12).all()
    assert (result.bins.confidence[filled] <= result.bins.edges[1:][filled] + 1e-12).all()


def test_plot_reliability_writes_a_png(tmp_path):
    probs = np.array([[0.7, 0.3], [0.2, 0.8], [0.55, 0.45]])
    result = calibration_metrics(probs, np.array([0, 0, 1]), bins=4)
    path = plot_reliability(result, tmp_path / "reliability.png", title="toy")
    assert path == tmp_path / "reliability.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["reliability.png"]


def test_plot_reliability_refuses_what_is_not_a_result(tmp_path):
    with pytest.raises(InvalidTypeError, match="result must be a Calibration"):
        plot_reliability({"ece": 0.1}, tmp_path / "x.png")
    with pytest.raises(InvalidArgumentError, match="folder must exist"):
        plot_reliability(calibration_metrics(np.eye(2), np.arange(2)), tmp_path / "no" / "x.png")
    assert isinstance(calibration_metrics(np.eye(2), np.arange(2)), Calibration)


@pytest.mark.parametrize(
    "probs, y, bins, error, words",
    [
        ([[0.5, 0.5]], np.array([0]), 15, InvalidTypeError, "probs must be a NumPy array"),
        (np.full((2, 2, 2), 0.5), np.array([0, 1]), 15, InvalidArgumentError, "probs must be 2-dimensional"),
        (np.array([[0.5, 0.6]]), np.array([0]), 15, InvalidArgumentError, "must sum to 1"),
        (np.eye(2), np.array([0, 2]), 15, InvalidArgumentError, r"y must lie in \[0, 2\)"),
        (np.eye(2), np.array([0.0, 1.0]), 15, InvalidTypeError, "y must have an integer dtype"),
        (np.eye(2), np.array([0]), 15, InvalidArgumentError, r"y must have shape \(2,\)"),
        (np.eye(2), np.array([0, 1]), 0, InvalidArgumentError, "bins must be a positive integer"),
    ],
)
def test_bad_inputs(probs, y, bins, error, words):
    with pytest.raises(error, match=words):
        calibration_metrics(probs, y, bins=bins)
