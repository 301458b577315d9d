"""A finished run's test evaluation: accuracy and calibration on the data set's test split, by
weight scaling (the usual inference: every dropout is the identity, the weights as trained) and by
Monte Carlo dropout (the mean of the softmax over K stochastic passes; Gal and Ghahramani 2016,
https://arxiv.org/abs/1506.02142), so that Srivastava et al.'s Figure 11 (MC averaging against weight
scaling as K grows) and the calibration claims of MC dropout can be checked on the same nets.

The MC passes draw their masks from a stream of their own, derived from the run's seed (the third
child of its SeedSequence; the model's and the Solver's are the first two), so a run's evaluation is
as reproducible as its training and does not change it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..calibration import calibration_metrics
from ..solver import Solver

__all__ = ["CALIBRATION_BINS", "evaluate_test", "evaluation_rng"]

#: Equal-width confidence bins of the expected calibration error (Guo et al. 2017 use 15).
CALIBRATION_BINS = 15


def evaluation_rng(seed: int) -> np.random.Generator:
    """The generator of a run's MC passes: the third child of ``SeedSequence(seed)``."""
    return np.random.default_rng(np.random.SeedSequence(seed).spawn(3)[2])


def _metrics(probs: np.ndarray, y: np.ndarray) -> dict[str, float | None]:
    result = calibration_metrics(probs, y, bins=CALIBRATION_BINS)
    # A float32 softmax can round a true class's probability to 0: its NLL is infinite, which JSON
    # cannot hold; it is written as null (the accuracy, Brier score and ECE stay defined).
    return {
        "accuracy": result.accuracy,
        "nll": result.nll if math.isfinite(result.nll) else None,
        "brier": result.brier,
        "ece": result.ece,
    }


def evaluate_test(solver: Solver, X_test: np.ndarray, y_test: np.ndarray, mc_samples: int, seed: int) -> dict[str, Any]:
    """Test metrics of the Solver's model (its best parameters, restored at the end of training).

    Args:
        X_test: (N, ...) test inputs. y_test: (N,) labels.
        mc_samples: K >= 1 stochastic passes for the MC average.
        seed: the run's seed (:func:`evaluation_rng`).

    Returns:
        ``{"num_test": N, "mc_samples": K, "weight_scaling": m, "mc": m}``, each ``m`` holding
        ``accuracy``, ``nll`` (nats; null where infinite), ``brier`` (summed over classes) and ``ece``
        (15 equal-width bins).
    """
    model: Any = solver.model
    weight_scaling = model.predict_proba(X_test, 0)
    averaged = model.predict_proba(X_test, mc_samples, evaluation_rng(seed))
    return {
        "num_test": len(y_test),
        "mc_samples": mc_samples,
        "weight_scaling": _metrics(weight_scaling, y_test),
        "mc": _metrics(averaged, y_test),
    }


def format_test_table(runs: list[Any]) -> str:
    """The test metrics of ``runs`` (RunResults of one cell with ``test``), one row per keep
    probability, each the mean over its seeds: accuracy (%), NLL and ECE by weight scaling and by the MC
    average. '' when no run has test metrics."""
    from .records import keep_text

    rows: dict[float, list[dict[str, Any]]] = {}
    for run in runs:
        if run.test is not None:
            rows.setdefault(run.keep_prob, []).append(run.test)
    if not rows:
        return ""

    def mean(tests: list[dict[str, Any]], how: str, name: str, scale: float = 1.0) -> str:
        values = [t[how][name] for t in tests]
        if any(v is None for v in values):  # an infinite NLL
            return "inf"
        return f"{scale * float(np.mean(values)):.{1 if scale > 1 else 3}f}"

    first = next(iter(rows.values()))[0]
    header = ["keep prob", "seeds", "test acc WS", f"test acc MC{first['mc_samples']}", "NLL WS", "NLL MC",
              "ECE WS", "ECE MC"]  # fmt: skip
    lines = [header]
    for keep_prob, tests in rows.items():
        lines.append([
            keep_text(keep_prob), str(len(tests)),
            mean(tests, "weight_scaling", "accuracy", 100.0), mean(tests, "mc", "accuracy", 100.0),
            mean(tests, "weight_scaling", "nll"), mean(tests, "mc", "nll"),
            mean(tests, "weight_scaling", "ece"), mean(tests, "mc", "ece"),
        ])  # fmt: skip
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = ["  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True)) for line in lines]
    text.insert(1, "  ".join("-" * width for width in widths))
    text.append(
        f"test split: {first['num_test']} examples; WS: weight scaling, MC{first['mc_samples']}: the mean of "
        f"{first['mc_samples']} Monte Carlo dropout passes; means over seeds (accuracy in %)"
    )
    return "\n".join(text)
