"""A deterministic fake Qtickets seller account: events, shows, seats and orders.

Everything comes from one ``random.Random(seed)`` so that a test, a benchmark and the
``zakaz simulator`` command see byte-identical data for the same seed, sizes and ``now``.
Objects keep the exact JSON shape of the real API (the anonymized samples beside
QTICKETS_API.md), so the client and the loaders meet the real quirks: ``utm`` as ``[]``
or an object, float amounts, ``+03:00`` timestamps for every city, free tickets.
The mutations replay what happens to a real account after the fact (late payments,
refunds, cancellations) and keep the seat inventory consistent with the orders.
"""

from __future__ import annotations

import bisect
import datetime as dt
import gc
import math
import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from zakaz_pipeline.qtickets.rules import show_is_on_sale

MOSCOW = ZoneInfo("Europe/Moscow")
# Qtickets renders every timestamp with the Moscow offset; a fixed offset also makes
# equal-format strings sort like the instants they name, which the server relies on.
MSK_OFFSET = dt.timezone(dt.timedelta(hours=3))
KOPECK = Decimal("0.01")
ROUBLE = Decimal(1)


def format_ts(value: dt.datetime) -> str:
    """Render an instant as Qtickets does: Moscow offset, whole seconds."""
    if value.tzinfo is None:
        raise ValueError("naive datetime: the account only knows aware instants")
    return value.astimezone(MSK_OFFSET).replace(microsecond=0).isoformat()


def money(value: Decimal) -> int | float:
    """An amount as the API sends it: an int for whole roubles, a float otherwise."""
    value = value.quantize(KOPECK)
    return int(value) if value == value.to_integral_value() else float(value)


def to_decimal(value: float | Decimal | None) -> Decimal:
    """Exact money from a JSON number (floats through ``str`` to avoid binary noise)."""
    if value is None:
        return Decimal(0)
    return Decimal(str(value)).quantize(KOPECK)


def ticket_is_live(order: dict[str, Any], basket: dict[str, Any]) -> bool:
    """A ticket still holds its seat unless it or its order was cancelled or refunded."""
    return order["deleted_at"] is None and basket["deleted_at"] is None and basket["refunded_at"] is None


# --------------------------------------------------------------------------- fixtures


@dataclass(frozen=True)
class _City:
    id: int
    name: str
    timezone: str
    host: str
    place_name: str
    place_address: str
    coordinates: tuple[float, float]


CITIES = (
    _City(1, "Москва", "Europe/Moscow", "moscow", "ДК «Меридиан»", "ул. Профсоюзная, 61", (55.667, 37.553)),
    _City(24, "Томск", "Asia/Krasnoyarsk", "tomsk", "Центр культуры", "просп. Ленина, 36", (56.4695, 84.9476)),
    _City(
        68, "Барнаул", "Asia/Novokuznetsk", "barnaul", "ДК «Современник»", "Павловский тракт, 188", (53.3495, 83.6377)
    ),
    _City(
        4, "Новосибирск", "Asia/Novosibirsk", "novosibirsk", "ДК «Прогресс»", "Красный просп., 167", (55.058, 82.915)
    ),
    _City(3, "Екатеринбург", "Asia/Yekaterinburg", "ekaterinburg", "ДК «Урал»", "ул. Ленина, 50", (56.839, 60.605)),
    _City(
        9, "Калининград", "Europe/Kaliningrad", "kaliningrad", "ДК «Янтарь»", "Ленинский просп., 30", (54.711, 20.511)
    ),
)
_SEATED_TITLES = (
    ("Щелкунчик", "shchelkunchik"),
    ("Холодное сердце", "kholodnoe-serdtse"),
    ("Снежная королева", "snezhnaya-koroleva"),
    ("Лебединое озеро", "lebedinoe-ozero"),
    ("Концерт «Звуки кино»", "kontsert-zvuki-kino"),
    ("Ревизор", "revizor"),
    ("Джазовый вечер", "dzhazovyj-vecher"),
    ("Стендап-шоу", "stendap-shou"),
)
_ADMISSION_TITLES = (
    ("Интерактивная выставка «Мир кубиков»", "vystavka-mir-kubikov"),
    ("Выставка динозавров", "vystavka-dinozavrov"),
    ("Музей иллюзий", "muzej-illyuzij"),
    ("Мастер-классы для детей", "master-klassy-dlya-detej"),
)
_ADMISSION_ZONES = (
    ("vzroslyj-bilet", "Взрослый билет", (490, 590, 700)),
    ("detskij-bilet", "Детский билет", (290, 390, 450)),
    ("lgotnyj-bilet", "Льготный билет", (250, 350)),
    ("semejnyj-bilet", "Семейный билет", (1200, 1500)),
)
_SEATED_ZONE_TITLES = {"PARTERRE": "Партер", "BALCONY": "Балкон"}
_MALE = (
    ("Иван", "Иванов"),
    ("Алексей", "Смирнов"),
    ("Сергей", "Кузнецов"),
    ("Дмитрий", "Попов"),
    ("Андрей", "Соколов"),
    ("Михаил", "Лебедев"),
    ("Павел", "Новиков"),
)
_FEMALE = (
    ("Мария", "Иванова"),
    ("Ольга", "Смирнова"),
    ("Анна", "Кузнецова"),
    ("Елена", "Попова"),
    ("Наталья", "Соколова"),
    ("Татьяна", "Лебедева"),
    ("Ирина", "Новикова"),
)
_SITES = ({"id": 1356, "host": "bilety-demo.рф"}, {"id": 16, "host": "qtickets.ru"})
_NUMERIC_PAYMENT_TYPES = ("4326371", "3449832")
_UTM_VALUES = {
    "utm_source": ("insta", "vk", "yandex", "telegram"),
    "utm_medium": ("cpc", "posty", "stories", "opisanie"),
    "utm_campaign": ("anons", "mamy", "62384014", "novyj-god"),
    "utm_content": ("banner1", "video", "text"),
    "utm_term": ("bilety", "spektakl", "vystavka"),
}
_UTM_SHAPES = (
    ("utm_source",),
    ("utm_source", "utm_medium"),
    ("utm_source", "utm_medium", "utm_campaign"),
    ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term"),
)
# (discount id, share off, rounding): most promo codes round to roubles, a few to kopecks,
# which is where the real API's float amounts come from.
_DISCOUNTS = (
    (6861, Decimal("0.40"), ROUBLE),
    (6896, Decimal("0.30"), ROUBLE),
    (6897, Decimal("0.20"), ROUBLE),
    (6926, Decimal("0.10"), ROUBLE),
    (6986, Decimal("0.15"), KOPECK),
    (6997, Decimal("0.125"), KOPECK),
)
_FREE_DISCOUNT = 6840
_FATES = ("normal", "unpaid", "late", "paid_cancelled", "partial_cancel", "refund", "free")
_FATE_CUMULATIVE = (61, 76, 84, 87, 90, 95, 100)  # shares 61, 15, 8, 3, 3, 5, 5 %
_TICKET_COUNTS = (1, 2, 3, 4, 5, 6)
_TICKET_COUNT_CUMULATIVE = (30, 65, 77, 89, 94, 100)
_SHOW_COUNT_WEIGHTS = (5, 4, 3, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1)  # 1..13 shows per seated event
_RESERVATION = dt.timedelta(days=1)
_TICKETS_PER_ORDER = 2.3  # the mean of the ticket-count weights above
_CAPACITY_HEADROOM = 2  # halls may fill, but the account as a whole must not run out


