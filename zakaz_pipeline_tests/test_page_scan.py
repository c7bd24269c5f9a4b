"""Reading the order list with no filter to trust (``qtickets/page_scan.py``,
``paid_orders.py``, ``change_scan.py``) against the simulator over HTTP: every order once,
orders leaving or arriving mid-scan neither skipped nor doubled, a tick's requests bounded
by how far back it reads and not by the length of the history."""

from __future__ import annotations

import datetime as dt
import random
from zoneinfo import ZoneInfo

import pytest

from zakaz_pipeline.qtickets.change_scan import RollingScan
from zakaz_pipeline.qtickets.client import QticketsClient
from zakaz_pipeline.qtickets.findings import Findings
from zakaz_pipeline.qtickets.page_scan import PageScan
from zakaz_pipeline.qtickets.paid_orders import PaidOrders
from zakaz_pipeline.qtickets.rules import parse_ts
from zakaz_pipeline.simulator.dialect import ApiDialect
from zakaz_pipeline.simulator.faults import FaultPlan
from zakaz_pipeline.simulator.server import SimulatorServer
from zakaz_pipeline.simulator.shop import SimulatedAccount
from zakaz_pipeline_tests.conftest import TOKEN

MSK = ZoneInfo("Europe/Moscow")
REAL = ApiDialect("refused", real_paging=True)
NOW = dt.datetime(2026, 6, 15, 12, tzinfo=MSK)
SCANNING = Findings(probed_at="2026-06-15T09:00:00+00:00", filters={"payed_at": "refused", "updated_at": "refused"})


def client_for(server: SimulatorServer, **options) -> QticketsClient:
    return QticketsClient(server.base_url, TOKEN, backoff_factor=0.01, **options)


def account(orders: int, days: int, seed: int = 5) -> SimulatedAccount:
    return SimulatedAccount.generate(seed=seed, orders=orders, events=4, history_days=days, now=NOW)


def paid_between(shop: SimulatedAccount, start: dt.datetime, end: dt.datetime) -> list[int]:
    return sorted(o["id"] for o in shop.orders if o["payed_at"] and start <= parse_ts(o["payed_at"]) < end)


def requests_to(server: SimulatorServer, since: int, path: str = "/orders") -> int:
    return sum(1 for record in server.requests[since:] if record.path == path)


def test_the_scan_reads_every_order_once_in_order_with_real_pages() -> None:
    shop = account(420, 40)
    with SimulatorServer(shop, token=TOKEN, dialect=REAL) as server, client_for(server) as client:
        scan = PageScan(client, "orders")
        ids = [order["id"] for page in scan.pages() for order in page]
    assert scan.per_page == 50 and scan.last_page == 9
    assert ids == [order["id"] for order in shop.orders]


def test_orders_leaving_mid_scan_are_read_again_never_skipped_or_doubled() -> None:
    """Each leaving order moves every later one a place back: a page-number scan that went
    on would skip the order that slid onto the page it had already read."""
    shop = account(600, 60)
    plan = FaultPlan(seed=8, rate=0.1, kinds={"vanish"})
    with SimulatorServer(shop, token=TOKEN, dialect=REAL, faults=plan) as server, client_for(server) as client:
        scan = PageScan(client, "orders")
        ids = [order["id"] for page in scan.pages() for order in page]
        left = server.fault_counts["vanish"]
    assert left >= 2 and scan.rereads > 0
    assert ids == sorted(set(ids)), "nothing doubled, in order"
    assert {order["id"] for order in shop.orders} <= set(ids), "every order still there was read"


def test_orders_placed_mid_scan_are_read_to_the_new_end() -> None:
    shop = account(300, 30)
    with SimulatorServer(shop, token=TOKEN, dialect=REAL) as server, client_for(server, max_in_flight=1) as client:
        read = []
        for number, page in enumerate(PageScan(client, "orders").pages()):
            read += [order["id"] for order in page]
            if number == 1:
                new = [shop.place_order(random.Random(n))["id"] for n in range(70)]
    assert read == [order["id"] for order in shop.orders] and set(new) <= set(read)


