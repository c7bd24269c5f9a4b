"""The whole asset graph, materialized into the real embedded ClickHouse from the
simulator over HTTP, reconciled row by row with the simulator's ground truth."""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import Iterator
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from zakaz_pipeline.defs.assets import orders
from zakaz_pipeline.qtickets.concurrency import payment_windows
from zakaz_pipeline.qtickets.rules import parse_ts
from zakaz_pipeline.simulator.server import SimulatorServer
from zakaz_pipeline.simulator.shop import SimulatedAccount
from zakaz_pipeline.warehouse import writes
from zakaz_pipeline_tests import truth
from zakaz_pipeline_tests.conftest import ACCOUNT_NOW, HISTORY_DAYS, TOKEN
from zakaz_pipeline_tests.harness import ORG, TZ, history, probed, run
from zakaz_pipeline_tests.reconcile import personal_data_found


@pytest.fixture
def account() -> SimulatedAccount:
    return SimulatedAccount.generate(seed=5, orders=900, events=10, history_days=HISTORY_DAYS, now=ACCOUNT_NOW)


@pytest.fixture
def server(account: SimulatedAccount) -> Iterator[SimulatorServer]:
    with SimulatorServer(account, token=TOKEN) as running:
        yield running


def warehouse_daily(client) -> dict[tuple[dt.date, int], truth.DailySales]:
    rows = client.query(
        "SELECT sales_date, event_id, orders, tickets_sold, gross_revenue, refunded_amount, revenue "
        "FROM fact_qtickets_sales_daily WHERE org = %(org)s",
        parameters={"org": ORG},
    ).result_rows
    return {(day, event): truth.DailySales(*values) for day, event, *values in rows}


def warehouse_inventory(client) -> dict[int, tuple[int, int]]:
    rows = client.query(
        "SELECT show_id, tickets_total, tickets_left FROM fact_qtickets_inventory_latest WHERE org = %(org)s AND on_sale",
        parameters={"org": ORG},
    ).result_rows
    return {show: (total, left) for show, total, left in rows}


def snapshot(client, table: str) -> list[tuple]:
    columns = [
        name for (name,) in client.query(
            "SELECT name FROM system.columns WHERE database = currentDatabase() AND table = %(t)s AND name != 'loaded_at'",
            parameters={"t": table},
        ).result_rows
    ]  # fmt: skip
    return client.query(f"SELECT {', '.join(columns)} FROM {table} ORDER BY ALL").result_rows


def test_full_history_reconciles_with_ground_truth(server, account, warehouse, instance) -> None:
    first, last = history(account)
    run(server, warehouse, instance, first, last)
    expected = truth.daily_sales(account, TZ)
    with warehouse.get_client() as client:
        assert warehouse_daily(client) == expected
        assert warehouse_inventory(client) == truth.show_inventory(account)
        cities = dict(
            client.query("SELECT event_id, any(city) FROM fact_qtickets_sales_daily GROUP BY event_id").result_rows
        )
        dashboard = client.query("SELECT count(), sum(revenue) FROM v_qtickets_sales_dashboard").result_rows[0]
    assert cities == {e["id"]: e["city"]["name"] for e in account.events if e["id"] in cities}
    assert dashboard == (len(expected), sum((v.revenue for v in expected.values()), Decimal(0)))
    # the data set really exercises the definitions
    assert any(v.refunded_amount for v in expected.values())
    assert any(v.gross_revenue == 0 for v in expected.values()) or any(
        b["price"] == 0 for o in account.orders for b in o["baskets"] if o["payed_at"]
    )


def test_orders_streamed_in_many_inserts_land_exactly_once(server, account, warehouse, instance, monkeypatch) -> None:
    monkeypatch.setattr(orders, "ROWS_PER_BATCH", 37)
    monkeypatch.setattr(writes, "ROWS_PER_INSERT", 100)
    first, last = history(account)
    run(server, warehouse, instance, first, last)
    sold = sum(len(o["baskets"]) for o in account.orders if o["payed_at"])
    with warehouse.get_client() as client:
        raw = client.query("SELECT count(), uniqExact(basket_id) FROM stg_qtickets_api_orders_raw").result_rows[0]
        assert warehouse_daily(client) == truth.daily_sales(account, TZ)
    assert raw == (sold, sold)
    assert sold > 10 * 37


