"""Webhook monitoring: heartbeats of the receiver's real SQLite queue in the embedded
warehouse, the freshness view under DataLens's session, and the two webhook alerts over real
HTTP to a local alert receiver, with polling's newest sale from a real sync."""

from __future__ import annotations

import datetime as dt
import json
import random
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterInstance, build_sensor_context

from zakaz_pipeline.defs.resources import QualityResource
from zakaz_pipeline.defs.sensors.alert_rules import (
    WebhookAlertCursor,
    bad_signature_alert,
    handle_webhook_alerts,
    webhook_silence_alert,
)
from zakaz_pipeline.defs.sensors.delivery import Alert
from zakaz_pipeline.simulator.server import SimulatorServer
from zakaz_pipeline.simulator.shop import SimulatedAccount
from zakaz_pipeline.warehouse.datalens import view_answers_under_datalens_settings
from zakaz_pipeline.warehouse.resource import ClickHouseResource
from zakaz_pipeline.warehouse.schema import ensure_schema
from zakaz_pipeline.warehouse.webhook_monitoring import newest_polled_sale, record_webhook_heartbeat
from zakaz_pipeline.webhooks.queue import Change, WebhookQueue
from zakaz_pipeline_tests.conftest import ACCOUNT_NOW, TOKEN
from zakaz_pipeline_tests.harness import ORG, TZ, definitions, run, settings_with

SECRET = "test-webhook-secret-0123456789"
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)  # heartbeats older than 30 days expire (TTL)


def freshness(client: Any) -> dict[str, dict[str, Any]]:
    result = client.query("SELECT * FROM v_qtickets_freshness")
    return {row["source"]: row for row in result.named_results()}


def utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def minute_boundaries(start: dt.datetime, end: dt.datetime) -> int:
    return int(end.timestamp() // 60 - start.timestamp() // 60)


def change(order_id: int, updated_at: str = "2026-03-02T15:00:00+03:00") -> Change:
    return Change(order_id, "payed", updated_at, updated_at, None, False)


def test_the_newest_heartbeat_is_the_freshness_views_webhook_row(client) -> None:
    ensure_schema(client, timezone=TZ)
    assert "meta_webhooks" not in freshness(client)
    record_webhook_heartbeat(client, ORG, None, 0, 0, recorded_at=NOW - dt.timedelta(minutes=20))
    assert "meta_webhooks" not in freshness(client)  # nothing received yet: no row, no epoch
    received = NOW - dt.timedelta(minutes=15)
    record_webhook_heartbeat(client, ORG, received, 5, 2, recorded_at=NOW - dt.timedelta(minutes=10))
    record_webhook_heartbeat(client, ORG, received, 7, 3, recorded_at=NOW)
    asked = dt.datetime.now(dt.UTC)
    row = freshness(client)["meta_webhooks"]
    answered = dt.datetime.now(dt.UTC)
    assert utc(row["last_data_at"]) == received
    assert (row["webhooks_received"], row["bad_signatures_1h"]) == (7, 3)
    # summed over the org's rows, as a DataLens tile does, they are the newest heartbeat's figures
    sums = client.query(
        "SELECT sum(webhooks_received), sum(bad_signatures_1h) FROM v_qtickets_freshness WHERE org = %(org)s",
        parameters={"org": ORG},
    ).result_rows
    assert sums == [(7, 3)]
    assert row["org"] == ORG and row["last_run_id"] is None
    # a healthy receiver is green: the newest heartbeat stands for the webhooks' "run"
    assert row["last_run_status"] == "SUCCESS"
    assert utc(row["last_run_at"]) == utc(row["last_success_at"]) == NOW
    # ClickHouse's dateDiff('minute') counts the minute boundaries crossed, at the query's now()
    assert row["minutes_since_data"] in {minute_boundaries(received, asked), minute_boundaries(received, answered)}
    finding = view_answers_under_datalens_settings(client, "v_qtickets_freshness")
    assert finding.passed, finding
    # heartbeats stopped (the sensor or the daemon is down): the row says so
    record_webhook_heartbeat(client, "other-org", received, 1, 0, recorded_at=NOW - dt.timedelta(minutes=45))
    stale = client.query(
        "SELECT last_run_status FROM v_qtickets_freshness WHERE org = 'other-org' AND source = 'meta_webhooks'"
    ).result_rows
    assert stale == [("STALE",)]


def heartbeat_tick(settings: Any, warehouse: ClickHouseResource, instance: DagsterInstance, cursor: str | None):
    resources = {"warehouse": warehouse, "quality": QualityResource(org=ORG, timezone=TZ)}
    with build_sensor_context(instance=instance, cursor=cursor, resources=resources) as context:
        return definitions(settings).resolve_sensor_def("qtickets_webhook_heartbeat").evaluate_tick(context)


def test_the_heartbeat_sensor_copies_the_queue_when_it_changes(
    tmp_path: Path, warehouse: ClickHouseResource, client, instance: DagsterInstance
) -> None:
    path = tmp_path / "webhooks.sqlite"
    settings = settings_with(QTICKETS_WEBHOOK_SECRET=SECRET, ZAKAZ_WEBHOOK_QUEUE=str(path))
    assert heartbeat_tick(settings, warehouse, instance, None).skip_message.startswith("no webhook queue")
    with WebhookQueue(path) as queue:
        queue.add(change(1))
        queue.add(change(2))
        for _ in range(3):
            queue.refuse("signature")
        queue.refuse("size")
        queue.refuse("signature", at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=2))  # outside the hour
        first = heartbeat_tick(settings, warehouse, instance, None)
        assert first.skip_message.startswith("wrote a heartbeat to meta_webhooks")
        again = heartbeat_tick(settings, warehouse, instance, first.cursor)
        assert again.skip_message == "webhook queue unchanged since the last heartbeat"
        queue.add(change(3))
        third = heartbeat_tick(settings, warehouse, instance, again.cursor or first.cursor)
        assert third.skip_message.startswith("wrote a heartbeat")
        # Written outside any run: each heartbeat is a materialization of meta_webhooks in the UI.
        (event,) = third.asset_events
        assert event.asset_key.to_user_string() == "meta_webhooks"
        assert event.metadata["deliveries kept (deliveries)"].value == 3
        newest = queue.stats(dt.datetime.now(dt.UTC)).last_received_at
    rows = client.query(
        "SELECT received_count, bad_signatures, last_received_at FROM meta_webhooks ORDER BY recorded_at"
    ).result_rows
    assert [(count, bad) for count, bad, _ in rows] == [(2, 3), (3, 3)]
    assert newest is not None and abs(utc(rows[-1][2]) - newest) < dt.timedelta(milliseconds=1)
    ensure_schema(client, timezone=TZ)
    assert freshness(client)["meta_webhooks"]["webhooks_received"] == 3
    assert definitions(settings_with()).resolve_sensor_def("qtickets_webhook_heartbeat").default_status.value == (
        "STOPPED"
    )


def test_bad_signature_incidents_open_once_and_close() -> None:
    sent: list[Alert] = []

    def deliver(alert: Alert) -> bool:
        sent.append(alert)
        return True

    figures = {"now": NOW, "threshold": 10, "last_webhook": NOW, "newest_sale": NOW, "silence_hours": 2.0}
    cursor = WebhookAlertCursor()
    for bad, alerts in ((3, 0), (10, 1), (25, 1), (4, 1), (12, 2)):
        cursor = handle_webhook_alerts(cursor, bad_signatures=bad, deliver=deliver, **figures)
        assert len(sent) == alerts, bad
    assert {a.kind for a in sent} == {"webhook_bad_signatures"} and "QTICKETS_WEBHOOK_SECRET" in sent[0].text
    assert bad_signature_alert(9, 10) is None
    # nobody took it: the incident is not open, so the next tick tries again
    refused = handle_webhook_alerts(WebhookAlertCursor(), bad_signatures=30, deliver=lambda _: False, **figures)
    assert refused == WebhookAlertCursor()
    assert (
        WebhookAlertCursor.parse(cursor.dump()) == cursor and WebhookAlertCursor.parse("{bad") == WebhookAlertCursor()
    )


