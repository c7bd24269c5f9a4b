"""The API client against the simulator over real HTTP: paging, filters, retries, auth."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from dagster import EnvVar

from zakaz_pipeline.defs.resources import QticketsResource, build_resources
from zakaz_pipeline.qtickets.client import (
    DEFAULT_READ_TIMEOUT,
    SEAT_FIELDS,
    QticketsAuthError,
    QticketsClient,
    QticketsError,
    QticketsFilterIgnored,
    QticketsFilterRefused,
    QticketsRequestError,
    flat_seats,
)
from zakaz_pipeline.qtickets.concurrency import RequestLimiter, payment_windows
from zakaz_pipeline.qtickets.filters import where
from zakaz_pipeline.qtickets.rows import show_inventory, ticket_columns
from zakaz_pipeline.qtickets.rules import parse_ts
from zakaz_pipeline.settings import ConfigError, Settings
from zakaz_pipeline.simulator.dialect import ApiDialect
from zakaz_pipeline.simulator.faults import FaultPlan
from zakaz_pipeline.simulator.server import SimulatorServer
from zakaz_pipeline_tests.conftest import TOKEN

MSK = ZoneInfo("Europe/Moscow")


def client_for(server, **kwargs) -> QticketsClient:
    return QticketsClient(base_url=server.base_url, token=kwargs.pop("token", TOKEN), **kwargs)


def orders_requests(server, since: int) -> list:
    return [r for r in server.requests[since:] if r.path.endswith("/orders")]


def test_keyset_paging_sees_every_order_once_in_order(small_server, small_account) -> None:
    with client_for(small_server, per_page=37) as client:
        pages = list(client.iter_orders())
    ids = [order["id"] for page in pages for order in page]
    assert ids == [order["id"] for order in small_account.orders]
    assert len(pages) == -(-len(ids) // 37)
    assert all(len(page) <= 37 for page in pages)


def test_paid_range_filter_matches_the_data(small_server, small_account) -> None:
    start = dt.datetime.combine(small_account.now.date() - dt.timedelta(days=30), dt.time(), MSK)
    end = start + dt.timedelta(days=10)
    with client_for(small_server, per_page=50) as client:
        got = [o["id"] for page in client.iter_paid_orders(start, end) for o in page]
    expected = [o["id"] for o in small_account.orders if o["payed_at"] and start <= parse_ts(o["payed_at"]) < end]
    assert got == expected and expected


def test_a_whole_range_is_one_scan_not_one_per_day(small_server, small_account) -> None:
    start = dt.datetime.combine(small_account.first_payment_date("Europe/Moscow"), dt.time(), MSK)
    end = small_account.now + dt.timedelta(days=1)
    before = len(small_server.requests)
    with client_for(small_server, per_page=200) as client:
        orders = sum(len(page) for page in client.iter_paid_orders(start, end))
    assert len(orders_requests(small_server, before)) == -(-orders // 200)
    assert (end - start).days > 10 * len(orders_requests(small_server, before))


def test_transient_errors_are_retried(small_server) -> None:
    before = len(small_server.requests)
    small_server.fail_next(503, 2, path_prefix="/api/rest/v1/events")
    with client_for(small_server, backoff_factor=0.01) as client:
        events = [e for page in client.iter_events() for e in page]
    assert events
    statuses = [r.status for r in small_server.requests[before:] if r.path.endswith("/events")]
    assert statuses[:3] == [503, 503, 200]


def test_retry_after_is_honoured(small_server) -> None:
    small_server.fail_next(429, 1, retry_after=1, path_prefix="/api/rest/v1/events")
    with client_for(small_server, backoff_factor=0.01) as client:
        started = time.monotonic()
        next(client.iter_events())
    assert time.monotonic() - started >= 1.0


def test_persistent_errors_give_up_with_a_clear_error(small_server) -> None:
    small_server.fail_next(500, 3, path_prefix="/api/rest/v1/events")  # the first try and both retries
    with (
        client_for(small_server, max_retries=2, backoff_factor=0.01) as client,
        pytest.raises(QticketsError, match="gave up after 2 retries"),
    ):
        next(client.iter_events())


@pytest.mark.parametrize("token", ["wrong-token-do-not-print", ""])
def test_bad_or_missing_token_names_the_variable_and_hides_the_value(small_server, token: str) -> None:
    with (
        pytest.raises(QticketsAuthError, match="QTICKETS_TOKEN") as info,
        client_for(small_server, token=token) as client,
    ):
        next(client.iter_events())
    assert "wrong-token" not in str(info.value)


def test_unreachable_api_is_reported_without_retrying_forever() -> None:
    with (
        QticketsClient(base_url="http://127.0.0.1:9/api", token=TOKEN, max_retries=1, backoff_factor=0.01) as client,
        pytest.raises(QticketsError, match=r"127\.0\.0\.1:9"),
    ):
        next(client.iter_events())


def test_seats_come_flat_from_dict_and_list_answers(small_server, small_account) -> None:
    shows = [show["id"] for event in small_account.events for show in event["shows"]]
    as_list = next(s for s in shows if s % 3 == 0)
    as_dict = next(s for s in shows if s % 3 != 0)
    with client_for(small_server) as client:
        for show_id in (as_list, as_dict):
            seats = client.show_seats(show_id)
            assert sorted(seat["id"] for seat in seats) == sorted(seat["id"] for seat in small_account.seats[show_id])


def test_read_timeout_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QTICKETS_READ_TIMEOUT", raising=False)
    resources = build_resources(Settings.from_env(need_secrets=False))
    assert resources["qtickets"].read_timeout == DEFAULT_READ_TIMEOUT == 60
    monkeypatch.setenv("QTICKETS_READ_TIMEOUT", "2.5")
    assert build_resources(Settings.from_env(need_secrets=False))["qtickets"].read_timeout == 2.5
    with QticketsResource(token=TOKEN, read_timeout=2.5).get_client() as client:
        assert client.read_timeout == 2.5
    monkeypatch.setenv("QTICKETS_READ_TIMEOUT", "soon")
    with pytest.raises(ConfigError, match="QTICKETS_READ_TIMEOUT"):
        Settings.from_env(need_secrets=False)


def test_resources_get_secrets_by_name_never_by_value(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read from the process, the token, PII key and a set warehouse URL reach the resources
    as ``EnvVar``s (the UI and run config show the name); a test's mapping hands over values."""
    monkeypatch.setenv("QTICKETS_TOKEN", TOKEN)
    monkeypatch.setenv("ZAKAZ_PII_KEY", "pii-key-of-this-test-0123")
    monkeypatch.setenv("CLICKHOUSE_URL", "http://etl:pw-secret@localhost:8123")
    resources = build_resources(Settings.from_env())
    assert resources["qtickets"].token == EnvVar("QTICKETS_TOKEN")
    assert resources["pii"].key == EnvVar("ZAKAZ_PII_KEY")
    assert resources["warehouse"].url == EnvVar("CLICKHOUSE_URL")
    given = build_resources(Settings.from_env({"QTICKETS_TOKEN": TOKEN}, need_secrets=False))
    assert given["qtickets"].token == TOKEN
    assert given["warehouse"].url.startswith("chdb://")


