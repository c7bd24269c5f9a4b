"""The DataLens views (each one file of ``warehouse/views/``, created by the schema step) and
the monitoring tables they read: ``meta_job_runs``, which the run-status sensors and the CLI
write, and ``meta_webhooks``, which the webhook heartbeat sensor writes."""

from collections.abc import Iterator

from dagster import AssetExecutionContext, AssetKey, AssetsDefinition, AssetSpec, MaterializeResult, multi_asset

from zakaz_pipeline.defs.assets.common import ROW_COUNT, table
from zakaz_pipeline.warehouse import registry
from zakaz_pipeline.warehouse.resource import ClickHouseResource


def meta_job_runs() -> AssetSpec:
    return AssetSpec(
        "meta_job_runs",
        description="One row per Dagster run (job, status, times, days, rows, first error line); "
        "written by the run-status sensor and the zakaz CLI.",
        metadata=table("meta_job_runs"),
        group_name="monitoring",
        kinds={"clickhouse"},
    )


def meta_webhooks() -> AssetSpec:
    return AssetSpec(
        "meta_webhooks",
        description="Heartbeats of the webhook receiver's queue (newest delivery, deliveries kept, signature "
        "refusals in the last hour); written by the qtickets_webhook_heartbeat sensor.",
        metadata=table("meta_webhooks"),
        group_name="monitoring",
        kinds={"clickhouse"},
    )


def view_assets() -> AssetsDefinition:
    """The registry's views as one step: opening the warehouse creates them, so
    materializing them only records what each now shows; one step (one connection) rather
    than one per view keeps a 15-minute tick's fixed cost down, and each view is still its
    own asset in the graph, downstream of what it reads."""
    specs = [
        AssetSpec(
            view.name,
            description=registry.shown(view.description),
            deps=[AssetKey(source) for source in view.sources],
            metadata=table(view.name),
            group_name="bi",
            kinds={"clickhouse"},
        )
        for view in registry.views()
    ]

    @multi_asset(specs=specs, name="datalens_views", can_subset=True)
    def datalens_views(context: AssetExecutionContext, warehouse: ClickHouseResource) -> Iterator[MaterializeResult]:
        selected = {key.to_user_string() for key in context.selected_asset_keys}
        with warehouse.get_client() as client:
            for name in (view.name for view in registry.views() if view.name in selected):
                rows = client.query(f"SELECT count() FROM {name}").result_rows[0][0]
                yield MaterializeResult(asset_key=name, metadata={ROW_COUNT: int(rows)})

    return datalens_views
