"""What becomes of an order after it is placed: paid at once, late or never, cancelled
wholly or in part, refunded days later, or free.

Decided before seats are taken (a cancelled ticket gives its seat back), and never in
the future: a fate that would happen after ``now`` falls back to a plainer one. Its own
module because the shares and the timing rules are what one tunes to make the account
look like a real seller's, apart from how an order's JSON is written.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from decimal import Decimal

from zakaz_pipeline.qtickets.rules import CENT
from zakaz_pipeline.simulator.rendering import ROUBLE

FATES = ("normal", "unpaid", "late", "paid_cancelled", "partial_cancel", "refund", "free")
FATE_CUMULATIVE = (61, 76, 84, 87, 90, 95, 100)  # shares 61, 15, 8, 3, 3, 5, 5 %


@dataclass
class Fate:
    """What happens to an order after it is placed, decided before seats are taken."""

    kind: str
    payed_at: dt.datetime | None = None
    deleted_at: dt.datetime | None = None
    basket_deleted: dict[int, dt.datetime] = field(default_factory=dict)
    refunded: dict[int, tuple[dt.datetime, Decimal, Decimal]] = field(default_factory=dict)
    reserve_extended: bool = False

    def live(self, index: int) -> bool:
        return self.deleted_at is None and index not in self.basket_deleted and index not in self.refunded


def decide_fate(rng: random.Random, now: dt.datetime, kind: str, created: dt.datetime, quantity: int) -> Fate:
    """Decide payment, cancellation and refunds; anything that would happen after
    ``now`` has not happened yet, so such orders fall back to a plainer fate."""
    quick = created + dt.timedelta(seconds=rng.randint(5, 300))
    if kind in ("unpaid", "unpaid_cancelled", "pending"):
        cancelled = created + dt.timedelta(minutes=rng.uniform(15, 26 * 60))
        if kind == "pending" or (kind == "unpaid" and cancelled > now):
            return Fate("pending", reserve_extended=rng.random() < 0.3)
        cancelled = min(cancelled, now)
        return Fate("unpaid", deleted_at=cancelled, basket_deleted=dict.fromkeys(range(quantity), cancelled))
    if kind == "free":
        instant = created + dt.timedelta(seconds=rng.randint(0, 3))
        return Fate("free", payed_at=instant) if instant <= now else Fate("pending")
    if kind == "late":
        late = created + dt.timedelta(hours=rng.uniform(1, 120))
        return Fate("late", payed_at=late) if late <= now else Fate("pending")
    if quick > now:
        return Fate("pending")
    if kind == "paid_cancelled":
        cancelled = quick + dt.timedelta(hours=rng.uniform(1, 480))
        if cancelled <= now:
            return Fate(
                kind, payed_at=quick, deleted_at=cancelled, basket_deleted=dict.fromkeys(range(quantity), cancelled)
            )
    if kind == "partial_cancel":
        cancelled = quick + dt.timedelta(minutes=rng.uniform(10, 14400))
        if cancelled <= now:
            return Fate(kind, payed_at=quick, basket_deleted={rng.randrange(quantity): cancelled})
    if kind == "refund":
        refunded = quick + dt.timedelta(days=rng.uniform(7, 60))
        if refunded <= now:
            count = quantity if rng.random() < 0.5 else rng.randint(1, quantity)
            share = Decimal(0) if rng.random() < 0.5 else Decimal(rng.randint(10, 30)) / 100
            step = CENT if rng.random() < 0.3 else ROUBLE
            return Fate(
                kind,
                payed_at=quick,
                refunded=dict.fromkeys(rng.sample(range(quantity), count), (refunded, share, step)),
            )
    return Fate("normal", payed_at=quick)
