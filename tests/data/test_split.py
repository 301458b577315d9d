"""Stratified splits: controlled rounding of class shares, disjoint parts, reproducible from a seed."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dropout_lab.data.split import stratified_counts, stratified_split
from dropout_lab.errors import InvalidArgumentError, InvalidTypeError


@st.composite
def labels_and_sizes(draw):
    num_classes = draw(st.integers(1, 8))
    labels = np.array(draw(st.lists(st.integers(0, num_classes - 1), min_size=1, max_size=200)), dtype=np.int64)
    cuts = sorted(draw(st.lists(st.integers(0, labels.size), min_size=1, max_size=4)))
    bounds = [0, *cuts]
    sizes = [b - a for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    return labels, sizes


@given(labels_and_sizes(), st.integers(0, 2**32 - 1))
def test_parts_are_disjoint_sized_and_stratified(case, seed):
    labels, sizes = case
    parts = stratified_split(labels, sizes, seed)
    assert [p.size for p in parts] == sizes
    every = np.concatenate(parts)
    assert len(set(every.tolist())) == every.size  # disjoint
    assert every.size == 0 or (every.min() >= 0 and every.max() < labels.size)
    n = labels.size
    for part, size in zip(parts, sizes, strict=True):
        assert part.dtype == np.int64
        for c in np.unique(labels):
            n_c = int(np.count_nonzero(labels == c))
            got = int(np.count_nonzero(labels[part] == c))
            assert abs(got - n_c * size / n) < 1


@given(labels_and_sizes(), st.integers(0, 2**32 - 1))
def test_same_seed_same_parts(case, seed):
    labels, sizes = case
    first = stratified_split(labels, sizes, seed)
    second = stratified_split(labels, sizes, np.random.default_rng(seed))
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


@given(
    st.lists(st.integers(0, 60), min_size=1, max_size=10),
    st.lists(st.integers(0, 10), min_size=1, max_size=5),
)
def test_counts_round_each_share_down_or_up_and_keep_the_totals(class_counts, weights):
    total = sum(class_counts)
    # Part sizes adding up to the total, roughly in proportion to the weights.
    raw = [total * w // max(sum(weights), 1) for w in weights]
    raw[-1] += total - sum(raw)
    counts = stratified_counts(class_counts, raw)
    assert counts.shape == (len(class_counts), len(raw))
    assert counts.sum(axis=1).tolist() == class_counts
    assert counts.sum(axis=0).tolist() == raw
    for c, n_c in enumerate(class_counts):
        for s, size in enumerate(raw):
            share = n_c * size / total if total else 0.0
            assert np.floor(share) <= counts[c, s] <= np.ceil(share)


def test_a_known_table():
    # Shares 1.5 / 1.5 / 1.5 / 1.5 (two classes of 3, two parts of 3): each row and column needs one
    # rounding up and one down.
    counts = stratified_counts([3, 3], [3, 3])
    assert sorted(counts.ravel().tolist()) == [1, 1, 2, 2]
    assert counts.sum(axis=0).tolist() == [3, 3] and counts.sum(axis=1).tolist() == [3, 3]


def test_bad_inputs():
    labels = np.array([0, 1, 0, 1])
    with pytest.raises(InvalidArgumentError, match="more than the 4 examples"):
        stratified_split(labels, [3, 2])
    with pytest.raises(InvalidArgumentError, match=r"sizes\[1\]"):
        stratified_split(labels, [1, -1])
    with pytest.raises(InvalidTypeError, match="labels"):
        stratified_split(labels.astype(float), [1])
    with pytest.raises(InvalidTypeError, match="sizes"):
        stratified_split(labels, 2)
    with pytest.raises(InvalidArgumentError, match="add up to 4"):
        stratified_counts([2, 2], [1, 1])
    with pytest.raises(InvalidTypeError, match="seed"):
        stratified_split(labels, [1], np.random.RandomState(0))
