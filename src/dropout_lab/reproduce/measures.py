"""The numbers a study's report shows, computed from its runs: test and training errors per seed,
paired 95% intervals of differences, Monte Carlo averaging against weight scaling as the number of
samples grows, and hidden activations, the last two from the nets the runs kept in their checkpoints.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DataError
from ..experiments.cell_data import load_experiment_data
from ..experiments.grid import RunSpec
from ..experiments.outdir import CHECKPOINT_DIR
from ..experiments.results import RunResult
from ..experiments.stats import Interval, mean_ci, paired_difference

if TYPE_CHECKING:
    from .base import PartRuns

__all__ = [
    "CONFIDENCE", "MARGIN", "NO_RUNS", "common", "decided", "excludes_zero", "format_interval", "interval",
    "mc_error_curve", "paired", "test_error", "train_error", "trained_models", "within",
]  # fmt: skip

#: Every interval in a report is a two-sided t interval at this coverage, over seeds.
CONFIDENCE = 0.95


def test_error(run: RunResult) -> float:
    """The run's test error in %, by weight scaling (the paper's test-time rule)."""
    if run.test is None:
        raise ValueError(f"run {run.label} has no test evaluation")
    return 100.0 * (1.0 - float(run.test["weight_scaling"]["accuracy"]))


def train_error(run: RunResult) -> float:
    """The run's training error in % at its end (on its training set, dropout off)."""
    return 100.0 * (1.0 - run.final_train_acc)


def common(*groups: dict[int, Any]) -> list[int]:
    """The seeds every group has, in order (the pairs of a paired comparison)."""
    seeds = set(groups[0]) if groups else set()
    for group in groups[1:]:
        seeds &= set(group)
    return sorted(seeds)


#: The interval of no values: a group whose runs all diverged or were never made.
NO_RUNS = Interval(math.nan, math.nan, math.nan, math.nan, 0)


def interval(values: Sequence[float]) -> Interval:
    """The 95% t interval of the mean of ``values`` (one per seed; none: :data:`NO_RUNS`)."""
    return mean_ci(list(values), CONFIDENCE) if len(values) else NO_RUNS


def paired(treatment: dict[int, float], control: dict[int, float], confidence: float = CONFIDENCE) -> Interval:
    """The interval (95% by default) of the mean of ``treatment - control`` over the seeds both have (a
    seed's runs start from the same weights and see the same minibatches: the pairs)."""
    seeds = common(treatment, control)
    if not seeds:
        return NO_RUNS
    return paired_difference([treatment[s] for s in seeds], [control[s] for s in seeds], confidence)


def format_interval(iv: Interval, unit: str = "", digits: int = 2, confidence: float = CONFIDENCE) -> str:
    """``mean ± half-width`` (95% CI, n seeds), or ``mean (1 seed, no interval)``; ``confidence``: the
    interval's coverage, as it was computed."""
    if iv.n == 0:
        return "no complete run"
    if iv.n < 2 or math.isnan(iv.half_width):
        return f"{iv.mean:.{digits}f}{unit} (1 seed, no interval)"
    return f"{iv.mean:.{digits}f} ± {iv.half_width:.{digits}f}{unit} ({100 * confidence:.3g}% CI, {iv.n} seeds)"


def excludes_zero(iv: Interval) -> bool | None:
    """True when the interval lies wholly above or below 0; None when there is no interval to judge by: one
    seed, or no spread at all (every seed's difference the same, as :func:`~dropout_lab.experiments.verdict`
    treats it: zero width is not certainty)."""
    if iv.n < 2 or not iv.half_width > 0:
        return None
    return bool(iv.low > 0 or iv.high < 0)


#: "No difference" claims (flat, no gain, no worse) are judged against a margin fixed in advance: this
#: fraction of the reference group's mean error. Failing to detect a difference is not evidence of none.
MARGIN = 0.1


