"""MC dropout uncertainty: predictive entropy, expected entropy and mutual information (BALD)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dropout_lab.errors import InvalidArgumentError, InvalidTypeError
from dropout_lab.uncertainty import (
    entropy,
    expected_entropy,
    mc_uncertainty,
    mutual_information,
    predictive_entropy,
)


def test_hand_computed_example():
    # Two passes that disagree on example 0 ([1, 0] and [0, 1]) and agree on example 1 ([0.5, 0.5]).
    samples = np.array([[[1.0, 0.0], [0.5, 0.5]], [[0.0, 1.0], [0.5, 0.5]]])
    u = mc_uncertainty(samples)
    ln2 = math.log(2)
    # Example 0: the mean is [0.5, 0.5] (entropy ln 2); each pass is certain (entropy 0): BALD ln 2.
    # Example 1: every pass is uniform: all of it is expected entropy, none is disagreement.
    np.testing.assert_allclose(u.predictive_entropy, [ln2, ln2], rtol=1e-15)
    np.testing.assert_allclose(u.expected_entropy, [0.0, ln2], rtol=1e-15)
    np.testing.assert_allclose(u.mutual_information, [ln2, 0.0], rtol=1e-15, atol=0)
    assert u.mutual_information[1] == 0.0


def test_a_worked_three_class_example():
    # p1 = [0.5, 0.5, 0], p2 = [0.5, 0, 0.5]: mean [0.5, 0.25, 0.25].
    samples = np.array([[[0.5, 0.5, 0.0]], [[0.5, 0.0, 0.5]]])
    h_mean = -(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25))  # 1.5 ln 2
    np.testing.assert_allclose(predictive_entropy(samples), [h_mean], rtol=1e-15)
    np.testing.assert_allclose(expected_entropy(samples), [math.log(2)], rtol=1e-15)
    np.testing.assert_allclose(mutual_information(samples), [0.5 * math.log(2)], rtol=1e-14)


def test_entropy_is_safe_at_zero_and_bounded_by_log_c():
    np.testing.assert_array_equal(entropy(np.array([[1.0, 0.0, 0.0]])), [0.0])
    np.testing.assert_allclose(entropy(np.full((1, 4), 0.25)), [math.log(4)], rtol=1e-15)
    assert entropy(np.full((3, 7), 1 / 7)).max() <= math.log(7)


def dirichlet_samples(seed: int, k: int, n: int, c: int, dtype) -> np.ndarray:
    rng = np.random.default_rng(seed)
    samples = rng.dirichlet(np.full(c, 0.3), size=(k, n)).astype(dtype)
    return samples / samples.sum(axis=-1, keepdims=True)


@given(
    seed=st.integers(0, 2**32 - 1), k=st.integers(1, 6), n=st.integers(1, 5), c=st.integers(2, 6),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_bald_is_non_negative_and_all_lie_within_zero_and_log_c(seed, k, n, c, dtype):
    samples = dirichlet_samples(seed, k, n, c, dtype)
    u = mc_uncertainty(samples)
    for values in u:
        assert values.shape == (n,) and values.dtype == dtype
        assert (values >= 0).all() and (values <= dtype(math.log(c))).all()
    assert np.array_equal(u.mutual_information, mutual_information(samples))
    assert np.array_equal(u.predictive_entropy, predictive_entropy(samples))
    assert np.array_equal(u.expected_entropy, expected_entropy(samples))


@given(
    probs=hnp.arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(2, 6)), elements=st.floats(0.01, 1.0)),
    k=st.integers(1, 9),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_bald_is_exactly_zero_when_all_samples_agree(probs, k, dtype):
    probs = (probs / probs.sum(axis=1, keepdims=True)).astype(dtype)
    samples = np.repeat(probs[None], k, axis=0)
    u = mc_uncertainty(samples)
    assert np.array_equal(u.mutual_information, np.zeros(probs.shape[0], dtype=dtype))
    assert np.array_equal(u.predictive_entropy, entropy(probs))


@pytest.mark.parametrize(
    "samples, error, words",
    [
        ([[[0.5, 0.5]]], InvalidTypeError, "samples must be a NumPy array"),
        (np.full((2, 2), 0.5), InvalidArgumentError, r"samples must be \(K, N, C\)"),
        (np.ones((1, 1, 1)), InvalidArgumentError, "at least 2 classes"),
        (np.zeros((0, 2, 2)), InvalidArgumentError, "must not have an empty axis"),
        (np.full((1, 1, 2), 0.5, dtype=np.float16), InvalidTypeError, "float32 or float64"),
        (np.array([[[1.5, -0.5]]]), InvalidArgumentError, r"probabilities in \[0, 1\], got 1.5"),
        (np.array([[[np.nan, 0.5]]]), InvalidArgumentError, r"probabilities in \[0, 1\], got nan"),
        (np.array([[[0.5, 0.4]]]), InvalidArgumentError, "must sum to 1, got a row summing to 0.9"),
    ],
)
def test_bad_samples(samples, error, words):
    with pytest.raises(error, match=words):
        mc_uncertainty(samples)
