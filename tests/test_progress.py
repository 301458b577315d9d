"""Tests for dropout_lab._progress: the stderr progress bar."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dropout_lab._progress import ProgressBar, _format_seconds
from dropout_lab.errors import InvalidArgumentError, InvalidTypeError


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


class FakeClock:
    def __init__(self, start: float = 100.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def _frames(text: str) -> list[str]:
    """The successive drawings: what follows each carriage return, without the final newline."""
    assert text.startswith("\r")
    return [frame.rstrip("\n") for frame in text.split("\r")[1:]]


def test_draws_on_a_terminal_by_default():
    stream, clock = FakeTTY(), FakeClock()
    with ProgressBar(4, "runs", stream=stream, width=8, clock=clock) as bar:
        clock.now += 3.0
        bar.update(loss=0.25)
    frames = _frames(stream.getvalue())
    assert frames[0] == "runs [........] 0/4 eta ?"
    # 1 of 4 after 3 s: 3 more steps at 3 s each.
    assert frames[1] == "runs [##......] 1/4 eta 9s loss=0.25"
    assert stream.getvalue().endswith("\n") and stream.getvalue().count("\n") == 1


def test_prints_nothing_when_the_stream_is_not_a_terminal():
    stream, clock = io.StringIO(), FakeClock()
    with ProgressBar(3, "runs", stream=stream, clock=clock) as bar:
        for _ in range(3):
            clock.now += 1.0
            bar.update(acc=0.5)
    assert not bar.enabled
    assert stream.getvalue() == ""


def test_enabled_overrides_the_terminal_check():
    quiet = FakeTTY()
    with ProgressBar(2, "x", stream=quiet, enabled=False) as bar:
        bar.update(2)
    assert quiet.getvalue() == ""
    forced = io.StringIO()
    with ProgressBar(2, "x", stream=forced, enabled=True) as bar:
        bar.update(2)
    assert forced.getvalue().startswith("\rx [") and forced.getvalue().endswith("\n")


def test_defaults_to_stderr(capsys):
    # pytest's captured stderr is not a terminal: nothing unless forced.
    with ProgressBar(1, "quiet") as bar:
        bar.update()
    with ProgressBar(1, "loud", enabled=True) as bar:
        bar.update()
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "quiet" not in captured.err
    assert "\rloud [" in captured.err and "1/1" in captured.err


def test_finishes_full_with_elapsed_time_and_a_newline():
    stream, clock = FakeTTY(), FakeClock()
    with ProgressBar(5, "epochs", stream=stream, width=10, clock=clock) as bar:
        for step in range(5):
            clock.now += 0.5
            bar.update(step=step)
    text = stream.getvalue()
    assert text.endswith("\n")
    assert _frames(text)[-1] == "epochs [##########] 5/5 in 3s step=4"  # 2.5 s, rounded up


def test_redraws_are_rate_limited():
    stream, clock = FakeTTY(), FakeClock()
    bar = ProgressBar(1000, "fast", stream=stream, clock=clock)
    with bar:
        for _ in range(99):  # no time passes: only the opening frame
            bar.update()
        assert stream.getvalue().count("\r") == 1
        clock.now += 0.0625  # binary fractions: no rounding at the 0.1 s threshold
        bar.update()
        assert stream.getvalue().count("\r") == 1
        clock.now += 0.0625
        bar.update()
        assert stream.getvalue().count("\r") == 2
    assert stream.getvalue().count("\r") == 3  # the closing frame
    assert _frames(stream.getvalue())[-1].split()[2] == "101/1000"


def test_at_most_about_ten_redraws_per_second():
    stream, clock = FakeTTY(), FakeClock()
    with ProgressBar(1000, "ticks", stream=stream, clock=clock) as bar:
        for _ in range(1000):  # 10 s in steps of 10 ms
            clock.now += 0.01
            bar.update()
    draws = stream.getvalue().count("\r")
    # The opening frame, one per 0.1 s (100 in 10 s, fewer if steps land just short), the last step
    # and the closing frame.
    assert 50 <= draws <= 103


def test_the_last_step_always_draws():
    stream, clock = FakeTTY(), FakeClock()
    bar = ProgressBar(3, "d", stream=stream, clock=clock, width=3)
    with bar:
        bar.update(3)  # no time has passed, but the bar is complete
        assert _frames(stream.getvalue())[-1] == "d [###] 3/3 in 0s"


def test_shorter_lines_are_padded_over_longer_ones():
    stream, clock = FakeTTY(), FakeClock()
    with ProgressBar(3, "pad", stream=stream, clock=clock) as bar:
        clock.now += 1
        bar.update(note="a rather long message")
        clock.now += 1
        bar.update(note="short")
    frames = _frames(stream.getvalue())
    # Each frame covers all of the text the previous one left on the line.
    for previous, frame in zip(frames, frames[1:]):
        assert len(frame) >= len(previous.rstrip(" "))
    assert frames[2].endswith("note=short" + " " * (len("a rather long message") - len("short")))


def test_postfix_values_merge_and_floats_are_short():
    stream, clock = FakeTTY(), FakeClock()
    with ProgressBar(2, "p", stream=stream, clock=clock) as bar:
        clock.now += 1
        bar.update(keep=0.5, seed=1)
        clock.now += 1
        bar.update(val_acc=0.123456789)
    assert _frames(stream.getvalue())[-1].endswith("keep=0.5 seed=1 val_acc=0.1235")


def test_an_exception_still_ends_the_line():
    stream = FakeTTY()
    with pytest.raises(RuntimeError, match="boom"):
        with ProgressBar(10, "fail", stream=stream) as bar:
            bar.update()
            raise RuntimeError("boom")
    assert stream.getvalue().endswith("\n")


def test_close_is_idempotent_and_updates_after_close_draw_nothing():
    stream = FakeTTY()
    bar = ProgressBar(2, "c", stream=stream)
    bar.close()
    bar.close()
    bar.update(2)
    assert stream.getvalue().count("\n") == 1
    assert stream.getvalue().count("\r") == 1


def test_zero_total_is_full_at_once():
    stream, clock = FakeTTY(), FakeClock()
    with ProgressBar(0, "none", stream=stream, width=4, clock=clock):
        pass
    assert _frames(stream.getvalue())[-1] == "none [####] 0/0 in 0s"


def test_empty_desc_has_no_leading_space():
    bar = ProgressBar(2, "", stream=io.StringIO(), width=2, clock=FakeClock())
    assert bar.render() == "[..] 0/2 eta ?"


def test_a_closed_stream_is_not_a_terminal_and_write_errors_are_ignored():
    closed = io.StringIO()
    closed.close()  # isatty() now raises ValueError
    assert not ProgressBar(2, "x", stream=closed).enabled
    forced = ProgressBar(2, "x", stream=closed, enabled=True)
    with forced:
        forced.update(2)  # writing to the closed stream must not raise


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (0.2, "1s"), (59, "59s"), (60, "1m00s"), (75, "1m15s"), (3599, "59m59s"),
     (3600, "1h00m"), (3700, "1h01m"), (-3, "0s")],
)
def test_format_seconds(seconds, text):
    assert _format_seconds(seconds) == text


@given(
    steps=st.lists(st.tuples(st.integers(0, 5), st.floats(0, 0.3)), max_size=40),
    total=st.integers(0, 60),
)
def test_frames_track_the_count_and_respect_the_rate(steps, total):
    stream, clock = FakeTTY(), FakeClock()
    start = clock.now
    with ProgressBar(total, "h", stream=stream, clock=clock, width=10) as bar:
        for n, dt in steps:
            clock.now += dt
            bar.update(n)
    frames = _frames(stream.getvalue())
    count = sum(n for n, _ in steps)
    assert frames[-1].split()[2] == f"{count}/{total}"
    filled = 10 if total == 0 else 10 * min(count, total) // total
    assert frames[-1].split()[1] == "[" + "#" * filled + "." * (10 - filled) + "]"
    # Rate: the opening and closing frames, one per 0.1 s, and the frames of steps at or past total.
    at_or_past_total = 0
    running = 0
    for n, _ in steps:
        running += n
        at_or_past_total += running >= total
    elapsed = clock.now - start
    assert len(frames) <= 2 + int(elapsed / 0.1) + 1 + at_or_past_total


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"total": -1, "desc": "x"}, InvalidArgumentError, "total"),
        ({"total": 2.5, "desc": "x"}, InvalidTypeError, "total"),
        ({"total": 2, "desc": 3}, InvalidTypeError, "desc must be a str"),
        ({"total": 2, "desc": "x", "enabled": "yes"}, InvalidTypeError, "enabled"),
        ({"total": 2, "desc": "x", "width": 0}, InvalidArgumentError, "width"),
        ({"total": 2, "desc": "x", "min_interval": -1.0}, InvalidArgumentError, "min_interval"),
        ({"total": 2, "desc": "x", "stream": object()}, InvalidTypeError, "stream"),
        ({"total": 2, "desc": "x", "clock": 5}, InvalidTypeError, "clock"),
    ],
)
def test_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        ProgressBar(**kwargs)


def test_update_rejects_negative_steps():
    bar = ProgressBar(2, "x", stream=io.StringIO())
    with pytest.raises(InvalidArgumentError, match="n must be a non-negative integer"):
        bar.update(-1)
    assert bar.count == 0
