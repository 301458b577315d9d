"""Max-norm (Srivastava et al. 2014, section 5.1): each column of W (a unit's incoming weights) is
rescaled to norm at most c; columns within the bound are left bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dropout_lab.errors import InvalidArgumentError, InvalidTypeError
from dropout_lab.optim import max_norm
from dropout_lab.optim.constraints import column_norms


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_hand_derived_values(dtype):
    # Columns: norm 5 (3-4-5), norm 0.5 (under c = 1), zero, and norm 13 (5-12-13).
    w = np.array([[3.0, 0.3, 0.0, 5.0], [4.0, 0.4, 0.0, 12.0]], dtype=dtype)
    out = max_norm(w, 1.0)
    expected = np.array([[0.6, 0.3, 0.0, 5 / 13], [0.8, 0.4, 0.0, 12 / 13]])
    assert out.dtype == dtype
    np.testing.assert_allclose(out, expected, rtol=4 * np.finfo(dtype).eps, atol=0)
    # Columns 1 and 2 are under the bound: untouched, bit for bit; the input is left as it was.
    assert np.array_equal(out[:, 1:3], w[:, 1:3])
    assert np.array_equal(w, np.array([[3.0, 0.3, 0.0, 5.0], [4.0, 0.4, 0.0, 12.0]], dtype=dtype))


def test_c_scales_the_projection():
    w = np.array([[3.0], [4.0]])
    np.testing.assert_allclose(max_norm(w, 2.5), [[1.5], [2.0]], rtol=1e-15)
    # Exactly at the bound: untouched.
    assert np.array_equal(max_norm(w, 5.0), w)


def test_in_place_and_into_out():
    w = np.array([[3.0, 0.1], [4.0, 0.1]])
    same = max_norm(w, 1.0, out=w)
    assert same is w
    np.testing.assert_allclose(w, [[0.6, 0.1], [0.8, 0.1]], rtol=1e-15)
    src = np.array([[3.0, 0.1], [4.0, 0.1]])
    out = np.full_like(src, np.nan)
    assert max_norm(src, 1.0, out=out) is out
    np.testing.assert_allclose(out, [[0.6, 0.1], [0.8, 0.1]], rtol=1e-15)
    assert out[0, 1] == 0.1 and src[0, 0] == 3.0


def test_huge_columns_stay_finite():
    # Squares overflow float64: the norm is measured scaled by the largest value.
    w = np.array([[3e200, 1.0], [4e200, 0.0]])
    assert np.isfinite(column_norms(w)).all()
    np.testing.assert_allclose(max_norm(w, 1.0)[:, 0], [0.6, 0.8], rtol=1e-14)


@given(
    w=hnp.arrays(
        st.sampled_from([np.float32, np.float64]),
        hnp.array_shapes(min_dims=2, max_dims=2, max_side=6),
        elements=st.floats(-1e3, 1e3, width=32),
    ),
    c=st.floats(1e-3, 1e2),
)
def test_norms_are_at_most_c_and_columns_under_c_are_untouched(w, c):
    out = max_norm(w, c)
    assert out.dtype == w.dtype and out.shape == w.shape
    norms, before = column_norms(out), column_norms(w)
    assert (norms <= c).all()
    under = before <= c
    assert np.array_equal(out[:, under], w[:, under])
    # The scaled columns end at the bound, up to a few ulps of w's dtype.
    np.testing.assert_allclose(norms[~under], c, rtol=8 * np.finfo(w.dtype).eps)


@pytest.mark.parametrize(
    "args, error, words",
    [
        (([[1.0]], 1.0), InvalidTypeError, "w must be a NumPy array"),
        ((np.ones(3), 1.0), InvalidArgumentError, "w must be 2-dimensional"),
        ((np.ones((2, 2), dtype=np.int64), 1.0), InvalidTypeError, "floating-point dtype"),
        ((np.ones((2, 2)), 0.0), InvalidArgumentError, "max_value must be a finite number > 0"),
        ((np.ones((2, 2)), float("inf")), InvalidArgumentError, "max_value must be a finite number > 0"),
    ],
)
def test_bad_arguments(args, error, words):
    with pytest.raises(error, match=words):
        max_norm(*args)


def test_out_must_match():
    with pytest.raises(InvalidArgumentError, match="out must be an array of w's shape"):
        max_norm(np.ones((2, 2)), 1.0, out=np.ones((2, 2), dtype=np.float32))
