"""A deterministic fake Qtickets seller account: its state and what happens to it.

``SimulatedAccount.generate`` builds one from a single seed (``generator.py`` and the
modules it draws with), so that a test, a benchmark and the ``zakaz simulator`` command
see byte-identical data for the same seed, sizes and ``now``. Objects keep the exact JSON
shape of the real API (the anonymized samples beside QTICKETS_API.md), so the client and
the loaders meet the real quirks: ``utm`` as ``[]`` or an object, float amounts,
``+03:00`` timestamps for every city, free tickets. This module holds only the state the
server answers from and the mutations that replay what happens to a real account after
the fact (late payments, refunds, cancellations, new sales), keeping the seat inventory
consistent with the orders. Each mutation also tells the account's listeners what Qtickets
would push to a seller's webhook (``subscribe``; ``webhooks.py`` delivers it); with no
listener nothing else happens, so the data are the same with or without one.
"""

from __future__ import annotations

import datetime as dt
import gc
import random
import threading
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from zakaz_pipeline.qtickets.rules import show_is_on_sale
from zakaz_pipeline.simulator.buyers import client_of
from zakaz_pipeline.simulator.generator import AccountGenerator, FastRandom
from zakaz_pipeline.simulator.order_factory import OrderFactory
from zakaz_pipeline.simulator.rendering import MOSCOW, format_ts, money, order_price, ticket_urls, to_decimal

# What a mutation tells a listener: the vendor's X-Event-Type, the order (read under the
# account's lock, so a listener must copy or encode it before returning) and the tickets a
# refund returned (the webhook body's ``refunded_baskets``).
ChangeListener = Callable[[str, dict[str, Any], list[dict[str, Any]]], None]


# What ``SimulatedAccount.corrupt`` puts into an order, as a broken or drifted upstream
# would send it: the field it breaks and the bad value (``None``: the key is removed).
CORRUPTIONS: dict[str, tuple[str, Any]] = {
    "price": ("price", "1 500,00"),  # a basket's price in a locale's format, not a number
    "baskets": ("baskets", None),  # the order without its tickets' key
    "quantity": ("quantity", -1),  # a basket of minus one ticket
    "timestamp": ("checked_at", "9999-12-31T23:59:59-14:00"),  # a moment past what a warehouse holds
}


def ticket_is_live(order: dict[str, Any], basket: dict[str, Any]) -> bool:
    """A ticket still holds its seat unless it or its order was cancelled or refunded."""
    return order["deleted_at"] is None and basket["deleted_at"] is None and basket["refunded_at"] is None


