"""Flatten Qtickets answers into warehouse rows, column by column.

Rows are built as ``Columns`` (column name → list of values) because that is what a
columnar insert takes: no per-row dicts are kept. Every quirk of the API's shapes is
absorbed here (``utm`` as ``[]`` or an object, amounts as ints or floats, ids as ints or
numeric strings), so the warehouse only ever sees one type per column.

Every value the facts need is read by ``fields.py``: one that cannot be stored truthfully
(a price ``"1 500,00"``, a missing ``baskets`` key, a negative quantity, a timestamp out of
range) raises ``UpstreamDataError`` naming the order, the basket and the field.

Personal data stops here: the buyer's e-mail is turned into ``buyer_key`` (keyed
HMAC-SHA256) and no name, phone, e-mail or card number is copied into any column.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from zakaz_pipeline.columns import Columns, empty_columns, rows_of
from zakaz_pipeline.qtickets.fields import (
    FieldError,
    UpstreamDataError,
    amount,
    items,
    moment,
    optional_whole,
    require,
    tickets,
    whole,
)
from zakaz_pipeline.qtickets.rules import show_is_on_sale

UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")

TICKET_COLUMNS = (
    "org", "sales_date", "order_id", "basket_id", "event_id", "show_id",
    "seat_id", "zone_id", "seat_row", "seat_place", "seat_name", "quantity",
    "sale_ts", "payed", "order_created_at", "order_updated_at", "order_deleted_at",
    "basket_created_at", "basket_updated_at", "basket_deleted_at", "checked_at",
    "refunded_at", "refunded_amount", "refunded_deduction_amount",
    "original_price", "discount_value", "price", "service_fee_amount", "currency",
    "discount_id", "promo_code_id", "payment_type", *UTM_KEYS, "site_host", "buyer_key",
)  # fmt: skip

EVENT_COLUMNS = (
    "org", "event_id", "event_name", "is_active", "is_deleted", "deleted_at",
    "city_id", "city", "city_timezone", "place_name", "place_address", "age", "currency",
    "show_count", "first_show_at", "last_show_at", "created_at", "updated_at",
)  # fmt: skip

SHOW_COLUMNS = (
    "org", "show_id", "event_id", "show_name", "is_active", "is_deleted", "deleted_at",
    "start_date", "finish_date", "open_date", "sale_start_date", "sale_finish_date",
    "min_price", "max_price", "created_at", "updated_at",
)  # fmt: skip

INVENTORY_COLUMNS = ("org", "snapshot_ts", "event_id", "show_id", "tickets_total", "tickets_left")

# Keys a paid order and each of its baskets must have for the facts (docs/ARCHITECTURE.md, "Definitions"):
# their absence is schema drift, whatever value they hold (null, [] and 0 are values).
ORDER_KEYS = frozenset({"id", "payed", "payed_at", "deleted_at", "event_id", "baskets"})
BASKET_KEYS = frozenset({"id", "show_id", "price", "quantity", "deleted_at", "refunded_at", "refunded_amount"})


def buyer_key(email: str | None, pii_key: bytes) -> str:
    """Keyed hash of the lower-cased e-mail: counts repeat buyers, reveals no one."""
    if not email:
        return ""
    normalized = email.strip().lower().encode()
    return hmac.new(pii_key, normalized, hashlib.sha256).hexdigest()


def split_seat(seat_id: str) -> tuple[str, str, str]:
    """``"PARTERRE-20;7"`` → zone ``PARTERRE``, row ``20``, place ``7``."""
    zone, sep, position = seat_id.rpartition("-")
    if not sep or ";" not in position:
        return seat_id, "", ""
    row, _, place = position.partition(";")
    return zone, row, place


def ticket_columns(orders: Iterable[Mapping[str, Any]], *, org: str, tz: ZoneInfo, pii_key: bytes) -> Columns:
    """One row per basket of every order that has a payment time.

    Unpaid orders carry no sales date and are left out; cancelled orders and tickets
    are kept with their cancellation times so the facts can tell sold from not sold.
    Each row is one tuple in ``TICKET_COLUMNS`` order, turned into columns at the end in
    one transposition: appending 40 values a ticket one by one cost half the flattening.
    """
    rows: list[tuple[Any, ...]] = []
    for order in orders:
        basket: Any = None
        try:
            require(order, ORDER_KEYS, "order")
            payed_at = moment(order, "payed_at")
            if payed_at is None:
                continue
            shared = _order_fields(order, org, payed_at, payed_at.astimezone(tz).date(), pii_key)
            for basket in items(order, "baskets"):
                rows.append(_ticket_row(basket, *shared))
        except FieldError as error:
            raise UpstreamDataError(_record("order", order, "basket", basket), error) from None
    if not rows:
        return empty_columns(TICKET_COLUMNS)
    return dict(zip(TICKET_COLUMNS, map(list, zip(*rows, strict=True)), strict=True))


def _order_fields(
    order: Mapping[str, Any], org: str, payed_at: dt.datetime, sales_date: dt.date, pii_key: bytes
) -> tuple[tuple[Any, ...], tuple[Any, ...], tuple[Any, ...]]:
    """The order's share of a ticket row: ``org`` … ``event_id`` (around the basket's
    id), ``sale_ts`` … ``order_deleted_at``, and ``currency`` … ``buyer_key``."""
    utm, client, site = (_nested(order, key) for key in ("utm", "client", "site"))
    head = (org, sales_date, whole(order, "id"), whole(order, "event_id"))
    dates = (
        payed_at,
        bool(order["payed"]),
        moment(order, "created_at"),
        moment(order, "updated_at"),
        moment(order, "deleted_at"),
    )
    tail = (
        str(order.get("currency_id") or ""),
        optional_whole(order, "discount_id"),
        optional_whole(order, "promo_code_id"),
        str(order.get("payment_type_id") or ""),
        *(str(utm.get(key) or "") for key in UTM_KEYS),
        str(site.get("host") or ""),
        buyer_key(client.get("email"), pii_key),
    )
    return head, dates, tail


def _ticket_row(
    basket: Mapping[str, Any], head: tuple[Any, ...], dates: tuple[Any, ...], tail: tuple[Any, ...]
) -> tuple[Any, ...]:
    """One ticket's values, in ``TICKET_COLUMNS`` order."""
    require(basket, BASKET_KEYS, "basket")
    org, sales_date, order_id, event_id = head
    seat_id = str(basket.get("seat_id") or "")
    zone, row, place = split_seat(seat_id)
    return (
        org, sales_date, order_id, whole(basket, "id"), event_id, whole(basket, "show_id"),
        seat_id, zone, row, place, str(basket.get("seat_name") or ""), tickets(basket, "quantity"),
        *dates,
        moment(basket, "created_at"), moment(basket, "updated_at"),
        moment(basket, "deleted_at"), moment(basket, "checked_at"),
        moment(basket, "refunded_at"), amount(basket, "refunded_amount"),
        amount(basket, "refunded_deduction_amount"), amount(basket, "original_price"),
        amount(basket, "discount_value"), amount(basket, "price"), amount(basket, "service_fee_amount"),
        *tail,
    )  # fmt: skip


