"""Property-based tests of every layer, with hypothesis: shapes, float32 and float64, values from zero
and subnormals to the largest the math allows, keep probabilities and seeds.

For each layer: (1) finite inputs give finite outputs and gradients wherever the exact result is
representable, with the input's shape and dtype; (2) in float64, at small shapes and away from the
kinks of ReLU and the hinge, the analytic gradients match centered differences; (3) dropout keeps each
unit with probability keep_prob and keeps the mean, within Hoeffding bounds for the sample size.

The other files of this folder test the course's numbers and hand-picked cases; this one searches.
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dropout_lab import dropout, dropout_backward, dropout_mask
from dropout_lab.gradcheck import eval_numerical_gradient_array
from dropout_lab.layers import (
    affine_backward,
    affine_forward,
    affine_relu_backward,
    affine_relu_forward,
    batchnorm_backward,
    batchnorm_backward_alt,
    batchnorm_forward,
    dropout_forward,
    layernorm_backward,
    layernorm_forward,
    relu_backward,
    relu_forward,
    softmax_loss,
    svm_loss,
)

DTYPES = st.sampled_from([np.float32, np.float64])
SEEDS = st.integers(0, 2**32 - 1)


def values(dtype, shape, bound: float):
    """Arrays of ``shape`` whose elements are any finite number with ``|v| <= bound``: hypothesis
    favours the edges, so zeros, subnormals and ``±bound`` itself come up often."""
    width = 32 if dtype == np.float32 else 64
    edge = dtype(bound)
    if float(edge) > bound:  # the nearest representable bound, rounded towards zero
        edge = np.nextafter(edge, dtype(0))
    bound = float(edge)
    return hnp.arrays(
        dtype, shape,
        elements=st.floats(-bound, bound, width=width, allow_nan=False, allow_infinity=False, allow_subnormal=True),
    )


def biggest(dtype) -> float:
    return float(np.finfo(dtype).max)


def assert_finite_like(array: np.ndarray, shape: tuple, dtype) -> None:
    assert isinstance(array, np.ndarray) and array.shape == shape and array.dtype == dtype
    assert np.all(np.isfinite(array))


# ------------------------------------------------------------------------------- (1) finite in, finite out
@given(data=st.data(), dtype=DTYPES, n=st.integers(1, 4), in_shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=3),
       m=st.integers(1, 4))
def test_affine_and_relu_stay_finite(data, dtype, n, in_shape, m):
    d = int(np.prod(in_shape))
    # Each output sums d <= 27 products: |x|, |w|, |dout| <= sqrt(max / 64) keeps sums of products finite.
    bound = math.sqrt(biggest(dtype) / 64)
    x = data.draw(values(dtype, (n, *in_shape), bound))
    w = data.draw(values(dtype, (d, m), bound))
    b = data.draw(values(dtype, (m,), bound))
    dout = data.draw(values(dtype, (n, m), bound))
    out, cache = affine_forward(x, w, b)
    assert_finite_like(out, (n, m), dtype)
    dx, dw, db = affine_backward(dout, cache)
    assert_finite_like(dx, x.shape, dtype)
    assert_finite_like(dw, w.shape, dtype)
    assert_finite_like(db, b.shape, dtype)

    out, cache = affine_relu_forward(x, w, b)
    assert_finite_like(out, (n, m), dtype)
    assert np.all(out >= 0)
    for grad, like in zip(affine_relu_backward(dout, cache), (x, w, b), strict=True):
        assert_finite_like(grad, like.shape, dtype)

    # ReLU alone: any finite value at all, exactly max(0, x), and the gradient passes where x > 0.
    big = data.draw(values(dtype, (n, *in_shape), biggest(dtype)))
    out, cache = relu_forward(big)
    assert_finite_like(out, big.shape, dtype)
    assert np.array_equal(out, np.where(big > 0, big, 0))
    dbig = data.draw(values(dtype, big.shape, biggest(dtype)))
    assert np.array_equal(relu_backward(dbig, cache), np.where(big > 0, dbig, 0))
    assert relu_backward(dbig, cache).dtype == dtype


@given(data=st.data(), dtype=DTYPES, shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=5),
       keep_prob=st.floats(1e-3, 1.0), seed=SEEDS)
def test_dropout_stays_finite_and_exact_on_every_path(data, dtype, shape, keep_prob, seed):
    # out = x / keep_prob where kept: |x| <= max * keep_prob keeps it finite.
    bound = biggest(dtype) * keep_prob / 2
    x = data.draw(values(dtype, shape, bound))
    dout = data.draw(values(dtype, shape, bound))
    scale = dtype(1 / keep_prob)
    for out, cache in (
        dropout(x, keep_prob, train=True, rng=np.random.default_rng(seed)),
        dropout_forward(x, {"mode": "train", "p": keep_prob, "seed": seed}),
    ):
        assert_finite_like(out, shape, dtype)
        mask = cache.mask if cache.mask is not None else np.ones(shape, dtype=bool)
        assert np.array_equal(out[mask], x[mask] * scale) and np.all(out[~mask] == 0)
        dx = dropout_backward(dout, cache)
        assert_finite_like(dx, shape, dtype)
        assert np.array_equal(dx[mask], dout[mask] * scale) and np.all(dx[~mask] == 0)
    for out, cache in (dropout(x, keep_prob, train=False), dropout_forward(x, {"mode": "test", "p": keep_prob})):
        assert out.dtype == dtype and np.array_equal(out, x) and out is not x
        assert np.array_equal(dropout_backward(dout, cache), dout)
    mask = dropout_mask(shape, keep_prob, np.random.default_rng(seed))
    assert mask.shape == shape and mask.dtype == bool


@given(data=st.data(), dtype=DTYPES, n=st.integers(1, 5), c=st.integers(2, 6), seed=SEEDS)
def test_losses_stay_finite_for_huge_and_tiny_scores(data, dtype, n, c, seed):
    # Softmax shifts by the row maximum: differences up to 2 * bound, and the loss sums n terms.
    bound = biggest(dtype) / (4 * 5)
    x = data.draw(values(dtype, (n, c), bound))
    y = np.random.default_rng(seed).integers(c, size=n)
    loss, dx = softmax_loss(x, y)
    assert np.isfinite(loss) and loss >= 0
    assert_finite_like(dx, (n, c), dtype)
    # Each row of dx is (softmax - one-hot) / n: it sums to zero within the rounding of c values of
    # size at most c / n (probabilities, and the one-hot subtracted from one of them).
    rounding = 4 * c * c * float(np.finfo(dtype).eps) / n
    assert np.all(np.abs(dx.sum(axis=1)) <= rounding)
    # The hinge sums n * c margins of up to 2 * bound + 1.
    bound = biggest(dtype) / (4 * 30)
    x = data.draw(values(dtype, (n, c), bound))
    loss, dx = svm_loss(x, y)
    assert np.isfinite(loss) and loss >= 0
    assert_finite_like(dx, (n, c), dtype)
    # (+1 per violated margin, minus their count at y) / n: zero within the same rounding.
    assert np.all(np.abs(dx.sum(axis=1)) <= rounding)


@given(data=st.data(), dtype=DTYPES, n=st.integers(1, 5), d=st.integers(1, 5))
def test_normalizations_stay_finite(data, dtype, n, d):
    # The variance squares deviations of up to 2 * bound and sums five of them.
    bound = math.sqrt(biggest(dtype)) / 8
    x = data.draw(values(dtype, (n, d), bound))
    gamma = data.draw(values(dtype, (d,), 1e3))
    beta = data.draw(values(dtype, (d,), 1e3))
    dout = data.draw(values(dtype, (n, d), 1e3))
    bn_param = {"mode": "train"}
    out, cache = batchnorm_forward(x, gamma, beta, bn_param)
    assert_finite_like(out, (n, d), dtype)
    assert_finite_like(bn_param["running_mean"], (d,), dtype)
    assert_finite_like(bn_param["running_var"], (d,), dtype)
    for backward in (batchnorm_backward, batchnorm_backward_alt):
        for grad, shape in zip(backward(dout, cache), ((n, d), (d,), (d,)), strict=True):
            assert_finite_like(grad, shape, dtype)
    bn_param["mode"] = "test"
    out, cache = batchnorm_forward(x, gamma, beta, bn_param)
    assert_finite_like(out, (n, d), dtype)
    assert cache is None

    out, cache = layernorm_forward(x, gamma, beta, {})
    assert_finite_like(out, (n, d), dtype)
    for grad, shape in zip(layernorm_backward(dout, cache), ((n, d), (d,), (d,)), strict=True):
        assert_finite_like(grad, shape, dtype)


# -------------------------------------------------------------------------- (2) gradients, numerically
H = 1e-5
EPS64 = float(np.finfo(np.float64).eps)


def assert_matches_numerical(
    f, x: np.ndarray, dout: np.ndarray, analytic: np.ndarray, magnitude: float | None = None
) -> None:
    """``analytic`` is the gradient of ``sum(f(x) * dout)`` at ``x``, to within the error of centered
    differences.

    Rounding: each evaluation of ``F = sum(f(x) * dout)`` is off by a few ulps of ``magnitude``, the
    size of the values it is computed from: by default ``sum(|f(x) * dout|)``; more where the layer
    cancels large terms (a normalization subtracts a mean, a loss can be tiny while its terms are
    not). 16 ulps cover the handful of operations of any layer here, and the difference of two
    evaluations is divided by ``2h``: at most ``16 * eps * magnitude / h``. Truncation is
    ``h**2 / 6 * F'''``, below 1e-8 of the largest gradient for inputs whose scale is 0.3 or more:
    ``1e-7`` of it covers that. A wrong
    gradient is off by a fraction of the gradient itself.
    """
    numerical = eval_numerical_gradient_array(f, x, dout, h=H)
    if magnitude is None:
        magnitude = float(np.sum(np.abs(np.asarray(f(x)) * dout)))
    tolerance = 1e-7 * float(np.max(np.abs(numerical))) + 16 * EPS64 * magnitude / H
    error = float(np.max(np.abs(analytic - numerical)))
    assert error <= tolerance, f"gradient off by {error:.3e} (tolerance {tolerance:.3e})"


SCALES = st.sampled_from([0.3, 1.0, 3.0])


def normal(rng: np.random.Generator, shape, scale: float = 1.0) -> np.ndarray:
    return scale * rng.standard_normal(shape)


@given(seed=SEEDS, n=st.integers(1, 4), in_shape=hnp.array_shapes(min_dims=1, max_dims=2, max_side=3),
       m=st.integers(1, 4), scale=SCALES, relu=st.booleans())
def test_affine_and_affine_relu_gradients(seed, n, in_shape, m, scale, relu):
    rng = np.random.default_rng(seed)
    x, w, b = normal(rng, (n, *in_shape), scale), normal(rng, (int(np.prod(in_shape)), m), scale), normal(rng, m)
    dout = normal(rng, (n, m))
    forward, backward = (affine_relu_forward, affine_relu_backward) if relu else (affine_forward, affine_backward)
    if relu:
        # Away from the kink: no probe of size H may move a pre-activation across zero.
        a = affine_forward(x, w, b)[0]
        assume(np.min(np.abs(a)) > 4 * H * max(1.0, np.abs(x).max(), np.abs(w).max()) * max(w.shape[0], 1))
    _, cache = forward(x, w, b)
    dx, dw, db = backward(dout, cache)
    assert_matches_numerical(lambda v: forward(v, w, b)[0], x, dout, dx)
    assert_matches_numerical(lambda v: forward(x, v, b)[0], w, dout, dw)
    assert_matches_numerical(lambda v: forward(x, w, v)[0], b, dout, db)


@given(seed=SEEDS, shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), scale=SCALES)
def test_relu_gradient(seed, shape, scale):
    rng = np.random.default_rng(seed)
    x = normal(rng, shape, scale)
    assume(np.min(np.abs(x)) > 4 * H)
    dout = normal(rng, shape)
    _, cache = relu_forward(x)
    assert_matches_numerical(lambda v: relu_forward(v)[0], x, dout, relu_backward(dout, cache))


@given(seed=SEEDS, shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), keep_prob=st.floats(0.05, 1.0),
       mask_seed=SEEDS, scale=SCALES)
def test_dropout_gradient_with_the_mask_fixed(seed, shape, keep_prob, mask_seed, scale):
    rng = np.random.default_rng(seed)
    x, dout = normal(rng, shape, scale), normal(rng, shape)
    # The same generator state for every call: the same mask, so dropout is a fixed linear map.
    _, cache = dropout(x, keep_prob, train=True, rng=np.random.default_rng(mask_seed))
    assert_matches_numerical(lambda v: dropout(v, keep_prob, train=True, rng=np.random.default_rng(mask_seed))[0],
                             x, dout, dropout_backward(dout, cache))
    param = {"mode": "train", "p": keep_prob, "seed": mask_seed}
    _, cache = dropout_forward(x, param)
    assert_matches_numerical(lambda v: dropout_forward(v, param)[0], x, dout, dropout_backward(dout, cache))


@given(seed=SEEDS, n=st.integers(1, 4), c=st.integers(2, 5), scale=SCALES)
def test_loss_gradients(seed, n, c, scale):
    rng = np.random.default_rng(seed)
    x = normal(rng, (n, c), scale)
    y = rng.integers(c, size=n)
    one = np.ones(())
    # Softmax: each row's loss is log(z) - shifted score with z >= 1 and shifted scores down to -ptp(x),
    # however small the loss itself (a confident right answer).
    assert_matches_numerical(lambda v: np.asarray(softmax_loss(v, y)[0]), x, one, softmax_loss(x, y)[1],
                             magnitude=1 + float(np.ptp(x)))
    margins = x - x[np.arange(n), y][:, None] + 1
    margins[np.arange(n), y] = 1.0  # the label's own column is no margin
    assume(np.min(np.abs(margins)) > 4 * H)  # away from the hinge's kink
    # Hinge: each row sums up to c margins x_j - x_y + 1, each as large as 1 + 2 max|x|.
    assert_matches_numerical(lambda v: np.asarray(svm_loss(v, y)[0]), x, one, svm_loss(x, y)[1],
                             magnitude=c * (1 + 2 * float(np.max(np.abs(x)))))


def spread(z: np.ndarray, axis: int, scale: float, shift: float) -> np.ndarray:
    """``z`` moved to mean ``shift`` and standard deviation ``scale`` along ``axis``: the statistics a
    normalization divides by are then known, and so is how far the gradient check can be trusted."""
    z = z - z.mean(axis=axis, keepdims=True)
    return shift + scale * z / z.std(axis=axis, keepdims=True)


def _normalized(forward, param: dict, x: np.ndarray, gamma: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """``forward``'s output, given a fresh copy of ``param``: batchnorm writes its running averages into
    the dict it gets, and each call of the gradient check must start from the same one."""
    return forward(x, gamma, beta, dict(param))[0]


@given(seed=SEEDS, n=st.integers(2, 5), d=st.integers(2, 5), scale=SCALES, shift=st.sampled_from([0.0, -5.0, 5.0]))
def test_normalization_gradients(seed, n, d, scale, shift):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, d))
    gamma, beta, dout = normal(rng, d) + 1.0, normal(rng, d), normal(rng, (n, d))
    for forward, backward, param, x in (
        (batchnorm_forward, batchnorm_backward, {"mode": "train"}, spread(z, 0, scale, shift)),
        (batchnorm_forward, batchnorm_backward_alt, {"mode": "train"}, spread(z, 0, scale, shift)),
        (layernorm_forward, layernorm_backward, {}, spread(z, 1, scale, shift)),
    ):
        # x - mean cancels max|x| / scale of the digits of x.
        condition = float(np.max(np.abs(x))) / scale
        run = partial(_normalized, forward, param)
        out, cache = forward(x, gamma, beta, dict(param))
        dx, dgamma, dbeta = backward(dout, cache)
        magnitude = condition * float(np.sum(np.abs(out * dout)))
        assert_matches_numerical(partial(run, gamma=gamma, beta=beta), x, dout, dx, magnitude)
        assert_matches_numerical(partial(run, x, beta=beta), gamma, dout, dgamma, magnitude)
        assert_matches_numerical(partial(run, x, gamma), beta, dout, dbeta, magnitude)


# ------------------------------------------------------------------------------- (3) dropout statistics
# Each test below fails with probability at most DELTA when the layer is right: with some 60 examples
# per run, a correct layer fails a run with probability below 1e-7.
DELTA = 1e-9


def hoeffding(n: int, width: float = 1.0) -> float:
    """``t`` with ``P(|mean - E[mean]| >= t) <= DELTA`` for the mean of ``n`` independent values each in
    an interval of ``width`` (Hoeffding 1963): ``t = width * sqrt(ln(2 / DELTA) / (2 n))``."""
    return width * math.sqrt(math.log(2 / DELTA) / (2 * n))


@given(keep_prob=st.floats(0.02, 0.98), n=st.integers(500, 20_000), seed=SEEDS, dtype=DTYPES,
       level=st.floats(1e-3, 1e3))
def test_dropout_keeps_the_right_fraction_and_the_mean(keep_prob, n, seed, dtype, level):
    x = np.full(n, level, dtype=dtype)
    for out, _ in (
        dropout(x, keep_prob, train=True, rng=np.random.default_rng(seed)),
        dropout_forward(x, {"mode": "train", "p": keep_prob, "seed": seed}),
    ):
        kept = np.count_nonzero(out) / n
        assert abs(kept - keep_prob) <= hoeffding(n)
        # out_i is 0 or level / keep_prob, so its mean estimates E[out_i] = level.
        assert abs(float(np.mean(out, dtype=np.float64)) - level) <= hoeffding(n, level / keep_prob) + 1e-6 * level


@given(keep_prob=st.floats(0.05, 0.95), seed=SEEDS)
def test_dropout_masks_of_two_calls_are_independent(keep_prob, seed):
    """Two masks from one generator agree where both keep with probability keep_prob**2."""
    rng = np.random.default_rng(seed)
    n = 20_000
    first, second = dropout_mask((n,), keep_prob, rng), dropout_mask((n,), keep_prob, rng)
    both = np.count_nonzero(first & second) / n
    assert abs(both - keep_prob**2) <= hoeffding(n)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_keep_prob_one_is_the_identity_in_training(dtype):
    x = np.random.default_rng(0).standard_normal((7, 3)).astype(dtype)
    out, cache = dropout(x, 1.0, train=True, rng=np.random.default_rng(0))
    assert out.dtype == dtype and np.array_equal(out, x) and cache.mask is None
