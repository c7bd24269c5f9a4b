"""The sync job: every asset, for one day or a range of days in a single run."""

from __future__ import annotations

import datetime as dt
from typing import Any

from dagster import AssetSelection, DailyPartitionsDefinition, define_asset_job

# Dagster's tags for a run over a range of partitions. Its own constants for them live in the
# private ``dagster._core.storage.tags``, so the rest of the package and the tests use these.
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"

SYNC_JOB = "qtickets_sync"
# A run told of an order created long before the days it re-reads (a late payment, a webhook):
# the orders scan reads from that creation time (ISO-8601), where the API's filters cannot be used.
CREATED_FROM_TAG = "zakaz/orders_created_from"


def sync_job(partitions: DailyPartitionsDefinition) -> Any:
    """The job every sync runs (CLI, schedule, UI backfills): a job defined over assets is
    resolved by ``Definitions``, so its type is not public API."""
    return define_asset_job(
        SYNC_JOB,
        selection=AssetSelection.all(),
        partitions_def=partitions,
        description="Events, shows, paid orders of the chosen days, inventory, facts and the dashboard view.",
    )


def partition_range_tags(first: dt.date, last: dt.date, *, earliest: dt.date | None = None) -> dict[str, str]:
    """Run tags that make one run cover the days ``first``..``last`` (inclusive), starting
    no earlier than ``earliest`` (the partitions' first day) when given."""
    first = max(first, earliest) if earliest else first
    if last < first:
        raise ValueError(f"the range ends ({last}) before it starts ({first})")
    return {RANGE_START_TAG: first.isoformat(), RANGE_END_TAG: last.isoformat()}