def _record(kind: str, record: Any, part_kind: str, part: Any) -> str:
    """``order 12, basket 34``: which record a bad field is in, by ids alone."""
    name = f"{kind} {_id_of(record)}"
    return name if part is None else f"{name}, {part_kind} {_id_of(part)}"


def _id_of(record: Any) -> str:
    value = record.get("id") if isinstance(record, dict) else None
    return str(value) if type(value) is int else "without an id" if value is None else f"{str(value)[:40]!r}"


def event_columns(events: Iterable[Mapping[str, Any]], *, org: str) -> tuple[Columns, Columns]:
    """``dim_events`` and ``dim_shows`` rows; the city object is split into id, name, zone."""
    event_out, show_out = empty_columns(EVENT_COLUMNS), empty_columns(SHOW_COLUMNS)
    for event in events:
        show: Any = None
        rows: list[tuple[Any, ...]] = []
        try:
            event_id = whole(event, "id")
            for show in event.get("shows") or []:
                rows.append(_show_row(org, event_id, show))
            show = None
            values = _event_row(org, event_id, event, [row[7] for row in rows if row[7]], len(rows))
        except FieldError as error:
            raise UpstreamDataError(_record("event", event, "show", show), error) from None
        for name, value in zip(EVENT_COLUMNS, values, strict=True):
            event_out[name].append(value)
        for row in rows:
            for name, value in zip(SHOW_COLUMNS, row, strict=True):
                show_out[name].append(value)
    return event_out, show_out


