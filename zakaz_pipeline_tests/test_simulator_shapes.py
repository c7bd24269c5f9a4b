"""The simulator's JSON has the real API's shape: same keys, same JSON types.

Allowed keys and types are computed from the anonymized real answers, never typed in
here, so a sample refresh tightens this test by itself.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import orjson
import pytest
import requests

from zakaz_pipeline.simulator.rendering import MOSCOW
from zakaz_pipeline.simulator.server import SimulatorServer
from zakaz_pipeline.simulator.shop import SimulatedAccount
from zakaz_pipeline_tests.conftest import load_sample

NOW = dt.datetime(2025, 11, 20, 15, 0, tzinfo=MOSCOW)
TOKEN = "shape-token"
# The samples never show a refunded ticket, so `refunded_at` is null in all of them;
# QTICKETS_API.md documents it as the refund's timestamp.
BEYOND_SAMPLES = {("basket", "refunded_at"): {"string"}}

Objects = Callable[[Any], Iterable[dict]]
# kind -> how to reach objects of that kind from the orders / events page data
ORDER_KINDS: dict[str, Objects] = {
    "order": lambda orders: orders,
    "basket": lambda orders: (b for o in orders for b in o["baskets"]),
    "client": lambda orders: (o["client"] for o in orders if o["client"]),
    "client.details": lambda orders: (o["client"]["details"] for o in orders if o["client"]),
    "site": lambda orders: (o["site"] for o in orders if isinstance(o["site"], dict)),
}
EVENT_KINDS: dict[str, Objects] = {
    "event": lambda events: events,
    "city": lambda events: (e["city"] for e in events),
    "payment": lambda events: (p for e in events for p in e["payments"]),
    "poster": lambda events: (e["poster"] for e in events),
    "ticket": lambda events: (e["ticket"] for e in events),
    "mail_template": lambda events: (e["mail_template"] for e in events),
    "show": lambda events: (s for e in events for s in e["shows"]),
    "price": lambda events: (p for e in events for s in e["shows"] for p in s["prices"]),
    "min_price": lambda events: (s["min_price"] for e in events for s in e["shows"] if s["min_price"]),
    "max_price": lambda events: (s["max_price"] for e in events for s in e["shows"] if s["max_price"]),
}


def json_type(value: Any) -> str:
    """The JSON type of a decoded value (int and float are both numbers)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return {str: "string", type(None): "null", list: "array", dict: "object"}[type(value)]


def _profile(objects: Iterable[dict]) -> tuple[list[frozenset[str]], dict[str, set[str]]]:
    """Key sets seen and JSON types seen per key."""
    key_sets: list[frozenset[str]] = []
    types: dict[str, set[str]] = defaultdict(set)
    for obj in objects:
        key_sets.append(frozenset(obj))
        for key, value in obj.items():
            types[key].add(json_type(value))
    return key_sets, types


@pytest.fixture(scope="module")
def account() -> SimulatedAccount:
    return SimulatedAccount.generate(seed=11, orders=600, events=8, now=NOW)


@pytest.fixture(scope="module")
def served(account: SimulatedAccount) -> tuple[dict, dict]:
    """One page of orders and one of events as the server sends them (decoded JSON)."""
    with SimulatorServer(account, token=TOKEN) as server:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        orders = requests.get(f"{server.base_url}/orders", json={"perPage": 1000}, headers=headers, timeout=10)
        events = requests.get(f"{server.base_url}/events", json={"perPage": 1000}, headers=headers, timeout=10)
    return orders.json(), events.json()


def _assert_same_shape(kind: str, sample: Iterable[dict], generated: Iterable[dict]) -> None:
    sample_keys, sample_types = _profile(sample)
    generated_keys, generated_types = _profile(generated)
    assert sample_keys and generated_keys, f"no {kind} objects to compare"
    assert set(generated_keys) == set(sample_keys), f"{kind}: key sets differ"
    for key, seen in generated_types.items():
        allowed = sample_types[key] | BEYOND_SAMPLES.get((kind, key), set())
        assert seen <= allowed, f"{kind}.{key}: generated {sorted(seen)}, samples allow {sorted(allowed)}"


@pytest.mark.parametrize("kind", sorted(ORDER_KINDS))
def test_order_objects_match_samples(kind: str, sample_orders: list[dict], served: tuple[dict, dict]) -> None:
    reach = ORDER_KINDS[kind]
    _assert_same_shape(kind, reach(sample_orders), reach(served[0]["data"]))


@pytest.mark.parametrize("kind", sorted(EVENT_KINDS))
def test_event_objects_match_samples(kind: str, sample_events: list[dict], served: tuple[dict, dict]) -> None:
    reach = EVENT_KINDS[kind]
    _assert_same_shape(kind, reach(sample_events), reach(served[1]["data"]))


def test_utm_is_an_empty_list_or_an_object_of_sample_keys(sample_orders: list[dict], served: tuple[dict, dict]) -> None:
    sample_keys = {key for o in sample_orders if isinstance(o["utm"], dict) for key in o["utm"]}
    sample_value_types = {json_type(v) for o in sample_orders if isinstance(o["utm"], dict) for v in o["utm"].values()}
    utms = [o["utm"] for o in served[0]["data"]]
    assert [] in utms
    objects = [utm for utm in utms if isinstance(utm, dict)]
    assert objects
    assert all(utm and set(utm) <= sample_keys for utm in objects)
    assert {json_type(v) for utm in objects for v in utm.values()} <= sample_value_types
    assert len({frozenset(utm) for utm in objects}) > 1, "which utm_* keys are present should vary"
    assert all(utm == [] for utm in utms if not isinstance(utm, dict))


def test_scalar_quirks_match_samples(sample_orders: list[dict], served: tuple[dict, dict]) -> None:
    orders = served[0]["data"]
    for key in ("custom", "fields", "refunds", "integrations"):
        assert {orjson.dumps(o[key]) for o in orders} <= {orjson.dumps(o[key]) for o in sample_orders}, key
    timestamps = [o["created_at"] for o in orders] + [s["start_date"] for e in served[1]["data"] for s in e["shows"]]
    assert all(stamp.endswith("+03:00") for stamp in timestamps)
    assert {o["payment_type_id"] for o in orders} >= {"card", "bankcard"}
    assert any(o["payment_type_id"].isdigit() for o in orders)


def test_show_scheme_properties_keep_the_real_nesting(sample_events: list[dict], served: tuple[dict, dict]) -> None:
    sample_top = {frozenset(s["scheme_properties"]) for e in sample_events for s in e["shows"]}
    for event in served[1]["data"]:
        for show in event["shows"]:
            scheme = show["scheme_properties"]
            assert frozenset(scheme) in sample_top
            assert set(scheme["admin"]["zones"]) == set(scheme["zones"])
            assert all(seat_id.rsplit("-", 1)[0] in scheme["zones"] for seat_id in scheme["seats"])
            assert len(orjson.dumps(scheme)) < 20_000, "keep the hall description small"


def test_paging_object_matches_samples(served: tuple[dict, dict]) -> None:
    for name, (page, _) in (("orders_page.json", served), ("events_page.json", served[::-1])):
        sample_paging = load_sample(name)["paging"]
        assert set(page) == {"data", "paging"}
        assert set(page["paging"]) == set(sample_paging)
        assert {k: json_type(v) for k, v in page["paging"].items()} == {
            k: json_type(v) for k, v in sample_paging.items()
        }
