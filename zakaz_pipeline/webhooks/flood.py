"""What keeps a flood of bad requests cheap for the receiver, whose address is public and
whose refusals anyone can provoke without a secret: a log that says each kind of trouble a
few times a minute and then counts it (``LineBudget``), and refusals counted in memory and
written to the queue as a few numbers every few seconds (``RefusalTally``), not as one
fsync'd row per request.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import Counter
from collections.abc import Mapping

from zakaz_pipeline.webhooks.queue import minute_of

WINDOW_SECONDS = 60.0
LINES_PER_WINDOW = 5
SUMMARY = "zakaz_summary"  # a record carrying this attribute is a budget's own summary: never held


class LineBudget(logging.Filter):
    """At most ``lines`` records of each kind pass in a window; the rest are held back and
    counted, and ``summarize`` (called once a window) logs one line per kind saying how many.
    A kind is a logger and its message template (``refused a webhook delivery from %s: %d,
    %s``), so one noisy kind never hides another; attached to our logger and uvicorn's."""

    def __init__(self, logger: logging.Logger, *, lines: int = LINES_PER_WINDOW, window: float = WINDOW_SECONDS):
        super().__init__()
        self.logger, self.lines, self.window = logger, lines, window
        self._passed: Counter[tuple[str, str]] = Counter()
        self._held: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        self._since = time.monotonic()

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, SUMMARY, False):
            return True
        kind = (record.name, str(record.msg))
        with self._lock:
            if self._passed[kind] < self.lines:
                self._passed[kind] += 1
                return True
            self._held[kind] += 1
            return False

    def summarize(self) -> None:
        """Say what was held back in the window now ending, and start the next one."""
        with self._lock:
            held, self._held, self._passed = self._held, Counter(), Counter()
            seconds, self._since = time.monotonic() - self._since, time.monotonic()
        for (name, template), count in sorted(held.items()):
            self.logger.warning(
                "%d more like %r (%s) in the last %.0f s, not logged one by one",
                count, template.strip(), name, seconds, extra={SUMMARY: True},
            )  # fmt: skip


class RefusalTally:
    """Refusals by minute and reason, kept in memory until ``drain`` hands them to
    ``WebhookQueue.record_refusals``; used from the event loop's thread only."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[dt.datetime, str]] = Counter()

    def add(self, reason: str, at: dt.datetime | None = None) -> None:
        self._counts[(minute_of(at or dt.datetime.now(dt.UTC)), reason)] += 1

    def drain(self) -> dict[tuple[dt.datetime, str], int]:
        counts, self._counts = dict(self._counts), Counter()
        return counts

    def restore(self, counts: Mapping[tuple[dt.datetime, str], int]) -> None:
        """Put back counts the queue could not take, for the next write."""
        self._counts.update(counts)
