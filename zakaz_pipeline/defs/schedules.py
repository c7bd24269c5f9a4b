"""Every 15 minutes: today and yesterday (late payments near midnight), events, inventory.

Stopped by default so that loading the code never starts hitting an API; switch it on
in the UI, or set ``ZAKAZ_SCHEDULE_RUNNING=1`` where the deployment should run it.
"""

import datetime as dt
import os
from zoneinfo import ZoneInfo

from dagster import DefaultScheduleStatus, RunRequest, ScheduleEvaluationContext, schedule

from zakaz_pipeline.defs.jobs import partition_range_tags, qtickets_sync_job
from zakaz_pipeline.defs.partitions import TIMEZONE

DEFAULT_STATUS = (
    DefaultScheduleStatus.RUNNING if os.environ.get("ZAKAZ_SCHEDULE_RUNNING") == "1" else DefaultScheduleStatus.STOPPED
)


@schedule(
    job=qtickets_sync_job,
    cron_schedule="*/15 * * * *",
    execution_timezone=TIMEZONE,
    default_status=DEFAULT_STATUS,
)
def qtickets_every_15_minutes(context: ScheduleEvaluationContext) -> RunRequest:
    today = context.scheduled_execution_time.astimezone(ZoneInfo(TIMEZONE)).date()
    return RunRequest(
        run_key=context.scheduled_execution_time.isoformat(),
        tags=partition_range_tags(today - dt.timedelta(days=1), today),
    )
