"""Run records shared by the summary's tests (test_stats.py and test_table.py)."""

from __future__ import annotations


def run_record(keep_prob, seed, train, val, best=None):
    """One run as results.json holds it (only the fields the summary reads); best defaults to val."""
    return {
        "keep_prob": keep_prob,
        "seed": seed,
        "final_train_acc": train,
        "final_val_acc": val,
        "best_val_acc": val if best is None else best,
    }


def experiment_runs():
    """Three keep probabilities whose seeds overlap only in part, in a shuffled order."""
    # keep 1: seeds 0, 1, 2; keep 0.5: seeds 2, 0, 1 (shuffled); keep 0.25: seeds 0, 2, 3 (no seed 1).
    return [
        run_record(0.5, 2, 0.70, 0.58),
        run_record(1.0, 0, 0.90, 0.50, 0.51),
        run_record(1.0, 1, 0.92, 0.52, 0.53),
        run_record(1.0, 2, 0.94, 0.54, 0.55),
        run_record(0.5, 0, 0.70, 0.55),
        run_record(0.5, 1, 0.70, 0.56),
        run_record(0.25, 0, 0.60, 0.56),
        run_record(0.25, 2, 0.62, 0.52),
        run_record(0.25, 3, 0.64, 0.60),
    ]
