"""``python -m benchmarks``: run the benchmarks and write a Markdown table.

Usage: ``python -m benchmarks [--quick] [--only experiment,dropout,epoch,limit] [--reps N]
[--threads N] [--jobs 1,2,5] [--data-dir CIFAR_FOLDER] [--output PATH] [--no-torch] [--baseline SRC]``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shlex
import sys
import time
from pathlib import Path

from . import _harness as h
from . import dropout as dropout_bench
from . import epoch as epoch_bench
from . import experiment as experiment_bench

NAMES = ("experiment", "dropout", "epoch", "limit")
DEFAULT_OUTPUT = h.REPO_ROOT / "results" / "benchmarks.md"


def _positive_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}")
    return values


def _names(text: str) -> list[str]:
    names = [v.strip() for v in text.split(",") if v.strip()]
    unknown = [n for n in names if n not in NAMES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"--only takes some of {', '.join(NAMES)}, got {text!r}")
    return names


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="a short version (about a minute): smaller workloads, one repetition"
    )
    parser.add_argument(
        "--only", type=_names, default=list(NAMES), help=f"comma-separated subset of {', '.join(NAMES)}"
    )
    parser.add_argument("--reps", type=int, default=None, help="repetitions of each program (default 3, quick 1)")
    parser.add_argument(
        "--threads", type=int, default=os.cpu_count() or 1, help="threads for every program (default: all cores)"
    )
    parser.add_argument(
        "--jobs", type=_positive_list, default=[1, 2],
        help="dropout-lab experiment --jobs values to measure "
        "(default 1,2: serial, and one thread per core on 2 cores)",
    )
    parser.add_argument(
        "--data-dir", default=None,
        help="a cifar-10-batches-py folder for the experiment (default: synthetic data)",
    )
    parser.add_argument(
        "--output", type=Path, default=DEFAULT_OUTPUT,
        help=f"where the table goes (default {DEFAULT_OUTPUT.relative_to(h.REPO_ROOT)})",
    )
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out even if it is installed")
    parser.add_argument(
        "--baseline", default=None, metavar="SRC",
        help="also time the dropout-lab found in this folder (a src/ tree of another version) in the experiment "
        "and epoch benchmarks",
    )
    args = parser.parse_args(argv)
    if args.reps is None:
        args.reps = 1 if args.quick else 3
    if args.reps < 1 or args.threads < 1:
        parser.error("--reps and --threads must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = "python -m benchmarks" + "".join(" " + shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    torch_version = None if args.no_torch else h.torch_available()
    with_torch = torch_version is not None
    started = time.perf_counter()
    info = h.machine_info(args.threads)
    if args.no_torch:
        info["torch"] = "left out (--no-torch): PyTorch columns left out"
    else:
        info["torch"] = torch_version or "not installed (pip install 'dropout-lab[bench]'): PyTorch columns left out"
    info["data"] = __import__("benchmarks._data", fromlist=["describe"]).describe(args.data_dir)

    sections: list[tuple[str, str]] = []
    targets: list[dict] = []
    common = {"reps": args.reps, "threads": args.threads, "quick": args.quick, "with_torch": with_torch}
    if args.baseline is not None:
        info["baseline"] = f"dropout-lab from {args.baseline} (rows marked baseline)"
    if "experiment" in args.only or "limit" in args.only:
        print("experiment:", flush=True)
        measured = experiment_bench.run(
            jobs_variants=args.jobs, data_dir=args.data_dir, baseline=args.baseline, **common
        )
        exp_md, limit_md, exp_targets = experiment_bench.report(measured)
        if "experiment" in args.only:
            sections.append(("1. Experiment: dropout-lab against PyTorch", exp_md))
            targets += [t for t in exp_targets if t["target"].startswith("experiment")]
        if "limit" in args.only:
            sections.append(("4. Limit: the experiment's flop rate against NumPy's matmul", limit_md))
            targets += [t for t in exp_targets if t["target"].startswith("limit")]
    if "dropout" in args.only:
        print("dropout:", flush=True)
        md, t = dropout_bench.report(dropout_bench.run(**common))
        sections.append(("2. Dropout forward and backward", md))
        targets += t
    if "epoch" in args.only:
        print("epoch:", flush=True)
        md, t = epoch_bench.report(epoch_bench.run(baseline=args.baseline, **common))
        epoch_title = "3. One epoch (quick: 9,800 images)" if args.quick else "3. One epoch of 49,000 images"
        sections.append((epoch_title, md))
        targets += t
    sections.sort(key=lambda s: s[0])
    elapsed = time.perf_counter() - started

    lines = [
        "# dropout-lab benchmarks",
        "",
        f"Command: `{command}` ({datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}, {elapsed:.0f} s in all).",
        "",
        h.markdown_table(["machine", ""], [[k, v] for k, v in info.items()]),
        "",
        "## Targets",
        "",
        h.markdown_table(
            ["target", "measured", "met"],
            [[t["target"], t["measured"], "yes" if t["met"] else "**no**"] for t in targets],
        )
        if targets
        else "(none measured)",
    ]
    for title, md in sections:
        lines += ["", f"## {title}", "", md]
    text = "\n".join(lines) + "\n"
    print()
    print(text)
    from dropout_lab._io import atomic_write_text

    args.output.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.output, text)
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
