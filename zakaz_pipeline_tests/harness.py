"""Running the asset graph in a test: real resources on the simulator and chDB.

The definitions are built from an explicit test ``Settings`` (``SETTINGS``), never from
the process's environment: daily partitions from ``conftest.HISTORY_START`` in
Moscow, and step retries after 0.2 s (10 s and more by default)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from dagster import (
    AssetsDefinition,
    AssetSelection,
    DagsterInstance,
    Definitions,
    ExecuteInProcessResult,
    RunRequest,
    build_schedule_context,
    materialize,
)

from zakaz_pipeline.definitions import build_definitions
from zakaz_pipeline.defs.api_findings import observation
from zakaz_pipeline.defs.assets import build_assets
from zakaz_pipeline.defs.checks import asset_checks
from zakaz_pipeline.defs.jobs import partition_range_tags
from zakaz_pipeline.defs.partitions import daily_partitions
from zakaz_pipeline.defs.resources import PiiResource, QticketsResource, QualityResource
from zakaz_pipeline.defs.schedules import REFRESH_SCHEDULE
from zakaz_pipeline.defs.sensors.late_changes import LATE_CHANGE_SELECTION
from zakaz_pipeline.errors import root_error
from zakaz_pipeline.qtickets.findings import Findings
from zakaz_pipeline.qtickets.probe import probe
from zakaz_pipeline.settings import Settings
from zakaz_pipeline.simulator.server import SimulatorServer
from zakaz_pipeline.simulator.shop import SimulatedAccount
from zakaz_pipeline.warehouse.io_manager import ClickHouseIOManager
from zakaz_pipeline.warehouse.resource import ClickHouseResource
from zakaz_pipeline_tests.conftest import HISTORY_START, PII_KEY, TOKEN

ORG = "test-org"
TZ = "Europe/Moscow"
# The variables of the test settings (a mapping: the process's environment is never read).
ENV = {
    "ZAKAZ_TIMEZONE": TZ,
    "QTICKETS_HISTORY_START": HISTORY_START.isoformat(),
    "ZAKAZ_STEP_RETRY_DELAY": "0.2",
    "ORG_NAME": ORG,
    "QTICKETS_TOKEN": TOKEN,
    "ZAKAZ_PII_KEY": PII_KEY,
}
SETTINGS = Settings.from_env(ENV)
PARTITIONS = daily_partitions(SETTINGS.history_start, SETTINGS.timezone)
ALL_ASSETS = [
    a for a in build_assets(PARTITIONS, retry_delay=SETTINGS.step_retry_delay) if isinstance(a, AssetsDefinition)
]


def settings_with(**env: str) -> Settings:
    """The test settings with some variables changed (e.g. ``ZAKAZ_SCHEDULE_CRON``)."""
    return Settings.from_env(ENV | env)


def definitions(settings: Settings = SETTINGS) -> Definitions:
    """The code location's definitions, built as ``defs`` builds them, from test settings."""
    return build_definitions(settings)


def refresh_tick(moment: dt.datetime, settings: Settings = SETTINGS) -> list[RunRequest]:
    """The run requests of the refresh schedule's tick at ``moment``, evaluated as the daemon
    does: on a persistent instance (the tick asks it for queued runs), here one with none."""
    schedule = definitions(settings).resolve_schedule_def(REFRESH_SCHEDULE)
    with (
        DagsterInstance.local_temp() as instance,
        build_schedule_context(instance=instance, scheduled_execution_time=moment) as context,
    ):
        return list(schedule.evaluate_tick(context).run_requests or [])


def qtickets_resource(server: SimulatorServer, token: str = TOKEN, read_timeout: float = 60.0) -> QticketsResource:
    return QticketsResource(org=ORG, base_url=server.base_url, token=token, per_page=100, read_timeout=read_timeout)


def pipeline_resources(server: SimulatorServer, warehouse: ClickHouseResource, **quality: Any) -> dict[str, Any]:
    return {
        "qtickets": qtickets_resource(server),
        "pii": PiiResource(key=PII_KEY),
        "warehouse": warehouse,
        "io_manager": ClickHouseIOManager(warehouse=warehouse, org=ORG),
        "quality": QualityResource(org=ORG, timezone=TZ, **quality),
    }


def run(
    server: SimulatorServer,
    warehouse: ClickHouseResource,
    instance: DagsterInstance,
    first: dt.date,
    last: dt.date,
    selection: Any = None,
    *,
    checks: bool = False,
) -> ExecuteInProcessResult:
    """Materialize ``selection`` (default: every asset) for the days ``first``..``last``;
    with ``checks`` their asset checks run too, as they do in deployed runs."""
    result = attempt(server, warehouse, instance, first, last, selection, checks=checks)
    assert result.success, failure_messages(result)
    return result


def attempt(
    server: SimulatorServer,
    warehouse: ClickHouseResource,
    instance: DagsterInstance,
    first: dt.date,
    last: dt.date,
    selection: Any = None,
    *,
    checks: bool = False,
    token: str = TOKEN,
    read_timeout: float = 60.0,
    log_level: str = "DEBUG",
) -> ExecuteInProcessResult:
    """``run`` that may fail: the result tells how. ``log_level`` is the console's; the
    event log keeps every event."""
    if checks and selection is None:
        selection = AssetSelection.all() | AssetSelection.all_asset_checks()
    resources = pipeline_resources(server, warehouse) | {"qtickets": qtickets_resource(server, token, read_timeout)}
    return materialize(
        [*ALL_ASSETS, *(asset_checks if checks else [])],
        selection=selection,
        resources=resources,
        instance=instance,
        tags=partition_range_tags(first, last),
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
    )


def run_late_changes(
    server: SimulatorServer, warehouse: ClickHouseResource, instance: DagsterInstance, tags: dict[str, str]
) -> ExecuteInProcessResult:
    """A run of the late-change job (``qtickets_late_changes``: the raw orders and what is
    built from them) with a sensor's run request's ``tags``, as the daemon launches it."""
    result = materialize(
        ALL_ASSETS,
        selection=LATE_CHANGE_SELECTION,
        resources=pipeline_resources(server, warehouse),
        instance=instance,
        tags=tags,
        raise_on_error=False,
    )
    assert result.success, failure_messages(result)
    return result


def failure_messages(result: ExecuteInProcessResult) -> list[str]:
    """The root cause of each failed step, as the CLI and ``meta_job_runs`` report it."""
    return [root_error(event.step_failure_data.error).message for event in result.get_step_failure_events()]


def run_checks(server: SimulatorServer, warehouse: ClickHouseResource, instance: DagsterInstance, **quality: Any):
    """Every asset check, without materializing anything: what ``zakaz check`` runs."""
    return materialize(
        [*ALL_ASSETS, *asset_checks],
        selection=AssetSelection.all_asset_checks(),
        resources=pipeline_resources(server, warehouse, **quality),
        instance=instance,
        raise_on_error=False,
    )


def probed(server: SimulatorServer, instance: DagsterInstance) -> Findings:
    """Probe the simulator and record its findings in ``instance``, as ``zakaz probe`` does,
    so a run's requests are its fetch alone; returns the findings."""
    with qtickets_resource(server).get_client() as client:
        findings = probe(client).findings
    instance.report_runless_asset_event(observation(findings, ORG, "probed by the test"))
    return findings


def history(account: SimulatedAccount) -> tuple[dt.date, dt.date]:
    return account.first_payment_date(TZ), account.now.date()
