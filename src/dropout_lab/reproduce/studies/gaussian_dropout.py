"""Section 10 (Table 10): multiplicative Gaussian noise of the same mean and variance as Bernoulli
dropout (sigma**2 = (1 - p) / p) against Bernoulli dropout."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..base import Claim, Findings, Part, PartRuns, Study, make_config
from ..figures import bars
from ..measures import MARGIN, excludes_zero, format_interval, interval, paired, test_error, train_error

KINDS = {"bernoulli": ("Bernoulli", 1.08, 0.04), "gaussian": ("Gaussian", 0.95, 0.04)}  # the paper: mean ± sd, %
_HIDDEN = {"paper": (1024, 1024, 2048), "small": (256, 256, 512), "tiny": (16, 16, 32)}
_SEEDS = {"paper": tuple(range(10)), "small": (0, 1, 2, 3, 4), "tiny": (0, 1)}


def parts(scale: str) -> list[Part]:
    return [Part("kinds", "Bernoulli and Gaussian dropout", make_config(
        scale, dropout=True, hidden_dims=_HIDDEN[scale], keep_probs=(0.5,), input_keep_prob=0.8, max_norm=2.0,
        seeds=_SEEDS[scale], sweep={"dropout_kind": tuple(KINDS)},
    ))]  # fmt: skip


def differences(scale: str) -> list[str]:
    lines = ["The paper's text does not give Table 10's MNIST net; we use that of its sections 6.5 and 7.4 "
             "(784-1024-1024-2048-10) at paper scale."]  # fmt: skip
    if scale != "paper":
        net = "-".join(map(str, _HIDDEN[scale]))
        lines.insert(0, f"Net: 784-{net}-10; {len(_SEEDS[scale])} seeds (the paper: 10).")
    return lines


def analyse(runs: dict[str, PartRuns], folder: Path, scale: str) -> Findings:
    part = runs["kinds"]
    errors = {kind: {s: test_error(r) for s, r in part.by_seed(0.5, dropout_kind=kind).items()} for kind in KINDS}
    ivs = {kind: interval(list(errors[kind].values())) for kind in KINDS}
    train = {kind: interval([train_error(r) for r in part.by_seed(0.5, dropout_kind=kind).values()]) for kind in KINDS}
    rows = ["| dropout | paper: test error % (mean ± sd, 10 seeds) | ours: test error % | ours: sd over seeds "
            "| ours: training error % |",
            "|---|---|---|---|---|"]  # fmt: skip
    for kind, (label, paper, sd) in KINDS.items():
        ours_sd = float(np.std(list(errors[kind].values()), ddof=1)) if len(errors[kind]) > 1 else float("nan")
        rows.append(f"| {label} | {paper:.2f} ± {sd:.2f} | {format_interval(ivs[kind])} | {ours_sd:.2f} "
                    f"| {train[kind].mean:.2f} |")
    findings = Findings(tables=["Test error (weight scaling); the paper's ± is a standard deviation over seeds, ours "
                                "a 95% interval of the mean.\n\n" + "\n".join(rows)])  # fmt: skip
    diff = paired(errors["gaussian"], errors["bernoulli"])
    decided = excludes_zero(diff) is not None
    # No worse: the interval's upper end below a margin of 10% of Bernoulli's error (fixed in advance).
    margin = MARGIN * ivs["bernoulli"].mean
    no_worse = None if not decided else bool(diff.high < margin)
    findings.claims.append(Claim(
        "Gaussian dropout works as well as Bernoulli dropout (no worse).",
        "Table 10: Gaussian 0.95 ± 0.04% against Bernoulli 1.08 ± 0.04%.",
        no_worse,
        f"Gaussian minus Bernoulli: {format_interval(diff, ' points')}; 'no worse' means an interval below "
        f"{margin:.2f} points (10% of Bernoulli's error)",
        "" if no_worse is not False else ("at our short budget the heavier-tailed Gaussian noise slows training"
                                          if diff.low > 0 else "the interval is too wide to show it with our seeds"),
    ))  # fmt: skip
    findings.claims.append(Claim(
        "Gaussian dropout is better than Bernoulli dropout.",
        "Table 10: 0.13 points lower (0.95% against 1.08%).",
        None if not decided else bool(diff.high < 0),
        f"Gaussian minus Bernoulli: {format_interval(diff, ' points')}",
        "" if diff.high < 0 else "a gap of 0.13 points needs more seeds (or a longer run) than ours to detect",
    ))  # fmt: skip
    bars(folder / "gaussian.png", [label for label, _, _ in KINDS.values()], [ivs[k].mean for k in KINDS],
         [ivs[k].half_width for k in KINDS], [paper for _, paper, _ in KINDS.values()], "test error %",
         "Section 10: Bernoulli and Gaussian dropout on MNIST")  # fmt: skip
    findings.figures.append(("gaussian.png", "Our test errors (95% intervals over seeds) beside the paper's."))
    findings.measures = {"test_error": {kind: {str(s): v for s, v in errors[kind].items()} for kind in KINDS}}
    return findings


STUDY = Study(
    name="gaussian-dropout",
    title="Bernoulli against Gaussian dropout of matched variance",
    source="section 10, Table 10",
    paper_setup=(
        "MNIST; Bernoulli dropout with p = 0.5 (hidden) and 0.8 (input) against multiplicative Gaussian noise "
        "N(1, (1 - p) / p) at the same layers; 10 seeds."
    ),
    parts=parts,
    differences=differences,
    analyse=analyse,
)
