"""The ``qtickets_webhooks`` sensor: queued deliveries → late-change runs for exactly their
sales days, evaluated as the daemon does (``build_sensor_context`` on a real instance)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import requests
from dagster import (
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    SensorDefinition,
    build_sensor_context,
)

from zakaz_pipeline.defs.jobs import CREATED_FROM_TAG, PRIORITY_TAG, RANGE_END_TAG, RANGE_START_TAG
from zakaz_pipeline.defs.sensors.late_changes import LATE_CHANGES_JOB
from zakaz_pipeline.defs.sensors.webhooks import WEBHOOKS_SENSOR
from zakaz_pipeline.simulator.server import SimulatorServer
from zakaz_pipeline.simulator.shop import SimulatedAccount
from zakaz_pipeline.webhooks.queue import Change, WebhookQueue
from zakaz_pipeline_tests import truth
from zakaz_pipeline_tests.conftest import ACCOUNT_NOW, HISTORY_DAYS, TOKEN
from zakaz_pipeline_tests.harness import (
    SETTINGS,
    TZ,
    definitions,
    history,
    run,
    run_late_changes,
    settings_with,
)
from zakaz_pipeline_tests.test_late_changes import _facts, live_baskets, sales_day
from zakaz_pipeline_tests.test_webhooks import SECRET, deliver, receiver

MOSCOW = ZoneInfo(TZ)


def sensor_for(queue: Path, **env: str) -> SensorDefinition:
    settings = settings_with(ZAKAZ_WEBHOOK_QUEUE=str(queue), QTICKETS_WEBHOOK_SECRET=SECRET, **env)
    return definitions(settings).resolve_sensor_def(WEBHOOKS_SENSOR)


def tick(sensor: SensorDefinition, instance: DagsterInstance, cursor: str | None):
    return sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=cursor))


def requested(result) -> list[tuple[dt.date, dt.date]]:
    return [
        (dt.date.fromisoformat(r.tags[RANGE_START_TAG]), dt.date.fromisoformat(r.tags[RANGE_END_TAG]))
        for r in result.run_requests
    ]


def at(day: dt.date, hour: int, minute: int = 0, tz: dt.tzinfo = MOSCOW) -> str:
    """A Qtickets timestamp on ``day`` at ``hour``:``minute`` in ``tz``."""
    return dt.datetime.combine(day, dt.time(hour, minute), tz).isoformat()


def change(order_id: int, event: str, *, payed: str | None, updated: str, deleted: str | None = None) -> Change:
    return Change(order_id, event, updated, payed, deleted, event == "refunded")


def test_deliveries_become_one_run_per_range_of_their_sales_days(tmp_path: Path, instance) -> None:
    today = dt.datetime.now(MOSCOW).date()
    old, before_history = today - dt.timedelta(days=60), SETTINGS.history_start - dt.timedelta(days=1)
    now = at(today, 0)
    queue_path = tmp_path / "webhooks.sqlite"
    with WebhookQueue(queue_path) as queue:
        for entry in (
            change(1, "created", payed=None, updated=now),  # not paid: on no day yet
            change(1, "payed", payed=at(today - dt.timedelta(days=1), 10), updated=now),
            change(2, "payed", payed=at(today - dt.timedelta(days=1), 12), updated=now),  # same day: same run
            # 22:30 UTC the day before is after midnight in Moscow: today
            change(3, "payed", payed=at(today - dt.timedelta(days=1), 22, 30, dt.UTC), updated=now),
            change(4, "refunded", payed=at(old, 15), updated=now),  # a refund 60 days later: its old day
            change(5, "deleted", payed=None, updated=now, deleted=now),  # deleted before payment: no day
            change(6, "updated", payed=at(before_history, 9), updated=now),  # before the first partition
        ):
            queue.add(entry)
    sensor = sensor_for(queue_path)
    first = tick(sensor, instance, None)
    assert requested(first) == [(old, old), (today - dt.timedelta(days=1), today)]
    assert first.cursor == "7"
    assert all(request.run_key and request.run_key.endswith(":7") for request in first.run_requests)
    assert all(request.tags[PRIORITY_TAG] == "-1" for request in first.run_requests), "behind a person's runs"
    assert sensor.job_name == LATE_CHANGES_JOB

    again = tick(sensor, instance, None)  # the same tick evaluated again: the same run keys, which Dagster runs once
    assert [r.run_key for r in again.run_requests] == [r.run_key for r in first.run_requests]
    quiet = tick(sensor, instance, first.cursor)
    assert not quiet.run_requests and quiet.cursor in (None, first.cursor)

    with WebhookQueue(queue_path) as queue:
        queue.add(change(2, "payed", payed=at(today - dt.timedelta(days=1), 12), updated=now))  # a redelivery
        queue.add(change(7, "refunded", payed=at(old, 16), updated=now))
        newest = queue.after(int(first.cursor))
    assert [entry.change.order_id for entry in newest] == [7], "the redelivery is no entry (it may use up a seq)"
    later = tick(sensor, instance, first.cursor)
    assert requested(later) == [(old, old)]
    assert later.cursor == str(newest[-1].seq)


def test_a_door_scan_reruns_nothing_and_a_run_says_how_far_back_its_orders_were_created(
    tmp_path: Path, instance
) -> None:
    today = dt.datetime.now(MOSCOW).date()
    placed = at(today - dt.timedelta(days=40), 9)
    queue_path = tmp_path / "webhooks.sqlite"
    with WebhookQueue(queue_path) as queue:
        queue.add(Change(1, "checked", at(today, 1), at(today - dt.timedelta(days=2), 10), None, False, placed))
    sensor = sensor_for(queue_path)
    scanned = tick(sensor, instance, None)
    assert not scanned.run_requests and scanned.cursor == "1"
    with WebhookQueue(queue_path) as queue:
        queue.add(Change(2, "payed", at(today, 2), at(today, 2), None, False, placed))
    (request,) = tick(sensor, instance, scanned.cursor).run_requests
    assert requested_days(request) == (today, today)
    assert dt.datetime.fromisoformat(request.tags[CREATED_FROM_TAG]) == dt.datetime.fromisoformat(placed)


def requested_days(request) -> tuple[dt.date, dt.date]:
    return dt.date.fromisoformat(request.tags[RANGE_START_TAG]), dt.date.fromisoformat(request.tags[RANGE_END_TAG])


def test_a_day_a_queued_run_will_read_is_not_requested_again(tmp_path: Path, instance) -> None:
    today = dt.datetime.now(MOSCOW).date()
    queue_path = tmp_path / "webhooks.sqlite"
    with WebhookQueue(queue_path) as queue:
        queue.add(change(1, "payed", payed=at(today, 0), updated=at(today, 0)))
    sensor = sensor_for(queue_path)
    first = tick(sensor, instance, None)
    (request,) = first.run_requests
    # the run the daemon made of it, still waiting in the queue: it has not fetched yet
    job = definitions().resolve_job_def(LATE_CHANGES_JOB)
    instance.create_run_for_job(job, tags=request.tags, status=DagsterRunStatus.NOT_STARTED)
    with WebhookQueue(queue_path) as queue:
        queue.add(change(2, "payed", payed=at(today, 0), updated=at(today, 0)))
    waiting = tick(sensor, instance, first.cursor)
    assert not waiting.run_requests and "already in a queued run" in (waiting.skip_message or "")
    assert waiting.cursor == "2", "the delivery is handled: the queued run reads its day"


def test_without_a_secret_the_sensor_is_stopped_and_an_absent_queue_is_quiet(tmp_path: Path, instance) -> None:
    queue = tmp_path / "nowhere" / "webhooks.sqlite"
    plain = definitions(settings_with(ZAKAZ_WEBHOOK_QUEUE=str(queue), ZAKAZ_SCHEDULE_RUNNING="1"))
    assert plain.resolve_sensor_def(WEBHOOKS_SENSOR).default_status == DefaultSensorStatus.STOPPED
    assert sensor_for(queue).default_status == DefaultSensorStatus.STOPPED  # where the schedule is off
    running = sensor_for(queue, ZAKAZ_SCHEDULE_RUNNING="1")
    assert running.default_status == DefaultSensorStatus.RUNNING
    result = tick(running, instance, None)
    assert not result.run_requests and "no webhook queue" in (result.skip_message or "")
    assert not queue.parent.exists(), "the sensor never creates the queue"


def test_a_webhook_for_a_refund_60_days_later_restates_that_day(tmp_path: Path, warehouse, instance) -> None:
    """Qtickets (a sender signing as it does) reports a refund of an old order; the sensor's
    run re-reads that day, and the warehouse then equals the simulator's ground truth."""
    account = SimulatedAccount.generate(seed=31, orders=500, events=6, history_days=HISTORY_DAYS, now=ACCOUNT_NOW)
    queue_path = tmp_path / "webhooks.sqlite"
    with SimulatorServer(account, token=TOKEN) as server:
        first, last = history(account)
        run(server, warehouse, instance, first, last)
        old = account.now.astimezone(MOSCOW).date() - dt.timedelta(days=60)
        victim = next(
            o
            for o in account.orders
            if o["payed_at"] and not o["deleted_at"] and sales_day(o) <= old and live_baskets(o)
        )
        basket = live_baskets(victim)[0]
        account.advance(account.now + dt.timedelta(minutes=1))
        account.refund_basket(victim["id"], basket["id"], deduction=Decimal(0))
        assert _facts(warehouse) != truth.daily_sales(account, TZ)

        order = account.order(victim["id"])
        body = orjson.dumps({**order, "refunded_baskets": [basket]})
        with receiver(queue_path) as url, requests.Session() as session:
            assert deliver(session, url, body, event="refunded").status_code == 200

        result = tick(sensor_for(queue_path), instance, None)
        assert requested(result) == [(sales_day(victim), sales_day(victim))]
        for request in result.run_requests:
            run_late_changes(server, warehouse, instance, request.tags)
        assert _facts(warehouse) == truth.daily_sales(account, TZ)


