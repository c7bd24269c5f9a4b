"""Late changes: orders change long after the day they were sold (late payments,
cancellations, refunds weeks later). This sensor follows orders' ``updated_at`` and
re-runs exactly the sales days those orders belong to, so old days stay right without
re-reading the whole history.

How it follows them is the API's findings' (``api_findings.py``; probed first when there
are none). Where ``updated_at >= since`` is honoured, each tick asks for the orders
updated since the cursor, the newest ``updated_at`` seen (the API's clock, not ours),
minus an overlap, so a change committed a little late at the boundary is not missed;
orders already handled at the same ``updated_at`` are remembered in the cursor and not
requested twice; every row is still checked against the filter, and a filter found
ignored or refused is recorded, so the next tick scans. Where it is not, each tick reads
the next few pages of the whole order list (``qtickets/change_scan.py``), so the list is
read once every ``ZAKAZ_LATE_SCAN_HOURS`` (6): one request per page of the list per cycle,
logged with each tick. A run it requests carries the changed orders' earliest creation
time (``CREATED_FROM_TAG``), so a scan-fetching run reads back far enough for a payment
made long after its order.

A day that a queued run (of this job or the sync job) will read anyway is not requested
again: that run has not fetched yet, so it sees the change. A busy shop (a new sale on
today's day every tick) then keeps one run waiting instead of a growing queue.

It ticks every 5 minutes; ``ZAKAZ_LATE_CHANGES_INTERVAL`` (seconds, ``Settings``) changes that
(``zakaz demo --ui`` uses 30 s).
"""

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from dagster import (
    AssetKey,
    AssetSelection,
    DagsterInstance,
    DailyPartitionsDefinition,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    define_asset_job,
    sensor,
)

from zakaz_pipeline.defs import jobs
from zakaz_pipeline.defs.api_findings import latest_findings, observation
from zakaz_pipeline.defs.assets.common import qtickets_api
from zakaz_pipeline.defs.jobs import CREATED_FROM_TAG, SYNC_JOB, automation_tags, partition_range_tags
from zakaz_pipeline.defs.partitions import first_day
from zakaz_pipeline.defs.resources import QticketsResource
from zakaz_pipeline.qtickets.change_scan import RollingScan, cost
from zakaz_pipeline.qtickets.client import QticketsClient, QticketsFilterIgnored, QticketsFilterRefused
from zakaz_pipeline.qtickets.filters import where
from zakaz_pipeline.qtickets.findings import Findings
from zakaz_pipeline.qtickets.probe import probe
from zakaz_pipeline.qtickets.rules import parse_ts, require_ts

OVERLAP = dt.timedelta(minutes=10)
FIRST_LOOKBACK = dt.timedelta(days=1)
LATE_CHANGES_JOB = "qtickets_late_changes"
LATE_CHANGE_SELECTION = AssetSelection.assets(AssetKey("stg_qtickets_api_orders_raw")).downstream()


def late_changes_job(partitions: DailyPartitionsDefinition) -> Any:
    """Orders raw → daily facts → views, for the days a run's tags name (see ``jobs.sync_job``)."""
    return define_asset_job(
        LATE_CHANGES_JOB,
        selection=LATE_CHANGE_SELECTION,
        partitions_def=partitions,
        description="Re-reads the paid orders of the sales days that changed, and rebuilds their facts and views.",
    )


@dataclass
class Cursor:
    watermark: dt.datetime | None = None
    seen: dict[int, str] = field(default_factory=dict)  # order id → updated_at handled near the watermark
    scan: RollingScan = field(default_factory=RollingScan)  # where the API's updated_at filter is not honoured

    @classmethod
    def parse(cls, raw: str | None) -> "Cursor":
        if not raw:
            return cls()
        data = json.loads(raw)
        watermark = dt.datetime.fromisoformat(data["watermark"]) if data.get("watermark") else None
        scan = RollingScan.from_dict(data["scan"]) if data.get("scan") else RollingScan()
        return cls(watermark, {int(key): value for key, value in data.get("seen", {}).items()}, scan)

    def dump(self) -> str:
        watermark = self.watermark.isoformat() if self.watermark else None
        seen = {str(k): v for k, v in self.seen.items()}
        return json.dumps({"watermark": watermark, "seen": seen, "scan": self.scan.to_dict()})

    def since(self, now: dt.datetime) -> dt.datetime:
        return self.watermark - OVERLAP if self.watermark else now - FIRST_LOOKBACK


def changed_days(orders: Iterable[dict[str, Any]], cursor: Cursor, tz: ZoneInfo) -> tuple[set[dt.date], Cursor]:
    """The sales days of paid orders changed since the cursor, and the cursor after them."""
    days: set[dt.date] = set()
    stamps: dict[int, str] = {}
    for order in orders:
        updated = order.get("updated_at")
        if not updated or cursor.seen.get(order["id"]) == updated:
            continue
        stamps[order["id"]] = updated
        if order.get("payed_at"):
            days.add(require_ts(order["payed_at"]).astimezone(tz).date())
    moments = [require_ts(stamp) for stamp in stamps.values()]
    if cursor.watermark:
        moments.append(cursor.watermark)
    if not moments:
        return days, cursor
    watermark = max(moments)
    recent = {**cursor.seen, **stamps}
    seen = {order_id: stamp for order_id, stamp in recent.items() if require_ts(stamp) >= watermark - OVERLAP}
    return days, Cursor(watermark, seen)


