"""The receiver's ASGI app (Starlette, served by uvicorn: ``zakaz webhooks``).

``POST /qtickets/webhook`` takes one Qtickets delivery. In this order, and storing nothing of
a refused delivery but the kind of refusal (``queue.WebhookQueue.refuse``):

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
logged: a refusal logs its status, reason and the peer's address.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

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


def create_app(secret: str, queue: WebhookQueue, *, max_bytes: int) -> Starlette:
    """The receiver for deliveries signed with ``secret`` and at most ``max_bytes`` long, queueing into ``queue``."""

    async def refuse(request: Request, status: int, reason: str, why: str) -> Response:
        peer = request.client.host if request.client else "?"
        log.warning("refused a webhook delivery from %s: %d, %s", peer, status, why)
        await run_in_threadpool(queue.refuse, reason)
        return PlainTextResponse(why, status_code=status)

    async def receive(request: Request) -> Response:
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > max_bytes:
            return await refuse(request, 413, "size", f"the body is over {max_bytes} bytes")
        signature = request.headers.get("x-signature")
        if not signature:
            return await refuse(request, 401, "signature", "no X-Signature")
        try:
            body = await _body(request, max_bytes)
        except _TooLarge:
            return await refuse(request, 413, "size", f"the body is over {max_bytes} bytes")
        if not signature_matches(secret, body, signature):
            return await refuse(request, 401, "signature", "X-Signature does not match the body")
        try:
            change = change_from(request.headers.get("x-event-type"), request.headers.get("x-model-name"), body)
        except NotAnOrder as exc:
            return await refuse(request, 400, "body", f"not an order delivery: {exc}")
        added = await run_in_threadpool(queue.add, change)
        log.debug("order %d %s %s", change.order_id, change.event_type, "queued" if added else "already queued")
        return PlainTextResponse("queued" if added else "already queued")

    async def health(_request: Request) -> Response:
        await run_in_threadpool(queue.ping)
        return PlainTextResponse("ok")

    return Starlette(
        routes=[Route(WEBHOOK_PATH, receive, methods=["POST"]), Route(HEALTH_PATH, health, methods=["GET"])]
    )
