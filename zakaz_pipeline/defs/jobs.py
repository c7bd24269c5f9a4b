"""The sync job: every asset, for one day or a range of days in a single run."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from typing import Any

from dagster import (
    AssetSelection,
    DagsterInstance,
    DagsterRunStatus,
    DailyPartitionsDefinition,
    RunsFilter,
    define_asset_job,
)

from zakaz_pipeline.warehouse.contract import schema_contract

# Dagster's tags for a run over a range of partitions. Its own constants for them live in the
# private ``dagster._core.storage.tags``, so the rest of the package and the tests use these.
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"

SYNC_JOB = "qtickets_sync"
# Tables of the warehouse contract that no asset writes; every other table and view is an
# asset of the sync job (a test holds them equal).
NOT_ASSETS = ("meta_job_runs", "meta_webhooks", "zakaz_schema_history")
# A run told of an order created long before the days it re-reads (a late payment, a webhook):
# the orders scan reads from that creation time (ISO-8601), where the API's filters cannot be used.
CREATED_FROM_TAG = "zakaz/orders_created_from"
# Dagster's run queue starts the queued run of the highest ``dagster/priority`` first (default
# 0). The runs schedules and sensors request go below it: a run a person launches (a backfill
# from the UI, a re-execution) starts next, not after every tick queued before it.
PRIORITY_TAG = "dagster/priority"
AUTOMATION_PRIORITY = "-1"


def sync_job(partitions: DailyPartitionsDefinition) -> Any:
    """The job every sync runs (CLI, schedule, UI backfills): a job defined over assets is
    resolved by ``Definitions``, so its type is not public API."""
    return define_asset_job(
        SYNC_JOB,
        selection=AssetSelection.all(),
        partitions_def=partitions,
        description="Events, shows, paid orders of the chosen days, inventory, facts and the dashboard view.",
    )


def sync_assets() -> list[str]:
    """The sync job's assets, read from the schema contract rather than the loaded
    definitions: what a sync refused before it became a run records, so the freshness
    view sees the failure."""
    return sorted(name for name in schema_contract() if name not in NOT_ASSETS)


def partition_range_tags(first: dt.date, last: dt.date, *, earliest: dt.date | None = None) -> dict[str, str]:
    """Run tags that make one run cover the days ``first``..``last`` (inclusive), starting
    no earlier than ``earliest`` (the partitions' first day) when given."""
    first = max(first, earliest) if earliest else first
    if last < first:
        raise ValueError(f"the range ends ({last}) before it starts ({first})")
    return {RANGE_START_TAG: first.isoformat(), RANGE_END_TAG: last.isoformat()}


def automation_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """``tags`` of a run a schedule or a sensor requests: queued behind a person's runs."""
    return {**tags, PRIORITY_TAG: AUTOMATION_PRIORITY}


def queued_days(instance: DagsterInstance, jobs: Collection[str]) -> set[dt.date]:
    """Sales days covered by runs of ``jobs`` that have not started yet: a run that has not
    fetched will see any change made before it starts, so the days need no other run."""
    waiting = instance.get_runs(filters=RunsFilter(statuses=[DagsterRunStatus.NOT_STARTED, DagsterRunStatus.QUEUED]))
    days: set[dt.date] = set()
    for run in waiting:
        start, end = run.tags.get(RANGE_START_TAG), run.tags.get(RANGE_END_TAG)
        if run.job_name not in jobs or not (start and end):
            continue
        first, last = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
        days.update(first + dt.timedelta(days=n) for n in range((last - first).days + 1))
    return days
