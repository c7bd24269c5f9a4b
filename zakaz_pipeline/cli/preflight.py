"""Reachability of the API and the warehouse, checked before a command loads Dagster.

A wrong address otherwise surfaces minutes later, after the client's retries, as a step
failure; checked first it is a configuration error naming the variable to fix. The
checks open a TCP connection to the API and, for a ClickHouse server, run ``SELECT 1``.
The embedded warehouse needs no reachability check: its path was validated with the
settings, and opening it here would take the lock the run needs. Then one authenticated
read (``check_token``, unfiltered) answers a refused token or a wrong API path in a second,
before imports and run setup; its ``paging.total`` is the account's number of orders. ``check_warehouse_exists`` is for commands that only read (``zakaz check``):
they must find a warehouse, never create one.
"""

from __future__ import annotations

import dataclasses
import socket
from pathlib import Path
from urllib.parse import urlsplit

from zakaz_pipeline.qtickets.client import QticketsAuthError, QticketsClient, QticketsError, QticketsRequestError
from zakaz_pipeline.settings import ConfigError, Settings
from zakaz_pipeline.warehouse.connection import WarehouseConfigError, open_client, parse_target

CONNECT_TIMEOUT_SECONDS = 5.0
TOKEN_CHECK_READ_TIMEOUT = 15.0


def check_reachable(settings: Settings) -> None:
    """Raise ``ConfigError`` naming every unreachable endpoint."""
    problems = [problem for problem in (_api_problem(settings.base_url), _warehouse_problem(settings)) if problem]
    if problems:
        raise ConfigError("cannot start the sync:\n  - " + "\n  - ".join(problems))


def check_api_reachable(settings: Settings) -> None:
    """``check_reachable`` of the API alone, for commands that need no warehouse."""
    if problem := _api_problem(settings.base_url):
        raise ConfigError(problem)


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


def check_token(settings: Settings) -> int | None:
    """One authenticated request (page 1 of all orders, with no filter: whether the API
    honours one is the run's question, not a setting's), not retried; return the account's
    count of orders, ``None`` when it did not say.

    A refusal (401/403) or a wrong API path (another 4xx) raises ``ConfigError``; anything
    else (a 5xx, a timeout) is left to the run, whose retries are made for it.
    """
    with QticketsClient(
        base_url=settings.base_url, token=settings.token, read_timeout=TOKEN_CHECK_READ_TIMEOUT, max_retries=0
    ) as client:
        try:
            return client.list_page("orders", 1, per_page=1).total
        except QticketsAuthError as exc:
            raise ConfigError(str(exc)) from None
        except QticketsRequestError as exc:
            raise ConfigError(f"QTICKETS_BASE_URL: {exc}") from None
        except QticketsError:
            return None


def check_warehouse_exists(settings: Settings) -> None:
    """Raise ``ConfigError`` unless the warehouse answers and holds the database: a reading
    command on a mistyped path or database would otherwise create an empty warehouse."""
    target = parse_target(settings.clickhouse_url, settings.clickhouse_database)
    hint = "set CLICKHOUSE_URL (and CLICKHOUSE_DATABASE) to a synced warehouse, or run `zakaz sync` first"
    if target.embedded and not Path(target.path).is_dir():
        raise ConfigError(f"CLICKHOUSE_URL: there is no warehouse at {target.path}; {hint}")
    problem = _warehouse_problem(settings)
    if problem:
        raise ConfigError(problem)
    with open_client(dataclasses.replace(target, database="system"), create_database=False) as client:
        found = client.query(
            "SELECT count() FROM system.databases WHERE name = %(name)s", parameters={"name": target.database}
        ).result_rows[0][0]
    if not found:
        raise ConfigError(f"CLICKHOUSE_DATABASE: {target.describe()} has no database {target.database!r}; {hint}")
