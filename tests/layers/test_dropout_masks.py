"""The fast Generator path of dropout: masks from as few random bits as the keep probability needs,
the masked product in blocks (and threads), and ``out=`` arrays."""

from __future__ import annotations

import copy
import hashlib
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dropout_lab import InvalidArgumentError, InvalidTypeError, dropout, dropout_backward, dropout_mask
from dropout_lab.layers.dropout import MASK_STREAM_VERSION, DropoutCache, mask_bits

Z = 5.0  # standard deviations: a correct implementation fails a statistical check with p < 1e-6
BITS = {np.dtype(np.float32): np.uint32, np.dtype(np.float64): np.uint64}


def bits_of(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a).view(BITS[a.dtype])


def expected_dropout(x: np.ndarray, mask: np.ndarray, keep_prob: float) -> np.ndarray:
    """x * (1 / keep_prob) where kept, +0.0 where dropped, computed element by element."""
    scale = x.dtype.type(1 / keep_prob)
    out = np.zeros_like(x)
    out[mask] = x[mask] * scale
    return out


@pytest.mark.parametrize(
    "keep_prob, bits",
    [(0.5, 1), (0.25, 8), (0.75, 8), (3 / 8, 8), (1 / 256, 8), (40000 / 65536, 16), (1 / 65536, 16),
     (0.9, 32), (0.1, 32), (1 / 3, 32), (1e-9, 32)],
)
def test_mask_bits_are_the_fewest_that_keep_the_probability_exact(keep_prob, bits):
    assert mask_bits(keep_prob) == bits
    if bits < 32:
        assert (keep_prob * 2**bits).is_integer()
    for fewer in (1, 8, 16):
        if fewer < bits:
            assert not (keep_prob * 2**fewer).is_integer()


@pytest.mark.parametrize("keep_prob", [0.5, 0.75, 40000 / 65536, 0.9])
@pytest.mark.parametrize("size", [1, 7, 63, 64, 65, 1000, 4097])
def test_mask_follows_its_documented_stream(keep_prob, size):
    """Element i is kept when its b random bits (read as an unsigned integer from the raw 64-bit draws
    in order) fall below keep_prob * 2**b, and the stream advances by ceil(size * b / 64) draws."""
    rng = np.random.default_rng(size)
    twin = copy.deepcopy(rng)
    mask = dropout_mask((size,), keep_prob, rng)
    b = mask_bits(keep_prob)
    raw = twin.bit_generator.random_raw(math.ceil(size * b / 64))
    if b == 1:
        coins = np.unpackbits(raw.view(np.uint8))[:size]
        expected = coins == 1
    else:
        words = raw.view(f"uint{b}")[:size].astype(np.uint64)
        threshold = int(keep_prob * 2**b) if b < 32 else round(keep_prob * 2**32)
        expected = words < threshold
    assert np.array_equal(mask, expected)
    assert rng.bit_generator.state == twin.bit_generator.state


# Mask stream version 2: per keep_prob, the first 16 hex digits of sha256(packbits(mask)) for 1,000
# elements drawn from default_rng(2024), and the generator's next raw 64-bit draw after them.
STREAM_2 = {
    0.5: ("033eef033189d1e7", 17997052992283717529),
    0.25: ("1928678e24112e90", 17202889520020469153),
    0.75: ("b4b2bb774fa05ea6", 17202889520020469153),
    40000 / 65536: ("fe9df705c1b181a9", 16206649301367034009),
    0.9: ("27e6148ab42e37a1", 6657773923768131511),
}


@pytest.mark.parametrize("keep_prob", sorted(STREAM_2))
def test_the_masks_are_those_of_the_recorded_stream_version(keep_prob):
    """Checkpoints record MASK_STREAM_VERSION and a resume trusts it: any change to the masks a
    Generator state yields, or to how far it advances the generator, must bump the version (and
    replace these fingerprints)."""
    assert MASK_STREAM_VERSION == 2
    rng = np.random.default_rng(2024)
    mask = dropout_mask((1000,), keep_prob, rng)
    digest, next_draw = STREAM_2[keep_prob]
    assert hashlib.sha256(np.packbits(mask).tobytes()).hexdigest()[:16] == digest
    assert int(rng.bit_generator.random_raw()) == next_draw


