"""Figure 8 (section 7.2): dropout makes the hidden features sparser: lower mean activations, and
fewer units strongly active for any one example."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..base import Claim, Findings, Part, PartRuns, Study, make_config
from ..figures import histograms
from ..measures import excludes_zero, format_interval, interval, paired

_HIDDEN = {"paper": (256,), "small": (256,), "tiny": (16,)}
_SEEDS = {"paper": (0, 1, 2), "small": (0, 1, 2, 3, 4), "tiny": (0, 1)}


def parts(scale: str) -> list[Part]:
    # Both nets in one experiment, so at one learning rate (a standard net's at paper scale: no max-norm here).
    return [Part("relu", f"{_HIDDEN[scale][0]} ReLUs", make_config(
        scale, dropout=False, hidden_dims=_HIDDEN[scale], keep_probs=(1.0, 0.5), seeds=_SEEDS[scale],
    ))]  # fmt: skip


def differences(scale: str) -> list[str]:
    return [
        "The paper measures the hidden layer of an autoencoder (256 ReLUs, reconstructing the image); we measure "
        f"the hidden layer of a classifier, 784-{_HIDDEN[scale][0]}-10, trained with and without dropout (p = 0.5, "
        "no input dropout): the library trains classifiers. Its activation magnitudes need not match the paper's.",
        "The activations are those of the whole test split (the paper: one random test minibatch).",
    ]


def hidden_activations(model: Any, X: np.ndarray) -> np.ndarray:
    """The first hidden layer's ReLU activations at test time, (N, H): dropout is off, and inverted
    dropout leaves the weights as trained (the paper's weight scaling is built in)."""
    params: dict[str, np.ndarray] = model.params  # a FullyConnectedNet's
    out: np.ndarray = np.maximum(X.reshape(len(X), -1) @ params["W1"] + params["b1"], 0.0)
    return out


def analyse(runs: dict[str, PartRuns], folder: Path, scale: str) -> Findings:
    mean_act: dict[float, dict[int, float]] = {1.0: {}, 0.5: {}}
    zeros: dict[float, dict[int, float]] = {1.0: {}, 0.5: {}}
    shown: dict[float, tuple[np.ndarray, np.ndarray]] = {}
    for run, model, data in runs["relu"].models():
        acts = hidden_activations(model, data["X_test"]).astype(np.float64)
        unit_means = acts.mean(axis=0)  # (H,): each unit's mean activation over the examples
        mean_act[run.keep_prob][run.seed] = float(unit_means.mean())
        zeros[run.keep_prob][run.seed] = 100.0 * float(np.mean(acts == 0.0))
        if run.keep_prob not in shown or run.seed == 0:
            shown[run.keep_prob] = (unit_means, acts.ravel())
    if not mean_act[1.0] or not mean_act[0.5]:
        return Findings(notes=["No complete run with or without dropout: nothing to compare."])
    rows = ["| net | mean activation (paper) | mean activation (ours) | zero activations %, ours |",
            "|---|---|---|---|"]  # fmt: skip
    for keep, label, paper in ((1.0, "without dropout", "about 2.0"), (0.5, "with dropout, p = 0.5", "about 0.7")):
        rows.append(f"| {label} | {paper} | {format_interval(interval(list(mean_act[keep].values())), digits=3)} | "
                    f"{format_interval(interval(list(zeros[keep].values())), digits=1)} |")  # fmt: skip
    findings = Findings(tables=["Hidden activations on the test split: the mean over units of each unit's mean "
                                "activation, and the share of activations that are 0; means over seeds.\n\n"
                                + "\n".join(rows)])  # fmt: skip
    lower = paired(mean_act[0.5], mean_act[1.0])
    findings.claims.append(Claim(
        "Dropout lowers the hidden units' mean activation.",
        "Figure 8: the average mean activation is about 2.0 without dropout and about 0.7 with it.",
        None if excludes_zero(lower) is None else lower.high < 0,
        f"with minus without dropout: {format_interval(lower, digits=3)}",
        "" if lower.high < 0 else "a classifier's hidden layer need not behave as an autoencoder's",
    ))  # fmt: skip
    sparser = paired(zeros[0.5], zeros[1.0])
    findings.claims.append(Claim(
        "Dropout makes the activations sparser: more of them are 0 (fewer units active for an example).",
        "Figure 8: 'fewer hidden units have high activations'; the histogram of activations peaks sharply at zero.",
        None if excludes_zero(sparser) is None else sparser.low > 0,
        f"share of zero activations, with minus without dropout: {format_interval(sparser, ' points', digits=1)}",
        "" if sparser.low > 0 else "a classifier's hidden layer need not behave as an autoencoder's",
    ))  # fmt: skip
    histograms(folder / "fig8.png", [("without dropout", *shown[1.0]), ("dropout, p = 0.5", *shown[0.5])],
               "Figure 8: hidden activations on the test split (one seed)")  # fmt: skip
    findings.figures.append(("fig8.png", "Histograms of the mean activation of each unit and of all activations."))
    findings.measures = {
        "mean_activation": {f"{k:g}": {str(s): v for s, v in d.items()} for k, d in mean_act.items()},
        "zero_percent": {f"{k:g}": {str(s): v for s, v in d.items()} for k, d in zeros.items()},
    }
    return findings


STUDY = Study(
    name="fig8-sparsity",
    title="The effect of dropout on the sparsity of hidden activations",
    source="section 7.2, Figure 8",
    paper_setup=(
        "Autoencoders on MNIST with one hidden layer of 256 ReLUs, with and without dropout (p = 0.5); histograms "
        "of the units' mean activations and of the activations on a random test minibatch."
    ),
    parts=parts,
    differences=differences,
    analyse=analyse,
    needs_models=True,
)
