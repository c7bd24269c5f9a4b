"""Open the warehouse named by ``CLICKHOUSE_URL``: embedded chDB or a ClickHouse server.

Both speak the same SQL through clickhouse-connect, so nothing above this module knows
which one it talks to. The embedded engine can be opened by one process at a time; a
process takes an exclusive file lock beside the data path for as long as it holds
clients on it, so a second process (a CLI sync next to a UI run) waits its turn instead
of failing.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from filelock import FileLock, Timeout

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

log = logging.getLogger(__name__)

DEFAULT_DATABASE = "zakaz"
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
EMBEDDED_LOCK_WAIT_SECONDS = 30 * 60


class WarehouseConfigError(ValueError):
    """CLICKHOUSE_URL or CLICKHOUSE_DATABASE is unusable; the message hides passwords."""


@dataclass(frozen=True)
class WarehouseTarget:
    """Where the warehouse lives; ``password`` is kept out of repr and messages."""

    kind: str  # "embedded" or "server"
    database: str
    path: str = ""
    host: str = ""
    port: int = 0
    secure: bool = False
    username: str = "default"
    password: str = field(default="", repr=False)

    @property
    def embedded(self) -> bool:
        return self.kind == "embedded"

    def describe(self) -> str:
        if self.embedded:
            return f"embedded chDB at {self.path} (database {self.database})"
        scheme = "https" if self.secure else "http"
        return f"ClickHouse {scheme}://{self.username}@{self.host}:{self.port} (database {self.database})"


def parse_target(url: str, database: str = DEFAULT_DATABASE) -> WarehouseTarget:
    """Read ``chdb://<path>`` or ``http(s)://user:password@host:port``."""
    if not IDENTIFIER.match(database or ""):
        raise WarehouseConfigError(f"CLICKHOUSE_DATABASE must be a plain identifier, got {database!r}")
    if not url:
        raise WarehouseConfigError("CLICKHOUSE_URL is empty: use chdb:///path/to/dir or http://user:password@host:8123")
    if url.startswith("chdb://"):
        path = url[len("chdb://") :]
        if not path or path in ("memory", ":memory:"):
            raise WarehouseConfigError("CLICKHOUSE_URL chdb:// needs a directory, e.g. chdb:///var/lib/zakaz/warehouse")
        return WarehouseTarget("embedded", database, path=str(Path(path).expanduser().resolve()))
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise WarehouseConfigError(
            "CLICKHOUSE_URL is malformed (bad port?): expected http(s)://user:password@host:port"
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WarehouseConfigError(
            f"CLICKHOUSE_URL must start with chdb://, http:// or https:// and name a host; got scheme {parts.scheme!r}"
        )
    return WarehouseTarget(
        "server",
        database,
        host=parts.hostname,
        port=port or (8443 if parts.scheme == "https" else 8123),
        secure=parts.scheme == "https",
        username=unquote(parts.username or "default"),
        password=unquote(parts.password or ""),
    )


class _EmbeddedEngine:
    """Per data path: one exclusive file lock and one client per database, shared by
    every holder in this process and closed when the last one lets go.

    Opening a chDB client costs ~50 ms (a new session and its settings query); a run
    opens the warehouse once per step, check and view, so sharing saves seconds a tick.
    The chDB backend serialises queries on a client with its own lock.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._held: dict[str, tuple[FileLock, int]] = {}
        self._clients: dict[tuple[str, str], Client] = {}

    @contextlib.contextmanager
    def client(self, path: str, database: str) -> Iterator[Client]:
        self._acquire(path)
        try:
            with self._guard:
                key = (path, database)
                if key not in self._clients:
                    self._clients[key] = _get_client(dsn=f"chdb://{path}")
                client = self._clients[key]
            yield client
        finally:
            self._release(path)

    def _acquire(self, path: str) -> None:
        with self._guard:
            if path in self._held:
                lock, count = self._held[path]
                self._held[path] = (lock, count + 1)
                return
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            # Not thread-local: the thread that releases the last hold may not be the one that took it.
            lock = FileLock(f"{path}.lock", thread_local=False)
            try:
                lock.acquire(timeout=1)
            except Timeout:
                log.info("waiting for the embedded warehouse %s: another process has it open", path)
                try:
                    lock.acquire(timeout=EMBEDDED_LOCK_WAIT_SECONDS)
                except Timeout:
                    raise WarehouseConfigError(
                        f"the embedded warehouse {path} stayed open in another process for "
                        f"{EMBEDDED_LOCK_WAIT_SECONDS // 60} minutes; stop it or use a ClickHouse server"
                    ) from None
            self._held[path] = (lock, 1)

    def _release(self, path: str) -> None:
        with self._guard:
            lock, count = self._held[path]
            if count > 1:
                self._held[path] = (lock, count - 1)
                return
            del self._held[path]
            for key in [key for key in self._clients if key[0] == path]:
                self._clients.pop(key).close()
            lock.release()


_embedded = _EmbeddedEngine()


@contextlib.contextmanager
def open_client(target: WarehouseTarget, *, create_database: bool = True) -> Iterator[Client]:
    """A clickhouse-connect client on ``target.database``; a server client is closed on exit,
    an embedded one when this process's last holder of its data path lets go."""
    if target.embedded:
        with _embedded.client(target.path, target.database) as client:
            _use_database(client, target.database, create_database)
            yield client
        return
    client = _server_client(target)
    try:
        _use_database(client, target.database, create_database)
        yield client
    finally:
        client.close()


def _server_client(target: WarehouseTarget) -> Client:
    try:
        return _get_client(
            host=target.host,
            port=target.port,
            username=target.username,
            password=target.password,
            secure=target.secure,
            connect_timeout=10,
            send_receive_timeout=600,
            autogenerate_session_id=False,
        )
    except Exception as exc:  # noqa: BLE001 - clickhouse-connect raises several types; the message may echo the URL
        raise WarehouseConfigError(f"cannot connect to {target.describe()}: {type(exc).__name__}") from None


def _use_database(client: Client, database: str, create: bool) -> None:
    if create:
        client.command(f"CREATE DATABASE IF NOT EXISTS {database}")
    client.database = database


def _get_client(**options: Any) -> Client:
    """clickhouse-connect's client, imported on first use: reading settings (``parse_target``)
    must not load the driver."""
    import clickhouse_connect

    return clickhouse_connect.get_client(**options)
