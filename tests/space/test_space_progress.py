"""Progress bars: plain, rate-limited lines in a log file; a normal tqdm bar on a terminal."""

from __future__ import annotations

import io

import pytest
import tqdm  # noqa: F401  (the test extra installs it: no skip)

from scalenet.space.progress import LOG_INTERVAL_ENV, LineStream, log_interval, progress_bar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def run(stream: io.StringIO, steps: int = 200, **kwargs: object) -> str:
    bar = progress_bar(range(steps), total=steps, desc="train", stream=stream, **kwargs)
    for i in bar:
        if i % 10 == 0:
            bar.set_postfix(loss=i)
    bar.close()
    return stream.getvalue()


def test_log_file_gets_plain_lines_and_no_carriage_returns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LOG_INTERVAL_ENV, "0")
    text = run(io.StringIO())
    assert "\r" not in text
    lines = text.splitlines()
    assert lines[0].startswith("train:") and "0/200" in lines[0]
    assert "200/200" in lines[-1]
    assert all(line.startswith("train:") for line in lines)


def test_log_file_lines_are_rate_limited(monkeypatch: pytest.MonkeyPatch) -> None:
    # 200 updates and 20 postfix changes within far less than the interval: the opening line and
    # the final one only (set_postfix does not force a redraw).
    monkeypatch.setenv(LOG_INTERVAL_ENV, "3600")
    lines = run(io.StringIO()).splitlines()
    assert len(lines) == 2, lines
    assert "0/200" in lines[0] and "200/200" in lines[1]


def test_terminal_gets_a_redrawn_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LOG_INTERVAL_ENV, "3600")  # ignored on a terminal
    text = run(Terminal())
    assert text.count("\r") > 2


def test_disabled_bar_is_silent_and_keeps_the_methods() -> None:
    stream = io.StringIO()
    bar = progress_bar(range(3), enabled=False, stream=stream, total=3)
    assert list(bar) == [0, 1, 2]
    bar.update(1)
    bar.set_postfix(loss=1.0)
    bar.close()
    assert stream.getvalue() == ""


def test_leave_false_bar_leaves_no_blank_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LOG_INTERVAL_ENV, "0")
    stream = io.StringIO()
    bar = progress_bar(total=5, desc="eval", leave=False, stream=stream)
    for _ in range(5):
        bar.update(1)
    bar.close()
    lines = stream.getvalue().splitlines()
    assert lines and all(line.strip() for line in lines)


def test_line_stream_drops_redraw_codes() -> None:
    target = io.StringIO()
    stream = LineStream(target)
    stream.write("\rstep 1")
    stream.write("\r      \r")
    stream.write("\x1b[A\rstep 2")
    assert target.getvalue() == "step 1\nstep 2\n"
    assert not stream.isatty()


@pytest.mark.parametrize("value", ["soon", "-1", "nan", "inf"])
def test_bad_interval_names_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(LOG_INTERVAL_ENV, value)
    with pytest.raises(ValueError, match=f"{LOG_INTERVAL_ENV} must be a number of seconds >= 0"):
        log_interval()


def test_default_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(LOG_INTERVAL_ENV, raising=False)
    assert log_interval() == 30.0
