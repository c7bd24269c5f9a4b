"""The simulated account served over real HTTP, shaped like ``/api/rest/v1``.

Tests and the ``zakaz simulator`` command talk to it exactly as to Qtickets: bearer
token, JSON bodies on GET, ``where`` / ``orderBy`` / paging, seats as a dict or a list,
error bodies ``{"error", "status"}``. Faults are injected over a real socket, not through
mocks: ``fail_next`` answers the next requests with a status, and a seeded ``FaultPlan``
(``faults.py``) adds rate limits, 5xx bursts, slow answers, resets, truncated and
non-JSON bodies, a changing account, new fields and a revoked token, reproducibly.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import json
import logging
import random
import re
import socket
import struct
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

import orjson

from zakaz_pipeline.qtickets.simulator.account import SimulatedAccount
from zakaz_pipeline.qtickets.simulator.faults import (
    PROXY_PAGE,
    REQUEST_KINDS,
    Fault,
    FaultInjector,
    FaultPlan,
    drift,
    vary_shapes,
)
from zakaz_pipeline.qtickets.simulator.querying import (
    Collection,
    QueryError,
    compile_condition,
    parse_conditions,
    parse_order_by,
)

logger = logging.getLogger(__name__)

API_ROOT = "/api/rest/v1"
MAX_PER_PAGE = 1000
DEFAULT_PER_PAGE = {"orders": 50, "events": 10}
ORDER_COLUMNS = (
    "id",
    "uniqid",
    "payed",
    "payed_at",
    "client_id",
    "client",
    "site_id",
    "site",
    "payment_id",
    "payment_type_id",
    "payment_card_number",
    "payment_url",
    "cancel_url",
    "basket_user_id",
    "backend_user_id",
    "access_code_id",
    "discount_id",
    "promo_code_id",
    "reserved",
    "reserved_to",
    "reserve_extended",
    "event_id",
    "price",
    "original_price",
    "currency_id",
    "utm",
    "custom",
    "fields",
    "baskets",
    "refunds",
    "integrations",
    "created_at",
    "updated_at",
    "deleted_at",
)
EVENT_COLUMNS = (
    "id",
    "is_active",
    "name",
    "scheme_id",
    "currency_id",
    "place_name",
    "place_address",
    "place_description",
    "city_id",
    "description",
    "site_url",
    "external_id",
    "ticket_id",
    "mail_template_id",
    "age",
    "shows",
    "payments",
    "poster",
    "event_type_id",
    "city",
    "ticket",
    "mail_template",
    "slug",
    "place_coordinates",
    "url",
    "created_at",
    "updated_at",
    "deleted_at",
)
SEAT_COLUMNS = (
    "id",
    "zone_id",
    "row",
    "place",
    "admission",
    "max_quantity",
    "free_quantity",
    "ordered_quantity",
    "payed_quantity",
    "in_basket_quantity",
    "available",
    "disabled",
    "price",
    "currency_id",
)
_ITEM = re.compile(r"^/(orders|events)/(\d+)$")
_SEATS = re.compile(r"^/shows/(\d+)/seats$")


@dataclass(frozen=True)
class RequestRecord:
    """One request as the server saw it; ``path`` is relative to ``/api/rest/v1``.
    ``fault`` is the kind a fault plan injected (or ``revoke``), in arrival order."""

    method: str
    path: str
    query: dict[str, str]
    body: dict | None
    status: int
    fault: str | None = None


@dataclass
class _Failure:
    status: int
    remaining: int
    retry_after: int | None
    path_prefix: str


@dataclass(frozen=True)
class _Response:
    """An answer; ``delay`` and ``transport`` (``reset`` or ``truncate``) are faults the
    handler carries out on the socket."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str = "application/json"
    delay: float = 0.0
    transport: str | None = None


