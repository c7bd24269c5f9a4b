"""Progress of a long fetch: the line the asset logs and how the CLI shows it.

A first sync of a real account pages through 100k+ orders for minutes. The asset says how
far it is through Dagster's logger (``context.log``), so the UI's run log shows it too; the
message has one fixed form, written and read here, so the CLI can turn it into a progress
line: updated in place on a terminal, printed as plain periodic lines otherwise.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

PREFIX = "progress: "
EVERY_SECONDS = 10.0
_PATTERN = re.compile(
    r"^progress: (?P<fetched>\d+) of (?P<expected>\d+|\?) paid orders fetched, (?P<days>\d+) of (?P<total_days>\d+) "
    r"sales days with tickets so far$"
)


@dataclass(frozen=True)
class Progress:
    fetched: int
    expected: int | None  # the API's paging.total; None when it does not say
    days: int  # sales days of the range whose tickets have been fetched
    total_days: int

    def message(self) -> str:
        expected = "?" if self.expected is None else str(self.expected)
        return (
            f"{PREFIX}{self.fetched} of {expected} paid orders fetched, "
            f"{self.days} of {self.total_days} sales days with tickets so far"
        )

    @classmethod
    def parse(cls, text: str) -> Progress | None:
        found = _PATTERN.match(text)
        if found is None:
            return None
        expected = found["expected"]
        return cls(
            int(found["fetched"]),
            None if expected == "?" else int(expected),
            int(found["days"]),
            int(found["total_days"]),
        )


class Throttle:
    """True for the first call, then at most once every ``seconds``."""

    def __init__(self, seconds: float = EVERY_SECONDS) -> None:
        self.seconds = seconds
        self.last: float | None = None

    def due(self) -> bool:
        now = time.monotonic()
        if self.last is None or now - self.last >= self.seconds:
            self.last = now
            return True
        return False


class ProgressRenderer:
    """Writes progress to ``stream``: one line rewritten in place on a terminal, a line per
    update otherwise. ``finish()`` ends an in-place line so the next output starts clean."""

    def __init__(self, stream: TextIO, *, terminal: bool, clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.terminal = terminal
        self.clock = clock
        self.started = clock()
        self.open_line = False

    def show(self, progress: Progress) -> None:
        line = self.line(progress)
        if self.terminal:
            self.stream.write("\r\x1b[2K" + line)
            self.open_line = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def line(self, progress: Progress) -> str:
        elapsed = self.clock() - self.started
        parts = [f"orders {progress.fetched:,}" + ("" if progress.expected is None else f" / {progress.expected:,}")]
        parts.append(f"days {progress.days} / {progress.total_days}")
        parts.append(f"elapsed {_duration(elapsed)}")
        if progress.expected and 0 < progress.fetched < progress.expected:
            parts.append(f"ETA {_duration(elapsed * (progress.expected - progress.fetched) / progress.fetched)}")
        return "sync: " + ", ".join(parts)

    def finish(self) -> None:
        if self.open_line:
            self.stream.write("\n")
            self.stream.flush()
            self.open_line = False


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}:{secs:02d}" if minutes else f"{secs} s"
