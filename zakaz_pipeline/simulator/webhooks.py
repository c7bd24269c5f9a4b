"""The simulated account's changes pushed to a seller's URL as Qtickets' signed webhooks.

What the vendor sends (QTICKETS_API.md, "Webhooks"), byte for byte as the simulator's API
would answer the same order: ``POST`` of the order's JSON (``GET /orders/{id}``'s ``data``;
a refund adds ``refunded_baskets``) with ``X-Event-Type`` (``created``, ``payed``,
``updated``, ``deleted``, ``refunded``, ``checked`` for a door scan), ``X-Model-Name: Order``, ``User-Agent:
Qtickets-Webhooks/2.0`` and ``X-Signature``, the hex HMAC-SHA1 of the raw body keyed with
the shared secret. Only an HTTP 200 counts as delivered; the vendor makes 10 attempts in all,
the n-th retry n³ seconds after the failed attempt (about 34 minutes in all), and then
never again. A ``WebhookPlan`` scales those waits down for tests and adds the
misbehaviour a receiver must survive, drawn from its seed: changes delivered twice,
changes delivered late, attempts signed with the wrong key.

The account calls ``WebhookSender.enqueue`` under its lock (``SimulatedAccount.subscribe``),
so enqueueing only encodes the body and queues it, never waiting; the changes in hand
(queued or awaiting a retry) are bounded, and past the bound a change is dropped (counted, as a lost delivery is a real thing) and
the shop goes on. One background thread sends, keeping the retries' schedule in a heap, so
a failing delivery waits its turn without holding up the others. urllib3 sends each
attempt without retries of its own: the vendor's schedule (n³ seconds, late and duplicate
deliveries) is not a back-off urllib3's ``Retry`` can express, and a ``Retry`` would sleep
in the one sending thread.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import itertools
import logging
import queue
import random
import threading
import time
from dataclasses import dataclass, field, fields
from typing import Any, Self

import orjson
import urllib3

from zakaz_pipeline.simulator.shop import SimulatedAccount

logger = logging.getLogger(__name__)

USER_AGENT = "Qtickets-Webhooks/2.0"
MODEL_NAME = "Order"
EVENT_TYPES = ("created", "payed", "updated", "deleted", "refunded", "checked")
# 10 attempts in all (the vendor's documentation): the first and 9 retries.
VENDOR_RETRIES = 9
QUEUE_SIZE = 10_000
DUPLICATE_AFTER_SECONDS = 5.0  # a redelivery follows the 200 the vendor did not see
REQUEST_TIMEOUT_SECONDS = 10.0
IDLE_POLL_SECONDS = 0.2


def sign(body: bytes, secret: str) -> str:
    """``X-Signature``: the hex HMAC-SHA1 of the raw body keyed with the shared secret."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha1).hexdigest()


def webhook_body(order: dict[str, Any], refunded: list[dict[str, Any]]) -> bytes:
    """The order's JSON as ``GET /orders/{id}`` gives it, plus ``refunded_baskets`` for a refund."""
    return orjson.dumps({**order, "refunded_baskets": refunded} if refunded else order)


@dataclass(frozen=True)
class WebhookPlan:
    """How deliveries go: the vendor's retries, and seeded misbehaviour.

    ``duplicate``: share of changes delivered a second time after their 200; ``late``: share
    whose first attempt waits ``late_seconds``; ``bad_signature``: share of attempts signed
    with a wrong key (the receiver must refuse them; a retry is signed afresh). ``time_scale``
    multiplies every wait (retries, late, duplicates): 1 is the vendor's clock, tests use
    a thousandth. ``retries`` after the first attempt, the n-th after n³ seconds.
    """

    seed: int = 1
    duplicate: float = 0.0
    late: float = 0.0
    bad_signature: float = 0.0
    late_seconds: float = 120.0
    time_scale: float = 1.0
    retries: int = VENDOR_RETRIES

    def __post_init__(self) -> None:
        for name in ("duplicate", "late", "bad_signature"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name}={getattr(self, name)} must be a share between 0 and 1")
        if self.late_seconds < 0 or self.time_scale <= 0 or self.retries < 0:
            raise ValueError("late_seconds and retries must be 0 or more, time_scale above 0")

    @classmethod
    def parse(cls, spec: str) -> WebhookPlan:
        """``seed=7,duplicate=0.1,late=0.05,bad_signature=0.02,late_seconds=30,time_scale=1,retries=9``."""
        known = {f.name: f.type for f in fields(cls)}
        values: dict[str, Any] = {}
        for item in filter(None, (part.strip() for part in spec.split(","))):
            name, _, raw = item.partition("=")
            name = name.strip()
            if name not in known:
                raise ValueError(f"unknown webhook plan field {name!r}; known: {', '.join(known)}")
            try:
                values[name] = int(raw) if name in ("seed", "retries") else float(raw)
            except ValueError:
                raise ValueError(f"webhook plan field {name}={raw!r} is not a number") from None
        return cls(**values)

    def retry_delay(self, retry: int) -> float:
        """Seconds before the ``retry``-th retry (1-based): n³ on the vendor's clock."""
        return retry**3 * self.time_scale


@dataclass(frozen=True)
class Attempt:
    """One POST as sent: ``status`` None when the receiver could not be reached;
    ``signed`` False when the plan signed it with a wrong key; ``duplicate`` for a redelivery."""

    order_id: int
    event_type: str
    attempt: int
    status: int | None
    signed: bool
    duplicate: bool
    sent_at: float  # time.monotonic()


@dataclass
class _Message:
    order_id: int
    event_type: str
    body: bytes
    changed_at: float
    redeliveries: int
    attempts: int = 0
    duplicate: bool = False