# --------------------------------------------------------------------------- polite concurrency


def whole_history(account) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(account.first_payment_date("Europe/Moscow"), dt.time(), MSK)
    return start, dt.datetime.combine(account.now.date() + dt.timedelta(days=1), dt.time(), MSK)


def test_payment_windows_cover_the_range_end_to_end_at_local_midnights() -> None:
    start = dt.datetime(2024, 1, 15, tzinfo=MSK)
    months = payment_windows(start, dt.datetime(2024, 4, 2, tzinfo=MSK), MSK)
    assert [(low.date().isoformat(), high.date().isoformat()) for low, high in months] == [
        ("2024-01-15", "2024-02-01"), ("2024-02-01", "2024-03-01"), ("2024-03-01", "2024-04-01"),
        ("2024-04-01", "2024-04-02"),
    ]  # fmt: skip
    days = payment_windows(start, start + dt.timedelta(days=10), MSK)
    assert len(days) == 10 and all(high - low == dt.timedelta(days=1) for low, high in days)
    assert payment_windows(start, start + dt.timedelta(days=2), MSK) == [(start, start + dt.timedelta(days=2))]
    with client_for(SimpleNamespace(base_url="http://127.0.0.1:9")) as client, pytest.raises(ValueError, match="gaps"):
        list(client.iter_paid_orders(start, start + dt.timedelta(days=3), windows=[(start, start + dt.timedelta(1))]))