@pytest.mark.parametrize("dialect", [ApiDialect("ignored", real_paging=True), REAL])
def test_a_window_scanned_without_filters_is_exactly_the_orders_paid_in_it(dialect: ApiDialect) -> None:
    shop = account(900, 90)
    windows = [(NOW - dt.timedelta(days=30), NOW - dt.timedelta(days=20)), (NOW - dt.timedelta(days=1), NOW)]
    with SimulatorServer(shop, token=TOKEN, dialect=dialect) as server, client_for(server) as client:
        for start, end in windows:
            fetch = PaidOrders(client, SCANNING, strategy="auto", tz=MSK)
            got = sorted(order["id"] for page in fetch.pages(start, end) for order in page)
            assert got == paid_between(shop, start, end) and got
            assert fetch.report.strategy == "scan"


def test_a_payment_made_after_the_longest_lag_seen_is_read_from_its_creation() -> None:
    """An order placed 40 days back and paid today lies 40 days back in the list: a tick reads
    from its creation only when told (a late-change run's tag), and learns the longer lag."""
    shop = account(800, 90)
    with shop.lock:
        late = next(o for o in shop.orders if o["payed_at"] and parse_ts(o["created_at"]) < NOW - dt.timedelta(40))
        late["payed"], late["payed_at"] = False, None
    shop.pay_order(late["id"])
    today = dt.datetime.combine(NOW.date(), dt.time(), MSK)
    with SimulatorServer(shop, token=TOKEN, dialect=REAL) as server, client_for(server) as client:
        blind = PaidOrders(client, SCANNING, strategy="auto", tz=MSK)
        missed = [order["id"] for page in blind.pages(today, today + dt.timedelta(1)) for order in page]
        told = PaidOrders(client, SCANNING, strategy="auto", tz=MSK)
        created = parse_ts(late["created_at"])
        found = [
            order["id"] for page in told.pages(today, today + dt.timedelta(1), created_from=created) for order in page
        ]
    assert late["id"] not in missed and late["id"] in found
    learned = told.report.learned(SCANNING)
    assert learned is not None and learned.payment_lag >= NOW - created - dt.timedelta(minutes=1)


def test_a_ticks_requests_grow_with_how_far_back_it_reads_not_with_the_history() -> None:
    """Two accounts selling at the same pace, one with four times the history."""
    today = dt.datetime.combine(NOW.date(), dt.time(), MSK)
    counts = []
    for orders, days in ((500, 50), (2000, 200)):
        shop = account(orders, days)
        with SimulatorServer(shop, token=TOKEN, dialect=REAL) as server, client_for(server) as client:
            before = len(server.requests)
            fetch = PaidOrders(client, SCANNING, strategy="auto", tz=MSK)
            got = sorted(
                o["id"] for page in fetch.pages(today - dt.timedelta(1), today + dt.timedelta(1)) for o in page
            )
            counts.append(requests_to(server, before))
        assert got == paid_between(shop, today - dt.timedelta(1), today + dt.timedelta(1))
    small, large = counts
    assert abs(large - small) <= 2, counts
    assert large < 20


def test_the_rolling_scan_reads_a_slice_a_tick_and_finds_a_change_behind_it_in_the_next_cycle() -> None:
    shop = account(500, 60)
    cycle, every = dt.timedelta(minutes=50), dt.timedelta(minutes=5)  # 10 ticks a cycle, one page each
    with SimulatorServer(shop, token=TOKEN, dialect=REAL) as server, client_for(server) as client:
        scan = RollingScan()
        now = NOW
        for _ in range(10):
            before = len(server.requests)
            scan.step(client, cycle=cycle, interval=every, now=now)
            assert requests_to(server, before) == 1
        assert scan.cycles == 1 and scan.page == 1 and scan.list_pages == 10
        behind = shop.orders[20]  # on page 1, read already this cycle
        changed_at = NOW + dt.timedelta(minutes=1)
        shop.advance(changed_at)
        shop.cancel_order(behind["id"], at=changed_at)
        found = []
        for _ in range(10):
            found += scan.step(client, cycle=cycle, interval=every, now=now)
        assert [order["id"] for order in found] == [behind["id"]]
        assert scan.step(client, cycle=cycle, interval=every, now=now) == [], "a change is reported once"