def test_silence_means_paid_sales_polled_and_no_webhook_for_the_window() -> None:
    hours = 2.0
    earlier = NOW - dt.timedelta(hours=3)
    assert webhook_silence_alert(NOW, earlier, NOW - dt.timedelta(minutes=5), hours) is not None
    assert webhook_silence_alert(NOW, NOW - dt.timedelta(hours=1), NOW, hours) is None  # a webhook 1 h ago
    assert webhook_silence_alert(NOW, earlier, earlier - dt.timedelta(minutes=1), hours) is None  # nothing new
    assert webhook_silence_alert(NOW, earlier, None, hours) is None  # nothing polled yet
    assert webhook_silence_alert(NOW, None, NOW - dt.timedelta(hours=1), hours) is not None  # never any
    assert webhook_silence_alert(NOW, None, NOW - dt.timedelta(hours=5), hours) is None  # never, and no new sale
    text = webhook_silence_alert(NOW, None, NOW, hours).text  # type: ignore[union-attr]
    assert "no webhook has ever arrived" in text and "seller cabinet" in text


class AlertReceiver:
    def __init__(self) -> None:
        self.bodies: list[dict] = []
        bodies = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/alerts"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def alerts() -> Iterator[AlertReceiver]:
    receiver = AlertReceiver()
    yield receiver
    receiver.httpd.shutdown()
    receiver.httpd.server_close()


def test_the_webhook_alert_sensor_on_a_synced_shop(
    tmp_path: Path, warehouse: ClickHouseResource, instance: DagsterInstance, alerts: AlertReceiver
) -> None:
    account = SimulatedAccount.generate(seed=21, orders=120, events=3, history_days=10, now=ACCOUNT_NOW)
    account.advance(dt.datetime.now(dt.UTC))
    sale = account.place_order(random.Random(1))  # sold now: polling will find it
    today = account.now.astimezone(dt.UTC).date()
    with SimulatorServer(account, token=TOKEN) as server:
        run(server, warehouse, instance, today - dt.timedelta(days=1), today + dt.timedelta(days=1))
    with warehouse.get_client() as client:
        assert newest_polled_sale(client, ORG) == dt.datetime.fromisoformat(sale["payed_at"]).astimezone(dt.UTC)

    path = tmp_path / "webhooks.sqlite"
    settings = settings_with(
        QTICKETS_WEBHOOK_SECRET=SECRET, ZAKAZ_WEBHOOK_QUEUE=str(path), ALERT_WEBHOOK_URL=alerts.url,
        ZAKAZ_WEBHOOK_BAD_SIGNATURES="5", ZAKAZ_WEBHOOK_SILENCE_HOURS="2",
    )  # fmt: skip
    sensor = definitions(settings).resolve_sensor_def("webhook_alert_sensor")
    assert sensor.default_status.value == "RUNNING"
    resources = {"warehouse": warehouse, "quality": QualityResource(org=ORG, timezone=TZ)}

    def tick(cursor: str | None):
        with build_sensor_context(instance=instance, cursor=cursor, resources=resources) as context:
            return sensor.evaluate_tick(context)

    with WebhookQueue(path) as queue:
        queue.add(change(1), received_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=3))
        first = tick(None)
        assert [b["kind"] for b in alerts.bodies] == ["webhook_silence"]
        assert alerts.bodies[0]["details"]["newest_polled_sale_at"] == newest_polled_sale_iso(sale)
        for _ in range(5):
            queue.refuse("signature")
        second = tick(first.cursor)
        assert [b["kind"] for b in alerts.bodies] == ["webhook_silence", "webhook_bad_signatures"]
        tick(second.cursor)  # both incidents still open: nothing new
        assert len(alerts.bodies) == 2
        assert SECRET not in json.dumps(alerts.bodies)
        queue.add(change(2))  # webhooks are back: the silence is over
        third = tick(second.cursor)
    assert len(alerts.bodies) == 2 and WebhookAlertCursor.parse(third.cursor).signature_incident


def newest_polled_sale_iso(sale: dict) -> str:
    return dt.datetime.fromisoformat(sale["payed_at"]).astimezone(dt.UTC).isoformat()