def test_windows_side_by_side_give_every_paid_order_once_as_one_scan_does(small_account) -> None:
    start, end = whole_history(small_account)
    windows = payment_windows(start, end, MSK)
    paced = FaultPlan(seed=1, latency_ms=20, max_per_page=25)
    with SimulatorServer(small_account, token=TOKEN, faults=paced) as server:
        with client_for(server, max_in_flight=1) as client:
            one_scan = [order for page in client.iter_paid_orders(start, end) for order in page]
        with client_for(server, max_in_flight=4) as client:
            pages = list(client.iter_paid_orders(start, end, windows=windows))
        peak = server.peak_in_flight
    side_by_side = [order for page in pages for order in page]
    assert len(windows) > 2 and peak == 4
    assert sorted(side_by_side, key=lambda order: order["id"]) == one_scan and one_scan
    assert ticket_columns(one_scan, org="o", tz=MSK, pii_key=b"k" * 16) == ticket_columns(
        sorted(side_by_side, key=lambda order: order["id"]), org="o", tz=MSK, pii_key=b"k" * 16
    )


def test_the_requests_in_flight_never_exceed_the_limit_across_orders_events_and_seats(small_account) -> None:
    start, end = whole_history(small_account)
    shows = [show["id"] for event in small_account.events for show in event["shows"]]
    limiter = RequestLimiter(3)
    with SimulatorServer(small_account, token=TOKEN, faults=FaultPlan(seed=2, latency_ms=30, jitter_ms=20)) as server:
        with (
            client_for(server, limiter=limiter) as orders,
            client_for(server, limiter=limiter) as seats,
            ThreadPoolExecutor(3) as pool,
        ):
            events = pool.submit(lambda: [event for page in seats.iter_pages("events", per_page=1) for event in page])
            scanned = pool.submit(
                lambda: sum(
                    len(p) for p in orders.iter_paid_orders(start, end, windows=payment_windows(start, end, MSK))
                )
            )
            seated = pool.submit(seats.seats_of, shows)
            assert scanned.result() > 0 and len(seated.result()) == len(shows) and len(events.result()) == 8
        assert server.peak_in_flight == 3


def test_a_429_pauses_every_worker_for_its_retry_after(small_account) -> None:
    shows = [show["id"] for event in small_account.events for show in event["shows"]][:12]
    with SimulatorServer(small_account, token=TOKEN, faults=FaultPlan(seed=3, latency_ms=30)) as server:
        server.fail_next(429, 1, retry_after=1, path_prefix="/api/rest/v1/shows")
        with client_for(server, max_in_flight=4, backoff_factor=0.01) as client:
            seats = client.seats_of(shows)
        records = list(server.requests)
    assert len(seats) == len(shows)
    [limited] = [r for r in records if r.status == 429]
    # Requests already travelling when the 429 came back finish; none starts during the pause.
    answered = limited.received + 0.030
    started_in_pause = [r for r in records if answered + 0.2 < r.received < answered + 0.98]
    assert started_in_pause == [] and any(r.received >= answered + 1.0 for r in records)


