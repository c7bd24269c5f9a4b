"""``zakaz webhooks``: the receiver of Qtickets webhooks (``zakaz_pipeline/webhooks/``), served
by uvicorn until Ctrl-C or SIGTERM.

It needs only ``QTICKETS_WEBHOOK_SECRET`` (not the API token or the PII key) and writes only
the queue file (``ZAKAZ_WEBHOOK_QUEUE``); the ``qtickets_webhooks`` sensor turns the queue into
runs. The port is bound here, before uvicorn starts, so a port in use is a plain message
naming ``--port`` (exit 2), and ``--port 0`` picks a free one (logged). ``--max-connections``
and ``--request-timeout`` are the limits of ``webhooks/server.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import logging
import socket

from zakaz_pipeline.settings import ConfigError, Settings

log = logging.getLogger("zakaz")
# The receiver's limits (webhooks/server.py): 64 connections hold at most about 64 MiB of
# bodies at the default ZAKAZ_WEBHOOK_MAX_BYTES; Qtickets' deliveries (kilobytes, sent by
# its servers or a reverse proxy that buffers them) arrive in well under 10 s.
MAX_CONNECTIONS = 64
REQUEST_SECONDS = 10.0


def webhooks_command(args: argparse.Namespace) -> int:
    import uvicorn

    from zakaz_pipeline.webhooks.app import WEBHOOK_PATH, create_app
    from zakaz_pipeline.webhooks.queue import WebhookQueue
    from zakaz_pipeline.webhooks.server import server_config

    settings = Settings.from_env(need_secrets=False)
    secret = settings.require_webhook_secret()
    sock = _bind(args.host, args.port)
    retention = dt.timedelta(days=settings.webhook_retention_days)
    with WebhookQueue(settings.webhook_queue, retention=retention) as queue:
        app = create_app(secret, queue, max_bytes=settings.webhook_max_bytes)
        host, port = sock.getsockname()[:2]
        log.info("receiving Qtickets webhooks at http://%s:%d%s, queue %s", host, port, WEBHOOK_PATH, queue.path)
        config = server_config(app, max_connections=args.max_connections, request_seconds=args.request_timeout)
        server = uvicorn.Server(config)
        with contextlib.suppress(KeyboardInterrupt):  # uvicorn shut down gracefully, then re-raised the signal
            server.run(sockets=[sock])
    return 0


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port} (--host/--port): {exc.strerror or exc}") from None
    sock.listen(2048)
    return sock
