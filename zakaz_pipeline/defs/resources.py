"""Resources, configured from the environment with ``EnvVar`` so secrets stay out of
the definitions and the UI; optional variables fall back to their documented defaults."""

import os
from typing import Any

from dagster import ConfigurableResource, EnvVar
from pydantic import Field

from zakaz_pipeline.config import DEFAULT_ORG, MIN_PII_KEY_LENGTH, default_clickhouse_url
from zakaz_pipeline.qtickets.client import DEFAULT_BASE_URL, QticketsClient
from zakaz_pipeline.warehouse.connection import DEFAULT_DATABASE
from zakaz_pipeline.warehouse.io_manager import ClickHouseIOManager
from zakaz_pipeline.warehouse.resource import ClickHouseResource


class QticketsResource(ConfigurableResource):
    """The seller's Qtickets account: its API, and the ``org`` name its rows carry."""

    org: str = Field(default=DEFAULT_ORG, description="ORG_NAME: the account's name in the warehouse")
    base_url: str = Field(default=DEFAULT_BASE_URL, description="QTICKETS_BASE_URL")
    token: str = Field(description="QTICKETS_TOKEN (secret)")
    per_page: int = Field(default=500, description="items asked for per list page")

    def get_client(self) -> QticketsClient:
        return QticketsClient(base_url=self.base_url, token=self.token, per_page=self.per_page)


class PiiResource(ConfigurableResource):
    """The key of the buyer hash; required, because an unkeyed hash of an e-mail is
    reversible by anyone with a list of e-mails."""

    key: str = Field(description="ZAKAZ_PII_KEY (secret)")

    def key_bytes(self) -> bytes:
        if len(self.key) < MIN_PII_KEY_LENGTH:
            raise ValueError(f"ZAKAZ_PII_KEY must be at least {MIN_PII_KEY_LENGTH} characters")
        return self.key.encode()


def _env(name: str, default: str) -> Any:
    """``EnvVar(name)`` when the variable is set, else the default value."""
    return EnvVar(name) if os.environ.get(name, "").strip() else default


def build_resources() -> dict[str, Any]:
    warehouse = ClickHouseResource(
        url=_env("CLICKHOUSE_URL", default_clickhouse_url()),
        database=_env("CLICKHOUSE_DATABASE", DEFAULT_DATABASE),
    )
    org = _env("ORG_NAME", DEFAULT_ORG)
    return {
        "qtickets": QticketsResource(
            org=org, base_url=_env("QTICKETS_BASE_URL", DEFAULT_BASE_URL), token=EnvVar("QTICKETS_TOKEN")
        ),
        "pii": PiiResource(key=EnvVar("ZAKAZ_PII_KEY")),
        "warehouse": warehouse,
        "io_manager": ClickHouseIOManager(warehouse=warehouse, org=org),
    }
