"""The ``dropout-lab`` command line: it parses arguments, builds configuration, calls the library
and prints. User errors become one line on stderr and exit status 2; bugs keep their traceback.

Exit statuses: 0 success; 1 a bug (traceback) or failed sanity checks; 2 bad input (arguments,
data, files); 3 training diverged (results are still written); 130 interrupted by SIGINT (Ctrl-C) and
143 by SIGTERM (``kill``, systemd, cluster schedulers), both at any moment and resumable (128 + the
signal's number, as a shell reports a process the signal ended); 141 the reader of standard output
went away (``dropout-lab check | head -2``: 128 + SIGPIPE, as for a C program, quietly: the output was
cut short, so not 0).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import errno
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

from . import __version__
from .data import DATA_ENV_VAR, DATASETS
from .errors import DropoutLabError, InvalidArgumentError
from .experiments.config import MAX_RUNS, ExperimentConfig
from .experiments.outdir import NewFolder
from .experiments.runner import default_jobs, run_experiment
from .experiments.scheduler import last_stop_signal
from .optim import UPDATE_RULES

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_DIVERGED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_TERMINATED = 128 + signal.SIGTERM  # 143
EXIT_BROKEN_PIPE = 128 + 13  # 141: SIGPIPE's number (signal.SIGPIPE does not exist on Windows)

# OSErrors the user's machine causes, not the program: a folder without permission, a full or
# read-only disk, a file-size limit (ulimit -f), a path too long. They get one line and status 2 like
# any other user error; every other OSError keeps its traceback.
_ENVIRONMENT_ERRNOS = frozenset(
    code
    for code in (
        errno.EACCES, errno.EPERM, errno.ENOSPC, getattr(errno, "EDQUOT", None), errno.EROFS,
        errno.ENAMETOOLONG, errno.EFBIG,
    )
    if code is not None
)


class _UsageError(Exception):
    """An argument error found by argparse; reported in one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, no usage block
        raise _UsageError(f"{self.prog}: {message} (see '{self.prog} --help')")


