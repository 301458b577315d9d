"""Run a study: its experiments one after another into one folder (each resumable, each on Dask if asked),
then its analysis, figures, ``report.md`` and ``measures.json``.

The folder holds ``study.json`` (which study, at which scale, and the wall time of each invocation),
one experiment folder per part, the report and its figures. Running the same study again in the same
folder resumes it (finished runs are kept); another study or scale is refused there.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._io import atomic_write_text, read_regular_file
from .._validation import check_path, check_positive_int
from ..errors import InvalidArgumentError, InvalidTypeError
from ..experiments.cell_data import load_experiment_data
from ..experiments.outdir import LOCK_NAME, locked, prepare_out_dir
from ..experiments.results import RESULTS_NAME, RunResult
from ..experiments.runner import run_experiment
from .base import SCALES, Findings, Part, PartRuns, Study
from .cost import core_hours, run_count
from .report import format_report
from .studies import STUDIES

__all__ = ["StudyReport", "default_out_dir", "plan", "run_study", "study"]

MANIFEST = "study.json"
_MAX_MANIFEST = 1 << 20  # bytes: a manifest lists a few lines per invocation
REPORT = "report.md"
MEASURES = "measures.json"
_OWN = (MANIFEST, REPORT, MEASURES)


@dataclass
class StudyReport:
    """What :func:`run_study` returns: where the report is, the study's findings, and its status
    ('complete', or 'interrupted': run it again to resume)."""

    study: str
    scale: str
    out_dir: Path
    status: str
    findings: Findings | None
    runs: int
    wall_s: float


def study(name: Any) -> Study:
    """The study called ``name`` (InvalidArgumentError naming the studies, and the closest, otherwise)."""
    if not isinstance(name, str):
        raise InvalidTypeError(f"study must be a name (text), got {type(name).__name__}")
    if name not in STUDIES:
        close = difflib.get_close_matches(name, list(STUDIES), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise InvalidArgumentError(f"no study {name!r}{hint}; the studies: {', '.join(STUDIES)}")
    return STUDIES[name]


def _check_scale(scale: Any) -> str:
    if not isinstance(scale, str) or scale not in SCALES:
        raise InvalidArgumentError(f"scale must be one of {', '.join(SCALES)}, got {scale!r}")
    return scale


def plan(name: str, scale: str = "small", data_dir: str | os.PathLike[str] | None = None) -> list[Part]:
    """The experiments of study ``name`` at ``scale``, in the order they run (their data read from
    ``data_dir``: None, the experiment's default)."""
    chosen, scale = study(name), _check_scale(scale)
    parts = chosen.parts(scale)
    if data_dir is not None:
        folder = os.fspath(check_path("data_dir", data_dir))
        parts = [dataclasses.replace(p, config=dataclasses.replace(p.config, data_dir=folder)) for p in parts]
    return parts


def default_out_dir(name: str, scale: str) -> Path:
    """``results/reproduce-NAME-SCALE``: the same study at the same scale resumes there."""
    return Path("results") / f"reproduce-{study(name).name}-{_check_scale(scale)}"


def _check_folder(out: Path, name: str, scale: str, parts: list[Part]) -> dict[str, Any]:
    """The folder's manifest if it holds this study at this scale; a new one if it is missing or empty;
    refused if it holds anything else."""
    manifest = out / MANIFEST
    if manifest.is_file():
        saved = _read_manifest(manifest)
        if (saved.get("study"), saved.get("scale")) != (name, scale):
            raise InvalidArgumentError(
                f"out_dir {out} holds the study {saved.get('study')!r} at scale {saved.get('scale')!r}, not {name!r} "
                f"at scale {scale!r}: choose another (--out)"
            )
        if saved.get("parts") != [p.name for p in parts]:
            raise InvalidArgumentError(
                f"out_dir {out} holds {name} at scale {scale} as planned by another version (parts "
                f"{saved.get('parts')}, now {[p.name for p in parts]}): choose another (--out)"
            )
        return saved
    if out.exists() and (not out.is_dir() or any(f.name != LOCK_NAME for f in out.iterdir())):
        raise InvalidArgumentError(
            f"out_dir {out} exists and holds files that are not this study's: choose another (--out)"
        )
    return {"format": 1, "study": name, "scale": scale, "parts": [p.name for p in parts], "invocations": []}


def _read_manifest(path: Path) -> dict[str, Any]:
    """A folder's ``study.json``, checked (a file too large, not JSON, or not of this shape is refused
    before any work: the runs' wall times it holds are summed in the report)."""
    try:
        saved = json.loads(read_regular_file(path, max_bytes=_MAX_MANIFEST, what="the study's manifest",
                                             error=InvalidArgumentError))  # fmt: skip
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise InvalidArgumentError(f"{path} is not a study's manifest: {exc}") from None
    invocations = saved.get("invocations") if isinstance(saved, dict) else None
    walls_ok = isinstance(invocations, list) and all(
        isinstance(i, dict) and isinstance(i.get("wall_s"), (int, float)) and not isinstance(i.get("wall_s"), bool)
        and math.isfinite(i["wall_s"]) and i["wall_s"] >= 0 for i in invocations
    )  # fmt: skip
    if not isinstance(saved, dict) or not walls_ok:
        raise InvalidArgumentError(
            f"{path} is not a study's manifest: it must be a JSON object whose 'invocations' list each invocation's "
            "wall_s (seconds, a finite number >= 0)"
        )
    return saved


def run_study(
    name: str,
    scale: str = "small",
    *,
    out_dir: str | os.PathLike[str] | None = None,
    jobs: int | None = None,
    scheduler: str | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    yes: bool = False,
    progress: bool | None = None,
    command: str | None = None,
) -> StudyReport:
    """Run study ``name`` (see :data:`~dropout_lab.reproduce.STUDIES`) at ``scale`` and write its report.

    Args:
        scale: 'small' (minutes on two cores), 'paper' (a cluster's work: refused here without
            ``scheduler`` or ``yes``) or 'tiny' (a check of the pipeline).
        out_dir: the study's folder (None: :func:`default_out_dir`); the same study and scale resume there.
        jobs, scheduler, progress: as for :func:`~dropout_lab.experiments.run_experiment` (``jobs``
            None: one run per core).
        data_dir: where MNIST lies (None: $DROPOUT_LAB_DATA, then the per-user cache).
        yes: start the paper scale on this machine.
        command: the command line shown in the report (default: the one that gives the same study).

    Returns:
        The :class:`StudyReport`; ``status`` 'interrupted' when a signal stopped training (nothing is
        analysed then; the same call resumes).
    """
    chosen = study(name)
    parts = plan(name, scale, data_dir)
    if jobs is not None:
        check_positive_int("jobs", jobs)
    for flag, value in (("yes", yes), ("progress", progress)):
        if not isinstance(value, bool) and not (flag == "progress" and value is None):
            raise InvalidTypeError(f"{flag} must be True or False{' or None' * (flag == 'progress')}, got {value!r}")
    if scheduler is not None and (not isinstance(scheduler, str) or not scheduler.strip()):
        raise InvalidArgumentError(f"scheduler must be a Dask scheduler's address (tcp://HOST:PORT), got {scheduler!r}")
    if command is not None and not isinstance(command, str):
        raise InvalidTypeError(f"command must be text, got {type(command).__name__}")
    paper_parts = chosen.parts("paper")
    runs, paper_runs, paper_hours = run_count(parts), run_count(paper_parts), core_hours(paper_parts)
    if scale == "paper" and scheduler is None and not yes:
        raise InvalidArgumentError(
            f"the paper scale of {name} is {runs} runs, about {core_hours(parts):,.0f} core hours: run it on a Dask "
            "cluster (scheduler, --scheduler), or pass yes=True (--yes) to start it on this machine"
        )
    out = default_out_dir(name, scale) if out_dir is None else Path(check_path("out_dir", out_dir))
    manifest = _check_folder(out, name, scale, parts)
    if scheduler is None or chosen.needs_models:  # the data set loads (or fails) before any folder is made
        load_experiment_data(parts[0].config.cells()[0][1])
    if scheduler is not None:
        from ..experiments.distributed import check_reachable

        check_reachable(scheduler)
    command = command or f"dropout-lab reproduce {name} --scale {scale}"
    start = time.perf_counter()
    prepare_out_dir(out)
    with locked(out):
        manifest = _check_folder(out, name, scale, parts)  # again, under the lock
        atomic_write_text(out / MANIFEST, json.dumps(manifest, indent=1) + "\n")
        by_part: dict[str, PartRuns] = {}
        status = "complete"
        for part in parts:
            folder = out / part.name
            resume = (folder / RESULTS_NAME).is_file()
            results = run_experiment(
                part.config, out_dir=folder, jobs=jobs, progress=progress, resume=resume, scheduler=scheduler
            )
            by_part[part.name] = PartRuns(part, folder, list(results.runs))
            if results.status == "interrupted":
                status = "interrupted"
                break
        findings = None
        if status == "complete":
            empty = [part_name for part_name, p in by_part.items() if not any(r.status == "complete" for r in p.runs)]
            if empty:  # every run of a part diverged: nothing to compare
                findings = Findings(notes=[f"No complete run in {', '.join(empty)}: nothing to analyse."])
            else:
                findings = chosen.analyse(by_part, out, scale)
                if scale == "paper":  # the reasons offered are the small scale's (short runs, narrow nets)
                    findings.claims = [dataclasses.replace(c, reason="") for c in findings.claims]
        wall = time.perf_counter() - start
        invocation = {"wall_s": round(wall, 1), "jobs": jobs, "scheduler": scheduler, "status": status}
        manifest["invocations"].append(invocation)
        atomic_write_text(out / MANIFEST, json.dumps(manifest, indent=1) + "\n")
        if findings is not None:
            walls = [float(i["wall_s"]) for i in manifest["invocations"]]
            train_s = sum(r.wall_s for p in by_part.values() for r in p.runs)
            text = format_report(
                chosen, scale, parts, findings, command=command, runs=runs, train_s=train_s, walls=walls,
                paper_runs=paper_runs, paper_hours=paper_hours,
            )  # fmt: skip
            atomic_write_text(out / MEASURES, json.dumps(_measures(findings, by_part), indent=1) + "\n")
            atomic_write_text(out / REPORT, text)
    return StudyReport(name, scale, out, status, findings, runs, wall)


def _measures(findings: Findings, by_part: dict[str, PartRuns]) -> dict[str, Any]:
    claims = [dataclasses.asdict(c) for c in findings.claims]
    runs = {name: [_run_ref(r) for r in p.runs] for name, p in by_part.items()}
    return {"format": 1, "measures": findings.measures, "claims": claims, "runs": runs}


def _run_ref(run: RunResult) -> dict[str, Any]:
    test = None if run.test is None else run.test["weight_scaling"]["accuracy"]
    return {"keep_prob": run.keep_prob, "seed": run.seed, "settings": run.settings, "status": run.status,
            "test_accuracy": test, "final_train_acc": run.final_train_acc}  # fmt: skip
