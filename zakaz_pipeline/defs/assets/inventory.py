"""``stg_qtickets_api_inventory_raw``: a seat snapshot of every show on sale, appended each run."""

from dagster import AssetExecutionContext, AssetsDefinition, RetryPolicy, asset

from zakaz_pipeline.columns import Columns, empty_columns
from zakaz_pipeline.defs.assets.common import qtickets_api, table
from zakaz_pipeline.defs.resources import QticketsResource
from zakaz_pipeline.defs.seat_prefetch import snapshot_time
from zakaz_pipeline.qtickets.rows import INVENTORY_COLUMNS, show_inventory, shows_on_sale


def inventory_asset(retry: RetryPolicy) -> AssetsDefinition:
    @asset(
        description="Seat inventory snapshot of every show on sale (append-only).",
        metadata=table("stg_qtickets_api_inventory_raw", write_mode="append"),
        group_name="qtickets",
        kinds={"python", "clickhouse"},
        retry_policy=retry,
    )
    def stg_qtickets_api_inventory_raw(
        context: AssetExecutionContext, qtickets: QticketsResource, dim_events: Columns, dim_shows: Columns
    ) -> Columns:
        early = qtickets.take_seat_counts()  # requested by the events step of this run, if it could
        now = early.at if early is not None else snapshot_time()
        on_sale = shows_on_sale(dim_events, dim_shows, now)
        show_ids = [show_id for _, show_id in on_sale]
        out = empty_columns(INVENTORY_COLUMNS)
        with qtickets_api(qtickets) as client:
            if early is not None:
                counts = early.of(show_ids, client)
            else:  # side by side, within the run's limit
                counts = [show_inventory(seats) for seats in client.seats_of(show_ids)]
            for (event_id, show_id), (total, left) in zip(on_sale, counts, strict=True):
                row = (qtickets.org, now, event_id, show_id, total, left)
                for name, value in zip(INVENTORY_COLUMNS, row, strict=True):
                    out[name].append(value)
        context.log.info("snapshot of %d shows on sale", len(on_sale))
        return out

    return stg_qtickets_api_inventory_raw
