"""Run monitoring: finished runs land in meta_job_runs, and the DataLens views agree with
the simulator's ground truth."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from dagster import AssetKey, build_run_status_sensor_context, materialize

from zakaz_pipeline.defs.jobs import partition_range_tags
from zakaz_pipeline.defs.resources import QualityResource
from zakaz_pipeline.defs.sensors.run_monitoring import meta_job_runs_sensors
from zakaz_pipeline.simulator.server import SimulatorServer
from zakaz_pipeline.simulator.shop import SimulatedAccount
from zakaz_pipeline_tests import truth
from zakaz_pipeline_tests.conftest import ACCOUNT_NOW, HISTORY_DAYS, TOKEN
from zakaz_pipeline_tests.harness import ALL_ASSETS, ORG, TZ, history, pipeline_resources, qtickets_resource, run

SENSORS = {sensor.name: sensor for sensor in meta_job_runs_sensors}
META_SQL = (
    "SELECT status, job, partitions, assets, rows_written, message, started_at <= finished_at "
    "FROM meta_job_runs FINAL WHERE run_id = %(run)s"
)


@pytest.fixture(scope="module")
def account() -> SimulatedAccount:
    return SimulatedAccount.generate(seed=41, orders=500, events=6, history_days=HISTORY_DAYS, now=ACCOUNT_NOW)


@pytest.fixture(scope="module")
def server(account: SimulatedAccount) -> Iterator[SimulatorServer]:
    with SimulatorServer(account, token=TOKEN) as running:
        yield running


def record(name: str, result, event, instance, warehouse) -> None:
    with build_run_status_sensor_context(
        sensor_name=name,
        dagster_event=event,
        dagster_instance=instance,
        dagster_run=instance.get_run_by_id(result.run_id),
        resources={"warehouse": warehouse, "quality": QualityResource(org=ORG, timezone=TZ)},
    ) as context:
        SENSORS[name](context)


def test_runs_are_recorded_once_with_status_days_rows_and_first_error_line(server, account, warehouse, instance):
    first, last = history(account)
    good = run(server, warehouse, instance, first, last)
    record("meta_job_runs_on_success", good, good.get_run_success_event(), instance, warehouse)
    record("meta_job_runs_on_success", good, good.get_run_success_event(), instance, warehouse)

    resources = pipeline_resources(server, warehouse) | {"qtickets": qtickets_resource(server, "revoked-token-7")}
    bad = materialize(
        ALL_ASSETS, resources=resources, instance=instance, tags=partition_range_tags(last, last), raise_on_error=False
    )
    assert not bad.success
    record("meta_job_runs_on_failure", bad, bad.get_run_failure_event(), instance, warehouse)

    with warehouse.get_client() as client:
        (ok,) = client.query(META_SQL, parameters={"run": good.run_id}).result_rows
        (failed,) = client.query(META_SQL, parameters={"run": bad.run_id}).result_rows
        written = client.query(
            "SELECT (SELECT count() FROM stg_qtickets_api_orders_raw) + (SELECT count() FROM stg_qtickets_api_inventory_raw)"
            " + (SELECT count() FROM fact_qtickets_sales_daily) + (SELECT count() FROM fact_qtickets_inventory_latest)"
            " + (SELECT count() FROM dim_events) + (SELECT count() FROM dim_shows)"
        ).result_rows[0][0]
        freshness = client.query(
            "SELECT source, last_run_status, last_run_id FROM v_qtickets_freshness WHERE org = %(org)s",
            parameters={"org": ORG},
        ).result_rows

    status, _, partitions, assets, rows, message, ordered = ok
    assert (status, partitions, message, ordered) == ("SUCCESS", f"{first}…{last}", "", True)
    assert {"stg_qtickets_api_orders_raw", "fact_qtickets_sales_daily", "dim_events"} <= set(assets)
    assert rows == written > 0, "each table's rows counted once, not once per day of the run"
    status, _, partitions, _, _, message, _ = failed
    assert (status, partitions) == ("FAILURE", last.isoformat())
    assert "QTICKETS_TOKEN" in message and "\n" not in message and "revoked-token-7" not in message
    by_source = {source: (state, run_id) for source, state, run_id in freshness}
    assert by_source["stg_qtickets_api_orders_raw"] == ("FAILURE", bad.run_id)
    # The table is written outside any run; the UI learns of each row from a materialization.
    latest = instance.get_latest_materialization_event(AssetKey("meta_job_runs"))
    assert latest is not None and latest.asset_materialization.metadata["run_id"].value == bad.run_id
    assert latest.asset_materialization.metadata["status"].value == "FAILURE"
    assert set(by_source) == {"stg_qtickets_api_orders_raw", "stg_qtickets_api_inventory_raw", "dim_events"}


def test_bi_views_agree_with_the_ground_truth(server, account, warehouse, instance):
    first, last = history(account)
    run(server, warehouse, instance, first, last)
    expected = truth.daily_sales(account, TZ)
    with warehouse.get_client() as client:
        today = client.query("SELECT toDate(now(), %(tz)s)", parameters={"tz": TZ}).result_rows[0][0]
        latest = client.query(
            "SELECT event_id, tickets_sold_total, revenue_total, tickets_sold_7d FROM v_sales_latest WHERE org = %(org)s",
            parameters={"org": ORG},
        ).result_rows
        recent = client.query(
            "SELECT sales_date, event_id, tickets_sold, revenue FROM v_sales_14d WHERE org = %(org)s",
            parameters={"org": ORG},
        ).result_rows
    for event, tickets, revenue, week in latest:
        days = {day: sales for (day, ev), sales in expected.items() if ev == event}
        assert tickets == sum(s.tickets_sold for s in days.values())
        assert revenue == sum(s.revenue for s in days.values())
        assert week == sum(s.tickets_sold for day, s in days.items() if day > today - dt.timedelta(days=7))
    assert {e for e, *_ in latest} == {event for _, event in expected}
    window = {key: sales for key, sales in expected.items() if key[0] > today - dt.timedelta(days=14)}
    assert window, "the simulator sells every day, so the last 14 days have sales"
    assert {(day, event): (t, r) for day, event, t, r in recent} == {
        key: (s.tickets_sold, s.revenue) for key, s in window.items()
    }
