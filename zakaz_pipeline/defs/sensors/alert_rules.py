"""The alerts' rules, free of I/O: which evaluation opens an incident, what each alert
says, and the cursor the check sensor keeps between ticks.

``alerts`` reads the Dagster instance and calls these; keeping them pure lets the tests
walk every incident transition without a run.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from zoneinfo import ZoneInfo

from dagster import AssetCheckSeverity

from zakaz_pipeline.defs.jobs import RANGE_END_TAG, RANGE_START_TAG
from zakaz_pipeline.defs.sensors.delivery import Alert, JsonValue

log = logging.getLogger(__name__)

FAILURE_RATE_THRESHOLD = 0.05
PARTITION_TAG = "dagster/partition"


def partition_details(tags: Mapping[str, str]) -> dict[str, JsonValue]:
    if RANGE_START_TAG in tags or RANGE_END_TAG in tags:
        return {"partition_range_start": tags.get(RANGE_START_TAG), "partition_range_end": tags.get(RANGE_END_TAG)}
    if PARTITION_TAG in tags:
        return {"partition": tags[PARTITION_TAG]}
    return {}


def run_failure_alert(job_name: str, run_id: str, error_line: str, tags: Mapping[str, str]) -> Alert:
    partitions = partition_details(tags)
    days = ""
    if "partition" in partitions:
        days = f" (partition {partitions['partition']})"
    elif partitions:
        days = f" (days {partitions['partition_range_start']}…{partitions['partition_range_end']})"
    return Alert(
        kind="run_failure",
        title=f"zakaz: run of {job_name} failed",
        text=f"Run {run_id} of job {job_name}{days} failed: {error_line or 'no error message'}",
        details={"job": job_name, "run_id": run_id, "error": error_line, **partitions},
    )


@dataclass(frozen=True)
class CheckOutcome:
    """One asset-check evaluation, as the incident logic sees it.

    ``storage_id`` orders evaluations within their run (on SQLite it is per-run, not global);
    ``check`` is the incident key, ``asset/key:check_name``.
    """

    storage_id: int
    check: str
    passed: bool
    severity: str
    run_id: str
    partition: str | None = None
    description: str = ""


def next_incidents(failing: frozenset[str], outcome: CheckOutcome) -> tuple[frozenset[str], bool]:
    """Checks in incident after ``outcome``, and whether ``outcome`` opens a new incident."""
    if outcome.passed:
        return failing - {outcome.check}, False
    if outcome.severity != AssetCheckSeverity.ERROR.value or outcome.check in failing:
        return failing, False
    return failing | {outcome.check}, True


def check_failure_alert(outcome: CheckOutcome) -> Alert:
    partition = f", partition {outcome.partition}" if outcome.partition else ""
    reason = f": {outcome.description}" if outcome.description else ""
    return Alert(
        kind="check_failure",
        title=f"zakaz: check {outcome.check} failed",
        text=f"ERROR check {outcome.check} failed in run {outcome.run_id}{partition}{reason}",
        details={
            "check": outcome.check,
            "severity": outcome.severity,
            "run_id": outcome.run_id,
            "partition": outcome.partition,
            "description": outcome.description,
        },
    )


def failure_rate_alert(day: dt.date, failed: int, total: int) -> Alert | None:
    """An alert when more than ``FAILURE_RATE_THRESHOLD`` of the day's finished runs failed."""
    if total == 0 or failed / total <= FAILURE_RATE_THRESHOLD:
        return None
    return Alert(
        kind="failure_rate",
        title=f"zakaz: {failed} of {total} runs failed on {day.isoformat()}",
        text=(
            f"{failed / total:.0%} of today's finished runs failed ({failed} of {total}); "
            f"the alert threshold is {FAILURE_RATE_THRESHOLD:.0%}. This alert is sent once a day."
        ),
        details={"day": day.isoformat(), "failed": failed, "total": total, "threshold": FAILURE_RATE_THRESHOLD},
    )


