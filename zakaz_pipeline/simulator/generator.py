"""Generation of a whole account from one seed: events and their shows first, then the
orders in time order against the shows on sale at each moment.

Split from the account (``shop.py``) because generation runs once and is all about
drawing numbers in a fixed order (the same seed must give byte-identical JSON), while
the account is the state that is served and changed afterwards. Halls, buyers, fates and
the orders' JSON are drawn by the modules named for them.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
import random
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from zakaz_pipeline.simulator.buyers import client_pool
from zakaz_pipeline.simulator.halls import SeatPlan, admission_hall, scheme_properties, seat_dict, seated_hall
from zakaz_pipeline.simulator.order_factory import OrderFactory, Slot
from zakaz_pipeline.simulator.reference_data import ADMISSION_TITLES, CITIES, SEATED_TITLES, City
from zakaz_pipeline.simulator.rendering import MSK_OFFSET, format_ts

_SHOW_COUNT_WEIGHTS = (5, 4, 3, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1)  # 1..13 shows per seated event
_TICKETS_PER_ORDER = 2.3  # the mean of order_factory's ticket-count weights
_CAPACITY_HEADROOM = 2  # halls may fill, but the account as a whole must not run out


class FastRandom(random.Random):
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


@dataclass
class EventPlan:
    city: City
    admission: bool
    title: str
    slug: str
    hall: list[SeatPlan]
    levels: list[int]
    runs: list[tuple[dt.datetime, dt.datetime]]  # (start, finish) per show
    created: dt.datetime
    popularity: float


class AccountGenerator:
    """Builds events first, then orders in time order against the shows on sale."""

    def __init__(self, rng: random.Random, now: dt.datetime, history_days: int) -> None:
        self.rng = rng
        self.now = now
        self.window_start = now - dt.timedelta(days=history_days)
        self.history_days = history_days
        self.events: list[dict] = []
        self._price_id = 540000

    def build_events(self, count: int) -> list[Slot]:
        plans = [self._plan_event(i, count) for i in range(count)]
        order = sorted(range(count), key=lambda i: plans[i].created)
        event_ids = self._increasing_ids(24000, count, 60)
        statuses = self._event_statuses(plans, latest=count - 1)
        slots: list[Slot] = []
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

    def _plan_event(self, index: int, count: int) -> EventPlan:
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
        titles = ADMISSION_TITLES if admission else SEATED_TITLES
        title, slug = titles[rng.randrange(len(titles))]
        hall, levels = admission_hall(rng) if admission else seated_hall(rng)
        return EventPlan(city, admission, title, slug, hall, levels, runs, created, rng.uniform(0.5, 2.0))

    def _local(self, city: City, day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=ZoneInfo(city.timezone))

    def _seated_runs(self, center: dt.datetime, city: City) -> list[tuple[dt.datetime, dt.datetime]]:
        count = self.rng.choices(range(1, 14), weights=_SHOW_COUNT_WEIGHTS)[0]
        spread = min(3 * (count - 1), 45)
        first = (center - dt.timedelta(days=spread / 2)).astimezone(ZoneInfo(city.timezone)).date()
        runs = []
        for j in range(count):
            day = first + dt.timedelta(days=round(j * spread / max(count - 1, 1)))
            start = self._local(city, day, self.rng.choice((12, 15, 19)))
            runs.append((start, start + dt.timedelta(minutes=self.rng.choice((90, 120, 150)))))
        return runs

    def _admission_runs(self, center: dt.datetime, city: City) -> list[tuple[dt.datetime, dt.datetime]]:
        count = self.rng.choice((1, 1, 2, 3))
        day = (center - dt.timedelta(days=15)).astimezone(ZoneInfo(city.timezone)).date()
        runs = []
        for _ in range(count):
            last = day + dt.timedelta(days=self.rng.randint(14, 40))
            runs.append((self._local(city, day, 10), self._local(city, last, 19, 55)))
            day = last + dt.timedelta(days=1)
        return runs

    def _event_statuses(self, plans: list[EventPlan], latest: int) -> list[tuple[int, dt.datetime | None]]:
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
        self, event_id: int, plan: EventPlan, status: tuple[int, dt.datetime | None], shows: list[dict]
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

    def _show(self, plan: EventPlan, index: int) -> Slot:
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
            "scheme_properties": scheme_properties(plan.hall, plan.admission, prices),
            "prices": used_prices,
            "min_price": dict(min(used_prices, key=lambda p: p["default_price"])) if priced else None,
            "max_price": dict(max(used_prices, key=lambda p: p["default_price"])) if priced else None,
            "created_at": format_ts(created),
            "updated_at": format_ts(updated),
            "deleted_at": None,
        }
        return Slot(
            event={},
            show=show,
            opens=sale_start or created,
            closes=sale_finish,
            starts=start,
            finishes=finish,
            admission=plan.admission,
            popularity=plan.popularity,
            seats=[seat_dict(seat, plan.levels[seat.level]) for seat in plan.hall],
            names={seat.seat_id: seat.name for seat in plan.hall},
        )

    def _next_price_id(self) -> int:
        self._price_id += self.rng.randint(1, 3)
        return self._price_id

    def _assign_show_ids(self, slots: list[Slot]) -> None:
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

    def build_orders(self, slots: list[Slot], count: int) -> list[dict]:
        self._scale_admission(slots, count)
        for slot in slots:
            slot.prices = {s["id"]: s["price"] for s in slot.seats}
            slot.enabled = [s["id"] for s in slot.seats if not s["disabled"]]
            slot.free_seats = [s["id"] for s in slot.seats if not s["disabled"] and not s["admission"]]
            slot.left = {s["id"]: s["max_quantity"] for s in slot.seats if s["admission"]}
        factory = OrderFactory(self.rng, self.now, client_pool(self.rng, max(1, count // 3)))
        times = self._order_times(slots, count)
        sweep = _SaleSweep(slots)
        built = []
        for position, created in enumerate(times):
            built.append(factory.build(created, sweep.on_sale(created), last=position == len(times) - 1))
        return built

    def _scale_admission(self, slots: list[Slot], count: int) -> None:
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

    def _order_times(self, slots: list[Slot], count: int) -> list[dt.datetime]:
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

    def __init__(self, slots: list[Slot]) -> None:
        self.slots = slots
        self.boundaries = sorted({s.opens for s in slots} | {s.closes for s in slots})
        self.next_boundary = 0
        self.current: list[Slot] = []

    def on_sale(self, moment: dt.datetime) -> list[Slot]:
        if self.next_boundary < len(self.boundaries) and moment >= self.boundaries[self.next_boundary]:
            self.next_boundary = bisect.bisect_right(self.boundaries, moment)
            self.current = [s for s in self.slots if s.opens <= moment < s.closes]
        return self.current
