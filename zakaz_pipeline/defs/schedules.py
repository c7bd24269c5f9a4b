"""Every 15 minutes: today and yesterday (late payments near midnight), events, inventory.
Every night: every asset check over the whole history (a tick checks only its two days).

Stopped by default so that loading the code never starts hitting an API; switch it on
in the UI, or set ``ZAKAZ_SCHEDULE_RUNNING=1`` where the deployment should run it.
``ZAKAZ_SCHEDULE_CRON`` changes the cadence (``zakaz demo --ui`` runs it every minute so
that a person watching the UI sees ticks); the schedule keeps its name.
"""

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from dagster import (
    DailyPartitionsDefinition,
    DefaultScheduleStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    schedule,
)

from zakaz_pipeline.defs.jobs import partition_range_tags
from zakaz_pipeline.defs.partitions import first_day


def default_status(running: bool) -> DefaultScheduleStatus:
    """The schedule's and the late-change sensor's status when the code loads."""
    return DefaultScheduleStatus.RUNNING if running else DefaultScheduleStatus.STOPPED


def every_15_minutes(
    job: Any, partitions: DailyPartitionsDefinition, *, cron: str, status: DefaultScheduleStatus
) -> ScheduleDefinition:
    """``qtickets_every_15_minutes`` on ``job`` at ``cron`` in the partitions' time zone."""
    tz = partitions.timezone

    @schedule(
        name="qtickets_every_15_minutes", job=job, cron_schedule=cron, execution_timezone=tz, default_status=status
    )
    def qtickets_every_15_minutes(context: ScheduleEvaluationContext) -> RunRequest:
        today = context.scheduled_execution_time.astimezone(ZoneInfo(tz)).date()
        return RunRequest(
            run_key=context.scheduled_execution_time.isoformat(),
            tags=partition_range_tags(today - dt.timedelta(days=1), today, earliest=first_day(partitions)),
        )

    return qtickets_every_15_minutes


NIGHTLY_CHECKS_CRON = "30 4 * * *"


def nightly_checks(job: Any, *, timezone: str, status: DefaultScheduleStatus) -> ScheduleDefinition:
    """``qtickets_checks_daily``: the checks job at 04:30 local, every rule over every day.

    A tick's row rules read the days it wrote; what only a look at the whole history finds
    (a ticket repeated on two days, a bad row written by hand) is found here, and alerted
    like any failed check."""
    return ScheduleDefinition(
        name="qtickets_checks_daily",
        job=job,
        cron_schedule=NIGHTLY_CHECKS_CRON,
        execution_timezone=timezone,
        default_status=status,
        description="Every asset check over the whole history, once a night.",
    )
