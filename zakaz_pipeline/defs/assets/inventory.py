"""``stg_qtickets_api_inventory_raw``: a seat snapshot of every show on sale, appended each run.

The shows on sale come in as the step's inputs (``dim_events``, ``dim_shows``), so the step
works the same under any executor; their seats are requested side by side within the run's
request limit (``QticketsClient.seats_of``)."""

import datetime as dt

from dagster import AssetExecutionContext, AssetsDefinition, RetryPolicy, asset

from zakaz_pipeline.columns import Columns, empty_columns
from zakaz_pipeline.defs.assets.common import qtickets_api, table
from zakaz_pipeline.defs.resources import QticketsResource
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
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        on_sale = shows_on_sale(dim_events, dim_shows, now)
        out = empty_columns(INVENTORY_COLUMNS)
        with qtickets_api(qtickets) as client:
            counts = [show_inventory(seats) for seats in client.seats_of([show_id for _, show_id in on_sale])]
            for (event_id, show_id), (total, left) in zip(on_sale, counts, strict=True):
                row = (qtickets.org, now, event_id, show_id, total, left)
                for name, value in zip(INVENTORY_COLUMNS, row, strict=True):
                    out[name].append(value)
        context.log.info("snapshot of %d shows on sale", len(on_sale))
        return out

    return stg_qtickets_api_inventory_raw
