"""Resources, configured from the validated ``Settings``; secrets reach them as ``EnvVar``
references, so they stay out of the definitions and the UI."""

from typing import Any

from dagster import ConfigurableResource, EnvVar, InitResourceContext
from pydantic import Field, PrivateAttr

from zakaz_pipeline.qtickets.client import DEFAULT_BASE_URL, DEFAULT_READ_TIMEOUT, QticketsClient
from zakaz_pipeline.qtickets.concurrency import DEFAULT_MAX_IN_FLIGHT, RequestLimiter
from zakaz_pipeline.settings import DEFAULT_ORG, MIN_PII_KEY_LENGTH, Settings
from zakaz_pipeline.timezone import DEFAULT_TIMEZONE
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

    max_in_flight: int = Field(
        default=DEFAULT_MAX_IN_FLIGHT, description="QTICKETS_MAX_IN_FLIGHT: API requests of a run travelling at once"
    )
    orders_strategy: str = Field(
        default="auto", description="QTICKETS_ORDERS_STRATEGY: auto (the API's findings), filtered or scan"
    )
    _limiter: RequestLimiter | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        """One limit for the requests of the run's process: Dagster sets a resource up once per
        process of a run, so the steps the in-process executor runs share it (one step per
        process, under a multiprocess executor, each has its own)."""
        self._limiter = RequestLimiter(self.max_in_flight)

    def get_client(self) -> QticketsClient:
        return QticketsClient(
            base_url=self.base_url,
            token=self.token,
            per_page=self.per_page,
            read_timeout=self.read_timeout,
            max_in_flight=self.max_in_flight,
            limiter=self._limiter,
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
    allow_wide_networks: bool = Field(
        default=False, description="CLICKHOUSE_ALLOW_WIDE_NETWORKS: the access check accepts ranges past a /8"
    )


def build_resources(settings: Settings) -> dict[str, Any]:
    """The resources of ``settings``; secrets as ``EnvVar`` references (``Settings.secret``).

    ``org`` is passed from the one setting into the three resources that need it (the API's
    rows, the IO manager's slices, the checks' filter) rather than read from one another:
    the warehouse's IO manager must not depend on the Qtickets resource, and each stays
    usable alone (tests, ``zakaz check``)."""
    warehouse = ClickHouseResource(
        url=_secret(settings, "clickhouse_url"),
        database=settings.clickhouse_database,
        cluster=settings.clickhouse_cluster,
        timezone=settings.timezone,
    )
    return {
        "qtickets": QticketsResource(
            org=settings.org,
            base_url=settings.base_url,
            token=_secret(settings, "token"),
            read_timeout=settings.read_timeout,
            max_in_flight=settings.max_in_flight,
            orders_strategy=settings.orders_strategy,
        ),
        "pii": PiiResource(key=_secret(settings, "pii_key")),
        "quality": QualityResource(
            org=settings.org,
            timezone=settings.timezone,
            orders_warn_hours=settings.orders_warn_hours,
            orders_error_hours=settings.orders_error_hours,
            inventory_warn_hours=settings.inventory_warn_hours,
            volume_max_drop=settings.volume_max_drop,
            allow_wide_networks=settings.allow_wide_networks,
        ),
        "warehouse": warehouse,
        "io_manager": ClickHouseIOManager(warehouse=warehouse, org=settings.org),
    }


def _secret(settings: Settings, name: str) -> Any:
    """A secret as a resource field: ``EnvVar`` of its variable (the UI and run config show
    the name, never the value), or the value where the settings did not come from the process."""
    variable = settings.secret_variable(name)
    return EnvVar(variable) if variable else getattr(settings, name)
