"""The webhook receiver over real HTTP on loopback (uvicorn in a thread, or ``zakaz webhooks``
as a process), fed by a plain Python sender that signs as Qtickets does: what it accepts is
in the SQLite queue, what it refuses leaves nothing there and nothing of the body in the logs."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import hmac
import logging
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests
import uvicorn

from zakaz_pipeline.cli.webhooks import MAX_CONNECTIONS, REQUEST_SECONDS
from zakaz_pipeline.simulator.shop import SimulatedAccount
from zakaz_pipeline.webhooks.app import WEBHOOK_PATH, create_app
from zakaz_pipeline.webhooks.flood import LINES_PER_WINDOW
from zakaz_pipeline.webhooks.queue import Change, WebhookQueue
from zakaz_pipeline.webhooks.server import server_config
from zakaz_pipeline_tests.conftest import ACCOUNT_NOW

SECRET = "webhook-secret-0123456789"
MAX_BYTES = 64 * 1024


@pytest.fixture(scope="module")
def orders() -> list[dict[str, Any]]:
    """Real-shaped orders, buyer data included (the receiver must drop it)."""
    return SimulatedAccount.generate(seed=5, orders=60, events=3, history_days=30, now=ACCOUNT_NOW).orders


def signed(body: bytes, secret: str = SECRET) -> str:
    """The sender's side, written here independently of the product's ``signature.py``."""
    return hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def deliver(
    session: requests.Session,
    url: str,
    body: bytes,
    *,
    event: str = "payed",
    signature: str | None = None,
    model: str = "Order",
) -> requests.Response:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Qtickets-Webhooks/2.0",
        "X-Event-Type": event,
        "X-Model-Name": model,
    }
    if signature != "":
        headers["X-Signature"] = signed(body) if signature is None else signature
    return session.post(url + WEBHOOK_PATH, data=body, headers=headers, timeout=10)


def queued(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as db:
        return db.execute(
            "SELECT order_id, event_type, updated_at, payed_at, deleted_at, refunded FROM deliveries"
        ).fetchall()


def stored_bytes(folder: Path) -> bytes:
    """Everything SQLite wrote (the database, its WAL and shared memory)."""
    return b"".join(path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file())


@contextmanager
def receiver(queue_path: Path) -> Iterator[str]:
    """The app on uvicorn in a thread, on a free loopback port; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    with WebhookQueue(queue_path) as queue:
        app = create_app(SECRET, queue, max_bytes=MAX_BYTES)
        config = server_config(app, max_connections=MAX_CONNECTIONS, request_seconds=REQUEST_SECONDS)
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.started, "uvicorn did not start"
        try:
            yield f"http://127.0.0.1:{sock.getsockname()[1]}"
        finally:
            server.should_exit = True
            thread.join(10)


