"""Flatten Qtickets answers into warehouse rows, column by column.

Rows are built as ``Columns`` (column name → list of values) because that is what a
columnar insert takes: no per-row dicts are kept. Every quirk of the API's shapes is
absorbed here (``utm`` as ``[]`` or an object, amounts as ints or floats, ids as ints or
numeric strings), so the warehouse only ever sees one type per column.

Personal data stops here: the buyer's e-mail is turned into ``buyer_key`` (keyed
HMAC-SHA256) and no name, phone, e-mail or card number is copied into any column.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from zakaz_pipeline.columns import Columns, empty_columns, rows_of
from zakaz_pipeline.qtickets.rules import CENT, parse_ts, show_is_on_sale

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


def money(value: Any) -> Decimal:
    """Amounts arrive as ints, floats or numeric strings; store exact kopecks."""
    if value is None or value == "":
        return Decimal("0.00")
    return _kopecks(value)


@functools.lru_cache(maxsize=4096, typed=True)
def _kopecks(value: int | float | str) -> Decimal:
    """Cached because a two-year history has millions of amounts but only a few thousand
    distinct prices (a Decimal is immutable; ``typed`` keeps ``1`` and ``1.0`` apart)."""
    return Decimal(str(value)).quantize(CENT)


def optional_id(value: Any) -> int | None:
    if value is None or value == "":
        return None
    return int(value)


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
        payed_at = parse_ts(order.get("payed_at"))
        if payed_at is None:
            continue
        shared = _order_fields(order, org, payed_at, payed_at.astimezone(tz).date(), pii_key)
        rows.extend(_ticket_row(basket, *shared) for basket in order.get("baskets") or ())
    if not rows:
        return empty_columns(TICKET_COLUMNS)
    return dict(zip(TICKET_COLUMNS, map(list, zip(*rows, strict=True)), strict=True))


def _order_fields(
    order: Mapping[str, Any], org: str, payed_at: dt.datetime, sales_date: dt.date, pii_key: bytes
) -> tuple[tuple[Any, ...], tuple[Any, ...], tuple[Any, ...]]:
    """The order's share of a ticket row: ``org`` … ``event_id`` (around the basket's
    id), ``sale_ts`` … ``order_deleted_at``, and ``currency`` … ``buyer_key``."""
    utm, client, site = (_nested(order, key) for key in ("utm", "client", "site"))
    head = (org, sales_date, order["id"], order.get("event_id"))
    dates = (
        payed_at,
        bool(order.get("payed")),
        parse_ts(order.get("created_at")),
        parse_ts(order.get("updated_at")),
        parse_ts(order.get("deleted_at")),
    )
    tail = (
        str(order.get("currency_id") or ""),
        optional_id(order.get("discount_id")),
        optional_id(order.get("promo_code_id")),
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
    org, sales_date, order_id, event_id = head
    seat_id = str(basket.get("seat_id") or "")
    zone, row, place = split_seat(seat_id)
    return (
        org, sales_date, order_id, basket["id"], event_id, basket.get("show_id"),
        seat_id, zone, row, place, str(basket.get("seat_name") or ""), int(basket.get("quantity") or 1),
        *dates,
        parse_ts(basket.get("created_at")), parse_ts(basket.get("updated_at")),
        parse_ts(basket.get("deleted_at")), parse_ts(basket.get("checked_at")),
        parse_ts(basket.get("refunded_at")), money(basket.get("refunded_amount")),
        money(basket.get("refunded_deduction_amount")), money(basket.get("original_price")),
        money(basket.get("discount_value")), money(basket.get("price")), money(basket.get("service_fee_amount")),
        *tail,
    )  # fmt: skip


def event_columns(events: Iterable[Mapping[str, Any]], *, org: str) -> tuple[Columns, Columns]:
    """``dim_events`` and ``dim_shows`` rows; the city object is split into id, name, zone."""
    event_out, show_out = empty_columns(EVENT_COLUMNS), empty_columns(SHOW_COLUMNS)
    for event in events:
        city = _nested(event, "city")
        shows = event.get("shows") or []
        starts = [ts for ts in (parse_ts(show.get("start_date")) for show in shows) if ts]
        values = (
            org, event["id"], str(event.get("name") or ""), bool(event.get("is_active")),
            event.get("deleted_at") is not None, parse_ts(event.get("deleted_at")),
            optional_id(city.get("id") or event.get("city_id")), str(city.get("name") or ""),
            str(city.get("timezone") or ""), str(event.get("place_name") or ""),
            str(event.get("place_address") or ""), str(event.get("age") or ""),
            str(event.get("currency_id") or ""), len(shows), min(starts, default=None),
            max(starts, default=None), parse_ts(event.get("created_at")), parse_ts(event.get("updated_at")),
        )  # fmt: skip
        for name, value in zip(EVENT_COLUMNS, values, strict=True):
            event_out[name].append(value)
        for show in shows:
            _append_show(show_out, org, event["id"], show)
    return event_out, show_out


def _append_show(out: Columns, org: str, event_id: int, show: Mapping[str, Any]) -> None:
    values = (
        org, show["id"], event_id, str(show.get("name") or ""), bool(show.get("is_active")),
        show.get("deleted_at") is not None, parse_ts(show.get("deleted_at")),
        parse_ts(show.get("start_date")), parse_ts(show.get("finish_date")),
        parse_ts(show.get("open_date")), parse_ts(show.get("sale_start_date")),
        parse_ts(show.get("sale_finish_date")), _price(show.get("min_price")),
        _price(show.get("max_price")), parse_ts(show.get("created_at")), parse_ts(show.get("updated_at")),
    )  # fmt: skip
    for name, value in zip(SHOW_COLUMNS, values, strict=True):
        out[name].append(value)


def _price(value: Any) -> Decimal | None:
    """``min_price``/``max_price`` are price objects, null, or (defensively) plain amounts."""
    if isinstance(value, dict):
        return money(value.get("default_price"))
    return None if value is None else money(value)


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
