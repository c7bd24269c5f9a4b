"""Flattening the real (anonymized) Qtickets answers into warehouse rows."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

from zakaz_pipeline.columns import row_count
from zakaz_pipeline.qtickets.rows import (
    TICKET_COLUMNS,
    buyer_key,
    event_columns,
    show_inventory,
    shows_on_sale,
    split_seat,
    ticket_columns,
)
from zakaz_pipeline.qtickets.rules import CENT, show_is_on_sale

KEY = b"k" * 32
MSK = ZoneInfo("Europe/Moscow")


def personal_values(orders: list[dict]) -> set[str]:
    values = set()
    for order in orders:
        details = order["client"]["details"]
        values |= {order["client"]["email"], details["phone"], details["name"], order["payment_card_number"]}
        for basket in order["baskets"]:
            values |= {basket["client_email"], basket["client_phone"], basket["client_name"], basket["client_surname"]}
    return {v for v in values if v}


def test_every_basket_of_paid_orders_becomes_one_row(sample_orders) -> None:
    rows = ticket_columns(sample_orders, org="o", tz=MSK, pii_key=KEY)
    paid = [o for o in sample_orders if o["payed_at"]]
    assert set(rows) == set(TICKET_COLUMNS)
    assert rows["basket_id"] == [b["id"] for o in paid for b in o["baskets"]]
    assert sum(rows["price"], Decimal(0)) == sum(Decimal(str(b["price"])) for o in paid for b in o["baskets"])
    assert all(isinstance(v, Decimal) and v == v.quantize(CENT) for v in rows["refunded_amount"])
    assert rows["sales_date"][0] == dt.datetime.fromisoformat(paid[0]["payed_at"]).astimezone(MSK).date()


def test_quirky_fields_get_one_type_per_column(sample_orders) -> None:
    rows = ticket_columns(sample_orders, org="o", tz=MSK, pii_key=KEY)
    assert {type(v) for v in rows["utm_source"]} == {str}
    assert "" in rows["utm_source"] and any(rows["utm_source"])  # utm as [] and as an object
    assert any(p.isdigit() for p in rows["payment_type"]) and "card" in rows["payment_type"]
    assert {type(v) for v in rows["discount_id"]} <= {int, type(None)}


def test_no_personal_value_survives_flattening(sample_orders) -> None:
    rows = ticket_columns(sample_orders, org="o", tz=MSK, pii_key=KEY)
    stored = {str(v) for values in rows.values() for v in values}
    assert not stored & personal_values(sample_orders)


def test_buyer_key_is_keyed_and_case_blind() -> None:
    assert buyer_key("Buyer1@Example.com", KEY) == buyer_key(" buyer1@example.com", KEY)
    assert buyer_key("buyer1@example.com", KEY) != buyer_key("buyer1@example.com", b"x" * 32)
    assert len(buyer_key("a@example.com", KEY)) == 64 and buyer_key(None, KEY) == ""


def test_events_keep_the_city_name_not_its_repr(sample_events) -> None:
    events, shows = event_columns(sample_events, org="o")
    assert events["city"] == [e["city"]["name"] for e in sample_events]
    assert events["city_timezone"] == [e["city"]["timezone"] for e in sample_events]
    assert row_count(shows) == sum(len(e["shows"]) for e in sample_events)
    assert events["is_deleted"] == [e["deleted_at"] is not None for e in sample_events]


def test_shows_on_sale_are_read_from_the_flattened_rows_as_from_the_answer(sample_events) -> None:
    """The inventory asset and the dry run pick shows from dim rows; the rule is the API's."""
    now = dt.datetime(2022, 1, 3, 8, tzinfo=MSK)
    events, shows = event_columns(sample_events, org="o")
    picked = shows_on_sale(events, shows, now)
    by_answer = [(e["id"], s["id"]) for e in sample_events for s in e["shows"] if show_is_on_sale(e, s, now)]
    assert picked == by_answer and len(picked) > 10
    assert not {event for event, _ in picked} & {24089, 30926}, "an inactive and a deleted event sell nothing"


def test_seat_ids_and_inventory_sums() -> None:
    assert split_seat("PARTERRE-11а;7") == ("PARTERRE", "11а", "7")
    assert split_seat("detskij-bilet-v-budni-1;1") == ("detskij-bilet-v-budni", "1", "1")
    seats = [
        {"max_quantity": 1, "free_quantity": 0, "disabled": False},
        {"max_quantity": 1, "free_quantity": 1, "disabled": "1"},
        {"max_quantity": 300, "free_quantity": 120, "disabled": 0, "admission": True},
    ]
    assert show_inventory(seats) == (301, 120)
