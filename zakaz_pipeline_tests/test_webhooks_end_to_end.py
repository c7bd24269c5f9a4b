"""Webhooks end to end (issue 16): the simulator's signed deliveries reach the real receiver
(uvicorn on loopback, its SQLite queue in the test's folder), the ``qtickets_webhooks``
sensor turns them into late-change runs, and the warehouse equals the simulator's ground
truth; and a warehouse fed by polling alone is the very same warehouse, row for row."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from dagster import DagsterInstance

from zakaz_pipeline.simulator.server import SimulatorServer
from zakaz_pipeline.simulator.shop import SimulatedAccount
from zakaz_pipeline.simulator.webhooks import WebhookPlan, WebhookSender
from zakaz_pipeline.warehouse.resource import ClickHouseResource
from zakaz_pipeline.webhooks.app import WEBHOOK_PATH
from zakaz_pipeline_tests import truth
from zakaz_pipeline_tests.conftest import ACCOUNT_NOW, HISTORY_DAYS, TOKEN
from zakaz_pipeline_tests.harness import ORG, TZ, history, refresh_tick, run, run_late_changes
from zakaz_pipeline_tests.reconcile import differences
from zakaz_pipeline_tests.test_late_changes import _facts, fact_rows_besides, live_baskets, sales_day
from zakaz_pipeline_tests.test_late_changes import tick as late_change_tick
from zakaz_pipeline_tests.test_webhook_sensor import requested, requested_days, sensor_for, tick
from zakaz_pipeline_tests.test_webhooks import SECRET, receiver

MOSCOW = ZoneInfo(TZ)
# Columns that tell when a row was written or a snapshot taken (the clock of the run, not
# the shop's data), or are measured from that clock: two warehouses loaded seconds apart
# differ there and nowhere else. Every relation: its load, snapshot and migration times; the sell-through
# view: the pace over the time between snapshots and the sell-out day projected from it; the
# freshness view: the newest "data" (of dim_events and the snapshots: their load times) and its age.
LOAD_TIMES = ("loaded_at", "snapshot_ts", "inventory_snapshot_ts", "applied_at")
CLOCK_DERIVED = {
    "v_show_sell_through": ("pace_per_day", "projected_sellout_date"),
    "v_qtickets_freshness": ("last_data_at", "minutes_since_data"),
}


@dataclass(frozen=True)
class Changes:
    """What the shop did after the initial sync: a sale today and a refund of an old order."""

    sale: dict
    refunded: dict
    cursor: str  # the late-change sensor's cursor from before the changes

    @property
    def days(self) -> set[dt.date]:
        return {sales_day(self.sale), sales_day(self.refunded)}


@contextmanager
def shop(seed: int) -> Iterator[tuple[SimulatedAccount, SimulatorServer]]:
    account = SimulatedAccount.generate(seed=seed, orders=500, events=6, history_days=HISTORY_DAYS, now=ACCOUNT_NOW)
    with SimulatorServer(account, token=TOKEN) as server:
        yield account, server


def sync(server: SimulatorServer, warehouse: ClickHouseResource, instance: DagsterInstance) -> None:
    """The initial sync: every day of the account's history."""
    first, last = history(server.account)
    run(server, warehouse, instance, first, last)


def change_the_shop(account: SimulatedAccount, server: SimulatorServer, instance: DagsterInstance, url: str) -> Changes:
    """A new paid order today and a refund of an order paid 60 days ago, delivered by the
    simulator's ``WebhookSender`` (signed with the receiver's secret) to ``url``."""
    cursor = late_change_tick(server, instance, None).cursor
    assert cursor
    today = account.now.astimezone(MOSCOW).date()
    victim = next(
        o
        for o in account.orders
        if o["payed_at"] and not o["deleted_at"] and sales_day(o) == today - dt.timedelta(days=60) and live_baskets(o)
    )
    with WebhookSender(account, url=url + WEBHOOK_PATH, secret=SECRET, plan=WebhookPlan(time_scale=0.001)) as sender:
        account.advance(account.now + dt.timedelta(minutes=1))
        sale = account.place_order(random.Random(16))
        account.refund_basket(victim["id"], live_baskets(victim)[0]["id"], deduction=Decimal(0))
        assert sender.wait_idle(20)
    assert (sender.stats.delivered, sender.stats.given_up, sender.stats.dropped) == (3, 0, 0)
    assert {a.status for a in sender.stats.attempts} == {200}
    changes = Changes(sale, account.order(victim["id"]), cursor)
    assert sales_day(sale) == today and len(changes.days) == 2
    return changes


def webhook_runs(
    server: SimulatorServer, warehouse: ClickHouseResource, instance: DagsterInstance, queue: Path, changes: Changes
) -> None:
    """The ``qtickets_webhooks`` sensor's tick over the queue, and exactly the runs it requests."""
    result = tick(sensor_for(queue), instance, None)
    assert requested(result) == [(day, day) for day in sorted(changes.days)]  # two days apart: two runs
    for request in result.run_requests:
        run_late_changes(server, warehouse, instance, request.tags)


