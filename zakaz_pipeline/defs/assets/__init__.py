"""The asset graph, by domain: API → raw tables → facts → the DataLens views.

``events`` (dim_events, dim_shows), ``orders`` (the raw tickets, by sales day),
``inventory`` (seat snapshots), ``facts`` (computed in ClickHouse) and ``views`` (DataLens,
and ``meta_job_runs`` they read). Each module builds its assets from what it needs; raw
assets hand rows to the ClickHouse IO manager, facts hand it a ``SelectInto``.
"""

from dagster import AssetsDefinition, AssetSpec, DailyPartitionsDefinition

from zakaz_pipeline.defs.assets.common import step_retry
from zakaz_pipeline.defs.assets.events import events_assets
from zakaz_pipeline.defs.assets.facts import fact_assets
from zakaz_pipeline.defs.assets.inventory import inventory_asset
from zakaz_pipeline.defs.assets.orders import orders_asset
from zakaz_pipeline.defs.assets.views import meta_job_runs, meta_webhooks, view_assets


def build_assets(partitions: DailyPartitionsDefinition, *, retry_delay: float) -> list[AssetsDefinition | AssetSpec]:
    """Every asset, daily ones on ``partitions``; API and warehouse steps retried after ``retry_delay`` s."""
    retry = step_retry(retry_delay)
    return [
        events_assets(retry),
        orders_asset(partitions, retry),
        inventory_asset(retry),
        *fact_assets(partitions),
        meta_job_runs(),
        meta_webhooks(),
        view_assets(),
    ]
