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
import errno
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from . import __version__
from ._cli_args import (
    EXIT_BROKEN_PIPE,
    EXIT_DIVERGED,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
    EXIT_USAGE,
    Parser,
    UsageError,
)
from ._cli_experiment import FIELD_FLAGS, add_experiment_parser, run_experiment_command
from ._cli_reproduce import add_reproduce_parser, run_reproduce_command
from .errors import DropoutLabError
from .experiments.config import ExperimentConfig

__all__ = [
    "EXIT_BROKEN_PIPE", "EXIT_DIVERGED", "EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_TERMINATED",
    "EXIT_USAGE", "ExperimentConfig", "main",
]  # fmt: skip

# Each config field's flag (the experiment command's; kept here for the tests that check them).
_FIELD_FLAGS = FIELD_FLAGS

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


def _build_parser() -> Parser:
    parser = Parser(
        prog="dropout-lab",
        description="Inverted dropout in fully connected nets: the cs231n Dropout exercise as a tool.",
        epilog="Run 'dropout-lab COMMAND --help' for each command's options and examples.",
    )
    parser.add_argument("--version", action="version", version=f"dropout-lab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    add_experiment_parser(sub)
    add_reproduce_parser(sub)

    sub.add_parser(
        "check",
        help="run the exercise's sanity checks",
        description="Dropout statistics, the dropout gradient check and the net's gradient checks at keep "
        "1, 0.75 and 0.5; each measured value is printed with its tolerance. Exit 0 only if all pass.",
        epilog="example:\n  dropout-lab check",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )

    data = sub.add_parser("data", help="download data sets", description="Manage data sets.")
    data_sub = data.add_subparsers(dest="data_command", metavar="ACTION", parser_class=Parser)
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
        raise UsageError("dropout-lab data: choose an action: download (see 'dropout-lab data --help')")
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
            print("dropout-lab: choose a command: experiment, reproduce, check or data (see 'dropout-lab --help')",
                  file=sys.stderr)
            return EXIT_USAGE
        handler = {
            "experiment": run_experiment_command, "reproduce": run_reproduce_command, "check": _check, "data": _data,
        }[args.command]
        return handler(args)
    except UsageError as exc:
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