class ApiError(Exception):
    """An answer other than 200, with the API's error body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _error(status: int, message: str, headers: tuple[tuple[str, str], ...] = ()) -> _Response:
    return _Response(status, orjson.dumps({"error": message, "status": status}), headers)


class SimulatorServer:
    """Serves one ``SimulatedAccount`` on a local port from a daemon thread."""

    def __init__(
        self,
        account: SimulatedAccount,
        *,
        token: str,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: FaultPlan | None = None,
    ) -> None:
        self.account = account
        self.token = token
        self.host = host
        self.port = port
        self.base_url = ""
        self.requests: list[RequestRecord] = []
        self._state_lock = threading.Lock()
        self._failures: list[_Failure] = []
        self._injector = FaultInjector(faults) if faults else None
        self._collections = {"orders": Collection(ORDER_COLUMNS), "events": Collection(EVENT_COLUMNS)}
        self._encoded = _EncodedItems()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> SimulatorServer:
        serve = functools.partial(self._bind().serve_forever, poll_interval=0.05)  # quick stop()
        self._thread = threading.Thread(target=serve, name="qtickets-simulator", daemon=True)
        self._thread.start()
        logger.debug("Qtickets simulator serving at %s", self.base_url)
        return self

    def _bind(self) -> ThreadingHTTPServer:
        """Open the socket (port 0 picks a free one) and fix ``base_url``."""
        self._httpd = _HTTPServer((self.host, self.port), _Handler, self)
        self.port = self._httpd.server_address[1]
        self.base_url = f"http://{self.host}:{self.port}{API_ROOT}"
        return self._httpd

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join()
        self._httpd = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def fail_next(self, status: int, count: int = 1, *, retry_after: int | None = None, path_prefix: str = "") -> None:
        """Answer the next ``count`` requests whose path (relative to the API root, or
        absolute) starts with ``path_prefix`` with ``status``, as an overloaded API would."""
        if count < 1:
            raise ValueError("count must be at least 1")
        with self._state_lock:
            self._failures.append(_Failure(status, count, retry_after, path_prefix))

    def set_faults(self, plan: FaultPlan | None) -> None:
        """Inject ``plan``'s faults from the next request on, decided by a fresh
        ``Random(plan.seed)``; None injects none. Counts, the request count towards
        ``revoke_after`` and a revoked token all start over."""
        with self._state_lock:
            self._injector = FaultInjector(plan) if plan else None

    def restore_token(self) -> None:
        """Accept the token again after the plan's ``revoke_after`` revoked it."""
        with self._state_lock:
            if self._injector is not None:
                self._injector.restore_token()

    @property
    def fault_counts(self) -> dict[str, int]:
        """Faulty answers so far under the current plan, by kind (a 5xx burst counts
        each of its answers; a revoked token each 401 as ``revoke``)."""
        with self._state_lock:
            return dict(self._injector.counts) if self._injector is not None else {}

    # ------------------------------------------------------------------ dispatch

    def handle(self, method: str, target: str, headers: Mapping[str, str] | Message, raw_body: bytes) -> _Response:
        """Answer one request; records it whatever the outcome."""
        url = urlsplit(target)
        path = url.path[len(API_ROOT) :] if url.path.startswith(API_ROOT + "/") else url.path
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        body: dict | None = None
        bad_body: ApiError | None = None
        try:
            body = _json_body(raw_body)
        except ApiError as error:
            bad_body = error
        fault: Fault | None = None
        response = self._injected_failure(path, url.path)
        if response is None:
            fault = self._next_fault(method, path, url.path)
            response = self._answer(method, path, url.path, query, headers, body, bad_body, fault)
        with self._state_lock:
            self.requests.append(
                RequestRecord(method, path, query, body, response.status, fault.kind if fault else None)
            )
        logger.debug("%s %s -> %s%s", method, target, response.status, f" ({fault.kind})" if fault else "")
        return response

    def _answer(
        self,
        method: str,
        path: str,
        full_path: str,
        query: dict[str, str],
        headers: Mapping[str, str] | Message,
        body: dict | None,
        bad_body: ApiError | None,
        fault: Fault | None,
    ) -> _Response:
        if fault is not None and fault.status is not None:
            return _refusal(fault)
        try:
            response = self._authorized(headers)
            if response is None:
                if bad_body is not None:
                    raise bad_body
                if fault is not None and fault.kind == "drift":
                    logger.debug("drift: %s", drift(self.account, random.Random(fault.seed)))
                response = self._route(method, path, full_path, query, body)
        except ApiError as error:
            response = _error(error.status, error.message)
        return response if fault is None else _faulted(response, fault)

    def _next_fault(self, method: str, path: str, full_path: str) -> Fault | None:
        with self._state_lock:
            if self._injector is None:
                return None
            return self._injector.decide(_applicable_kinds(method, path, full_path))

    def _injected_failure(self, path: str, full_path: str) -> _Response | None:
        with self._state_lock:
            for failure in self._failures:
                if path.startswith(failure.path_prefix) or full_path.startswith(failure.path_prefix):
                    failure.remaining -= 1
                    if failure.remaining <= 0:
                        self._failures.remove(failure)
                    headers = (("Retry-After", str(failure.retry_after)),) if failure.retry_after is not None else ()
                    return _error(failure.status, "Simulated failure", headers)
        return None

    def _authorized(self, headers: Mapping[str, str] | Message) -> _Response | None:
        scheme, _, token = (headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _error(401, "Unauthorized")
        if token.strip() != self.token:
            return _error(403, "Unauthorized")
        return None

    def _route(self, method: str, path: str, full_path: str, query: dict[str, str], body: dict | None) -> _Response:
        if method not in ("GET", "HEAD"):
            raise ApiError(405, f"Method {method} is not allowed")
        if not full_path.startswith(API_ROOT + "/"):
            raise ApiError(404, "Not found")
        params = {**query, **(body or {})}
        with self.account.lock:
            if path in ("/orders", "/events"):
                return _Response(200, self._list(path[1:], params, query))
            if match := _ITEM.match(path):
                payload = {"data": self._item(match.group(1), int(match.group(2)))}
            elif match := _SEATS.match(path):
                payload = {"data": self._seats(int(match.group(1)), params, query)}
            else:
                raise ApiError(404, "Not found")
            return _Response(200, orjson.dumps(payload))

    def _list(self, resource: str, params: dict[str, Any], query: dict[str, str]) -> bytes:
        collection = self._collections[resource]
        try:
            conditions = parse_conditions(_param(params, query, "where"), collection.columns)
            order_by = parse_order_by(_param(params, query, "orderBy"), collection.columns)
        except QueryError as error:
            raise ApiError(400, str(error)) from error
        page = _positive_int(params.get("page", 1), "page")
        per_page = min(_positive_int(params.get("perPage", DEFAULT_PER_PAGE[resource]), "perPage"), MAX_PER_PAGE)
        items = self.account.orders if resource == "orders" else self.account.events
        try:
            data, total = collection.select(
                items,
                revision=self.account.revision,
                conditions=conditions,
                order_by=order_by,
                page=page,
                per_page=per_page,
            )
        except QueryError as error:
            raise ApiError(400, str(error)) from error
        paging = {"perPage": per_page, "currentPage": page, "total": total}
        # Byte for byte what orjson.dumps({"data": data, "paging": paging}) gives, with each
        # item encoded once per account revision: a scan of 10⁶ orders is then mostly joins.
        items_json = self._encoded.join(data, self.account.revision)
        return b'{"data":[' + items_json + b'],"paging":' + orjson.dumps(paging) + b"}"

    def _item(self, resource: str, item_id: int) -> dict:
        try:
            return self.account.order(item_id) if resource == "orders" else self.account.event(item_id)
        except KeyError as error:
            raise ApiError(404, f"{resource[:-1].capitalize()} {item_id} not found") from error

    def _seats(self, show_id: int, params: dict[str, Any], query: dict[str, str]) -> Any:
        """Seats of a show: flat dict, flat list (show ids divisible by 3, as the real API
        sometimes answers) or nested by zone when ``flat`` is not asked for."""
        if show_id not in self.account.seats:
            raise ApiError(404, f"Show {show_id} not found")
        try:
            predicates = [compile_condition(c) for c in parse_conditions(_param(params, query, "where"), SEAT_COLUMNS)]
        except QueryError as error:
            raise ApiError(400, str(error)) from error
        select = _param(params, query, "select")
        if select is not None and not isinstance(select, list):
            raise ApiError(400, "select must be a list of seat fields")
        keep = {"id", *select} if select else None

        def view(seat: dict) -> dict:
            return seat if keep is None else {k: v for k, v in seat.items() if k in keep}

        matching = [seat for seat in self.account.seats[show_id] if all(p(seat) for p in predicates)]
        if not _flag(params.get("flat")):
            zones: dict[str, dict] = {}
            for seat in matching:
                zones.setdefault(seat["zone_id"], {"seats": {}})["seats"][seat["id"]] = view(seat)
            return {"zones": zones}
        if show_id % 3 == 0:
            return [view(seat) for seat in matching]
        return {seat["id"]: view(seat) for seat in matching}


def _applicable_kinds(method: str, path: str, full_path: str) -> frozenset[str]:
    """The fault kinds that make sense for a request: none but a revoked token outside
    the API or for methods other than GET; ``extra`` where objects are answered; ``drift``
    only before an order list, the scan that a changing account can fool."""
    if method != "GET" or not full_path.startswith(API_ROOT + "/"):
        return frozenset()
    kinds = set(REQUEST_KINDS)
    if path in ("/orders", "/events") or _ITEM.match(path) or _SEATS.match(path):
        kinds.add("extra")
    if path == "/orders":
        kinds.add("drift")
    return frozenset(kinds)


def _refusal(fault: Fault) -> _Response:
    """The answer given instead of the API's: rate limit, server error, revoked token."""
    if fault.kind == "429":
        return _error(429, "Too Many Requests", (("Retry-After", str(fault.plan.retry_after)),))
    if fault.kind == "revoke":
        return _error(401, "Token revoked")
    return _error(fault.status or 500, "Simulated server error")


def _faulted(response: _Response, fault: Fault) -> _Response:
    """The API's answer as ``fault`` changes it."""
    if fault.kind == "extra" and response.status == 200:
        varied = vary_shapes(orjson.loads(response.body), random.Random(fault.seed))
        return dataclasses.replace(response, body=orjson.dumps(varied))
    if fault.kind == "badjson":
        return _Response(200, PROXY_PAGE, content_type="text/html; charset=utf-8")
    if fault.kind == "slow":
        return dataclasses.replace(response, delay=fault.plan.slow_seconds)
    if fault.kind in ("reset", "truncate"):
        return dataclasses.replace(response, transport=fault.kind)
    return response


class _EncodedItems:
    """The JSON of each listed item, kept while the account's revision is unchanged
    (every mutation bumps it, so nothing stale is ever served). The encodings sit end to
    end in one buffer: kept as separate ``bytes`` they would cost about 2.5 times their
    size in allocator slack. Entries hold the item itself so that an id() reused by a new
    object can never match. Callers hold the account's lock."""

    def __init__(self) -> None:
        self._revision: int | None = None
        self._buffer = bytearray()
        self._spans: dict[int, tuple[dict, int, int]] = {}

    def join(self, items: list[dict], revision: int) -> bytes:
        """``b",".join`` of the items' JSON."""
        if revision != self._revision:
            self._buffer, self._spans, self._revision = bytearray(), {}, revision
        spans, buffer = self._spans, self._buffer
        for item in items:
            span = spans.get(id(item))
            if span is None or span[0] is not item:
                start = len(buffer)
                buffer += orjson.dumps(item)
                spans[id(item)] = (item, start, len(buffer))
        with memoryview(buffer) as view:
            return b",".join([view[spans[id(item)][1] : spans[id(item)][2]] for item in items])


def _json_body(raw: bytes) -> dict | None:
    if not raw.strip():
        return None
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise ApiError(400, "Request body is not valid JSON") from error
    if not isinstance(body, dict):
        raise ApiError(400, "Request body must be a JSON object")
    return body


def _param(params: dict[str, Any], query: dict[str, str], name: str) -> Any:
    """A structured parameter: from the body as is, from the query string as JSON."""
    value = params.get(name)
    if isinstance(value, str) and query.get(name) == value:
        try:
            return json.loads(value)
        except json.JSONDecodeError as error:
            raise ApiError(400, f"{name} must be JSON") from error
    return value


def _positive_int(value: Any, name: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError) as error:
        raise ApiError(400, f"{name} must be a positive integer") from error
    if number < 1 or isinstance(value, bool):
        raise ApiError(400, f"{name} must be a positive integer")
    return number


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() in ("1", "true", "yes")
    return bool(value)


class _HTTPServer(ThreadingHTTPServer):
    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], simulator: SimulatorServer):
        self.simulator = simulator
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (after its read timeout, say) is not a server error."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            logger.debug("client %s hung up", client_address)
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """Thin adapter from http.server to ``SimulatorServer.handle``."""

    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes: with Nagle's algorithm a small body then
    # waits for the client's delayed ACK, 40 ms per small answer (seats, single items).
    disable_nagle_algorithm = True
    server: _HTTPServer

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        response = self.server.simulator.handle(self.command, self.path, self.headers, raw)
        if response.delay:
            time.sleep(response.delay)
        if response.transport == "reset":
            self._reset()
            return
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command == "HEAD":
            return
        if response.transport == "truncate":
            self.wfile.write(response.body[: len(response.body) // 2])
            self.close_connection = True
        else:
            self.wfile.write(response.body)

    def _reset(self) -> None:
        """Close with SO_LINGER 0: the kernel sends RST, so the client sees a reset
        connection rather than an orderly end."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.rfile.close()  # the socket closes only when no file object holds it
        self.connection.close()

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, *args: Any) -> None:
        """Silenced: ``handle`` logs every request at debug level instead of stderr."""


def serve_forever(
    *, port: int, orders: int, events: int, seed: int, token: str, faults: FaultPlan | None = None
) -> None:
    """Generate an account and serve it until interrupted (the ``zakaz simulator`` command)."""
    account = SimulatedAccount.generate(seed=seed, orders=orders, events=events)
    # The account lives as long as the process: keep the collector from rescanning it.
    gc.freeze()
    server = SimulatorServer(account, token=token, port=port, faults=faults)
    httpd = server._bind()
    logger.info(
        "Qtickets simulator: %d orders, %d events at %s", len(account.orders), len(account.events), server.base_url
    )
    if faults is not None:
        logger.info("Qtickets simulator injects faults: %s", faults.spec())
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        logger.info("Qtickets simulator stopped")
    finally:
        httpd.server_close()
