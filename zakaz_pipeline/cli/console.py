"""What a run executed by ``zakaz`` shows on the terminal: progress and failed steps.

Dagster's console logger prints every event and a failed step's whole stack; those belong
to the run's log in the UI (the event log keeps everything). The terminal gets only the
progress lines the assets log (``defs/progress.py``) and one line per failed step —
unless ``--debug``.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from zakaz_pipeline.defs.progress import Progress
from zakaz_pipeline.errors import first_line, root_error

if TYPE_CHECKING:
    from dagster import EventLogEntry

ERROR_CLASS_PREFIX = re.compile(r"^(?:[A-Za-z_][\w]*\.)+[A-Za-z_]\w*: ")


def console_logging(debug: bool) -> dict[str, object]:
    """Run config for the run's console logger: quiet but for what ``RunConsole`` renders."""
    return {"loggers": {"console": {"config": {"log_level": "INFO" if debug else "CRITICAL"}}}}


class RunConsole:
    """Listens to a run's events in this process and writes, on stderr, the progress lines
    the assets log (``progress.Progress``) and one line per failed step — no stacks."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.renderer = ProgressRenderer(self.stream, terminal=self.stream.isatty())
        self.retried: set[str | None] = set()  # a step's retries are announced once
        self.interrupted = False

    def __call__(self, entry: EventLogEntry) -> None:
        progress = Progress.parse(entry.user_message) if not entry.is_dagster_event else None
        if progress is not None:
            self.renderer.show(progress)
            return
        event = entry.dagster_event
        if event is None or event.event_type_value not in ("STEP_FAILURE", "STEP_UP_FOR_RETRY"):
            return
        error = getattr(event.event_specific_data, "error", None)
        retry = event.event_type_value == "STEP_UP_FOR_RETRY"
        if _interrupted(error):
            # Dagster retries a step that a signal interrupted (a preempted pod comes back),
            # or fails it when the signal struck while an output was being stored; at a
            # terminal, Ctrl-C or a kill means stop either way: the run ends as failed, at once.
            self.interrupted = True
            raise KeyboardInterrupt
        cause = error_line(root_error(error).message) if error else event.message or ""
        if retry and event.step_key in self.retried:
            return
        self.retried.add(event.step_key)
        then = "failed, retrying" if retry else "failed"
        self.renderer.finish()
        self.stream.write(f"zakaz: step {event.step_key} {then}: {cause}\n")
        self.stream.flush()

    def close(self) -> None:
        self.renderer.finish()


def _interrupted(error: object) -> bool:
    """Whether a step error's chain holds a signal's interruption."""
    while error is not None:
        if getattr(error, "cls_name", None) in ("DagsterExecutionInterruptedError", "KeyboardInterrupt"):
            return True
        error = getattr(error, "cause", None)
    return False


def error_line(message: str) -> str:
    """A step error's first line without Dagster's ``module.ClassName: `` prefix."""
    return ERROR_CLASS_PREFIX.sub("", first_line(message), count=1)


class ProgressRenderer:
    """Writes progress to ``stream``: one line rewritten in place on a terminal, a line per
    update otherwise. ``finish()`` ends an in-place line so the next output starts clean."""

    def __init__(self, stream: TextIO, *, terminal: bool, clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.terminal = terminal
        self.clock = clock
        self.started = clock()
        self.open_line = False
        self.first: tuple[float, int] | None = None  # when the fetch's first progress came, and how far it was

    def show(self, progress: Progress) -> None:
        line = self.line(progress)
        if self.terminal:
            self.stream.write("\r\x1b[2K" + line)
            self.open_line = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def line(self, progress: Progress) -> str:
        """``orders read`` are the fetch's: the paid orders of a filtered fetch, every order
        of the pages a scan reads (``expected`` counts the same), not the orders sold that
        the summary counts. The ETA is the fetch's own pace since its first update: the
        seconds Dagster takes to load and start the run come before it and do not repeat."""
        now = self.clock()
        if self.first is None:
            self.first = (now, progress.fetched)
        expected = "" if progress.expected is None else f" / {progress.expected:,}"
        parts = [f"orders read {progress.fetched:,}{expected}", f"days {progress.days} / {progress.total_days}"]
        parts.append(f"elapsed {_duration(now - self.started)}")
        since, read_then = self.first
        read = progress.fetched - read_then
        if progress.expected and read > 0 and progress.fetched < progress.expected:
            parts.append(f"ETA {_duration((now - since) * (progress.expected - progress.fetched) / read)}")
        return "sync: " + ", ".join(parts)

    def finish(self) -> None:
        if self.open_line:
            self.stream.write("\n")
            self.stream.flush()
            self.open_line = False


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}:{secs:02d}" if minutes else f"{secs} s"
