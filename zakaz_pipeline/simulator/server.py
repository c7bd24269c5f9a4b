"""The simulated account served over real HTTP, shaped like ``/api/rest/v1``.

Tests and the ``zakaz simulator`` command talk to it exactly as to Qtickets: bearer
token, JSON bodies on GET, ``where`` / ``orderBy`` / paging, seats as a dict or a list,
error bodies ``{"error", "status"}``. Faults are injected over a real socket, not through
mocks: ``fail_next`` answers the next requests with a status, and a seeded ``FaultPlan``
(``faults.py``) adds rate limits, 5xx bursts, slow answers, resets, truncated and
non-JSON bodies, a changing account, new fields and a revoked token, reproducibly. The
plan also sets the pace of a remote API (a latency per answer, a page-size cap), and the
server counts the requests it holds at once (``peak_in_flight``), so a client's limit on
concurrent requests is checked where it matters: at the server.

This module is the wire: the socket and its thread, the token check, injected failures
and faults, and the ``http.server`` adapter. What each path answers is ``endpoints.py``.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import logging
import random
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

from zakaz_pipeline.simulator.dialect import ApiDialect
from zakaz_pipeline.simulator.endpoints import (
    API_ROOT,
    ApiEndpoints,
    ApiError,
    Response,
    answers_objects,
    error_response,
    json_body,
)
from zakaz_pipeline.simulator.faults import (
    PROXY_PAGE,
    REQUEST_KINDS,
    Fault,
    FaultInjector,
    FaultPlan,
    drift,
    vanish,
    vary_shapes,
)
from zakaz_pipeline.simulator.shop import SimulatedAccount

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RequestRecord:
    """One request as the server saw it; ``path`` is relative to ``/api/rest/v1``.
    ``fault`` is the kind a fault plan injected (or ``revoke``), in arrival order;
    ``received`` the ``time.monotonic()`` it arrived at (when a client's pauses happen)."""

    method: str
    path: str
    query: dict[str, str]
    body: dict | None
    status: int
    fault: str | None = None
    received: float = 0.0


@dataclass
class _Failure:
    status: int
    remaining: int
    retry_after: int | None
    path_prefix: str
    code: str | None = None


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
        dialect: ApiDialect | None = None,
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
        self.dialect = dialect or ApiDialect()
        self._endpoints = ApiEndpoints(
            account, max_per_page=faults.max_per_page if faults else None, dialect=self.dialect
        )
        self._in_flight = 0
        self._peak_in_flight = 0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
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

    def fail_next(
        self,
        status: int,
        count: int = 1,
        *,
        retry_after: int | None = None,
        path_prefix: str = "",
        code: str | None = None,
    ) -> None:
        """Answer the next ``count`` requests whose path (relative to the API root, or
        absolute) starts with ``path_prefix`` with ``status``, as an overloaded API would;
        ``code`` puts the API's own error code in the body, as its application does."""
        if count < 1:
            raise ValueError("count must be at least 1")
        with self._state_lock:
            self._failures.append(_Failure(status, count, retry_after, path_prefix, code))

    def set_faults(self, plan: FaultPlan | None) -> None:
        """Inject ``plan``'s faults from the next request on, decided by a fresh
        ``Random(plan.seed)``; None injects none. Counts, the request count towards
        ``revoke_after`` and a revoked token all start over."""
        with self._state_lock:
            self._injector = FaultInjector(plan) if plan else None
            self._endpoints.max_per_page = plan.max_per_page if plan else None

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

    @property
    def peak_in_flight(self) -> int:
        """The most requests the server held at once (received, their answers not yet sent)
        since it started or since ``reset_peak_in_flight``."""
        with self._state_lock:
            return self._peak_in_flight

    @property
    def in_flight(self) -> int:
        """Requests held now: received, their answers not yet sent."""
        with self._state_lock:
            return self._in_flight

    def reset_peak_in_flight(self) -> int:
        """Start counting the peak anew (from the requests held now); returns the old peak."""
        with self._state_lock:
            peak, self._peak_in_flight = self._peak_in_flight, self._in_flight
            return peak

    def request_began(self) -> None:
        with self._state_lock:
            self._in_flight += 1
            self._peak_in_flight = max(self._peak_in_flight, self._in_flight)

    def request_ended(self) -> None:
        with self._state_lock:
            self._in_flight -= 1

    def handle(self, method: str, target: str, headers: Mapping[str, str] | Message, raw_body: bytes) -> Response:
        """Answer one request; records it whatever the outcome."""
        received = time.monotonic()
        url = urlsplit(target)
        path = url.path[len(API_ROOT) :] if url.path.startswith(API_ROOT + "/") else url.path
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        body: dict | None = None
        bad_body: ApiError | None = None
        try:
            body = json_body(raw_body)
        except ApiError as error:
            bad_body = error
        fault: Fault | None = None
        response = self._injected_failure(path, url.path)
        if response is None:
            fault = self._next_fault(method, path, url.path)
            response = self._answer(method, path, url.path, query, headers, body, bad_body, fault)
        with self._state_lock:
            latency = self._injector.latency() if self._injector is not None else 0.0
            self.requests.append(
                RequestRecord(method, path, query, body, response.status, fault.kind if fault else None, received)
            )
        logger.debug("%s %s -> %s%s", method, target, response.status, f" ({fault.kind})" if fault else "")
        return dataclasses.replace(response, delay=response.delay + latency) if latency else response

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
    ) -> Response:
        if fault is not None and fault.status is not None:
            return _refusal(fault)
        try:
            response = self._authorized(headers)
            if response is None:
                if bad_body is not None:
                    raise bad_body
                if fault is not None and fault.kind == "drift":
                    logger.debug("drift: %s", drift(self.account, random.Random(fault.seed)))
                if fault is not None and fault.kind == "vanish":
                    logger.debug("vanish: %s", vanish(self.account, random.Random(fault.seed)))
                response = self._endpoints.route(method, path, full_path, query, body)
        except ApiError as error:
            response = error_response(error.status, error.message, code=error.code, info=error.info)
        return response if fault is None else _faulted(response, fault)

    def _next_fault(self, method: str, path: str, full_path: str) -> Fault | None:
        with self._state_lock:
            if self._injector is None:
                return None
            return self._injector.decide(_applicable_kinds(method, path, full_path))

    def _injected_failure(self, path: str, full_path: str) -> Response | None:
        with self._state_lock:
            for failure in self._failures:
                if path.startswith(failure.path_prefix) or full_path.startswith(failure.path_prefix):
                    failure.remaining -= 1
                    if failure.remaining <= 0:
                        self._failures.remove(failure)
                    headers = (("Retry-After", str(failure.retry_after)),) if failure.retry_after is not None else ()
                    return error_response(failure.status, "Simulated failure", headers, code=failure.code)
        return None

    def _authorized(self, headers: Mapping[str, str] | Message) -> Response | None:
        scheme, _, token = (headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return error_response(401, "Unauthorized")
        if token.strip() != self.token:
            return error_response(403, "Unauthorized")
        return None


def _applicable_kinds(method: str, path: str, full_path: str) -> frozenset[str]:
    """The fault kinds that make sense for a request: none but a revoked token outside
    the API or for methods other than GET; ``extra`` where objects are answered; ``drift``
    only before an order list, the scan that a changing account can fool."""
    if method != "GET" or not full_path.startswith(API_ROOT + "/"):
        return frozenset()
    kinds = set(REQUEST_KINDS)
    if answers_objects(path):
        kinds.add("extra")
    if path == "/orders":
        kinds.update(("drift", "vanish"))
    return frozenset(kinds)


def _refusal(fault: Fault) -> Response:
    """The answer given instead of the API's: rate limit, server error, revoked token."""
    if fault.kind == "429":
        return error_response(429, "Too Many Requests", (("Retry-After", str(fault.plan.retry_after)),))
    if fault.kind == "revoke":
        return error_response(401, "Token revoked")
    return error_response(fault.status or 500, "Simulated server error")


def _faulted(response: Response, fault: Fault) -> Response:
    """The API's answer as ``fault`` changes it."""
    if fault.kind == "extra" and response.status == 200:
        varied = vary_shapes(orjson.loads(response.body), random.Random(fault.seed))
        return dataclasses.replace(response, body=orjson.dumps(varied))
    if fault.kind == "badjson":
        return Response(200, PROXY_PAGE, content_type="text/html; charset=utf-8")
    if fault.kind == "slow":
        return dataclasses.replace(response, delay=fault.plan.slow_seconds)
    if fault.kind in ("reset", "truncate"):
        return dataclasses.replace(response, transport=fault.kind)
    return response


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
        """A request is held from its receipt until its answer is ready to send. A client
        frees its slot only once the whole answer is in, which is after that; had the count
        ended after the last write, the client could already be sending its next request
        while this handler still counted the last one (a limit of 3 seen as 4)."""
        simulator = self.server.simulator
        simulator.request_began()
        try:
            response = self._answer()
        finally:
            simulator.request_ended()
        self._send(response)

    def _answer(self) -> Response:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        response = self.server.simulator.handle(self.command, self.path, self.headers, raw)
        if response.delay:
            time.sleep(response.delay)
        return response

    def _send(self, response: Response) -> None:
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
    *,
    port: int,
    orders: int,
    events: int,
    seed: int,
    token: str,
    faults: FaultPlan | None = None,
    dialect: ApiDialect | None = None,
) -> None:
    """Generate an account and serve it until interrupted (the ``zakaz simulator`` command)."""
    account = SimulatedAccount.generate(seed=seed, orders=orders, events=events)
    # The account lives as long as the process: keep the collector from rescanning it.
    gc.freeze()
    server = SimulatorServer(account, token=token, port=port, faults=faults, dialect=dialect)
    httpd = server._bind()
    logger.info(
        "Qtickets simulator: %d orders, %d events at %s", len(account.orders), len(account.events), server.base_url
    )
    logger.info("Qtickets simulator's API dialect: %s", server.dialect.describe())
    if faults is not None:
        logger.info("Qtickets simulator injects faults: %s", faults.spec())
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        logger.info("Qtickets simulator stopped")
    finally:
        httpd.server_close()
