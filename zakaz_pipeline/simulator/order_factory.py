"""Orders: one API-shaped order (with its tickets) for a moment, a show on sale and a fate.

The generator calls it for each of an account's orders in time order, and the account
itself for each new sale of the live shop, so both write orders the same way. The seats
a show still has live on its ``Slot``, which the factory consumes as it sells.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from zakaz_pipeline.simulator.buyers import Client, client_json, holder_fields
from zakaz_pipeline.simulator.fates import FATE_CUMULATIVE, FATES, Fate, decide_fate
from zakaz_pipeline.simulator.halls import seat_name
from zakaz_pipeline.simulator.reference_data import (
    DISCOUNTS,
    FREE_DISCOUNT,
    NUMERIC_PAYMENT_TYPES,
    SITES,
    UTM_SHAPES,
    UTM_VALUES,
)
from zakaz_pipeline.simulator.rendering import ROUBLE, format_ts, money, order_price, ticket_urls, to_decimal

_TICKET_COUNTS = (1, 2, 3, 4, 5, 6)
_TICKET_COUNT_CUMULATIVE = (30, 65, 77, 89, 94, 100)
_RESERVATION = dt.timedelta(days=1)


@dataclass
class Slot:
    """A show while orders are generated: its sale window and what is left to sell."""

    event: dict
    show: dict
    opens: dt.datetime
    closes: dt.datetime
    starts: dt.datetime
    finishes: dt.datetime
    admission: bool
    popularity: float
    seats: list[dict]
    names: dict[str, str]
    prices: dict[str, int] = field(default_factory=dict)
    enabled: list[str] = field(default_factory=list)
    free_seats: list[str] = field(default_factory=list)
    left: dict[str, int] = field(default_factory=dict)

    def capacity(self) -> int:
        return len(self.free_seats) if not self.admission else sum(self.left.values())


class OrderFactory:
    """Turns a creation moment into one API-shaped order, with its fate and seats."""

    def __init__(
        self,
        rng: random.Random,
        now: dt.datetime,
        clients: list[Client],
        *,
        order_id: int = 1600000,
        basket_id: int = 12000000,
    ) -> None:
        """``order_id`` and ``basket_id`` are the last ids taken: new ones grow from them."""
        self.rng = rng
        self.now = now
        self.clients = clients
        self.order_id = order_id
        self.basket_id = basket_id

    def _pick_client(self) -> Client:
        # Skewed towards the start of the pool: a few loyal buyers, many one-timers.
        return self.clients[int(len(self.clients) * self.rng.random() ** 1.3)]

    def build(self, created: dt.datetime, on_sale: list[Slot], *, last: bool) -> dict:
        rng = self.rng
        quantity = rng.choices(_TICKET_COUNTS, cum_weights=_TICKET_COUNT_CUMULATIVE)[0]
        kind = "pending" if last else rng.choices(FATES, cum_weights=FATE_CUMULATIVE)[0]
        if kind == "partial_cancel":
            quantity = max(quantity, 2)
        fate = decide_fate(self.rng, self.now, kind, created, quantity)
        live = [i for i in range(quantity) if fate.live(i)]
        slot = self._choose_show(on_sale, len(live))
        if slot is None:
            # Everything on sale is (nearly) sold out: buy what is left, or nothing.
            slot = max(on_sale, key=Slot.capacity)
            quantity = min(quantity, slot.capacity()) or quantity
            if kind == "partial_cancel" and quantity < 2:
                kind = "normal"
            fate = decide_fate(self.rng, self.now, kind if slot.capacity() else "unpaid_cancelled", created, quantity)
            live = [i for i in range(quantity) if fate.live(i)]
        seat_ids = self._take_seats(slot, quantity, set(live))
        return self._order_dict(created, slot, seat_ids, fate)

    def paid_order(self, event: dict, show: dict, seat: dict) -> dict:
        """One ticket for ``seat``, bought and paid at ``now``."""
        slot = Slot(
            event=event,
            show=show,
            opens=self.now,
            closes=self.now,
            starts=dt.datetime.fromisoformat(show["start_date"]),
            finishes=dt.datetime.fromisoformat(show["finish_date"]),
            admission=seat["admission"],
            popularity=1.0,
            seats=[seat],
            names={seat["id"]: seat_name(seat)},
            prices={seat["id"]: seat["price"]},
        )
        return self._order_dict(self.now, slot, [seat["id"]], Fate("normal", payed_at=self.now))

    def _choose_show(self, on_sale: list[Slot], needed: int) -> Slot | None:
        """A show weighted by its event's popularity that still has room for the live
        tickets; None when nothing on sale has room."""
        rng = self.rng
        weights = [s.popularity for s in on_sale]
        for _ in range(4):
            slot = rng.choices(on_sale, weights=weights)[0]
            if slot.capacity() >= needed:
                return slot
        roomy = [s for s in on_sale if s.capacity() >= needed]
        return roomy[rng.randrange(len(roomy))] if roomy else None

    def _take_seats(self, slot: Slot, quantity: int, live: set[int]) -> list[str]:
        """Seat ids per ticket; live tickets consume inventory, the others only need a
        real seat (they gave it back when they were cancelled)."""
        rng, seat_ids = self.rng, []
        for index in range(quantity):
            if slot.admission:
                zones = [z for z, left in slot.left.items() if left > 0] if index in live else list(slot.left)
                zone = zones[rng.randrange(len(zones))]
                if index in live:
                    slot.left[zone] -= 1
                seat_ids.append(zone)
            elif index in live:
                k = rng.randrange(len(slot.free_seats))
                slot.free_seats[k], slot.free_seats[-1] = slot.free_seats[-1], slot.free_seats[k]
                seat_ids.append(slot.free_seats.pop())
            else:
                seat_ids.append(rng.choice(slot.enabled))
        return seat_ids

    def _order_dict(self, created: dt.datetime, slot: Slot, seat_ids: list[str], fate: Fate) -> dict:
        rng = self.rng
        self.order_id += rng.randint(1, 40)
        uniqid = f"{rng.getrandbits(40):010x}"
        client = self._pick_client()
        discount = self._discount(fate)
        baskets = [
            self._basket(
                index, seat_id, created=created, slot=slot, discount=discount, fate=fate, client=client, uniqid=uniqid
            )
            for index, seat_id in enumerate(seat_ids)
        ]
        payed = fate.payed_at is not None
        payment_type = self._payment_type()
        site = dict(SITES[0] if rng.random() < 0.85 else SITES[1])
        created_at = format_ts(created)
        payed_at = format_ts(fate.payed_at) if fate.payed_at else None
        deleted_at = format_ts(fate.deleted_at) if fate.deleted_at else None
        price = order_price(baskets, deleted_at)
        card = f"400000******{rng.randint(0, 9999):04d}" if payed and payment_type == "card" and price else None
        return {
            "id": self.order_id,
            "uniqid": uniqid,
            "payed": payed,
            "payed_at": payed_at,
            "client_id": client.id,
            "client": client_json(client),
            "site_id": site["id"],
            "site": site,
            "payment_id": slot.event["payments"][0]["id"] if slot.event["payments"] else 12133,
            "payment_type_id": payment_type,
            "payment_card_number": card if rng.random() < 0.6 else None,
            "payment_url": f"https://qtickets.ru/pay/{uniqid}",
            "cancel_url": f"https://qtickets.ru/cancel-order/{uniqid}/{rng.getrandbits(128):032x}",
            "basket_user_id": rng.randint(4900000, 5100000),
            "backend_user_id": None,
            "access_code_id": None,
            "discount_id": discount[0] if discount else None,
            "promo_code_id": discount[0] * 25 + rng.randint(0, 3) if discount else None,
            "reserved": fate.kind == "pending" and rng.random() < 0.5,
            "reserved_to": format_ts(created + _RESERVATION),
            "reserve_extended": fate.reserve_extended,
            "event_id": slot.event["id"],
            "price": price,
            "original_price": money(sum((to_decimal(b["original_price"]) for b in baskets), Decimal(0))),
            "currency_id": "RUB",
            "utm": self._utm(),
            "custom": "",
            "fields": [],
            "baskets": baskets,
            "refunds": [],
            "integrations": [],
            "created_at": created_at,
            "updated_at": self._last_change([created_at, payed_at, deleted_at, *(b["updated_at"] for b in baskets)]),
            "deleted_at": deleted_at,
        }

    def _basket(
        self,
        index: int,
        seat_id: str,
        *,
        created: dt.datetime,
        slot: Slot,
        discount: tuple[int, Decimal, Decimal] | None,
        fate: Fate,
        client: Client,
        uniqid: str,
    ) -> dict:
        rng = self.rng
        original = slot.prices[seat_id]
        self.basket_id += rng.randint(1, 5)
        # Tickets go into the basket a little before the order is placed, as in real data.
        basket_created = created - dt.timedelta(seconds=rng.randint(0, 180) - index)
        price = self._discounted(Decimal(original), discount)
        guest = client if rng.random() < 0.9 else self._pick_client()
        barcode = str(rng.randrange(10**11, 10**12))
        payed = fate.payed_at is not None
        pdf_url, passbook_url = ticket_urls(uniqid, barcode) if payed else (None, None)
        deleted = fate.basket_deleted.get(index)
        refund = fate.refunded.get(index)
        refunded_amount, refunded_deduction = _refund_amounts(price, refund, deleted)
        checked = self._checked(slot, fate, index)
        stamps = [basket_created, fate.payed_at, deleted, refund[0] if refund else None, checked]
        return {
            "id": self.basket_id,
            "series": f"8820{slot.event['id']}",
            "barcode": barcode,
            "show_id": slot.show["id"],
            "seat_id": seat_id,
            "seat_name": slot.names[seat_id],
            "original_price": original,
            "ticket_original_price": original,
            "discount_value": money(Decimal(original) - price),
            "price": money(price),
            "ticket_amount": money(price),
            "service_fee_amount": 0,
            "multiprice_code": None,
            "quantity": 1,
            **holder_fields(guest),
            "comment": None,
            "pdf_url": pdf_url,
            "passbook_url": passbook_url,
            "related_baskets": [],
            "services": [],
            "checked_at": format_ts(checked) if checked else None,
            "created_at": format_ts(basket_created),
            "updated_at": format_ts(max(s for s in stamps if s is not None)),
            "deleted_at": format_ts(deleted) if deleted else None,
            "refunded_at": format_ts(refund[0]) if refund else None,
            "refunded_amount": refunded_amount,
            "refunded_deduction_amount": refunded_deduction,
            "refunds": [],
        }

    def _discount(self, fate: Fate) -> tuple[int, Decimal, Decimal] | None:
        if fate.kind == "free":
            return (FREE_DISCOUNT, Decimal(1), ROUBLE)
        if self.rng.random() < 0.3:
            return DISCOUNTS[self.rng.randrange(len(DISCOUNTS))]
        return None

    @staticmethod
    def _discounted(original: Decimal, discount: tuple[int, Decimal, Decimal] | None) -> Decimal:
        if discount is None:
            return original
        off = (original * discount[1]).quantize(discount[2], rounding=ROUND_HALF_UP)
        return original - off

    def _checked(self, slot: Slot, fate: Fate, index: int) -> dt.datetime | None:
        """Door scans of paid live tickets for shows that have begun (not all guests come)."""
        if fate.payed_at is None or not fate.live(index) or self.rng.random() < 0.3:
            return None
        if slot.admission:
            moment = max(fate.payed_at, slot.starts) + dt.timedelta(hours=self.rng.uniform(0.1, 72))
        else:
            moment = slot.starts - dt.timedelta(minutes=self.rng.uniform(0, 50))
        moment = moment.replace(microsecond=0)
        if moment <= fate.payed_at or moment > min(self.now, slot.finishes):
            return None
        return moment

    def _payment_type(self) -> str:
        roll = self.rng.random()
        if roll < 0.7:
            return "card"
        if roll < 0.8:
            return "bankcard"
        return self.rng.choice(NUMERIC_PAYMENT_TYPES)

    def _utm(self) -> list | dict:
        if self.rng.random() < 0.5:
            return []
        keys = self.rng.choice(UTM_SHAPES)
        return {key: self.rng.choice(UTM_VALUES[key]) for key in keys}

    def _last_change(self, stamps: list[str | None]) -> str:
        """The latest of an order's own moments, sometimes later still (staff edits)."""
        latest = max(stamp for stamp in stamps if stamp)
        if self.rng.random() < 0.25:
            moment = dt.datetime.fromisoformat(latest)
            room = min(72 * 3600.0, (self.now - moment).total_seconds())
            latest = format_ts(moment + dt.timedelta(seconds=self.rng.uniform(0, room)))
        return latest


def _refund_amounts(
    price: Decimal, refund: tuple[dt.datetime, Decimal, Decimal] | None, deleted: dt.datetime | None
) -> tuple[int | float | None, int | float | None]:
    """(refunded_amount, refunded_deduction_amount) of a ticket: the price less the share
    kept for a refund, zeros for a cancelled ticket, None for one still sold."""
    if refund:
        kept = (price * refund[1]).quantize(refund[2], rounding=ROUND_HALF_UP)
        return money(price - kept), money(kept)
    if deleted:
        return 0, 0
    return None, None
