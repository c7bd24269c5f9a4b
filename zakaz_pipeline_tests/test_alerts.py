"""Alerts end to end: real HTTP to a local receiver, real runs and check evaluations on a
temporary Dagster instance, sensors evaluated tick by tick with their cursor carried over."""

import datetime as dt
import json
import logging
import socket
import threading
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    Config,
    DagsterInstance,
    MaterializeResult,
    RunConfig,
    asset,
    build_run_status_sensor_context,
    build_sensor_context,
    instance_for_test,
    job,
    materialize,
    op,
)

from zakaz_pipeline.defs.jobs import RANGE_END_TAG, RANGE_START_TAG
from zakaz_pipeline.defs.sensors.alert_rules import (
    AlertCursor,
    CheckOutcome,
    FinishedRun,
    failure_rate_alert,
    handle_run_outcomes,
    merge_run_ends,
    next_incidents,
)
from zakaz_pipeline.defs.sensors.alerts import (
    alert_sensor_status,
    alert_sensors,
    check_and_failure_rate_alert_sensor,
    run_failure_alert_sensor,
)
from zakaz_pipeline.defs.sensors.delivery import Alert, AlertDeliveryError, Notifier
from zakaz_pipeline.errors import first_line
from zakaz_pipeline.settings import Settings

BOT_TOKEN = "123456789:AAE-secret-bot-token-for-tests"
CHAT_ID = "-1001234567"
QTICKETS_SECRET = "qtickets-secret-token-0123"
ALERT_ENV = ("ALERT_WEBHOOK_URL", "TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID", "TELEGRAM_API_URL", "QTICKETS_TOKEN")
ALERT = Alert(kind="run_failure", title="zakaz: run of x failed", text="Run r1 failed: boom", details={"run_id": "r1"})


# ---------------------------------------------------------------- a local HTTP receiver


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    body: Any


