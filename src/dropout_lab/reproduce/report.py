"""A study's ``report.md``: the paper's setup and ours, the tables (the paper's values beside ours),
the figures, and a verdict per claim with the statistics behind it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..experiments.summary_plot import figure_title
from .base import PAPER, Findings, Part, Study, scale_differences

__all__ = ["VERDICTS", "format_report", "settings_line"]

#: How a claim's verdict is written (True, False, None: the runs cannot decide).
VERDICTS = {True: "reproduced", False: "not reproduced", None: "undecided"}

_SCALE_TEXT = {
    "small": "small: this machine's scale (two cores), chosen from the paper before the runs and adjusted once after "
    "a first run (He's initial weights, for the narrow nets to train; Figure 9's widths, for time), never on a "
    "claim's outcome",
    "paper": "paper: the paper's nets, update counts and optimizer schedule, for a cluster",
    "tiny": "tiny: a check of the pipeline in seconds; its numbers mean nothing",
}


def settings_line(config: Any) -> str:
    """One part's settings: keep probabilities, the settings line of the experiment, what it sweeps."""
    keep = ", ".join(f"{k:g}" for k in config.keep_probs)
    swept = "; ".join(f"{name} {', '.join(map(str, values))}" for name, values in config.sweep.items())
    return f"keep {keep}; {figure_title(config)}" + (f"; sweeps {swept}" if swept else "")


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def format_report(
    study: Study, scale: str, parts: Sequence[Part], findings: Findings, *, command: str, runs: int,
    train_s: float, walls: Sequence[float], paper_runs: int, paper_hours: float,
) -> str:  # fmt: skip
    """The report as markdown. ``train_s``: the runs' own training time, summed; ``walls``: the wall time
    of each invocation of the study (the first trains; a later one resumes, or only analyses again)."""
    wall = _duration(sum(walls))
    if len(walls) > 1:
        wall += f" over {len(walls)} invocations ({', '.join(_duration(w) for w in walls)})"
    counts = {v: sum(c.reproduced is v for c in findings.claims) for v in (True, False, None)}
    lines = [
        f"# {study.title} ({study.source})",
        "",
        f"Reproducing {PAPER}, {study.source}.",
        "",
        "| | |",
        "|---|---|",
        f"| study | `{study.name}` |",
        f"| scale | {_SCALE_TEXT[scale]} |",
        f"| command | `{command}` |",
        f"| runs | {runs} in {len(parts)} experiment{'s' * (len(parts) != 1)} |",
        f"| wall time | {wall}; the runs' own training times add up to {train_s / 60:.1f} min |",
        f"| paper scale | {paper_runs} runs, about {paper_hours:,.0f} core hours |",
        f"| claims | {counts[True]} reproduced, {counts[False]} not reproduced"
        + (f", {counts[None]} undecided" if counts[None] else "") + " |",
        "",
        "## The paper",
        "",
        study.paper_setup,
        "",
        "## This reproduction",
        "",
    ]
    lines += [f"- {line}" for line in (*scale_differences(scale), *study.differences(scale))]
    lines += ["", "Experiments (each a folder of its own beside this report, with its `results.json`):", ""]
    lines += [f"- `{part.name}` ({part.label}): {settings_line(part.config)}" for part in parts]
    lines += ["", "## Results", ""]
    for table in findings.tables:
        lines += [table, ""]
    for name, caption in findings.figures:
        lines += [f"![{caption}]({name})", "", f"*{caption}*", ""]
    lines += ["## Claims", ""]
    for claim in findings.claims:
        text = f"- **{VERDICTS[claim.reproduced]}**: {claim.text} Paper: {claim.paper} Ours: {claim.evidence}."
        if claim.reproduced is not True and claim.reason:
            text += f" What we think explains it: {claim.reason}."
        lines.append(text)
    for note in findings.notes:
        lines += ["", note]
    return "\n".join(lines) + "\n"
