"""The definitions load with no secrets and no network, and hold what the design asks."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from zoneinfo import ZoneInfo

import pytest
from dagster import (
    BackfillPolicy,
    DagsterInstance,
    DagsterRunStatus,
    build_schedule_context,
)

from zakaz_pipeline.defs.jobs import (
    PRIORITY_TAG,
    RANGE_END_TAG,
    RANGE_START_TAG,
    automation_tags,
    partition_range_tags,
)
from zakaz_pipeline.defs.schedules import REFRESH_SCHEDULE
from zakaz_pipeline.runtime.runs import remote_job_origin
from zakaz_pipeline.settings import ConfigError
from zakaz_pipeline.warehouse import registry
from zakaz_pipeline_tests.harness import PARTITIONS, SETTINGS, definitions, refresh_tick, settings_with

EXPECTED_ASSETS = {
    "dim_events", "dim_shows", "stg_qtickets_api_orders_raw", "stg_qtickets_api_inventory_raw",
    "fact_qtickets_sales_daily", "fact_qtickets_inventory_latest", "meta_job_runs", "meta_webhooks", "qtickets_api",
    *(view.name for view in registry.views()),
}  # fmt: skip


def views_reading(names: set[str]) -> set[str]:
    """The registry's views that read any of ``names``, directly or through another view."""
    found = set(names)
    for view in registry.views():  # each after the views it reads
        if found & set(view.sources):
            found.add(view.name)
    return found - names


def test_asset_graph_and_partitioning() -> None:
    graph = definitions().resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert keys == EXPECTED_ASSETS
    for name in ("stg_qtickets_api_orders_raw", "fact_qtickets_sales_daily"):
        node = graph.get(next(k for k in graph.get_all_asset_keys() if k.to_user_string() == name))
        assert node.partitions_def == PARTITIONS
        assert node.backfill_policy == BackfillPolicy.single_run()
    assert PARTITIONS.timezone == "Europe/Moscow"


def test_schedule_asks_for_today_and_yesterday_in_one_run_behind_a_persons_runs() -> None:
    schedule = definitions().resolve_schedule_def(REFRESH_SCHEDULE)
    assert schedule.cron_schedule == "*/15 * * * *"
    assert "every 15 minutes" in (schedule.description or "")
    day = SETTINGS.history_start + dt.timedelta(days=30)
    # 00:15 in Moscow is still the previous day in UTC: "today" must be Moscow's
    moment = dt.datetime.combine(day, dt.time(0, 15), ZoneInfo("Europe/Moscow"))
    (run_request,) = refresh_tick(moment)
    expected = ((day - dt.timedelta(days=1)).isoformat(), day.isoformat())
    assert (run_request.tags[RANGE_START_TAG], run_request.tags[RANGE_END_TAG]) == expected
    assert run_request.tags[PRIORITY_TAG] == "-1", "a person's run (priority 0) starts first"


def test_the_schedule_says_the_cadence_it_was_given() -> None:
    """The demo's schedule ticks every minute: the UI shows "Every minute" beside it, and its
    name and description do not say otherwise."""
    schedule = definitions(settings_with(ZAKAZ_SCHEDULE_CRON="* * * * *")).resolve_schedule_def(REFRESH_SCHEDULE)
    assert schedule.cron_schedule == "* * * * *"
    assert "ZAKAZ_SCHEDULE_CRON='* * * * *'" in (schedule.description or "")
    assert "15" not in schedule.name


