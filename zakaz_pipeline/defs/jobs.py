"""The sync job: every asset, for one day or a range of days in a single run."""

from __future__ import annotations

import datetime as dt

from dagster import AssetSelection, define_asset_job

from zakaz_pipeline.defs.partitions import HISTORY_START, daily_partitions

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"

qtickets_sync_job = define_asset_job(
    "qtickets_sync",
    selection=AssetSelection.all(),
    partitions_def=daily_partitions,
    description="Events, shows, paid orders of the chosen days, inventory, facts and the dashboard view.",
)


def partition_range_tags(first: dt.date, last: dt.date) -> dict[str, str]:
    """Run tags that make one run cover the days ``first``..``last`` (inclusive)."""
    first = max(first, HISTORY_START)
    if last < first:
        raise ValueError(f"the range ends ({last}) before it starts ({first})")
    return {RANGE_START_TAG: first.isoformat(), RANGE_END_TAG: last.isoformat()}
