"""``dim_events`` and ``dim_shows``: one scan of GET /events feeds both dimensions."""

from collections.abc import Iterator

from dagster import AssetExecutionContext, AssetOut, AssetsDefinition, Output, RetryPolicy, multi_asset

from zakaz_pipeline.columns import row_count
from zakaz_pipeline.defs.assets.common import qtickets_api, table
from zakaz_pipeline.defs.resources import QticketsResource
from zakaz_pipeline.qtickets.rows import event_columns


def events_assets(retry: RetryPolicy) -> AssetsDefinition:
    @multi_asset(
        outs={
            "dim_events": AssetOut(
                description="Events with their city (name, id, time zone) and active/deleted flags.",
                metadata=table("dim_events", write_mode="replace"),
                group_name="qtickets",
                kinds={"python", "clickhouse"},
            ),
            "dim_shows": AssetOut(
                description="Shows of every event: dates, sale window, price range, flags.",
                metadata=table("dim_shows", write_mode="replace"),
                group_name="qtickets",
                kinds={"python", "clickhouse"},
            ),
        },
        retry_policy=retry,
    )
    def qtickets_events(context: AssetExecutionContext, qtickets: QticketsResource) -> Iterator[Output]:
        """One scan of GET /events feeds both dimensions."""
        with qtickets_api(qtickets) as client:
            events = [event for page in client.iter_events() for event in page]
            event_rows, show_rows = event_columns(events, org=qtickets.org)
        context.log.info("fetched %d events with %d shows", row_count(event_rows), row_count(show_rows))
        yield Output(event_rows, output_name="dim_events", metadata={"events": row_count(event_rows)})
        yield Output(show_rows, output_name="dim_shows", metadata={"shows": row_count(show_rows)})

    return qtickets_events
