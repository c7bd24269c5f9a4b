"""Flattening the real (anonymized) Qtickets answers into warehouse rows."""

from __future__ import annotations

import copy
import datetime as dt
import random
import re
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from zakaz_pipeline.columns import row_count
from zakaz_pipeline.qtickets.fields import UpstreamDataError
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
from zakaz_pipeline.simulator.shop import CORRUPTIONS, SimulatedAccount
from zakaz_pipeline_tests.conftest import ACCOUNT_NOW

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


def corrupted(kind: str, seed: int = 1) -> tuple[list[dict], int, int | None]:
    """The paid orders of a small account after ``corrupt(kind)``, the order's and the basket's id."""
    account = SimulatedAccount.generate(seed=5, orders=80, events=3, history_days=30, now=ACCOUNT_NOW)
    order_id, basket_id = account.corrupt(kind, random.Random(seed))
    return [o for o in account.orders if o["payed_at"]], order_id, basket_id


@pytest.mark.parametrize(
    ("kind", "told"),
    [
        ("price", "price is not an amount ('1 500,00', a string)"),
        ("baskets", "baskets is missing"),
        ("quantity", "quantity is not a count of tickets, 1 or more (-1, a number)"),
        ("timestamp", "checked_at is outside what the warehouse holds"),
    ],
)
def test_each_bad_value_the_simulator_serves_names_its_order_basket_and_field(kind: str, told: str) -> None:
    orders, order_id, basket_id = corrupted(kind)
    with pytest.raises(UpstreamDataError) as raised:
        ticket_columns(orders, org="o", tz=MSK, pii_key=KEY)
    where = f"order {order_id}" + ("" if basket_id is None else f", basket {basket_id}")
    assert f"{where}: {told}" in str(raised.value)
    assert raised.value.field == CORRUPTIONS[kind][0]
    assert isinstance(raised.value, ValueError), "bad data is a ValueError: no retry heals it"


@pytest.mark.parametrize(
    ("field", "value", "told"),
    [
        ("payed_at", "0001-01-01T00:00:00+14:00", "payed_at is outside what the warehouse holds"),
        ("payed_at", "9999-12-31T23:59:59-14:00", "payed_at is outside what the warehouse holds"),
        ("payed_at", "1969-12-31T23:59:59+00:00", "payed_at is outside what the warehouse holds"),
        ("payed_at", "2106-02-07T06:28:16+00:00", "payed_at is outside what the warehouse holds"),
        ("payed_at", "2024-05-01 12:00:00", "payed_at has no UTC offset"),
        ("payed_at", "yesterday", "payed_at is not a timestamp ('yesterday', a string)"),
        ("event_id", None, "event_id is not an id (null)"),
        ("baskets", None, "baskets is not a list (null)"),
    ],
)
def test_an_order_field_the_facts_need_is_read_or_refused(sample_orders, field: str, value, told: str) -> None:
    order = copy.deepcopy(next(o for o in sample_orders if o["payed_at"]))
    order[field] = value
    with pytest.raises(UpstreamDataError, match=re.escape(f"order {order['id']}: {told}")):
        ticket_columns([order], org="o", tz=MSK, pii_key=KEY)


@pytest.mark.parametrize(
    ("field", "value", "told"),
    [
        ("price", "NaN", "price is not an amount ('NaN', a string)"),
        ("price", 1e17, "price is not an amount (1e+17, a number)"),
        ("price", {"amount": 1}, "price is not an amount (a dict)"),
        ("refunded_amount", True, "refunded_amount is not an amount (True, a flag)"),
        ("quantity", 0, "quantity is not a count of tickets, 1 or more (0, a number)"),
        ("show_id", "12a", "show_id is not an id ('12a', a string)"),
    ],
)
def test_a_basket_field_the_facts_need_is_read_or_refused(sample_orders, field: str, value, told: str) -> None:
    order = copy.deepcopy(next(o for o in sample_orders if o["payed_at"]))
    order["baskets"][-1][field] = value
    where = f"order {order['id']}, basket {order['baskets'][-1]['id']}"
    with pytest.raises(UpstreamDataError, match=re.escape(f"{where}: {told}")):
        ticket_columns([order], org="o", tz=MSK, pii_key=KEY)


def test_a_missing_key_is_drift_but_an_empty_value_is_data(sample_orders) -> None:
    """``[]`` is a real order with nothing in it and null a real empty value; a key gone is not."""
    order = copy.deepcopy(next(o for o in sample_orders if o["payed_at"] and o["baskets"]))
    empty = dict(order, baskets=[])
    assert row_count(ticket_columns([empty], org="o", tz=MSK, pii_key=KEY)) == 0
    refunded_none = copy.deepcopy(order)
    refunded_none["baskets"][0]["refunded_amount"] = None
    rows = ticket_columns([refunded_none], org="o", tz=MSK, pii_key=KEY)
    assert rows["refunded_amount"][0] == Decimal("0.00")
    for record, key in [(order, "payed"), (order, "deleted_at"), (order["baskets"][0], "refunded_at")]:
        broken = copy.deepcopy(order)
        target = broken if record is order else broken["baskets"][0]
        del target[key]
        with pytest.raises(UpstreamDataError, match=f"{key} is missing"):
            ticket_columns([broken], org="o", tz=MSK, pii_key=KEY)


def test_bad_data_errors_quote_no_personal_value(sample_orders) -> None:
    """The error names ids and the bad field's value, never the buyer's details beside it."""
    order = copy.deepcopy(next(o for o in sample_orders if o["payed_at"] and o["client"]["email"]))
    order["baskets"][0]["price"] = "1 500,00"
    with pytest.raises(UpstreamDataError) as raised:
        ticket_columns([order], org="o", tz=MSK, pii_key=KEY)
    assert not {word for word in personal_values([order]) if word in str(raised.value)}


def test_a_bad_show_date_names_its_event_and_show(sample_events) -> None:
    event = copy.deepcopy(next(e for e in sample_events if e["shows"]))
    event["shows"][0]["start_date"] = "0001-01-01T00:00:00+14:00"
    where = f"event {event['id']}, show {event['shows'][0]['id']}"
    with pytest.raises(UpstreamDataError, match=re.escape(f"{where}: start_date is outside")):
        event_columns([event], org="o")
