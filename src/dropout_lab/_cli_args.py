"""The command line's building blocks: exit statuses, the parser that reports in one line, and the
argument types (each names what was expected and what was typed)."""

from __future__ import annotations

import argparse
import signal
from collections.abc import Callable
from typing import Any, NoReturn

from .experiments.config import MAX_RUNS

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_DIVERGED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_TERMINATED = 128 + signal.SIGTERM  # 143
EXIT_BROKEN_PIPE = 128 + 13  # 141: SIGPIPE's number (signal.SIGPIPE does not exist on Windows)


class UsageError(Exception):
    """An argument error found by argparse; reported in one line."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, no usage block
        raise UsageError(f"{self.prog}: {message} (see '{self.prog} --help')")


def list_of(convert: Callable[[str], object], what: str) -> Callable[[str], tuple[object, ...]]:
    def parse(text: str) -> tuple[object, ...]:
        items = [t.strip() for t in text.split(",") if t.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of {what}, got {text!r}")
        try:
            return tuple(convert(t) for t in items)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of {what}, got {text!r}") from None

    return parse


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def nonneg_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {value}")
    return value


def seed_count(text: str) -> int:
    """--seeds K: refused before the K seeds are made (10**9 of them would fill the memory first)."""
    value = positive_int(text)
    if value > MAX_RUNS:
        raise argparse.ArgumentTypeError(
            f"expected at most {MAX_RUNS} seeds (an experiment holds at most {MAX_RUNS} runs: each run's record "
            f"stays in memory and in results.json), got {value}"
        )
    return value


def real(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def one_of(names: Any) -> str:
    names = list(names)
    return f"{', '.join(names[:-1])} or {names[-1]}"
