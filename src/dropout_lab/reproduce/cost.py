"""What a study costs before it starts: its runs, and roughly how many core hours they take."""

from __future__ import annotations

from collections.abc import Sequence

from ..experiments.config import ExperimentConfig
from .base import Part

__all__ = ["FLOPS_PER_CORE", "core_hours", "run_count"]

#: Floating-point operations per second one core trains at, for the estimate: about what one core of
#: the development machine sustains on the paper's 784-1024-1024-2048-10 net; smaller nets run at a
#: lower rate. The estimate counts training only (the analyses, such as Figure 11's Monte Carlo passes,
#: run where the study was started, after the runs).
FLOPS_PER_CORE = 4.0e10
# Forward (2 per weight) and backward (4 per weight: the gradients of the weights and of the inputs).
_FLOPS_PER_WEIGHT = 6


def run_count(parts: Sequence[Part]) -> int:
    """The runs of all the parts (keep probabilities x seeds x cells)."""
    return sum(len(p.config.keep_probs) * len(p.config.seeds) * len(p.config.cells()) for p in parts)


def _updates(config: ExperimentConfig) -> int:
    if config.steps is not None:
        return config.steps
    return config.epochs * -(-config.num_train // config.batch_size)


def core_hours(parts: Sequence[Part], input_dim: int = 784, num_classes: int = 10) -> float:
    """Training's core hours: each run's updates x batch x 6 flops per weight, at :data:`FLOPS_PER_CORE`
    (the measurements and test evaluations add little beside it)."""
    total = 0.0
    for part in parts:
        for _, cell in part.config.cells():
            dims = [input_dim, *cell.hidden_dims, num_classes]
            weights = sum(a * b for a, b in zip(dims[:-1], dims[1:], strict=True))
            runs = len(cell.keep_probs) * len(cell.seeds)
            total += runs * _updates(cell) * cell.batch_size * _FLOPS_PER_WEIGHT * weights
    return total / FLOPS_PER_CORE / 3600.0
