"""FullyConnectedNet.predict_proba and predict_proba_samples: weight scaling, Monte Carlo dropout,
batching, determinism, dtypes, and the Monte Carlo mean of a linear net's scores."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dropout_lab import FullyConnectedNet
from dropout_lab.errors import InvalidArgumentError, InvalidTypeError
from dropout_lab.models._variants import softmax

from ..layers._stats import z_for

VARIANTS = [("bernoulli", "relu"), ("gaussian", "relu"), ("dropconnect", "selu"), ("alpha", "selu")]


def _net(kind="bernoulli", activation="relu", **kwargs):
    kwargs.setdefault("rng", np.random.default_rng(1))
    kwargs.setdefault("init", "lecun")
    return FullyConnectedNet([7, 6], input_dim=5, num_classes=4, dropout_kind=kind, activation=activation,
                             **kwargs)


def _X(n=9, seed=0):
    return np.random.default_rng(seed).standard_normal((n, 5))


@pytest.mark.parametrize("normalization", [None, "batchnorm"])
@pytest.mark.parametrize(("kind", "activation"), VARIANTS)
def test_weight_scaling_is_the_softmax_of_the_test_mode_scores(kind, activation, normalization):
    model = _net(kind, activation, dropout=0.5, input_dropout=0.8, normalization=normalization)
    X = _X()
    if normalization == "batchnorm":
        model.loss(X, np.arange(9) % 4)  # running statistics to test with
    expected = softmax(model.loss(X))
    assert np.array_equal(model.predict_proba(X), expected)
    np.testing.assert_allclose(model.predict_proba(X, batch_size=2), expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("kind", "activation"), VARIANTS)
def test_probabilities_are_a_simplex_in_the_models_dtype(kind, activation, dtype):
    model = _net(kind, activation, dropout=0.5, input_dropout=0.8, dtype=dtype)
    X = _X(n=11)
    for mc in (0, 5):
        probs = model.predict_proba(X, mc, np.random.default_rng(2), batch_size=4)
        assert probs.shape == (11, 4) and probs.dtype == dtype
        assert np.all(probs >= 0)
        np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=0, atol=8 * np.finfo(dtype).eps)
    samples = model.predict_proba_samples(X, 5, np.random.default_rng(2), batch_size=4)
    assert samples.shape == (5, 11, 4) and samples.dtype == dtype


@pytest.mark.parametrize(("kind", "activation"), VARIANTS)
def test_monte_carlo_with_keep_1_is_weight_scaling(kind, activation):
    model = _net(kind, activation, dtype=np.float64)
    X = _X()
    np.testing.assert_allclose(model.predict_proba(X, 4, np.random.default_rng(3)), model.predict_proba(X),
                               rtol=1e-14, atol=0)


@pytest.mark.parametrize(("kind", "activation"), VARIANTS)
def test_deterministic_given_rng_and_the_mean_of_the_samples(kind, activation):
    model = _net(kind, activation, dropout=0.5, input_dropout=0.8, dtype=np.float64)
    X = _X()
    state = model.rng.bit_generator.state
    a = model.predict_proba(X, 6, np.random.default_rng(4), batch_size=4)
    b = model.predict_proba(X, 6, np.random.default_rng(4), batch_size=4)
    samples = model.predict_proba_samples(X, 6, np.random.default_rng(4), batch_size=4)
    assert np.array_equal(a, b)
    np.testing.assert_allclose(samples.mean(axis=0), a, rtol=1e-14)
    assert not np.allclose(samples[0], samples[1])  # every pass draws fresh masks
    assert not np.allclose(a, model.predict_proba(X))  # and their average is not weight scaling
    assert model.rng.bit_generator.state == state  # the model's own generator is left alone


@pytest.mark.parametrize("keep_prob", [0.5, 0.8])
@pytest.mark.parametrize("kind", ["bernoulli", "gaussian", "dropconnect"])
def test_a_linear_nets_mean_sampled_scores_are_the_weight_scaled_scores(kind, keep_prob):
    """A net without hidden layers, dropout on its input only: the scores are linear in the noise, so
    their mean over masks is the weight-scaled (test-mode) scores. With two classes the score
    difference is ``log(p1 / p0)``; each example's mean over K passes is checked against it within
    z * sigma / sqrt(K), sigma from the noise's variance (z: every example at once, false-failure
    rate 5.7e-7). Alpha dropout is left out: it is mean-preserving only for inputs of mean 0."""
    model = FullyConnectedNet([], input_dim=5, num_classes=2, input_dropout=keep_prob, dropout_kind=kind,
                              dtype=np.float64, init="lecun", rng=np.random.default_rng(5))
    X = _X(n=6)
    mc = 4000
    probs = model.predict_proba_samples(X, mc, np.random.default_rng(6), batch_size=6)
    sampled = np.log(probs[..., 1]) - np.log(probs[..., 0])  # (K, N) score differences
    scores = model.loss(X)
    expected = scores[:, 1] - scores[:, 0]
    w = model.params["W1"]
    noise = (1 - keep_prob) / keep_prob  # the variance of mask / keep_prob and of Gaussian dropout's e
    if kind == "dropconnect":  # independent masks on the two columns' weights
        variance = (X**2) @ (w[:, 0] ** 2 + w[:, 1] ** 2) * noise
    else:  # one multiplier per input value, shared by both classes' scores
        variance = (X**2) @ ((w[:, 1] - w[:, 0]) ** 2) * noise
    tol = z_for(X.shape[0]) * np.sqrt(variance / mc)
    assert np.all(np.abs(sampled.mean(axis=0) - expected) <= tol)


def test_bad_arguments_name_themselves():
    model = _net(dropout=0.5)
    X = _X()
    with pytest.raises(InvalidArgumentError, match="rng is required"):
        model.predict_proba(X, 3)
    with pytest.raises(InvalidArgumentError, match="mc_samples"):
        model.predict_proba(X, -1)
    with pytest.raises(InvalidArgumentError, match="mc_samples"):
        model.predict_proba_samples(X, 0, np.random.default_rng(0))
    with pytest.raises(InvalidTypeError, match="batch_size"):
        model.predict_proba(X, batch_size=2.5)
    with pytest.raises(InvalidTypeError, match="rng"):
        model.predict_proba(X, 2, rng=3)
    with pytest.raises(InvalidArgumentError, match="X"):
        model.predict_proba(X[:0])
    with pytest.raises(InvalidTypeError, match="X"):
        model.predict_proba(X.tolist())
    with pytest.raises(InvalidArgumentError, match="input_dim"):
        model.predict_proba(X[:, :4], 2, np.random.default_rng(0))
    assert math.isfinite(float(model.predict_proba(X).sum()))


def test_a_bad_value_in_a_late_batch_is_refused_before_anything_is_drawn():
    model = _net(dropout=0.5)
    X = _X(n=10)
    X[9, 0] = np.nan
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    with pytest.raises(InvalidArgumentError, match="X must be finite"):
        model.predict_proba(X, 3, rng, batch_size=4)
    assert rng.bit_generator.state == state