# --------------------------------------------------------------------------- the account


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
        generator = _Generator(_Random(seed), now.astimezone(MOSCOW), history_days)
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

    # ------------------------------------------------------------------ look-ups

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

    # ------------------------------------------------------------------ mutations

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

    def cancel_basket(self, order_id: int, basket_id: int, *, at: dt.datetime | None = None) -> None:
        """Cancel one ticket of an order; the order's price drops by the ticket's price."""
        with self.lock:
            order, basket = self._basket(order_id, basket_id)
            stamp = self._stamp(at)
            _cancel(basket, stamp)
            order["price"] = _order_price(order["baskets"], order["deleted_at"])
            self._touch(order, [basket], stamp)

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
                basket["pdf_url"], basket["passbook_url"] = _ticket_urls(order["uniqid"], basket["barcode"])
            self._touch(order, order["baskets"], stamp)

    def place_order(self, rng: random.Random) -> dict:
        """A new paid one-ticket order for a free seat of a show on sale, taken at ``now``
        as a live shop keeps selling while a scan pages; like every new order it gets the
        highest id. ``rng`` picks the seat and the order's details. ValueError when there
        is no order to continue from or no free seat on sale."""
        with self.lock:
            if not self.orders:
                raise ValueError("the account has no order to continue the ids from")
            free = [
                (event, show, seat)
                for event in self.events
                for show in event["shows"]
                if show_is_on_sale(event, show, self.now)
                for seat in self.seats[show["id"]]
                if not seat["disabled"] and seat["free_quantity"] > 0
            ]
            if not free:
                raise ValueError("no show on sale has a free seat")
            event, show, seat = rng.choice(free)
            last = self.orders[-1]
            factory = _OrderFactory(
                rng,
                self.now,
                [_client_of(rng.choice(self.orders))],
                order_id=last["id"],
                basket_id=max(basket["id"] for basket in last["baskets"]),
            )
            order = factory.paid_order(event, show, seat)
            self.orders.append(order)
            self._orders_by_id[order["id"]] = order
            for basket in order["baskets"]:
                self._tickets_by_show.setdefault(basket["show_id"], []).append((order, basket))
            self._touch(order, [], order["updated_at"])
            return order

    def advance(self, to: dt.datetime) -> None:
        """Move the account's clock forward (shows go off sale, "today" changes)."""
        if to.tzinfo is None:
            raise ValueError("to must be timezone-aware")
        with self.lock:
            if to < self.now:
                raise ValueError("the account's clock only moves forward")
            self.now = to.astimezone(MOSCOW)
            self.revision += 1

    # ------------------------------------------------------------------ internals

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


