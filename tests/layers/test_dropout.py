"""Inverted dropout: the course's numbers, statistics with binomial bounds, gradients, dtypes, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dropout_lab import DropoutLabError, assert_gradient_close, dropout, dropout_backward, dropout_mask
from dropout_lab.layers import dropout_forward

# Five standard deviations: a correct implementation fails one of these checks with probability < 1e-6.
Z = 5.0


def test_course_statistics_reproduce_to_the_last_digit():
    """The exercise's printed means and zero fractions (np.random.seed(231), no dropout seed)."""
    np.random.seed(231)
    x = np.random.randn(500, 500) + 10
    expected = {
        0.25: (10.014059116977283, 0.749784),
        0.4: (9.977917658761159, 0.600796),
        0.7: (9.987811912159426, 0.30074),
    }
    for p, (mean, zero_fraction) in expected.items():
        out, _ = dropout_forward(x, {"mode": "train", "p": p})
        out_test, _ = dropout_forward(x, {"mode": "test", "p": p})
        # The mask is exactly the course's: the zero fraction has six exact digits.
        assert np.mean(out == 0) == zero_fraction
        # The summation order of np.mean changed in NumPy 2: the correctly rounded mean (math.fsum)
        # of the same array is 9.987811912159428 for p=0.7, the course's NumPy 1 printed ...426.
        assert abs(out.mean() - mean) <= 2 * np.spacing(mean)
        assert math.fsum(out.ravel()) / out.size == pytest.approx(mean, rel=0, abs=2 * np.spacing(mean))
        assert np.array_equal(out_test, x)
        assert np.mean(out_test == 0) == 0


def test_train_output_is_x_times_mask_over_p_exactly():
    np.random.seed(0)
    x = np.random.randn(40, 30)
    state = np.random.get_state()
    out, cache = dropout_forward(x, {"mode": "train", "p": 0.6})
    np.random.set_state(state)
    u = np.random.rand(*x.shape)
    assert np.array_equal(out, x * (u < 0.6) / 0.6)
    assert cache.mask.dtype == np.bool_


def test_course_gradient_check():
    np.random.seed(231)
    x = np.random.randn(10, 10) + 10
    dout = np.random.randn(*x.shape)
    param = {"mode": "train", "p": 0.2, "seed": 123}
    _, cache = dropout_forward(x, param)
    dx = dropout_backward(dout, cache)
    error = assert_gradient_close(
        lambda xx: dropout_forward(xx, param)[0], x, dx, df=dout, tol=1e-10, name="x"
    )
    assert error < 1e-10


def test_seeded_mask_is_a_pure_function_of_seed_and_shape_and_leaves_global_rng_alone():
    x = np.ones((7, 9))
    before = np.random.get_state()
    a, _ = dropout_forward(x, {"mode": "train", "p": 0.5, "seed": 7})
    np.random.rand(3)  # moving the global stream must not change a seeded mask
    b, _ = dropout_forward(x, {"mode": "train", "p": 0.5, "seed": 7})
    c, _ = dropout_forward(x, {"mode": "train", "p": 0.5, "seed": 8})
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    np.random.set_state(before)
    dropout_forward(x, {"mode": "train", "p": 0.5, "seed": 7})
    after = np.random.get_state()
    assert before[0] == after[0] and np.array_equal(before[1], after[1]) and before[2:] == after[2:]


def test_test_mode_is_identity_and_backward_passes_dout():
    x = np.random.default_rng(1).standard_normal((5, 6))
    for out, cache in (dropout_forward(x, {"mode": "test", "p": 0.3}), dropout(x, 0.3, train=False)):
        assert np.array_equal(out, x)
        dout = np.arange(30.0).reshape(5, 6)
        assert np.array_equal(dropout_backward(dout, cache), dout)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("keep_prob", [0.1, 0.25, 0.5, 0.8, 0.95])
def test_generator_path_statistics(dtype, keep_prob):
    """Zero fraction within 5 binomial standard deviations; E[out] = x within 5 standard errors."""
    n = 400_000
    x = np.full(n, 3.0, dtype=dtype)
    out, cache = dropout(x, keep_prob, train=True, rng=np.random.default_rng(12345))
    assert out.dtype == dtype
    kept = np.count_nonzero(cache.mask)
    sd = math.sqrt(n * keep_prob * (1 - keep_prob))
    assert abs(kept - n * keep_prob) <= Z * sd
    # Each kept value is exactly x * (1 / keep_prob) in x's dtype; dropped values are exactly 0.
    assert np.all(out[cache.mask] == dtype(3.0) * dtype(1 / keep_prob))
    assert np.all(out[~cache.mask] == 0)
    sd_mean = 3.0 * math.sqrt((1 - keep_prob) / keep_prob / n)
    assert abs(float(out.astype(np.float64).mean()) - 3.0) <= Z * sd_mean