def within(iv: Interval, margin: float) -> bool | None:
    """An equivalence verdict: True when the interval lies inside ``(-margin, margin)``, False when it does
    not (a difference, or an interval too wide to show there is none), None when there is no interval to
    judge by (:func:`excludes_zero`)."""
    if excludes_zero(iv) is None:
        return None
    return bool(-margin < iv.low and iv.high < margin)


def decided(*intervals: Interval) -> bool:
    """Whether every interval can be judged (:func:`excludes_zero` is not None for each)."""
    return all(excludes_zero(iv) is not None for iv in intervals)


def trained_models(
    runs: PartRuns, keep_prob: float | None = None
) -> Iterator[tuple[RunResult, Any, dict[str, np.ndarray]]]:
    """Each complete run of the part (at ``keep_prob``; None: all) with its trained net, restored from the
    checkpoint it kept (then its best parameters, which its test evaluation used), and its cell's data
    (``X_test``, ``y_test`` included)."""
    from ..experiments.runs import _build_solver

    cells = {_cell_name(settings): (settings, config) for settings, config in runs.part.config.cells()}
    data_by_cell: dict[str, dict[str, np.ndarray]] = {}
    for run in runs.runs:
        if run.status != "complete" or (keep_prob is not None and run.keep_prob != keep_prob):
            continue
        settings, config = cells[_cell_name(run.settings)]
        key = _cell_name(settings)
        if key not in data_by_cell:
            data_by_cell[key] = load_experiment_data(config)
        data = data_by_cell[key]
        spec = RunSpec(config, run.keep_prob, run.seed, settings)
        latest = runs.folder / CHECKPOINT_DIR / f"{spec.name}_latest.npz"
        if not latest.is_file():
            raise DataError(
                f"{latest} is missing: the run {run.label} kept no checkpoint, so its trained net cannot be "
                "analysed (its part must keep checkpoints, and a Dask run's must reach this folder)"
            )
        solver = _build_solver(spec, data, runs.folder / CHECKPOINT_DIR)
        if not solver.finished:
            raise DataError(f"{latest} holds the run {run.label} before its end: it cannot stand for the trained net")
        solver._restore_best()  # as at the end of training (Solver.train): the parameters its test evaluation used
        yield run, solver.model, data


def _cell_name(settings: dict[str, Any]) -> str:
    from ..experiments.grid import cell_key

    return cell_key(settings)


def mc_error_curve(
    model: Any, X: np.ndarray, y: np.ndarray, ks: Sequence[int], draws: int, seed: int
) -> tuple[float, np.ndarray]:
    """Monte Carlo model averaging against weight scaling (Srivastava et al. 2014, section 7.5).

    Args:
        model: a trained net with ``predict_proba(X, mc_samples, rng)``.
        X: (N, D) test inputs. y: (N,) labels.
        ks: increasing sample counts k; each is the mean of the softmax over the first k of
            ``max(ks)`` stochastic passes.
        draws: independent streams of ``max(ks)`` passes (for the spread over the masks).
        seed: the streams' generator seed (the run's: a run's curve is reproducible).

    Returns:
        ``(ws_error, errors)``: the weight-scaling test error (%), and ``errors (draws, len(ks))``, the
        test error (%) of each stream's average of k passes.
    """
    ws = model.predict_proba(X, 0)
    ws_error = 100.0 * float(np.mean(np.argmax(ws, axis=1) != y))
    k_max = max(ks)
    errors = np.empty((draws, len(ks)))
    streams = np.random.SeedSequence([seed, 11]).spawn(draws)
    for d, stream in enumerate(streams):
        samples = model.predict_proba_samples(X, k_max, np.random.default_rng(stream))  # (k_max, N, C)
        running = np.cumsum(samples, axis=0, dtype=np.float64)
        for j, k in enumerate(ks):
            errors[d, j] = 100.0 * float(np.mean(np.argmax(running[k - 1], axis=1) != y))
    return ws_error, errors