@pytest.mark.parametrize("keep_prob", [0.5, 0.25, 0.75, 40000 / 65536, 0.9])
def test_mask_frequency_and_neighbour_independence(keep_prob):
    n = 400_000
    mask = dropout_mask((n,), keep_prob, np.random.default_rng(11))
    sd = math.sqrt(n * keep_prob * (1 - keep_prob))
    assert abs(np.count_nonzero(mask) - n * keep_prob) <= Z * sd
    # Neighbours share a 64-bit draw (and, at 1 bit per element, a byte): both kept with p = keep**2.
    pairs = n // 2
    both = np.count_nonzero(mask[0::2] & mask[1::2])
    p = keep_prob**2
    assert abs(both - pairs * p) <= Z * math.sqrt(pairs * p * (1 - p))


def test_keep_prob_one_draws_nothing():
    rng = np.random.default_rng(0)
    state = copy.deepcopy(rng.bit_generator.state)
    assert dropout_mask((3, 4), 1.0, rng).all()
    assert rng.bit_generator.state == state


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("threads", ["1", "2"])
def test_masked_product_is_exact_including_signed_zeros_and_non_finite_values(dtype, threads, monkeypatch):
    """Kept values are x * scale bit for bit (-0.0 and NaN included); dropped ones are +0.0 even for
    negative, infinite or NaN x. The size spans several blocks and, with 2 threads, two ranges."""
    monkeypatch.setenv("OMP_NUM_THREADS", threads)
    n = 700_001
    g = np.random.default_rng(3)
    x = g.standard_normal(n).astype(dtype)
    x[:8] = [-0.0, 0.0, np.inf, -np.inf, np.nan, -1.0, 2.5, -3.0]
    keep_prob = 0.75
    out, cache = dropout(x, keep_prob, train=True, rng=g)
    cache.mask[:8] = [True, False, True, False, True, False, False, False]
    out = dropout_backward(x, cache)  # the same product, with the mask chosen above
    expected = expected_dropout(x, cache.mask, keep_prob)
    assert np.array_equal(bits_of(out), bits_of(expected))
    assert out.dtype == dtype
    assert np.signbit(out[0]) and np.isnan(out[4]) and out[2] == np.inf
    assert not np.signbit(out[[1, 3, 5, 7]]).any()


def test_non_contiguous_input():
    g = np.random.default_rng(4)
    x = g.standard_normal((300, 200)).astype(np.float32).T  # a transposed view
    out, cache = dropout(x, 0.5, train=True, rng=g)
    assert out.flags.c_contiguous and out.shape == x.shape
    assert np.array_equal(bits_of(out), bits_of(expected_dropout(x, cache.mask, 0.5)))


def test_out_receives_the_same_values_and_is_returned():
    g = np.random.default_rng(5)
    x = g.standard_normal((64, 50)).astype(np.float32)
    buffer = np.full_like(x, 7.0)
    twin = copy.deepcopy(g)
    out, cache = dropout(x, 0.9, train=True, rng=g, out=buffer)
    fresh, fresh_cache = dropout(x, 0.9, train=True, rng=twin)
    assert out is buffer
    assert np.array_equal(out, fresh) and np.array_equal(cache.mask, fresh_cache.mask)
    dout = g.standard_normal(x.shape).astype(np.float32)
    into = np.empty_like(dout)
    assert dropout_backward(dout, cache, out=into) is into
    assert np.array_equal(into, dropout_backward(dout, cache))


def test_out_may_be_the_input_itself():
    g = np.random.default_rng(6)
    x = g.standard_normal((40, 30))
    original = x.copy()
    twin = copy.deepcopy(g)
    out, cache = dropout(x, 0.5, train=True, rng=g, out=x)
    assert out is x
    assert np.array_equal(x, dropout(original, 0.5, train=True, rng=twin)[0])
    dout = g.standard_normal(x.shape)
    expected = dropout_backward(dout, cache)
    assert dropout_backward(dout, cache, out=dout) is dout
    assert np.array_equal(dout, expected)


