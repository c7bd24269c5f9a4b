-- One row per Dagster run, written by the run-status sensor (and by the zakaz CLI for its
-- own runs); a run recorded twice collapses to the newest record.
CREATE TABLE IF NOT EXISTS meta_job_runs
(
    org          LowCardinality(String),
    run_id       String,
    job          LowCardinality(String),
    status       LowCardinality(String),
    started_at   Nullable(DateTime64(3, 'UTC')),
    finished_at  Nullable(DateTime64(3, 'UTC')),
    partitions   String COMMENT 'the run''s sales days: a day, first…last, or empty',
    assets       Array(String) COMMENT 'asset keys the run targeted',
    rows_written UInt64,
    message      String COMMENT 'first line of the error of a failed run',
    recorded_at  DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(recorded_at)
ORDER BY (org, run_id);

-- The last 14 days (the ClickHouse server's today) of the dashboard's daily sales.
CREATE OR REPLACE VIEW v_sales_14d AS
SELECT
    sales_date, org, event_id, event_name, city, orders, tickets_sold, gross_revenue, refunded_amount, revenue
FROM v_qtickets_sales_dashboard
WHERE sales_date > today() - 14;

-- One row per event: sales today, yesterday, 7 days, all time, and its inventory on sale now.
CREATE OR REPLACE VIEW v_sales_latest AS
SELECT
    f.org                                                            AS org,
    f.event_id                                                       AS event_id,
    any(ifNull(e.event_name, ''))                                    AS event_name,
    any(f.city)                                                      AS city,
    max(f.sales_date)                                                AS last_sales_date,
    sumIf(f.tickets_sold, f.sales_date = today())                    AS tickets_sold_today,
    sumIf(f.revenue, f.sales_date = today())                         AS revenue_today,
    sumIf(f.tickets_sold, f.sales_date = today() - 1)                AS tickets_sold_yesterday,
    sumIf(f.revenue, f.sales_date = today() - 1)                     AS revenue_yesterday,
    sumIf(f.tickets_sold, f.sales_date > today() - 7)                AS tickets_sold_7d,
    sumIf(f.revenue, f.sales_date > today() - 7)                     AS revenue_7d,
    sum(f.tickets_sold)                                              AS tickets_sold_total,
    sum(f.revenue)                                                   AS revenue_total,
    any(ifNull(inv.tickets_total, 0))                                AS tickets_total,
    any(ifNull(inv.tickets_left, 0))                                 AS tickets_left,
    any(inv.snapshot_ts)                                             AS inventory_snapshot_ts
FROM fact_qtickets_sales_daily AS f
LEFT JOIN dim_events AS e ON e.org = f.org AND e.event_id = f.event_id
LEFT JOIN
(
    SELECT org, event_id, sum(tickets_total) AS tickets_total, sum(tickets_left) AS tickets_left,
           max(snapshot_ts) AS snapshot_ts
    FROM fact_qtickets_inventory_latest
    WHERE on_sale
    GROUP BY org, event_id
) AS inv ON inv.org = f.org AND inv.event_id = f.event_id
GROUP BY f.org, f.event_id
SETTINGS join_use_nulls = 1;

-- Per org and source table: how old its newest data is and how its last run ended.
CREATE OR REPLACE VIEW v_qtickets_freshness AS
SELECT
    d.org                                              AS org,
    d.source                                           AS source,
    d.last_data_at                                     AS last_data_at,
    dateDiff('minute', d.last_data_at, now())          AS minutes_since_data,
    r.last_run_status                                  AS last_run_status,
    r.last_run_at                                      AS last_run_at,
    r.last_run_id                                      AS last_run_id,
    r.last_success_at                                  AS last_success_at
FROM
(
    SELECT org, 'stg_qtickets_api_orders_raw' AS source, max(sale_ts) AS last_data_at
    FROM stg_qtickets_api_orders_raw GROUP BY org
    UNION ALL
    SELECT org, 'stg_qtickets_api_inventory_raw', max(snapshot_ts) FROM stg_qtickets_api_inventory_raw GROUP BY org
    UNION ALL
    SELECT org, 'dim_events', max(loaded_at) FROM dim_events GROUP BY org
) AS d
LEFT JOIN
(
    SELECT
        org,
        asset                                                  AS source,
        argMax(status, ifNull(finished_at, recorded_at))       AS last_run_status,
        max(ifNull(finished_at, recorded_at))                  AS last_run_at,
        argMax(run_id, ifNull(finished_at, recorded_at))       AS last_run_id,
        maxIf(finished_at, status = 'SUCCESS')                 AS last_success_at
    FROM meta_job_runs FINAL
    ARRAY JOIN assets AS asset
    GROUP BY org, asset
) AS r ON r.org = d.org AND r.source = d.source
SETTINGS join_use_nulls = 1;
