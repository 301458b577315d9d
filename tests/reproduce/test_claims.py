"""The claims' logic on run records made to order: a pattern like the paper's is called reproduced, its
opposite is not, and too few seeds leave a claim undecided."""

from __future__ import annotations

from pathlib import Path

import pytest

from dropout_lab.reproduce import plan
from dropout_lab.reproduce.base import PartRuns
from dropout_lab.reproduce.studies import STUDIES

from .conftest import make_run

SEEDS = (0, 1, 2, 3, 4)
NOISE = (0.03, -0.02, 0.01, -0.03, 0.01)  # per seed, shared by the arms: the pairs differ by exactly the gap


def _parts(name: str, runs_by_part: dict[str, list]) -> dict[str, PartRuns]:
    parts = {p.name: p for p in plan(name, "small")}
    return {part: PartRuns(parts[part], Path("unused"), runs) for part, runs in runs_by_part.items()}


def _verdicts(name: str, runs: dict[str, PartRuns], tmp_path: Path) -> list[bool | None]:
    return [c.reproduced for c in STUDIES[name].analyse(runs, tmp_path, "small").claims]


def _size_runs(gains: dict[int, float], seeds=SEEDS):
    standard, dropout = [], []
    for n, gain in gains.items():
        for seed, noise in zip(seeds, NOISE, strict=False):
            base = 10.0 + noise * (1 + seed)
            standard.append(make_run(1.0, seed, base + gain, num_train=n))
            dropout.append(make_run(0.5, seed, base + 0.01 * ((seed * 7 + n) % 3 - 1), num_train=n))
    return {"standard": standard, "dropout": dropout}


def test_dataset_size_claims_follow_the_gains(tmp_path):
    like_paper = {100: 0.0, 500: 0.0, 1_000: 1.0, 5_000: 3.0, 10_000: 2.0, 50_000: 0.5}
    name = "fig10-dataset-size"
    assert _verdicts(name, _parts(name, _size_runs(like_paper)), tmp_path) == [True, True]
    shrinking = {100: 4.0, 500: 3.0, 1_000: 2.0, 5_000: 1.0, 10_000: 0.5, 50_000: 0.2}
    assert _verdicts(name, _parts(name, _size_runs(shrinking)), tmp_path) == [False, False]


def test_dataset_size_claims_are_undecided_with_one_seed(tmp_path):
    one = _size_runs({100: 0.0, 500: 0.0, 1_000: 1.0, 5_000: 3.0, 10_000: 2.0, 50_000: 0.5}, seeds=(0,))
    assert _verdicts("fig10-dataset-size", _parts("fig10-dataset-size", one), tmp_path) == [None, None]


def _regularizer_runs(errors: dict[str, float]):
    runs = {}
    for part, error in errors.items():
        keep = 0.5 if part.startswith("dropout") else 1.0
        runs[part] = [make_run(keep, s, error + noise) for s, noise in zip(SEEDS, NOISE, strict=True)]
    return runs


def test_regularizer_claims_follow_the_table(tmp_path):
    like_paper = {"l2": 1.62, "max-norm": 1.35, "dropout-l2": 1.25, "dropout-max-norm": 1.05}
    runs = _parts("table9-regularizers", _regularizer_runs(like_paper))
    assert _verdicts("table9-regularizers", runs, tmp_path) == [True, True, True]
    reversed_ = {"l2": 1.05, "max-norm": 1.25, "dropout-l2": 1.35, "dropout-max-norm": 1.62}
    runs = _parts("table9-regularizers", _regularizer_runs(reversed_))
    assert _verdicts("table9-regularizers", runs, tmp_path) == [False, False, False]
    assert (tmp_path / "table9.png").is_file()


@pytest.mark.parametrize(
    ("gaussian", "expected"),
    [(0.95, [True, True]), (1.08, [True, False]), (1.30, [False, False])],
    ids=["better", "the same", "worse"],
)
def test_gaussian_claims_follow_the_difference(tmp_path, gaussian, expected):
    runs = [make_run(0.5, s, 1.08 + noise, dropout_kind="bernoulli") for s, noise in zip(SEEDS, NOISE, strict=True)]
    runs += [make_run(0.5, s, gaussian + noise, dropout_kind="gaussian") for s, noise in zip(SEEDS, NOISE, strict=True)]
    assert _verdicts("gaussian-dropout", _parts("gaussian-dropout", {"kinds": runs}), tmp_path) == expected


def test_dropout_rate_claims_on_the_papers_curves(tmp_path):
    # Figure 9 as the paper draws it: n fixed, high error (and training error) at p = 0.1, flat from 0.4 to
    # 0.8, up at 1; p*n fixed, lowest at 0.6 with 0.5 close.
    n_fixed = {0.1: 2.7, 0.2: 1.8, 0.3: 1.5, 0.4: 1.3, 0.5: 1.3, 0.6: 1.3, 0.7: 1.3, 0.8: 1.3, 0.9: 1.4, 1.0: 1.6}
    pn_fixed = {0.1: 1.7, 0.2: 1.5, 0.3: 1.4, 0.4: 1.35, 0.5: 1.31, 0.6: 1.3, 0.7: 1.33, 0.8: 1.4, 0.9: 1.5, 1.0: 1.6}
    runs = {"n-fixed": [make_run(p, s, e + noise, train_error=e - 1 + noise)
                        for p, e in n_fixed.items() for s, noise in zip(SEEDS, NOISE, strict=True)]}  # fmt: skip
    for p, e in pn_fixed.items():
        runs[f"pn-fixed-p{p:g}"] = [
            make_run(p, s, e + noise, train_error=0.5) for s, noise in zip(SEEDS, NOISE, strict=True)
        ]
    assert _verdicts("fig9-dropout-rate", _parts("fig9-dropout-rate", runs), tmp_path) == [True, True, True, True, True]
