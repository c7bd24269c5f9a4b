"""How the receiver is served: uvicorn, with the limits an endpoint anyone can reach needs.

- ``limit_concurrency``: past ``max_connections`` open connections, a new request is answered
  503 at once (Qtickets retries it) instead of holding a body in memory, so the receiver's
  memory is bounded by about ``max_connections`` × ``ZAKAZ_WEBHOOK_MAX_BYTES``;
- a request deadline: a connection that has not sent a whole request ``request_seconds``
  after it opened (or after its previous answer) is closed. uvicorn times out only an idle
  keep-alive connection, so without this a client trickling its headers or body (slowloris)
  holds a connection, and with it a share of the limit above, for ever. The deadline is a
  timer added to uvicorn's pure-Python h11 protocol; it never cuts a request whose body has
  arrived and is being handled;
- no access log and uvicorn's own logging through the CLI's (``log_config=None``), where the
  app's ``LineBudget`` holds each kind of complaint to a few lines a minute.
"""

from __future__ import annotations

import asyncio
import logging

import h11
import uvicorn
from starlette.applications import Starlette
from uvicorn.protocols.http.h11_impl import H11Protocol

KEEP_ALIVE_SECONDS = 5
MAX_HEADER_BYTES = 16 * 1024

log = logging.getLogger("zakaz.webhooks")


class DeadlineH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection that is too slow to send its request."""

    request_seconds = 10.0  # server_config sets each server's
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.request_seconds, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        """Close the connection unless its request has all arrived. Mid-body, the app sees
        the disconnect and logs it; before the headers are complete, the app never saw the
        request, so it is logged here."""
        self._deadline = None
        if self.transport.is_closing() or self.conn.their_state not in (h11.IDLE, h11.SEND_BODY):
            return
        if self.conn.their_state is h11.IDLE:
            peer = self.client[0] if self.client else "?"
            log.info("closed a connection from %s that sent no request within %g s", peer, self.request_seconds)
        self.transport.close()


def server_config(app: Starlette, *, max_connections: int, request_seconds: float) -> uvicorn.Config:
    """uvicorn's configuration for ``app`` with the limits above (``zakaz webhooks``' defaults:
    64 connections, 10 s)."""
    protocol = type("DeadlineH11Protocol", (DeadlineH11Protocol,), {"request_seconds": request_seconds})
    return uvicorn.Config(
        app,
        http=protocol,
        lifespan="on",
        limit_concurrency=max_connections,
        timeout_keep_alive=max(1, min(KEEP_ALIVE_SECONDS, int(request_seconds))),  # idle: closed first
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        log_config=None,  # the CLI's logging (no access log: a refusal logs itself, without the body)
        access_log=False,
        timeout_graceful_shutdown=10,
    )
