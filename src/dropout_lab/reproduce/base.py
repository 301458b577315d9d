"""What a study of ``dropout-lab reproduce`` is made of: its parts (each an experiment, trained as a
sweep), the runs they recorded, and what its analysis returns (tables, figures, a verdict per claim).

A study (one module of :mod:`dropout_lab.reproduce.studies`) gives, for each scale, the experiments
that reproduce one figure or table of Srivastava et al. (2014), "Dropout: A Simple Way to Prevent
Neural Networks from Overfitting", JMLR 15, https://jmlr.org/papers/v15/srivastava14a.html, and turns
their records into the report's numbers. Every number a report shows is computed here from the runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..experiments.config import ExperimentConfig
from ..experiments.results import RunResult

__all__ = [
    "PAPER", "SCALES", "Claim", "Findings", "Part", "PartRuns", "Study", "make_config", "scale_differences",
    "scale_settings",
]  # fmt: skip

PAPER = (
    'Srivastava, Hinton, Krizhevsky, Sutskever and Salakhutdinov, "Dropout: A Simple Way to Prevent Neural '
    'Networks from Overfitting", JMLR 15 (2014), https://jmlr.org/papers/v15/srivastava14a.html'
)

#: 'small': this machine's scale (each study in minutes on two cores); 'paper': the paper's nets and
#: update counts, for a cluster; 'tiny': seconds, to check the pipeline (its numbers mean nothing).
SCALES = ("small", "paper", "tiny")


def scale_settings(scale: str, *, dropout: bool) -> dict[str, Any]:
    """The experiment settings every study shares at ``scale`` (``dropout``: the settings of a dropout
    net, which the paper trains with a higher learning rate at paper scale).

    small: 10,000 MNIST training images (the experiment validates on the last 10,000 of the release's
    60,000), 3,000 SGD-momentum updates of 100 examples (30 epochs), learning rate 0.05 with momentum
    0.9 whatever the net, He's initial weights, accuracy measured once at the end, test error by weight
    scaling.
    paper (Appendix B.1): all 50,000 training images, 10**6 updates of 100, momentum rising from 0.5 over
    the first 500 epochs to the paper's final 0.95, the learning rate decayed by 0.998 each epoch (the
    ramp and the decay of Hinton et al. 2012's MNIST nets: the JMLR paper prints neither), 0.5 for a
    dropout net and 0.05 for a standard one (Appendix A.2: 10 to 100 times a standard net's).
    """
    common: dict[str, Any] = {
        "dataset": "mnist", "batch_size": 100, "update_rule": "sgd_momentum", "weight_scale": 0.01,
        "dtype": "float32", "mc_samples": 1, "eval_every": 10**6,
    }  # fmt: skip
    # Below paper scale the nets are narrow: He's initial weights keep their signal's scale, where the
    # paper's N(0, 0.01**2) shrinks it tenfold in each hidden layer of a hundred units.
    if scale == "small":
        return {**common, "num_train": 10_000, "steps": 3_000, "learning_rate": 0.05, "seeds": (0, 1, 2), "init": "he"}
    if scale == "tiny":
        return {**common, "num_train": 200, "num_val": 200, "steps": 10, "learning_rate": 0.05, "seeds": (0, 1),
                "init": "he"}  # fmt: skip
    paper: dict[str, Any] = {
        **common, "num_train": 50_000, "steps": 1_000_000, "learning_rate": 0.5 if dropout else 0.05,
        "lr_decay": 0.998, "momentum": 0.95, "momentum_schedule": "linear:0.5:500", "seeds": (0, 1, 2),
        "checkpoint_every": 10,
    }  # fmt: skip
    return paper


def make_config(scale: str, *, dropout: bool, **settings: Any) -> ExperimentConfig:
    """An experiment of a study: :func:`scale_settings` with ``settings`` over them (a ``sweep`` among
    them replaces the shared value of each setting it sweeps)."""
    values = {**scale_settings(scale, dropout=dropout), **settings}
    for name in values.get("sweep", {}):
        values.pop(name, None)
    return ExperimentConfig(**values)


def scale_differences(scale: str) -> list[str]:
    """How every study at ``scale`` differs from the paper, one line each (:func:`scale_settings`)."""
    if scale == "paper":
        return [
            "Training: 50,000 images, the last 10,000 of the release's training set held out for validation (the "
            "paper trains its final nets on all 60,000).",
            "Optimizer: the JMLR paper prints its final momentum (0.95) but no learning rate or schedule; we take the "
            "schedule of Hinton et al. (2012)'s MNIST nets: momentum rising linearly from 0.5 over the first 500 "
            "epochs (to 0.95 here, 0.99 there), the learning rate multiplied by 0.998 each epoch, starting at 0.5 "
            "for dropout nets (their 10, times 1 - 0.95 in our update rule) and 0.05 for standard ones (Appendix "
            "A.2: a dropout net takes 10 to 100 times a standard net's rate); a study whose nets share one "
            "experiment (with and without dropout) trains them all at one rate.",
        ]
    if scale == "tiny":
        return ["Tiny scale: 200 training images (200 more validate), 10 updates, He's initial weights: the numbers "
                "check the pipeline, nothing more."]  # fmt: skip
    lines = [
        "Training: the first 10,000 MNIST training images (the paper: 60,000), 3,000 updates of 100 examples, "
        "30 epochs (the paper: 10**6 updates); the last 10,000 training images validate.",
        "Optimizer: SGD with momentum 0.9 (the paper's final momentum is 0.95) at a constant learning rate of "
        "0.05 for every net (the JMLR paper prints no learning rate; 0.05 is the library's MNIST examples' rate).",
        "Initial weights: He's N(0, 2 / fan-in) (the paper: N(0, 0.01**2)). Chosen after a first run with the "
        "paper's: it left the narrow nets of Figure 9 untrained (89% test error without dropout at 16-16-32 "
        "units), since it shrinks the signal tenfold in each hidden layer of about a hundred units.",
        "Accuracy measured before training and at its end, and the net of the better validation accuracy kept (the "
        "end's, unless a net did not train at all); no early stopping, as in the paper; test error by weight "
        "scaling.",
    ]
    return lines


@dataclass(frozen=True)
class Part:
    """One experiment of a study: ``name`` is its folder under the study's, ``label`` its name in tables."""

    name: str
    label: str
    config: ExperimentConfig


@dataclass(frozen=True)
class Claim:
    """One of the paper's qualitative claims and whether our runs reproduced it.

    ``reproduced`` None: the runs cannot decide (one seed: no interval). ``evidence``: the statistics
    behind the verdict (means, 95% intervals, seeds); ``reason``: what we think explains a claim that
    did not reproduce ('' otherwise)."""

    text: str
    paper: str
    reproduced: bool | None
    evidence: str
    reason: str = ""


@dataclass
class Findings:
    """A study's analysis: markdown tables (each with its caption), figures written in the study's folder
    (file name, caption), the verdict per claim, notes, and every number as JSON (``measures.json``)."""

    tables: list[str] = field(default_factory=list)
    figures: list[tuple[str, str]] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    measures: dict[str, Any] = field(default_factory=dict)


@dataclass
class PartRuns:
    """A part's complete runs, as its experiment recorded them in ``folder``."""

    part: Part
    folder: Path
    runs: list[RunResult]

    def by_seed(self, keep_prob: float | None = None, **settings: Any) -> dict[int, RunResult]:
        """The complete runs at ``keep_prob`` (None: any) whose swept settings include ``settings``, by seed."""
        chosen = {}
        for run in self.runs:
            if run.status != "complete" or (keep_prob is not None and run.keep_prob != keep_prob):
                continue
            if all(_same(run.settings.get(name), value) for name, value in settings.items()):
                chosen[run.seed] = run
        return chosen

    def models(self, keep_prob: float | None = None) -> Iterator[tuple[RunResult, Any, dict[str, np.ndarray]]]:
        """Each complete run's trained net (its best parameters, as its test evaluation used them) with
        its cell's data (the test split included), from the checkpoint the run kept."""
        from .measures import trained_models

        yield from trained_models(self, keep_prob)


def _same(a: Any, b: Any) -> bool:
    def norm(value: Any) -> Any:
        return list(value) if isinstance(value, (list, tuple)) else value

    return bool(norm(a) == norm(b))


@dataclass(frozen=True)
class Study:
    """One reproduction: a figure or table of the paper, the experiments that remake it at each scale,
    and the analysis that compares them with the paper.

    Attributes:
        name: the command's name for it ('fig9-dropout-rate').
        title: one line.
        source: where in the paper ('section 7.3, Figure 9').
        paper_setup: the paper's setup, as we read it.
        parts: scale -> the experiments, in the order they run.
        differences: scale -> how that scale differs from the paper, one line each.
        analyse: (the parts' runs by part name, the study's folder, scale) -> findings; it writes the figures.
        needs_models: the analysis restores the trained nets from their checkpoints (and reads the data
            set here, in the process that runs the study, even when the runs trained on Dask).
    """

    name: str
    title: str
    source: str
    paper_setup: str
    parts: Callable[[str], list[Part]]
    differences: Callable[[str], list[str]]
    analyse: Callable[[dict[str, PartRuns], Path, str], Findings]
    needs_models: bool = False