def _event_row(
    org: str, event_id: int, event: Mapping[str, Any], starts: list[dt.datetime], show_count: int
) -> tuple[Any, ...]:
    city = _nested(event, "city")
    return (
        org, event_id, str(event.get("name") or ""), bool(event.get("is_active")),
        event.get("deleted_at") is not None, moment(event, "deleted_at"),
        optional_whole(city, "id") if city.get("id") else optional_whole(event, "city_id"),
        str(city.get("name") or ""), str(city.get("timezone") or ""), str(event.get("place_name") or ""),
        str(event.get("place_address") or ""), str(event.get("age") or ""),
        str(event.get("currency_id") or ""), show_count, min(starts, default=None),
        max(starts, default=None), moment(event, "created_at"), moment(event, "updated_at"),
    )  # fmt: skip


def _show_row(org: str, event_id: int, show: Mapping[str, Any]) -> tuple[Any, ...]:
    """A ``dim_shows`` row in ``SHOW_COLUMNS`` order (``start_date`` is its 8th value)."""
    return (
        org, whole(show, "id"), event_id, str(show.get("name") or ""), bool(show.get("is_active")),
        show.get("deleted_at") is not None, moment(show, "deleted_at"),
        moment(show, "start_date"), moment(show, "finish_date"),
        moment(show, "open_date"), moment(show, "sale_start_date"),
        moment(show, "sale_finish_date"), _price(show, "min_price"),
        _price(show, "max_price"), moment(show, "created_at"), moment(show, "updated_at"),
    )  # fmt: skip


def _price(show: Mapping[str, Any], key: str) -> Decimal | None:
    """``min_price``/``max_price`` are price objects, null, or (defensively) plain amounts."""
    value = show.get(key)
    if isinstance(value, dict):
        return amount(value, "default_price")
    return None if value is None else amount(show, key)


def shows_on_sale(event_rows: Columns, show_rows: Columns, now: dt.datetime) -> list[tuple[int, int]]:
    """``(event_id, show_id)`` of every show whose inventory is worth a snapshot now.

    Read from the flattened rows (``dim_events``/``dim_shows``, as :func:`event_columns`
    builds them), so the inventory asset snapshots and ``zakaz sync --dry-run`` counts the
    same shows, by the same flags as the warehouse holds."""
    events = {row["event_id"]: row for row in rows_of(event_rows)}
    return [
        (show["event_id"], show["show_id"])
        for show in rows_of(show_rows)
        if show["event_id"] in events and show_is_on_sale(events[show["event_id"]], show, now)
    ]


def show_inventory(seats: Iterable[Mapping[str, Any]]) -> tuple[int, int]:
    """``(tickets_total, tickets_left)``: Σ max and Σ free quantity over the enabled
    physical seats. A seat offered under several tariffs is listed once per tariff, each
    copy naming it as its ``root_id``: it counts once, with its copies' largest capacity and
    smallest free quantity. How seats held by a personal quota are reported when no
    ``context`` is sent is undocumented; they count as the answer gives them."""
    physical: dict[object, tuple[int, int]] = {}
    for index, seat in enumerate(seats):
        if _truthy(seat.get("disabled")):
            continue
        root = seat.get("root_id") or seat.get("id") or ("entry", index)
        total, left = int(seat.get("max_quantity") or 0), int(seat.get("free_quantity") or 0)
        if root in physical:
            known_total, known_left = physical[root]
            total, left = max(total, known_total), min(left, known_left)
        physical[root] = (total, left)
    return sum(total for total, _ in physical.values()), sum(left for _, left in physical.values())


def _nested(record: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """A nested object of an answer, empty where the API sends null or leaves it out."""
    value = record.get(key)
    return value if isinstance(value, dict) else {}


def _truthy(value: Any) -> bool:
    """Flags come as bools, 0/1 or "0"/"1"."""
    if isinstance(value, str):
        return value.strip() not in ("", "0", "false")
    return bool(value)
