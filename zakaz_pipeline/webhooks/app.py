"""The receiver's ASGI app (Starlette, served by uvicorn: ``zakaz webhooks``).

``POST /qtickets/webhook`` takes one Qtickets delivery. In this order, and storing nothing of
a refused delivery but a count of its kind of refusal (``flood.RefusalTally``, written to the
queue every few seconds):

1. 413 when ``Content-Length`` is past the cap, or the body turns out to be while it streams
   in (a chunked body has no length to trust);
2. 401 when ``X-Signature`` is missing or is not the HMAC-SHA1 of the raw bytes with the
   secret (``signature.py``, constant time) — nothing is parsed before this;
3. 400 when the delivery is not an order: ``X-Model-Name`` is not ``Order``, ``X-Event-Type``
   is not a word, the body is not a JSON object with an integer ``id`` (1 to 2⁶³−1) and an
   ``updated_at``, or a timestamp is not ISO-8601 between 2000 and 2100 — so nothing queued
   can stop the sensor that reads it;
4. otherwise the change (``queue.Change``: no buyer data) is committed to the queue, and only
   then 200 — a redelivery of the same change too, since Qtickets must stop retrying it.

``GET /healthz`` is 200 while the queue file answers. Neither the body nor the secret is ever
logged: a refusal logs its status, reason and the peer's address, and a connection closed
mid-body one line without a traceback — each kind a few times a minute at most, the rest
counted in one line a minute (``flood.LineBudget``). The limits on connections and on the
time a request may take to arrive are the server's (``server.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import re
import sqlite3
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from zakaz_pipeline.webhooks.flood import WINDOW_SECONDS, LineBudget, RefusalTally
from zakaz_pipeline.webhooks.queue import Change, WebhookQueue
from zakaz_pipeline.webhooks.signature import signature_matches

WEBHOOK_PATH = "/qtickets/webhook"
HEALTH_PATH = "/healthz"
EVENT_TYPE = re.compile(r"[a-z_]{1,32}")
MAX_ORDER_ID = 2**63 - 1  # SQLite's INTEGER, and ClickHouse's Int64/UInt64 keys alike
# Timestamps outside these are refused: far from any sale, and safe to move to any time zone.
EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)

log = logging.getLogger("zakaz.webhooks")


class NotAnOrder(ValueError):
    """The delivery is signed but does not describe an order change (400)."""


def change_from(event_type: str | None, model: str | None, body: bytes) -> Change:
    """What a signed delivery says about its order; raises ``NotAnOrder`` saying why not."""
    if (model or "").strip() != "Order":
        raise NotAnOrder("X-Model-Name is not Order")
    event = (event_type or "").strip().lower()
    if not EVENT_TYPE.fullmatch(event):
        raise NotAnOrder("X-Event-Type is missing or not a word")
    try:
        order = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise NotAnOrder("the body is not JSON") from None
    if not isinstance(order, dict):
        raise NotAnOrder("the body is not a JSON object")
    order_id = order.get("id")
    if not isinstance(order_id, int) or isinstance(order_id, bool) or order_id <= 0:
        raise NotAnOrder("the order has no integer id")
    if order_id > MAX_ORDER_ID:
        raise NotAnOrder(f"the order's id is past {MAX_ORDER_ID} (a 64-bit integer)")
    updated_at = _timestamp(order, "updated_at")
    if updated_at is None:
        raise NotAnOrder("the order has no updated_at")
    return Change(
        order_id=order_id,
        event_type=event,
        updated_at=updated_at,
        payed_at=_timestamp(order, "payed_at"),
        deleted_at=_timestamp(order, "deleted_at"),
        refunded=_refunded(order),
        created_at=_timestamp(order, "created_at"),
    )


def _timestamp(order: dict[str, Any], name: str) -> str | None:
    """The field as given (null or empty: None); an ISO-8601 moment with its offset within
    ``EARLIEST``..``LATEST``, else 400. The window keeps out what parses but is no sales
    moment: ``0001-01-01T00:00:00+14:00`` is a year before the calendar starts in UTC, and
    the sensor could not place it on any day."""
    value = order.get(name)
    if value is None or value == "":
        return None
    try:
        moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise NotAnOrder(f"the order's {name} is not an ISO-8601 time with an offset")
    if not EARLIEST <= moment < LATEST:  # compared by offsets: no conversion that could overflow
        raise NotAnOrder(f"the order's {name} is not between {EARLIEST:%Y} and {LATEST:%Y}")
    return value


def _refunded(order: dict[str, Any]) -> bool:
    """Tickets were refunded: the delivery lists refunded baskets, or a basket has ``refunded_at``."""
    if order.get("refunded_baskets"):
        return True
    baskets = order.get("baskets")
    return isinstance(baskets, list) and any(isinstance(b, dict) and b.get("refunded_at") for b in baskets)


class _TooLarge(Exception):
    pass


async def _body(request: Request, max_bytes: int) -> bytes:
    """The raw body, refused as soon as it passes ``max_bytes`` (counted as it streams)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(
    secret: str, queue: WebhookQueue, *, max_bytes: int, log_window: float = WINDOW_SECONDS, flush_seconds: float = 5.0
) -> Starlette:
    """The receiver for deliveries signed with ``secret`` and at most ``max_bytes`` long, queueing
    into ``queue``; its refusal counts reach the queue every ``flush_seconds`` and at shutdown,
    and each kind of log line is held to a few per ``log_window`` seconds (``flood.py``)."""
    budget = LineBudget(log, window=log_window)
    tally = RefusalTally()

    def refuse(request: Request, status: int, reason: str, why: str) -> Response:
        log.warning("refused a webhook delivery from %s: %d, %s", _peer(request), status, why)
        tally.add(reason)
        return PlainTextResponse(why, status_code=status)

    async def receive(request: Request) -> Response:
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > max_bytes:
            return refuse(request, 413, "size", f"the body is over {max_bytes} bytes")
        signature = request.headers.get("x-signature")
        if not signature:
            return refuse(request, 401, "signature", "no X-Signature")
        try:
            body = await _body(request, max_bytes)
        except _TooLarge:
            return refuse(request, 413, "size", f"the body is over {max_bytes} bytes")
        except ClientDisconnect:  # the sender went away, or the server's request deadline cut it
            log.info("a webhook delivery from %s ended mid-body: the connection closed", _peer(request))
            return Response(status_code=400)  # to no one: uvicorn sends nothing on a closed connection
        if not signature_matches(secret, body, signature):
            return refuse(request, 401, "signature", "X-Signature does not match the body")
        try:
            change = change_from(request.headers.get("x-event-type"), request.headers.get("x-model-name"), body)
        except NotAnOrder as exc:
            return refuse(request, 400, "body", f"not an order delivery: {exc}")
        added = await run_in_threadpool(queue.add, change)
        log.debug("order %d %s %s", change.order_id, change.event_type, "queued" if added else "already queued")
        return PlainTextResponse("queued" if added else "already queued")

    async def health(_request: Request) -> Response:
        await run_in_threadpool(queue.ping)
        return PlainTextResponse("ok")

    async def write_refusals() -> None:
        counts = tally.drain()
        try:
            await run_in_threadpool(queue.record_refusals, counts)
        except sqlite3.Error as exc:
            tally.restore(counts)
            log.warning("could not count refusals in the queue, will retry: %s", exc)

    async def keep_books() -> None:
        summarized = time.monotonic()
        while True:
            await asyncio.sleep(flush_seconds)
            await write_refusals()
            if time.monotonic() - summarized >= log_window:
                budget.summarize()
                summarized = time.monotonic()

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        loggers = [log, logging.getLogger("uvicorn.error")]
        for logger in loggers:
            logger.addFilter(budget)
        books = asyncio.create_task(keep_books())
        try:
            yield
        finally:
            books.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await books
            await write_refusals()
            budget.summarize()
            for logger in loggers:
                logger.removeFilter(budget)

    return Starlette(
        routes=[Route(WEBHOOK_PATH, receive, methods=["POST"]), Route(HEALTH_PATH, health, methods=["GET"])],
        lifespan=lifespan,
    )


def _peer(request: Request) -> str:
    return request.client.host if request.client else "?"
