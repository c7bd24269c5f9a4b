"""What the warehouse holds for one org, in a few figures: what ``zakaz sync`` prints after a run.

The figures are the ones a person checks against the account first (events, shows, sales,
seats left), read from the tables the DataLens views read, so they agree with the dashboards.
"""

from __future__ import annotations

from zakaz_pipeline.warehouse.connection import WarehouseTarget, open_client

SUMMARY_SQL = """
SELECT
    (SELECT count() FROM dim_events WHERE org = %(org)s),
    (SELECT count() FROM dim_shows WHERE org = %(org)s),
    (SELECT sum(orders) FROM fact_qtickets_sales_daily WHERE org = %(org)s),
    (SELECT sum(tickets_sold) FROM fact_qtickets_sales_daily WHERE org = %(org)s),
    (SELECT sum(gross_revenue) FROM fact_qtickets_sales_daily WHERE org = %(org)s),
    (SELECT sum(refunded_amount) FROM fact_qtickets_sales_daily WHERE org = %(org)s),
    (SELECT sum(revenue) FROM fact_qtickets_sales_daily WHERE org = %(org)s),
    (SELECT count() FROM fact_qtickets_inventory_latest WHERE org = %(org)s AND on_sale),
    (SELECT sum(tickets_left) FROM fact_qtickets_inventory_latest WHERE org = %(org)s AND on_sale)
"""
SUMMARY_LABELS = (
    "events", "shows", "orders sold", "tickets sold", "gross revenue", "refunded",
    "revenue", "shows on sale", "tickets left",
)  # fmt: skip


def org_summary(target: WarehouseTarget, org: str) -> dict[str, object]:
    """``label → value`` of what ``target`` holds for ``org``, in ``SUMMARY_LABELS`` order."""
    with open_client(target) as client:
        row = client.query(SUMMARY_SQL, parameters={"org": org}).result_rows[0]
    return dict(zip(SUMMARY_LABELS, row, strict=True))