def test_whole_history_backfill_is_one_run_and_one_scan(server, account, warehouse, instance) -> None:
    first, last = history(account)
    probed(server, instance)
    before = len(server.requests)
    run(server, warehouse, instance, first, last)
    assert len(instance.get_runs()) == 1
    order_scans = [r for r in server.requests[before:] if r.path.endswith("/orders")]
    tz = ZoneInfo(TZ)
    start = dt.datetime.combine(first, dt.time(), tz)
    windows = payment_windows(start, dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tz), tz)
    paid_at = [parse_ts(o["payed_at"]) for o in account.orders if o["payed_at"]]
    # One request for the range's total, then each month's keyset scan (an empty month: one request).
    pages = [max(1, -(-sum(low <= paid < high for paid in paid_at) // 100)) for low, high in windows]
    assert len(order_scans) == 1 + sum(pages)
    assert len(windows) > 2 and (last - first).days > 3 * len(order_scans)


def test_rerunning_a_day_changes_nothing(server, account, warehouse, instance) -> None:
    first, last = history(account)
    run(server, warehouse, instance, first, last)
    with warehouse.get_client() as client:
        raw, facts = snapshot(client, "stg_qtickets_api_orders_raw"), snapshot(client, "fact_qtickets_sales_daily")
    busiest = max(truth.daily_sales(account, TZ).items(), key=lambda kv: kv[1].orders)[0][0]
    run(server, warehouse, instance, busiest, busiest)
    with warehouse.get_client() as client:
        assert snapshot(client, "stg_qtickets_api_orders_raw") == raw
        assert snapshot(client, "fact_qtickets_sales_daily") == facts


def test_rerunning_an_old_day_picks_up_refunds_and_cancellations(server, account, warehouse, instance) -> None:
    first, last = history(account)
    run(server, warehouse, instance, first, last)
    old_day = first + dt.timedelta(days=(last - first).days // 3)
    victims = [
        o for o in account.orders
        if o["payed_at"] and not o["deleted_at"] and account_day(o) == old_day
        and sum(1 for b in o["baskets"] if not b["deleted_at"] and not b["refunded_at"]) >= 1
    ]  # fmt: skip
    assert victims, "the data set should have sales on the chosen day"
    live = [b for b in victims[0]["baskets"] if not b["deleted_at"] and not b["refunded_at"]]
    account.refund_basket(victims[0]["id"], live[0]["id"], deduction=Decimal("50.00") if live[0]["price"] else 0)
    if len(victims) > 1:
        account.cancel_order(victims[1]["id"])
    run(server, warehouse, instance, old_day, old_day)
    with warehouse.get_client() as client:
        assert warehouse_daily(client) == truth.daily_sales(account, TZ)


def account_day(order: dict) -> dt.date:
    return dt.datetime.fromisoformat(order["payed_at"]).astimezone(ZoneInfo(TZ)).date()


def test_no_personal_data_reaches_the_warehouse(server, account, warehouse, instance) -> None:
    """No column is meant for personal data, and no value of any table or view contains an
    e-mail, phone, name or card number of the simulator's buyers, even inside a longer text."""
    first, last = history(account)
    run(server, warehouse, instance, first, last)
    with warehouse.get_client() as client:
        assert personal_data_found(client, account) == []
        repeat = client.query(
            "SELECT buyer_key, uniqExact(order_id) FROM stg_qtickets_api_orders_raw "
            "WHERE payed AND order_deleted_at IS NULL AND buyer_key != '' GROUP BY buyer_key"
        ).result_rows
    paid_orders_per_buyer = sorted(truth.buyer_emails(account).values())
    assert sorted(n for _, n in repeat) == paid_orders_per_buyer
    assert max(paid_orders_per_buyer) > 1


@pytest.mark.parametrize("enabled", [True, False])
def test_pages_are_flattened_with_the_collector_paused_and_restored(enabled: bool) -> None:
    pages = [[{"id": 1}, {"id": 2}], [{"id": 3}]]
    seen: list[bool] = []

    def flatten(page: list[dict]) -> dict[str, list]:
        seen.append(gc.isenabled())
        return {"id": [order["id"] for order in page]}

    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        assert list(orders._flattened(iter(pages), flatten)) == [(2, {"id": [1, 2]}), (1, {"id": [3]})]
        assert seen == [False, False]
        assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()
