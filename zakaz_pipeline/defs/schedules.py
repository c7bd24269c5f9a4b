"""Every 15 minutes: today and yesterday (late payments near midnight), events, inventory.

Stopped by default so that loading the code never starts hitting an API; switch it on
in the UI, or set ``ZAKAZ_SCHEDULE_RUNNING=1`` where the deployment should run it.
``ZAKAZ_SCHEDULE_CRON`` changes the cadence (``zakaz demo --ui`` runs it every minute so
that a person watching the UI sees ticks); the schedule keeps its name.
"""

import datetime as dt
import os
from zoneinfo import ZoneInfo

from dagster import DefaultScheduleStatus, RunRequest, ScheduleEvaluationContext, schedule
from dagster._utils.schedules import is_valid_cron_string

from zakaz_pipeline.config import ConfigError, env_value
from zakaz_pipeline.defs.jobs import partition_range_tags, qtickets_sync_job
from zakaz_pipeline.defs.partitions import TIMEZONE

DEFAULT_CRON = "*/15 * * * *"

DEFAULT_STATUS = (
    DefaultScheduleStatus.RUNNING if os.environ.get("ZAKAZ_SCHEDULE_RUNNING") == "1" else DefaultScheduleStatus.STOPPED
)


def cron_from_env() -> str:
    """The schedule's cron string; a bad one stops loading with a message naming the variable."""
    cron = env_value(os.environ, "ZAKAZ_SCHEDULE_CRON", DEFAULT_CRON)
    if not is_valid_cron_string(cron):
        raise ConfigError(f"ZAKAZ_SCHEDULE_CRON={cron!r} is not a cron string (e.g. {DEFAULT_CRON!r})")
    return cron


@schedule(
    job=qtickets_sync_job,
    cron_schedule=cron_from_env(),
    execution_timezone=TIMEZONE,
    default_status=DEFAULT_STATUS,
)
def qtickets_every_15_minutes(context: ScheduleEvaluationContext) -> RunRequest:
    today = context.scheduled_execution_time.astimezone(ZoneInfo(TIMEZONE)).date()
    return RunRequest(
        run_key=context.scheduled_execution_time.isoformat(),
        tags=partition_range_tags(today - dt.timedelta(days=1), today),
    )
