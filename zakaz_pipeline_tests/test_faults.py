"""A seeded, misbehaving API over real HTTP, and a client that survives it.

Every test runs ``QticketsClient`` against a ``SimulatorServer`` with a ``FaultPlan``;
nothing is mocked. Timeouts are small (read 0.5 s, slow answers 1 s, backoff 10 ms) so
that the file runs in seconds. Tests that let the account drift build their own account:
the session's ``small_account`` is shared and must stay as generated.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import random
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from zakaz_pipeline.cli.parser import build_parser
from zakaz_pipeline.qtickets.client import (
    QticketsAuthError,
    QticketsClient,
    QticketsError,
    QticketsTransientError,
)
from zakaz_pipeline.qtickets.concurrency import payment_windows
from zakaz_pipeline.qtickets.filters import where
from zakaz_pipeline.qtickets.rows import event_columns, show_inventory, ticket_columns
from zakaz_pipeline.simulator.faults import KINDS, FaultInjector, FaultPlan, drift
from zakaz_pipeline.simulator.server import RequestRecord, SimulatorServer
from zakaz_pipeline.simulator.shop import SimulatedAccount, ticket_is_live
from zakaz_pipeline_tests import truth
from zakaz_pipeline_tests.conftest import ACCOUNT_NOW, HISTORY_DAYS, PII_KEY, TOKEN

TZ = ZoneInfo("Europe/Moscow")
READ_TIMEOUT = 0.5
SLOW_SECONDS = 1.0
RETRIABLE = ("429", "5xx", "slow", "reset", "truncate")
LIVE = [where("deleted_at", "null")]
# Seeds chosen once so that the plan shows what the test is about; any seed replays exactly.
# Every paid order of the test accounts (their history ends at ACCOUNT_NOW), in a window a month.
PAID_RANGE = (ACCOUNT_NOW - dt.timedelta(days=HISTORY_DAYS + 3), ACCOUNT_NOW + dt.timedelta(days=2))
MIXED_SEED = 4  # every retriable kind occurs in the scan
DRIFT_SEED = 5  # a cancellation lands behind a page-number scan


def plan(kinds: tuple[str, ...] | list[str], *, seed: int = 3, rate: float = 0.3, **options: Any) -> FaultPlan:
    return FaultPlan(seed=seed, rate=rate, kinds=frozenset(kinds), slow_seconds=SLOW_SECONDS, **options)


def client_for(server: SimulatorServer, **options: Any) -> QticketsClient:
    settings = {"per_page": 100, "read_timeout": READ_TIMEOUT, "backoff_factor": 0.01, "max_retries": 8} | options
    return QticketsClient(base_url=server.base_url, token=TOKEN, **settings)


def scan(client: QticketsClient, shows: tuple[int, ...]) -> dict[str, Any]:
    """What a sync reads: every order, every event, the seats of some shows; the paid
    orders as a sync reads them too, window by window side by side (concurrency on)."""
    start, end = PAID_RANGE
    windows = payment_windows(start, end, TZ)
    return {
        "orders": [order for page in client.iter_orders() for order in page],
        "paid": sorted(
            (order for page in client.iter_paid_orders(start, end, windows=windows) for order in page),
            key=lambda order: order["id"],
        ),
        "events": [event for page in client.iter_events() for event in page],
        "seats": dict(zip(shows, client.seats_of(shows), strict=True)),
    }


def no_request_started_in_a_pause(records: list[RequestRecord], pause: float) -> bool:
    """After a 429, every worker waits its Retry-After: none sends a request meanwhile
    (grace while the answer travels back to the client on a busy machine)."""
    limited = [r.received for r in records if r.fault == "429"]
    return bool(limited) and not any(t + 0.2 < r.received < t + pause - 0.02 for t in limited for r in records)


def fresh_account() -> SimulatedAccount:
    """An account of its own for a test that changes it; the same every call."""
    return SimulatedAccount.generate(seed=5, orders=400, events=6, history_days=HISTORY_DAYS, now=ACCOUNT_NOW)


def live_ids(account: SimulatedAccount) -> set[int]:
    return {order["id"] for order in account.orders if order["deleted_at"] is None}


@pytest.fixture(scope="module")
def shows(small_account: SimulatedAccount) -> tuple[int, ...]:
    """One show whose seats come as a list, one whose seats come as a dict."""
    ids = [show["id"] for event in small_account.events for show in event["shows"]]
    return next(s for s in ids if s % 3 == 0), next(s for s in ids if s % 3)


@pytest.fixture(scope="module")
def faulty(small_account: SimulatedAccount) -> Iterator[SimulatorServer]:
    """The shared account behind a server of its own; each test sets its plan."""
    with SimulatorServer(small_account, token=TOKEN) as server:
        yield server


@pytest.fixture(scope="module")
def clean(faulty: SimulatorServer, shows: tuple[int, ...]) -> dict[str, Any]:
    faulty.set_faults(None)
    with client_for(faulty) as client:
        return scan(client, shows)


# --------------------------------------------------------------------------- surviving faults


@pytest.mark.parametrize("kind", RETRIABLE)
def test_each_retriable_fault_leaves_the_result_exact(
    kind: str, faulty: SimulatorServer, clean: dict, shows: tuple[int, ...]
) -> None:
    faulty.set_faults(plan([kind]))
    before = len(faulty.requests)
    started = time.monotonic()
    with client_for(faulty) as client:
        result = scan(client, shows)
    elapsed = time.monotonic() - started
    counts = faulty.fault_counts
    assert result == clean
    assert set(counts) == {kind} and counts[kind] > 0
    if kind == "429":
        assert elapsed >= 1.0, "Retry-After: 1 was not honoured"
        assert no_request_started_in_a_pause(faulty.requests[before:], pause=1.0)
    if kind == "slow":
        # Up to max_in_flight (4) requests wait out their read timeouts at the same time.
        assert elapsed >= -(-counts[kind] // 4) * READ_TIMEOUT, "the client did not wait for its read timeout"


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("429", "HTTP 429: Too Many Requests"),
        ("5xx", r"HTTP 50\d: Simulated server error"),
        ("slow", "no answer within the read timeout of 0.5 s"),
        ("reset", "the connection broke"),
        ("truncate", "the connection broke"),
    ],
)
def test_urllib3_itself_retries_every_fault_then_gives_up_clearly(
    kind: str, reason: str, faulty: SimulatorServer
) -> None:
    """Every answer faulty: a client allowed two retries makes exactly three attempts. A
    truncated body counts as one of urllib3's own attempts: it is read inside its retry
    handling (``preload_content=True``), not after it."""
    faulty.set_faults(plan([kind], rate=1.0, retry_after=0))
    before = len(faulty.requests)
    with (
        client_for(faulty, max_retries=2) as client,
        pytest.raises(QticketsError, match=f"GET events: gave up after 2 retries \\({reason}") as info,
    ):
        next(client.iter_events())
    assert [r.fault for r in faulty.requests[before:]] == [kind] * 3
    assert TOKEN not in str(info.value)


def test_a_mixed_plan_is_survived_and_the_token_is_never_logged(
    faulty: SimulatorServer, clean: dict, shows: tuple[int, ...], caplog: pytest.LogCaptureFixture
) -> None:
    faulty.set_faults(plan(RETRIABLE, seed=MIXED_SEED))
    with caplog.at_level(logging.DEBUG), client_for(faulty, per_page=50, max_retries=10) as client:
        result = scan(client, shows)
    counts = faulty.fault_counts
    assert result == clean
    assert set(counts) == set(RETRIABLE), counts
    assert "Retrying" in caplog.text and TOKEN not in caplog.text


def test_the_same_seed_replays_the_same_faults_and_another_seed_does_not() -> None:
    """Drift and extra included: the account ends the same too. No slow answers, so no
    read timeout can add a request that the plan did not cause."""
    kinds = ("429", "5xx", "reset", "truncate", "drift", "extra")

    def run(seed: int) -> tuple[list[tuple[str, int, str | None]], bytes]:
        account = fresh_account()
        with (
            SimulatorServer(account, token=TOKEN, faults=plan(kinds, seed=seed, retry_after=0)) as server,
            QticketsClient(server.base_url, TOKEN, per_page=50, backoff_factor=0.01, max_retries=10) as client,
        ):
            for _ in client.iter_orders():
                pass
            for _ in client.iter_events():
                pass
            trace = [(r.path, r.status, r.fault) for r in server.requests]
        return trace, orjson.dumps(account.orders)

    first, again, other = run(21), run(21), run(22)
    assert first == again
    assert other[0] != first[0]
    assert {fault for _, _, fault in first[0]} >= {"drift", "extra", None}


def test_faults_go_only_where_they_make_sense() -> None:
    account = fresh_account()
    show_id = account.events[-1]["shows"][0]["id"]
    with (
        SimulatorServer(account, token=TOKEN, faults=plan(["drift"], rate=1.0)) as server,
        QticketsClient(server.base_url, TOKEN) as client,
    ):
        revision = account.revision
        client.get(f"orders/{account.orders[0]['id']}")
        client.get("events")
        client.show_seats(show_id)
        assert account.revision == revision and not server.fault_counts
        client.get("orders", {"perPage": 1})
        assert account.revision > revision and server.fault_counts == {"drift": 1}
        client.get("orders", {"perPage": 1})
        assert [r.fault for r in server.requests] == [None, None, None, "drift", "drift"]


# --------------------------------------------------------------------------- drift


def test_keyset_scan_sees_each_order_once_while_the_account_drifts() -> None:
    account = fresh_account()
    generated = len(account.orders)
    with (
        SimulatorServer(account, token=TOKEN, faults=plan(["drift"], seed=DRIFT_SEED, rate=1.0)) as server,
        QticketsClient(server.base_url, TOKEN, per_page=40) as client,
    ):
        ids = [order["id"] for page in client.iter_orders() for order in page]
        drifts = server.fault_counts["drift"]
    assert ids == [order["id"] for order in account.orders]
    assert len(account.orders) > generated, "no order was placed during the scan"
    assert drifts >= len(ids) // 40


@pytest.mark.parametrize("paging", ["keyset", "page numbers"])
def test_page_numbers_skip_or_repeat_orders_under_drift_where_keyset_does_not(paging: str) -> None:
    """Live orders only: a cancellation behind the scan shifts every later order one
    place up, and a page-number scan steps over one of them."""
    account = fresh_account()
    live_before = live_ids(account)
    with (
        SimulatorServer(account, token=TOKEN, faults=plan(["drift"], seed=DRIFT_SEED, rate=1.0)) as server,
        QticketsClient(server.base_url, TOKEN, per_page=40) as client,
    ):
        ids = [o["id"] for page in client.iter_orders(LIVE) for o in page] if paging == "keyset" else _by_page(client)
    repeated = len(ids) - len(set(ids))
    skipped = (live_before & live_ids(account)) - set(ids)
    if paging == "keyset":
        assert repeated == 0 and not skipped and ids == sorted(ids)
    else:
        assert repeated or skipped


def _by_page(client: QticketsClient) -> list[int]:
    """The naive scan: page 1, 2, 3 … of the same query until an empty page."""
    ids: list[int] = []
    for page in range(1, 1000):
        answer = client.get("orders", {"where": LIVE, "orderBy": {"id": "asc"}, "page": page, "perPage": 40})
        if not answer["data"]:
            return ids
        ids += [order["id"] for order in answer["data"]]
    raise AssertionError("the page-number scan never ended")


def test_a_placed_order_is_a_sale_in_the_ground_truth() -> None:
    account = fresh_account()
    sales, stock = truth.daily_sales(account), truth.show_inventory(account)
    order = account.place_order(random.Random(4))
    (basket,) = order["baskets"]
    key = (account.now.date(), order["event_id"])
    after = truth.daily_sales(account)[key]
    before = sales.get(key) or truth.DailySales(0, 0, Decimal(0), Decimal(0), Decimal(0))
    assert order["id"] > account.orders[-2]["id"] and order["payed"] and order["payed_at"] == order["created_at"]
    assert set(order) == set(account.orders[0]) and set(basket) == set(account.orders[0]["baskets"][0])
    assert (after.orders, after.tickets_sold) == (before.orders + 1, before.tickets_sold + 1)
    assert after.gross_revenue - before.gross_revenue == Decimal(str(basket["price"]))
    total, left = stock[basket["show_id"]]
    assert truth.show_inventory(account)[basket["show_id"]] == (total, left - 1)


def test_every_kind_of_drift_keeps_the_account_consistent() -> None:
    """Each change goes through the account's own methods, so seats still follow the
    live tickets and the ground truth is reckoned from what the API serves."""
    account = fresh_account()
    rng = random.Random(6)
    changes = Counter(" ".join(drift(account, rng).split()[:2]) for _ in range(60))
    assert set(changes) == {"new paid", "refunded ticket", "cancelled ticket", "cancelled order", "paid pending"}
    for show_id, seats in account.seats.items():
        held = Counter(
            basket["seat_id"]
            for order in account.orders
            for basket in order["baskets"]
            if basket["show_id"] == show_id and ticket_is_live(order, basket)
        )
        assert all(seat["free_quantity"] == seat["max_quantity"] - held[seat["id"]] for seat in seats)


# --------------------------------------------------------------------------- failing faults


def test_a_revoked_token_fails_the_scan_with_an_auth_error_until_restored(faulty: SimulatorServer, clean: dict) -> None:
    faulty.set_faults(FaultPlan(seed=1, revoke_after=3))
    before = len(faulty.requests)
    with client_for(faulty) as client, pytest.raises(QticketsAuthError, match="QTICKETS_TOKEN") as info:
        for _ in client.iter_orders():
            pass
    assert TOKEN not in str(info.value)
    assert [(r.status, r.fault) for r in faulty.requests[before:]] == [(200, None)] * 3 + [(401, "revoke")]
    faulty.restore_token()
    with client_for(faulty) as client:
        assert [o for page in client.iter_orders() for o in page] == clean["orders"]


def test_a_token_revoked_while_windows_page_side_by_side_fails_the_scan_and_stops_every_worker(
    faulty: SimulatorServer, clean: dict
) -> None:
    faulty.set_faults(FaultPlan(seed=1, revoke_after=5))
    before = len(faulty.requests)
    start, end = PAID_RANGE
    with client_for(faulty, per_page=10) as client, pytest.raises(QticketsAuthError, match="QTICKETS_TOKEN") as info:
        for _ in client.iter_paid_orders(start, end, windows=payment_windows(start, end, TZ)):
            pass
    assert TOKEN not in str(info.value)
    seen = [(r.status, r.fault) for r in faulty.requests[before:]]
    assert seen[:5] == [(200, None)] * 5 and set(seen[5:]) == {(401, "revoke")}
    assert len(seen) <= 5 + 4, "only the requests already on their way when the first 401 came back"
    faulty.restore_token()
    with client_for(faulty) as client:
        assert scan(client, ())["paid"] == clean["paid"]


def test_a_page_that_is_not_json_is_a_transient_error_for_the_step_to_retry(faulty: SimulatorServer) -> None:
    faulty.set_faults(plan(["badjson"], rate=1.0))
    before = len(faulty.requests)
    with client_for(faulty) as client, pytest.raises(QticketsTransientError, match="not valid JSON") as info:
        next(client.iter_events())
    assert "text/html" in str(info.value) and TOKEN not in str(info.value)
    assert len(faulty.requests) - before == 1, "the client itself must not loop"


def test_new_fields_and_shape_quirks_flatten_to_the_same_rows(
    faulty: SimulatorServer, clean: dict, shows: tuple[int, ...]
) -> None:
    faulty.set_faults(plan(["extra"], rate=1.0))
    with client_for(faulty) as client:
        varied = scan(client, shows)
    orders, events = varied["orders"], varied["events"]
    assert all("meta" in order and all("meta" in b for b in order["baskets"]) for order in orders)
    assert all("meta" in show for event in events for show in event["shows"])
    assert {type(order["utm"]) for order in orders if not order["utm"]} == {list, dict}
    assert {type(order["custom"]) for order in orders} == {str, dict}
    assert {type(order["reserved"]) for order in orders} == {bool, int}
    floats = [
        sum(type(b["price"]) is float for o in scanned for b in o["baskets"]) for scanned in (orders, clean["orders"])
    ]
    assert floats[0] > floats[1]
    assert ticket_columns(orders, org="o", tz=TZ, pii_key=PII_KEY.encode()) == ticket_columns(
        clean["orders"], org="o", tz=TZ, pii_key=PII_KEY.encode()
    )
    assert event_columns(events, org="o") == event_columns(clean["events"], org="o")
    for show_id in shows:
        assert show_inventory(varied["seats"][show_id]) == show_inventory(clean["seats"][show_id])


# --------------------------------------------------------------------------- the plan


def test_a_spec_parses_and_round_trips() -> None:
    spec = (
        "seed=7,rate=0.2,kinds=429+5xx+slow+reset+truncate+badjson+drift+extra+vanish,revoke_after=40,slow_seconds=1.5"
    )
    parsed = FaultPlan.parse(spec)
    assert parsed == FaultPlan(seed=7, rate=0.2, kinds=frozenset(KINDS), revoke_after=40, slow_seconds=1.5)
    assert FaultPlan.parse(parsed.spec()) == parsed
    assert FaultPlan.parse(" seed = 1 , revoke_after = 0 ,") == FaultPlan(seed=1, revoke_after=0)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "needs seed=N"),
        ("rate=0.2,kinds=429", "needs seed=N"),
        ("seed=x", r"seed='x': expected a whole number"),
        ("seed=1,rate=lots,kinds=429", r"rate='lots': expected a number"),
        ("seed=1,rate=1.5,kinds=429", "rate must be between 0 and 1"),
        ("seed=1,rate=0.2,kinds=429+flood", "unknown fault kind.*flood.*known: 429, 5xx"),
        ("seed=1,rate=0.2", "needs kinds"),
        ("seed=1,kinds=429", "rate is 0"),
        ("seed=1,speed=3", "unknown fault spec key 'speed'"),
        ("seed=1,seed=2", "'seed' is given twice"),
        ("seed=1,slow", "'slow' is not key=value"),
        ("seed=1,revoke_after=-1", "revoke_after must be 0 or more"),
        ("seed=1,burst=0", "burst must be at least 1"),
        ("seed=1,slow_seconds=0", "slow_seconds must be a positive number"),
        ("seed=1,retry_after=-2", "retry_after must be 0 or more"),
        ("seed=1,latency_ms=-1", "latency_ms must be 0 or more"),
        ("seed=1,latency_ms=10,jitter_ms=11", r"jitter_ms must be between 0 and latency_ms \(10\)"),
        ("seed=1,max_per_page=0", "max_per_page must be at least 1"),
    ],
)
def test_bad_specs_say_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FaultPlan.parse(spec)


def test_the_simulator_command_takes_a_plan_from_the_flag_or_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("QTICKETS_SIMULATOR_FAULTS", "seed=4,rate=0.1,kinds=5xx")
    assert build_parser().parse_args(["simulator"]).faults == FaultPlan(seed=4, rate=0.1, kinds=frozenset({"5xx"}))
    flagged = build_parser().parse_args(["simulator", "--faults", "seed=5,revoke_after=9"])
    assert flagged.faults == FaultPlan(seed=5, revoke_after=9)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["simulator", "--faults", "seed=5,rate=2,kinds=429"])
    assert "rate must be between 0 and 1" in capsys.readouterr().err
    monkeypatch.delenv("QTICKETS_SIMULATOR_FAULTS")
    assert build_parser().parse_args(["simulator"]).faults is None


# --------------------------------------------------------------------------- the pace of a remote API


def test_a_pace_spec_round_trips_and_the_flags_pace_a_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    from zakaz_pipeline.cli.demo import _paced_plan

    paced = FaultPlan.parse("seed=2,latency_ms=80,jitter_ms=20,max_per_page=100")
    assert paced == FaultPlan(seed=2, latency_ms=80, jitter_ms=20, max_per_page=100)
    assert FaultPlan.parse(paced.spec()) == paced
    monkeypatch.delenv("QTICKETS_SIMULATOR_FAULTS", raising=False)
    flags = build_parser().parse_args(["simulator", "--latency-ms", "80", "--max-per-page", "100", "--seed", "3"])
    assert _paced_plan(flags) == FaultPlan(seed=3, latency_ms=80, max_per_page=100)
    over = build_parser().parse_args(["simulator", "--faults", "seed=5,rate=0.1,kinds=429", "--latency-ms", "5"])
    assert _paced_plan(over) == FaultPlan(seed=5, rate=0.1, kinds=frozenset({"429"}), latency_ms=5)
    assert _paced_plan(build_parser().parse_args(["simulator"])) is None


def test_latency_delays_every_answer_and_jitter_replays_without_moving_the_faults(
    small_account: SimulatedAccount,
) -> None:
    paced = FaultPlan(seed=9, rate=0.5, kinds=frozenset({"429"}), latency_ms=40, jitter_ms=30)
    delays = [FaultPlan(seed=9, latency_ms=40, jitter_ms=30) for _ in range(2)]
    first, second = (FaultInjector(plan) for plan in delays)
    drawn = [first.latency() for _ in range(50)]
    assert drawn == [second.latency() for _ in range(50)]
    assert all(0.010 <= delay <= 0.070 for delay in drawn) and len(set(drawn)) > 40
    unpaced, jittered = FaultInjector(dataclasses.replace(paced, latency_ms=0, jitter_ms=0)), FaultInjector(paced)
    for _ in range(50):
        jittered.latency()
        plain, paced_fault = unpaced.decide(frozenset({"429"})), jittered.decide(frozenset({"429"}))
        assert (plain and (plain.kind, plain.seed)) == (paced_fault and (paced_fault.kind, paced_fault.seed))
    with SimulatorServer(small_account, token=TOKEN, faults=FaultPlan(seed=1, latency_ms=150)) as server:
        began = time.perf_counter()
        with client_for(server) as client:
            client.get("events", {"perPage": 1})
        assert time.perf_counter() - began >= 0.150


def test_a_page_cap_serves_fewer_items_than_asked_and_paging_still_sees_every_order(
    small_account: SimulatedAccount,
) -> None:
    with SimulatorServer(small_account, token=TOKEN, faults=FaultPlan(seed=1, max_per_page=7)) as server:
        with client_for(server, per_page=500) as client:
            pages = list(client.iter_orders())
        asked = [r.body["perPage"] for r in server.requests if r.path == "/orders"]
    assert asked and set(asked) == {500}
    assert all(len(page) <= 7 for page in pages) and len(pages[0]) == 7
    assert [order["id"] for page in pages for order in page] == sorted(order["id"] for order in small_account.orders)


def test_the_server_counts_the_requests_it_holds_at_once(small_account: SimulatedAccount) -> None:
    with SimulatorServer(small_account, token=TOKEN, faults=FaultPlan(seed=1, latency_ms=200)) as server:
        with client_for(server) as client, ThreadPoolExecutor(3) as pool:
            list(pool.map(lambda _: client.get("events", {"perPage": 1}), range(3)))
        assert server.peak_in_flight == 3
        deadline = time.monotonic() + 5
        while server.in_flight and time.monotonic() < deadline:  # the handlers finish after the client has read
            time.sleep(0.01)
        assert server.reset_peak_in_flight() == 3 and server.peak_in_flight == 0
