"""Orders changed weeks after their sale: the sensor re-runs exactly their sales days
(the monthly-partitioned fact: their months)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

from dagster import build_sensor_context

from zakaz_pipeline.defs.jobs import PRIORITY_TAG, RANGE_END_TAG, RANGE_START_TAG
from zakaz_pipeline.defs.sensors.late_changes import (
    OVERLAP,
    Cursor,
    changed_days,
    day_ranges,
)
from zakaz_pipeline.simulator.server import SimulatorServer
from zakaz_pipeline.simulator.shop import SimulatedAccount
from zakaz_pipeline_tests import truth
from zakaz_pipeline_tests.conftest import ACCOUNT_NOW, HISTORY_DAYS, TOKEN
from zakaz_pipeline_tests.harness import (
    ORG,
    TZ,
    definitions,
    history,
    qtickets_resource,
    run,
    run_late_changes,
)

PARTS_SQL = """
SELECT table, partition, groupArray(name) FROM system.parts
WHERE database = currentDatabase() AND active AND table IN ('stg_qtickets_api_orders_raw', 'fact_qtickets_sales_daily')
GROUP BY table, partition
"""
Parts = dict[tuple[str, str], list[str]]  # (table, partition) → its active parts


def sales_day(order: dict) -> dt.date:
    return dt.datetime.fromisoformat(order["payed_at"]).astimezone(ZoneInfo(TZ)).date()


def live_baskets(order: dict) -> list[dict]:
    return [b for b in order["baskets"] if not b["deleted_at"] and not b["refunded_at"]]


def tick(server, instance, cursor: str | None):
    context = build_sensor_context(instance=instance, cursor=cursor, resources={"qtickets": qtickets_resource(server)})
    return definitions().resolve_sensor_def("qtickets_late_changes").evaluate_tick(context)


def parts(client) -> Parts:
    return {(table, partition): sorted(names) for table, partition, names in client.query(PARTS_SQL).result_rows}


def rewritten(before: Parts, after: Parts) -> set[tuple[str, str]]:
    """(table, partition) whose active parts changed."""
    return {key for key in before.keys() | after.keys() if before.get(key) != after.get(key)}


def fact_rows_besides(client, days: set[dt.date]) -> list[tuple]:
    return client.query(
        "SELECT * EXCEPT loaded_at FROM fact_qtickets_sales_daily WHERE org = %(org)s AND sales_date NOT IN %(days)s "
        "ORDER BY sales_date, event_id",
        parameters={"org": ORG, "days": sorted(days)},
    ).result_rows


def test_refunds_and_cancellations_60_days_later_rerun_only_their_days(warehouse, instance) -> None:
    account = SimulatedAccount.generate(seed=31, orders=700, events=8, history_days=HISTORY_DAYS, now=ACCOUNT_NOW)
    with SimulatorServer(account, token=TOKEN) as server:
        first, last = history(account)
        run(server, warehouse, instance, first, last)
        baseline = tick(server, instance, None)
        assert baseline.cursor

        old = account.now.astimezone(ZoneInfo(TZ)).date() - dt.timedelta(days=60)
        victims = [o for o in account.orders if o["payed_at"] and not o["deleted_at"] and live_baskets(o)]
        refunded = next(o for o in victims if sales_day(o) == old)
        cancelled = next(o for o in victims if sales_day(o) == old - dt.timedelta(days=3))
        account.advance(account.now + dt.timedelta(minutes=1))
        account.refund_basket(refunded["id"], live_baskets(refunded)[0]["id"], deduction=Decimal(0))
        account.cancel_order(cancelled["id"])
        changed = {sales_day(refunded), sales_day(cancelled)}

        with warehouse.get_client() as client:
            before, unchanged = parts(client), fact_rows_besides(client, changed)
        assert truth.daily_sales(account, TZ) != _facts(warehouse)

        late = tick(server, instance, baseline.cursor)
        requested = set()
        for request in late.run_requests:
            start = dt.date.fromisoformat(request.tags[RANGE_START_TAG])
            end = dt.date.fromisoformat(request.tags[RANGE_END_TAG])
            requested |= {start + dt.timedelta(days=n) for n in range((end - start).days + 1)}
            assert request.tags[PRIORITY_TAG] == "-1", "queued behind a person's runs"
            run_late_changes(server, warehouse, instance, request.tags)
        assert requested == changed

        assert _facts(warehouse) == truth.daily_sales(account, TZ)
        # raw: the changed days' partitions alone; the fact, partitioned by month: the changed
        # days' months alone, recomputed from raw, so their other days keep their rows
        with warehouse.get_client() as client:
            assert rewritten(before, parts(client)) == {
                *(("stg_qtickets_api_orders_raw", f"('{ORG}','{day.isoformat()}')") for day in changed),
                *(("fact_qtickets_sales_daily", f"('{ORG}',{day:%Y%m})") for day in changed),
            }
            assert fact_rows_besides(client, changed) == unchanged

        quiet = tick(server, instance, late.cursor)
        assert not quiet.run_requests, "changes already handled are not requested again"


def _facts(warehouse) -> dict:
    with warehouse.get_client() as client:
        rows = client.query(
            "SELECT sales_date, event_id, orders, tickets_sold, gross_revenue, refunded_amount, revenue "
            "FROM fact_qtickets_sales_daily WHERE org = %(org)s",
            parameters={"org": ORG},
        ).result_rows
    return {(day, event): truth.DailySales(*values) for day, event, *values in rows}


def test_cursor_overlap_catches_a_late_commit_but_never_repeats_an_order() -> None:
    tz = ZoneInfo(TZ)
    t0 = dt.datetime(2026, 5, 1, 12, 0, tzinfo=tz)

    def stamp(moment: dt.datetime) -> str:
        return moment.isoformat()

    first = [
        {"id": 1, "updated_at": stamp(t0), "payed_at": stamp(t0 - dt.timedelta(days=40))},
        {"id": 2, "updated_at": stamp(t0 - dt.timedelta(minutes=2)), "payed_at": None},
    ]
    days, cursor = changed_days(first, Cursor(), tz)
    assert days == {(t0 - dt.timedelta(days=40)).date()}
    assert cursor.watermark == t0 and set(cursor.seen) == {1, 2}
    # the next scan starts before the watermark: order 1 again (handled) and order 3,
    # committed late with an older updated_at inside the overlap (new)
    late = {"id": 3, "updated_at": stamp(t0 - dt.timedelta(minutes=5)), "payed_at": stamp(t0 - dt.timedelta(days=9))}
    assert cursor.since(t0) == t0 - OVERLAP
    days, again = changed_days([first[0], late], Cursor.parse(cursor.dump()), tz)
    assert days == {(t0 - dt.timedelta(days=9)).date()}
    assert again.watermark == t0 and 3 in again.seen


def test_consecutive_days_share_a_run() -> None:
    d = dt.date(2026, 3, 1)
    days = {d, d + dt.timedelta(days=1), d + dt.timedelta(days=2), d + dt.timedelta(days=10)}
    assert day_ranges(days) == [(d, d + dt.timedelta(days=2)), (d + dt.timedelta(days=10), d + dt.timedelta(days=10))]
