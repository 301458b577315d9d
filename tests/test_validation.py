"""The shared argument checks: the finiteness scan (the same answers as ``np.isfinite`` over the whole
array, for any shape, strides and dtype, without a temporary of the array's size), unknown keywords,
paths to write to, and labels."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dropout_lab import _validation
from dropout_lab._validation import (
    all_finite,
    check_file_to_write,
    check_finite,
    check_label_range,
    check_optional_positive_int,
    check_unknown_keywords,
    count_nonfinite,
)
from dropout_lab.errors import InvalidArgumentError, InvalidTypeError


@pytest.fixture
def small_slices(monkeypatch):
    """Slices of 7 values, so that small arrays are scanned in many slices."""
    monkeypatch.setattr(_validation, "_SCAN_VALUES", 7)


def _reference_count(x: np.ndarray) -> int:
    return int(x.size - np.count_nonzero(np.isfinite(x)))


_SPECIAL = st.sampled_from([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, 3e38, -3e38, 1e-45])


@settings(max_examples=200, deadline=None)
@given(
    x=hnp.arrays(
        dtype=st.sampled_from([np.float32, np.float64]),
        shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6),
        elements=st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32), _SPECIAL),
    ),
    transpose=st.booleans(),
    step=st.integers(1, 3),
)
def test_scan_agrees_with_isfinite_over_the_whole_array(x, transpose, step):
    # Run with slices of 7 values (monkeypatch is function-scoped; hypothesis reruns the body).
    saved = _validation._SCAN_VALUES
    _validation._SCAN_VALUES = 7
    try:
        view = x.T if transpose else x
        if view.ndim:
            view = view[::step]  # strided, not contiguous
        assert count_nonfinite(view) == _reference_count(view)
        assert all_finite(view) == bool(np.all(np.isfinite(view)))
    finally:
        _validation._SCAN_VALUES = saved


def test_a_nan_in_the_last_slice_is_found(small_slices):
    x = np.zeros((50, 3))
    x[-1, -1] = np.nan
    assert not all_finite(x)
    assert count_nonfinite(x) == 1
    x[0, 0] = np.inf
    x[25, 1] = -np.inf
    assert count_nonfinite(x) == 3


def test_one_row_larger_than_a_slice_is_scanned_whole(small_slices):
    x = np.ones((2, 20), dtype=np.float32)
    x[1, 19] = np.nan
    assert not all_finite(x) and count_nonfinite(x) == 1


@pytest.mark.parametrize("dtype", [np.uint8, np.int64, np.bool_])
def test_integer_and_boolean_arrays_are_finite(dtype):
    x = np.ones((4, 5), dtype=dtype)
    assert all_finite(x) and count_nonfinite(x) == 0


def test_empty_and_zero_dimensional_arrays():
    assert all_finite(np.empty((0, 3))) and count_nonfinite(np.empty((0, 3))) == 0
    assert all_finite(np.float32(2.0) * np.ones(()))
    assert not all_finite(np.array(np.nan)) and count_nonfinite(np.array(np.inf)) == 1


def test_check_finite_names_the_argument_and_counts_the_bad_values(small_slices):
    x = np.ones((30, 2))
    x[3, 1], x[29, 0] = np.nan, -np.inf
    with pytest.raises(InvalidArgumentError, match=r"^X must be finite, got 2 NaN or infinite values$"):
        check_finite("X", x)
    check_finite("X", np.ones((30, 2)))


def test_the_scan_makes_no_temporary_of_the_arrays_size():
    # 64 MiB of float32; np.isfinite over it would allocate a 16 MiB boolean array.
    x = np.ones((4096, 4096), dtype=np.float32)
    x[-1, -1] = np.nan
    tracemalloc.start()
    try:
        found = all_finite(x), count_nonfinite(x)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert found == (False, 1)
    assert peak <= 2 * _validation._SCAN_VALUES, peak  # one slice's temporary, with room to spare


def test_unknown_keywords_are_a_type_error_worded_as_pythons():
    check_unknown_keywords("f", {})
    with pytest.raises(TypeError, match=r"^f\(\) got an unexpected keyword argument 'x'$") as info:
        check_unknown_keywords("f", {"x": 1})
    assert isinstance(info.value, InvalidTypeError)
    with pytest.raises(InvalidTypeError, match=r"^f\(\) got unexpected keyword arguments 'a', 'b'$"):
        check_unknown_keywords("f", {"b": 1, "a": 2})


def test_a_file_to_write_and_a_prefix_of_files_to_write(tmp_path):
    assert check_file_to_write("path", tmp_path / "a.npz") == tmp_path / "a.npz"
    (tmp_path / "run").mkdir()
    with pytest.raises(InvalidArgumentError, match="must name a file"):
        check_file_to_write("path", tmp_path / "run")
    # A prefix names the start of files beside it: a folder of that name is no obstacle.
    assert check_file_to_write("checkpoint_name", str(tmp_path / "run"), prefix=True) == tmp_path / "run"
    for prefix in (False, True):
        with pytest.raises(InvalidArgumentError, match="checkpoint_name's folder must exist"):
            check_file_to_write("checkpoint_name", tmp_path / "missing" / "run", prefix=prefix)
        with pytest.raises(InvalidTypeError, match="checkpoint_name must be a path"):
            check_file_to_write("checkpoint_name", 3, prefix=prefix)
        with pytest.raises(InvalidArgumentError, match="non-empty"):
            check_file_to_write("checkpoint_name", "", prefix=prefix)


def test_optional_positive_int():
    assert check_optional_positive_int("n", None) is None
    assert check_optional_positive_int("n", np.int64(3)) == 3
    with pytest.raises(InvalidArgumentError, match="n must be a positive integer"):
        check_optional_positive_int("n", 0)


def test_label_range_names_whose_classes():
    check_label_range("y", np.array([], dtype=int), 3)
    with pytest.raises(InvalidArgumentError, match=r"^y must lie in \[0, 3\), got values from -1 to 2$"):
        check_label_range("y", np.array([2, -1]), 3)
    with pytest.raises(InvalidArgumentError, match=r"\[0, 3\) for the model's 3 classes, got values from 0 to 3"):
        check_label_range("y", np.array([0, 3]), 3, whose="the model's")
