"""``dropout-lab reproduce``: list the studies of Srivastava et al. (2014) that the library remakes, or run one
(:func:`dropout_lab.reproduce.run_study`) and print its verdicts."""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
from typing import Any

from ._cli_args import EXIT_INTERRUPTED, EXIT_OK, EXIT_TERMINATED, UsageError, positive_int
from ._cli_experiment import SCHEDULER_ENV_VAR

__all__ = ["add_reproduce_parser", "run_reproduce_command"]

_EXAMPLES = """examples:
  dropout-lab reproduce                                  # the studies
  dropout-lab reproduce fig11-mc-averaging --data-dir ~/data/mnist --jobs 2
  dropout-lab reproduce fig9-dropout-rate --scale paper --scheduler tcp://head:8786 --out /shared/fig9

Each study runs as sweeps of the dropout experiment into one folder (default results/reproduce-NAME-SCALE):
one experiment folder per part, report.md with the paper's values beside ours and a verdict per claim, its
figures, and measures.json (every number of the report). The same command again resumes it. --scale paper
is a cluster's work: it is refused on this machine without --scheduler or --yes.
"""


def add_reproduce_parser(sub: Any) -> None:
    from .reproduce import SCALES

    rep = sub.add_parser(
        "reproduce",
        help="reproduce the dropout paper's MNIST results (Srivastava et al. 2014)",
        description="Reproduce a figure or table of Srivastava et al. (2014), 'Dropout: A Simple Way to Prevent "
        "Neural Networks from Overfitting', on MNIST. Without a study name, list the studies.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rep.add_argument("study", nargs="?", metavar="STUDY", help="the study to run (omit it to list them)")
    rep.add_argument("--scale", choices=SCALES, default="small",
                     help="small (default: minutes on two cores), paper (the paper's nets and updates, for a "
                     "cluster) or tiny (seconds: checks the pipeline, its numbers mean nothing)")
    rep.add_argument("--out", metavar="DIR", help="the study's folder (default results/reproduce-STUDY-SCALE)")
    rep.add_argument("--data-dir", metavar="DIR", help="where MNIST lies (default $DROPOUT_LAB_DATA or the cache)")
    rep.add_argument("--jobs", type=positive_int, metavar="N",
                     help="runs trained at once (default: one per core this process may use)")
    rep.add_argument("--scheduler", metavar="ADDRESS",
                     help=f"a Dask scheduler (tcp://HOST:PORT) to send each run to (default ${SCHEDULER_ENV_VAR}, "
                     "else this process); --out must be a folder the workers reach at the same path")
    rep.add_argument("--yes", action="store_true", help="start the paper scale on this machine")
    rep.add_argument("--quiet", action="store_true", help="no progress bar")


def _list_studies() -> int:
    from .reproduce import STUDIES, plan
    from .reproduce.cost import core_hours, run_count

    rows = [("study", "in the paper", "small: runs", "paper: runs, core hours")]
    for name, chosen in STUDIES.items():
        paper = chosen.parts("paper")
        paper_cost = f"{run_count(paper)}, about {core_hours(paper):,.0f}"
        rows.append((name, chosen.source, str(run_count(plan(name))), paper_cost))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    print("\nrun one: dropout-lab reproduce STUDY [--scale small|paper|tiny] [--out DIR] (see --help)")
    return EXIT_OK


def run_reproduce_command(args: argparse.Namespace) -> int:
    """List the studies, or run one and print its verdicts."""
    from .experiments.scheduler import last_stop_signal
    from .reproduce import run_study
    from .reproduce.report import VERDICTS

    given = (
        ("--out", args.out, "folder"), ("--data-dir", args.data_dir, "folder"),
        ("--scheduler", args.scheduler, "Dask scheduler's address (tcp://HOST:PORT)"),
    )  # fmt: skip
    for option, value, what in given:
        if value is not None and not value.strip():
            raise UsageError(f"dropout-lab reproduce: argument {option}: expected a {what}, got {value!r}")
    if args.study is None:
        used = [flag for flag, value in (("--scale", args.scale != "small"), ("--out", args.out),
                ("--data-dir", args.data_dir), ("--jobs", args.jobs), ("--scheduler", args.scheduler),
                ("--yes", args.yes), ("--quiet", args.quiet)) if value]  # fmt: skip
        if used:
            raise UsageError(
                f"dropout-lab reproduce: {', '.join(used)} needs a study to run (see 'dropout-lab reproduce')"
            )
        return _list_studies()
    scheduler = args.scheduler if args.scheduler is not None else os.environ.get(SCHEDULER_ENV_VAR) or None
    # The command that runs the same study again (and so resumes it), for the report.
    words = ["dropout-lab reproduce", args.study]
    words += ["--scale", args.scale] if args.scale != "small" else []
    for flag, value in (("--out", args.out), ("--data-dir", args.data_dir), ("--jobs", args.jobs)):
        words += [flag, shlex.quote(str(value))] if value else []
    words += ["--scheduler", shlex.quote(args.scheduler)] if args.scheduler else []
    words += ["--yes"] if args.yes else []
    report = run_study(
        args.study, args.scale, out_dir=args.out, jobs=args.jobs, scheduler=scheduler, data_dir=args.data_dir,
        yes=args.yes, progress=False if args.quiet else None, command=" ".join(words),
    )  # fmt: skip
    if report.status == "interrupted":
        again = " ".join(sys.argv[1:]) if sys.argv[1:2] == ["reproduce"] else f"reproduce {args.study}"
        print(f"dropout-lab: interrupted; continue with: dropout-lab {again}", file=sys.stderr)
        return EXIT_TERMINATED if last_stop_signal() == signal.SIGTERM else EXIT_INTERRUPTED
    for claim in report.findings.claims if report.findings is not None else []:  # a complete study has findings
        print(f"{VERDICTS[claim.reproduced]:>15}: {claim.text}")
    print(f"\nwrote {report.out_dir / 'report.md'} ({report.runs} runs, {report.wall_s:.0f} s)")
    return EXIT_OK