def test_no_single_delivery_can_stop_the_sensor(tmp_path: Path, instance) -> None:
    """A signed delivery whose ``payed_at`` exists in its own offset but not in UTC (or whose
    id is past int64) is refused at the door; one that an older receiver queued anyway is
    skipped and counted by the sensor, and the deliveries behind it are handled."""
    today = dt.datetime.now(MOSCOW).date()
    yesterday, now = today - dt.timedelta(days=1), at(today, 0)
    queue_path = tmp_path / "webhooks.sqlite"
    with receiver(queue_path) as url, requests.Session() as session:
        refused = [
            deliver(session, url, orjson.dumps({"id": 1, "updated_at": now, "payed_at": "0001-01-01T00:00:00+14:00"})),
            deliver(session, url, orjson.dumps({"id": 2, "updated_at": now, "payed_at": "9999-12-31T23:59:59-14:00"})),
            deliver(session, url, orjson.dumps({"id": 2**63, "updated_at": now, "payed_at": now})),
        ]
        accepted = deliver(session, url, orjson.dumps({"id": 4, "updated_at": now, "payed_at": at(today, 10)}))
    assert [answer.status_code for answer in refused] == [400, 400, 400]
    assert "between 2000 and 2100" in refused[0].text and "64-bit" in refused[2].text
    assert accepted.status_code == 200
    with WebhookQueue(queue_path) as queue:  # what a receiver without the door's checks let in
        queue.add(change(5, "payed", payed="0001-01-01T00:00:00+14:00", updated=now))
        queue.add(change(6, "payed", payed=at(yesterday, 10), updated=now))
        queue.add(change(7, "updated", payed="9999-12-31T23:59:59-14:00", updated=now))
        last = queue.after(0)[-1].seq
    sensor = sensor_for(queue_path)
    first = tick(sensor, instance, None)
    assert requested(first) == [(yesterday, today)]
    assert first.cursor == str(last), "the cursor moves past the entries it could not read"
    with WebhookQueue(queue_path) as queue:
        queue.add(change(8, "payed", payed="0001-01-01T00:00:00+14:00", updated=now))
    only_bad = tick(sensor, instance, first.cursor)
    assert not only_bad.run_requests and only_bad.cursor == str(last + 1)
    assert "skipped 1 with a payed_at that is no date" in (only_bad.skip_message or "")
