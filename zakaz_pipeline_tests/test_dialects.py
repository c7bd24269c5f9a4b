"""Every way the real API may treat what the public record leaves open (``simulator/dialect.py``):
filters on ``/orders`` honoured, ignored or refused with ``503 UNKNOWN_ERROR``, pages of 50
orders and 10 events whatever ``perPage`` asks, seats answered once per tariff. In each, a
run with no findings probes first, picks its strategy, and the warehouse reconciles with the
simulator's ground truth ticket by ticket and kopeck by kopeck, inventory per physical seat,
with no personal data; then the late-change sensor and the webhooks bring refunds,
cancellations, a sale and an order paid a month after it was placed to the same exact
warehouse, and the next 15-minute tick keeps them."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import pytest
from dagster import DagsterInstance, build_sensor_context

from zakaz_pipeline.defs.api_findings import latest_findings
from zakaz_pipeline.defs.jobs import CREATED_FROM_TAG, RANGE_END_TAG, RANGE_START_TAG
from zakaz_pipeline.defs.sensors.late_changes import Cursor
from zakaz_pipeline.simulator.dialect import ApiDialect
from zakaz_pipeline.simulator.server import SimulatorServer
from zakaz_pipeline.simulator.shop import SimulatedAccount
from zakaz_pipeline.simulator.webhooks import WebhookPlan, WebhookSender
from zakaz_pipeline.warehouse.resource import ClickHouseResource
from zakaz_pipeline.webhooks.app import WEBHOOK_PATH
from zakaz_pipeline_tests import truth
from zakaz_pipeline_tests.conftest import ACCOUNT_NOW, HISTORY_DAYS, TOKEN
from zakaz_pipeline_tests.harness import (
    ORG,
    TZ,
    definitions,
    history,
    qtickets_resource,
    refresh_tick,
    run,
    run_late_changes,
    settings_with,
)
from zakaz_pipeline_tests.reconcile import differences, personal_data_found
from zakaz_pipeline_tests.test_late_changes import live_baskets, sales_day
from zakaz_pipeline_tests.test_pipeline import warehouse_inventory
from zakaz_pipeline_tests.test_webhook_sensor import sensor_for
from zakaz_pipeline_tests.test_webhook_sensor import tick as webhook_tick
from zakaz_pipeline_tests.test_webhooks import SECRET, receiver

DIALECTS = {
    "honoured": ApiDialect(),
    "ignored": ApiDialect("ignored", real_paging=True, tariffs=True),
    "refused": ApiDialect("refused", real_paging=True, tariffs=True),
}
STRATEGY = {"honoured": "filtered", "ignored": "scan", "refused": "scan"}
# The late-change sensor's rolling scan reads the list once every ZAKAZ_LATE_SCAN_HOURS in
# ticks ZAKAZ_LATE_CHANGES_INTERVAL (300 s) apart: here in 3 ticks, and a change is found
# within two such cycles.
LATE_CHANGES = settings_with(ZAKAZ_LATE_SCAN_HOURS="0.25")
MAX_TICKS = 10


@contextmanager
def shop(dialect: ApiDialect) -> Iterator[tuple[SimulatedAccount, SimulatorServer]]:
    account = SimulatedAccount.generate(seed=43, orders=600, events=5, history_days=HISTORY_DAYS, now=ACCOUNT_NOW)
    with SimulatorServer(account, token=TOKEN, dialect=dialect) as server:
        yield account, server


def assert_exact(account: SimulatedAccount, warehouse: ClickHouseResource) -> None:
    with warehouse.get_client() as client:
        assert differences(client, account, ORG, TZ).exact
        assert warehouse_inventory(client) == truth.show_inventory(account)


def reserved_a_month_ago(account: SimulatedAccount) -> dict:
    """An order placed 30 days ago and still unpaid (a reservation kept open), to be paid
    now: longer after its creation than any payment the account's history shows."""
    with account.lock:
        order = next(
            o
            for o in account.orders
            if o["payed_at"] and not o["deleted_at"] and live_baskets(o) and sales_day(o) == account_day(account, 30)
        )
        order["payed"], order["payed_at"] = False, None
        account.revision += 1
    return order


def account_day(account: SimulatedAccount, days_ago: int) -> dt.date:
    return account.now.date() - dt.timedelta(days=days_ago)


def late_change_tick(server: SimulatorServer, instance: DagsterInstance, cursor: str | None):
    context = build_sensor_context(instance=instance, cursor=cursor, resources={"qtickets": qtickets_resource(server)})
    return definitions(LATE_CHANGES).resolve_sensor_def("qtickets_late_changes").evaluate_tick(context)


def settled(server: SimulatorServer, instance: DagsterInstance) -> str:
    """The sensor's cursor once it has seen the synced account: one tick where it filters by
    ``updated_at``; where it scans, a whole cycle (what it requests, the sync already has)."""
    cursor: str | None = None
    for _ in range(MAX_TICKS):
        cursor = late_change_tick(server, instance, cursor).cursor or cursor
        scan = Cursor.parse(cursor).scan
        if not scan.since or scan.cycles >= 1:
            break
    assert cursor is not None
    return cursor