def test_a_tick_whose_days_a_queued_sync_run_covers_requests_nothing() -> None:
    """One run at a time and a tick every minute: ticks must not queue behind a long run.
    A queued late-change run of the same days does not count (it reads no events or
    inventory); a queued sync run does, until it starts."""
    defs = definitions()
    schedule = defs.resolve_schedule_def(REFRESH_SCHEDULE)
    day = SETTINGS.history_start + dt.timedelta(days=30)
    moment = dt.datetime.combine(day, dt.time(12, 0), ZoneInfo("Europe/Moscow"))
    days = partition_range_tags(day - dt.timedelta(days=1), day)
    with DagsterInstance.local_temp() as instance:  # the daemon's is persistent, and so must a tick's be

        def tick() -> list:
            with build_schedule_context(instance=instance, scheduled_execution_time=moment) as context:
                return schedule.evaluate_tick(context).run_requests or []

        def queue(job: str, tags: dict[str, str], status: DagsterRunStatus = DagsterRunStatus.QUEUED) -> str:
            run = instance.create_run_for_job(
                defs.resolve_job_def(job), tags=tags, status=status, remote_job_origin=remote_job_origin(job)
            )
            return run.run_id

        queue("qtickets_late_changes", days)
        assert len(tick()) == 1
        queue("qtickets_sync", partition_range_tags(day - dt.timedelta(days=5), day - dt.timedelta(days=1)))
        assert len(tick()) == 1, "today is not in the queued run"
        queued = queue("qtickets_sync", automation_tags(days))
        assert tick() == []
        instance.delete_run(queued)
        queue("qtickets_sync", automation_tags(days), DagsterRunStatus.STARTED)
        assert len(tick()) == 1, "a started run may have read already"


def test_every_check_runs_over_the_whole_history_every_night() -> None:
    """A tick's row rules read its own days; the nightly run of the checks job reads all."""
    schedule = definitions().resolve_schedule_def("qtickets_checks_daily")
    assert (schedule.job_name, schedule.cron_schedule, schedule.execution_timezone) == (
        "qtickets_checks", "30 4 * * *", "Europe/Moscow",
    )  # fmt: skip
    with DagsterInstance.ephemeral() as instance:
        moment = dt.datetime(2024, 6, 1, 4, 30, tzinfo=ZoneInfo("Europe/Moscow"))
        (request,) = schedule.evaluate_tick(
            build_schedule_context(instance=instance, scheduled_execution_time=moment)
        ).run_requests
    assert RANGE_START_TAG not in request.tags and "dagster/partition" not in request.tags
    assert request.tags[PRIORITY_TAG] == "-1"


def test_dagster_definitions_validate_passes_without_secrets() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("QTICKETS_TOKEN", "ZAKAZ_PII_KEY", "CLICKHOUSE_URL")}
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-m", "zakaz_pipeline.definitions"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]


def test_importing_reads_nothing_and_loading_names_every_bad_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment is read when Dagster loads ``defs``, not when the module is imported."""
    monkeypatch.setenv("ZAKAZ_SCHEDULE_CRON", "every minute")
    monkeypatch.setenv("QTICKETS_HISTORY_START", "yesterday")
    imported = subprocess.run(
        [sys.executable, "-c", "import zakaz_pipeline.definitions, zakaz_pipeline.defs.assets"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr[-2000:]
    from zakaz_pipeline.definitions import defs

    with pytest.raises(ConfigError) as raised:
        defs()
    assert "ZAKAZ_SCHEDULE_CRON='every minute'" in str(raised.value)
    assert "QTICKETS_HISTORY_START='yesterday'" in str(raised.value)
    monkeypatch.delenv("ZAKAZ_SCHEDULE_CRON")
    monkeypatch.delenv("QTICKETS_HISTORY_START")
    assert defs().resolve_job_def("qtickets_sync").name == "qtickets_sync"


def test_every_asset_carries_checks_and_the_automation_is_wired() -> None:
    defs = definitions()
    graph = defs.resolve_asset_graph()
    checked = {key.asset_key.to_user_string() for key in graph.asset_check_keys}
    assert checked == EXPECTED_ASSETS - {"qtickets_api"}, "every asset the pipeline writes; the API is observed"
    sensors = {sensor.name for sensor in defs.sensors}
    assert {
        "qtickets_late_changes",
        "qtickets_webhooks",
        "meta_job_runs_on_success",
        "meta_job_runs_on_failure",
    } <= sensors
    assert {"run_failure_alert_sensor", "check_and_failure_rate_alert_sensor"} <= sensors
    late = defs.resolve_job_def("qtickets_late_changes")
    rebuilt = {"stg_qtickets_api_orders_raw", "fact_qtickets_sales_daily"}
    expected = rebuilt | views_reading(rebuilt)
    assert {"v_qtickets_sales_dashboard", "v_sales_14d", "v_sales_latest", "v_qtickets_freshness"} <= expected
    assert {key.to_user_string() for key in late.asset_layer.executable_asset_keys} == expected
