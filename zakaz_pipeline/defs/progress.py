"""Progress of a long fetch: the line the orders asset logs, in one fixed form.

A first sync of a real account pages through 100k+ orders for minutes. The asset says how
far it is through Dagster's logger (``context.log``), so the UI's run log shows it too; the
message is written and parsed here, so the CLI (``cli/console.py``) can turn it into a
progress line without either side guessing the other's wording.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

PREFIX = "progress: "
EVERY_SECONDS = 10.0
_PATTERN = re.compile(
    r"^progress: (?P<fetched>\d+) of (?P<expected>\d+|\?) orders read, (?P<days>\d+) of (?P<total_days>\d+) "
    r"sales days with tickets so far$"
)


@dataclass(frozen=True)
class Progress:
    fetched: int  # orders read: the paid ones of a filtered fetch, every order of the pages a scan reads
    expected: int | None  # what the fetch will read in all (the API's paging.total); None when unknown
    days: int  # sales days of the range whose tickets have been fetched
    total_days: int

    def message(self) -> str:
        expected = "?" if self.expected is None else str(self.expected)
        return (
            f"{PREFIX}{self.fetched} of {expected} orders read, "
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