class Receiver:
    """Records every request; answers ``status`` with a Telegram-like body that echoes the
    path (as a careless server might), so that the tests catch a token leaking through it."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append(Received(self.command, self.path, json.loads(raw) if raw else None))
                ok = 200 <= receiver.status < 300
                answer = json.dumps({"ok": ok, "description": "" if ok else f"cannot handle {self.path}"}).encode()
                self.send_response(receiver.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the test reads ``requests`` instead."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def bodies(self, kind: str | None = None) -> list[dict]:
        return [r.body for r in self.requests if kind is None or r.body.get("kind") == kind]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()


@pytest.fixture
def closed_port_url() -> str:
    """An address where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ALERT_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def webhook(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> Receiver:
    monkeypatch.setenv("ALERT_WEBHOOK_URL", f"{receiver.url}/hooks/zakaz")
    return receiver


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with instance_for_test() as temporary:
        yield temporary


def env_settings() -> Settings:
    """The settings of the (monkeypatched) environment, read when a sensor is built, as the
    code location reads them when it loads."""
    return Settings.from_env(need_secrets=False)


def set_telegram(monkeypatch: pytest.MonkeyPatch, api_url: str) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("TELEGRAM_CHAT_ID", CHAT_ID)
    monkeypatch.setenv("TELEGRAM_API_URL", api_url)


def debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Everything at DEBUG, urllib3 included (something in the stack sets it to WARNING)."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="urllib3")


def assert_no_token(caplog: pytest.LogCaptureFixture, *texts: str) -> None:
    assert caplog.records, "expected log records to inspect"
    for record in caplog.records:
        assert BOT_TOKEN not in record.getMessage(), record.name
    for text in texts:
        assert BOT_TOKEN not in text


# ---------------------------------------------------------------- Notifier


def test_not_configured_without_destinations() -> None:
    with Notifier.from_env({}) as notifier:
        assert not notifier.configured
        assert notifier.send(ALERT).delivered == ()


def test_telegram_needs_token_and_chat() -> None:
    with pytest.raises(ValueError, match="TELEGRAM_CHAT_ID") as caught:
        Notifier.from_env({"TELEGRAM_BOT_TOKEN": BOT_TOKEN})
    assert BOT_TOKEN not in str(caught.value)


def test_alert_kind_is_validated() -> None:
    with pytest.raises(ValueError, match="unknown alert kind"):
        Alert(kind="disk_full", title="t", text="x")  # type: ignore[arg-type]


def test_webhook_gets_the_alert_as_json(webhook: Receiver) -> None:
    with Notifier.from_env() as notifier:
        assert notifier.destinations == ("ALERT_WEBHOOK_URL",)
        report = notifier.send(ALERT)
    assert report.ok and report.delivered == ("ALERT_WEBHOOK_URL",)
    assert webhook.requests == [
        Received(
            "POST",
            "/hooks/zakaz",
            {"kind": "run_failure", "title": ALERT.title, "text": ALERT.text, "details": {"run_id": "r1"}},
        )
    ]


def test_telegram_gets_a_plain_text_message(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    debug_logs(caplog)
    set_telegram(monkeypatch, receiver.url)
    with Notifier.from_env() as notifier:
        report = notifier.send(ALERT)
        assert BOT_TOKEN not in repr(notifier)
    assert report.ok
    [request] = receiver.requests
    assert (request.method, request.path) == ("POST", f"/bot{BOT_TOKEN}/sendMessage")
    assert request.body["chat_id"] == CHAT_ID
    assert request.body["text"].startswith(f"{ALERT.title}\n\n{ALERT.text}")
    assert "run_id: r1" in request.body["text"]
    # urllib3 logs the request path at DEBUG: the filter must have replaced the token.
    assert any("***/sendMessage" in record.getMessage() for record in caplog.records)
    assert_no_token(caplog, caplog.text)


def test_telegram_error_answer_never_shows_the_token(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    debug_logs(caplog)
    set_telegram(monkeypatch, receiver.url)
    receiver.status = 500
    with Notifier.from_env(max_retries=2, backoff_factor=0) as notifier:
        report = notifier.send(ALERT)
    assert len(receiver.requests) == 3, "urllib3 retries a 5xx"
    assert not report.reached_anyone
    assert "HTTP 500" in report.failed["TELEGRAM_BOT_TOKEN"]
    assert_no_token(caplog, report.describe_failures(), caplog.text)


def test_telegram_down_never_shows_the_token_and_webhook_still_gets_it(
    webhook: Receiver, closed_port_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    debug_logs(caplog)
    set_telegram(monkeypatch, closed_port_url)
    with Notifier.from_env(max_retries=1, backoff_factor=0) as notifier:
        report = notifier.send(ALERT)
    assert report.delivered == ("ALERT_WEBHOOK_URL",)
    assert "ConnectionError" in report.failed["TELEGRAM_BOT_TOKEN"]
    assert [body["kind"] for body in webhook.bodies()] == ["run_failure"]
    assert any(record.levelno == logging.WARNING and "Retrying" in record.getMessage() for record in caplog.records)
    assert_no_token(caplog, report.describe_failures(), caplog.text)


def test_webhook_token_in_the_url_stays_out_of_logs(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """urllib3 logs the path and query without the host: they must be hidden on their own."""
    debug_logs(caplog)
    secret = "hook-secret-0123456789"
    monkeypatch.setenv("ALERT_WEBHOOK_URL", f"{receiver.url}/services/{secret}?token={secret}")
    receiver.status = 503
    with Notifier.from_env(max_retries=1, backoff_factor=0) as notifier:
        report = notifier.send(ALERT)
    assert len(receiver.requests) == 2 and "HTTP 503" in report.failed["ALERT_WEBHOOK_URL"]
    assert any(record.name.startswith("urllib3") and "***" in record.getMessage() for record in caplog.records)
    assert secret not in caplog.text and secret not in report.describe_failures()


# ---------------------------------------------------------------- run failure sensor


@op
def explode() -> None:
    raise RuntimeError(f"orders endpoint answered nonsense\nsecond line with {QTICKETS_SECRET}")


@op
def succeed() -> None:
    """Nothing to do."""


@job
def exploding_job() -> None:
    explode()


@job
def quiet_job() -> None:
    succeed()


def run_failure_tick(instance: DagsterInstance, tags: dict[str, str] | None = None) -> str:
    result = exploding_job.execute_in_process(instance=instance, raise_on_error=False, tags=tags)
    assert not result.success
    sensor = run_failure_alert_sensor(env_settings())
    context = build_run_status_sensor_context(
        sensor_name=sensor.name,
        dagster_event=result.get_run_failure_event(),
        dagster_instance=instance,
        dagster_run=result.dagster_run,
    ).for_run_failure()
    sensor(context)
    return result.run_id


def test_run_failure_sends_one_alert_with_the_first_error_line(
    webhook: Receiver, instance: DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QTICKETS_TOKEN", QTICKETS_SECRET)
    run_id = run_failure_tick(instance, tags={RANGE_START_TAG: "2024-05-01", RANGE_END_TAG: "2024-05-03"})
    [alert] = webhook.bodies()
    assert alert["kind"] == "run_failure"
    assert alert["details"] == {
        "job": "exploding_job",
        "run_id": run_id,
        "error": "RuntimeError: orders endpoint answered nonsense",
        "partition_range_start": "2024-05-01",
        "partition_range_end": "2024-05-03",
    }
    assert run_id in alert["text"] and "2024-05-01…2024-05-03" in alert["text"]
    assert "second line" not in json.dumps(alert) and QTICKETS_SECRET not in json.dumps(alert)


def test_run_failure_without_destination_sends_nothing(instance: DagsterInstance, receiver: Receiver) -> None:
    run_failure_tick(instance)
    assert receiver.requests == []


def test_run_failure_alert_that_reaches_nobody_raises_without_the_token(
    instance: DagsterInstance, closed_port_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    debug_logs(caplog)
    set_telegram(monkeypatch, closed_port_url)
    with pytest.raises(AlertDeliveryError, match="TELEGRAM_BOT_TOKEN") as caught:
        run_failure_tick(instance)
    assert_no_token(caplog, "".join(traceback.format_exception(caught.value)), caplog.text)


# ---------------------------------------------------------------- check incidents


class CheckOutcomes(Config):
    error_check_passes: bool = True
    warn_check_passes: bool = True


@asset(
    check_specs=[
        AssetCheckSpec("rows_reconcile", asset="checked_orders"),
        AssetCheckSpec("looks_fresh", asset="checked_orders"),
    ]
)
def checked_orders(config: CheckOutcomes) -> MaterializeResult:
    return MaterializeResult(
        check_results=[
            AssetCheckResult(
                check_name="rows_reconcile",
                passed=config.error_check_passes,
                severity=AssetCheckSeverity.ERROR,
                description="3 orders missing from the warehouse\nper-day detail",
            ),
            AssetCheckResult(
                check_name="looks_fresh", passed=config.warn_check_passes, severity=AssetCheckSeverity.WARN
            ),
        ]
    )


def evaluate_checks(instance: DagsterInstance, *, error_ok: bool = True, warn_ok: bool = True) -> None:
    config = CheckOutcomes(error_check_passes=error_ok, warn_check_passes=warn_ok)
    result = materialize([checked_orders], instance=instance, run_config=RunConfig({"checked_orders": config}))
    assert result.success


def tick(instance: DagsterInstance, cursor: str | None) -> str | None:
    result = check_and_failure_rate_alert_sensor(env_settings())(build_sensor_context(instance=instance, cursor=cursor))
    return result.cursor


def test_a_failing_error_check_is_one_incident_until_it_passes(webhook: Receiver, instance: DagsterInstance) -> None:
    evaluate_checks(instance, error_ok=False)
    cursor = tick(instance, None)
    assert len(webhook.bodies("check_failure")) == 1

    evaluate_checks(instance, error_ok=False)
    evaluate_checks(instance, error_ok=False)
    cursor = tick(instance, cursor)
    cursor = tick(instance, cursor)
    assert len(webhook.bodies("check_failure")) == 1, "still the same incident"

    evaluate_checks(instance, error_ok=True)
    cursor = tick(instance, cursor)
    assert AlertCursor.parse(cursor).failing_checks == frozenset()
    evaluate_checks(instance, error_ok=False)
    cursor = tick(instance, cursor)

    alerts = webhook.bodies("check_failure")
    assert len(alerts) == 2, "a failure after a pass is a new incident"
    assert alerts[1]["details"]["check"] == "checked_orders:rows_reconcile"
    assert alerts[1]["details"]["description"] == "3 orders missing from the warehouse"
    assert AlertCursor.parse(cursor).failing_checks == frozenset({"checked_orders:rows_reconcile"})
    assert webhook.bodies("failure_rate") == [], "check failures do not fail runs"


def test_two_failures_between_ticks_are_one_alert(webhook: Receiver, instance: DagsterInstance) -> None:
    evaluate_checks(instance, error_ok=False)
    evaluate_checks(instance, error_ok=False)
    tick(instance, None)
    assert len(webhook.bodies("check_failure")) == 1


def test_warn_failures_are_not_alerted(webhook: Receiver, instance: DagsterInstance) -> None:
    cursor = None
    for _ in range(2):
        evaluate_checks(instance, warn_ok=False)
        cursor = tick(instance, cursor)
    assert webhook.requests == []
    assert AlertCursor.parse(cursor).after_run_end is not None


def test_undelivered_check_alert_is_retried_next_tick(webhook: Receiver, instance: DagsterInstance) -> None:
    webhook.status = 400
    evaluate_checks(instance, error_ok=False)
    cursor = tick(instance, None)
    assert len(webhook.requests) == 1 and AlertCursor.parse(cursor).failing_checks == frozenset()

    webhook.status = 200
    cursor = tick(instance, cursor)
    cursor = tick(instance, cursor)
    assert [r.body["kind"] for r in webhook.requests] == ["check_failure", "check_failure"], "one retry, then quiet"


def test_check_sensor_skips_without_destination(instance: DagsterInstance) -> None:
    evaluate_checks(instance, error_ok=False)
    result = check_and_failure_rate_alert_sensor(env_settings())(build_sensor_context(instance=instance))
    assert "ALERT_WEBHOOK_URL" in result.skip_message


# ---------------------------------------------------------------- daily failure rate


def test_failure_rate_alerts_once_a_day(webhook: Receiver, instance: DagsterInstance) -> None:
    quiet_job.execute_in_process(instance=instance)
    quiet_job.execute_in_process(instance=instance)
    cursor = tick(instance, None)
    assert webhook.requests == [], "0 of 2 failed"

    exploding_job.execute_in_process(instance=instance, raise_on_error=False)
    cursor = tick(instance, cursor)
    [alert] = webhook.bodies("failure_rate")
    assert (alert["details"]["failed"], alert["details"]["total"]) == (1, 3)
    assert "1 of 3" in alert["title"]

    exploding_job.execute_in_process(instance=instance, raise_on_error=False)
    tick(instance, cursor)
    assert len(webhook.bodies("failure_rate")) == 1, "once a day"


# ---------------------------------------------------------------- the pure parts


def outcome(storage_id: int, passed: bool, severity: str = "ERROR", check: str = "a:c") -> CheckOutcome:
    return CheckOutcome(storage_id=storage_id, check=check, passed=passed, severity=severity, run_id="r")


def test_next_incidents() -> None:
    assert next_incidents(frozenset(), outcome(1, False)) == (frozenset({"a:c"}), True)
    assert next_incidents(frozenset({"a:c"}), outcome(2, False)) == (frozenset({"a:c"}), False)
    assert next_incidents(frozenset({"a:c"}), outcome(3, True)) == (frozenset(), False)
    assert next_incidents(frozenset(), outcome(4, False, "WARN")) == (frozenset(), False)
    assert next_incidents(frozenset({"a:c"}), outcome(5, False, "WARN")) == (frozenset({"a:c"}), False)


def test_handle_run_outcomes_stops_before_an_undelivered_alert_and_resumes_there() -> None:
    sent: list[str] = []
    refuse = {"b:c"}

    def deliver(alert: Alert) -> bool:
        sent.append(alert.details["check"])
        return alert.details["check"] not in refuse

    run = FinishedRun(end_storage_id=20, run_id="r")
    outcomes = [outcome(1, False), outcome(2, True), outcome(3, False, check="b:c"), outcome(4, False)]
    cursor, done = handle_run_outcomes(AlertCursor(after_run_end=9), run, outcomes, deliver)
    assert (done, sent) == (False, ["a:c", "b:c"])
    assert cursor == AlertCursor(after_run_end=9, resume=("r", 2), failing_checks=frozenset())

    refuse.clear()
    cursor, done = handle_run_outcomes(AlertCursor.parse(cursor.dump()), run, outcomes, deliver)
    assert done and sent == ["a:c", "b:c", "b:c", "a:c"], "a:c passed in between: its new failure is new"
    assert cursor == AlertCursor(after_run_end=20, failing_checks=frozenset({"a:c", "b:c"}))


def test_merge_run_ends_stops_where_a_truncated_stream_stops() -> None:
    successes = [FinishedRun(1, "a"), FinishedRun(4, "b"), FinishedRun(5, "c")]
    failures = [FinishedRun(2, "d"), FinishedRun(9, "e")]
    assert [r.run_id for r in merge_run_ends([successes, failures, []], limit=10)] == ["a", "d", "b", "c", "e"]
    assert [r.run_id for r in merge_run_ends([successes, failures, []], limit=3)] == ["a", "d", "b", "c"]


def test_cursor_round_trip_and_garbage() -> None:
    cursor = AlertCursor(
        after_run_end=42, resume=("r", 7), failing_checks=frozenset({"a:c", "b:d"}), rate_alerted_day="2024-05-01"
    )
    assert AlertCursor.parse(cursor.dump()) == cursor
    assert AlertCursor.parse("not json") == AlertCursor()
    assert AlertCursor.parse(None) == AlertCursor()


def test_failure_rate_threshold_is_strictly_more_than_five_percent() -> None:
    day = dt.date(2024, 5, 1)
    assert failure_rate_alert(day, 0, 0) is None
    assert failure_rate_alert(day, 1, 20) is None
    alert = failure_rate_alert(day, 2, 20)
    assert alert is not None and alert.details == {"day": "2024-05-01", "failed": 2, "total": 20, "threshold": 0.05}


def test_first_line_is_short_and_secret_free() -> None:
    assert first_line("\n  boom secret-value here \nmore", ["secret-value"]) == "boom *** here"
    assert len(first_line("x" * 1000)) == 300
    assert first_line(None) == ""


def test_alert_sensors_run_by_default_only_with_a_destination() -> None:
    sensors = alert_sensors(env_settings())
    assert [s.name for s in sensors] == [
        "run_failure_alert_sensor", "check_and_failure_rate_alert_sensor", "webhook_alert_sensor",
    ]  # fmt: skip
    assert all(s.default_status == alert_sensor_status(env_settings()) for s in sensors)

    def settings(env: dict[str, str]) -> Settings:
        return Settings.from_env(env, need_secrets=False)

    def status(env: dict[str, str]) -> str:
        return alert_sensor_status(settings(env)).value

    assert status({}) == "STOPPED"
    assert status({"ALERT_WEBHOOK_URL": "https://hooks.example/x"}) == "RUNNING"
    assert status({"TELEGRAM_BOT_TOKEN": "1:abc", "TELEGRAM_CHAT_ID": "5"}) == "RUNNING"
    with_destination = {s.name: s.default_status.value for s in alert_sensors(settings({"ALERT_WEBHOOK_URL": "x"}))}
    # the webhook alerts also need webhooks: without QTICKETS_WEBHOOK_SECRET no receiver feeds the queue
    assert with_destination == {
        "run_failure_alert_sensor": "RUNNING", "check_and_failure_rate_alert_sensor": "RUNNING",
        "webhook_alert_sensor": "STOPPED",
    }  # fmt: skip
    both = settings({"ALERT_WEBHOOK_URL": "x", "QTICKETS_WEBHOOK_SECRET": "webhook-secret-0123456789"})
    assert all(s.default_status.value == "RUNNING" for s in alert_sensors(both))