def late_change_runs(server: SimulatorServer, warehouse, instance, cursor: str) -> set[dt.date]:
    """Ticks of the late-change sensor, each requested run run: one tick where it filters by
    ``updated_at``; where it scans, until its scan has read the whole list twice round."""
    days: set[dt.date] = set()
    start = Cursor.parse(cursor).scan.cycles
    for _ in range(MAX_TICKS):
        result = late_change_tick(server, instance, cursor)
        cursor = result.cursor or cursor
        for request in result.run_requests:
            assert CREATED_FROM_TAG in request.tags, "a requested run says how far back its orders were created"
            days |= partition_days(request.tags)
            run_late_changes(server, warehouse, instance, request.tags)
        scan = Cursor.parse(cursor).scan
        if not scan.since or scan.cycles >= start + 2:
            break
    return days


def partition_days(tags: dict[str, str]) -> set[dt.date]:
    first, last = (dt.date.fromisoformat(tags[key]) for key in (RANGE_START_TAG, RANGE_END_TAG))
    return {first + dt.timedelta(days=n) for n in range((last - first).days + 1)}


def schedule_tick(server: SimulatorServer, warehouse, instance) -> None:
    """The 15-minute schedule's run: yesterday and today."""
    (request,) = refresh_tick(dt.datetime.now(dt.UTC))
    days = partition_days(request.tags)
    run(server, warehouse, instance, min(days), max(days))


# The honoured dialect is the simulator's default, which every other sync, late-change,
# tick and webhook test of the suite runs against (test_pipeline, test_late_changes,
# test_webhook_sensor, test_checks); its probe and strategy are test_first_contact's.
@pytest.mark.parametrize("name", ["ignored", "refused"])
def test_each_dialect_syncs_exactly_and_follows_late_changes_and_webhooks(
    name: str, tmp_path: Path, warehouse: ClickHouseResource, instance: DagsterInstance
) -> None:
    with shop(DIALECTS[name]) as (account, server):
        reserved = reserved_a_month_ago(account)
        first, last = history(account)
        run(server, warehouse, instance, first, last)
        findings = latest_findings(instance, ORG)
        assert findings is not None, "a run with no findings probes first and records them"
        assert findings.orders_strategy() == STRATEGY[name]
        assert findings.tariffs == DIALECTS[name].tariffs
        assert_exact(account, warehouse)
        with warehouse.get_client() as client:
            assert personal_data_found(client, account) == []

        cursor = settled(server, instance)
        account.advance(dt.datetime.now(dt.UTC))  # the sensor scans the last quarter hour of the real clock
        victims = [o for o in account.orders if o["payed_at"] and not o["deleted_at"] and live_baskets(o)]
        refunded = next(o for o in victims if sales_day(o) == account_day(account, 60))
        cancelled = next(o for o in victims if sales_day(o) == account_day(account, 45))
        account.refund_basket(refunded["id"], live_baskets(refunded)[0]["id"], deduction=Decimal(0))
        account.cancel_order(cancelled["id"])
        account.pay_order(reserved["id"])
        days = late_change_runs(server, warehouse, instance, cursor)
        assert days == {sales_day(refunded), sales_day(cancelled), sales_day(reserved)}
        assert_exact(account, warehouse)

        schedule_tick(server, warehouse, instance)
        assert_exact(account, warehouse)  # the tick's scan reads back far enough to keep the late payment

        queue = tmp_path / "webhooks.sqlite"
        with receiver(queue) as url:
            plan = WebhookPlan(time_scale=0.001)
            with WebhookSender(account, url=url + WEBHOOK_PATH, secret=SECRET, plan=plan) as sender:
                account.advance(account.now + dt.timedelta(minutes=1))
                account.place_order(random.Random(7))
                again = next(o for o in victims if sales_day(o) == account_day(account, 20) and live_baskets(o))
                account.refund_basket(again["id"], live_baskets(again)[0]["id"], deduction=Decimal(0))
                assert sender.wait_idle(20)
                account.check_in(again["id"], again["baskets"][-1]["id"])  # a door scan: no sale changes
                assert sender.wait_idle(20)
        sensor = sensor_for(queue)
        result = webhook_tick(sensor, instance, None)
        assert set().union(*map(partition_days, (r.tags for r in result.run_requests))) == {
            account_day(account, 0),
            sales_day(again),
        }
        for request in result.run_requests:
            run_late_changes(server, warehouse, instance, request.tags)
        with warehouse.get_client() as client:
            assert differences(client, account, ORG, TZ).exact  # webhook runs re-read sales, not seats
        schedule_tick(server, warehouse, instance)
        assert_exact(account, warehouse)
