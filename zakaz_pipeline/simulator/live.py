"""A live shop: the simulated account keeps selling at the real clock while it is served.

``zakaz demo --ui`` runs one beside the simulator so that the Dagster UI has something
to pick up: a new paid order every few seconds (seats selling, so inventory changes),
and, in a fixed rotation, late payments of pending orders, refunds and cancellations of
orders sold days ago. Every change goes through the account's own mutation methods under
its lock, so the server's request threads never see half a change and the account stays
consistent (seats, prices, stamps). Which order each change hits comes from a seeded
generator.

Each old sales day is changed at most once per shop, and every change is appended to a
journal (JSON lines): what changed (kind, order, ticket), when, and the sales day it
restates. A test, or a person, can wait for the run that restates the day and compare the
warehouse with the account, read over the simulator's API; the journal holds no totals
because reckoning them is the tests' ground truth, not the shop's business.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Self
from zoneinfo import ZoneInfo

from zakaz_pipeline.qtickets.rules import require_ts
from zakaz_pipeline.simulator.shop import SimulatedAccount, ticket_is_live

logger = logging.getLogger(__name__)

# One change per step, in this order, round and round: mostly new orders, and each of the
# after-the-fact changes within the first few steps, so a short demo shows all of them.
ROTATION = ("order", "refund", "order", "late_payment", "order", "cancel", "order", "order")
OLD_DAY_MIN_AGE = dt.timedelta(days=3)  # older than the schedule's today-and-yesterday window
LATE_PAYMENT_WINDOW = dt.timedelta(days=2)  # a pending order this recent may still be paid


@dataclass(frozen=True)
class Change:
    """One change the shop made, as written to the journal: ``at`` is the account's clock
    when it was made, ``sales_date`` the day (of payment, in the shop's time zone) whose
    totals it changes, ``basket_id`` the refunded ticket."""

    at: str
    kind: str
    order_id: int
    sales_date: str
    basket_id: int | None = None


class LiveShop:
    """Changes ``account`` every ``interval`` seconds from a daemon thread until stopped.

    ``clock`` gives the real time (tests may pass their own); the account's clock is moved
    to it before every change, so new orders are sold "now" as the freshness checks expect.
    """

    def __init__(
        self,
        account: SimulatedAccount,
        *,
        seed: int,
        interval: float,
        timezone: str,
        journal: Path | None = None,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be above 0 seconds")
        self.account = account
        self.interval = interval
        self.journal = journal
        self.changes: list[Change] = []
        self._rng = random.Random(seed)
        self._zone = ZoneInfo(timezone)
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._steps = 0
        self._touched_days: set[dt.date] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Make the first change at once (the newest sale is then seconds old), then one per interval."""
        if self.journal is not None:
            self.journal.parent.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._run, name="live-shop", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def step(self) -> Change | None:
        """Make the rotation's next change; when nothing fits it (no pending order, no old
        day left, no free seat) the step sells a new order instead, or does nothing."""
        kind = ROTATION[self._steps % len(ROTATION)]
        self._steps += 1
        with self.account.lock:
            now = self._clock()
            if now > self.account.now:
                self.account.advance(now)
            change = self._apply(kind) or (self._apply("order") if kind != "order" else None)
        if change is not None:
            self.changes.append(change)
            self._write(change)
            level = logging.DEBUG if change.kind == "order" else logging.INFO
            logger.log(
                level, "live shop: %s of order %d (sales day %s)", change.kind, change.order_id, change.sales_date
            )
        return change

    def _run(self) -> None:
        while not self._stop.is_set():
            self.step()
            self._stop.wait(self.interval)

    def _apply(self, kind: str) -> Change | None:
        account = self.account
        if kind == "order":
            try:
                order = account.place_order(self._rng)
            except ValueError:
                return None
            return self._change(kind, order)
        if kind == "late_payment":
            pending = [
                order
                for order in account.orders
                if not order["payed"]
                and order["deleted_at"] is None
                and account.now - require_ts(order["created_at"]) <= LATE_PAYMENT_WINDOW
            ]
            if not pending:
                return None
            order = self._rng.choice(pending)
            account.pay_order(order["id"])
            return self._change(kind, order)
        candidates = self._old_paid_orders()
        if not candidates:
            return None
        order = self._rng.choice(candidates)
        self._touched_days.add(self._sales_day(order))
        if kind == "cancel":
            account.cancel_order(order["id"])
            return self._change(kind, order)
        basket = self._rng.choice([b for b in order["baskets"] if ticket_is_live(order, b)])
        account.refund_basket(order["id"], basket["id"])
        return self._change(kind, order, basket["id"])

    def _old_paid_orders(self) -> list[dict[str, Any]]:
        """Paid orders sold at least three days ago, with a live ticket, on a day not yet changed."""
        newest_day = (self.account.now - OLD_DAY_MIN_AGE).astimezone(self._zone).date()
        return [
            order
            for order in self.account.orders
            if order["payed_at"]
            and order["deleted_at"] is None
            and (day := self._sales_day(order)) <= newest_day
            and day not in self._touched_days
            and any(ticket_is_live(order, basket) for basket in order["baskets"])
        ]

    def _sales_day(self, order: dict[str, Any]) -> dt.date:
        return require_ts(order["payed_at"]).astimezone(self._zone).date()

    def _change(self, kind: str, order: dict[str, Any], basket_id: int | None = None) -> Change:
        return Change(
            at=self.account.now.isoformat(),
            kind=kind,
            order_id=order["id"],
            sales_date=self._sales_day(order).isoformat(),
            basket_id=basket_id,
        )

    def _write(self, change: Change) -> None:
        if self.journal is None:
            return
        with self.journal.open("a", encoding="utf-8") as out:
            out.write(json.dumps(asdict(change), ensure_ascii=False) + "\n")


def read_journal(path: Path) -> list[Change]:
    """The changes a shop wrote to ``path``, oldest first (none when it has written nothing yet)."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [Change(**json.loads(line)) for line in lines if line.strip()]
