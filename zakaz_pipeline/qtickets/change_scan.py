"""Late changes found without an ``updated_at`` filter: the order list read a few pages at
a time, each order's ``updated_at`` compared here.

Where the API does not honour ``updated_at >= since`` (``findings.py``), the only way to
see that an order paid months ago was refunded today is to read it again. A
``RollingScan`` walks the whole list by page number in cycles, ``pages`` per call: every
order updated since the start of the previous cycle (less ``OVERLAP`` for the clocks) is
a change, unless the same ``updated_at`` of that order was reported already (``seen``).
A change made behind the scan's position is read in the next cycle, so each change is
found within about two cycles; the cost is one request per page of the list per cycle, stated by
``cost``. Webhooks stay the fast path; this is the one that cannot miss a change.

If the list shrank since the last call (orders removed, positions moved back), the scan
steps back as many pages before going on: a page read twice costs a request, a page
skipped would cost a change.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

from zakaz_pipeline.qtickets.client import QticketsClient
from zakaz_pipeline.qtickets.page_scan import PageScan
from zakaz_pipeline.qtickets.rules import parse_ts

OVERLAP = dt.timedelta(hours=1)
FIRST_LOOKBACK = dt.timedelta(days=1)
Order = dict[str, Any]


@dataclass
class RollingScan:
    page: int = 1
    total: int | None = None
    list_pages: int = 0  # pages the whole list had at the last step
    since: str = ""  # changes at or after this instant count (ISO-8601)
    cycle_started: str = ""
    cycles: int = 0
    seen: dict[int, str] = field(default_factory=dict)  # order id → updated_at already reported

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RollingScan:
        seen = {int(key): value for key, value in data.get("seen", {}).items()}
        return cls(**{**data, "seen": seen})

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "seen": {str(key): value for key, value in self.seen.items()}}

    def step(
        self, client: QticketsClient, *, cycle: dt.timedelta, interval: dt.timedelta, now: dt.datetime
    ) -> list[Order]:
        """Read the next pages, as many as steps every ``interval`` need to read the list once
        per ``cycle``; return the orders changed since ``since`` not reported before."""
        if not self.since:
            self.since = (now - FIRST_LOOKBACK).isoformat()
            self.cycle_started = now.isoformat()
        scan = PageScan(client, "orders", first=self.page)
        if self.total is not None and scan.total < self.total:
            self.page = max(1, self.page - math.ceil((self.total - scan.total) / scan.per_page))
        self.list_pages = scan.last_page
        last = min(scan.last_page, self.page + pages_per_step(scan.last_page, cycle, interval) - 1)
        since = parse_ts(self.since)
        assert since is not None
        changed = [order for page in scan.pages(self.page, last) for order in page if self._changed(order, since)]
        self.total, self.page = scan.total, last + 1
        if self.page > scan.last_page:
            self._next_cycle(now)
        return changed

    def _changed(self, order: Order, since: dt.datetime) -> bool:
        stamp = order.get("updated_at")
        if not isinstance(stamp, str) or self.seen.get(order["id"]) == stamp:
            return False
        updated = parse_ts(stamp)
        if updated is None or updated < since:
            return False
        self.seen[order["id"]] = stamp
        return True

    def _next_cycle(self, now: dt.datetime) -> None:
        """The list was read to its end: the next cycle counts changes since this one began."""
        started = parse_ts(self.cycle_started) or now
        self.since = (started - OVERLAP).isoformat()
        self.cycle_started = now.isoformat()
        self.page, self.cycles = 1, self.cycles + 1
        since = started - OVERLAP
        self.seen = {key: stamp for key, stamp in self.seen.items() if (parse_ts(stamp) or since) >= since}


def pages_per_step(total_pages: int, cycle: dt.timedelta, interval: dt.timedelta) -> int:
    """Pages a call reads so that calls every ``interval`` read the whole list once per ``cycle``."""
    steps = max(1, int(cycle / interval))
    return max(1, math.ceil(total_pages / steps))


def cost(total_pages: int, cycle: dt.timedelta) -> str:
    """The rolling scan's API cost in words, for logs and the docs."""
    per_hour = total_pages / (cycle / dt.timedelta(hours=1))
    return f"{total_pages} requests every {cycle} (about {per_hour:.0f} an hour)"
