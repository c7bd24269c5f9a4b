"""The DataLens views (their DDL is a schema migration) and the monitoring tables they read:
``meta_job_runs``, which the run-status sensors and the CLI write, and ``meta_webhooks``,
which the webhook heartbeat sensor writes."""

from collections.abc import Iterator

from dagster import AssetExecutionContext, AssetKey, AssetsDefinition, AssetSpec, MaterializeResult, multi_asset

from zakaz_pipeline.defs.assets.common import ROW_COUNT, table
from zakaz_pipeline.warehouse.resource import ClickHouseResource

ORDERS, INVENTORY = AssetKey("stg_qtickets_api_orders_raw"), AssetKey("stg_qtickets_api_inventory_raw")
EVENTS, SHOWS = AssetKey("dim_events"), AssetKey("dim_shows")
SALES, INVENTORY_LATEST = AssetKey("fact_qtickets_sales_daily"), AssetKey("fact_qtickets_inventory_latest")
# name, description, upstream assets
VIEWS = (
    ("v_qtickets_sales_dashboard", "DataLens: daily sales per event, with its name and city.", [SALES, EVENTS]),
    ("v_sales_14d", "DataLens: the dashboard's daily sales of the last 14 days.",
     [AssetKey("v_qtickets_sales_dashboard")]),
    ("v_sales_latest",
     "DataLens: per event with sales or on sale, sales today, yesterday, 7 days and all time, and its seats on sale.",
     [SALES, INVENTORY_LATEST, EVENTS]),
    ("v_qtickets_freshness", "DataLens: per source table, the age of its newest data and its last run's status.",
     [ORDERS, INVENTORY, EVENTS, AssetKey("meta_job_runs"), AssetKey("meta_webhooks")]),
    ("v_inventory_history",
     "DataLens: every inventory snapshot of every show, with the seats taken since the previous snapshot.",
     [INVENTORY, EVENTS, SHOWS]),
    ("v_show_sell_through",
     "DataLens: per show on sale, capacity, sold, % sold, sold in 1 / 7 days, days to the show, projected sell-out.",
     [AssetKey("v_inventory_history")]),
)  # fmt: skip


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
    """The DataLens views as one step: their DDL is a schema migration, so materializing
    them only records what each now shows; one step (one connection) rather than six keeps
    a 15-minute tick's fixed cost down, and each view is still its own asset in the graph."""
    specs = [
        AssetSpec(name, description=description, deps=deps, metadata=table(name), group_name="bi", kinds={"clickhouse"})
        for name, description, deps in VIEWS
    ]

    @multi_asset(specs=specs, name="datalens_views", can_subset=True)
    def datalens_views(context: AssetExecutionContext, warehouse: ClickHouseResource) -> Iterator[MaterializeResult]:
        selected = {key.to_user_string() for key in context.selected_asset_keys}
        with warehouse.get_client() as client:
            for name in (name for name, _, _ in VIEWS if name in selected):
                rows = client.query(f"SELECT count() FROM {name}").result_rows[0][0]
                yield MaterializeResult(asset_key=name, metadata={ROW_COUNT: int(rows)})

    return datalens_views
