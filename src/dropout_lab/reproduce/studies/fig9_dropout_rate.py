"""Figure 9 (section 7.3): test error against the keep probability p, with the number of units n held
fixed, and with p*n held fixed (the expected number of units kept)."""

from __future__ import annotations

from pathlib import Path

from ..base import Claim, Findings, Part, PartRuns, Study, make_config
from ..figures import Panel, Series, curves
from ..measures import (
    CONFIDENCE,
    MARGIN,
    excludes_zero,
    format_interval,
    interval,
    paired,
    test_error,
    train_error,
    within,
)

#: The keep probabilities at each scale: the paper's ten; below it, without 0.3 and 0.9 (the claims
#: compare 0.1, 0.4 to 0.8 and 1), so that the study fits in 15 minutes on two cores.
KEEPS = {
    "paper": (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
    "small": (0.1, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0),
    "tiny": (0.1, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0),
}
FLAT = (0.4, 0.5, 0.6, 0.7, 0.8)  # the paper: "flat when 0.4 <= p <= 0.8"
# n per hidden layer (n fixed) and p*n per hidden layer (p*n fixed); small and tiny divide the paper's by 16 and 128.
_N = {"paper": (2048, 2048, 2048), "small": (128, 128, 128), "tiny": (16, 16, 16)}
_PN = {"paper": (256, 256, 512), "small": (16, 16, 32), "tiny": (2, 2, 4)}
_SEEDS = {"paper": (0, 1, 2), "small": (0, 1, 2), "tiny": (0, 1)}


def _pn_name(p: float) -> str:
    return f"pn-fixed-p{p:g}"


def parts(scale: str) -> list[Part]:
    fixed = Part("n-fixed", "n fixed", make_config(
        scale, dropout=True, hidden_dims=_N[scale], keep_probs=KEEPS[scale], max_norm=2.0, seeds=_SEEDS[scale]
    ))  # fmt: skip
    scaled = [
        Part(_pn_name(p), f"p*n fixed, p = {p:g}", make_config(
            scale, dropout=True, hidden_dims=tuple(round(pn / p) for pn in _PN[scale]), keep_probs=(p,), max_norm=2.0,
            seeds=_SEEDS[scale],
        ))
        for p in KEEPS[scale]
    ]  # fmt: skip
    return [fixed, *scaled]


def differences(scale: str) -> list[str]:
    if scale == "paper":
        return ["Every net, p = 1 included, has max-norm c = 2 and the dropout nets' learning rate."]
    return [
        f"Nets: n = {_N[scale][0]} units per hidden layer, and p*n = {', '.join(map(str, _PN[scale]))} "
        f"(the paper: n = 2048 and p*n = 256, 256, 512).",
        f"Keep probabilities {', '.join(f'{p:g}' for p in KEEPS[scale])}: the paper's ten but 0.3 and 0.9, for time.",
    ]


def analyse(runs: dict[str, PartRuns], folder: Path, scale: str) -> Findings:
    keeps = KEEPS[scale]
    fixed = runs["n-fixed"]
    te_n = {p: {s: test_error(r) for s, r in fixed.by_seed(p).items()} for p in keeps}
    tr_n = {p: {s: train_error(r) for s, r in fixed.by_seed(p).items()} for p in keeps}
    te_pn = {p: {s: test_error(r) for s, r in runs[_pn_name(p)].by_seed(p).items()} for p in keeps}
    tr_pn = {p: {s: train_error(r) for s, r in runs[_pn_name(p)].by_seed(p).items()} for p in keeps}
    widths = {p: list(runs[_pn_name(p)].part.config.hidden_dims) for p in keeps}

    rows = ["| p | n fixed: test error % | n fixed: training error % | p*n fixed: n | p*n fixed: test error % "
            "| p*n fixed: training error % |", "|---|---|---|---|---|---|"]  # fmt: skip
    for p in keeps:
        rows.append(
            f"| {p:g} | {format_interval(interval(list(te_n[p].values())))} "
            f"| {interval(list(tr_n[p].values())).mean:.2f} | {'-'.join(map(str, widths[p]))} "
            f"| {format_interval(interval(list(te_pn[p].values())))} | {interval(list(tr_pn[p].values())).mean:.2f} |"
        )
    findings = Findings(tables=["Test error (weight scaling) and training error at the end, means over seeds.\n\n"
                                + "\n".join(rows)])  # fmt: skip

    # What the reasons below say, measured: how well the nets at small p and without dropout trained.
    def train_at(errors: dict[float, dict[int, float]], p: float) -> float:
        return interval(list(errors[p].values())).mean

    untrained = f"training error at p = 0.1: {train_at(tr_n, 0.1):.0f}% with n fixed, {train_at(tr_pn, 0.1):.0f}% " \
        "with p*n fixed (about 89% is chance)"
    steps, narrower = fixed.part.config.steps, _N["paper"][0] // _N[scale][0]
    slow = f"the dropout nets are still under-trained after {steps:,} updates (training error " \
        f"{train_at(tr_n, 0.5):.1f}% at p = 0.5, {train_at(tr_n, 1.0):.1f}% at p = 1): each step towards p = 1 helps"

    # 1. n fixed: a small p underfits (training error high too).
    d_test, d_train = paired(te_n[0.1], te_n[0.5]), paired(tr_n[0.1], tr_n[0.5])
    findings.claims.append(Claim(
        "With n fixed, a small p underfits: at p = 0.1 both the test and the training error are higher than at "
        "p = 0.5.",
        "Figure 9a: the training error is also high at small p.",
        _both(excludes_zero(d_test) and d_test.low > 0, excludes_zero(d_train) and d_train.low > 0),
        f"test error p=0.1 minus p=0.5: {format_interval(d_test, ' points')}; training error: "
        f"{format_interval(d_train, ' points')}",
        f"our nets are {narrower} times narrower than the paper's and trained for {steps:,} updates",
    ))  # fmt: skip
    # 2. n fixed: flat for 0.4 <= p <= 0.8: each p there against p = 0.5 (the paper's default, fixed in advance,
    # not the best of the range), within a margin of 10% of the error at 0.5, on simultaneous intervals.
    others = [p for p in FLAT if p != 0.5]
    margin = MARGIN * interval(list(te_n[0.5].values())).mean
    joint = 1 - (1 - CONFIDENCE) / len(others)
    gaps = {p: paired(te_n[p], te_n[0.5], joint) for p in others}
    verdicts = [within(iv, margin) for iv in gaps.values()]
    flat = None if None in verdicts else all(verdicts)
    apart = any(iv.low >= margin or iv.high <= -margin for iv in gaps.values())
    findings.claims.append(Claim(
        "With n fixed, the test error is flat for 0.4 <= p <= 0.8.",
        "Figure 9a: 'It becomes flat when 0.4 <= p <= 0.8'.",
        flat,
        "against p = 0.5, within a margin of " + f"{margin:.2f} points (10% of its error), Bonferroni-corrected "
        f"{100 * (1 - (1 - CONFIDENCE) / len(others)):.1f}% intervals: "
        + "; ".join(f"p = {p:g}: {format_interval(iv, ' points', confidence=joint)}" for p, iv in gaps.items()),
        "" if flat is not False else (slow if apart else "the intervals are too wide to show it with our seeds"),
    ))  # fmt: skip
    # 3. n fixed: the error rises as p nears 1 (against p = 0.5, fixed in advance).
    rise = paired(te_n[1.0], te_n[0.5])
    findings.claims.append(Claim(
        "With n fixed, the test error rises again as p nears 1 (no dropout).",
        "Figure 9a: the error 'increases as p becomes close to 1'.",
        None if excludes_zero(rise) is None else rise.low > 0,
        f"test error at p = 1 minus at p = 0.5: {format_interval(rise, ' points')}",
        slow,
    ))  # fmt: skip
    # 4. p*n fixed lowers the error at small p a lot.
    gain = paired(te_n[0.1], te_pn[0.1])
    findings.claims.append(Claim(
        "Holding p*n fixed lowers the test error at small p a lot.",
        "At p = 0.1 the error falls from 2.7% (n fixed) to 1.7% (p*n fixed).",
        None if excludes_zero(gain) is None else gain.low > 0,
        f"at p = 0.1: n fixed {format_interval(interval(list(te_n[0.1].values())), '%')}, p*n fixed "
        f"{format_interval(interval(list(te_pn[0.1].values())), '%')}; difference {format_interval(gain, ' points')}",
        f"neither net trained at p = 0.1 ({untrained}): with about {round(0.1 * _N[scale][0])} to "
        f"{_PN[scale][-1]} units kept and each scaled by 1/p = 10, our learning rate is too high for them"
        if min(train_at(tr_n, 0.1), train_at(tr_pn, 0.1)) > 80 else f"at p = 0.1: {untrained}",
    ))  # fmt: skip
    # 5. p*n fixed: best p about 0.6, the default 0.5 close to it.
    best_pn = min(keeps, key=lambda p: interval(list(te_pn[p].values())).mean)
    near = paired(te_pn[0.5], te_pn[best_pn])
    enough = min(len(te_pn[p]) for p in keeps) >= 2
    findings.claims.append(Claim(
        "With p*n fixed, p close to 0.6 gives the lowest test error.",
        "Figure 9b: 'values of p that are close to 0.6 seem to perform best', the usual 0.5 'close to optimal'.",
        best_pn in (0.5, 0.6, 0.7) if enough else None,
        f"lowest mean test error at p = {best_pn:g} ({format_interval(interval(list(te_pn[best_pn].values())), '%')}); "
        f"p = 0.5 minus that: {format_interval(near, ' points')} (a best p within 0.1 of 0.6 counts as reproduced)",
        "" if best_pn in (0.5, 0.6, 0.7) else f"with p*n {narrower} times below the paper's, the nets of small p train "
        f"slowly or not at all in {steps:,} updates (training error {train_at(tr_pn, 0.5):.0f}% at p = 0.5)",
    ))  # fmt: skip

    panels = []
    for label, te, tr in (("n fixed", te_n, tr_n), ("p*n fixed", te_pn, tr_pn)):
        test_iv = [interval(list(te[p].values())) for p in keeps]
        train_iv = [interval(list(tr[p].values())) for p in keeps]
        panels.append(Panel(label, "probability of keeping a unit, p", "error %", [
            Series("test error", keeps, [iv.mean for iv in test_iv], [iv.half_width for iv in test_iv]),
            Series("training error", keeps, [iv.mean for iv in train_iv], [iv.half_width for iv in train_iv], "s--"),
        ]))  # fmt: skip
    curves(folder / "fig9.png", panels, "Figure 9: the effect of the dropout rate (95% intervals over seeds)")
    findings.figures.append(("fig9.png", "Test and training error against p: n fixed (left), p*n fixed (right)."))
    findings.measures = {
        "keep": list(keeps), "n_fixed": {"test": _plain(te_n), "train": _plain(tr_n)},
        "pn_fixed": {"test": _plain(te_pn), "train": _plain(tr_pn),
                     "hidden_dims": {f"{p:g}": widths[p] for p in keeps}},
    }  # fmt: skip
    return findings


def _both(a: bool | None, b: bool | None) -> bool | None:
    if a is None or b is None:
        return None
    return bool(a and b)


def _plain(values: dict[float, dict[int, float]]) -> dict[str, dict[str, float]]:
    return {f"{p:g}": {str(s): v for s, v in by_seed.items()} for p, by_seed in values.items()}


STUDY = Study(
    name="fig9-dropout-rate",
    title="The effect of the dropout rate, with n fixed and with p*n fixed",
    source="section 7.3, Figure 9",
    paper_setup=(
        "MNIST, 784-2048-2048-2048-10 ReLU nets, no input dropout, p from 0.1 to 1 (Figure 9a); then p*n "
        "fixed at 256, 256 and 512 units per hidden layer, so that a smaller p means a wider net (Figure 9b)."
    ),
    parts=parts,
    differences=differences,
    analyse=analyse,
)
