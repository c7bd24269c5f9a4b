"""The orders paid in a time window, fetched however the account's API allows.

Two strategies, chosen from the findings (``findings.py``) unless
``QTICKETS_ORDERS_STRATEGY`` forces one:

- ``filtered``: the API's ``payed_at`` filter, payment-time windows side by side, each a
  keyset scan (``client.iter_paid_orders``); every row is still checked locally. If the
  API turns out to ignore or refuse the filter, the fetch goes on as a scan (skipping the
  orders already handed on, so none is doubled) and the report says what was found: a fact
  about the API, not a failed run. Forced (``filtered``), the same discovery fails the fetch.
- ``scan``: no filter at all. The list by page number (``page_scan.py``), from the page of
  the orders created ``payment_lag`` before the window (the longest wait between an order
  and its payment seen on this account; ids ascend with creation) to the page of those
  created at its end, each order's ``payed_at`` compared here. A run told of an order paid
  longer after its creation (``created_from``) reads from there instead, and the report's
  longest lag grows, so later runs read far enough too.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from zakaz_pipeline.qtickets.client import (
    Pages,
    QticketsClient,
    QticketsFilterIgnored,
    QticketsFilterRefused,
    QticketsRequestError,
)
from zakaz_pipeline.qtickets.concurrency import payment_windows
from zakaz_pipeline.qtickets.findings import Findings, chosen_strategy
from zakaz_pipeline.qtickets.page_scan import PageScan
from zakaz_pipeline.qtickets.rules import parse_ts

log = logging.getLogger(__name__)

Order = dict[str, Any]
ProgressCallback = Callable[[int, int | None], None]
# Read a little earlier than the longest lag says: clocks and a lag measured to the second.
LAG_MARGIN = dt.timedelta(hours=1)
FORCED_HINT = "QTICKETS_ORDERS_STRATEGY=filtered forces it; unset it (auto) or set scan to fetch without the filter"


@dataclass
class FetchReport:
    """What a fetch did and found out about the API."""

    strategy: str
    orders_read: int = 0
    orders_kept: int = 0
    pages: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    ignored: set[str] = field(default_factory=set)
    refused: dict[str, str] = field(default_factory=dict)
    longest_lag: dt.timedelta = dt.timedelta(0)

    def learned(self, findings: Findings) -> Findings | None:
        """The findings with what this fetch found out, or None when it found nothing new."""
        updated = findings
        for name in self.ignored | set(self.dropped):
            updated = updated.with_filter(name, "ignored")
        for name, code in self.refused.items():
            updated = updated.with_filter(name, "refused", code)
        updated = updated.with_lag(self.longest_lag)
        return None if updated == findings else updated

    def summary(self) -> str:
        parts = [f"{self.strategy}: {self.orders_read} orders read in {self.pages} pages, {self.orders_kept} paid"]
        if self.dropped:
            parts.append("rows outside the filter dropped: " + ", ".join(f"{k} {v}" for k, v in self.dropped.items()))
        if self.ignored:
            parts.append("filters found ignored: " + ", ".join(sorted(self.ignored)))
        if self.refused:
            parts.append("filters found refused: " + ", ".join(f"{k} ({v})" for k, v in self.refused.items()))
        return "; ".join(parts)


class PaidOrders:
    """Pages of the orders paid in ``[start, end)``; ``report`` tells how they were fetched."""

    def __init__(self, client: QticketsClient, findings: Findings, *, strategy: str, tz: ZoneInfo) -> None:
        self.client = client
        self.findings = findings
        self.forced = strategy != "auto"
        self.tz = tz
        self.report = FetchReport(chosen_strategy(strategy, findings))

    def pages(
        self,
        start: dt.datetime,
        end: dt.datetime,
        *,
        created_from: dt.datetime | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> Pages:
        """The paid orders of the window, page by page; ``on_progress(read, expected)``
        after each page (``expected`` the API's count, ``None`` when unknown)."""
        progress = on_progress or (lambda read, expected: None)
        if self.report.strategy == "scan":
            yield from self._scan(start, end, created_from, progress, handed=set())
            return
        handed: set[int] = set()
        try:
            for page in self._filtered(start, end, progress):
                handed.update(order["id"] for order in page)
                yield page
        except (QticketsFilterIgnored, QticketsFilterRefused) as exc:
            if self.forced:
                raise QticketsRequestError(f"{exc}; {FORCED_HINT}", status=exc.status, code=exc.code) from None
            self._found(exc)
            log.warning("%s; fetching this window by the page scan instead", exc)
            self.report.strategy = "filtered, then scan"
            yield from self._scan(start, end, created_from, progress, handed=handed)

    def _filtered(self, start: dt.datetime, end: dt.datetime, progress: ProgressCallback) -> Pages:
        windows = payment_windows(start, end, self.tz)
        expected = self.client.count_paid_orders(start, end) if len(windows) > 1 else None
        read = 0

        def on_page(fetched: int, total: int | None) -> None:
            nonlocal expected
            expected = total

        pages = self.client.iter_paid_orders(
            start, end, windows=windows if len(windows) > 1 else None, on_page=on_page, dropped=self.report.dropped
        )
        for page in pages:
            read += len(page)
            self.report.pages += 1
            self._count(page, len(page))
            progress(read, max(expected, read) if expected is not None else None)
            yield page

    def _scan(
        self,
        start: dt.datetime,
        end: dt.datetime,
        created_from: dt.datetime | None,
        progress: ProgressCallback,
        *,
        handed: set[int],
    ) -> Pages:
        scan = PageScan(self.client, "orders")
        lower = start - self.findings.payment_lag - LAG_MARGIN
        if created_from is not None:
            lower = min(lower, created_from - LAG_MARGIN)
        first = scan.locate(lower)
        last = scan.locate(end)
        last_page = None if last >= scan.last_page else last  # to the end, following growth
        expected = ((last_page or scan.last_page) - first + 1) * scan.per_page
        read = 0
        try:
            for page in scan.pages(first, last_page):
                read += len(page)
                kept = [order for order in page if _paid_in(order, start, end) and order["id"] not in handed]
                self._count(page, len(kept))
                progress(read, max(expected, read))
                if kept:
                    yield kept
        finally:
            self.report.pages += scan.requests

    def _count(self, orders: list[Order], kept: int) -> None:
        report = self.report
        report.orders_read += len(orders)
        report.orders_kept += kept
        lags = (paid - created for paid, created in map(_paid_and_created, orders) if paid and created)
        report.longest_lag = max(report.longest_lag, *lags, dt.timedelta(0))

    def _found(self, exc: QticketsFilterIgnored | QticketsFilterRefused) -> None:
        for name in exc.filters:
            if isinstance(exc, QticketsFilterRefused):
                self.report.refused[name] = exc.code or f"HTTP {exc.status}"
            else:
                self.report.ignored.add(name)


def _paid_in(order: Order, start: dt.datetime, end: dt.datetime) -> bool:
    paid = parse_ts(order.get("payed_at"))
    return paid is not None and start <= paid < end


def _paid_and_created(order: Order) -> tuple[dt.datetime | None, dt.datetime | None]:
    return parse_ts(order.get("payed_at")), parse_ts(order.get("created_at"))
