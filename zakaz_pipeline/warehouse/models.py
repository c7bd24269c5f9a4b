"""The SQL that builds facts from raw tables, run inside ClickHouse for one slice.

Each query is the body of an ``INSERT … SELECT`` into a staging table (see
``writes.SelectInto``); the slice bounds ``%(org)s``, ``%(start)s``, ``%(end)s`` are
bound parameters. The definitions they encode are docs/ARCHITECTURE.md's "Definitions".
"""

from __future__ import annotations

from zakaz_pipeline.warehouse.writes import SelectInto

SALES_DAILY_COLUMNS = (
    "sales_date", "org", "event_id", "city", "orders", "tickets_sold",
    "gross_revenue", "refunded_amount", "revenue",
)  # fmt: skip

# A sold ticket: order paid (payed, with a payment time), order and basket not deleted.
# Migration 004 recomputes the whole fact with this query for every org and day; a test
# holds the two equal, so a change here also needs a migration that recomputes the fact.
SALES_DAILY_SQL = """
SELECT
    t.sales_date,
    t.org,
    t.event_id,
    ifNull(e.city, '') AS city,
    t.orders,
    t.tickets_sold,
    t.gross_revenue,
    t.refunded_amount,
    t.gross_revenue - t.refunded_amount AS revenue
FROM
(
    SELECT
        sales_date,
        org,
        event_id,
        uniqExact(order_id)                                           AS orders,
        sumIf(toUInt64(quantity), refunded_at IS NULL)                AS tickets_sold,
        toDecimal128(sum(price), 2)                                   AS gross_revenue,
        toDecimal128(sum(refunded_amount), 2)                         AS refunded_amount
    FROM stg_qtickets_api_orders_raw
    WHERE org = %(org)s AND sales_date >= %(start)s AND sales_date < %(end)s
      AND payed AND order_deleted_at IS NULL AND basket_deleted_at IS NULL
    GROUP BY sales_date, org, event_id
) AS t
LEFT JOIN
(
    SELECT event_id, city FROM dim_events WHERE org = %(org)s
) AS e ON e.event_id = t.event_id
SETTINGS join_use_nulls = 1
"""

INVENTORY_LATEST_COLUMNS = (
    "org", "show_id", "event_id", "event_name", "city", "show_start_at",
    "snapshot_ts", "tickets_total", "tickets_left", "on_sale",
)  # fmt: skip

# The newest snapshot of every show ever snapshotted; shows in the org's newest
# snapshot are the ones still on sale.
INVENTORY_LATEST_SQL = """
SELECT
    i.org,
    i.show_id,
    i.event_id,
    ifNull(e.event_name, '') AS event_name,
    ifNull(e.city, '') AS city,
    s.start_date AS show_start_at,
    i.latest_ts AS snapshot_ts,
    i.tickets_total,
    i.tickets_left,
    i.latest_ts = (SELECT max(snapshot_ts) FROM stg_qtickets_api_inventory_raw WHERE org = %(org)s) AS on_sale
FROM
(
    SELECT
        org,
        show_id,
        argMax(event_id, snapshot_ts)      AS event_id,
        max(snapshot_ts)                   AS latest_ts,
        argMax(tickets_total, snapshot_ts) AS tickets_total,
        argMax(tickets_left, snapshot_ts)  AS tickets_left
    FROM stg_qtickets_api_inventory_raw
    WHERE org = %(org)s
    GROUP BY org, show_id
) AS i
LEFT JOIN (SELECT event_id, event_name, city FROM dim_events WHERE org = %(org)s) AS e ON e.event_id = i.event_id
LEFT JOIN (SELECT show_id, start_date FROM dim_shows WHERE org = %(org)s) AS s ON s.show_id = i.show_id
SETTINGS join_use_nulls = 1
"""


def sales_daily() -> SelectInto:
    return SelectInto(SALES_DAILY_SQL, SALES_DAILY_COLUMNS)


def inventory_latest() -> SelectInto:
    return SelectInto(INVENTORY_LATEST_SQL, INVENTORY_LATEST_COLUMNS)
