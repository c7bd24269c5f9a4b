"""The simulator's webhook deliveries, received over real HTTP by a tiny local receiver.

The receiver here is a test double of the seller's endpoint (``http.server`` is fine in a
test): it records every POST as it arrived and verifies the signature itself, answering
401 to a bad one as the real receiver must. Bodies are compared with what the simulator's
API answers for the same order, so a delivery is the vendor's shape or the test fails.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import itertools
import random
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest

from zakaz_pipeline.simulator.server import SimulatorServer
from zakaz_pipeline.simulator.shop import SimulatedAccount, ticket_is_live
from zakaz_pipeline.simulator.webhooks import WebhookPlan, WebhookSender, sign
from zakaz_pipeline.webhooks.app import WEBHOOK_PATH
from zakaz_pipeline.webhooks.queue import WebhookQueue
from zakaz_pipeline_tests.conftest import ACCOUNT_NOW, TOKEN
from zakaz_pipeline_tests.test_webhooks import SECRET as RECEIVER_SECRET
from zakaz_pipeline_tests.test_webhooks import receiver as real_receiver

SECRET = "test-webhook-secret-0123456789"
FAST = 0.0002  # time_scale: the vendor's 50 minutes of retries in about 0.6 s


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float
    valid: bool


@dataclass
class Receiver:
    """Answers ``fail_first`` POSTs with 503, then 200 to a valid signature, 401 otherwise."""

    url: str = ""
    fail_first: int = 0
    always: int | None = None
    delay: float = 0.0
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, headers: dict[str, str], body: bytes) -> int:
        expected = hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest()
        valid = hmac.compare_digest(headers.get("X-Signature", ""), expected)
        with self.lock:
            self.received.append(Received(headers, body, time.monotonic(), valid))
            count = len(self.received)
        time.sleep(self.delay)
        if self.always is not None:
            return self.always
        if count <= self.fail_first:
            return 503
        return 200 if valid else 401

    def accepted(self) -> list[Received]:
        return [r for r in self.received if r.valid]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status = state.answer(dict(self.headers.items()), body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/qtickets/webhook"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def account() -> SimulatedAccount:
    return SimulatedAccount.generate(seed=5, orders=80, events=3, history_days=30, now=ACCOUNT_NOW)


def api_order(server: SimulatorServer, order_id: int) -> bytes:
    """``GET /orders/{id}``'s ``data``, re-encoded as the API encodes it."""
    request = urllib.request.Request(
        f"{server.base_url}/orders/{order_id}", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        return orjson.dumps(orjson.loads(answer.read())["data"])


def paid_order_with_live_ticket(account: SimulatedAccount) -> tuple[dict, dict]:
    for order in account.orders:
        if order["payed"] and order["deleted_at"] is None:
            for basket in order["baskets"]:
                if ticket_is_live(order, basket):
                    return order, basket
    raise AssertionError("the account has no live paid ticket")


def test_a_sale_and_a_refund_arrive_signed_in_the_vendors_shape(account: SimulatedAccount, receiver: Receiver) -> None:
    with (
        SimulatorServer(account, token=TOKEN) as api,
        WebhookSender(account, url=receiver.url, secret=SECRET) as sender,
    ):
        order = account.place_order(random.Random(1))
        assert sender.wait_idle(5)
        sale = api_order(api, order["id"])
        old, basket = paid_order_with_live_ticket(account)
        account.refund_basket(old["id"], basket["id"], deduction=Decimal(0))
        assert sender.wait_idle(5)
        refunded = api_order(api, old["id"])

    assert [r.headers["X-Event-Type"] for r in receiver.received] == ["created", "payed", "refunded"]
    for delivery in receiver.received:
        assert delivery.headers["X-Model-Name"] == "Order"
        assert delivery.headers["User-Agent"] == "Qtickets-Webhooks/2.0"
        assert delivery.headers["Content-Type"] == "application/json"
        assert delivery.headers["X-Signature"] == hmac.new(SECRET.encode(), delivery.body, hashlib.sha1).hexdigest()
        assert delivery.valid
    assert receiver.received[0].body == receiver.received[1].body == sale
    refund = orjson.loads(receiver.received[2].body)
    assert [b["id"] for b in refund.pop("refunded_baskets")] == [basket["id"]]
    assert orjson.dumps(refund) == refunded
    assert refund["baskets"][[b["id"] for b in refund["baskets"]].index(basket["id"])]["refunded_at"] is not None
    assert sender.stats.delivered == 3 and sender.stats.given_up == 0 and sender.stats.dropped == 0


def test_payment_and_cancellations_carry_their_event_types(account: SimulatedAccount, receiver: Receiver) -> None:
    pending = next(o for o in account.orders if not o["payed"] and o["deleted_at"] is None)
    other, basket = paid_order_with_live_ticket(account)
    with WebhookSender(account, url=receiver.url, secret=SECRET) as sender:
        account.pay_order(pending["id"])
        account.cancel_basket(other["id"], basket["id"])
        account.cancel_order(other["id"])
        assert sender.wait_idle(5)
    kinds = [(orjson.loads(r.body)["id"], r.headers["X-Event-Type"]) for r in receiver.received]
    assert kinds == [(pending["id"], "payed"), (other["id"], "updated"), (other["id"], "deleted")]
    assert orjson.loads(receiver.received[0].body)["payed_at"] is not None
    assert orjson.loads(receiver.received[2].body)["deleted_at"] is not None


def test_a_failed_delivery_is_retried_on_the_vendors_cubic_schedule(
    account: SimulatedAccount, receiver: Receiver
) -> None:
    receiver.fail_first = 3
    plan = WebhookPlan(time_scale=0.01)
    old, basket = paid_order_with_live_ticket(account)
    with WebhookSender(account, url=receiver.url, secret=SECRET, plan=plan) as sender:
        account.refund_basket(old["id"], basket["id"])
        assert sender.wait_idle(10)
    assert [a.status for a in sender.stats.attempts] == [503, 503, 503, 200]
    arrivals = [r.at for r in receiver.received]
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    for retry, gap in enumerate(gaps, start=1):
        assert gap >= plan.retry_delay(retry)  # 0.01 s, 0.08 s, 0.27 s
    assert len({r.body for r in receiver.received}) == 1


def test_after_ten_attempts_in_all_the_change_is_given_up(account: SimulatedAccount, receiver: Receiver) -> None:
    receiver.always = 500
    with WebhookSender(account, url=receiver.url, secret=SECRET, plan=WebhookPlan(time_scale=FAST)) as sender:
        account.place_order(random.Random(2))
        assert sender.wait_idle(10)
    assert len(receiver.received) == 2 * 10  # created and payed: 10 attempts each, as the vendor documents
    assert sender.stats.given_up == 2 and sender.stats.delivered == 0
    assert sum(WebhookPlan().retry_delay(n) for n in range(1, 10)) == 2025  # n³ s after the n-th failure: 34 minutes


def test_only_a_200_counts_and_an_unreachable_receiver_is_retried(account: SimulatedAccount) -> None:
    plan = WebhookPlan(time_scale=FAST, retries=2)
    with WebhookSender(account, url="http://127.0.0.1:9/qtickets/webhook", secret=SECRET, plan=plan) as sender:
        account.place_order(random.Random(3))
        assert sender.wait_idle(10)
    assert [a.status for a in sender.stats.attempts] == [None] * 6
    assert sender.stats.given_up == 2


def test_seeded_duplicates_late_deliveries_and_bad_signatures(account: SimulatedAccount, receiver: Receiver) -> None:
    plan = WebhookPlan(seed=4, duplicate=0.3, late=0.3, bad_signature=0.3, late_seconds=200, time_scale=FAST * 5)
    rng = random.Random(9)
    with WebhookSender(account, url=receiver.url, secret=SECRET, plan=plan) as sender:
        placed = [account.place_order(rng)["id"] for _ in range(20)]
        assert sender.wait_idle(20)
    attempts = sender.stats.attempts
    bad = [a for a in attempts if not a.signed]
    assert bad and all(a.status == 401 for a in bad)
    assert len(bad) == sum(not r.valid for r in receiver.received)
    # every change got through in the end: a bad signature is retried, signed afresh
    accepted = {(orjson.loads(r.body)["id"], r.headers["X-Event-Type"]) for r in receiver.accepted()}
    assert accepted == {(order_id, kind) for order_id in placed for kind in ("created", "payed")}
    duplicates = [a for a in attempts if a.duplicate and a.status == 200]
    assert duplicates and len(receiver.accepted()) == 40 + len(duplicates)
    assert sender.stats.given_up == 0
    # a late change arrives after the ones queued behind it: not in the order of the changes
    first_arrivals = {}
    for r in receiver.received:
        first_arrivals.setdefault((orjson.loads(r.body)["id"], r.headers["X-Event-Type"]), r.at)
    payed_order = [
        order_id for (order_id, kind), _ in sorted(first_arrivals.items(), key=lambda i: i[1]) if kind == "payed"
    ]
    assert payed_order != placed

    # the same seed and the same changes misbehave the same way
    again = SimulatedAccount.generate(seed=5, orders=80, events=3, history_days=30, now=account.now)
    receiver.received.clear()
    rng = random.Random(9)
    with WebhookSender(again, url=receiver.url, secret=SECRET, plan=plan) as replay:
        for _ in range(20):
            again.place_order(rng)
        assert replay.wait_idle(20)
    assert sorted(
        (a.order_id, a.event_type, a.attempt, a.signed, a.duplicate) for a in replay.stats.attempts
    ) == sorted((a.order_id, a.event_type, a.attempt, a.signed, a.duplicate) for a in attempts)


def test_a_slow_receiver_never_blocks_the_shop(account: SimulatedAccount, receiver: Receiver) -> None:
    receiver.delay = 0.5
    rng = random.Random(4)
    with WebhookSender(account, url=receiver.url, secret=SECRET, queue_size=4) as sender:
        for _ in range(10):
            account.place_order(rng)
        assert sender.stats.queued + sender.stats.dropped == 20
    # At most 4 changes in hand, the rest dropped: a shop that waited for the receiver's
    # answers (0.5 s each) would have dropped none. Counted, not timed: a busy machine is slow.
    assert (sender.stats.queued, sender.stats.dropped) == (4, 16)


def test_listening_does_not_change_the_account(receiver: Receiver) -> None:
    plain = SimulatedAccount.generate(seed=5, orders=80, events=3, history_days=30, now=ACCOUNT_NOW)
    heard = SimulatedAccount.generate(seed=5, orders=80, events=3, history_days=30, now=plain.now)
    with WebhookSender(heard, url=receiver.url, secret=SECRET) as sender:
        for shop in (plain, heard):
            shop.place_order(random.Random(6))
            shop.cancel_order(shop.orders[3]["id"])
        assert sender.wait_idle(5)
    assert orjson.dumps(plain.orders) == orjson.dumps(heard.orders)
    assert plain.seats == heard.seats


def test_plan_spec_and_signature() -> None:
    plan = WebhookPlan.parse("seed=7, duplicate=0.1,late=0.05,bad_signature=0.02,late_seconds=30,time_scale=0.5")
    assert plan == WebhookPlan(seed=7, duplicate=0.1, late=0.05, bad_signature=0.02, late_seconds=30, time_scale=0.5)
    assert plan.retry_delay(3) == 13.5
    with pytest.raises(ValueError, match="unknown webhook plan field 'dup'"):
        WebhookPlan.parse("dup=1")
    with pytest.raises(ValueError, match=r"duplicate=2\.0 must be a share"):
        WebhookPlan.parse("duplicate=2")
    # the vendor's documented example: HMAC-SHA1 hex of the raw body
    assert sign(b'{"id":1}', "secret") == hmac.new(b"secret", b'{"id":1}', hashlib.sha1).hexdigest()


def test_the_real_receiver_queues_each_change_once_and_refuses_the_badly_signed(
    account: SimulatedAccount, tmp_path: Path
) -> None:
    """The simulator against ``zakaz webhooks``' own app (uvicorn on loopback): what the
    sender delivers, duplicates and bad signatures included, is what the queue holds."""
    path = tmp_path / "webhooks.sqlite"
    plan = WebhookPlan(seed=3, duplicate=0.5, bad_signature=0.3, time_scale=FAST)
    old, basket = paid_order_with_live_ticket(account)
    with (
        real_receiver(path) as base,
        WebhookSender(account, url=base + WEBHOOK_PATH, secret=RECEIVER_SECRET, plan=plan) as sender,
    ):
        rng = random.Random(8)
        placed = [account.place_order(rng)["id"] for _ in range(5)]
        account.refund_basket(old["id"], basket["id"])
        assert sender.wait_idle(20)
    attempts = sender.stats.attempts
    assert any(a.duplicate for a in attempts) and any(not a.signed for a in attempts)
    assert all((a.status == 200) == a.signed for a in attempts)  # 401 for each bad signature, 200 otherwise
    with WebhookQueue(path) as queue:
        entries = queue.after(0)
        refused = queue.stats(dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).refusals
    expected = {(order_id, kind) for order_id in placed for kind in ("created", "payed")} | {(old["id"], "refunded")}
    assert sorted((e.change.order_id, e.change.event_type) for e in entries) == sorted(expected)  # each once
    refund = next(e.change for e in entries if e.change.event_type == "refunded")
    assert refund.refunded and refund.updated_at == account.order(old["id"])["updated_at"]
    assert refused == {"signature": sum(not a.signed for a in attempts)}
