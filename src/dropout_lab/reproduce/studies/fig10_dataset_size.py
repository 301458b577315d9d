"""Figure 10 (section 7.4): test error with and without dropout as the training set grows."""

from __future__ import annotations

from pathlib import Path

from ..base import Claim, Findings, Part, PartRuns, Study, make_config
from ..figures import Panel, Series, curves
from ..measures import MARGIN, common, decided, format_interval, interval, paired, test_error

SIZES = {
    "paper": (100, 500, 1_000, 5_000, 10_000, 50_000),
    "small": (100, 500, 1_000, 5_000, 10_000, 50_000),
    "tiny": (10, 20, 50, 100, 150, 200),
}
_HIDDEN = {"paper": (1024, 1024, 2048), "small": (256, 256, 512), "tiny": (16, 16, 32)}
_SEEDS = {"paper": (0, 1, 2), "small": (0, 1, 2), "tiny": (0, 1)}
_PAPER_CHECKPOINT_STEPS = 5_000  # updates between a paper-scale run's checkpoints
_ARMS = {"standard": (1.0, {}), "dropout": (0.5, {"input_keep_prob": 0.8, "max_norm": 2.0})}


def parts(scale: str) -> list[Part]:
    """Below paper scale, one experiment per arm sweeping the size, without checkpoints (a checkpoint every
    epoch of 100 images is one every update; an interrupted run of a few seconds starts again). At paper
    scale, one experiment per size and arm, each checkpointing every few thousand updates."""
    out = []
    for arm, (keep, extra) in _ARMS.items():
        shared = {"hidden_dims": _HIDDEN[scale], "seeds": _SEEDS[scale], "keep_probs": (keep,), **extra}
        if scale == "small":
            sweep = {"num_train": SIZES[scale]}
            config = make_config(scale, dropout=keep < 1, checkpoint_every=0, sweep=sweep, **shared)
            out.append(Part(arm, arm, config))
            continue
        for n in SIZES[scale]:
            every = max(1, _PAPER_CHECKPOINT_STEPS * 100 // n)
            config = make_config(scale, dropout=keep < 1, num_train=n, checkpoint_every=every, **shared)
            out.append(Part(f"{arm}-{n}", f"{arm}, {n:,} examples", config))
    return out


def _errors(runs: dict[str, PartRuns], arm: str, n: int) -> dict[int, float]:
    """The test errors of one arm at one size, by seed (from the arm's sweep, or its part for that size)."""
    keep = _ARMS[arm][0]
    chosen = runs[f"{arm}-{n}"].by_seed(keep) if f"{arm}-{n}" in runs else runs[arm].by_seed(keep, num_train=n)
    return {s: test_error(r) for s, r in chosen.items()}


def differences(scale: str) -> list[str]:
    lines = ["Each size is the first N training images, the same for every seed (the paper draws a random subset)."]
    if scale != "paper":
        lines.insert(0, f"Net: 784-{'-'.join(map(str, _HIDDEN[scale]))}-10 (the paper: 784-1024-1024-2048-10).")
        lines.append(
            "Every size gets the same number of updates, so the largest sets are seen for few epochs (50,000 images: "
            "6 epochs at small scale), where the paper trains every net to convergence."
        )
    return lines


def analyse(runs: dict[str, PartRuns], folder: Path, scale: str) -> Findings:
    sizes = SIZES[scale]
    std = {n: _errors(runs, "standard", n) for n in sizes}
    drop = {n: _errors(runs, "dropout", n) for n in sizes}
    gains = {n: paired(std[n], drop[n]) for n in sizes}  # > 0: dropout lowers the error
    rows = ["| training examples | standard: test error % | dropout: test error % "
            "| gain (standard - dropout), points |", "|---|---|---|---|"]  # fmt: skip
    for n in sizes:
        rows.append(f"| {n:,} | {format_interval(interval(list(std[n].values())))} | "
                    f"{format_interval(interval(list(drop[n].values())))} | {format_interval(gains[n])} |")  # fmt: skip
    findings = Findings(tables=["Test error (weight scaling) by training set size, means over seeds; the gain is "
                                "paired by seed.\n\n" + "\n".join(rows)])  # fmt: skip

    # 1. No gain (or a loss) at the two smallest sizes: the gain's interval lies below a margin of 10% of the
    # standard net's error there.
    small = sizes[:2]
    margins = {n: MARGIN * interval(list(std[n].values())).mean for n in small}
    no_gain = None if not decided(*(gains[n] for n in small)) else all(gains[n].high < margins[n] for n in small)
    gained = any(gains[n].low > 0 for n in small)
    findings.claims.append(Claim(
        f"Dropout gives no gain on the smallest training sets ({small[0]:,} and {small[1]:,} examples).",
        "Figure 10: 'for extremely small data sets (100, 500) dropout does not give any improvements'.",
        no_gain,
        "; ".join(f"{n:,}: gain {format_interval(gains[n], ' points')}, margin {margins[n]:.2f} (10% of the "
                  "standard error)" for n in small),
        "" if no_gain is not False else (
            "our net is narrower, so the noise of dropout is enough to keep it from memorizing" if gained
            else "the intervals are too wide to show it with our seeds"),
    ))  # fmt: skip

    # 2. The gain grows, then declines: the middle sizes' mean gain against the smallest two's and the largest's
    # (groups fixed in advance: no peak chosen from the data).
    middle, largest = sizes[2:-1], sizes[-1]
    seeds = common(*(std[n] for n in sizes), *(drop[n] for n in sizes))

    def mean_gain(group: tuple[int, ...]) -> dict[int, float]:
        return {s: sum(std[n][s] - drop[n][s] for n in group) / len(group) for s in seeds}

    grows, declines = paired(mean_gain(middle), mean_gain(small)), paired(mean_gain(middle), mean_gain((largest,)))
    findings.claims.append(Claim(
        "The gain from dropout grows with the data, up to a point, then declines.",
        "Figure 10: 'the gain from doing dropout increases up to a point and then declines'.",
        None if not decided(grows, declines) else bool(grows.low > 0 and declines.low > 0),
        f"mean gain at {', '.join(f'{n:,}' for n in middle)} minus at {small[0]:,} and {small[1]:,}: "
        f"{format_interval(grows, ' points')}; minus at {largest:,}: {format_interval(declines, ' points')}",
        "" if grows.low > 0 and declines.low > 0 else (
            "at a fixed number of updates the largest sets are seen for few epochs" if grows.low > 0
            else "the gain is largest on the smallest sets and shrinks as the data grow: the fewer the examples, the "
            "more a standard net overfits, and our dropout nets are still under-trained after a short run"),
    ))  # fmt: skip

    ivs = {name: [interval(list(v[n].values())) for n in sizes] for name, v in (("standard", std), ("dropout", drop))}
    curves(folder / "fig10.png", [
        Panel("test error", "training examples", "test error %", [
            Series(name, sizes, [iv.mean for iv in ivs[name]], [iv.half_width for iv in ivs[name]]) for name in ivs
        ], logx=True),
        Panel("gain from dropout", "training examples", "standard - dropout, points", [
            Series("gain", sizes, [gains[n].mean for n in sizes], [gains[n].half_width for n in sizes])
        ], hlines=[("no gain", 0.0)], logx=True),
    ], "Figure 10: the effect of the data set size (95% intervals over seeds)")  # fmt: skip
    caption = "Test error with and without dropout against the training set size, and the gain."
    findings.figures.append(("fig10.png", caption))
    findings.measures = {
        "sizes": list(sizes),
        "standard": {str(n): {str(s): v for s, v in std[n].items()} for n in sizes},
        "dropout": {str(n): {str(s): v for s, v in drop[n].items()} for n in sizes},
    }
    return findings


STUDY = Study(
    name="fig10-dataset-size",
    title="The effect of the training set size, with and without dropout",
    source="section 7.4, Figure 10",
    paper_setup=(
        "MNIST subsets of 100, 500, 1K, 5K, 10K and 50K images; 784-1024-1024-2048-10 ReLU nets; dropout with "
        "p = 0.5 in the hidden layers and 0.8 at the input, against the same net without dropout."
    ),
    parts=parts,
    differences=differences,
    analyse=analyse,
)
