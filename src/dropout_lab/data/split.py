"""Stratified splits: every class in proportion in every part, reproducible from a seed."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from .._typing import IntArray
from .._validation import check_positive_int, check_seed
from ..errors import InvalidArgumentError, InvalidTypeError

__all__ = ["stratified_split"]


def _max_flow(capacity: NDArray[np.int64], source: int, sink: int) -> NDArray[np.int64]:
    """Edmonds-Karp on a dense (V, V) integer capacity matrix; returns the flow matrix."""
    n = capacity.shape[0]
    flow = np.zeros_like(capacity)
    while True:
        parent = [-1] * n
        parent[source] = source
        queue = deque([source])
        while queue and parent[sink] == -1:
            u = queue.popleft()
            for v in range(n):
                if parent[v] == -1 and capacity[u, v] - flow[u, v] > 0:
                    parent[v] = u
                    queue.append(v)
        if parent[sink] == -1:
            return flow
        v, bottleneck = sink, None
        while v != source:
            u = parent[v]
            residual = capacity[u, v] - flow[u, v]
            bottleneck = residual if bottleneck is None else min(bottleneck, residual)
            v = u
        v = sink
        while v != source:
            u = parent[v]
            flow[u, v] += bottleneck
            flow[v, u] -= bottleneck
            v = u


def stratified_counts(class_counts: Sequence[int] | IntArray, sizes: Sequence[int]) -> NDArray[np.int64]:
    """How many examples of each class go to each part.

    Each entry is the exact share ``class_counts[c] * sizes[s] / N`` rounded down or up, with every
    row summing to ``class_counts[c]`` and every column to ``sizes[s]`` (``N = sum(class_counts) =
    sum(sizes)``). Such a rounding always exists (controlled rounding of a two-way table); it is found
    as an integral maximum flow that hands the remaining units to entries with a fractional share.

    Args:
        class_counts: (C,) non-negative integers. sizes: (S,) non-negative integers, same total.

    Returns:
        counts: int64 (C, S).
    """
    classes = np.asarray(class_counts, dtype=np.int64)
    parts = np.asarray(sizes, dtype=np.int64)
    total = int(classes.sum())
    if classes.ndim != 1 or parts.ndim != 1 or (classes < 0).any() or (parts < 0).any():
        raise InvalidArgumentError("class_counts and sizes must be 1-D lists of non-negative integers")
    if int(parts.sum()) != total:
        raise InvalidArgumentError(f"sizes must add up to {total} (the number of examples), got {int(parts.sum())}")
    if total == 0:
        return np.zeros((classes.size, parts.size), dtype=np.int64)
    numerator = classes[:, None] * parts[None, :]
    floor = numerator // total
    fractional = (numerator % total) != 0
    row_need = classes - floor.sum(axis=1)
    col_need = parts - floor.sum(axis=0)
    num_c, num_s = classes.size, parts.size
    source, sink = num_c + num_s, num_c + num_s + 1
    capacity = np.zeros((num_c + num_s + 2, num_c + num_s + 2), dtype=np.int64)
    capacity[source, :num_c] = row_need
    capacity[:num_c, num_c : num_c + num_s] = fractional
    capacity[num_c : num_c + num_s, sink] = col_need
    flow = _max_flow(capacity, source, sink)
    extra = flow[:num_c, num_c : num_c + num_s]
    # The fractional shares themselves are a feasible flow of this value, so the maximum reaches it.
    if int(extra.sum()) != int(row_need.sum()):  # pragma: no cover - impossible by the argument above
        raise RuntimeError("controlled rounding failed: this is a bug in dropout-lab")
    counts: np.ndarray = floor + extra
    return counts


def _as_rng(seed: object) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, np.random.RandomState):
        raise InvalidTypeError("seed must be an int, None or a numpy.random.Generator, got a RandomState")
    return np.random.default_rng(check_seed("seed", seed))


def stratified_split(
    labels: IntArray, sizes: Sequence[int], seed: int | np.random.Generator | None = 0
) -> list[NDArray[np.int64]]:
    """Split example indices into parts of the given sizes, each class in proportion in each part.

    Per class, the count in part ``s`` is ``n_c * sizes[s] / N`` rounded down or up
    (:func:`stratified_counts`); when ``sum(sizes) < N`` the rest is an unused part of its own. Which
    examples of a class go where, and the order within each part, come from ``seed``.

    Args:
        labels: (N,) integer class labels (any values).
        sizes: the parts' sizes, non-negative, adding up to at most N.
        seed: an int in [0, 2**32) or a ``np.random.Generator`` (drawn from); None draws fresh entropy.

    Returns:
        One int64 index array per part, of lengths ``sizes``: disjoint, in shuffled order.
    """
    if not isinstance(labels, np.ndarray) or labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise InvalidTypeError("labels must be a 1-D integer NumPy array")
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
        raise InvalidTypeError(f"sizes must be a sequence of integers, got {type(sizes).__name__}")
    sizes = [check_positive_int(f"sizes[{i}]", s, allow_zero=True) for i, s in enumerate(sizes)]
    rng = _as_rng(seed)
    n = labels.size
    if sum(sizes) > n:
        raise InvalidArgumentError(f"sizes add up to {sum(sizes)}, more than the {n} examples")
    classes, inverse = np.unique(labels, return_inverse=True)
    class_counts = np.bincount(inverse.ravel(), minlength=classes.size)
    counts = stratified_counts(class_counts, [*sizes, n - sum(sizes)])
    parts: list[list[IntArray]] = [[] for _ in sizes]
    for c in range(classes.size):
        members = rng.permutation(np.flatnonzero(inverse.ravel() == c))
        bounds = np.cumsum(counts[c])
        start = 0
        for s in range(len(sizes)):
            parts[s].append(members[start : bounds[s]])
            start = bounds[s]
    return [rng.permutation(np.concatenate(p).astype(np.int64)) if p else np.zeros(0, np.int64) for p in parts]
