"""Reachability of the API and the warehouse, checked before a sync fetches anything.

A wrong address otherwise surfaces minutes later, after the client's retries, as a step
failure; checked first it is a configuration error naming the variable to fix. The
checks open a TCP connection to the API (no request, so no token is sent) and, for a
ClickHouse server, run ``SELECT 1``. The embedded warehouse needs no check: its path was
validated with the settings, and opening it here would take the lock the run needs.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from zakaz_pipeline.config import ConfigError, Settings
from zakaz_pipeline.warehouse.connection import WarehouseConfigError, open_client, parse_target

CONNECT_TIMEOUT_SECONDS = 5.0


def check_reachable(settings: Settings) -> None:
    """Raise ``ConfigError`` naming every unreachable endpoint."""
    problems = [problem for problem in (_api_problem(settings.base_url), _warehouse_problem(settings)) if problem]
    if problems:
        raise ConfigError("cannot start the sync:\n  - " + "\n  - ".join(problems))


def _api_problem(base_url: str) -> str | None:
    url = urlsplit(base_url)
    host = url.hostname or ""
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_SECONDS).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return f"QTICKETS_BASE_URL: cannot connect to {host}:{port} ({reason}); check the address and the network"
    return None


def _warehouse_problem(settings: Settings) -> str | None:
    target = parse_target(settings.clickhouse_url, settings.clickhouse_database)
    if target.embedded:
        return None
    try:
        with open_client(target, create_database=False) as client:
            client.command("SELECT 1")
    except WarehouseConfigError as exc:
        return f"CLICKHOUSE_URL: {exc}"
    except Exception as exc:  # noqa: BLE001 - any failure means the run could not write; the message may echo the URL
        return f"CLICKHOUSE_URL: {target.describe()} does not answer queries ({type(exc).__name__})"
    return None
