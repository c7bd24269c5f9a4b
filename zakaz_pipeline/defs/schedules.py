"""Every 15 minutes: today and yesterday (late payments near midnight), events, inventory.
Every night: every asset check over the whole history (a tick checks only its two days).

Stopped by default so that loading the code never starts hitting an API; switch it on
in the UI, or set ``ZAKAZ_SCHEDULE_RUNNING=1`` where the deployment should run it.
``ZAKAZ_SCHEDULE_CRON`` changes the cadence (``zakaz demo --ui`` runs it every minute so
that a person watching the UI sees ticks): the schedule is named for what it does
(``qtickets_refresh``), and its description says the cadence it was given.

Their runs wait behind a person's in the run queue (``jobs.automation_tags``), and a tick
whose days a queued sync run will read anyway requests nothing: with one run at a time
(the embedded warehouse) a tick that comes before the last one started does not queue
another, so ticks never pile up behind a long run.
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
    SkipReason,
    schedule,
)

from zakaz_pipeline.defs.jobs import (
    RANGE_END_TAG,
    RANGE_START_TAG,
    SYNC_JOB,
    automation_tags,
    partition_range_tags,
    queued_days,
)
from zakaz_pipeline.defs.partitions import first_day
from zakaz_pipeline.settings import DEFAULT_CRON

REFRESH_SCHEDULE = "qtickets_refresh"


def default_status(running: bool) -> DefaultScheduleStatus:
    """The schedule's and the late-change sensor's status when the code loads."""
    return DefaultScheduleStatus.RUNNING if running else DefaultScheduleStatus.STOPPED


def refresh_description(cron: str) -> str:
    """What the UI shows beside the schedule: what a tick reads, and the cadence it was given."""
    cadence = (
        "every 15 minutes"
        if cron == DEFAULT_CRON
        else f"at ZAKAZ_SCHEDULE_CRON={cron!r} (by default every 15 minutes, {DEFAULT_CRON!r})"
    )
    return (
        f"Today's and yesterday's paid orders, events and inventory in one run, {cadence}; "
        "a tick whose days a queued sync run will read is skipped."
    )


def refresh(
    job: Any, partitions: DailyPartitionsDefinition, *, cron: str, status: DefaultScheduleStatus
) -> ScheduleDefinition:
    """``qtickets_refresh`` on ``job`` at ``cron`` in the partitions' time zone."""
    tz = partitions.timezone

    @schedule(
        name=REFRESH_SCHEDULE,
        job=job,
        cron_schedule=cron,
        execution_timezone=tz,
        default_status=status,
        description=refresh_description(cron),
    )
    def qtickets_refresh(context: ScheduleEvaluationContext) -> RunRequest | SkipReason:
        today = context.scheduled_execution_time.astimezone(ZoneInfo(tz)).date()
        tags = partition_range_tags(today - dt.timedelta(days=1), today, earliest=first_day(partitions))
        days = _days(tags)
        if days <= queued_days(context.instance, (SYNC_JOB,)):
            return SkipReason(f"a queued {SYNC_JOB} run will read {min(days)} … {max(days)}")
        return RunRequest(run_key=context.scheduled_execution_time.isoformat(), tags=automation_tags(tags))

    return qtickets_refresh


def _days(tags: dict[str, str]) -> set[dt.date]:
    first, last = (dt.date.fromisoformat(tags[key]) for key in (RANGE_START_TAG, RANGE_END_TAG))
    return {first + dt.timedelta(days=n) for n in range((last - first).days + 1)}


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
        tags=automation_tags({}),
    )
