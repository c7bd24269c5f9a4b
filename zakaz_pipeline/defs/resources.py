"""Resources, configured from the environment with ``EnvVar`` so secrets stay out of
the definitions and the UI; optional variables fall back to their documented defaults."""

import os
from typing import Any

from dagster import ConfigurableResource, EnvVar
from pydantic import Field

from zakaz_pipeline.config import DEFAULT_ORG, MIN_PII_KEY_LENGTH, default_clickhouse_url, env_float
from zakaz_pipeline.qtickets.client import DEFAULT_BASE_URL, DEFAULT_READ_TIMEOUT, QticketsClient
from zakaz_pipeline.qtickets.rules import DEFAULT_TIMEZONE
from zakaz_pipeline.warehouse.connection import DEFAULT_DATABASE
from zakaz_pipeline.warehouse.io_manager import ClickHouseIOManager
from zakaz_pipeline.warehouse.resource import ClickHouseResource


class QticketsResource(ConfigurableResource):
    """The seller's Qtickets account: its API, and the ``org`` name its rows carry."""

    org: str = Field(default=DEFAULT_ORG, description="ORG_NAME: the account's name in the warehouse")
    base_url: str = Field(default=DEFAULT_BASE_URL, description="QTICKETS_BASE_URL")
    token: str = Field(description="QTICKETS_TOKEN (secret)")
    per_page: int = Field(default=500, description="items asked for per list page")
    read_timeout: float = Field(
        default=DEFAULT_READ_TIMEOUT, description="QTICKETS_READ_TIMEOUT: seconds to wait for an answer before a retry"
    )

    def get_client(self) -> QticketsClient:
        return QticketsClient(
            base_url=self.base_url, token=self.token, per_page=self.per_page, read_timeout=self.read_timeout
        )


class PiiResource(ConfigurableResource):
    """The key of the buyer hash; required, because an unkeyed hash of an e-mail is
    reversible by anyone with a list of e-mails."""

    key: str = Field(description="ZAKAZ_PII_KEY (secret)")

    def key_bytes(self) -> bytes:
        if len(self.key) < MIN_PII_KEY_LENGTH:
            raise ValueError(f"ZAKAZ_PII_KEY must be at least {MIN_PII_KEY_LENGTH} characters")
        return self.key.encode()


class QualityResource(ConfigurableResource):
    """The org whose rows the asset checks read, and the thresholds they hold it to."""

    org: str = Field(default=DEFAULT_ORG, description="ORG_NAME")
    timezone: str = Field(default=DEFAULT_TIMEZONE, description="ZAKAZ_TIMEZONE: the reporting day")
    orders_warn_hours: float = Field(default=2, description="ZAKAZ_ORDERS_WARN_HOURS: newest paid order age → WARN")
    orders_error_hours: float = Field(default=48, description="ZAKAZ_ORDERS_ERROR_HOURS: newest paid order age → ERROR")
    inventory_warn_hours: float = Field(default=2, description="ZAKAZ_INVENTORY_WARN_HOURS: newest snapshot age → WARN")
    volume_max_drop: float = Field(default=0.5, description="ZAKAZ_VOLUME_MAX_DROP: day vs a week earlier → WARN")


def _env(name: str, default: str) -> Any:
    """``EnvVar(name)`` when the variable is set, else the default value."""
    return EnvVar(name) if os.environ.get(name, "").strip() else default


def _env_float(name: str, default: float) -> float:
    """Thresholds and timeouts are plain numbers, not secrets: read them now, with a clear error."""
    return env_float(os.environ, name, default)


def build_resources() -> dict[str, Any]:
    warehouse = ClickHouseResource(
        url=_env("CLICKHOUSE_URL", default_clickhouse_url()),
        database=_env("CLICKHOUSE_DATABASE", DEFAULT_DATABASE),
        cluster=_env("CLICKHOUSE_CLUSTER", ""),
        timezone=_env("ZAKAZ_TIMEZONE", DEFAULT_TIMEZONE),
    )
    org = _env("ORG_NAME", DEFAULT_ORG)
    return {
        "qtickets": QticketsResource(
            org=org,
            base_url=_env("QTICKETS_BASE_URL", DEFAULT_BASE_URL),
            token=EnvVar("QTICKETS_TOKEN"),
            read_timeout=_env_float("QTICKETS_READ_TIMEOUT", DEFAULT_READ_TIMEOUT),
        ),
        "pii": PiiResource(key=EnvVar("ZAKAZ_PII_KEY")),
        "quality": QualityResource(
            org=org,
            timezone=_env("ZAKAZ_TIMEZONE", DEFAULT_TIMEZONE),
            orders_warn_hours=_env_float("ZAKAZ_ORDERS_WARN_HOURS", 2),
            orders_error_hours=_env_float("ZAKAZ_ORDERS_ERROR_HOURS", 48),
            inventory_warn_hours=_env_float("ZAKAZ_INVENTORY_WARN_HOURS", 2),
            volume_max_drop=_env_float("ZAKAZ_VOLUME_MAX_DROP", 0.5),
        ),
        "warehouse": warehouse,
        "io_manager": ClickHouseIOManager(warehouse=warehouse, org=org),
    }
