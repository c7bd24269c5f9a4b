-- Webhook monitoring. The receiver's queue is a SQLite file (ZAKAZ_WEBHOOK_QUEUE), which
-- DataLens cannot read; the qtickets_webhook_heartbeat sensor copies what monitoring needs
-- from it into this table: when the newest delivery was accepted, how many the queue keeps,
-- how many were refused for their signature in the hour before. Only figures, nothing of a
-- delivery. Heartbeats are kept 30 days (a history of refusals), the view reads the newest.
CREATE TABLE IF NOT EXISTS meta_webhooks
(
    org              LowCardinality(String),
    recorded_at      DateTime64(3, 'UTC'),
    last_received_at Nullable(DateTime64(3, 'UTC')) COMMENT 'newest delivery accepted; NULL: none in the queue',
    received_count   UInt64 COMMENT 'deliveries the queue keeps (its retention window)',
    bad_signatures   UInt64 COMMENT 'deliveries refused for their signature in the hour before recorded_at'
)
ENGINE = MergeTree
ORDER BY (org, recorded_at)
TTL toDateTime(recorded_at) + INTERVAL 30 DAY;

-- As in 005, plus a row per org for the webhooks once one was received (source
-- 'meta_webhooks': last_data_at is the newest delivery, minutes_since_data its age) and two
-- columns that only that row fills (NULL on the polled sources). The DataLens contract of
-- 005 holds: declared types, SETTINGS join_use_nulls = 1, NULL for what does not exist.
CREATE OR REPLACE VIEW v_qtickets_freshness
(
    org                LowCardinality(String),
    source             String COMMENT 'stg_qtickets_api_orders_raw, stg_qtickets_api_inventory_raw, dim_events or meta_webhooks',
    last_data_at       DateTime('{timezone}') COMMENT 'newest sale, snapshot, load or webhook received',
    minutes_since_data Int64,
    last_run_status    Nullable(String) COMMENT 'NULL: no recorded run targeted the table',
    last_run_at        Nullable(DateTime64(3, '{timezone}')),
    last_run_id        Nullable(String),
    last_success_at    Nullable(DateTime64(3, '{timezone}')) COMMENT 'NULL: no successful run recorded',
    webhooks_received  Nullable(UInt64) COMMENT 'meta_webhooks: deliveries the queue keeps; NULL on other sources',
    bad_signatures_1h  Nullable(UInt64) COMMENT 'meta_webhooks: refused for their signature in the last hour; NULL on other sources'
)
AS SELECT
    d.org                                                  AS org,
    d.source                                               AS source,
    toTimeZone(d.last_data_at, '{timezone}')               AS last_data_at,
    dateDiff('minute', d.last_data_at, now())              AS minutes_since_data,
    r.last_run_status                                      AS last_run_status,
    toTimeZone(r.last_run_at, '{timezone}')                AS last_run_at,
    r.last_run_id                                          AS last_run_id,
    toTimeZone(r.last_success_at, '{timezone}')            AS last_success_at,
    d.webhooks_received                                    AS webhooks_received,
    d.bad_signatures_1h                                    AS bad_signatures_1h
FROM
(
    SELECT org, 'stg_qtickets_api_orders_raw' AS source, max(sale_ts) AS last_data_at,
           CAST(NULL, 'Nullable(UInt64)') AS webhooks_received, CAST(NULL, 'Nullable(UInt64)') AS bad_signatures_1h
    FROM stg_qtickets_api_orders_raw
    WHERE (org, sales_date) IN (SELECT org, max(sales_date) FROM stg_qtickets_api_orders_raw GROUP BY org)
    GROUP BY org
    UNION ALL
    SELECT org, 'stg_qtickets_api_inventory_raw', max(snapshot_ts), NULL, NULL
    FROM stg_qtickets_api_inventory_raw GROUP BY org
    UNION ALL
    SELECT org, 'dim_events', max(loaded_at), NULL, NULL FROM dim_events GROUP BY org
    UNION ALL
    SELECT org, 'meta_webhooks', toDateTime(assumeNotNull(received), 'UTC'), toNullable(kept), toNullable(bad)
    FROM
    (
        SELECT org, argMax(last_received_at, recorded_at) AS received, argMax(received_count, recorded_at) AS kept,
               argMax(bad_signatures, recorded_at) AS bad
        FROM meta_webhooks
        GROUP BY org
    )
    WHERE received IS NOT NULL
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
SETTINGS join_use_nulls = 1
COMMENT 'DataLens: per source table (and the webhooks), the age of its newest data and its last run; times in {timezone}';