def polling_runs(
    server: SimulatorServer, warehouse: ClickHouseResource, instance: DagsterInstance, changes: Changes
) -> None:
    """What polling does without any webhook: the schedule's next tick (yesterday and today)
    and the late-change sensor's runs for the changes it finds from its earlier cursor."""
    moment = dt.datetime.now(MOSCOW)
    ((first, last),) = [requested_days(request) for request in refresh_tick(moment)]
    run(server, warehouse, instance, first, last)
    late = late_change_tick(server, instance, changes.cursor)
    assert requested(late) == [(day, day) for day in sorted(changes.days)]
    for request in late.run_requests:
        run_late_changes(server, warehouse, instance, request.tags)


def sales_latest(warehouse: ClickHouseResource) -> dict[int, tuple]:
    """``v_sales_latest`` per event: tickets and revenue today, and in all."""
    with warehouse.get_client() as client:
        rows = client.query(
            "SELECT event_id, tickets_sold_today, revenue_today, tickets_sold_total, revenue_total "
            "FROM v_sales_latest WHERE org = %(org)s",
            parameters={"org": ORG},
        ).result_rows
    return {event_id: tuple(values) for event_id, *values in rows}


def contents(warehouse: ClickHouseResource) -> dict[str, list[tuple]]:
    """Every table's and view's rows, sorted, without the columns of the run's clock: the
    warehouse as a whole."""
    with warehouse.get_client() as client:
        columns: dict[str, list[str]] = {}
        for table, column in client.query(
            "SELECT table, name FROM system.columns WHERE database = currentDatabase() ORDER BY table, position"
        ).result_rows:
            if column not in (*LOAD_TIMES, *CLOCK_DERIVED.get(table, ())):
                columns.setdefault(table, []).append(column)
        return {
            table: sorted(
                map(tuple, client.query(f"SELECT {', '.join(map(quote, kept))} FROM {quote(table)}").result_rows),
                key=repr,
            )
            for table, kept in columns.items()
        }


def quote(identifier: str) -> str:
    return f"`{identifier}`"


def test_the_simulators_webhooks_put_a_sale_and_an_old_refund_in_the_fact_and_the_views(
    tmp_path: Path, warehouse: ClickHouseResource, instance: DagsterInstance
) -> None:
    queue = tmp_path / "webhooks.sqlite"
    with shop(16) as (account, server):
        sync(server, warehouse, instance)
        latest_before = sales_latest(warehouse)
        with receiver(queue) as url:
            changes = change_the_shop(account, server, instance, url)
        with warehouse.get_client() as client:
            unchanged = fact_rows_besides(client, changes.days)
        assert _facts(warehouse) != truth.daily_sales(account, TZ)

        webhook_runs(server, warehouse, instance, queue, changes)

    wanted, facts = truth.daily_sales(account, TZ), _facts(warehouse)
    for day in changes.days:
        assert {k: v for k, v in facts.items() if k[0] == day} == {k: v for k, v in wanted.items() if k[0] == day}
    with warehouse.get_client() as client:
        assert fact_rows_besides(client, changes.days) == unchanged, "no other day changed"
        assert differences(client, account, ORG, TZ).exact, "raw tickets and the fact equal the ground truth"
    event, today = changes.sale["event_id"], sales_day(changes.sale)
    sold = wanted[(today, event)]
    latest = sales_latest(warehouse)
    assert latest[event][:2] == (sold.tickets_sold, sold.revenue), "v_sales_latest shows today's sale"
    tickets = sum(basket["quantity"] for basket in changes.sale["baskets"])
    before = latest_before.get(event, (0, Decimal(0), 0, Decimal(0)))
    assert latest[event][0] == before[0] + tickets


def test_polling_alone_gives_the_same_warehouse_as_polling_with_webhooks(
    tmp_path: Path, warehouse: ClickHouseResource, other_warehouse: ClickHouseResource, instance: DagsterInstance
) -> None:
    """The same shop and the same changes: ``polled`` never hears a webhook, ``pushed`` runs
    the webhook sensor's requests first and then polls as well."""
    polled, pushed = warehouse, other_warehouse
    queue = tmp_path / "webhooks.sqlite"
    with shop(17) as (account, server), DagsterInstance.ephemeral() as pushed_instance:
        sync(server, polled, instance)
        sync(server, pushed, pushed_instance)
        with receiver(queue) as url:
            changes = change_the_shop(account, server, instance, url)
        webhook_runs(server, pushed, pushed_instance, queue, changes)
        polling_runs(server, pushed, pushed_instance, changes)
        polling_runs(server, polled, instance, changes)

    polled_rows, pushed_rows = contents(polled), contents(pushed)
    assert {"stg_qtickets_api_orders_raw", "fact_qtickets_sales_daily", "v_sales_latest"} <= polled_rows.keys()
    assert polled_rows["fact_qtickets_sales_daily"] and polled_rows["v_sales_latest"]
    assert polled_rows.keys() == pushed_rows.keys()
    for name in polled_rows:
        assert polled_rows[name] == pushed_rows[name], name
    for target in (polled, pushed):
        with target.get_client() as client:
            assert differences(client, account, ORG, TZ).exact
