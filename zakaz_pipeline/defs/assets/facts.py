"""The facts, computed inside ClickHouse: each asset hands the IO manager a ``SelectInto``."""

from dagster import AssetKey, AssetsDefinition, BackfillPolicy, DailyPartitionsDefinition, asset

from zakaz_pipeline.defs.assets.common import DAILY_IN_MONTHLY_TABLE, table
from zakaz_pipeline.warehouse import models
from zakaz_pipeline.warehouse.writes import SelectInto

SALES_FACT_POOL = "zakaz_sales_fact"


def fact_assets(partitions: DailyPartitionsDefinition) -> list[AssetsDefinition]:
    @asset(
        description="Daily sales per sales day, event and city: orders, tickets, gross, refunds, revenue.",
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.single_run(),
        metadata=table("fact_qtickets_sales_daily", **DAILY_IN_MONTHLY_TABLE),
        # A write recomputes whole months from raw: two runs with days of one month must take
        # turns, or the later swap could keep the other run's day as it was before its raw swap.
        pool=SALES_FACT_POOL,
        deps=[AssetKey("stg_qtickets_api_orders_raw"), AssetKey("dim_events")],
        group_name="facts",
        kinds={"clickhouse"},
    )
    def fact_qtickets_sales_daily() -> SelectInto:
        return models.sales_daily()

    @asset(
        description="The newest inventory snapshot of every show, with event name and city.",
        metadata=table("fact_qtickets_inventory_latest", write_mode="replace"),
        deps=[AssetKey("stg_qtickets_api_inventory_raw"), AssetKey("dim_events"), AssetKey("dim_shows")],
        group_name="facts",
        kinds={"clickhouse"},
    )
    def fact_qtickets_inventory_latest() -> SelectInto:
        return models.inventory_latest()

    return [fact_qtickets_sales_daily, fact_qtickets_inventory_latest]
