"""Alert sensors: one alert per failed run, per failing ERROR check, per day of many failures.

Delivery (webhook, Telegram) is ``zakaz_pipeline.notify``; this module decides *when*.
Both sensors run by default but do nothing until a destination is configured
(``ALERT_WEBHOOK_URL``, or ``TELEGRAM_BOT_TOKEN`` + ``TELEGRAM_CHAT_ID``).

* ``run_failure_alert_sensor``: Dagster keeps its cursor and moves past a run even when the
  sensor raises, so an alert that no destination accepted (after urllib3's retries) is not
  retried; it raises, and the tick shows the error in the UI.
* ``check_and_failure_rate_alert_sensor`` keeps its own JSON cursor (:class:`AlertCursor`):
  the storage id of the last asset-check evaluation handled, the checks currently in
  incident, and the day a failure-rate alert went out. A check incident is keyed by the
  check (``asset/key:check_name``), not by partition: it opens with an ERROR-severity
  failure (one alert) and closes when the check passes again; WARN failures neither open
  nor close one. When an alert reaches no destination the cursor stops *before* that
  evaluation, so the next tick retries it; an alert that reached at least one destination
  counts as sent, so no destination ever gets the same incident twice.

Check evaluations are read with ``DagsterInstance.get_event_records``: in Dagster 1.13 it
is the only instance-wide query for them (``fetch_*`` cover materializations, observations
and run status only); it is deprecated for 2.0, which will need a replacement here.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from dagster import (
    AssetCheckEvaluation,
    AssetCheckSeverity,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    EventLogRecord,
    EventRecordsFilter,
    RunFailureSensorContext,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    run_failure_sensor,
    sensor,
)

from zakaz_pipeline.defs.jobs import RANGE_END_TAG, RANGE_START_TAG
from zakaz_pipeline.defs.partitions import TIMEZONE
from zakaz_pipeline.notify import Alert, AlertDeliveryError, JsonValue, Notifier, redact

log = logging.getLogger(__name__)

FAILURE_RATE_THRESHOLD = 0.05
CHECK_EVALUATIONS_PER_TICK = 500
# Without a cursor (first tick, or a cursor that could not be read) only recent
# evaluations are looked at: the first tick must not replay the instance's whole history.
FIRST_TICK_LOOKBACK = dt.timedelta(days=1)
FINISHED_STATUSES = (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED)
PARTITION_TAG = "dagster/partition"
MAX_LINE = 300
# Values of these variables are removed from anything an alert quotes (an error line may).
SECRET_ENV_VARS = ("QTICKETS_TOKEN", "ZAKAZ_PII_KEY", "TELEGRAM_BOT_TOKEN", "ALERT_WEBHOOK_URL")
NOT_CONFIGURED = "no alert destination: set ALERT_WEBHOOK_URL and/or TELEGRAM_BOT_TOKEN + TELEGRAM_CHAT_ID"


class ErrorInfo(Protocol):
    """The parts of Dagster's serialized step error that the alert reads."""

    message: str
    cls_name: str | None
    cause: ErrorInfo | None


# ---------------------------------------------------------------- pure: texts and state


def env_secrets(env: Mapping[str, str]) -> tuple[str, ...]:
    """Secret values an alert must never quote, including the ClickHouse password."""
    secrets = [env.get(name, "").strip() for name in SECRET_ENV_VARS]
    try:
        secrets.append(urlsplit(env.get("CLICKHOUSE_URL", "")).password or "")
    except ValueError:
        pass
    return tuple(secret for secret in secrets if secret)


def first_line(text: str | None, secrets: Iterable[str] = ()) -> str:
    """The first non-empty line, without secrets, at most ``MAX_LINE`` characters."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    line = redact(lines[0], secrets) if lines else ""
    return line if len(line) <= MAX_LINE else line[: MAX_LINE - 1] + "…"


def root_error(error: ErrorInfo) -> ErrorInfo:
    """Dagster wraps the asset's exception in ``DagsterExecution*Error``: the cause is what to show."""
    while error.cause is not None and (error.cls_name or "").startswith("DagsterExecution"):
        error = error.cause
    return error


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
    """One asset-check evaluation, as the incident logic sees it."""

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
class AlertCursor:
    """The check/failure-rate sensor's state, stored as JSON in the sensor cursor."""

    after_storage_id: int | None = None
    failing_checks: frozenset[str] = frozenset()
    rate_alerted_day: str | None = None

    @classmethod
    def parse(cls, raw: str | None) -> AlertCursor:
        """An unreadable cursor starts afresh (with the first-tick look-back), never crashes the sensor."""
        if not raw:
            return cls()
        try:
            data = json.loads(raw)
            return cls(
                after_storage_id=None if data.get("after") is None else int(data["after"]),
                failing_checks=frozenset(str(check) for check in data.get("failing", [])),
                rate_alerted_day=data.get("rate_alerted_day"),
            )
        except (ValueError, TypeError, AttributeError):
            log.warning("unreadable alert sensor cursor, starting afresh: %.200s", raw)
            return cls()

    def dump(self) -> str:
        return json.dumps(
            {
                "after": self.after_storage_id,
                "failing": sorted(self.failing_checks),
                "rate_alerted_day": self.rate_alerted_day,
            },
            sort_keys=True,
        )