def day_ranges(days: Iterable[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Consecutive days as inclusive ranges: one run per range covers exactly those days."""
    ranges: list[tuple[dt.date, dt.date]] = []
    for day in sorted(days):
        if ranges and day == ranges[-1][1] + dt.timedelta(days=1):
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


def queued_days(instance: DagsterInstance) -> set[dt.date]:
    """Sales days covered by runs of the sync or late-change job that have not started yet."""
    return jobs.queued_days(instance, (LATE_CHANGES_JOB, SYNC_JOB))


def late_changes_sensor(
    job: Any,
    partitions: DailyPartitionsDefinition,
    *,
    interval: int,
    status: DefaultScheduleStatus,
    scan_hours: float,
    strategy: str = "auto",
) -> SensorDefinition:
    """``qtickets_late_changes``: ticks every ``interval`` s, requests ``job`` runs for the
    changed sales days within ``partitions``; starts with the schedule's ``status``. Without
    the API's ``updated_at`` filter it reads the order list once every ``scan_hours``;
    ``strategy`` (``QTICKETS_ORDERS_STRATEGY``) forces filtered or scan as for the orders."""
    tz, history_start = ZoneInfo(partitions.timezone), first_day(partitions)
    cycle, every = dt.timedelta(hours=scan_hours), dt.timedelta(seconds=interval)

    @sensor(
        name=LATE_CHANGES_JOB,
        job=job,
        minimum_interval_seconds=interval,
        default_status=DefaultSensorStatus(status.value),
        description="Re-runs the sales days of orders changed after their day (refunds, cancellations, late payments).",
    )
    def qtickets_late_changes(
        context: SensorEvaluationContext, qtickets: QticketsResource
    ) -> SensorResult | SkipReason:
        cursor = Cursor.parse(context.cursor)
        now = dt.datetime.now(dt.UTC)
        events: list[Any] = []
        with qtickets_api(qtickets) as client:
            findings = latest_findings(context.instance, qtickets.org)
            if findings is None:
                findings = probe(client).findings
                events.append(observation(findings, qtickets.org, "probed by the late-change sensor"))
            use = strategy if strategy != "auto" else findings.late_changes_strategy()
            if use == "scan":
                orders = cursor.scan.step(client, cycle=cycle, interval=every, now=now)
                context.log.info("rolling scan of the order list: %s", cost(cursor.scan.list_pages, cycle))
                days, after = changed_days(orders, Cursor(), tz)[0], cursor
            else:
                since = cursor.since(now)
                try:
                    orders = _updated_since(client, since)
                except (QticketsFilterIgnored, QticketsFilterRefused) as exc:
                    events.append(observation(_learned(findings, exc), qtickets.org, str(exc)))
                    return SensorResult(skip_reason=f"{exc}; the next tick scans", asset_events=events)
                days, after = changed_days(orders, cursor, tz)
        last_day = dt.datetime.now(tz).date()
        days = {day for day in days if history_start <= day <= last_day}
        waiting = days & queued_days(context.instance) if days else set()
        days -= waiting
        if not days:
            queued = f" ({len(waiting)} already in a queued run)" if waiting else ""
            return SensorResult(
                skip_reason=f"{len(orders)} orders changed; no sales day to re-run{queued}",
                cursor=after.dump(),
                asset_events=events,
            )
        context.log.info("orders changed on %d sales day(s): %s", len(days), ", ".join(map(str, sorted(days))))
        requests = _run_requests(days, after, _earliest_created(orders))
        return SensorResult(run_requests=requests, cursor=after.dump(), asset_events=events)

    return qtickets_late_changes


def _updated_since(client: QticketsClient, since: dt.datetime) -> list[dict[str, Any]]:
    """Orders updated since ``since`` by the API's filter, each row checked; rows outside
    are dropped (and a page of nothing else is the filter ignored: ``QticketsFilterIgnored``)."""
    return [order for page in client.iter_orders([where("updated_at", ">=", since)]) for order in page]


def _learned(findings: Findings, exc: QticketsFilterIgnored | QticketsFilterRefused) -> Findings:
    for name in exc.filters:
        if isinstance(exc, QticketsFilterRefused):
            findings = findings.with_filter(name, "refused", exc.code or f"HTTP {exc.status}")
        else:
            findings = findings.with_filter(name, "ignored")
    return findings


def _earliest_created(orders: Iterable[dict[str, Any]]) -> dt.datetime | None:
    return min((moment for order in orders if (moment := parse_ts(order.get("created_at")))), default=None)


def _run_requests(days: set[dt.date], after: Cursor, created: dt.datetime | None) -> list[RunRequest]:
    """One run per range of consecutive days, keyed by the range and the new cursor; each
    carries the changed orders' earliest creation for a run that scans the order list."""
    mark = after.watermark.isoformat() if after.watermark else f"scan{after.scan.cycles}:{after.scan.page}"
    extra = {CREATED_FROM_TAG: created.isoformat()} if created is not None else {}
    return [
        RunRequest(
            run_key=f"late:{first}:{last}:{mark}", tags=automation_tags(partition_range_tags(first, last) | extra)
        )
        for first, last in day_ranges(days)
    ]
