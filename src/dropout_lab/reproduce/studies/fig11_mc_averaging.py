"""Figure 11 (section 7.5): Monte Carlo model averaging over k dropout nets against the weight-scaling
rule, as k grows."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from ..._parallel import available_threads
from ...experiments.results import RunResult
from ..base import Claim, Findings, Part, PartRuns, Study, make_config
from ..figures import Panel, Series, curves
from ..measures import excludes_zero, format_interval, interval, mc_error_curve, paired

#: The sample counts k at each scale (each the mean of the first k of max(k) passes).
KS = {"paper": (1, 2, 5, 10, 20, 50, 100), "small": (1, 2, 5, 10, 20, 50, 100), "tiny": (1, 2, 5, 10)}
_DRAWS = {"paper": 5, "small": 3, "tiny": 2}  # independent streams of max(k) passes per net
_HIDDEN = {"paper": (1024, 1024, 2048), "small": (256, 256, 512), "tiny": (16, 16, 32)}
_SEEDS = {"paper": (0, 1, 2), "small": (0, 1, 2, 3, 4), "tiny": (0, 1)}
MATCH_RANGE = (20, 100)  # "around k = 50": a first match within a factor 2.5 of 50 counts as reproduced


def parts(scale: str) -> list[Part]:
    return [Part("dropout", "dropout net", make_config(
        scale, dropout=True, hidden_dims=_HIDDEN[scale], keep_probs=(0.5,), input_keep_prob=0.8, max_norm=2.0,
        seeds=_SEEDS[scale],
    ))]  # fmt: skip


def differences(scale: str) -> list[str]:
    ks = KS[scale]
    lines = [f"k up to {max(ks)} in steps {', '.join(map(str, ks))}; {_DRAWS[scale]} independent draws of the "
             "masks per net give the spread at each k."]  # fmt: skip
    if scale != "paper":
        lines.insert(0, f"Net: 784-{'-'.join(map(str, _HIDDEN[scale]))}-10 (the paper does not say which MNIST net; "
                        "we use that of its sections 6.5 and 7.4, 784-1024-1024-2048-10, at paper scale).")  # fmt: skip
    return lines


def analyse(runs: dict[str, PartRuns], folder: Path, scale: str) -> Findings:
    ks = KS[scale]
    nets = list(runs["dropout"].models(0.5))

    def curve(net: tuple[RunResult, Any, dict[str, np.ndarray]]) -> tuple[float, np.ndarray]:
        run, model, data = net
        return mc_error_curve(model, data["X_test"], data["y_test"], ks, _DRAWS[scale], run.seed)

    with ThreadPoolExecutor(max_workers=available_threads()) as pool:  # the passes release the GIL
        curves_by_net = list(pool.map(curve, nets))
    ws = {run.seed: c[0] for (run, _, _), c in zip(nets, curves_by_net, strict=True)}
    mc = {run.seed: c[1] for (run, _, _), c in zip(nets, curves_by_net, strict=True)}  # (draws, len(ks)) errors
    seeds = sorted(ws)
    mean_mc = {k: {s: float(mc[s][:, j].mean()) for s in seeds} for j, k in enumerate(ks)}
    spread = {k: float(np.mean([mc[s][:, j].std(ddof=1) for s in seeds])) for j, k in enumerate(ks)}  # over draws
    over_ws = {k: paired(mean_mc[k], ws) for k in ks}
    rows = ["| k | MC test error % | spread over mask draws (sd) | MC - weight scaling, points |", "|---|---|---|---|"]
    for k in ks:
        rows.append(f"| {k} | {format_interval(interval(list(mean_mc[k].values())))} | {spread[k]:.3f} "
                    f"| {format_interval(over_ws[k])} |")  # fmt: skip
    rows.append(f"| weight scaling | {format_interval(interval(list(ws.values())))} | - | - |")
    findings = Findings(tables=[
        f"Test error of the mean of k Monte Carlo passes (each net's mean over {_DRAWS[scale]} draws of the masks), "
        "against weight scaling; intervals over seeds, differences paired by seed.\n\n" + "\n".join(rows)
    ])  # fmt: skip

    fall = paired(mean_mc[ks[0]], mean_mc[ks[-1]])
    findings.claims.append(Claim(
        "The Monte Carlo error falls as k grows.",
        "Figure 11: the error falls steeply over the first samples.",
        None if excludes_zero(fall) is None else fall.low > 0,
        f"k = {ks[0]} minus k = {ks[-1]}: {format_interval(fall, ' points')}",
        "the masks of our nets change their predictions little",
    ))  # fmt: skip
    matched = [k for k in ks if over_ws[k].mean <= spread[k]]
    first = matched[0] if matched else None
    enough = len(seeds) >= 2  # an interval over seeds behind each mean
    findings.claims.append(Claim(
        "About k = 50 samples match weight scaling.",
        "Figure 11: 'around k = 50, the Monte-Carlo method becomes as good as the approximate method'.",
        None if not enough else first is not None and MATCH_RANGE[0] <= first <= MATCH_RANGE[1],
        f"the first k whose mean error is within one spread (sd over mask draws) of weight scaling: {first}; "
        f"a first match from k = {MATCH_RANGE[0]} to {MATCH_RANGE[1]} counts as reproduced",
        "our smaller nets' masks average out with fewer samples" if first is not None and first < MATCH_RANGE[0]
        else f"{max(ks)} samples still trail weight scaling by more than the spread over mask draws",
    ))  # fmt: skip
    last = ks[-1]
    findings.claims.append(Claim(
        f"Beyond it the Monte Carlo average is as good as weight scaling, within one standard deviation (k = {last}).",
        "Figure 11: 'slightly better than the approximate method but well within one standard deviation of it'.",
        None if not enough else abs(over_ws[last].mean) <= spread[last],
        f"k = {last} minus weight scaling: {format_interval(over_ws[last], ' points')}; sd over mask draws "
        f"{spread[last]:.3f}",
        f"{last} samples are too few for our nets' Monte Carlo average to settle" if over_ws[last].mean > 0 else
        f"the Monte Carlo average is better than weight scaling, as the paper says, but by more than our spread over "
        f"{_DRAWS[scale]} draws of the masks, the standard deviation we chose to read the paper's by",
    ))  # fmt: skip

    ivs = [interval(list(mean_mc[k].values())) for k in ks]
    curves(folder / "fig11.png", [Panel("MNIST test error", "k (Monte Carlo samples)", "test error %", [
        Series("Monte Carlo average of k nets", ks, [iv.mean for iv in ivs], [iv.half_width for iv in ivs]),
    ], hlines=[("weight scaling", float(np.mean(list(ws.values()))))], logx=True)],
        "Figure 11: Monte Carlo averaging against weight scaling (95% intervals over seeds)")  # fmt: skip
    findings.figures.append(("fig11.png", "Test error of the Monte Carlo average of k nets, and of weight scaling."))
    findings.measures = {
        "ks": list(ks), "weight_scaling": {str(s): ws[s] for s in seeds},
        "mc": {str(s): mc[s].tolist() for s in seeds}, "spread": {str(k): spread[k] for k in ks},
    }  # fmt: skip
    return findings


STUDY = Study(
    name="fig11-mc-averaging",
    title="Monte Carlo model averaging against weight scaling",
    source="section 7.5, Figure 11",
    paper_setup=(
        "A dropout net on MNIST (p = 0.5 hidden, 0.8 input); each test case classified by the mean prediction "
        "of k nets sampled with dropout, for k up to about 120, against the weight-scaling rule."
    ),
    parts=parts,
    differences=differences,
    analyse=analyse,
    needs_models=True,
)