def _order_price(baskets: list[dict], order_deleted_at: str | None) -> int | float:
    """Σ prices of the tickets still in the order; tickets cancelled together with the
    whole order keep counting, as real cancelled orders keep their price."""
    kept = [b["price"] for b in baskets if b["deleted_at"] is None or b["deleted_at"] == order_deleted_at]
    return money(sum((to_decimal(p) for p in kept), Decimal(0)))


def _ticket_urls(uniqid: str, barcode: str) -> tuple[str, str]:
    token = f"{int(barcode) * 7919:032x}"[-32:]
    return (
        f"https://qtickets.ru/ticket/pdf/{uniqid}/{token}",
        f"https://qtickets.ru/ticket/passbook/{uniqid}/{token}",
    )


# --------------------------------------------------------------------------- generation


class _Random(random.Random):
    """``random.Random`` with cheaper integer draws: a large account takes millions of
    them, and the standard ones spend most of their time checking arguments."""

    def randint(self, a: int, b: int) -> int:
        return a + int(self.random() * (b - a + 1))

    def randrange(self, start: int, stop: int | None = None, step: int = 1) -> int:
        if stop is None:
            start, stop = 0, start
        return start + step * int(self.random() * ((stop - start + step - 1) // step))

    def choice(self, seq: Any) -> Any:
        return seq[int(self.random() * len(seq))]


@dataclass(frozen=True)
class _SeatPlan:
    """One seat (or admission zone) of a hall, shared by all shows of an event."""

    seat_id: str
    zone_id: str
    row: str
    place: str
    name: str
    admission: bool
    max_quantity: int
    disabled: bool
    level: int  # index into the event's price levels


@dataclass
class _EventPlan:
    city: _City
    admission: bool
    title: str
    slug: str
    hall: list[_SeatPlan]
    levels: list[int]
    runs: list[tuple[dt.datetime, dt.datetime]]  # (start, finish) per show
    created: dt.datetime
    popularity: float


@dataclass
class _Slot:
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


@dataclass
class _Fate:
    """What happens to an order after it is placed, decided before seats are taken."""

    kind: str
    payed_at: dt.datetime | None = None
    deleted_at: dt.datetime | None = None
    basket_deleted: dict[int, dt.datetime] = field(default_factory=dict)
    refunded: dict[int, tuple[dt.datetime, Decimal, Decimal]] = field(default_factory=dict)
    reserve_extended: bool = False

    def live(self, index: int) -> bool:
        return self.deleted_at is None and index not in self.basket_deleted and index not in self.refunded


@dataclass(frozen=True)
class _Client:
    id: int
    email: str
    details_id: int
    name: str
    surname: str | None
    phone: str


class _Generator:
    """Builds events first, then orders in time order against the shows on sale."""

    def __init__(self, rng: random.Random, now: dt.datetime, history_days: int) -> None:
        self.rng = rng
        self.now = now
        self.window_start = now - dt.timedelta(days=history_days)
        self.history_days = history_days
        self.events: list[dict] = []
        self._price_id = 540000

    # ------------------------------------------------------------------ events

    def build_events(self, count: int) -> list[_Slot]:
        plans = [self._plan_event(i, count) for i in range(count)]
        order = sorted(range(count), key=lambda i: plans[i].created)
        event_ids = self._increasing_ids(24000, count, 60)
        statuses = self._event_statuses(plans, latest=count - 1)
        slots: list[_Slot] = []
        for event_id, index in zip(event_ids, order, strict=True):
            plan = plans[index]
            own = [self._show(plan, j) for j in range(len(plan.runs))]
            event = self._event_dict(event_id, plan, statuses[index], [slot.show for slot in own])
            for slot in own:
                slot.event = event
            self.events.append(event)
            slots.extend(own)
        self._assign_show_ids(slots)
        return slots

    def _plan_event(self, index: int, count: int) -> _EventPlan:
        rng = self.rng
        city = CITIES[rng.randrange(len(CITIES))] if index >= len(CITIES) else CITIES[index]
        admission = index % 3 == 1
        span_days = self.history_days + 60
        center = self.window_start + dt.timedelta(days=span_days * (index + 0.5) / count + rng.uniform(-3, 3))
        runs = self._admission_runs(center, city) if admission else self._seated_runs(center, city)
        if index == count - 1 and runs[-1][0] < self.now + dt.timedelta(days=7):
            # The newest event always has a show on sale, so inventory is never empty.
            shift = self.now + dt.timedelta(days=7) - runs[-1][0] + dt.timedelta(days=rng.randint(1, 20))
            runs = [(start + shift, finish + shift) for start, finish in runs]
        created = runs[0][0] - dt.timedelta(days=rng.uniform(20, 50))
        created = min(created, self.now - dt.timedelta(hours=rng.uniform(1, 48))).replace(microsecond=0)
        titles = _ADMISSION_TITLES if admission else _SEATED_TITLES
        title, slug = titles[rng.randrange(len(titles))]
        hall, levels = self._admission_hall() if admission else self._seated_hall()
        return _EventPlan(city, admission, title, slug, hall, levels, runs, created, rng.uniform(0.5, 2.0))

    def _local(self, city: _City, day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=ZoneInfo(city.timezone))

    def _seated_runs(self, center: dt.datetime, city: _City) -> list[tuple[dt.datetime, dt.datetime]]:
        count = self.rng.choices(range(1, 14), weights=_SHOW_COUNT_WEIGHTS)[0]
        spread = min(3 * (count - 1), 45)
        first = (center - dt.timedelta(days=spread / 2)).astimezone(ZoneInfo(city.timezone)).date()
        runs = []
        for j in range(count):
            day = first + dt.timedelta(days=round(j * spread / max(count - 1, 1)))
            start = self._local(city, day, self.rng.choice((12, 15, 19)))
            runs.append((start, start + dt.timedelta(minutes=self.rng.choice((90, 120, 150)))))
        return runs

    def _admission_runs(self, center: dt.datetime, city: _City) -> list[tuple[dt.datetime, dt.datetime]]:
        count = self.rng.choice((1, 1, 2, 3))
        day = (center - dt.timedelta(days=15)).astimezone(ZoneInfo(city.timezone)).date()
        runs = []
        for _ in range(count):
            last = day + dt.timedelta(days=self.rng.randint(14, 40))
            runs.append((self._local(city, day, 10), self._local(city, last, 19, 55)))
            day = last + dt.timedelta(days=1)
        return runs

    def _seated_hall(self) -> tuple[list[_SeatPlan], list[int]]:
        rng = self.rng
        levels = sorted(rng.sample((700, 900, 1200, 1500, 1800, 2500, 3000), 3), reverse=True)
        zones = [("PARTERRE", rng.randint(5, 14), rng.randint(10, 20))]
        balcony_rows = rng.choice((0, 0, 2, 3, 4))
        if balcony_rows:
            zones.append(("BALCONY", balcony_rows, rng.randint(10, 20)))
        closed_row = zones[0][1] if rng.random() < 0.3 else None
        hall = []
        for zone, rows, places in zones:
            for row in range(1, rows + 1):
                level = 2 if zone == "BALCONY" else (0 if row <= 3 else 1)
                for place in range(1, places + 1):
                    disabled = (zone == "PARTERRE" and row == closed_row) or rng.random() < 0.03
                    name = _seated_name(zone, row, place)
                    hall.append(
                        _SeatPlan(f"{zone}-{row};{place}", zone, str(row), str(place), name, False, 1, disabled, level)
                    )
        return hall, levels

    def _admission_hall(self) -> tuple[list[_SeatPlan], list[int]]:
        rng = self.rng
        zones = sorted(rng.sample(range(len(_ADMISSION_ZONES)), rng.randint(2, 4)))
        hall, levels = [], []
        for level, zone_index in enumerate(zones):
            zone, name, prices = _ADMISSION_ZONES[zone_index]
            hall.append(_SeatPlan(f"{zone}-1;1", zone, "1", "1", name, True, rng.randint(50, 500), False, level))
            levels.append(rng.choice(prices))
        return hall, levels

    def _event_statuses(self, plans: list[_EventPlan], latest: int) -> list[tuple[int, dt.datetime | None]]:
        """(is_active, deleted_at) per event: some finished events are switched off or
        deleted, one upcoming event is paused, and the newest one always sells."""
        rng = self.rng
        statuses: list[tuple[int, dt.datetime | None]] = [(1, None)] * len(plans)
        past = [i for i, p in enumerate(plans) if p.runs[-1][1] < self.now and i != latest]
        upcoming = [i for i, p in enumerate(plans) if p.runs[-1][1] >= self.now and i != latest]
        chosen = rng.sample(past, len(past) // 2)
        for k, i in enumerate(chosen):
            if k < max(1, len(chosen) // 2):
                ended = plans[i].runs[-1][1]
                deleted = min(self.now, ended + dt.timedelta(days=rng.uniform(1, 20))).replace(microsecond=0)
                statuses[i] = (rng.choice((0, 1)), deleted)
            else:
                statuses[i] = (0, None)
        if len(upcoming) >= 3:
            statuses[rng.choice(upcoming)] = (0, None)
        return statuses

    def _event_dict(
        self, event_id: int, plan: _EventPlan, status: tuple[int, dt.datetime | None], shows: list[dict]
    ) -> dict:
        rng = self.rng
        is_active, deleted_at = status
        changes = [format_ts(plan.created), *(show["updated_at"] for show in shows)]
        if deleted_at is not None:
            changes.append(format_ts(deleted_at))
        return {
            "id": event_id,
            "is_active": is_active,
            "name": f"{plan.title} {plan.city.name}",
            "scheme_id": 11707 if plan.admission else rng.choice((6957, 9191)),
            "currency_id": "RUB",
            "place_name": plan.city.place_name,
            "place_address": plan.city.place_address,
            "place_description": "",
            "city_id": plan.city.id,
            "description": f"{plan.title}: программа для всей семьи.\r\nПродолжительность указана в билете.",
            "site_url": f"https://afisha-demo.ru/{plan.slug}-{plan.city.host}/",
            "external_id": None,
            "ticket_id": 35,
            "mail_template_id": 31,
            "age": rng.choice(("0+", "6+", "12+", "16+")),
            "shows": shows,
            "payments": []
            if rng.random() < 0.2
            else [
                {
                    "id": 41057,
                    "is_active": True,
                    "name": "ИП Организатор",
                    "handler": "payanyway",
                    "agree_url": f"https://qtickets.ru/legal/organizer-demo/12857?event={event_id}",
                }
            ],
            "poster": self._poster(),
            "event_type_id": 11 if plan.admission else rng.choice((3, 10)),
            "city": {"id": plan.city.id, "name": plan.city.name, "timezone": plan.city.timezone},
            "ticket": {"id": 35, "is_active": 1, "name": "Системный шаблон"},
            "mail_template": {"id": 31, "is_active": 1, "name": "Системный шаблон"},
            "slug": f"{plan.slug}-{plan.city.host}",
            "place_coordinates": list(plan.city.coordinates),
            "url": f"https://{plan.city.host}.qtickets.events/{event_id}-{plan.slug}-{plan.city.host}",
            "created_at": format_ts(plan.created),
            "updated_at": max(changes),
            "deleted_at": None if deleted_at is None else format_ts(deleted_at),
        }

    def _poster(self) -> dict:
        rng = self.rng
        content_type = rng.choice(("image/jpeg", "image/png"))
        digest = f"{rng.getrandbits(96):024x}"
        extension = "jpg" if content_type == "image/jpeg" else "png"
        return {
            "id": rng.randint(80000, 99999),
            "content_type": content_type,
            "file_size": rng.randint(20000, 1300000),
            "url": f"https://qtickets.ru/storage/app/uploads/public/{digest[:3]}/{digest[3:6]}/{digest[6:9]}/{digest}.{extension}",
        }

    def _show(self, plan: _EventPlan, index: int) -> _Slot:
        """One show of an event and its sale window; the event fills in ids later."""
        rng = self.rng
        start, finish = plan.runs[index]
        created = plan.created + dt.timedelta(seconds=rng.randint(0, 600))
        sale_finish = finish if plan.admission else start - dt.timedelta(hours=1)
        sale_start = None
        if rng.random() < 0.15:
            sale_start = min(created + dt.timedelta(days=rng.uniform(1, 5)), self.now, sale_finish)
            sale_start = sale_start.replace(second=0, microsecond=0)
        age = (self.now - created).total_seconds()
        updated = created + dt.timedelta(seconds=rng.uniform(0, max(0.0, min(age, 30 * 86400))))
        prices: list[dict[str, Any]] = [
            {"id": self._next_price_id(), "default_price": level, "color_theme": str(k + 1), "modifiers": []}
            for k, level in enumerate(plan.levels)
        ]
        used = sorted({seat.level for seat in plan.hall})
        used_prices = [prices[level] for level in used]
        priced = rng.random() >= 0.1
        show = {
            "id": 0,
            "name": "",
            "is_active": 1 if index == len(plan.runs) - 1 or rng.random() >= 0.05 else 0,
            "sale_start_date": None if sale_start is None else format_ts(sale_start),
            "sale_finish_date": format_ts(sale_finish),
            "open_date": format_ts(start - dt.timedelta(hours=1)),
            "start_date": format_ts(start),
            "finish_date": format_ts(finish),
            "scheme_properties": _scheme_properties(plan, prices),
            "prices": used_prices,
            "min_price": dict(min(used_prices, key=lambda p: p["default_price"])) if priced else None,
            "max_price": dict(max(used_prices, key=lambda p: p["default_price"])) if priced else None,
            "created_at": format_ts(created),
            "updated_at": format_ts(updated),
            "deleted_at": None,
        }
        return _Slot(
            event={},
            show=show,
            opens=sale_start or created,
            closes=sale_finish,
            starts=start,
            finishes=finish,
            admission=plan.admission,
            popularity=plan.popularity,
            seats=[_seat_dict(seat, plan.levels[seat.level]) for seat in plan.hall],
            names={seat.seat_id: seat.name for seat in plan.hall},
        )

    def _next_price_id(self) -> int:
        self._price_id += self.rng.randint(1, 3)
        return self._price_id

    def _assign_show_ids(self, slots: list[_Slot]) -> None:
        """Show ids grow with creation time, across events, as in the real account."""
        by_creation = sorted(slots, key=lambda s: (s.show["created_at"], s.starts))
        for show_id, slot in zip(self._increasing_ids(150000, len(slots), 40), by_creation, strict=True):
            slot.show["id"] = show_id
        for event in self.events:
            event["shows"].sort(key=lambda s: (s["start_date"], s["id"]))

    def _increasing_ids(self, start: int, count: int, max_gap: int) -> list[int]:
        ids, current = [], start
        for _ in range(count):
            current += self.rng.randint(1, max_gap)
            ids.append(current)
        return ids

    # ------------------------------------------------------------------ orders

    def build_orders(self, slots: list[_Slot], count: int) -> list[dict]:
        self._scale_admission(slots, count)
        for slot in slots:
            slot.prices = {s["id"]: s["price"] for s in slot.seats}
            slot.enabled = [s["id"] for s in slot.seats if not s["disabled"]]
            slot.free_seats = [s["id"] for s in slot.seats if not s["disabled"] and not s["admission"]]
            slot.left = {s["id"]: s["max_quantity"] for s in slot.seats if s["admission"]}
        factory = _OrderFactory(self.rng, self.now, _client_pool(self.rng, max(1, count // 3)))
        times = self._order_times(slots, count)
        sweep = _SaleSweep(slots)
        built = []
        for position, created in enumerate(times):
            built.append(factory.build(created, sweep.on_sale(created), last=position == len(times) - 1))
        return built

    def _scale_admission(self, slots: list[_Slot], count: int) -> None:
        """Large accounts outgrow a few halls: widen admission zones so that every order
        finds room, while small accounts keep the realistic 50–500 places per zone."""
        needed = _CAPACITY_HEADROOM * count * _TICKETS_PER_ORDER
        seated = sum(1 for slot in slots for s in slot.seats if not s["admission"] and not s["disabled"])
        admission = sum(s["max_quantity"] for slot in slots for s in slot.seats if s["admission"])
        if admission and seated + admission < needed:
            factor = math.ceil((needed - seated) / admission)
            for slot in slots:
                for seat in slot.seats:
                    if seat["admission"]:
                        seat["max_quantity"] *= factor
                        seat["free_quantity"] = seat["max_quantity"]

    def _order_times(self, slots: list[_Slot], count: int) -> list[dt.datetime]:
        """Distinct whole seconds spread over the moments when some show was on sale."""
        windows = sorted(
            (max(slot.opens, self.window_start), min(slot.closes, self.now))
            for slot in slots
            if slot.opens < self.now and slot.closes > self.window_start
        )
        merged: list[list[dt.datetime]] = []
        for begin, end in windows:
            if merged and begin <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            elif begin < end:
                merged.append([begin, end])
        lengths = [int((end - begin).total_seconds()) for begin, end in merged]
        starts = [0]
        for length in lengths:
            starts.append(starts[-1] + length)
        offsets = sorted(self.rng.sample(range(starts[-1]), min(count, starts[-1])))
        times = []
        for offset in offsets:
            k = bisect.bisect_right(starts, offset) - 1
            moment = merged[k][0] + dt.timedelta(seconds=offset - starts[k])
            times.append(moment.replace(microsecond=0).astimezone(MSK_OFFSET))
        return times


class _SaleSweep:
    """The shows on sale at a moment; moments only move forward, so the set is rebuilt
    only when a sale window opens or closes."""

    def __init__(self, slots: list[_Slot]) -> None:
        self.slots = slots
        self.boundaries = sorted({s.opens for s in slots} | {s.closes for s in slots})
        self.next_boundary = 0
        self.current: list[_Slot] = []

    def on_sale(self, moment: dt.datetime) -> list[_Slot]:
        if self.next_boundary < len(self.boundaries) and moment >= self.boundaries[self.next_boundary]:
            self.next_boundary = bisect.bisect_right(self.boundaries, moment)
            self.current = [s for s in self.slots if s.opens <= moment < s.closes]
        return self.current


def _client_pool(rng: random.Random, size: int) -> list[_Client]:
    """A pool of buyers; a few are second accounts of another buyer whose e-mail differs
    only in letter case, as happens in real data."""
    pool: list[_Client] = []
    for i in range(size):
        if pool and rng.random() < 0.03:
            twin = pool[rng.randrange(len(pool))]
            local, domain = twin.email.split("@")
            pool.append(
                _Client(
                    1020000 + 13 * i,
                    f"{local.capitalize()}@{domain.capitalize()}",
                    790000 + 7 * i,
                    twin.name,
                    twin.surname,
                    twin.phone,
                )
            )
            continue
        name, surname = rng.choice(_MALE if rng.random() < 0.5 else _FEMALE)
        pool.append(
            _Client(
                1020000 + 13 * i,
                f"buyer{i + 1}@example.com",
                790000 + 7 * i,
                name,
                None if rng.random() < 0.08 else surname,
                f"+7900{i + 1:07d}",
            )
        )
    return pool


def _client_of(order: dict) -> _Client:
    """The buyer of an existing order, to buy again."""
    client = order["client"]
    details = client["details"]
    return _Client(client["id"], client["email"], details["id"], details["name"], details["surname"], details["phone"])


def _seated_name(zone: str, row: int | str, place: int | str) -> str:
    return f"{_SEATED_ZONE_TITLES[zone]}, ряд {row}, место {place}"


def _seat_name(seat: dict) -> str:
    """A seat's ticket name, as generation gave it: the zone's title for admission."""
    if seat["admission"]:
        return next(title for zone, title, _ in _ADMISSION_ZONES if zone == seat["zone_id"])
    return _seated_name(seat["zone_id"], seat["row"], seat["place"])


class _OrderFactory:
    """Turns a creation moment into one API-shaped order, with its fate and seats."""

    def __init__(
        self,
        rng: random.Random,
        now: dt.datetime,
        clients: list[_Client],
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

    def _pick_client(self) -> _Client:
        # Skewed towards the start of the pool: a few loyal buyers, many one-timers.
        return self.clients[int(len(self.clients) * self.rng.random() ** 1.3)]

    def build(self, created: dt.datetime, on_sale: list[_Slot], *, last: bool) -> dict:
        rng = self.rng
        quantity = rng.choices(_TICKET_COUNTS, cum_weights=_TICKET_COUNT_CUMULATIVE)[0]
        kind = "pending" if last else rng.choices(_FATES, cum_weights=_FATE_CUMULATIVE)[0]
        if kind == "partial_cancel":
            quantity = max(quantity, 2)
        fate = self._fate(kind, created, quantity)
        live = [i for i in range(quantity) if fate.live(i)]
        slot = self._choose_show(on_sale, len(live))
        if slot is None:
            # Everything on sale is (nearly) sold out: buy what is left, or nothing.
            slot = max(on_sale, key=_Slot.capacity)
            quantity = min(quantity, slot.capacity()) or quantity
            if kind == "partial_cancel" and quantity < 2:
                kind = "normal"
            fate = self._fate(kind if slot.capacity() else "unpaid_cancelled", created, quantity)
            live = [i for i in range(quantity) if fate.live(i)]
        seat_ids = self._take_seats(slot, quantity, set(live))
        return self._order_dict(created, slot, seat_ids, fate)

    def paid_order(self, event: dict, show: dict, seat: dict) -> dict:
        """One ticket for ``seat``, bought and paid at ``now``."""
        slot = _Slot(
            event=event,
            show=show,
            opens=self.now,
            closes=self.now,
            starts=dt.datetime.fromisoformat(show["start_date"]),
            finishes=dt.datetime.fromisoformat(show["finish_date"]),
            admission=seat["admission"],
            popularity=1.0,
            seats=[seat],
            names={seat["id"]: _seat_name(seat)},
            prices={seat["id"]: seat["price"]},
        )
        return self._order_dict(self.now, slot, [seat["id"]], _Fate("normal", payed_at=self.now))

    # ------------------------------------------------------------------ fate

    def _fate(self, kind: str, created: dt.datetime, quantity: int) -> _Fate:
        """Decide payment, cancellation and refunds; anything that would happen after
        ``now`` has not happened yet, so such orders fall back to a plainer fate."""
        rng, now = self.rng, self.now
        quick = created + dt.timedelta(seconds=rng.randint(5, 300))
        if kind in ("unpaid", "unpaid_cancelled", "pending"):
            cancelled = created + dt.timedelta(minutes=rng.uniform(15, 26 * 60))
            if kind == "pending" or (kind == "unpaid" and cancelled > now):
                return _Fate("pending", reserve_extended=rng.random() < 0.3)
            cancelled = min(cancelled, now)
            return _Fate("unpaid", deleted_at=cancelled, basket_deleted={i: cancelled for i in range(quantity)})
        if kind == "free":
            instant = created + dt.timedelta(seconds=rng.randint(0, 3))
            return _Fate("free", payed_at=instant) if instant <= now else _Fate("pending")
        if kind == "late":
            late = created + dt.timedelta(hours=rng.uniform(1, 120))
            return _Fate("late", payed_at=late) if late <= now else _Fate("pending")
        if quick > now:
            return _Fate("pending")
        if kind == "paid_cancelled":
            cancelled = quick + dt.timedelta(hours=rng.uniform(1, 480))
            if cancelled <= now:
                return _Fate(
                    kind, payed_at=quick, deleted_at=cancelled, basket_deleted={i: cancelled for i in range(quantity)}
                )
        if kind == "partial_cancel":
            cancelled = quick + dt.timedelta(minutes=rng.uniform(10, 14400))
            if cancelled <= now:
                return _Fate(kind, payed_at=quick, basket_deleted={rng.randrange(quantity): cancelled})
        if kind == "refund":
            refunded = quick + dt.timedelta(days=rng.uniform(7, 60))
            if refunded <= now:
                count = quantity if rng.random() < 0.5 else rng.randint(1, quantity)
                share = Decimal(0) if rng.random() < 0.5 else Decimal(rng.randint(10, 30)) / 100
                step = KOPECK if rng.random() < 0.3 else ROUBLE
                return _Fate(
                    kind,
                    payed_at=quick,
                    refunded={i: (refunded, share, step) for i in rng.sample(range(quantity), count)},
                )
        return _Fate("normal", payed_at=quick)

    # ------------------------------------------------------------------ seats

    def _choose_show(self, on_sale: list[_Slot], needed: int) -> _Slot | None:
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

    def _take_seats(self, slot: _Slot, quantity: int, live: set[int]) -> list[str]:
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

    # ------------------------------------------------------------------ JSON

    def _order_dict(self, created: dt.datetime, slot: _Slot, seat_ids: list[str], fate: _Fate) -> dict:
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
        site = dict(_SITES[0] if rng.random() < 0.85 else _SITES[1])
        created_at = format_ts(created)
        payed_at = format_ts(fate.payed_at) if fate.payed_at else None
        deleted_at = format_ts(fate.deleted_at) if fate.deleted_at else None
        price = _order_price(baskets, deleted_at)
        card = f"400000******{rng.randint(0, 9999):04d}" if payed and payment_type == "card" and price else None
        return {
            "id": self.order_id,
            "uniqid": uniqid,
            "payed": payed,
            "payed_at": payed_at,
            "client_id": client.id,
            "client": {
                "id": client.id,
                "email": client.email,
                "details": {
                    "id": client.details_id,
                    "name": client.name,
                    "middlename": None,
                    "surname": client.surname,
                    "phone": client.phone,
                    "vk_id": "",
                    "facebook_id": "",
                },
            },
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
        slot: _Slot,
        discount: tuple[int, Decimal, Decimal] | None,
        fate: _Fate,
        client: _Client,
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
        pdf_url, passbook_url = _ticket_urls(uniqid, barcode) if payed else (None, None)
        deleted = fate.basket_deleted.get(index)
        refund = fate.refunded.get(index)
        refunded_amount = refunded_deduction = None
        if refund:
            kept = (price * refund[1]).quantize(refund[2], rounding=ROUND_HALF_UP)
            refunded_amount, refunded_deduction = money(price - kept), money(kept)
        elif deleted:
            refunded_amount = refunded_deduction = 0
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
            "client_email": guest.email,
            "client_phone": guest.phone,
            "client_name": guest.name,
            "client_surname": guest.surname or "",
            "client_middlename": None,
            "organization_name": None,
            "legal_name": None,
            "work_position": None,
            "inn": None,
            "kpp": None,
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

    def _discount(self, fate: _Fate) -> tuple[int, Decimal, Decimal] | None:
        if fate.kind == "free":
            return (_FREE_DISCOUNT, Decimal(1), ROUBLE)
        if self.rng.random() < 0.3:
            return _DISCOUNTS[self.rng.randrange(len(_DISCOUNTS))]
        return None

    @staticmethod
    def _discounted(original: Decimal, discount: tuple[int, Decimal, Decimal] | None) -> Decimal:
        if discount is None:
            return original
        off = (original * discount[1]).quantize(discount[2], rounding=ROUND_HALF_UP)
        return original - off

    def _checked(self, slot: _Slot, fate: _Fate, index: int) -> dt.datetime | None:
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
        return self.rng.choice(_NUMERIC_PAYMENT_TYPES)

    def _utm(self) -> list | dict:
        if self.rng.random() < 0.5:
            return []
        keys = self.rng.choice(_UTM_SHAPES)
        return {key: self.rng.choice(_UTM_VALUES[key]) for key in keys}

    def _last_change(self, stamps: list[str | None]) -> str:
        """The latest of an order's own moments, sometimes later still (staff edits)."""
        latest = max(stamp for stamp in stamps if stamp)
        if self.rng.random() < 0.25:
            moment = dt.datetime.fromisoformat(latest)
            room = min(72 * 3600.0, (self.now - moment).total_seconds())
            latest = format_ts(moment + dt.timedelta(seconds=self.rng.uniform(0, room)))
        return latest


def _scheme_properties(plan: _EventPlan, prices: list[dict]) -> dict:
    """A small hall description with the real nesting (admin zones, zones, seats)."""
    zones = list(dict.fromkeys(seat.zone_id for seat in plan.hall))
    if plan.admission:
        return {
            "admin": {
                "zones": {z: {"opened": "0", "was_opened": "1", "rows": {"1": {"was_opened": "1"}}} for z in zones}
            },
            "zones": {
                seat.zone_id: {"disabled": "0", "spread": {"enabled": ""}, "price_id": str(prices[seat.level]["id"])}
                for seat in plan.hall
            },
            "seats": {seat.seat_id: {"max_quantity": "", "hot": "", "show_free_quantity": ""} for seat in plan.hall},
        }
    rows: dict[str, dict[str, int]] = {}
    for seat in plan.hall:
        rows.setdefault(seat.zone_id, {})[seat.row] = seat.level
    return {
        "admin": {
            "zones": {
                z: {"opened": "0", "was_opened": "1", "rows": {r: {"opened": "0"} for r in rows[z]}} for z in zones
            }
        },
        "zones": {
            z: {
                "disabled": "0",
                "label": "",
                "rows": {r: {"disabled": "0", "price_id": str(prices[level]["id"])} for r, level in rows[z].items()},
            }
            for z in zones
        },
        "seats": {seat.seat_id: {"disabled": "1"} for seat in plan.hall if seat.disabled},
    }


def _seat_dict(seat: _SeatPlan, price: int) -> dict:
    return {
        "id": seat.seat_id,
        "zone_id": seat.zone_id,
        "row": seat.row,
        "place": seat.place,
        "admission": seat.admission,
        "max_quantity": seat.max_quantity,
        "free_quantity": seat.max_quantity,
        "ordered_quantity": 0,
        "payed_quantity": 0,
        "in_basket_quantity": 0,
        "available": not seat.disabled,
        "disabled": seat.disabled,
        "price": price,
        "currency_id": "RUB",
    }