def local_midnight(now: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """Start of ``now``'s day in ``tz``, as an aware datetime."""
    return dt.datetime.combine(now.astimezone(tz).date(), dt.time(), tzinfo=tz)


@dataclass(frozen=True)
class FinishedRun:
    """A run-end event: where the sensor's position in the event log is kept."""

    end_storage_id: int
    run_id: str


@dataclass(frozen=True)
class AlertCursor:
    """The check/failure-rate sensor's state, stored as JSON in the sensor cursor.

    ``after_run_end``: storage id of the last run-end event whose evaluations are all handled.
    ``resume``: (run id, storage id of its last handled evaluation) when delivery stopped
    inside that run, so the retry neither repeats nor skips an evaluation.
    """

    after_run_end: int | None = None
    resume: tuple[str, int] | None = None
    failing_checks: frozenset[str] = frozenset()
    rate_alerted_day: str | None = None

    @classmethod
    def parse(cls, raw: str | None) -> AlertCursor:
        """An unreadable cursor starts afresh (with the first-tick look-back), never crashes the sensor."""
        if not raw:
            return cls()
        try:
            data = json.loads(raw)
            resume = data.get("resume")
            return cls(
                after_run_end=None if data.get("after_run_end") is None else int(data["after_run_end"]),
                resume=None if resume is None else (str(resume[0]), int(resume[1])),
                failing_checks=frozenset(str(check) for check in data.get("failing", [])),
                rate_alerted_day=data.get("rate_alerted_day"),
            )
        except (ValueError, TypeError, AttributeError, IndexError):
            log.warning("unreadable alert sensor cursor, starting afresh: %.200s", raw)
            return cls()

    def dump(self) -> str:
        return json.dumps(
            {
                "after_run_end": self.after_run_end,
                "resume": list(self.resume) if self.resume else None,
                "failing": sorted(self.failing_checks),
                "rate_alerted_day": self.rate_alerted_day,
            },
            sort_keys=True,
        )


def handle_run_outcomes(
    cursor: AlertCursor, run: FinishedRun, outcomes: Sequence[CheckOutcome], deliver: Callable[[Alert], bool]
) -> tuple[AlertCursor, bool]:
    """Walk one finished run's evaluations in order, alerting once per new incident.

    Returns the new cursor and whether the run is done; ``False`` means an alert could not
    be delivered, and the cursor points just before that evaluation.
    """
    failing = cursor.failing_checks
    handled = cursor.resume[1] if cursor.resume and cursor.resume[0] == run.run_id else None
    for outcome in outcomes:
        if handled is not None and outcome.storage_id <= handled:
            continue
        next_failing, opens = next_incidents(failing, outcome)
        if opens and not deliver(check_failure_alert(outcome)):
            resume = (run.run_id, handled) if handled is not None else None
            return replace(cursor, failing_checks=failing, resume=resume), False
        failing, handled = next_failing, outcome.storage_id
    return replace(cursor, failing_checks=failing, after_run_end=run.end_storage_id, resume=None), True


def merge_run_ends(streams: Sequence[Sequence[FinishedRun]], limit: int) -> list[FinishedRun]:
    """Merge per-event-type lists (each ascending, at most ``limit`` long) into one ascending list.

    A list cut at ``limit`` may miss later runs of its type: the merge stops at its last id.
    """
    horizon = min((stream[-1].end_storage_id for stream in streams if len(stream) >= limit), default=None)
    merged = sorted((run for stream in streams for run in stream), key=lambda run: run.end_storage_id)
    return [run for run in merged if horizon is None or run.end_storage_id <= horizon]


def bad_signature_alert(refused: int, threshold: int) -> Alert | None:
    """Deliveries keep failing their signature: the secret in the seller cabinet and
    ``QTICKETS_WEBHOOK_SECRET`` differ, or someone is probing the URL."""
    if refused < threshold:
        return None
    return Alert(
        kind="webhook_bad_signatures",
        title=f"zakaz: {refused} webhook deliveries refused for their signature in the last hour",
        text=(
            f"The webhook receiver refused {refused} deliveries in the last hour because X-Signature did not "
            f"match (alert threshold {threshold}). Either the secret registered in the Qtickets seller cabinet "
            "is not QTICKETS_WEBHOOK_SECRET, or someone is posting to the URL. Polling still brings every "
            "change in, at the schedule's pace."
        ),
        details={"bad_signatures_1h": refused, "threshold": threshold},
    )


def webhook_silence_alert(
    now: dt.datetime, last_webhook: dt.datetime | None, newest_sale: dt.datetime | None, silence_hours: float
) -> Alert | None:
    """Polling found paid orders newer than the last webhook (none ever: sold in the last
    ``silence_hours``), and no webhook has arrived for ``silence_hours``: deliveries are lost
    (the URL is unregistered or unreachable, or the receiver is down)."""
    silence = dt.timedelta(hours=silence_hours)
    if newest_sale is None or (last_webhook is not None and now - last_webhook < silence):
        return None
    if newest_sale <= (last_webhook if last_webhook is not None else now - silence):
        return None
    since = "no webhook has ever arrived" if last_webhook is None else f"the last arrived at {last_webhook.isoformat()}"
    return Alert(
        kind="webhook_silence",
        title=f"zakaz: no Qtickets webhook for {silence_hours:g} hours while orders are being paid",
        text=(
            f"Polling found a sale paid at {newest_sale.isoformat()}, but {since}. Check that the URL and secret "
            "are registered in the Qtickets seller cabinet and that zakaz webhooks is reachable over HTTPS. "
            "Sales still arrive by polling, at the schedule's pace."
        ),
        details={
            "last_webhook_at": None if last_webhook is None else last_webhook.isoformat(),
            "newest_polled_sale_at": newest_sale.isoformat(),
            "silence_hours": silence_hours,
        },
    )


@dataclass(frozen=True)
class WebhookAlertCursor:
    """The webhook alert sensor's state: whether a bad-signature incident is open (it closes
    when the hour's refusals fall below the threshold), and which last webhook (its ISO time,
    or ``never``) a silence alert was already sent for (a new webhook closes it)."""

    signature_incident: bool = False
    silence_alerted_for: str | None = None

    @classmethod
    def parse(cls, raw: str | None) -> WebhookAlertCursor:
        try:
            data = json.loads(raw) if raw else {}
            return cls(bool(data.get("signature_incident")), data.get("silence_alerted_for"))
        except (ValueError, AttributeError):
            log.warning("unreadable webhook alert cursor, starting afresh: %.200s", raw)
            return cls()

    def dump(self) -> str:
        return json.dumps(
            {"signature_incident": self.signature_incident, "silence_alerted_for": self.silence_alerted_for},
            sort_keys=True,
        )


def handle_webhook_alerts(
    cursor: WebhookAlertCursor,
    *,
    now: dt.datetime,
    bad_signatures: int,
    threshold: int,
    last_webhook: dt.datetime | None,
    newest_sale: dt.datetime | None,
    silence_hours: float,
    deliver: Callable[[Alert], bool],
) -> WebhookAlertCursor:
    """One alert per incident of each kind; an alert no destination took is tried again next tick."""
    signature = bad_signature_alert(bad_signatures, threshold)
    if signature is None:
        cursor = replace(cursor, signature_incident=False)
    elif not cursor.signature_incident and deliver(signature):
        cursor = replace(cursor, signature_incident=True)
    key = "never" if last_webhook is None else last_webhook.isoformat()
    if cursor.silence_alerted_for != key:
        silence = webhook_silence_alert(now, last_webhook, newest_sale, silence_hours)
        if silence is not None and deliver(silence):
            cursor = replace(cursor, silence_alerted_for=key)
    return cursor
