"""Alert sensors: one alert per failed run, per failing ERROR check, per day of many failures,
and for webhooks when signatures keep failing or deliveries stop while orders are paid.

This module reads the Dagster instance and decides *when*; the pure rules (incidents,
texts, cursor) are ``alert_rules``, delivery (webhook, Telegram) is ``delivery``.
Both sensors (built by ``alert_sensors`` from the settings) run by default once a destination
is configured (``ALERT_WEBHOOK_URL``, or ``TELEGRAM_BOT_TOKEN`` + ``TELEGRAM_CHAT_ID``) and are stopped
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
* ``webhook_alert_sensor`` (running where ``QTICKETS_WEBHOOK_SECRET`` is set too) reads the receiver's
  queue: one alert when ``ZAKAZ_WEBHOOK_BAD_SIGNATURES`` deliveries or more were refused for
  their signature in the last hour (a secret that differs from the seller cabinet's, or
  probing), and one when polling found paid orders newer than the last webhook and none
  has arrived for ``ZAKAZ_WEBHOOK_SILENCE_HOURS``; each once per incident
  (``WebhookAlertCursor``), retried next tick when no destination took it.

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
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo

from dagster import (
    AssetCheckEvaluation,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    EventLogRecord,
    RunFailureSensorContext,
    RunsFilter,
    RunStatusChangeRecordsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    run_failure_sensor,
    sensor,
)

from zakaz_pipeline.defs.resources import QualityResource
from zakaz_pipeline.defs.sensors.alert_rules import (
    FAILURE_RATE_THRESHOLD,
    AlertCursor,
    CheckOutcome,
    FinishedRun,
    WebhookAlertCursor,
    failure_rate_alert,
    handle_run_outcomes,
    handle_webhook_alerts,
    local_midnight,
    merge_run_ends,
    run_failure_alert,
)
from zakaz_pipeline.defs.sensors.delivery import Alert, AlertDeliveryError, Notifier
from zakaz_pipeline.defs.sensors.webhook_heartbeat import bad_signatures, queue_stats
from zakaz_pipeline.errors import first_line, root_error
from zakaz_pipeline.settings import Settings
from zakaz_pipeline.warehouse.resource import ClickHouseResource
from zakaz_pipeline.warehouse.webhook_monitoring import newest_polled_sale

RUNS_PER_TICK = 100
RunEnd = Literal[DagsterEventType.RUN_SUCCESS, DagsterEventType.RUN_FAILURE, DagsterEventType.RUN_CANCELED]
RUN_END_EVENTS: tuple[RunEnd, ...] = get_args(RunEnd)
# Without a cursor (first tick, or a cursor that could not be read) only recently finished
# runs are looked at: the first tick must not replay the instance's whole history.
FIRST_TICK_LOOKBACK = dt.timedelta(days=1)
FINISHED_STATUSES = (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED)
NOT_CONFIGURED = "no alert destination: set ALERT_WEBHOOK_URL and/or TELEGRAM_BOT_TOKEN + TELEGRAM_CHAT_ID"


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
    instance: DagsterInstance,
    cursor: AlertCursor,
    now: dt.datetime,
    deliver: Callable[[Alert], bool],
    secrets: Iterable[str] = (),
) -> AlertCursor:
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
    instance: DagsterInstance, cursor: AlertCursor, now: dt.datetime, deliver: Callable[[Alert], bool], tz: ZoneInfo
) -> AlertCursor:
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


def alert_sensor_status(settings: Settings) -> DefaultSensorStatus:
    """Running once a destination is set; without one the sensors have nothing to do, and
    a running sensor would log a skipped tick in the daemon's console every minute."""
    return DefaultSensorStatus.RUNNING if settings.alerts_configured else DefaultSensorStatus.STOPPED


def alert_sensors(settings: Settings) -> list[SensorDefinition]:
    """The alert sensors, delivering to the destinations of ``settings``."""
    return [
        run_failure_alert_sensor(settings),
        check_and_failure_rate_alert_sensor(settings),
        webhook_alert_sensor(settings),
    ]


def run_failure_alert_sensor(settings: Settings) -> SensorDefinition:
    @run_failure_sensor(
        name="run_failure_alert_sensor",
        default_status=alert_sensor_status(settings),
        description="One alert (webhook and/or Telegram) per failed run of this code location.",
    )
    def _sensor(context: RunFailureSensorContext) -> None:
        secrets = settings.secret_values()
        with Notifier.from_settings(settings) as notifier:
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

    return _sensor


def check_and_failure_rate_alert_sensor(settings: Settings) -> SensorDefinition:
    @sensor(
        name="check_and_failure_rate_alert_sensor",
        default_status=alert_sensor_status(settings),
        minimum_interval_seconds=60,
        description=(
            "One alert per incident of a failing ERROR asset check; one alert a day when more than "
            f"{FAILURE_RATE_THRESHOLD:.0%} of the day's runs failed."
        ),
    )
    def _sensor(context: SensorEvaluationContext) -> SensorResult | SkipReason:
        with Notifier.from_settings(settings) as notifier:
            if not notifier.configured:
                return SkipReason(NOT_CONFIGURED)
            deliver = _deliverer(notifier, context.log)
            now = dt.datetime.now(dt.UTC)
            cursor = AlertCursor.parse(context.cursor)
            cursor = alert_on_check_failures(context.instance, cursor, now, deliver, settings.secret_values())
            cursor = alert_on_failure_rate(context.instance, cursor, now, deliver, settings.tz)
        return SensorResult(cursor=cursor.dump())

    return _sensor


def webhook_alert_sensor(settings: Settings) -> SensorDefinition:
    @sensor(
        name="webhook_alert_sensor",
        # Without a webhook secret no receiver feeds the queue: nothing to watch.
        default_status=alert_sensor_status(settings) if settings.webhooks_configured else DefaultSensorStatus.STOPPED,
        minimum_interval_seconds=60,
        description=(
            f"One alert when {settings.webhook_bad_signatures} or more webhook deliveries an hour fail their "
            f"signature; one when polling finds paid orders but no webhook arrived for "
            f"{settings.webhook_silence_hours:g} hours."
        ),
    )
    def _sensor(
        context: SensorEvaluationContext, warehouse: ClickHouseResource, quality: QualityResource
    ) -> SensorResult | SkipReason:
        now = dt.datetime.now(dt.UTC)
        stats = queue_stats(settings.webhook_queue, now)
        if stats is None:
            return SkipReason(f"no webhook queue at {settings.webhook_queue} yet")
        cursor = WebhookAlertCursor.parse(context.cursor)
        silence = dt.timedelta(hours=settings.webhook_silence_hours)
        newest_sale = None
        if stats.last_received_at is None or now - stats.last_received_at >= silence:
            with warehouse.get_client() as client:  # only when webhooks have gone quiet
                newest_sale = newest_polled_sale(client, quality.org)
        with Notifier.from_settings(settings) as notifier:
            if not notifier.configured:
                return SkipReason(NOT_CONFIGURED)
            cursor = handle_webhook_alerts(
                cursor,
                now=now,
                bad_signatures=bad_signatures(stats),
                threshold=settings.webhook_bad_signatures,
                last_webhook=stats.last_received_at,
                newest_sale=newest_sale,
                silence_hours=settings.webhook_silence_hours,
                deliver=_deliverer(notifier, context.log),
            )
        return SensorResult(cursor=cursor.dump())

    return _sensor