def handle_check_outcomes(
    cursor: AlertCursor, outcomes: Sequence[CheckOutcome], deliver: Callable[[Alert], bool]
) -> AlertCursor:
    """Walk evaluations in storage order, alerting once per new incident.

    Stops before the first evaluation whose alert ``deliver`` could not send, so that the
    next tick starts from it again.
    """
    failing, after = cursor.failing_checks, cursor.after_storage_id
    for outcome in outcomes:
        next_failing, opens = next_incidents(failing, outcome)
        if opens and not deliver(check_failure_alert(outcome)):
            break
        failing, after = next_failing, outcome.storage_id
    return replace(cursor, failing_checks=failing, after_storage_id=after)


# ---------------------------------------------------------------- reading the instance


def check_outcome(record: EventLogRecord, secrets: Iterable[str] = ()) -> CheckOutcome | None:
    event = record.event_log_entry.dagster_event
    evaluation = event.event_specific_data if event is not None else None
    if not isinstance(evaluation, AssetCheckEvaluation):
        return None
    return CheckOutcome(
        storage_id=record.storage_id,
        check=evaluation.asset_check_key.to_user_string(),
        passed=evaluation.passed,
        severity=evaluation.severity.value,
        run_id=record.run_id,
        partition=evaluation.partition,
        description=first_line(evaluation.description, secrets),
    )


def new_check_outcomes(
    instance: DagsterInstance, after_storage_id: int | None, now: dt.datetime, secrets: Iterable[str] = ()
) -> list[CheckOutcome]:
    if after_storage_id is None:
        records_filter = EventRecordsFilter(
            DagsterEventType.ASSET_CHECK_EVALUATION, after_timestamp=(now - FIRST_TICK_LOOKBACK).timestamp()
        )
    else:
        records_filter = EventRecordsFilter(DagsterEventType.ASSET_CHECK_EVALUATION, after_cursor=after_storage_id)
    records = instance.get_event_records(records_filter, limit=CHECK_EVALUATIONS_PER_TICK, ascending=True)
    return [outcome for record in records if (outcome := check_outcome(record, secrets)) is not None]


def runs_today(instance: DagsterInstance, now: dt.datetime, tz: ZoneInfo) -> tuple[int, int]:
    """(failed, finished) runs created since local midnight.

    Run storage compares ``created_after`` as naive UTC, so the midnight is converted to UTC.
    """
    since = local_midnight(now, tz).astimezone(dt.UTC)
    failed = instance.get_runs_count(RunsFilter(created_after=since, statuses=[DagsterRunStatus.FAILURE]))
    total = instance.get_runs_count(RunsFilter(created_after=since, statuses=list(FINISHED_STATUSES)))
    return failed, total


def alert_on_failure_rate(
    instance: DagsterInstance, cursor: AlertCursor, now: dt.datetime, deliver: Callable[[Alert], bool]
) -> AlertCursor:
    tz = ZoneInfo(TIMEZONE)
    day = now.astimezone(tz).date()
    if cursor.rate_alerted_day == day.isoformat():
        return cursor
    alert = failure_rate_alert(day, *runs_today(instance, now, tz))
    if alert is not None and deliver(alert):
        return replace(cursor, rate_alerted_day=day.isoformat())
    return cursor


def _deliverer(notifier: Notifier, logger: Any) -> Callable[[Alert], bool]:
    """``send`` as a yes/no: yes when at least one destination took the alert (see module docstring)."""

    def deliver(alert: Alert) -> bool:
        report = notifier.send(alert)
        if not report.ok:
            logger.warning(f"alert {alert.title!r} not delivered to all destinations: {report.describe_failures()}")
        return report.reached_anyone

    return deliver


# ---------------------------------------------------------------- sensors


@run_failure_sensor(
    default_status=DefaultSensorStatus.RUNNING,
    description="One alert (webhook and/or Telegram) per failed run of this code location.",
)
def run_failure_alert_sensor(context: RunFailureSensorContext) -> None:
    secrets = env_secrets(os.environ)
    with Notifier.from_env() as notifier:
        if not notifier.configured:
            context.log.info(f"run {context.dagster_run.run_id} failed; not alerted: {NOT_CONFIGURED}")
            return
        step_failures = context.get_step_failure_events()
        error = step_failures[0].step_failure_data.error if step_failures else None
        line = first_line(root_error(error).message if error else context.failure_event.message, secrets)
        run = context.dagster_run
        report = notifier.send(run_failure_alert(run.job_name, run.run_id, line, run.tags))
    if not report.reached_anyone:
        raise AlertDeliveryError(
            f"run {run.run_id} failed and no destination took the alert: {report.describe_failures()}"
        )


@sensor(
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
    description=(
        "One alert per incident of a failing ERROR asset check; one alert a day when more than "
        f"{FAILURE_RATE_THRESHOLD:.0%} of the day's runs failed."
    ),
)
def check_and_failure_rate_alert_sensor(context: SensorEvaluationContext) -> SensorResult | SkipReason:
    with Notifier.from_env() as notifier:
        if not notifier.configured:
            return SkipReason(NOT_CONFIGURED)
        deliver = _deliverer(notifier, context.log)
        now = dt.datetime.now(dt.UTC)
        cursor = AlertCursor.parse(context.cursor)
        outcomes = new_check_outcomes(context.instance, cursor.after_storage_id, now, env_secrets(os.environ))
        cursor = handle_check_outcomes(cursor, outcomes, deliver)
        cursor = alert_on_failure_rate(context.instance, cursor, now, deliver)
    return SensorResult(cursor=cursor.dump())


alert_sensors: list = [run_failure_alert_sensor, check_and_failure_rate_alert_sensor]
