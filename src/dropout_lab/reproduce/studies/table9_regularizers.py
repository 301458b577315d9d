"""Table 9 (section 6.5): the same net with L2 weight decay, max-norm, dropout + L2 and dropout +
max-norm."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..base import Claim, Findings, Part, PartRuns, Study, make_config
from ..figures import bars
from ..measures import excludes_zero, format_interval, interval, paired, test_error, train_error

#: part name -> (label, the paper's test error in %, dropout?)
METHODS = {
    "l2": ("L2", 1.62, False),
    "max-norm": ("Max-norm", 1.35, False),
    "dropout-l2": ("Dropout + L2", 1.25, True),
    "dropout-max-norm": ("Dropout + max-norm", 1.05, True),
}
_HIDDEN = {"paper": (1024, 1024, 2048), "small": (256, 256, 512), "tiny": (16, 16, 32)}
_SEEDS = {"paper": (0, 1, 2), "small": (0, 1, 2, 3, 4), "tiny": (0, 1)}
L2 = 5e-4  # the L2 coefficient (the loss gains L2/2 * sum W**2); the paper tuned its own and does not print it
MAX_NORM = 2.0  # Appendix B.1's c
SLOW = ("a dropout net learns more slowly, and a short run stops it before the nets without dropout overfit: the "
        "paper's nets train for 10**6 updates")  # fmt: skip


def parts(scale: str) -> list[Part]:
    out = []
    for name, (label, _, dropout) in METHODS.items():
        settings: dict[str, Any] = {"reg": L2} if "l2" in name else {"max_norm": MAX_NORM}
        if dropout:
            settings.update(keep_probs=(0.5,), input_keep_prob=0.8)
        else:
            settings.update(keep_probs=(1.0,))
        config = make_config(scale, dropout=dropout, hidden_dims=_HIDDEN[scale], seeds=_SEEDS[scale], **settings)
        out.append(Part(name, label, config))
    return out


def differences(scale: str) -> list[str]:
    lines = [f"Each regularizer's constant is chosen once (L2 {L2:g}, max-norm c = {MAX_NORM:g}, the paper's value in "
             "Appendix B.1), not tuned on the validation set as the paper's were."]  # fmt: skip
    if scale != "paper":
        lines.insert(0, f"Net: 784-{'-'.join(map(str, _HIDDEN[scale]))}-10 (the paper: 784-1024-1024-2048-10).")
    return lines


def analyse(runs: dict[str, PartRuns], folder: Path, scale: str) -> Findings:
    errors = {name: {s: test_error(r) for s, r in runs[name].by_seed().items()} for name in METHODS}
    ivs = {name: interval(list(errors[name].values())) for name in METHODS}
    train = {name: interval([train_error(r) for r in runs[name].by_seed().values()]) for name in METHODS}
    rows = ["| method | paper: test error % | ours: test error % | ours: training error % |", "|---|---|---|---|"]
    for name, (label, paper, _) in METHODS.items():
        rows.append(f"| {label} | {paper:.2f} | {format_interval(ivs[name])} | {train[name].mean:.2f} |")
    findings = Findings(tables=["Test error (weight scaling) and training error at the end (dropout off), means over "
                                "seeds.\n\n" + "\n".join(rows)])  # fmt: skip

    best = min(METHODS, key=lambda name: ivs[name].mean)
    versus = {name: paired(errors["dropout-max-norm"], errors[name]) for name in METHODS if name != "dropout-max-norm"}
    undecided = any(excludes_zero(iv) is None for iv in versus.values())
    lower = all(iv.high < 0 for iv in versus.values())
    findings.claims.append(Claim(
        "Dropout + max-norm gives the lowest test error of the four.",
        "Table 9: dropout + max-norm 1.05%, the lowest.",
        None if undecided else best == "dropout-max-norm" and lower,
        f"lowest mean: {METHODS[best][0]}; dropout + max-norm minus "
        + "; ".join(f"{METHODS[name][0]}: {format_interval(iv, ' points')}" for name, iv in versus.items()),
        "" if best == "dropout-max-norm" and lower else SLOW,
    ))  # fmt: skip
    gains = {
        "L2": paired(errors["dropout-l2"], errors["l2"]),
        "max-norm": paired(errors["dropout-max-norm"], errors["max-norm"]),
    }
    findings.claims.append(Claim(
        "Dropout lowers the test error of each regularizer it is added to (L2 and max-norm).",
        "Table 9: L2 1.62% to 1.25% with dropout; max-norm 1.35% to 1.05%.",
        None if any(excludes_zero(iv) is None for iv in gains.values()) else all(iv.high < 0 for iv in gains.values()),
        "; ".join(f"with dropout minus {name} alone: {format_interval(iv, ' points')}" for name, iv in gains.items()),
        "" if all(iv.high < 0 for iv in gains.values()) else SLOW,
    ))  # fmt: skip
    mn = paired(errors["max-norm"], errors["l2"])
    findings.claims.append(Claim(
        "Max-norm alone beats L2 alone.",
        "Table 9: max-norm 1.35% against L2 1.62%.",
        None if excludes_zero(mn) is None else mn.high < 0,
        f"max-norm minus L2: {format_interval(mn, ' points')}",
        "" if mn.high < 0 else "in a short run the weights rarely reach the max-norm bound, which then does little",
    ))  # fmt: skip

    labels = [label for label, _, _ in METHODS.values()]
    bars(folder / "table9.png", labels, [ivs[n].mean for n in METHODS], [ivs[n].half_width for n in METHODS],
         [paper for _, paper, _ in METHODS.values()], "test error %", "Table 9: regularizers on MNIST")  # fmt: skip
    findings.figures.append(("table9.png", "Our test errors (95% intervals over seeds) beside the paper's."))
    findings.measures = {"test_error": {name: {str(s): v for s, v in errors[name].items()} for name in METHODS},
                         "paper": {name: paper for name, (_, paper, _) in METHODS.items()}}  # fmt: skip
    return findings


STUDY = Study(
    name="table9-regularizers",
    title="Dropout against and with other regularizers",
    source="section 6.5, Table 9",
    paper_setup=(
        "MNIST, 784-1024-1024-2048-10 ReLU nets trained by SGD with L2 weight decay, max-norm, dropout + L2 or "
        "dropout + max-norm (among others), each regularizer's constants tuned on a validation set."
    ),
    parts=parts,
    differences=differences,
    analyse=analyse,
)
