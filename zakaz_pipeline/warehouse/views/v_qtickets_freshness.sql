-- Per org and source table (and the webhooks), how old its newest data is and how its last
-- run ended. The orders' newest sale is read from each org's newest sales day only:
-- sales_date is the day of sale_ts in ZAKAZ_TIMEZONE, so no later sale lives on an earlier
-- day; the inner max comes from the parts' min-max metadata and the outer scan is pruned to
-- that day's partition. The meta_webhooks row (once a webhook was received) has a status of
-- its own: the newest heartbeat of the webhook queue (written every 10 minutes at least),
-- SUCCESS under 30 minutes old, STALE otherwise, instead of a NULL a chart paints red.
-- measures: last_data_at, last_run_at, last_success_at = MAX
-- measures: minutes_since_data = MAX (the stalest source)
-- measures: webhooks_received, bad_signatures_1h = SUM
CREATE OR REPLACE VIEW v_qtickets_freshness
(
    org                LowCardinality(String) COMMENT 'the Qtickets account (ORG_NAME)',
    source             String COMMENT 'stg_qtickets_api_orders_raw, stg_qtickets_api_inventory_raw, dim_events or meta_webhooks',
    last_data_at       DateTime('{timezone}') COMMENT 'newest sale, snapshot, load or webhook received',
    minutes_since_data Int64 COMMENT 'minutes from last_data_at to now; on meta_webhooks large in a quiet hour',
    last_run_status    Nullable(String) COMMENT 'how the latest run that targeted the table ended (SUCCESS, FAILURE, …); meta_webhooks: SUCCESS while the webhook heartbeat is under 30 minutes old, else STALE; NULL: no run recorded',
    last_run_at        Nullable(DateTime64(3, '{timezone}')) COMMENT 'when that run ended (meta_webhooks: the newest heartbeat); NULL: none',
    last_run_id        Nullable(String) COMMENT 'Dagster run id of that run; NULL: none, or the webhooks row',
    last_success_at    Nullable(DateTime64(3, '{timezone}')) COMMENT 'when the latest successful run ended (meta_webhooks: the newest heartbeat); NULL: no success recorded',
    webhooks_received  Nullable(UInt64) COMMENT 'meta_webhooks: deliveries the queue keeps; NULL on other sources',
    bad_signatures_1h  Nullable(UInt64) COMMENT 'meta_webhooks: refused for their signature in the last hour; NULL on other sources'
)
DEFINER = {definer} SQL SECURITY DEFINER
AS SELECT
    d.org                                                                 AS org,
    d.source                                                              AS source,
    toTimeZone(d.last_data_at, '{timezone}')                              AS last_data_at,
    dateDiff('minute', d.last_data_at, now())                             AS minutes_since_data,
    coalesce(r.last_run_status, d.heartbeat_status)                       AS last_run_status,
    toTimeZone(coalesce(r.last_run_at, d.heartbeat_at), '{timezone}')     AS last_run_at,
    r.last_run_id                                                         AS last_run_id,
    toTimeZone(coalesce(r.last_success_at, d.heartbeat_at), '{timezone}') AS last_success_at,
    d.webhooks_received                                                   AS webhooks_received,
    d.bad_signatures_1h                                                   AS bad_signatures_1h
FROM
(
    SELECT org, 'stg_qtickets_api_orders_raw' AS source, max(sale_ts) AS last_data_at,
           CAST(NULL, 'Nullable(UInt64)') AS webhooks_received, CAST(NULL, 'Nullable(UInt64)') AS bad_signatures_1h,
           CAST(NULL, 'Nullable(String)') AS heartbeat_status, CAST(NULL, 'Nullable(DateTime64(3, \'UTC\'))') AS heartbeat_at
    FROM stg_qtickets_api_orders_raw
    WHERE (org, sales_date) IN (SELECT org, max(sales_date) FROM stg_qtickets_api_orders_raw GROUP BY org)
    GROUP BY org
    UNION ALL
    SELECT org, 'stg_qtickets_api_inventory_raw', max(snapshot_ts), NULL, NULL, NULL, NULL
    FROM stg_qtickets_api_inventory_raw GROUP BY org
    UNION ALL
    SELECT org, 'dim_events', max(loaded_at), NULL, NULL, NULL, NULL FROM dim_events GROUP BY org
    UNION ALL
    SELECT org, 'meta_webhooks', toDateTime(assumeNotNull(received), 'UTC'), toNullable(kept), toNullable(bad),
           toNullable(if(heartbeat >= now() - INTERVAL 30 MINUTE, 'SUCCESS', 'STALE')), toNullable(heartbeat)
    FROM
    (
        SELECT org, argMax(last_received_at, recorded_at) AS received, argMax(received_count, recorded_at) AS kept,
               argMax(bad_signatures, recorded_at) AS bad, max(recorded_at) AS heartbeat
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