def _list_of(convert: Callable[[str], object], what: str) -> Callable[[str], tuple[object, ...]]:
    def parse(text: str) -> tuple[object, ...]:
        items = [t.strip() for t in text.split(",") if t.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of {what}, got {text!r}")
        try:
            return tuple(convert(t) for t in items)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of {what}, got {text!r}") from None

    return parse


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _nonneg_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {value}")
    return value


def _seed_count(text: str) -> int:
    """--seeds K: refused before the K seeds are made (10**9 of them would fill the memory first)."""
    value = _positive_int(text)
    if value > MAX_RUNS:
        raise argparse.ArgumentTypeError(
            f"expected at most {MAX_RUNS} seeds (an experiment holds at most {MAX_RUNS} runs: each run's record "
            f"stays in memory and in results.json), got {value}"
        )
    return value


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


EXPERIMENT_EXAMPLES = """\
examples:
  dropout-lab experiment                                  # the exercise's settings on the embedded digits
  dropout-lab experiment --seeds 5 --jobs 2 --out results/digits
  dropout-lab experiment --dataset cifar10 --data-dir ~/data/cifar-10-batches-py --seeds 3
  dropout-lab experiment --keep-probs 1,0.5 --hidden-dims 256,256 --epochs 10
  dropout-lab experiment --resume results/digits          # continue an interrupted experiment
  dropout-lab experiment --seeds 5 --out results/digits --force  # replace that experiment

Without --out each experiment gets a new folder, results/experiment-YYYYMMDD-HHMMSS. A new experiment
never writes into a folder that holds another experiment's files; --force replaces that experiment
(removing only the files dropout-lab wrote there). While an experiment runs its folder is locked: a
second process on it (a --resume included) is refused.

Keep probabilities are probabilities of KEEPING a unit (1 = no dropout), the opposite of PyTorch's p.
"""


DEFAULT_OUT = "results/experiment"  # a base name: each experiment gets DEFAULT_OUT-YYYYMMDD-HHMMSS


def _shown(value: Any) -> str:
    """A default as one would type it: lists comma-separated, numbers in their shortest form."""
    if isinstance(value, tuple):
        return ",".join(_shown(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _default(name: str, *, none: str = "none") -> str:
    """ExperimentConfig's default for the setting ``name``, as the help shows it (``none`` for None),
    read from the config itself so that the help never disagrees with it."""
    [field] = [f for f in dataclasses.fields(ExperimentConfig) if f.name == name]
    return none if field.default is None else _shown(field.default)


def _one_of(names: Any) -> str:
    names = list(names)
    return f"{', '.join(names[:-1])} or {names[-1]}"


def _build_parser() -> _Parser:
    parser = _Parser(
        prog="dropout-lab",
        description="Inverted dropout in fully connected nets: the cs231n Dropout exercise as a tool.",
        epilog="Run 'dropout-lab COMMAND --help' for each command's options and examples.",
    )
    parser.add_argument("--version", action="version", version=f"dropout-lab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    exp = sub.add_parser(
        "experiment",
        help="train the same net at several keep probabilities and compare them",
        description="Train the same net at several dropout keep probabilities (and seeds), write "
        "results.json and accuracy.png, and print a summary with confidence intervals.",
        epilog=EXPERIMENT_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    exp.add_argument("--keep-probs", type=_list_of(float, "keep probabilities"), metavar="LIST",
                     help=f"comma-separated keep probabilities (default {_default('keep_probs')})")
    exp.add_argument("--hidden-dims", type=_list_of(int, "layer sizes"), metavar="LIST",
                     help=f"comma-separated hidden layer sizes (default {_default('hidden_dims')})")
    exp.add_argument("--num-train", type=_positive_int, metavar="N",
                     help=f"training examples (default {_default('num_train')})")
    exp.add_argument("--num-val", type=_positive_int, metavar="N",
                     help=f"validation examples (default {_default('num_val', none='all')})")
    exp.add_argument("--epochs", type=_positive_int, metavar="N", help=f"epochs (default {_default('epochs')})")
    exp.add_argument("--batch-size", type=_positive_int, metavar="N",
                     help=f"minibatch size (default {_default('batch_size')})")
    exp.add_argument("--update-rule", metavar="NAME",
                     help=f"{_one_of(UPDATE_RULES)} (default {_default('update_rule')})")
    exp.add_argument("--lr", type=_float, metavar="X", help=f"learning rate (default {_default('learning_rate')})")
    exp.add_argument("--weight-scale", type=_float, metavar="X",
                     help=f"initial weight std (default {_default('weight_scale')})")
    exp.add_argument("--reg", type=_float, metavar="X", help=f"L2 strength (default {_default('reg')})")
    exp.add_argument("--dtype", metavar="NAME", help=f"float32 or float64 (default {_default('dtype')})")
    exp.add_argument("--dataset", metavar="NAME",
                     help=f"{_one_of(DATASETS)} (default {_default('dataset')}; digits is embedded)")
    exp.add_argument("--data-dir", metavar="DIR",
                     help=f"CIFAR-10 folder (default {_default('data_dir', none=f'${DATA_ENV_VAR} or the cache')})")
    seeds = exp.add_mutually_exclusive_group()
    seeds.add_argument("--seeds", type=_seed_count, metavar="K",
                       help=f"run seeds 0..K-1 (default: seeds {_default('seeds')})")
    seeds.add_argument("--seed", type=_nonneg_int, metavar="S", help="run the single seed S")
    exp.add_argument("--jobs", type=_positive_int, metavar="N",
                     help="threads that train the runs, an epoch at a time in turn (default: the cores this process "
                     f"may use over --threads-per-run, {default_jobs(1)} here at 1 thread a run; the best choice)")
    exp.add_argument("--threads-per-run", type=_positive_int, metavar="N",
                     help=f"BLAS threads of each run, whatever --jobs is (default {_default('threads_per_run')}; a "
                     "run's numbers depend on it, never on --jobs)")
    exp.add_argument("--out", metavar="DIR",
                     help=f"output folder (default: a new one, {DEFAULT_OUT}-YYYYMMDD-HHMMSS)")
    exp.add_argument("--force", action="store_true",
                     help="replace the experiment in --out (only the files dropout-lab wrote are removed)")
    exp.add_argument("--resume", metavar="DIR", help="continue the interrupted experiment in DIR")
    exp.add_argument("--quiet", action="store_true", help="no progress bar")

    sub.add_parser(
        "check",
        help="run the exercise's sanity checks",
        description="Dropout statistics, the dropout gradient check and the net's gradient checks at keep "
        "1, 0.75 and 0.5; each measured value is printed with its tolerance. Exit 0 only if all pass.",
        epilog="example:\n  dropout-lab check",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )

    data = sub.add_parser("data", help="download data sets", description="Manage data sets.")
    data_sub = data.add_subparsers(dest="data_command", metavar="ACTION", parser_class=_Parser)
    download = data_sub.add_parser(
        "download",
        help="download a data set",
        description="Download CIFAR-10's python version (about 163 MB) or MNIST's four idx files (about 11 MB), "
        "verify them (MD5) and install them in the data folder; --from installs files you have, verified alike.",
        epilog="examples:\n  dropout-lab data download mnist --data-dir ~/data\n  dropout-lab data download cifar10 "
        "--from ~/Downloads/cifar-10-python.tar.gz\n  dropout-lab data download mnist --from ~/Downloads/mnist",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    download.add_argument("dataset", choices=["cifar10", "mnist"], help="the data set (cifar10 or mnist)")
    download.add_argument("--data-dir", metavar="DIR", help="where to put it (default $DROPOUT_LAB_DATA or the cache)")
    where = download.add_mutually_exclusive_group()
    where.add_argument("--url", metavar="URL", help="a mirror: cifar10's tarball, or mnist's base URL")
    where.add_argument("--from", dest="source", metavar="PATH", help="install what you have: cifar10: the file "
                       "cifar-10-python.tar.gz; mnist: a folder holding the four .gz files (or them uncompressed)")
    download.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


_CONFIG_OPTIONS = {
    "keep_probs": "keep_probs", "hidden_dims": "hidden_dims", "num_train": "num_train", "num_val": "num_val",
    "epochs": "epochs", "batch_size": "batch_size", "update_rule": "update_rule", "lr": "learning_rate",
    "weight_scale": "weight_scale", "reg": "reg", "dtype": "dtype", "dataset": "dataset", "data_dir": "data_dir",
    "threads_per_run": "threads_per_run",
}

# Each config field's flag: its argparse dest with dashes, as argparse made the dest (test_cli checks them).
_FIELD_FLAGS = {field: "--" + option.replace("_", "-") for option, field in _CONFIG_OPTIONS.items()}
_LEADING_FIELD = re.compile(r"(?P<field>[a-z_]+)(?:\[(?P<index>\d+)\])?(?![\w\[])")


@contextlib.contextmanager
def _errors_name_flags(args: argparse.Namespace) -> Iterator[None]:
    """A library error raised inside this block that starts with a config field (``learning_rate must
    be ...``, ``keep_probs[1] ...``) names the flag the user typed instead (``--lr must be ...``,
    ``--keep-probs item 2 ...``): the one line on stderr then speaks the command line's language."""
    try:
        yield
    except DropoutLabError as exc:
        if len(exc.args) != 1:  # an OSError's (errno, text): not a message to rewrite
            raise
        text = str(exc)
        flags = {**_FIELD_FLAGS, "seeds": "--seed" if args.seed is not None else "--seeds"}
        match = _LEADING_FIELD.match(text)
        if match is not None and match["field"] in flags:
            named = flags[match["field"]]
            if match["index"] is not None and match["field"] != "seeds":  # --seed is one value; --seeds K can't fail
                named += f" item {int(match['index']) + 1}"
            text = named + text[match.end() :]
        # Sizes quoted in parentheses (the memory estimate's "(batch_size 100)"), and the data folder.
        for field, flag in flags.items():
            text = text.replace(f"({field} ", f"({flag} ")
        exc.args = (text.replace("pass root= (or set", "pass --data-dir (or set"),)
        raise


def _finished_before(folder: Path) -> bool:
    """Whether results.json in ``folder`` says its experiment is complete (diverged runs are trained
    again on a resume; a damaged file is run_experiment's to report)."""
    from .experiments.results import read_results

    with contextlib.suppress(DropoutLabError, OSError):
        return read_results(folder).get("status") == "complete"
    return False


def _table_notes(config: ExperimentConfig) -> list[str]:
    """What the summary table leaves out, and how to get it."""
    one_seed = "one seed: run with --seeds K (K >= 2, say --seeds 5) for confidence intervals and a verdict"
    no_keep_1 = ("no keep probability 1 (no dropout) in --keep-probs: the columns that compare with it are "
                 "missing; add 1 to the list to get them")  # fmt: skip
    return [one_seed] * (len(config.seeds) == 1) + [no_keep_1] * (1.0 not in config.keep_probs)


def _experiment(args: argparse.Namespace) -> int:
    from .experiments import format_summary_table
    from .experiments.records import keep_text

    for option, value in (("--resume", args.resume), ("--out", args.out)):
        if value is not None and not value.strip():
            raise _UsageError(f"dropout-lab experiment: argument {option}: expected a folder, got {value!r}")
    if args.resume is not None:
        given = [opt for opt in _CONFIG_OPTIONS if getattr(args, opt) is not None]
        other = [name for name, used in (
            ("--out/--seed(s)", args.seeds is not None or args.seed is not None or args.out is not None),
            ("--force", args.force),
        ) if used]  # fmt: skip
        if given or other:
            names = ", ".join("--" + o.replace("_", "-") for o in given) or ", ".join(other)
            raise InvalidArgumentError(f"--resume continues the saved configuration; drop {names}")
        progress = False if args.quiet else None  # None: a bar only when stderr is a terminal
        finished = _finished_before(Path(args.resume))
        results = run_experiment(out_dir=args.resume, jobs=args.jobs, progress=progress, resume=True)
        if finished:
            print(f"nothing to do: every run in {args.resume} was complete already\n")
    else:
        settings = {
            field: getattr(args, opt) for opt, field in _CONFIG_OPTIONS.items() if getattr(args, opt) is not None
        }
        if args.seeds is not None:
            settings["seeds"] = tuple(range(args.seeds))
        elif args.seed is not None:
            settings["seeds"] = (args.seed,)
        out_dir = NewFolder(DEFAULT_OUT) if args.out is None else Path(args.out)
        with _errors_name_flags(args):  # the config comes from the flags: its errors name them
            config = ExperimentConfig(**settings)
            results = run_experiment(
                config, out_dir=out_dir, jobs=args.jobs, progress=False if args.quiet else None, force=args.force
            )
    # The folder the results went to (the one chosen when --out was not given).
    out = results.out_dir if results.out_dir is not None else Path(args.resume or args.out)

    print(format_summary_table(results.summary))
    for note in _table_notes(results.config):
        print(note)
    # The figure shows completed runs only: none is drawn while interrupted or when every run diverged.
    plotted = results.status != "interrupted" and any(run.status == "complete" for run in results.runs)
    print(f"\nwrote {out / 'results.json'}" + (f" and {out / 'accuracy.png'}" if plotted else ""))
    if results.status == "interrupted":
        print(f"dropout-lab: interrupted; continue with: dropout-lab experiment --resume {out}", file=sys.stderr)
        return EXIT_TERMINATED if last_stop_signal() == signal.SIGTERM else EXIT_INTERRUPTED
    if results.status == "diverged":
        for run in results.runs:
            if run.status == "diverged":
                print(f"dropout-lab: keep {keep_text(run.keep_prob)} seed {run.seed}: {run.message}", file=sys.stderr)
        return EXIT_DIVERGED
    return EXIT_OK


def _check(args: argparse.Namespace) -> int:
    from .checks import run_sanity_checks

    results = run_sanity_checks()
    width = max(len(r.name) for r in results)
    for r in results:
        print(f"{'PASS' if r.passed else 'FAIL'}  {r.name:<{width}}  {r.value:.3e} <= {r.tolerance:.1e}")
    failed = sum(not r.passed for r in results)
    print(f"{len(results) - failed} passed, {failed} failed")
    return EXIT_OK if failed == 0 else EXIT_FAILED


def _data(args: argparse.Namespace) -> int:
    from .data import download_cifar10, download_mnist

    if args.data_command != "download":
        raise _UsageError("dropout-lab data: choose an action: download (see 'dropout-lab data --help')")
    mnist = args.dataset == "mnist"
    options: dict[str, Any] = {} if args.source is None else {"source": args.source}
    if args.url is not None:
        options["mirrors" if mnist else "url"] = (args.url,) if mnist else args.url
    download = download_mnist if mnist else download_cifar10
    path = download(args.data_dir, progress=not args.quiet, **options)
    print(f"{'MNIST' if mnist else 'CIFAR-10'} is in {path}")
    return EXIT_OK


def _error_line(text: str) -> None:
    """Print ``text`` on stderr as exactly one line (a path or a value may hold a newline)."""
    print(" ".join(text.splitlines()), file=sys.stderr)


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised where SIGINT raises KeyboardInterrupt: whatever handles an interrupt (a run's
    checkpoint, an atomic write's clean-up) handles it alike."""


def _raise_terminated(signum: int, frame: Any) -> None:
    raise _Terminated


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM interrupts like SIGINT inside this block (the main thread's handlers only; the previous
    handler comes back afterwards). The experiment's runs catch both themselves while they train."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _stdout_is_gone() -> bool:
    """Whether standard output is a pipe whose reader went away: poll() reports an error condition on
    it (where poll() does not exist, any broken pipe is taken to be standard output's)."""
    try:
        import select

        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except AttributeError:  # no select.poll (Windows)
        return True
    except (OSError, ValueError):  # no file descriptor: not a pipe that broke
        return False


def _silence_stdout() -> None:
    """Point standard output at /dev/null, so that the interpreter's own flush at exit does not fail
    again on the broken pipe (and print 'Exception ignored')."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    with _sigterm_as_interrupt():
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            print("dropout-lab: choose a command: experiment, check or data (see 'dropout-lab --help')",
                  file=sys.stderr)
            return EXIT_USAGE
        handler = {"experiment": _experiment, "check": _check, "data": _data}[args.command]
        return handler(args)
    except _UsageError as exc:
        _error_line(str(exc))
        return EXIT_USAGE
    except DropoutLabError as exc:
        _error_line(f"dropout-lab: error: {exc}")
        return EXIT_USAGE
    except BrokenPipeError:
        if not _stdout_is_gone():  # another pipe (a socket, a subprocess): not ours to hide
            raise
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except OSError as exc:
        if exc.errno not in _ENVIRONMENT_ERRNOS:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        _error_line(f"dropout-lab: error: {where}{exc.strerror or exc}")
        return EXIT_USAGE
    except KeyboardInterrupt as exc:
        print("dropout-lab: interrupted", file=sys.stderr)
        return EXIT_TERMINATED if isinstance(exc, _Terminated) else EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