def test_out_in_test_mode_and_at_keep_one_copies():
    x = np.arange(12.0).reshape(3, 4)
    buffer = np.empty_like(x)
    for out, cache in (dropout(x, 0.5, train=False, out=buffer), dropout(x, 1.0, train=True, out=buffer)):
        assert out is buffer and np.array_equal(out, x) and cache.mask is None
        into = np.empty_like(x)
        assert dropout_backward(x, cache, out=into) is into and np.array_equal(into, x)
    assert dropout(x, 0.5, train=False, out=x)[0] is x


@pytest.mark.parametrize(
    "make_out, error, words",
    [
        (lambda x: [0.0] * x.size, InvalidTypeError, "out must be a NumPy array"),
        (lambda x: np.empty((x.shape[0] + 1, x.shape[1])), InvalidArgumentError, "shape"),
        (lambda x: np.empty(x.shape, dtype=np.float32), InvalidArgumentError, "dtype float64"),
        (lambda x: np.empty(x.shape[::-1]).T, InvalidArgumentError, "C-contiguous"),
        (lambda x: x[:, ::-1], InvalidArgumentError, "C-contiguous"),
    ],
)
def test_bad_out_is_refused_before_any_draw(make_out, error, words):
    x = np.ones((6, 5))
    rng = np.random.default_rng(0)
    state = copy.deepcopy(rng.bit_generator.state)
    with pytest.raises(error, match=words):
        dropout(x, 0.5, train=True, rng=rng, out=make_out(x))
    assert rng.bit_generator.state == state
    _, cache = dropout(x, 0.5, train=True, rng=rng)
    with pytest.raises(error, match=words):
        dropout_backward(x, cache, out=make_out(x))


def test_out_overlapping_the_input_is_refused():
    base = np.ones(20)
    x = base[:10]
    shifted = base[5:15]
    with pytest.raises(InvalidArgumentError, match="overlap"):
        dropout(x, 0.5, train=True, rng=np.random.default_rng(0), out=shifted)
    read_only = np.ones(10)
    read_only.flags.writeable = False
    with pytest.raises(InvalidArgumentError, match="writeable"):
        dropout(x, 0.5, train=True, rng=np.random.default_rng(0), out=read_only)


@given(
    x=hnp.arrays(
        dtype=st.sampled_from([np.float32, np.float64]),
        shape=hnp.array_shapes(min_dims=0, max_dims=3, max_side=9),
        elements=st.floats(allow_nan=True, allow_infinity=True, width=32),
    ),
    keep_prob=st.sampled_from([0.5, 0.25, 0.75, 0.9, 0.05, 1 / 3]),
    seed=st.integers(0, 2**32 - 1),
)
def test_property_product_matches_the_elementwise_definition(x, keep_prob, seed):
    # Values near the dtype's maximum overflow to inf when scaled, with NumPy's RuntimeWarning (checked
    # below); here only the values are compared.
    with np.errstate(over="ignore"):
        out, cache = dropout(x, keep_prob, train=True, rng=np.random.default_rng(seed))
        expected = expected_dropout(x, cache.mask, keep_prob)
    assert isinstance(cache, DropoutCache) and cache.mask.shape == x.shape
    assert np.array_equal(bits_of(out), bits_of(expected))


def test_a_kept_value_that_overflows_becomes_inf_with_numpys_warning():
    x = np.full(64, 2.0**127, dtype=np.float32)  # times 2 is 2**128, beyond float32
    with pytest.warns(RuntimeWarning, match="overflow"):
        out, cache = dropout(x, 0.5, train=True, rng=np.random.default_rng(0))
    assert cache.mask.any() and np.all(np.isposinf(out[cache.mask])) and np.all(out[~cache.mask] == 0)
