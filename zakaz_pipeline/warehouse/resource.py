"""The warehouse as a Dagster resource: one setting picks embedded chDB or a server."""

import contextlib
import threading
from collections.abc import Iterator

from clickhouse_connect.driver.client import Client
from dagster import ConfigurableResource, InitResourceContext
from pydantic import Field

from zakaz_pipeline.timezone import DEFAULT_TIMEZONE
from zakaz_pipeline.warehouse.connection import DEFAULT_DATABASE, WarehouseTarget, open_client, parse_target
from zakaz_pipeline.warehouse.schema import ensure_schema, view_definer

_schema_ready: set[tuple[str, str, str]] = set()
_schema_guard = threading.Lock()


class ClickHouseResource(ConfigurableResource):
    """``url`` is ``chdb://<dir>`` (embedded) or ``http(s)://user:password@host:port``."""

    url: str = Field(description="CLICKHOUSE_URL: chdb:///path or http(s)://user:password@host:port")
    database: str = Field(default=DEFAULT_DATABASE, description="CLICKHOUSE_DATABASE")
    cluster: str = Field(default="", description="CLICKHOUSE_CLUSTER: DDL ON CLUSTER with Replicated engines")
    timezone: str = Field(default="", description="ZAKAZ_TIMEZONE: the views' time zone (empty: Europe/Moscow)")

    @property
    def target(self) -> WarehouseTarget:
        return parse_target(self.url, self.database)

    @contextlib.contextmanager
    def yield_for_execution(self, context: InitResourceContext) -> Iterator["ClickHouseResource"]:
        """Hold one client for the whole run: the embedded engine then starts once per run
        instead of once per step, and the data path stays this run's until it ends."""
        with self.get_client():
            yield self

    @contextlib.contextmanager
    def get_client(self) -> Iterator[Client]:
        """A client on the database, its schema brought up to date once per process."""
        target = self.target
        with open_client(target) as client:
            timezone = self.timezone or DEFAULT_TIMEZONE
            key = (target.describe(), target.database, timezone)
            with _schema_guard:
                if key not in _schema_ready:
                    ensure_schema(client, self.cluster, timezone, view_definer(target.embedded))
                    _schema_ready.add(key)
            yield client