@dataclass
class SimulatedAccount:
    """The whole state of one fake seller account, in API-shaped dicts.

    ``lock`` guards every read and write so that a server thread can answer while a
    test mutates the account; ``revision`` grows with every change so that readers can
    cache query results safely.
    """

    events: list[dict]
    orders: list[dict]
    seats: dict[int, list[dict]]
    now: dt.datetime
    lock: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False, compare=False)
    revision: int = field(default=0, init=False, repr=False, compare=False)
    _orders_by_id: dict[int, dict] = field(init=False, repr=False, compare=False)
    _events_by_id: dict[int, dict] = field(init=False, repr=False, compare=False)
    _tickets_by_show: dict[int, list[tuple[dict, dict]]] = field(init=False, repr=False, compare=False)
    _listeners: list[ChangeListener] = field(default_factory=list, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        self._orders_by_id = {order["id"]: order for order in self.orders}
        self._events_by_id = {event["id"]: event for event in self.events}
        self._tickets_by_show = {show_id: [] for show_id in self.seats}
        for order in self.orders:
            for basket in order["baskets"]:
                self._tickets_by_show.setdefault(basket["show_id"], []).append((order, basket))
        for show_id in self.seats:
            self._recount_seats(show_id)

    @classmethod
    def generate(
        cls,
        *,
        seed: int = 1,
        orders: int = 2000,
        events: int = 12,
        now: dt.datetime | None = None,
        history_days: int = 120,
    ) -> SimulatedAccount:
        """Build an account; the same arguments always give the same JSON."""
        if events < 1:
            raise ValueError("an account needs at least one event")
        if now is None:
            now = dt.datetime.now(MOSCOW).replace(second=0, microsecond=0)
        elif now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        generator = AccountGenerator(FastRandom(seed), now.astimezone(MOSCOW), history_days)
        # Generation allocates millions of acyclic dicts; the cycle collector would only
        # rescan them again and again (it doubles the time for 100k orders).
        collecting = gc.isenabled()
        gc.disable()
        try:
            slots = generator.build_events(events)
            order_list = generator.build_orders(slots, orders)
            return cls(
                events=generator.events,
                orders=order_list,
                seats={slot.show["id"]: slot.seats for slot in slots},
                now=now.astimezone(MOSCOW),
            )
        finally:
            if collecting:
                gc.enable()

    def order(self, order_id: int) -> dict:
        """The order with this id (KeyError when there is none)."""
        return self._orders_by_id[order_id]

    def event(self, event_id: int) -> dict:
        """The event with this id (KeyError when there is none)."""
        return self._events_by_id[event_id]

    def first_payment_date(self, tz: str) -> dt.date:
        """The earliest day, in ``tz``, on which any order was paid: where backfills start."""
        zone = ZoneInfo(tz)
        with self.lock:
            stamps = [dt.datetime.fromisoformat(o["payed_at"]) for o in self.orders if o["payed_at"]]
        if not stamps:
            raise ValueError("no order of this account has been paid")
        return min(stamps).astimezone(zone).date()

    def subscribe(self, listener: ChangeListener) -> Callable[[], None]:
        """Call ``listener`` after every change, under the lock; returns the unsubscribe.
        A listener must be quick (copy, enqueue): the server's threads wait on the lock."""
        with self.lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self.lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def refund_basket(
        self, order_id: int, basket_id: int, *, deduction: Decimal | int = 0, at: dt.datetime | None = None
    ) -> None:
        """Refund one ticket, keeping ``deduction`` roubles; the basket itself stays."""
        with self.lock:
            order, basket = self._basket(order_id, basket_id)
            if not order["payed"]:
                raise ValueError(f"order {order_id} was never paid; there is nothing to refund")
            if basket["deleted_at"] is not None:
                raise ValueError(f"basket {basket_id} is cancelled; there is nothing to refund")
            price, kept = to_decimal(basket["price"]), to_decimal(deduction)
            if not Decimal(0) <= kept <= price:
                raise ValueError(f"deduction {kept} is outside 0..{price}")
            stamp = self._stamp(at)
            basket["refunded_at"] = stamp
            basket["refunded_amount"] = money(price - kept)
            basket["refunded_deduction_amount"] = money(kept)
            self._touch(order, [basket], stamp)
            self._notify("refunded", order, [basket])

    def check_in(self, order_id: int, basket_id: int, *, at: dt.datetime | None = None) -> None:
        """A ticket scanned at the door: ``checked_at`` is set, no sale changes (whether the
        real API moves ``updated_at`` then is not documented: here it does not)."""
        with self.lock:
            order, basket = self._basket(order_id, basket_id)
            basket["checked_at"] = self._stamp(at)
            self.revision += 1
            self._notify("checked", order)

    def cancel_basket(self, order_id: int, basket_id: int, *, at: dt.datetime | None = None) -> None:
        """Cancel one ticket of an order; the order's price drops by the ticket's price."""
        with self.lock:
            order, basket = self._basket(order_id, basket_id)
            stamp = self._stamp(at)
            _cancel(basket, stamp)
            order["price"] = order_price(order["baskets"], order["deleted_at"])
            self._touch(order, [basket], stamp)
            self._notify("updated", order)

    def cancel_order(self, order_id: int, *, at: dt.datetime | None = None) -> None:
        """Cancel an order; its live tickets go with it, as in real cancelled orders."""
        with self.lock:
            order = self.order(order_id)
            stamp = self._stamp(at)
            order["deleted_at"] = stamp
            touched = [b for b in order["baskets"] if b["deleted_at"] is None]
            for basket in touched:
                _cancel(basket, stamp)
            self._touch(order, touched, stamp)
            self._notify("deleted", order)

    def pay_order(self, order_id: int, *, at: dt.datetime | None = None) -> None:
        """Mark an order paid (a late payment); a cancelled order cannot be paid."""
        with self.lock:
            order = self.order(order_id)
            if order["deleted_at"] is not None:
                raise ValueError(f"order {order_id} is cancelled and cannot be paid")
            stamp = self._stamp(at)
            order["payed"] = True
            order["payed_at"] = stamp
            for basket in order["baskets"]:
                basket["pdf_url"], basket["passbook_url"] = ticket_urls(order["uniqid"], basket["barcode"])
            self._touch(order, order["baskets"], stamp)
            self._notify("payed", order)

    def place_order(self, rng: random.Random, *, skip_shows: Collection[int] = ()) -> dict:
        """A new paid one-ticket order for a free seat of a show on sale, taken at ``now``
        as a live shop keeps selling while a scan pages; like every new order it gets the
        highest id. ``rng`` picks the seat and the order's details; ``skip_shows`` keeps
        some shows unsold (a show whose pace is zero). ValueError when there is no order to
        continue from or no free seat on sale."""
        with self.lock:
            if not self.orders:
                raise ValueError("the account has no order to continue the ids from")
            free = [
                (event, show, seat)
                for event in self.events
                for show in event["shows"]
                if show_is_on_sale(event, show, self.now) and show["id"] not in skip_shows
                for seat in self.seats[show["id"]]
                if not seat["disabled"] and seat["free_quantity"] > 0
            ]
            if not free:
                raise ValueError("no show on sale has a free seat")
            event, show, seat = rng.choice(free)
            last = self.orders[-1]
            factory = OrderFactory(
                rng,
                self.now,
                [client_of(rng.choice(self.orders))],
                order_id=last["id"],
                basket_id=max(basket["id"] for basket in last["baskets"]),
            )
            order = factory.paid_order(event, show, seat)
            self.orders.append(order)
            self._orders_by_id[order["id"]] = order
            for basket in order["baskets"]:
                self._tickets_by_show.setdefault(basket["show_id"], []).append((order, basket))
            self._touch(order, [], order["updated_at"])
            # Created and paid at once, as a card payment completes: Qtickets sends both.
            self._notify("created", order)
            self._notify("payed", order)
            return order

    def erase_order(self, order_id: int) -> None:
        """The order leaves the account altogether (not cancelled: gone from every list);
        its tickets give their seats back."""
        with self.lock:
            order = self._orders_by_id.pop(order_id)
            self.orders.remove(order)
            shows = {basket["show_id"] for basket in order["baskets"]}
            for show_id in shows:
                self._tickets_by_show[show_id] = [t for t in self._tickets_by_show[show_id] if t[0] is not order]
                self._recount_seats(show_id)
            self.revision += 1

    def corrupt(self, kind: str, rng: random.Random) -> tuple[int, int | None]:
        """Put the bad value ``CORRUPTIONS[kind]`` into a paid order that ``rng`` picks
        (into its first ticket, for a basket's field), as the API would serve it; returns
        the order's and the basket's id. The ground truth of that order is then undefined,
        and the account's own changes (drift, a live shop) must not touch it."""
        field, value = CORRUPTIONS[kind]
        with self.lock:
            order = rng.choice([order for order in self.orders if order["payed_at"] and order["baskets"]])
            basket = order["baskets"][0]
            if field == "baskets":
                del order["baskets"]
            else:
                basket[field] = value
            self.revision += 1
            return order["id"], None if field == "baskets" else basket["id"]

    def advance(self, to: dt.datetime) -> None:
        """Move the account's clock forward (shows go off sale, "today" changes)."""
        if to.tzinfo is None:
            raise ValueError("to must be timezone-aware")
        with self.lock:
            if to < self.now:
                raise ValueError("the account's clock only moves forward")
            self.now = to.astimezone(MOSCOW)
            self.revision += 1

    def _basket(self, order_id: int, basket_id: int) -> tuple[dict, dict]:
        order = self.order(order_id)
        for basket in order["baskets"]:
            if basket["id"] == basket_id:
                return order, basket
        raise KeyError(f"order {order_id} has no basket {basket_id}")

    def _stamp(self, at: dt.datetime | None) -> str:
        return format_ts(self.now if at is None else at)

    def _touch(self, order: dict, baskets: list[dict], stamp: str) -> None:
        for basket in baskets:
            basket["updated_at"] = stamp
        order["updated_at"] = stamp
        for show_id in {basket["show_id"] for basket in order["baskets"]}:
            self._recount_seats(show_id)
        self.revision += 1

    def _notify(self, event_type: str, order: dict, refunded: list[dict] | None = None) -> None:
        for listener in self._listeners:
            listener(event_type, order, refunded or [])

    def _recount_seats(self, show_id: int) -> None:
        """Derive a show's seat quantities from its live tickets (the only source of truth)."""
        payed: Counter[str] = Counter()
        ordered: Counter[str] = Counter()
        for order, basket in self._tickets_by_show.get(show_id, ()):
            if ticket_is_live(order, basket):
                (payed if order["payed"] else ordered)[basket["seat_id"]] += basket["quantity"]
        for seat in self.seats[show_id]:
            seat["payed_quantity"] = payed[seat["id"]]
            seat["ordered_quantity"] = ordered[seat["id"]]
            seat["free_quantity"] = seat["max_quantity"] - seat["payed_quantity"] - seat["ordered_quantity"]
            seat["available"] = not seat["disabled"] and seat["free_quantity"] > 0


def _cancel(basket: dict, stamp: str) -> None:
    basket["deleted_at"] = stamp
    if basket["refunded_amount"] is None:
        basket["refunded_amount"] = 0
        basket["refunded_deduction_amount"] = 0
