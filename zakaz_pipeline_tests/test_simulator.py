"""The Qtickets simulator: deterministic data, a faithful HTTP API and its ground truth.

Everything goes over a real socket with ``requests``; nothing is mocked.
"""

from __future__ import annotations

import ast
import datetime as dt
import itertools
import json
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests

from zakaz_pipeline.qtickets.rules import show_is_on_sale
from zakaz_pipeline.simulator.dialect import plain_seat
from zakaz_pipeline.simulator.rendering import MOSCOW
from zakaz_pipeline.simulator.server import SimulatorServer
from zakaz_pipeline.simulator.shop import SimulatedAccount, ticket_is_live
from zakaz_pipeline_tests import truth

NOW = dt.datetime(2025, 11, 20, 15, 0, tzinfo=MOSCOW)
TOKEN = "test-token"


def _generate(seed: int = 7) -> SimulatedAccount:
    return SimulatedAccount.generate(seed=seed, orders=600, events=8, now=NOW)


def ts(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


@pytest.fixture(scope="module")
def account() -> SimulatedAccount:
    """Shared and never mutated; mutation tests build their own."""
    return _generate()


@pytest.fixture(scope="module")
def server(account: SimulatedAccount) -> Iterator[SimulatorServer]:
    with SimulatorServer(account, token=TOKEN) as running:
        yield running


@pytest.fixture(scope="module")
def api(server: SimulatorServer) -> Callable[..., requests.Response]:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"

    def call(path: str, body: dict | None = None, params: dict | None = None) -> requests.Response:
        return session.get(f"{server.base_url}{path}", json=body, params=params, timeout=10)

    return call


def fetch_all(
    api: Callable[..., requests.Response],
    path: str,
    where: list[dict],
    order_by: dict | None = None,
    per_page: int = 97,
) -> tuple[list[dict], int]:
    """Every page of a list query, and the total the first page announced."""
    items: list[dict] = []
    page, total = 1, None
    while True:
        body: dict[str, Any] = {"where": where, "page": page, "perPage": per_page}
        if order_by:
            body["orderBy"] = order_by
        answer = api(path, body)
        assert answer.status_code == 200, answer.text
        payload = answer.json()
        total = payload["paging"]["total"] if total is None else total
        if not payload["data"]:
            return items, total
        items.extend(payload["data"])
        page += 1


def ids(items: list[dict]) -> list[int]:
    return [item["id"] for item in items]


def all_stamps(order: dict) -> list[str]:
    stamps = [v for k, v in order.items() if k.endswith("_at") and v]
    return stamps + [v for b in order["baskets"] for k, v in b.items() if k.endswith("_at") and v]


# --------------------------------------------------------------------------- generation


def dump(acc: SimulatedAccount) -> bytes:
    return orjson.dumps([acc.events, acc.orders, {str(k): v for k, v in acc.seats.items()}])


def test_same_seed_gives_byte_identical_data_and_another_seed_does_not(account: SimulatedAccount) -> None:
    assert dump(_generate()) == dump(account)
    assert dump(_generate(seed=8)) != dump(account)


@pytest.mark.parametrize("days", [1, 47, 1000])  # 1000 days on crosses 29 February 2028
def test_an_account_generated_days_later_is_the_same_account_dated_later(days: int) -> None:
    """What lets the tests meet one account on any day (``conftest.ACCOUNT_NOW``): moving
    ``now`` by whole days moves every timestamp by as many days and changes nothing else."""

    def later(stamp: re.Match[bytes]) -> bytes:
        day = dt.date.fromisoformat(stamp[1].decode()) + dt.timedelta(days=days)
        return day.isoformat().encode() + stamp[2]

    moved = SimulatedAccount.generate(seed=7, orders=600, events=8, now=NOW + dt.timedelta(days=days))
    assert dump(moved) == re.sub(rb"(\d{4}-\d{2}-\d{2})(T\d{2}:\d{2}:\d{2})", later, dump(_generate()))


def test_every_test_account_is_generated_at_a_pinned_moment() -> None:
    """A test's account generated from the current time differs from day to day, and so
    can its answer: each names its ``now`` (``conftest.ACCOUNT_NOW`` or a fixed moment), but
    the test of the default itself."""
    unpinned = []
    for path in sorted(Path(__file__).parent.glob("*.py")):
        for function in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(function, ast.FunctionDef) or function.name == DEFAULT_NOW_TEST:
                continue
            unpinned += [
                f"{path.name}:{call.lineno}"
                for call in ast.walk(function)
                if isinstance(call, ast.Call)
                and ast.unparse(call.func) == "SimulatedAccount.generate"
                and "now" not in {keyword.arg for keyword in call.keywords}
            ]
    assert unpinned == []


DEFAULT_NOW_TEST = "test_default_now_is_the_current_minute_in_moscow"


def test_default_now_is_the_current_minute_in_moscow() -> None:
    small = SimulatedAccount.generate(orders=20, events=2)
    assert small.now.utcoffset() == dt.timedelta(hours=3)
    assert small.now.second == small.now.microsecond == 0
    assert abs(dt.datetime.now(dt.UTC) - small.now) < dt.timedelta(minutes=2)


def test_ids_and_timestamps_grow_together_and_never_pass_now(account: SimulatedAccount) -> None:
    orders = account.orders
    assert len(orders) == 600
    assert ids(orders) == sorted(set(ids(orders)))
    assert all(ts(a["created_at"]) < ts(b["created_at"]) for a, b in itertools.pairwise(orders))
    assert orders[0]["id"] > 1_600_000 and orders[0]["baskets"][0]["id"] > 12_000_000
    basket_ids = [b["id"] for o in orders for b in o["baskets"]]
    assert basket_ids == sorted(set(basket_ids))
    events = account.events
    assert ids(events) == sorted(set(ids(events))) and events[0]["id"] > 24_000
    assert [e["created_at"] for e in events] == sorted(e["created_at"] for e in events)
    show_ids = [s["id"] for e in events for s in e["shows"]]
    assert len(set(show_ids)) == len(show_ids) and min(show_ids) > 150_000
    for order in orders:
        stamps = all_stamps(order)
        assert all(ts(stamp) <= account.now for stamp in stamps), order["id"]
        assert max(stamps, key=ts) == order["updated_at"], order["id"]


def test_orders_are_consistent_with_events_halls_and_prices(account: SimulatedAccount) -> None:
    show_event = {s["id"]: e["id"] for e in account.events for s in e["shows"]}
    for order in account.orders:
        shows = {b["show_id"] for b in order["baskets"]}
        assert len(shows) == 1 and show_event[shows.pop()] == order["event_id"]
        assert 1 <= len(order["baskets"]) <= 6
        seat_ids = {s["id"] for s in account.seats[order["baskets"][0]["show_id"]]}
        assert all(b["seat_id"] in seat_ids for b in order["baskets"])
        kept = [b for b in order["baskets"] if b["deleted_at"] is None or b["deleted_at"] == order["deleted_at"]]
        assert Decimal(str(order["price"])) == sum(Decimal(str(b["price"])) for b in kept)
        assert order["original_price"] == sum(b["original_price"] for b in order["baskets"])
        for basket in order["baskets"]:
            assert Decimal(str(basket["original_price"])) - Decimal(str(basket["discount_value"])) == Decimal(
                str(basket["price"])
            )


def test_events_cover_cities_time_zones_statuses_and_hall_kinds(account: SimulatedAccount) -> None:
    events = account.events
    assert len({e["city"]["name"] for e in events}) >= 5
    assert len({e["city"]["timezone"] for e in events}) >= 5
    assert all(e["city_id"] == e["city"]["id"] for e in events)
    assert all(1 <= len(e["shows"]) <= 13 for e in events)
    assert any(e["is_active"] == 0 for e in events) and any(e["deleted_at"] for e in events)
    on_sale = [s for e in events for s in e["shows"] if show_is_on_sale(e, s, account.now)]
    past = [s for e in events for s in e["shows"] if ts(s["finish_date"]) < account.now]
    assert on_sale and len(past) > len(on_sale)
    seats = [seat for show_seats in account.seats.values() for seat in show_seats]
    assert any(seat["admission"] and 50 <= seat["max_quantity"] <= 500 for seat in seats)
    assert any(seat["disabled"] for seat in seats)
    seated_halls = [len(v) for v in account.seats.values() if not v[0]["admission"]]
    assert seated_halls and all(50 <= size <= 400 for size in seated_halls)


def test_orders_mix_every_real_life_case(account: SimulatedAccount) -> None:
    orders = account.orders
    paid = [o for o in orders if o["payed"]]
    baskets = [(o, b) for o in orders for b in o["baskets"]]
    refunds = [b for _, b in baskets if b["refunded_at"]]
    assert any(b["refunded_deduction_amount"] == 0 for b in refunds)
    assert any(b["refunded_deduction_amount"] for b in refunds)
    assert all(
        Decimal(str(b["refunded_amount"])) + Decimal(str(b["refunded_deduction_amount"])) == Decimal(str(b["price"]))
        for b in refunds
    )
    assert any(b["price"] == 0 and b["discount_value"] == b["original_price"] for _, b in baskets)
    assert any(ts(o["payed_at"]) - ts(o["created_at"]) > dt.timedelta(hours=1) for o in paid)
    assert any(o["deleted_at"] is None and b["deleted_at"] for o, b in baskets if o["payed"])
    assert any(o["deleted_at"] and ts(o["deleted_at"]) > ts(o["payed_at"]) for o in paid)
    unpaid = [o for o in orders if not o["payed"]]
    assert 0.08 < len(unpaid) / len(orders) < 0.25
    assert all(o["payed_at"] is None for o in unpaid)
    assert sum(1 for o in unpaid if o["deleted_at"]) > len(unpaid) / 2
    assert any(o["deleted_at"] is None for o in unpaid), "an open unpaid order to pay in tests"
    cancelled_unpaid = [b for o in unpaid if o["deleted_at"] for b in o["baskets"]]
    assert all(
        b["deleted_at"] and b["refunded_amount"] == 0 == b["refunded_deduction_amount"] for b in cancelled_unpaid
    )
    assert any(isinstance(o["price"], float) for o in orders)
    assert 0.2 < sum(1 for o in orders if o["promo_code_id"]) / len(orders) < 0.45
    stamps = [ts(o["payed_at"]) for o in paid]
    assert any(s.date() != s.astimezone(dt.UTC).date() for s in stamps), "paid 00:00-03:00 MSK"
    assert any(s.time() >= dt.time(23, 30) or s.time() <= dt.time(0, 30) for s in stamps)
    assert Counter(type(o["utm"]) for o in orders).keys() == {list, dict}


def test_repeat_buyers_share_e_mails(account: SimulatedAccount) -> None:
    buyers = truth.buyer_emails(account)
    assert any(count >= 2 for count in buyers.values())
    assert all(email == email.lower() for email in buyers)
    same_client_email = sum(
        1 for o in account.orders for b in o["baskets"] if b["client_email"] == o["client"]["email"]
    )
    assert same_client_email > 0.8 * sum(len(o["baskets"]) for o in account.orders)


def test_personal_data_is_synthetic(account: SimulatedAccount) -> None:
    values = truth.personal_values(account)
    emails = {v for v in values if "@" in v}
    phones = {v for v in values if v.startswith("+7")}
    cards = {v for v in values if "******" in v}
    assert emails and phones and cards
    assert all(e.lower().startswith("buyer") and e.lower().endswith("@example.com") for e in emails)
    assert all(p.startswith("+7900") and len(p) == 12 for p in phones)
    assert all(c.startswith("400000******") and len(c) == 16 for c in cards)
    names = values - emails - phones - cards
    assert 4 <= len(names) <= 40


def test_no_seat_is_oversold_and_quantities_follow_live_tickets(account: SimulatedAccount) -> None:
    live: Counter[tuple[int, str]] = Counter()
    sold_anyhow: Counter[tuple[int, str]] = Counter()
    for order in account.orders:
        for basket in order["baskets"]:
            sold_anyhow[basket["show_id"], basket["seat_id"]] += 1
            if ticket_is_live(order, basket):
                live[basket["show_id"], basket["seat_id"]] += basket["quantity"]
    for show_id, seats in account.seats.items():
        for seat in seats:
            assert 0 <= seat["free_quantity"] <= seat["max_quantity"]
            assert seat["free_quantity"] == seat["max_quantity"] - live[show_id, seat["id"]]
            assert seat["payed_quantity"] + seat["ordered_quantity"] == live[show_id, seat["id"]]
            assert seat["admission"] or seat["max_quantity"] == 1
            if seat["disabled"]:
                assert sold_anyhow[show_id, seat["id"]] == 0


# --------------------------------------------------------------------------- HTTP list queries


@pytest.mark.parametrize(
    ("where", "keep"),
    [
        (
            [
                {"column": "payed_at", "operator": ">=", "value": "2025-10-01T00:00:00+03:00"},
                {"column": "payed_at", "operator": "<", "value": "2025-10-15T00:00:00+03:00"},
            ],
            lambda o: o["payed_at"] and "2025-10-01T00:00:00+03:00" <= o["payed_at"] < "2025-10-15T00:00:00+03:00",
        ),
        ([{"column": "id", "operator": ">", "value": 1_605_000}], lambda o: o["id"] > 1_605_000),
        ([{"column": "payed", "value": 1}], lambda o: o["payed"] is True),
        ([{"column": "deleted_at", "operator": "null"}], lambda o: o["deleted_at"] is None),
        ([{"column": "deleted_at", "operator": "not null"}], lambda o: o["deleted_at"] is not None),
        (
            [{"column": "payment_type_id", "operator": "in", "value": ["bankcard", "4326371"]}],
            lambda o: o["payment_type_id"] in ("bankcard", "4326371"),
        ),
        (
            [{"column": "payment_type_id", "operator": "not in", "value": ["card"]}],
            lambda o: o["payment_type_id"] != "card",
        ),
        ([{"column": "price", "operator": "<=", "value": 0}], lambda o: o["price"] <= 0),
        (
            [{"column": "discount_id", "operator": "!=", "value": 6861}],
            lambda o: o["discount_id"] is not None and o["discount_id"] != 6861,
        ),
    ],
)
def test_order_filters_match_a_python_filter(
    api: Callable, account: SimulatedAccount, where: list, keep: Callable
) -> None:
    expected = [o for o in account.orders if keep(o)]
    got, total = fetch_all(api, "/orders", where)
    assert ids(got) == ids(expected) and total == len(expected) and expected


def test_datetimes_compare_as_instants_whatever_the_offset(api: Callable) -> None:
    moscow = [{"column": "updated_at", "operator": ">", "value": "2025-11-01T03:00:00+03:00"}]
    utc = [{"column": "updated_at", "operator": ">", "value": "2025-11-01T00:00:00Z"}]
    novosibirsk = [{"column": "updated_at", "operator": ">", "value": "2025-11-01T07:00:00+07:00"}]
    answers = [ids(fetch_all(api, "/orders", where)[0]) for where in (moscow, utc, novosibirsk)]
    assert answers[0] and answers[0] == answers[1] == answers[2]


def test_order_by_desc_and_by_other_columns(api: Callable, account: SimulatedAccount) -> None:
    got, _ = fetch_all(api, "/orders", [{"column": "payed", "value": True}], {"id": "desc"})
    assert ids(got) == sorted((o["id"] for o in account.orders if o["payed"]), reverse=True)
    got, _ = fetch_all(api, "/orders", [], {"updated_at": "desc"}, per_page=250)
    stamps = [ts(o["updated_at"]) for o in got]
    assert len(got) == len(account.orders) and stamps == sorted(stamps, reverse=True)


def test_body_and_query_parameter_forms_agree(api: Callable) -> None:
    where = [{"column": "payed", "value": 1}, {"column": "id", "operator": ">", "value": 1_603_000}]
    order_by = {"id": "desc"}
    by_body = api("/orders", {"where": where, "orderBy": order_by, "page": 2, "perPage": 20})
    by_query = api(
        "/orders", params={"where": json.dumps(where), "orderBy": json.dumps(order_by), "page": 2, "perPage": 20}
    )
    assert by_body.status_code == by_query.status_code == 200
    assert by_body.content == by_query.content


def test_paging_defaults_caps_and_totals(api: Callable, account: SimulatedAccount) -> None:
    first = api("/orders").json()
    assert first["paging"] == {"perPage": 50, "currentPage": 1, "total": len(account.orders)}
    assert ids(first["data"]) == ids(account.orders[:50])
    events = api("/events").json()
    assert events["paging"] == {"perPage": 10, "currentPage": 1, "total": len(account.events)}
    capped = api("/orders", {"perPage": 5000}).json()
    assert capped["paging"]["perPage"] == 1000 and len(capped["data"]) == len(account.orders)
    beyond = api("/orders", {"page": 99, "perPage": 100}).json()
    assert beyond["data"] == [] and beyond["paging"]["total"] == len(account.orders)
    keyset = api("/orders", {"where": [{"column": "id", "operator": ">=", "value": account.orders[-3]["id"]}]}).json()
    assert ids(keyset["data"]) == ids(account.orders[-3:]) and keyset["paging"]["total"] == 3


def test_single_objects_and_missing_ones(api: Callable, account: SimulatedAccount) -> None:
    order, event = account.orders[123], account.events[2]
    assert api(f"/orders/{order['id']}").json() == {"data": order}
    assert api(f"/events/{event['id']}").json() == {"data": event}
    for path, resource in (("/orders/1", "Order"), ("/events/1", "Event"), ("/shows/1/seats", "Show")):
        answer = api(path)
        assert answer.status_code == 404 and answer.json() == {
            "error": f'Resource "{resource}" not found',
            "status": 404,
            "code": "RESOURCE_NOT_FOUND",
            "info": {"id": 1, "resource": resource},
        }, path
    for path in (f"/events/{event['id']}/seats", f"/events/{event['id']}/seats/{event['shows'][0]['id']}", "/clients"):
        answer = api(path)  # routes the API does not have: its site's HTML page, as the real one answers
        assert answer.status_code == 404 and answer.headers["Content-Type"].startswith("text/html"), path
        assert "Страница не найдена" in answer.text


def test_bad_queries_answer_400_with_the_error_shape(api: Callable) -> None:
    for body in (
        {"where": [{"column": "no_such_column", "value": 1}]},
        {"where": [{"column": "id", "operator": "like", "value": 1}]},
        {"where": [{"column": "updated_at", "operator": ">", "value": "yesterday"}]},
        {"orderBy": {"no_such_column": "asc"}},
        {"page": 0},
    ):
        answer = api("/orders", body)
        assert answer.status_code == 400, body
        assert set(answer.json()) == {"error", "status"} and answer.json()["status"] == 400


def test_missing_and_wrong_tokens(server: SimulatorServer) -> None:
    url = f"{server.base_url}/orders"
    missing = requests.get(url, timeout=10)
    wrong = requests.get(url, headers={"Authorization": "Bearer nope"}, timeout=10)
    assert missing.status_code == 401 and missing.json() == {"error": "Unauthorized", "status": 401}
    assert wrong.status_code == 403 and wrong.json() == {"error": "Unauthorized", "status": 403}
    posted = requests.post(url, headers={"Authorization": f"Bearer {TOKEN}"}, json={}, timeout=10)
    assert posted.status_code == 405 and posted.json()["status"] == 405
    head = requests.head(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert head.status_code == 200 and head.content == b"" and int(head.headers["Content-Length"]) > 0


# --------------------------------------------------------------------------- seats and inventory


def _served_seats(api: Callable, show_id: int, body: dict | None = None) -> list[dict]:
    answer = api(f"/shows/{show_id}/seats", {"flat": True, **(body or {})})
    assert answer.status_code == 200
    data = answer.json()["data"]
    if show_id % 3 == 0:
        assert isinstance(data, list)
        return data
    assert isinstance(data, dict) and all(key == seat["id"] for key, seat in data.items())
    return list(data.values())


def test_seats_come_as_a_dict_or_a_list_and_honour_select(api: Callable, account: SimulatedAccount) -> None:
    shapes = {show_id % 3 == 0 for show_id in account.seats}
    assert shapes == {True, False}, "the fixture should exercise both answer shapes"
    for show_id in account.seats:
        assert _served_seats(api, show_id) == [plain_seat(seat) for seat in account.seats[show_id]]
    show_id = next(iter(account.seats))
    selected = _served_seats(api, show_id, {"select": ["free_quantity", "disabled"]})
    assert all(set(seat) == {"id", "free_quantity", "disabled"} for seat in selected)
    free = _served_seats(api, show_id, {"where": [{"column": "available", "value": True}]})
    assert free and all(seat["available"] for seat in free)
    nested = api(f"/shows/{show_id}/seats").json()["data"]
    assert all(zone["zone_id"] == key for key, zone in nested.items())
    flat_from_nested = [s for zone in nested.values() for s in zone["seats"].values()]
    assert sorted(ids(flat_from_nested)) == sorted(ids(account.seats[show_id]))


def test_show_inventory_equals_sums_over_served_seats(api: Callable, account: SimulatedAccount) -> None:
    inventory = truth.show_inventory(account)
    on_sale = {s["id"] for e in account.events for s in e["shows"] if show_is_on_sale(e, s, account.now)}
    assert set(inventory) == on_sale and inventory
    for show_id, (total, left) in inventory.items():
        seats = [s for s in _served_seats(api, show_id) if not s["disabled"]]
        assert (total, left) == (sum(s["max_quantity"] for s in seats), sum(s["free_quantity"] for s in seats))
        assert 0 <= left <= total


# --------------------------------------------------------------------------- ground truth


def test_daily_sales_agree_with_a_plain_count(account: SimulatedAccount) -> None:
    sales = truth.daily_sales(account)
    sold = [
        o
        for o in account.orders
        if o["payed"]
        and o["payed_at"]
        and o["deleted_at"] is None
        and any(b["deleted_at"] is None for b in o["baskets"])
    ]
    assert sum(cell.orders for cell in sales.values()) == len(sold)
    assert all(cell.orders >= 1 for cell in sales.values())
    assert all(cell.revenue == cell.gross_revenue - cell.refunded_amount for cell in sales.values())
    live_tickets = sum(1 for o in sold for b in o["baskets"] if b["deleted_at"] is None and b["refunded_at"] is None)
    assert sum(cell.tickets_sold for cell in sales.values()) == live_tickets
    assert all(cell.gross_revenue.as_tuple().exponent == -2 for cell in sales.values())
    first_day = min(day for day, _ in sales)
    assert account.first_payment_date("Europe/Moscow") == first_day


def test_sales_day_depends_on_the_time_zone(account: SimulatedAccount) -> None:
    moscow, utc = truth.daily_sales(account), truth.daily_sales(account, "UTC")
    assert moscow != utc

    def total(sales: dict) -> Decimal:
        return sum((cell.gross_revenue for cell in sales.values()), Decimal(0))

    assert total(moscow) == total(utc)


# --------------------------------------------------------------------------- mutations


@pytest.fixture()
def fresh() -> Iterator[tuple[SimulatedAccount, Callable[..., requests.Response]]]:
    own = _generate(seed=21)
    with SimulatorServer(own, token=TOKEN) as running:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {TOKEN}"
        yield own, lambda path, body=None: session.get(f"{running.base_url}{path}", json=body, timeout=10)


def _sold_order(account: SimulatedAccount, *, baskets: int = 1, on_sale: bool = False) -> dict:
    shows = {s["id"]: (e, s) for e in account.events for s in e["shows"]}
    for order in reversed(account.orders):
        live = [b for b in order["baskets"] if ticket_is_live(order, b) and b["price"]]
        whole = order["payed"] and len(live) >= baskets and len(live) == len(order["baskets"])
        if whole and (not on_sale or show_is_on_sale(*shows[live[0]["show_id"]], account.now)):
            return order
    raise AssertionError("no suitable order in the fixture")


def _cell(account: SimulatedAccount, order: dict) -> truth.DailySales:
    day = ts(order["payed_at"]).astimezone(MOSCOW).date()
    return truth.daily_sales(account)[day, order["event_id"]]


def test_refund_moves_money_and_frees_the_seat(fresh: tuple) -> None:
    account, api = fresh
    order = _sold_order(account, on_sale=True)
    basket = order["baskets"][0]
    show_id = basket["show_id"]
    before, stock = _cell(account, order), truth.show_inventory(account)[show_id]
    at = account.now + dt.timedelta(minutes=5)
    account.refund_basket(order["id"], basket["id"], deduction=Decimal("10.50"), at=at)
    after = _cell(account, order)
    price = Decimal(str(basket["price"]))
    assert after.gross_revenue == before.gross_revenue
    assert after.refunded_amount == before.refunded_amount + price - Decimal("10.50")
    assert after.tickets_sold == before.tickets_sold - 1
    assert truth.show_inventory(account)[show_id] == (stock[0], stock[1] + 1)
    served = api(f"/orders/{order['id']}").json()["data"]
    assert served["updated_at"] == served["baskets"][0]["updated_at"] == "2025-11-20T15:05:00+03:00"
    assert served["baskets"][0]["refunded_deduction_amount"] == 10.5
    assert served["baskets"][0]["deleted_at"] is None
    changed = api("/orders", {"where": [{"column": "updated_at", "operator": ">", "value": NOW.isoformat()}]}).json()
    assert ids(changed["data"]) == [order["id"]]


def test_cancelling_a_ticket_lowers_gross_and_the_order_price(fresh: tuple) -> None:
    account, _ = fresh
    order = _sold_order(account, baskets=2)
    basket = order["baskets"][0]
    before, price_before = _cell(account, order), Decimal(str(order["price"]))
    account.cancel_basket(order["id"], basket["id"])
    after = _cell(account, order)
    price = Decimal(str(basket["price"]))
    assert after.gross_revenue == before.gross_revenue - price
    assert after.tickets_sold == before.tickets_sold - 1 and after.orders == before.orders
    assert Decimal(str(order["price"])) == price_before - price
    assert basket["deleted_at"] == order["updated_at"] == basket["updated_at"] == account.now.isoformat()


def test_cancelling_and_paying_orders(fresh: tuple) -> None:
    account, api = fresh
    order = _sold_order(account)
    orders_before = sum(cell.orders for cell in truth.daily_sales(account).values())
    account.cancel_order(order["id"])
    assert order["deleted_at"] == order["updated_at"]
    assert all(b["deleted_at"] for b in order["baskets"])
    assert sum(cell.orders for cell in truth.daily_sales(account).values()) == orders_before - 1
    with pytest.raises(ValueError):
        account.pay_order(order["id"])
    pending = next(o for o in account.orders if not o["payed"] and o["deleted_at"] is None)
    at = account.now + dt.timedelta(hours=1)
    account.pay_order(pending["id"], at=at)
    account.advance(at)
    served = api(f"/orders/{pending['id']}").json()["data"]
    assert served["payed"] is True and served["payed_at"] == served["updated_at"] == at.isoformat()
    assert all(b["pdf_url"] for b in served["baskets"])
    assert sum(cell.orders for cell in truth.daily_sales(account).values()) == orders_before
    with pytest.raises(ValueError):
        account.advance(NOW)


def test_reads_stay_consistent_while_the_account_changes(fresh: tuple) -> None:
    account, api = fresh
    targets = [
        (o["id"], b["id"])
        for o in account.orders
        if o["payed"] and o["deleted_at"] is None
        for b in o["baskets"]
        if b["deleted_at"] is None and b["refunded_at"] is None
    ][:40]
    failures: list[str] = []

    def read() -> None:
        for page in range(1, 7):
            answer = api("/orders", {"page": page, "perPage": 100})
            if answer.status_code != 200 or len(answer.json()["data"]) != 100:
                failures.append(answer.text[:200])

    readers = [threading.Thread(target=read) for _ in range(4)]
    for reader in readers:
        reader.start()
    for order_id, basket_id in targets:
        account.refund_basket(order_id, basket_id)
    for reader in readers:
        reader.join()
    assert not failures
    refunded = api(
        "/orders", {"where": [{"column": "updated_at", "operator": ">=", "value": NOW.isoformat()}], "perPage": 1000}
    ).json()
    assert ids(refunded["data"]) == sorted({order_id for order_id, _ in targets})


# --------------------------------------------------------------------------- failure injection


def test_fail_next_answers_the_status_with_retry_after(account: SimulatedAccount) -> None:
    server_requests: list = []
    with SimulatorServer(account, token=TOKEN) as server:
        server.fail_next(429, 2, retry_after=7, path_prefix="/orders")
        server.fail_next(503, path_prefix="/events")
        headers = {"Authorization": f"Bearer {TOKEN}"}
        url = server.base_url
        assert requests.get(f"{url}/events/{account.events[0]['id']}", headers=headers, timeout=10).status_code == 503
        limited = [requests.get(f"{url}/orders", headers=headers, timeout=10) for _ in range(3)]
        assert [r.status_code for r in limited] == [429, 429, 200]
        assert limited[0].headers["Retry-After"] == "7" and "Retry-After" not in limited[2].headers
        assert limited[0].json() == {"error": limited[0].json()["error"], "status": 429}
        assert requests.get(f"{url}/events", headers=headers, timeout=10).status_code == 200
        server_requests = list(server.requests)
    assert [(r.path, r.status) for r in server_requests] == [
        (f"/events/{account.events[0]['id']}", 503),
        ("/orders", 429),
        ("/orders", 429),
        ("/orders", 200),
        ("/events", 200),
    ]