@dataclass
class DeliveryStats:
    """Counts so far: changes queued, dropped by a full queue, answers 200 (a redelivery counts
    again), changes given up after the last retry; and every attempt, in the order sent."""

    queued: int = 0
    dropped: int = 0
    delivered: int = 0
    given_up: int = 0
    attempts: list[Attempt] = field(default_factory=list)


class WebhookSender:
    """Delivers ``account``'s changes to ``url`` from a daemon thread between ``start`` and ``stop``."""

    def __init__(
        self,
        account: SimulatedAccount,
        *,
        url: str,
        secret: str,
        plan: WebhookPlan | None = None,
        queue_size: int = QUEUE_SIZE,
        timeout: float = REQUEST_TIMEOUT_SECONDS,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook URL {url!r} must be http(s)")
        if not secret:
            raise ValueError("a webhook secret is needed to sign deliveries")
        self.account = account
        self.url = url
        self.plan = plan or WebhookPlan()
        self.stats = DeliveryStats()
        self._secret = secret
        self._capacity = queue_size
        self._queue: queue.SimpleQueue[_Message] = queue.SimpleQueue()
        self._due: list[tuple[float, int, _Message]] = []
        self._order = itertools.count()
        self._change_rng = random.Random(f"{self.plan.seed}:changes")
        self._pool = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(total=timeout), maxsize=1)
        self._lock = threading.Condition()
        self._outstanding = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._unsubscribe: Any = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Self:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="qtickets-webhooks", daemon=True)
        self._thread.start()
        self._unsubscribe = self.account.subscribe(self.enqueue)
        logger.debug("delivering webhooks of the simulated account to %s", self.url)
        return self

    def stop(self) -> None:
        """Stop listening and sending; what is still queued or waiting to be retried is dropped."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._pool.clear()

    def enqueue(self, event_type: str, order: dict[str, Any], refunded: list[dict[str, Any]]) -> None:
        """The account's listener (called under its lock): encode and queue, never wait."""
        late = self._change_rng.random() < self.plan.late
        redeliveries = 1 if self._change_rng.random() < self.plan.duplicate else 0
        wait = self.plan.late_seconds * self.plan.time_scale if late else 0.0
        message = _Message(
            order["id"], event_type, webhook_body(order, refunded), time.monotonic() + wait, redeliveries
        )
        with self._lock:
            if self._outstanding >= self._capacity:
                self.stats.dropped += 1
                logger.warning("webhook queue full: %s of order %d not delivered", event_type, order["id"])
                return
            self.stats.queued += 1
            self._outstanding += 1
        self._queue.put_nowait(message)

    @property
    def in_hand(self) -> int:
        """Changes queued or awaiting a retry (at most ``queue_size``)."""
        with self._lock:
            return self._outstanding

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every queued change is delivered or given up; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._outstanding:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(min(left, IDLE_POLL_SECONDS))
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            wait = min(self._due[0][0] - now, IDLE_POLL_SECONDS) if self._due else IDLE_POLL_SECONDS
            try:
                message = self._queue.get(timeout=max(wait, 0.0)) if wait > 0 else self._queue.get_nowait()
                self._schedule(message, message.changed_at)
                continue  # take every queued change before sending what is due
            except queue.Empty:
                pass
            while self._due and self._due[0][0] <= time.monotonic() and not self._stop.is_set():
                self._send(heapq.heappop(self._due)[2])

    def _schedule(self, message: _Message, due: float) -> None:
        heapq.heappush(self._due, (due, next(self._order), message))

    def _send(self, message: _Message) -> None:
        message.attempts += 1
        # Drawn from the attempt itself, not from a shared stream: which attempt is sent
        # first depends on the clock, whether it is signed badly must not.
        draw = random.Random(
            f"{self.plan.seed}:{message.order_id}:{message.event_type}:{message.attempts}:{message.duplicate}"
        )
        signed = not draw.random() < self.plan.bad_signature
        key = self._secret if signed else f"wrong-{self._secret}"
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Event-Type": message.event_type,
            "X-Model-Name": MODEL_NAME,
            "X-Signature": sign(message.body, key),
        }
        status: int | None
        try:
            status = self._pool.request("POST", self.url, body=message.body, headers=headers, redirect=False).status
        except urllib3.exceptions.HTTPError:
            status = None
        attempt = Attempt(
            message.order_id, message.event_type, message.attempts, status, signed, message.duplicate, time.monotonic()
        )
        logger.debug(
            "webhook %s of order %d, attempt %d: %s", message.event_type, message.order_id, message.attempts, status
        )
        with self._lock:
            self.stats.attempts.append(attempt)
        if status == 200:
            self._delivered(message)
        elif message.attempts <= self.plan.retries:
            self._schedule(message, time.monotonic() + self.plan.retry_delay(message.attempts))
        else:
            logger.warning(
                "webhook %s of order %d given up after %d attempts (last: %s)",
                message.event_type,
                message.order_id,
                message.attempts,
                status or "no connection",
            )
            self._finish(given_up=True)

    def _delivered(self, message: _Message) -> None:
        with self._lock:
            self.stats.delivered += 1
        if message.redeliveries:
            message.redeliveries -= 1
            message.attempts, message.duplicate = 0, True
            self._schedule(message, time.monotonic() + DUPLICATE_AFTER_SECONDS * self.plan.time_scale)
            return
        self._finish(given_up=False)

    def _finish(self, *, given_up: bool) -> None:
        with self._lock:
            if given_up:
                self.stats.given_up += 1
            self._outstanding -= 1
            self._lock.notify_all()
