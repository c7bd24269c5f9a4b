"""The one daily partitions definition, shared by assets, jobs and schedules.

A day is a sales day in ``ZAKAZ_TIMEZONE`` starting at ``QTICKETS_HISTORY_START``;
``end_offset=1`` makes today a partition, so the 15-minute schedule can refresh it.
Both variables are read when the code loads because partitions are part of the
definitions; a bad value stops loading with a message naming the variable.
"""

from __future__ import annotations

import os

from dagster import DailyPartitionsDefinition

from zakaz_pipeline.config import DEFAULT_HISTORY_START, env_value, history_start_from, timezone_from
from zakaz_pipeline.qtickets.rules import DEFAULT_TIMEZONE

TIMEZONE = timezone_from(env_value(os.environ, "ZAKAZ_TIMEZONE", DEFAULT_TIMEZONE)).key
HISTORY_START = history_start_from(env_value(os.environ, "QTICKETS_HISTORY_START", DEFAULT_HISTORY_START))

daily_partitions = DailyPartitionsDefinition(start_date=HISTORY_START.isoformat(), timezone=TIMEZONE, end_offset=1)
