"""``qtickets_webhooks``: Qtickets' pushed order changes, queued by ``zakaz webhooks``
(``zakaz_pipeline/webhooks/``), become runs of the late-change job for exactly the sales days
they touch, seconds after the sale instead of at the next 15-minute tick.

The days are picked as the late-change sensor picks them (``late_changes``): a change to a
paid order re-runs the day of its ``payed_at`` in ``ZAKAZ_TIMEZONE`` (a refund or a
cancellation of an old order: that old day); an order never paid is on no day. Consecutive
days share one run, several deliveries for a day are one run, and a day a queued run will
read anyway is not requested again (during a sale opening, one run for today waits instead
of a growing queue). The run re-reads the days from the API: a delivery only says *which*
days to read, so a lost, late or doubled delivery never changes what the warehouse holds —
polling (the schedule, the late-change sensor) stays the source of truth.

A ``checked`` delivery (a ticket scanned at the door) changes no sale and re-runs nothing. A
run carries the earliest ``created_at`` of the orders it re-reads (``CREATED_FROM_TAG``), so
where the API's filters cannot be used it scans back far enough for a payment made long
after its order.

The cursor is the queue's ``seq`` of the last entry handled; the run key names the days and
that ``seq``, so a re-evaluated tick requests nothing twice. An entry whose ``payed_at`` is no
date in the time zone is skipped, counted and logged with its ``seq``, and the cursor moves
past it: no single delivery, however well signed, can hold up the ones behind it. It ticks every
``ZAKAZ_WEBHOOKS_INTERVAL`` seconds (20), and runs by default where the schedule does and
``QTICKETS_WEBHOOK_SECRET`` is set (without it no receiver feeds the queue: stopped).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from dagster import (
    DailyPartitionsDefinition,
    DefaultSensorStatus,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from zakaz_pipeline.defs.jobs import CREATED_FROM_TAG, automation_tags, partition_range_tags
from zakaz_pipeline.defs.partitions import first_day
from zakaz_pipeline.defs.sensors.late_changes import day_ranges, queued_days
from zakaz_pipeline.qtickets.rules import parse_ts
from zakaz_pipeline.webhooks.queue import Entry, WebhookQueue

WEBHOOKS_SENSOR = "qtickets_webhooks"
BATCH = 10_000  # entries read a tick; a bigger backlog continues at the next tick


# Door scans: Qtickets reports them as order changes, but no sale changes.
NO_SALE_CHANGE = frozenset({"checked"})


@dataclass(frozen=True)
class Reading:
    """What a batch of entries says: the sales days touched, the earliest creation of the
    orders touching them, and the entries that say nothing the sensor can use (their
    ``seq``), skipped rather than retried for ever."""

    days: set[dt.date]
    unreadable: list[int]
    created_from: dt.datetime | None = None


def delivery_days(entries: Iterable[Entry], tz: ZoneInfo) -> Reading:
    """The sales days the queued changes touch: each paid order's day of payment (a door
    scan touches none). An entry whose ``payed_at`` is no moment of the calendar in ``tz``
    (the receiver refuses those, but an older receiver did not) is set aside: one bad
    delivery must not stop the queue."""
    days, unreadable, created = set(), [], []
    for entry in entries:
        if entry.change.event_type in NO_SALE_CHANGE:
            continue
        try:
            moment = parse_ts(entry.change.payed_at)
            if moment is not None:
                days.add(moment.astimezone(tz).date())
                created += [stamp] if (stamp := parse_ts(entry.change.created_at)) else []
        except (ValueError, TypeError, OverflowError):
            unreadable.append(entry.seq)
    return Reading(days, unreadable, min(created, default=None))


def _seqs(seqs: list[int], shown: int = 20) -> str:
    """``#3, #9, …`` for a log line: the first ``shown``, then how many more."""
    listed = ", ".join(f"#{seq}" for seq in seqs[:shown])
    return listed + (f" and {len(seqs) - shown} more" if len(seqs) > shown else "")


def webhooks_sensor(
    job: Any, partitions: DailyPartitionsDefinition, *, queue: Path, interval: int, running: bool
) -> SensorDefinition:
    """``qtickets_webhooks`` over the queue file ``queue``: requests ``job`` runs for the days
    the new entries touch within ``partitions``; starts running when ``running``."""
    tz, history_start = ZoneInfo(partitions.timezone), first_day(partitions)

    @sensor(
        name=WEBHOOKS_SENSOR,
        job=job,
        minimum_interval_seconds=interval,
        default_status=DefaultSensorStatus.RUNNING if running else DefaultSensorStatus.STOPPED,
        description="Re-runs the sales days of orders Qtickets reported by webhook (zakaz webhooks' queue).",
    )
    def qtickets_webhooks(context: SensorEvaluationContext) -> SensorResult | SkipReason:
        handled = int(context.cursor or 0)
        if not queue.exists():
            return SkipReason(f"no webhook queue at {queue} yet (zakaz webhooks creates it on its first start)")
        with WebhookQueue(queue) as opened:
            entries = opened.after(handled, BATCH)
        if not entries:
            return SkipReason(f"no webhook delivery after #{handled}")
        cursor = str(entries[-1].seq)
        last_day = dt.datetime.now(tz).date()
        reading = delivery_days(entries, tz)
        skipped = ""
        if reading.unreadable:
            skipped = f"; skipped {len(reading.unreadable)} with a payed_at that is no date"
            context.log.warning(
                "skipped %d webhook deliveries whose payed_at is no date in %s (polling still reads their orders): %s",
                len(reading.unreadable), tz.key, _seqs(reading.unreadable),
            )  # fmt: skip
        days = {day for day in reading.days if history_start <= day <= last_day}
        waiting = days & queued_days(context.instance) if days else set()
        days -= waiting
        if not days:
            queued = f" ({len(waiting)} already in a queued run)" if waiting else ""
            return SensorResult(
                skip_reason=f"{len(entries)} webhook deliveries{skipped}; no sales day to re-run{queued}", cursor=cursor
            )
        context.log.info(
            "%d webhook deliveries touch %d sales day(s): %s",
            len(entries), len(days), ", ".join(map(str, sorted(days))),
        )  # fmt: skip
        created = {CREATED_FROM_TAG: reading.created_from.isoformat()} if reading.created_from else {}
        requests = [
            RunRequest(
                run_key=f"webhook:{first}:{last}:{cursor}",
                tags=automation_tags(partition_range_tags(first, last) | created),
            )
            for first, last in day_ranges(days)
        ]
        return SensorResult(run_requests=requests, cursor=cursor)

    return qtickets_webhooks
