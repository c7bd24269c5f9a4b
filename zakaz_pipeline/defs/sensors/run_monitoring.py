"""Run monitoring for BI: every finished run becomes a row of ``meta_job_runs``.

Run-status sensors write the runs the daemon sees; the ``zakaz`` CLI records its own
in-process runs through the same ``record_run``. A run recorded twice collapses in the
table (ReplacingMergeTree by run id), so the two paths never double a run. A sync the API
refused before it became a run is a row too (``record_refused_start``), built the same way.
"""

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from dagster import (
    AssetMaterialization,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunStatusSensorContext,
    RunStatusSensorDefinition,
    SkipReason,
    run_status_sensor,
)

from zakaz_pipeline.defs.jobs import RANGE_END_TAG, RANGE_START_TAG, SYNC_JOB, sync_assets
from zakaz_pipeline.defs.resources import QualityResource
from zakaz_pipeline.errors import first_line, root_error
from zakaz_pipeline.warehouse.resource import ClickHouseResource
from zakaz_pipeline.warehouse.writes import append_rows

META_TABLE = "meta_job_runs"
ROW_METADATA = ("rows_written", "rows_appended")
ROW_COUNT = "dagster/row_count"
PAGE = 10_000


def run_row(instance: DagsterInstance, run_id: str, org: str) -> dict[str, list[Any]]:
    """The ``meta_job_runs`` row of a finished run, from Dagster's own records."""
    record = instance.get_run_record_by_id(run_id)
    if record is None:
        raise ValueError(f"run {run_id} is not in this Dagster instance")
    run = record.dagster_run
    events = _events(instance, run_id)
    assets = sorted(
        {
            event.dagster_event.asset_key.to_user_string()
            for event in events
            if event.dagster_event.event_type == DagsterEventType.ASSET_MATERIALIZATION_PLANNED
        }
    )
    return _row(
        org=org,
        run_id=run_id,
        job=run.job_name,
        status=run.status.value,
        started_at=_utc(record.start_time),
        finished_at=_utc(record.end_time),
        partitions=_partitions(run.tags),
        assets=assets,
        rows_written=_rows_written(events),
        message=_first_error_line(events) if run.status == DagsterRunStatus.FAILURE else "",
    )


def refused_start_row(org: str, first: dt.date, last: dt.date, message: str) -> dict[str, list[Any]]:
    """The ``meta_job_runs`` row of a sync over ``first``..``last`` refused before it became a run."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return _row(
        org=org,
        run_id=str(uuid.uuid4()),
        job=SYNC_JOB,
        status=DagsterRunStatus.FAILURE.value,
        started_at=now,
        finished_at=now,
        partitions=_days(first.isoformat(), last.isoformat()),
        assets=sync_assets(),
        rows_written=0,
        message=first_line(message),
    )


def record_run(instance: DagsterInstance, warehouse: ClickHouseResource, run_id: str, org: str) -> None:
    """The run's row, then a materialization of ``meta_job_runs`` saying so: the table is
    written here, outside any run, and the UI would otherwise show it never materialized."""
    row = run_row(instance, run_id, org)
    with warehouse.get_client() as client:
        append_rows(client, META_TABLE, [row])
    instance.report_runless_asset_event(
        AssetMaterialization(
            META_TABLE,
            description=f"run {run_id} ({row['job'][0]}): {row['status'][0]}",
            metadata={"run_id": run_id, "status": row["status"][0], "rows written (rows)": row["rows_written"][0]},
        )
    )


def record_refused_start(warehouse: ClickHouseResource, org: str, first: dt.date, last: dt.date, message: str) -> None:
    """A sync the API refused in the command's preflight never became a Dagster run (the
    refusal is known before one is created); it is still a failed sync for BI and the
    freshness view, so it gets its own row."""
    with warehouse.get_client() as client:
        append_rows(client, META_TABLE, [refused_start_row(org, first, last, message)])


def _row(
    *,
    org: str,
    run_id: str,
    job: str,
    status: str,
    started_at: dt.datetime | None,
    finished_at: dt.datetime | None,
    partitions: str,
    assets: list[str],
    rows_written: int,
    message: str,
) -> dict[str, list[Any]]:
    """One row of ``meta_job_runs``, as the columns ``append_rows`` takes."""
    row = {
        "org": org,
        "run_id": run_id,
        "job": job,
        "status": status,
        "started_at": started_at,
        "finished_at": finished_at,
        "partitions": partitions,
        "assets": assets,
        "rows_written": rows_written,
        "message": message,
    }
    return {name: [value] for name, value in row.items()}


def _events(instance: DagsterInstance, run_id: str) -> list[Any]:
    wanted = {
        DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
        DagsterEventType.ASSET_MATERIALIZATION,
        DagsterEventType.STEP_FAILURE,
        DagsterEventType.RUN_FAILURE,
    }
    found, cursor = [], None
    while True:
        page = instance.get_records_for_run(run_id, cursor=cursor, of_type=wanted, limit=PAGE)
        found += [record.event_log_entry for record in page.records]
        if not page.has_more:
            return found
        cursor = page.cursor


def _rows_written(events: list[Any]) -> int:
    """Rows the run wrote: a day's materialization carries that day's row count, an
    unpartitioned one the rows its write replaced or appended (views write nothing)."""
    rows = 0
    for entry in events:
        event = entry.dagster_event
        if event.event_type != DagsterEventType.ASSET_MATERIALIZATION:
            continue
        materialization = event.event_specific_data.materialization
        names = (ROW_COUNT,) if materialization.partition else ROW_METADATA
        rows += sum(int(materialization.metadata[name].value) for name in names if name in materialization.metadata)
    return rows


def _first_error_line(events: list[Any]) -> str:
    """The first failed step's error (else the run's), first line only: enough to triage,
    and a traceback never reaches the BI table."""
    for event_type in (DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE):
        for entry in events:
            event = entry.dagster_event
            if event.event_type != event_type:
                continue
            error = getattr(event.event_specific_data, "error", None)
            text = first_line(root_error(error).message if error else event.message)
            if text:
                return text
    return "the run failed"


def _partitions(tags: Mapping[str, str]) -> str:
    if RANGE_START_TAG in tags:
        return _days(tags[RANGE_START_TAG], tags.get(RANGE_END_TAG, ""))
    return tags.get("dagster/partition", "")


def _days(first: str, last: str) -> str:
    return first if first == last else f"{first}…{last}"


def _utc(timestamp: float | None) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).replace(tzinfo=None) if timestamp else None


def _meta_sensor(status: DagsterRunStatus) -> RunStatusSensorDefinition:
    @run_status_sensor(
        run_status=status,
        name=f"meta_job_runs_on_{status.value.lower()}",
        description=f"Writes every {status.value.lower()} run to meta_job_runs for the DataLens freshness view.",
        monitor_all_code_locations=False,
        default_status=DefaultSensorStatus.RUNNING,
    )
    def _record(context: RunStatusSensorContext, warehouse: ClickHouseResource, quality: QualityResource) -> SkipReason:
        run_id = context.dagster_run.run_id
        record_run(context.instance, warehouse, run_id, quality.org)
        return SkipReason(f"recorded run {run_id} in {META_TABLE}")

    return _record


meta_job_runs_sensors = [
    _meta_sensor(status) for status in (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED)
]
