"""Alert sensors: one alert per failed run, per failing ERROR check, per day of many failures.

Delivery (webhook, Telegram) is ``zakaz_pipeline.notify``; this module decides *when*.
Both sensors run by default once a destination is configured when the code loads
(``ALERT_WEBHOOK_URL``, or ``TELEGRAM_BOT_TOKEN`` + ``TELEGRAM_CHAT_ID``) and are stopped
without one (they would have nothing to do); the UI can still start them.

* ``run_failure_alert_sensor``: Dagster keeps its cursor and moves past a run even when the
  sensor raises, so an alert that no destination accepted (after urllib3's retries) is not
  retried; it raises, and the tick shows the error in the UI.
* ``check_and_failure_rate_alert_sensor`` keeps its own JSON cursor (:class:`AlertCursor`).
  A check incident is keyed by the check (``asset/key:check_name``), not by partition: it
  opens with an ERROR-severity failure (one alert) and closes when the check passes again;
  WARN failures neither open nor close one. The checks in incident are in the cursor.
  When an alert reaches no destination the cursor stops *before* that evaluation, so the
  next tick retries it; an alert that reached at least one destination counts as sent, so
  no destination ever gets the same incident twice. The failure-rate alert goes out once
  per local day (``ZAKAZ_TIMEZONE``, the partitions' time zone); the cursor keeps the day.

Reading evaluations: the sensor follows *finished runs* (run success/failure/cancel
events, ``DagsterInstance.fetch_run_status_changes``, cursor = the storage id of the last
run-end event handled) and reads each run's check evaluations. It does not page through
``ASSET_CHECK_EVALUATION`` events by storage id: on the default SQLite storage (what
``dagster dev`` and our ``instance.yaml`` use) those events live in per-run shards whose
ids are neither global nor filterable (``get_event_records`` refuses such a cursor), while
run-end events are mirrored into the index shard on every storage. The cost: a check is
seen when its run ends, and evaluations reported outside a run are not alerted.
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
    RunFailureSensorContext,
    RunsFilter,
    RunStatusChangeRecordsFilter,
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
RUNS_PER_TICK = 100
RUN_END_EVENTS = (DagsterEventType.RUN_SUCCESS, DagsterEventType.RUN_FAILURE, DagsterEventType.RUN_CANCELED)
# Without a cursor (first tick, or a cursor that could not be read) only recently finished
# runs are looked at: the first tick must not replay the instance's whole history.
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


ROOT_ERROR_WRAPPERS = ("DagsterExecution", "RetryRequested")


def first_line(text: str | None, secrets: Iterable[str] = ()) -> str:
    """The first non-empty line, without secrets, at most ``MAX_LINE`` characters."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    line = redact(lines[0], secrets) if lines else ""
    return line if len(line) <= MAX_LINE else line[: MAX_LINE - 1] + "…"


def root_error(error: ErrorInfo) -> ErrorInfo:
    """Dagster wraps the asset's exception in ``DagsterExecution*Error``, and after step
    retries reports "Exceeded max_retries" (``RetryRequestedFromPolicy``): the cause is what to show."""
    while error.cause is not None and (error.cls_name or "").startswith(ROOT_ERROR_WRAPPERS):
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


def finished_runs(instance: DagsterInstance, after_run_end: int | None, now: dt.datetime) -> list[FinishedRun]:
    """Runs that ended after the cursor, in event-log order; at most ``RUNS_PER_TICK`` of each end."""
    streams = []
    for event_type in RUN_END_EVENTS:
        if after_run_end is None:
            records_filter = RunStatusChangeRecordsFilter(
                event_type, after_timestamp=(now - FIRST_TICK_LOOKBACK).timestamp()
            )
        else:
            records_filter = RunStatusChangeRecordsFilter(event_type, after_storage_id=after_run_end)
        result = instance.fetch_run_status_changes(records_filter, limit=RUNS_PER_TICK, ascending=True)
        streams.append([FinishedRun(record.storage_id, record.run_id) for record in result.records])
    return merge_run_ends(streams, RUNS_PER_TICK)


def run_check_outcomes(instance: DagsterInstance, run_id: str, secrets: Iterable[str] = ()) -> list[CheckOutcome]:
    records = instance.get_records_for_run(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION).records
    return [outcome for record in records if (outcome := check_outcome(record, secrets)) is not None]


def alert_on_check_failures(
    instance: DagsterInstance, cursor: AlertCursor, now: dt.datetime, deliver: Callable[[Alert], bool]
) -> AlertCursor:
    secrets = env_secrets(os.environ)
    for run in finished_runs(instance, cursor.after_run_end, now):
        cursor, done = handle_run_outcomes(cursor, run, run_check_outcomes(instance, run.run_id, secrets), deliver)
        if not done:
            break
    return cursor


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


def alert_sensor_status(env: Mapping[str, str] = os.environ) -> DefaultSensorStatus:
    """Running once a destination is set; without one the sensors have nothing to do, and
    a running sensor would log a skipped tick in the daemon's console every minute."""
    configured = any(env.get(name, "").strip() for name in ("ALERT_WEBHOOK_URL", "TELEGRAM_BOT_TOKEN"))
    return DefaultSensorStatus.RUNNING if configured else DefaultSensorStatus.STOPPED


@run_failure_sensor(
    default_status=alert_sensor_status(),
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
    default_status=alert_sensor_status(),
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
        cursor = alert_on_check_failures(context.instance, AlertCursor.parse(context.cursor), now, deliver)
        cursor = alert_on_failure_rate(context.instance, cursor, now, deliver)
    return SensorResult(cursor=cursor.dump())


alert_sensors: list = [run_failure_alert_sensor, check_and_failure_rate_alert_sensor]
