"""A list endpoint read by page numbers, with no filter to trust: what works whatever the
API does with ``where``.

Unfiltered ``/orders`` comes in ascending id order, oldest first, and new orders are
appended at the end, so page N is a stable slice of the list while nothing is removed
from it. ``PageScan`` reads pages side by side within the run's request limit and hands
them on in page order, checking every boundary: ids ascend within and across pages (an
overlap, the list moving forward, is dropped rather than doubled), every page but the last
is full, and ``paging.total`` never shrinks (if it does, items were removed before the scan's
position and the rest of the list moved back: the pages from before the move are read
again, skipping what was already handed on, rather than guessing). Growth at the end is
followed to the new end.

``locate`` finds the first page that can hold an item created at or after a moment (ids
ascend with creation time) from the end of the list backwards, so its cost grows with how
far back the moment is, not with the length of the history: a 15-minute tick reads the
list's last days, whatever its first year.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Iterable, Iterator
from typing import TypeVar

from zakaz_pipeline.qtickets.client import ListPage, Pages, QticketsClient, QticketsError
from zakaz_pipeline.qtickets.concurrency import in_order
from zakaz_pipeline.qtickets.rules import parse_ts

log = logging.getLogger(__name__)

R = TypeVar("R")
# How often the list may move back under one scan (more for a long list) before it gives up:
# each move re-reads a few pages, and a list that never stops moving is no list to page.
MAX_REREADS = 5


class PageScan:
    """One list endpoint by page number; ``per_page`` and ``total`` from the page ``first``
    read first (page 1 again when that one says neither)."""

    def __init__(self, client: QticketsClient, path: str, *, first: int = 1, per_page: int | None = None) -> None:
        self.client = client
        self.path = path
        self.asked_per_page = per_page
        self.requests = 0
        self.overlaps = 0
        self.rereads = 0
        self._cache: dict[int, ListPage] = {}
        opening = self.page(first)
        if opening.per_page is None and not opening.items and first != 1:
            opening = self.page(1)
        self.per_page = opening.per_page or len(opening.items) or 1
        self.total = opening.total if opening.total is not None else len(opening.items)

    @property
    def last_page(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    def page(self, number: int) -> ListPage:
        """Page ``number``, fetched once per scan (a page's content is fixed unless it is the last)."""
        if number not in self._cache:
            self._cache[number] = self._fetch(number)
        return self._cache[number]

    def _fetch(self, number: int) -> ListPage:
        page = self.client.list_page(self.path, number, per_page=self.asked_per_page)
        self.requests += 1
        ids = [item["id"] for item in page.items]
        if ids != sorted(ids) or len(set(ids)) != len(ids):
            raise QticketsError(f"GET {self.path} page {number}: ids are not in ascending order; cannot page safely")
        return page

    def locate(self, moment: dt.datetime, key: str = "created_at") -> int:
        """The first page that can hold an item whose ``key`` is at or after ``moment``:
        the last page whose first item's ``key`` is before it (1 when none is)."""

        def before(number: int) -> bool:
            items = self.page(number).items
            stamp = parse_ts(items[0].get(key)) if items else None
            return stamp is None or stamp < moment

        if not before(1):
            return 1
        high = self.last_page
        if before(high):
            return high
        step, low = 1, high
        while True:  # gallop back from the end: 1, 2, 4, … pages
            low = max(1, high - step)
            if low == 1 or before(low):
                break
            high, step = low, step * 2
        if not before(low):
            return 1
        while high - low > 1:  # before(low) and not before(high)
            middle = (low + high) // 2
            low, high = (middle, high) if before(middle) else (low, middle)
        return low

    def pages(self, first: int = 1, last: int | None = None) -> Pages:
        """The items of pages ``first``..``last`` (to the end of the list when ``None``), in
        order, side by side within the client's limit, each boundary checked (module doc)."""
        last_id: int | None = None
        number = first
        while True:
            end = self.last_page if last is None else last
            if number > end:
                return
            moved = False
            for page in self._in_order(range(number, end + 1)):
                if page.total is not None and page.total < self.total:
                    moved = self._moved_back(page)
                    number = max(first, page.number - math.ceil((self.total - page.total) / self.per_page) - 1)
                    self.total = page.total
                    break
                items = [item for item in page.items if last_id is None or item["id"] > last_id]
                self.overlaps += len(page.items) - len(items)
                if not page.items:
                    return
                self._check_full(page, end)
                if page.total is not None and page.total > self.total:
                    self.total = page.total  # appended while scanning: read on to the new end
                last_id = max(last_id or 0, page.items[-1]["id"])
                number = page.number + 1
                if items:
                    yield items
            if not moved and (last is not None or number > self.last_page):
                return

    def _moved_back(self, page: ListPage) -> bool:
        self.rereads += 1
        if self.rereads > max(MAX_REREADS, self.last_page // 5):
            raise QticketsError(
                f"GET {self.path}: the list kept shrinking while it was read ({self.rereads} times); "
                "a later run reads it again"
            )
        log.info(
            "GET %s: the list shrank from %d to %d items while read; re-reading", self.path, self.total, page.total
        )
        self._cache = {}
        return True

    def _check_full(self, page: ListPage, end: int) -> None:
        """A page short of ``per_page`` before the list's end means the server's pages are not
        the slices this scan computes: refuse rather than skip what lies between."""
        if len(page.items) < self.per_page and page.number < end and page.number < self.last_page:
            raise QticketsError(
                f"GET {self.path} page {page.number}: {len(page.items)} items where {self.per_page} were expected "
                "before the last page; the pages are not stable slices of the list"
            )

    def _in_order(self, numbers: Iterable[int]) -> Iterator[ListPage]:
        """Pages fetched side by side (those ``locate`` read, as they are), handed on in order."""
        limiter = self.client.limiter
        workers = limiter.max_in_flight if limiter is not None else 1
        return in_order(lambda n: self._cache.pop(n, None) or self._fetch(n), numbers, workers)