def test_generator_masks_are_fresh_each_call_and_reproducible_from_the_seed():
    x = np.ones((64, 64))
    rng = np.random.default_rng(5)
    first, _ = dropout(x, 0.5, train=True, rng=rng)
    second, _ = dropout(x, 0.5, train=True, rng=rng)
    assert not np.array_equal(first, second)
    again, _ = dropout(x, 0.5, train=True, rng=np.random.default_rng(5))
    assert np.array_equal(first, again)


def test_mask_elements_are_independent_between_neighbours():
    """Adjacent elements come from the two halves of one 64-bit draw: check they are uncorrelated."""
    n = 200_000
    mask = dropout_mask((n,), 0.5, np.random.default_rng(3))
    both = np.count_nonzero(mask[0::2] & mask[1::2])
    pairs = n // 2
    # P(both kept) = 0.25 for independent halves.
    assert abs(both - pairs * 0.25) <= Z * math.sqrt(pairs * 0.25 * 0.75)


@pytest.mark.parametrize("keep_prob", [1.0, 0.75, 0.5])
def test_generator_path_gradient(keep_prob):
    x = np.random.default_rng(0).standard_normal((6, 7)) + 2
    dout = np.random.default_rng(1).standard_normal((6, 7))
    out, cache = dropout(x, keep_prob, train=True, rng=np.random.default_rng(2))
    dx = dropout_backward(dout, cache)

    def f(xx):  # the same mask: replay the same stream
        return dropout(xx, keep_prob, train=True, rng=np.random.default_rng(2))[0]

    assert_gradient_close(f, x, dx, df=dout, tol=1e-9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtypes_are_kept_on_every_path(dtype):
    x = np.ones((8, 8), dtype=dtype)
    for out, cache in (
        dropout_forward(x, {"mode": "train", "p": 0.5, "seed": 1}),
        dropout_forward(x, {"mode": "train", "p": 0.5}),
        dropout(x, 0.5, train=True, rng=np.random.default_rng(0)),
    ):
        assert out.dtype == dtype
        assert dropout_backward(np.ones_like(x), cache).dtype == dtype


def test_inputs_are_not_modified():
    x = np.random.default_rng(0).standard_normal((10, 10))
    copy = x.copy()
    out, cache = dropout(x, 0.5, train=True, rng=np.random.default_rng(0))
    dropout_backward(copy.copy(), cache)
    assert np.array_equal(x, copy)


@pytest.mark.parametrize("p", [0, -0.1, 1.5, float("nan"), "0.5", None, True])
def test_bad_keep_probability_is_refused_with_its_name(p):
    x = np.ones((2, 2))
    with pytest.raises((ValueError, TypeError), match=r"dropout_param\['p'\]"):
        dropout_forward(x, {"mode": "train", "p": p})
    with pytest.raises((ValueError, TypeError), match="keep_prob"):
        dropout(x, p, train=True, rng=np.random.default_rng(0))


def test_other_bad_inputs():
    x = np.ones((2, 2))
    with pytest.raises(ValueError, match="mode"):
        dropout_forward(x, {"mode": "eval", "p": 0.5})
    with pytest.raises(TypeError, match="x must be a NumPy array"):
        dropout_forward([[1.0, 2.0]], {"mode": "train", "p": 0.5})
    with pytest.raises(TypeError, match="floating-point"):
        dropout_forward(np.ones((2, 2), dtype=int), {"mode": "train", "p": 0.5})
    with pytest.raises(ValueError, match="rng is required"):
        dropout(x, 0.5, train=True)
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        dropout(x, 0.5, train=True, rng=np.random.RandomState(0))
    with pytest.raises(ValueError, match="seed"):
        dropout_forward(x, {"mode": "train", "p": 0.5, "seed": -1})
    _, cache = dropout(x, 0.5, train=True, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="dout must have shape"):
        dropout_backward(np.ones((3, 2)), cache)
    for error in (ValueError, TypeError):
        assert issubclass(error, Exception)
    with pytest.raises(DropoutLabError):
        dropout_forward(x, {"mode": "train", "p": 2})


@given(
    x=hnp.arrays(
        dtype=st.sampled_from([np.float32, np.float64]),
        shape=hnp.array_shapes(min_dims=1, max_dims=4, max_side=6),
        elements=st.floats(-1e6, 1e6, width=32),
    ),
    keep_prob=st.floats(0.05, 1.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_property_shapes_dtypes_and_values(x, keep_prob, seed):
    out, cache = dropout(x, keep_prob, train=True, rng=np.random.default_rng(seed))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert np.all(np.isfinite(out))
    scale = x.dtype.type(1 / keep_prob)
    mask = cache.mask if cache.mask is not None else np.ones(x.shape, dtype=bool)
    assert np.array_equal(out[mask], x[mask] * scale)
    assert np.all(out[~mask] == 0)
    dx = dropout_backward(np.ones_like(x), cache)
    assert dx.shape == x.shape and dx.dtype == x.dtype