def test_signed_delivery_is_queued_once_without_buyer_data(tmp_path: Path, orders, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    order = next(o for o in orders if o["payed_at"] and o["payment_card_number"] and o["client"]["details"]["phone"])
    body = orjson.dumps(order)
    queue_path = tmp_path / "queue" / "webhooks.sqlite"
    with receiver(queue_path) as url, requests.Session() as session:
        first = deliver(session, url, body)
        again = deliver(session, url, body)  # Qtickets redelivers when it did not see our 200
        other = deliver(session, url, body, event="updated")
        assert session.get(url + "/healthz", timeout=5).status_code == 200
    assert (first.status_code, again.status_code, other.status_code) == (200, 200, 200)
    assert queued(queue_path) == [
        (order["id"], "payed", order["updated_at"], order["payed_at"], None, 0),
        (order["id"], "updated", order["updated_at"], order["payed_at"], None, 0),
    ]
    stored = stored_bytes(queue_path.parent)
    client = order["client"]
    for personal in (client["email"], client["details"]["phone"], order["payment_card_number"]):
        assert personal.encode() not in stored
    assert client["details"]["surname"].encode() not in stored
    assert SECRET not in caplog.text and client["email"] not in caplog.text


def test_refund_and_deletion_are_recorded(tmp_path: Path, orders) -> None:
    live = [o for o in orders if o["payed_at"] and not o["deleted_at"]]
    refunded, deleted = copy.deepcopy(live[0]), copy.deepcopy(live[1])
    refunded["updated_at"] = "2026-11-30T12:00:00+03:00"
    refunded["refunded_baskets"] = [refunded["baskets"][0]]
    deleted["updated_at"], deleted["deleted_at"] = "2026-11-30T12:01:00+03:00", "2026-11-30T12:01:00+03:00"
    queue_path = tmp_path / "webhooks.sqlite"
    with receiver(queue_path) as url, requests.Session() as session:
        assert deliver(session, url, orjson.dumps(refunded), event="refunded").status_code == 200
        assert deliver(session, url, orjson.dumps(deleted), event="deleted").status_code == 200
    rows = {row[0]: row for row in queued(queue_path)}
    assert rows[refunded["id"]][1:] == ("refunded", refunded["updated_at"], refunded["payed_at"], None, 1)
    assert rows[deleted["id"]][1:] == ("deleted", deleted["updated_at"], deleted["payed_at"], deleted["deleted_at"], 0)


def _refusals(order: dict[str, Any]) -> list[tuple[str, dict[str, Any], int]]:
    body = orjson.dumps(order)
    no_id = orjson.dumps({k: v for k, v in order.items() if k != "id"})
    text_id = orjson.dumps({**order, "id": str(order["id"])})
    bad_time = orjson.dumps({**order, "payed_at": "yesterday"})
    before_utc = orjson.dumps({**order, "payed_at": "0001-01-01T00:00:00+14:00"})  # the year 0 in UTC
    after_utc = orjson.dumps({**order, "updated_at": "9999-12-31T23:59:59-14:00"})  # the year 10000 in UTC
    oversized = orjson.dumps({**order, "custom": "x" * MAX_BYTES})
    return [
        ("unsigned", {"body": body, "signature": ""}, 401),
        ("wrong secret", {"body": body, "signature": signed(body, "another-secret-0123456789")}, 401),
        ("tampered body", {"body": body.replace(b'"price"', b'"prize"'), "signature": signed(body)}, 401),
        ("not hex", {"body": body, "signature": "ü" * 40}, 401),
        ("wrong model", {"body": body, "model": "Event"}, 400),
        ("no event type", {"body": body, "event": ""}, 400),
        ("not JSON", {"body": b"<html>" + order["client"]["email"].encode()}, 400),
        ("a list", {"body": orjson.dumps([order])}, 400),
        ("no id", {"body": no_id}, 400),
        ("text id", {"body": text_id}, 400),
        ("bad payed_at", {"body": bad_time}, 400),
        ("payed_at before the calendar in UTC", {"body": before_utc}, 400),
        ("updated_at after the calendar in UTC", {"body": after_utc}, 400),
        ("id 2^63", {"body": orjson.dumps({**order, "id": 2**63})}, 400),
        ("id 2^64 - 1", {"body": orjson.dumps({**order, "id": 2**64 - 1})}, 400),
        (
            "id 2^64",
            {"body": orjson.dumps({**order, "id": 0}).replace(b'"id":0,', b'"id":18446744073709551616,', 1)},
            400,
        ),
        ("oversized", {"body": oversized}, 413),
    ]


def test_refused_deliveries_store_and_log_nothing_of_the_body(tmp_path: Path, orders, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    order = orders[3]
    queue_path = tmp_path / "webhooks.sqlite"
    with receiver(queue_path) as url, requests.Session() as session:
        for name, kwargs, status in _refusals(order):
            answer = deliver(session, url, **kwargs)
            assert answer.status_code == status, name
            assert order["client"]["email"] not in answer.text, name
        chunked = session.post(
            url + WEBHOOK_PATH,
            data=iter([b"{" + b" " * 1024] * 80),  # no Content-Length: counted as it streams
            headers={"X-Signature": "0" * 40, "X-Model-Name": "Order", "X-Event-Type": "payed"},
            timeout=10,
        )
        assert chunked.status_code == 413
    assert queued(queue_path) == []
    with WebhookQueue(queue_path) as queue:  # counted by the minute, written when the receiver stopped at the latest
        reasons = queue.stats(dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).refusals
    assert reasons == {"signature": 4, "body": 12, "size": 2}
    stored = stored_bytes(tmp_path)
    assert order["client"]["email"].encode() not in stored and b"<html>" not in stored
    assert order["client"]["email"] not in caplog.text and "<html>" not in caplog.text
    assert SECRET not in caplog.text
    refusals = len(_refusals(order)) + 1
    assert caplog.text.count("refused a webhook delivery from 127.0.0.1") == LINES_PER_WINDOW, "a few, one by one"
    assert f"{refusals - LINES_PER_WINDOW} more like 'refused a webhook delivery from %s: %d, %s'" in caplog.text


def _variant(order: dict[str, Any], n: int) -> bytes:
    """The n-th change of an order (a distinct ``updated_at``): a distinct queue entry."""
    return orjson.dumps(
        {**order, "updated_at": f"2026-11-30T{n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d}+03:00"}
    )


def test_a_burst_of_2000_deliveries_is_all_queued(tmp_path: Path, orders) -> None:
    bodies = [_variant(orders[n % len(orders)], n) for n in range(2000)]
    queue_path = tmp_path / "webhooks.sqlite"
    with receiver(queue_path) as url:

        def send(chunk: list[bytes]) -> list[int]:
            with requests.Session() as session:
                return [deliver(session, url, body).status_code for body in chunk]

        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            statuses = [s for chunk in pool.map(send, [bodies[i::8] for i in range(8)]) for s in chunk]
        elapsed = time.monotonic() - started
    assert statuses == [200] * 2000
    assert len(queued(queue_path)) == 2000
    assert elapsed < 60, f"2,000 deliveries took {elapsed:.1f} s: slower than the vendor's 2,000 a minute"


def _start_receiver(queue_path: Path) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "QTICKETS_WEBHOOK_SECRET": SECRET, "ZAKAZ_WEBHOOK_QUEUE": str(queue_path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "zakaz_pipeline.cli", "webhooks", "--port", "0"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    for line in process.stderr:  # the first line names the address (the port was free: --port 0)
        found = re.search(r"at (http://127\.0\.0\.1:\d+)/", line)
        if found:
            return process, found.group(1)
    raise AssertionError(f"zakaz webhooks exited {process.wait()} without listening")


def test_killed_mid_burst_keeps_every_acknowledged_delivery(tmp_path: Path, orders) -> None:
    bodies = [_variant(orders[n % len(orders)], n) for n in range(1200)]
    acknowledged: set[bytes] = set()
    lock = threading.Lock()
    queue_path = tmp_path / "webhooks.sqlite"
    process, url = _start_receiver(queue_path)

    def send(chunk: list[bytes]) -> list[bytes]:
        """Like Qtickets: a delivery without a 200 (refused connection, cut answer) is kept to resend."""
        unsent = []
        with requests.Session() as session:
            for body in chunk:
                try:
                    ok = deliver(session, url, body).status_code == 200
                except (
                    requests.ConnectionError,
                    requests.exceptions.ChunkedEncodingError,
                ):  # refused, or cut mid-answer
                    ok = False
                if ok:
                    with lock:
                        acknowledged.add(body)
                else:
                    unsent.append(body)
        return unsent

    try:
        with ThreadPoolExecutor(6) as pool:
            pending = [pool.submit(send, bodies[i::6]) for i in range(6)]
            deadline = time.monotonic() + 60
            while len(acknowledged) < 300 and time.monotonic() < deadline:
                time.sleep(0.005)
            process.send_signal(signal.SIGKILL)
            process.wait(10)
            unsent = [body for future in pending for body in future.result()]
        assert len(acknowledged) >= 300 and unsent, "the kill landed mid-burst"
        entries = {(row[0], row[2]) for row in queued(queue_path)}
        for body in acknowledged:
            order = orjson.loads(body)
            assert (order["id"], order["updated_at"]) in entries
        process, url = _start_receiver(queue_path)  # restarted on the same queue: the rest is delivered
        assert not send(unsent)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0
    assert len(queued(queue_path)) == len(bodies)


def test_queue_keeps_entries_a_bounded_time(tmp_path: Path) -> None:
    now = dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC)
    with WebhookQueue(tmp_path / "q.sqlite", retention=dt.timedelta(days=7)) as queue:
        for n, age in enumerate((8, 6, 0)):
            change = Change(n + 1, "payed", f"2026-11-2{n}T10:00:00+03:00", None, None, False)
            assert queue.add(change, received_at=now - dt.timedelta(days=age))
        assert [entry.change.order_id for entry in queue.after(0)] == [2, 3], "the receiver prunes as it goes"
        queue.refuse("signature", at=now - dt.timedelta(days=6))
        later = now + dt.timedelta(days=2)
        assert queue.stats(refusals_since=now - dt.timedelta(days=30)).refusals == {"signature": 1}
        assert queue.prune(later) == 1
        stats = queue.stats(refusals_since=now - dt.timedelta(days=30))
        assert (stats.entries, stats.refusals, stats.last_received_at) == (1, {}, now)
        last = queue.after(0)[-1].seq
        assert queue.add(Change(9, "payed", "2026-11-30T10:00:00+03:00", None, None, False), received_at=later)
        assert queue.after(last)[0].seq == last + 1, "sequence numbers are never reused"


def test_bad_settings_are_named_without_echoing_the_secret(tmp_path: Path) -> None:
    def zakaz_webhooks(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        clean = {k: v for k, v in os.environ.items() if k != "QTICKETS_WEBHOOK_SECRET"}
        return subprocess.run(
            [sys.executable, "-m", "zakaz_pipeline.cli", "webhooks", *args],
            env={**clean, "ZAKAZ_WEBHOOK_QUEUE": str(tmp_path / "q.sqlite"), **env},
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    unset = zakaz_webhooks()
    assert unset.returncode == 2 and "QTICKETS_WEBHOOK_SECRET is not set" in unset.stderr
    short = zakaz_webhooks(QTICKETS_WEBHOOK_SECRET="tiny-secret")
    assert short.returncode == 2 and "QTICKETS_WEBHOOK_SECRET must be at least 16" in short.stderr
    assert "tiny-secret" not in short.stderr
    fraction = zakaz_webhooks(QTICKETS_WEBHOOK_SECRET=SECRET, ZAKAZ_WEBHOOK_MAX_BYTES="0.5")
    assert fraction.returncode == 2 and "ZAKAZ_WEBHOOK_MAX_BYTES='0.5' must be a whole number" in fraction.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = zakaz_webhooks("--port", str(taken.getsockname()[1]), QTICKETS_WEBHOOK_SECRET=SECRET)
    assert busy.returncode == 2 and "--host/--port" in busy.stderr
    assert "Traceback" not in unset.stderr + short.stderr + fraction.stderr + busy.stderr
    assert not (tmp_path / "q.sqlite").exists(), "nothing is created before the settings are good"


def test_a_queue_with_a_row_per_refusal_is_folded_into_counts_per_minute(tmp_path: Path) -> None:
    """A queue file an earlier receiver wrote (a ``refusals`` row per request) keeps its
    counts when a newer receiver or sensor opens it, and then grows by minutes, not requests."""
    path = tmp_path / "webhooks.sqlite"
    now = dt.datetime.now(dt.UTC).replace(second=30)
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE refusals (at TEXT NOT NULL, reason TEXT NOT NULL)")
        stamps = [(now - dt.timedelta(seconds=s)).isoformat(timespec="microseconds") for s in (0, 10, 20, 90)]
        db.executemany(
            "INSERT INTO refusals VALUES (?, ?)", [(at, "signature") for at in stamps] + [(stamps[0], "size")]
        )
    with WebhookQueue(path) as queue:
        assert queue.stats(now - dt.timedelta(hours=1)).refusals == {"signature": 4, "size": 1}
        for _ in range(100):
            queue.refuse("signature", at=now)
        assert queue.stats(now - dt.timedelta(hours=1)).refusals == {"signature": 104, "size": 1}
    with sqlite3.connect(path) as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        (rows,) = db.execute("SELECT count(*) FROM refusal_counts").fetchone()
    assert "refusals" not in tables and rows == 3, "two minutes of signatures, one of sizes"
