"""The one daily partitions definition, shared by assets, jobs and schedules.

A day is a sales day in ``ZAKAZ_TIMEZONE`` starting at ``QTICKETS_HISTORY_START``;
``end_offset=1`` makes today a partition, so the 15-minute schedule can refresh it.
Built from the settings when the definitions load (``definitions.build_definitions``).
"""

from __future__ import annotations

import datetime as dt

from dagster import DailyPartitionsDefinition


def daily_partitions(history_start: dt.date, timezone: str) -> DailyPartitionsDefinition:
    return DailyPartitionsDefinition(start_date=history_start.isoformat(), timezone=timezone, end_offset=1)


def first_day(partitions: DailyPartitionsDefinition) -> dt.date:
    """The first sales day the partitions hold."""
    return partitions.start.date()
