"""A small text progress bar for long loops (the experiment's runs), drawn on stderr.

It redraws one line in place with a carriage return, at most about ten times a second, and prints
nothing at all when disabled, which by default it is unless its stream is a terminal: logs and pipes
stay clean.
"""

from __future__ import annotations

import math
import sys
import time
from numbers import Integral, Real
from types import TracebackType
from typing import Any, Callable, TextIO

from ._validation import _describe, check_positive_int, check_positive_real
from .errors import InvalidTypeError

__all__ = ["ProgressBar"]


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return False


def _format_seconds(seconds: float) -> str:
    seconds = max(0, int(math.ceil(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _format_value(value: Any) -> str:
    if isinstance(value, Real) and not isinstance(value, Integral):
        return f"{float(value):.4g}"
    return str(value)


class ProgressBar:
    """``desc [#####.....] 12/25 eta 3s key=val``, redrawn in place on ``stream``.

    The eta is ``elapsed * (total - count) / count`` ("?" before the first step); once ``count``
    reaches ``total`` it gives way to the elapsed time, ``in 42s``.

    Use as a context manager; the final state and a newline are written on exit, also when the block
    raises, so that a traceback starts on a fresh line::

        with ProgressBar(len(jobs), "runs") as bar:
            for job in jobs:
                bar.update(val_acc=run(job))

    Args:
        total: the number of steps (0 allowed: the bar is full at once).
        desc: the label in front of the bar.
        enabled: True draws, False prints nothing, None (default) draws only if ``stream`` is a
            terminal (``stream.isatty()``).
        stream: where to draw; default ``sys.stderr`` (looked up when the bar is made).
        width: the bar's width in characters.
        min_interval: the least number of seconds between two redraws (the last step always draws).
        clock: a monotonic clock in seconds; ``time.monotonic`` unless a test supplies its own.
    """

    def __init__(
        self,
        total: int,
        desc: str,
        *,
        enabled: bool | None = None,
        stream: TextIO | None = None,
        width: int = 30,
        min_interval: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = check_positive_int("total", total, allow_zero=True)
        if not isinstance(desc, str):
            raise InvalidTypeError(f"desc must be a str, got {_describe(desc)}")
        if enabled is not None and not isinstance(enabled, bool):
            raise InvalidTypeError(f"enabled must be True, False or None, got {_describe(enabled)}")
        self.width = check_positive_int("width", width)
        self.min_interval = check_positive_real("min_interval", min_interval, allow_zero=True)
        if not callable(clock):
            raise InvalidTypeError(f"clock must be a callable returning seconds, got {_describe(clock)}")
        self.desc = desc
        self.stream = sys.stderr if stream is None else stream
        if not callable(getattr(self.stream, "write", None)):
            raise InvalidTypeError(f"stream must be a text stream with write(), got {_describe(stream)}")
        self.enabled = _is_terminal(self.stream) if enabled is None else enabled
        self.count = 0
        self.postfix: dict[str, Any] = {}
        self._clock = clock
        self._start = clock()
        self._last_draw: float | None = None
        self._last_length = 0
        self._closed = False

    def __enter__(self) -> ProgressBar:
        self._draw()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def update(self, n: int = 1, **postfix: Any) -> None:
        """Advance by ``n`` steps and set ``postfix`` values (shown as ``key=value``, latest wins).

        Redraws only if ``min_interval`` seconds have passed since the last drawing or the bar has
        reached ``total``.
        """
        n = check_positive_int("n", n, allow_zero=True)
        self.count += n
        self.postfix.update(postfix)
        if not self.enabled or self._closed:
            return
        now = self._clock()
        due = self._last_draw is None or now - self._last_draw >= self.min_interval
        if due or self.count >= self.total:
            self._draw(now)

    def close(self) -> None:
        """Draw the final state and end the line; does nothing if disabled or already closed."""
        if self._closed:
            return
        self._closed = True
        if self.enabled:
            self._draw()
            self._write("\n")

    def render(self, now: float | None = None) -> str:
        """The line as it would be drawn now (without the carriage return)."""
        now = self._clock() if now is None else now
        elapsed = max(0.0, now - self._start)
        done = min(self.count, self.total)
        fraction = 1.0 if self.total == 0 else done / self.total
        filled = int(self.width * fraction)
        bar = "#" * filled + "." * (self.width - filled)
        if self.count >= self.total:
            timing = f"in {_format_seconds(elapsed)}"
        elif self.count == 0:
            timing = "eta ?"
        else:
            timing = f"eta {_format_seconds(elapsed * (self.total - self.count) / self.count)}"
        parts = [f"[{bar}]", f"{self.count}/{self.total}", timing]
        if self.desc:
            parts.insert(0, self.desc)
        parts.extend(f"{key}={_format_value(value)}" for key, value in self.postfix.items())
        return " ".join(parts)

    def _draw(self, now: float | None = None) -> None:
        if not self.enabled:
            return
        now = self._clock() if now is None else now
        line = self.render(now)
        # Spaces over whatever a longer previous line left behind.
        padding = " " * max(0, self._last_length - len(line))
        self._write("\r" + line + padding)
        self._last_draw = now
        self._last_length = len(line)

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (ValueError, OSError):  # a closed or broken stream must not stop the training
            pass