# --------------------------------------------------------------------------- the API's own answers


@pytest.fixture(scope="module")
def refusing(small_account) -> Iterator[SimulatorServer]:
    with SimulatorServer(small_account, token=TOKEN, dialect=ApiDialect("refused", real_paging=True)) as server:
        yield server


def test_a_refused_filter_is_named_with_the_apis_code_after_a_few_requests(refusing, small_account) -> None:
    """The real answer to a date filter on /orders: 503 UNKNOWN_ERROR, every time, while the
    same request without the filter is answered. Three tries, the unfiltered control and
    three more: not minutes of an outage's retries."""
    start = dt.datetime.combine(small_account.now.date(), dt.time(), MSK)
    before = len(refusing.requests)
    with client_for(refusing, backoff_factor=0.01) as client, pytest.raises(QticketsFilterRefused) as info:
        client.count_paid_orders(start, start + dt.timedelta(days=1))
    assert "HTTP 503 UNKNOWN_ERROR" in str(info.value) and "payed_at >=, payed_at <" in str(info.value)
    assert info.value.code == "UNKNOWN_ERROR" and info.value.filters == ["payed_at"]
    assert [r.status for r in refusing.requests[before:]] == [503, 503, 503, 200, 503, 503, 503]
    assert TOKEN not in str(info.value)


def test_a_burst_of_the_apis_own_errors_on_a_filtered_request_is_not_taken_for_a_refusal(small_server) -> None:
    small_server.fail_next(503, 3, path_prefix="/orders", code="UNKNOWN_ERROR")
    with client_for(small_server, backoff_factor=0.01) as client:
        assert client.list_page("orders", 1, conditions=[where("id", ">", 0)]).items


def test_a_filtered_request_paced_by_429_gets_the_full_retries(small_server) -> None:
    small_server.fail_next(429, 5, retry_after=0, path_prefix="/orders")
    with client_for(small_server, backoff_factor=0.01) as client:
        assert client.list_page("orders", 1, conditions=[where("id", ">", 0)]).items


def test_errors_name_the_apis_code_and_an_unknown_route_its_html_page(small_server) -> None:
    with client_for(small_server) as client:
        with pytest.raises(QticketsRequestError, match=r'HTTP 404 RESOURCE_NOT_FOUND: Resource "Order" not found'):
            client.get("orders/4360")
        with pytest.raises(QticketsRequestError, match=r"HTTP 404: Not Found \(an HTML page\)"):
            client.get("events/12/seats")


def test_an_ignored_id_filter_is_found_out_not_paged_on_for_ever(small_account) -> None:
    with (
        SimulatorServer(small_account, token=TOKEN, dialect=ApiDialect("ignored", real_paging=True)) as server,
        client_for(server) as client,
        pytest.raises(QticketsFilterIgnored, match="ignored the id filter") as info,
    ):
        for _ in client.iter_orders():
            pass
    assert info.value.filters == ["id"]


def test_seats_sold_once_per_tariff_count_once_and_nested_answers_are_read(small_account) -> None:
    show = next(show_id for show_id, seats in small_account.seats.items() if len(seats) > 20)
    with (
        SimulatorServer(small_account, token=TOKEN, dialect=ApiDialect(tariffs=True)) as server,
        client_for(server) as client,
    ):
        copies = client.show_seats(show)
        nested = flat_seats(client.get(f"shows/{show}/seats", {"select": list(SEAT_FIELDS)})["data"])
    physical = [seat for seat in small_account.seats[show] if not seat["disabled"]]
    expected = (sum(s["max_quantity"] for s in physical), sum(s["free_quantity"] for s in physical))
    assert len(copies) == 2 * len(small_account.seats[show])
    assert show_inventory(copies) == show_inventory(nested) == expected
    assert sum(s["max_quantity"] for s in copies if not s["disabled"]) == 2 * expected[0], "summing every entry doubles"
