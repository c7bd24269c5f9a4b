-- Daily sales per event for DataLens, with the event's latest inventory beside it.
CREATE OR REPLACE VIEW v_qtickets_sales_dashboard AS
SELECT
    f.sales_date                        AS sales_date,
    f.org                               AS org,
    f.event_id                          AS event_id,
    e.event_name                        AS event_name,
    f.city                              AS city,
    f.orders                            AS orders,
    f.tickets_sold                      AS tickets_sold,
    f.gross_revenue                     AS gross_revenue,
    f.refunded_amount                   AS refunded_amount,
    f.revenue                           AS revenue,
    inv.tickets_total                   AS tickets_total,
    inv.tickets_left                    AS tickets_left,
    inv.snapshot_ts                     AS inventory_snapshot_ts
FROM fact_qtickets_sales_daily AS f
LEFT JOIN dim_events AS e ON e.org = f.org AND e.event_id = f.event_id
LEFT JOIN
(
    SELECT org, event_id, sum(tickets_total) AS tickets_total, sum(tickets_left) AS tickets_left,
           max(snapshot_ts) AS snapshot_ts
    FROM fact_qtickets_inventory_latest
    WHERE on_sale
    GROUP BY org, event_id
) AS inv ON inv.org = f.org AND inv.event_id = f.event_id;
