"""A warehouse that stops answering mid-run: the real embedded chDB behind a switch.

No ClickHouse server can run here, so a server being stopped is played by the client:
after a budget of statements every further one fails with the error clickhouse-connect
raises when the server's port is closed. Everything before the cut ran on the real engine.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import OperationalError

from zakaz_pipeline.warehouse.resource import ClickHouseResource

REFUSED = (
    "Error HTTPConnectionPool(host='clickhouse', port=8123): Max retries exceeded with url: / "
    "(Caused by NewConnectionError: Failed to establish a new connection: [Errno 111] Connection refused)"
)
_switches: dict[str, list[int]] = {}  # key → [statements still allowed, statements refused]


def outage_after(statements: int) -> str:
    """A switch that lets ``statements`` statements through, then refuses every other."""
    key = uuid.uuid4().hex
    _switches[key] = [statements, 0]
    return key


def statements_spent(key: str, granted: int) -> int:
    return granted - _switches[key][0]


def statements_refused(key: str) -> int:
    return _switches[key][1]


class _CutClient:
    def __init__(self, client: Client, switch: list[int]) -> None:
        self._client = client
        self._switch = switch

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def _spend(self) -> None:
        if self._switch[0] <= 0:
            self._switch[1] += 1
            raise OperationalError(REFUSED)
        self._switch[0] -= 1

    def command(self, *args: Any, **kwargs: Any) -> Any:
        self._spend()
        return self._client.command(*args, **kwargs)

    def query(self, *args: Any, **kwargs: Any) -> Any:
        self._spend()
        return self._client.query(*args, **kwargs)

    def insert(self, *args: Any, **kwargs: Any) -> Any:
        self._spend()
        return self._client.insert(*args, **kwargs)


class OutageWarehouse(ClickHouseResource):
    """The embedded warehouse, cut off by the switch named ``outage``."""

    outage: str

    @contextlib.contextmanager
    def get_client(self) -> Iterator[Client]:
        with super().get_client() as client:
            yield _CutClient(client, _switches[self.outage])  # type: ignore[misc]
