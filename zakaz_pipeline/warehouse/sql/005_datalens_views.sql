-- The DataLens contract. DataLens runs every query with join_use_nulls = 1 (and readonly = 2;
-- it sends no max_execution_time); a view whose stored column types were computed without it
-- fails with Code 80 "Nullable column having not Nullable type". Each view below
--   * declares its columns and types, so its structure no longer depends on the session
--     that created it, and ends its SELECT with SETTINGS join_use_nulls = 1 (DataLens's own
--     advice), so the same rows and types come back under any session;
--   * says NULL where a value does not exist: no epoch for "no snapshot", no 0 for "nothing
--     on sale", no '' for an event missing from dim_events;
--   * reckons "today" and shows every timestamp in ZAKAZ_TIMEZONE ({timezone}, rendered by
--     schema.py; the view's COMMENT names the zone, so a changed setting re-renders it),
--     never in the server's or session's zone;
--   * keeps money Decimal(18, 2): DataLens reads Decimal as a float, exact to the kopeck at
--     these magnitudes; ratios and rates are rounded for display.
CREATE OR REPLACE VIEW v_qtickets_sales_dashboard
(
    sales_date            Date COMMENT 'day of payment in {timezone}',
    org                   LowCardinality(String),
    event_id              UInt64,
    event_name            Nullable(String) COMMENT 'NULL: the event is missing from dim_events',
    city                  LowCardinality(Nullable(String)) COMMENT 'NULL: the event''s city is unknown',
    orders                UInt64,
    tickets_sold          UInt64,
    gross_revenue         Decimal(18, 2) COMMENT 'roubles; DataLens reads Decimal as a float',
    refunded_amount       Decimal(18, 2) COMMENT 'roubles, on the day of the sale; DataLens reads Decimal as a float',
    revenue               Decimal(18, 2) COMMENT 'gross_revenue - refunded_amount, roubles; DataLens reads Decimal as a float',
    tickets_total         Nullable(UInt64) COMMENT 'capacity of the event''s shows on sale now; NULL: none on sale',
    tickets_left          Nullable(UInt64) COMMENT 'free seats of the event''s shows on sale now; NULL: none on sale',
    inventory_snapshot_ts Nullable(DateTime('{timezone}')) COMMENT 'newest snapshot of those shows; NULL: none on sale'
)
AS SELECT
    f.sales_date        AS sales_date,
    f.org               AS org,
    f.event_id          AS event_id,
    e.event_name        AS event_name,
    nullIf(f.city, '')  AS city,
    f.orders            AS orders,
    f.tickets_sold      AS tickets_sold,
    f.gross_revenue     AS gross_revenue,
    f.refunded_amount   AS refunded_amount,
    f.revenue           AS revenue,
    inv.tickets_total   AS tickets_total,
    inv.tickets_left    AS tickets_left,
    toTimeZone(inv.snapshot_ts, '{timezone}') AS inventory_snapshot_ts
FROM fact_qtickets_sales_daily AS f
LEFT JOIN (SELECT org, event_id, event_name FROM dim_events) AS e ON e.org = f.org AND e.event_id = f.event_id
LEFT JOIN
(
    SELECT org, event_id, sum(tickets_total) AS tickets_total, sum(tickets_left) AS tickets_left,
           max(snapshot_ts) AS snapshot_ts
    FROM fact_qtickets_inventory_latest
    WHERE on_sale
    GROUP BY org, event_id
) AS inv ON inv.org = f.org AND inv.event_id = f.event_id
SETTINGS join_use_nulls = 1
COMMENT 'DataLens: daily sales per event with its inventory on sale now; times in {timezone}';

CREATE OR REPLACE VIEW v_sales_14d
(
    sales_date      Date COMMENT 'day of payment in {timezone}; the last 14 days including today',
    org             LowCardinality(String),
    event_id        UInt64,
    event_name      Nullable(String) COMMENT 'NULL: the event is missing from dim_events',
    city            LowCardinality(Nullable(String)) COMMENT 'NULL: the event''s city is unknown',
    orders          UInt64,
    tickets_sold    UInt64,
    gross_revenue   Decimal(18, 2) COMMENT 'roubles; DataLens reads Decimal as a float',
    refunded_amount Decimal(18, 2) COMMENT 'roubles; DataLens reads Decimal as a float',
    revenue         Decimal(18, 2) COMMENT 'roubles; DataLens reads Decimal as a float'
)
AS SELECT
    sales_date, org, event_id, event_name, city, orders, tickets_sold, gross_revenue, refunded_amount, revenue
FROM v_qtickets_sales_dashboard
WHERE sales_date > toDate(now(), '{timezone}') - 14
COMMENT 'DataLens: the dashboard''s daily sales of the last 14 days; today in {timezone}';

CREATE OR REPLACE VIEW v_sales_latest
(
    org                    LowCardinality(String),
    event_id               UInt64,
    event_name             Nullable(String) COMMENT 'NULL: the event is missing from dim_events',
    city                   LowCardinality(Nullable(String)) COMMENT 'NULL: the event''s city is unknown',
    last_sales_date        Date COMMENT 'newest day with a sale, in {timezone}',
    tickets_sold_today     UInt64 COMMENT 'today in {timezone}',
    revenue_today          Decimal(18, 2) COMMENT 'roubles; DataLens reads Decimal as a float',
    tickets_sold_yesterday UInt64,
    revenue_yesterday      Decimal(18, 2) COMMENT 'roubles; DataLens reads Decimal as a float',
    tickets_sold_7d        UInt64 COMMENT 'the last 7 days including today',
    revenue_7d             Decimal(18, 2) COMMENT 'roubles; DataLens reads Decimal as a float',
    tickets_sold_total     UInt64 COMMENT 'all time',
    revenue_total          Decimal(18, 2) COMMENT 'roubles, all time; DataLens reads Decimal as a float',
    tickets_total          Nullable(UInt64) COMMENT 'capacity of the event''s shows on sale now; NULL: none on sale',
    tickets_left           Nullable(UInt64) COMMENT 'free seats of the event''s shows on sale now; NULL: none on sale',
    inventory_snapshot_ts  Nullable(DateTime('{timezone}')) COMMENT 'newest snapshot of those shows; NULL: none on sale'
)
AS WITH toDate(now(), '{timezone}') AS today
SELECT
    f.org                                                                 AS org,
    f.event_id                                                            AS event_id,
    any(e.event_name)                                                     AS event_name,
    nullIf(any(f.city), '')                                               AS city,
    max(f.sales_date)                                                     AS last_sales_date,
    sumIf(f.tickets_sold, f.sales_date = today)                           AS tickets_sold_today,
    CAST(sumIf(f.revenue, f.sales_date = today) AS Decimal(18, 2))        AS revenue_today,
    sumIf(f.tickets_sold, f.sales_date = today - 1)                       AS tickets_sold_yesterday,
    CAST(sumIf(f.revenue, f.sales_date = today - 1) AS Decimal(18, 2))    AS revenue_yesterday,
    sumIf(f.tickets_sold, f.sales_date > today - 7)                       AS tickets_sold_7d,
    CAST(sumIf(f.revenue, f.sales_date > today - 7) AS Decimal(18, 2))    AS revenue_7d,
    sum(f.tickets_sold)                                                   AS tickets_sold_total,
    CAST(sum(f.revenue) AS Decimal(18, 2))                                AS revenue_total,
    any(inv.tickets_total)                                                AS tickets_total,
    any(inv.tickets_left)                                                 AS tickets_left,
    toTimeZone(any(inv.snapshot_ts), '{timezone}')                        AS inventory_snapshot_ts
FROM fact_qtickets_sales_daily AS f
LEFT JOIN (SELECT org, event_id, event_name FROM dim_events) AS e ON e.org = f.org AND e.event_id = f.event_id
LEFT JOIN
(
    SELECT org, event_id, sum(tickets_total) AS tickets_total, sum(tickets_left) AS tickets_left,
           max(snapshot_ts) AS snapshot_ts
    FROM fact_qtickets_inventory_latest
    WHERE on_sale
    GROUP BY org, event_id
) AS inv ON inv.org = f.org AND inv.event_id = f.event_id
GROUP BY f.org, f.event_id
SETTINGS join_use_nulls = 1
COMMENT 'DataLens: per event, sales today, yesterday, 7 days and all time, with its inventory on sale; times in {timezone}';

-- As in 004 (the orders' newest sale read from each org's newest sales day only), times in
-- ZAKAZ_TIMEZONE.
CREATE OR REPLACE VIEW v_qtickets_freshness
(
    org                LowCardinality(String),
    source             String COMMENT 'stg_qtickets_api_orders_raw, stg_qtickets_api_inventory_raw or dim_events',
    last_data_at       DateTime('{timezone}') COMMENT 'newest sale, snapshot or load',
    minutes_since_data Int64,
    last_run_status    Nullable(String) COMMENT 'NULL: no recorded run targeted the table',
    last_run_at        Nullable(DateTime64(3, '{timezone}')),
    last_run_id        Nullable(String),
    last_success_at    Nullable(DateTime64(3, '{timezone}')) COMMENT 'NULL: no successful run recorded'
)
AS SELECT
    d.org                                                  AS org,
    d.source                                               AS source,
    toTimeZone(d.last_data_at, '{timezone}')               AS last_data_at,
    dateDiff('minute', d.last_data_at, now())              AS minutes_since_data,
    r.last_run_status                                      AS last_run_status,
    toTimeZone(r.last_run_at, '{timezone}')                AS last_run_at,
    r.last_run_id                                          AS last_run_id,
    toTimeZone(r.last_success_at, '{timezone}')            AS last_success_at
FROM
(
    SELECT org, 'stg_qtickets_api_orders_raw' AS source, max(sale_ts) AS last_data_at
    FROM stg_qtickets_api_orders_raw
    WHERE (org, sales_date) IN (SELECT org, max(sales_date) FROM stg_qtickets_api_orders_raw GROUP BY org)
    GROUP BY org
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
SETTINGS join_use_nulls = 1
COMMENT 'DataLens: per source table, the age of its newest data and its last run; times in {timezone}';

-- Sell-through. Every inventory snapshot of every show, with the seats taken since the
-- show's previous snapshot (a window over the show's snapshots in time order).
CREATE OR REPLACE VIEW v_inventory_history
(
    org                 LowCardinality(String),
    event_id            UInt64,
    event_name          Nullable(String) COMMENT 'NULL: the event is missing from dim_events',
    city                LowCardinality(Nullable(String)) COMMENT 'NULL: the event is missing from dim_events or has no city',
    show_id             UInt64,
    show_start_at       Nullable(DateTime('{timezone}')) COMMENT 'NULL: the show is missing from dim_shows or has no start',
    snapshot_ts         DateTime('{timezone}'),
    tickets_total       UInt32 COMMENT 'capacity: seats that are not disabled',
    tickets_left        UInt32 COMMENT 'free seats',
    tickets_sold        Int64 COMMENT 'tickets_total - tickets_left: seats taken (paid or reserved)',
    sold_since_previous Nullable(Int64) COMMENT 'tickets_sold minus that of the show''s previous snapshot (negative when seats came back); NULL for its first snapshot'
)
AS SELECT
    i.org                                    AS org,
    i.event_id                               AS event_id,
    e.event_name                             AS event_name,
    nullIf(e.city, '')                       AS city,
    i.show_id                                AS show_id,
    toTimeZone(s.start_date, '{timezone}')   AS show_start_at,
    toTimeZone(i.snapshot_ts, '{timezone}')  AS snapshot_ts,
    i.tickets_total                          AS tickets_total,
    i.tickets_left                           AS tickets_left,
    i.tickets_sold                           AS tickets_sold,
    i.tickets_sold - i.previous_sold         AS sold_since_previous
FROM
(
    SELECT
        org, event_id, show_id, snapshot_ts, tickets_total, tickets_left,
        toInt64(tickets_total) - toInt64(tickets_left) AS tickets_sold,
        lagInFrame(toNullable(tickets_sold), 1) OVER (
            PARTITION BY org, show_id ORDER BY snapshot_ts ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS previous_sold
    FROM stg_qtickets_api_inventory_raw FINAL
) AS i
LEFT JOIN (SELECT org, event_id, event_name, city FROM dim_events) AS e ON e.org = i.org AND e.event_id = i.event_id
LEFT JOIN (SELECT org, show_id, start_date FROM dim_shows) AS s ON s.org = i.org AND s.show_id = i.show_id
SETTINGS join_use_nulls = 1
COMMENT 'DataLens: every inventory snapshot of every show with the seats taken since the previous one; times in {timezone}';

-- One row per show on sale (in its org's newest snapshot). The windows end now: "sold in
-- the last 7 days" is the sum of sold_since_previous over the show's snapshots of the last
-- 7 × 24 hours, i.e. tickets_sold now minus at the last snapshot before the window; with a
-- shorter history, minus at the show's first snapshot. The pace divides it by the time
-- between that baseline snapshot and the newest one, so a short history is not diluted.
CREATE OR REPLACE VIEW v_show_sell_through
(
    org                    LowCardinality(String),
    event_id               UInt64,
    event_name             Nullable(String) COMMENT 'NULL: the event is missing from dim_events',
    city                   LowCardinality(Nullable(String)) COMMENT 'NULL: the event is missing from dim_events or has no city',
    show_id                UInt64,
    show_start_at          Nullable(DateTime('{timezone}')) COMMENT 'NULL: the show is missing from dim_shows or has no start',
    snapshot_ts            DateTime('{timezone}') COMMENT 'the newest snapshot',
    capacity               UInt32 COMMENT 'seats that are not disabled',
    tickets_sold           Int64 COMMENT 'capacity - tickets_left: seats taken (paid or reserved)',
    tickets_left           UInt32,
    pct_sold               Nullable(Float64) COMMENT '100 * tickets_sold / capacity, rounded to 0.1; NULL: capacity 0',
    tickets_sold_1d        Nullable(Int64) COMMENT 'seats taken in the last 24 hours; NULL: no two snapshots to compare',
    tickets_sold_7d        Nullable(Int64) COMMENT 'seats taken in the last 7 days (since the first snapshot when the history is shorter); NULL: no two snapshots to compare',
    pace_per_day           Nullable(Float64) COMMENT 'tickets_sold_7d per day over the time it covers, rounded to 0.01; NULL: not measurable',
    days_until_show        Nullable(Int64) COMMENT 'calendar days from today to the show''s day, in {timezone}; NULL: start unknown',
    projected_sellout_date Nullable(Date) COMMENT 'day in {timezone} the last seat goes at pace_per_day; NULL: pace zero, negative, unknown or more than 10 years away'
)
AS SELECT
    t.org                                                   AS org,
    t.event_id                                              AS event_id,
    t.event_name                                            AS event_name,
    t.city                                                  AS city,
    t.show_id                                               AS show_id,
    t.show_start_at                                         AS show_start_at,
    t.newest_ts                                             AS snapshot_ts,
    t.capacity                                              AS capacity,
    t.sold                                                  AS tickets_sold,
    t.free                                                  AS tickets_left,
    if(t.capacity = 0, NULL, round(100 * t.sold / t.capacity, 1))          AS pct_sold,
    t.sold_1d                                               AS tickets_sold_1d,
    t.sold_7d                                               AS tickets_sold_7d,
    round(t.pace, 2)                                        AS pace_per_day,
    dateDiff('day', toDate(now(), '{timezone}'), toDate(t.show_start_at, '{timezone}')) AS days_until_show,
    if(
        t.pace > 0 AND t.free / t.pace <= 3650,
        toDate(addSeconds(t.newest_ts, toInt64(ceil(t.free / t.pace * 86400))), '{timezone}'),
        NULL
    )                                                       AS projected_sellout_date
FROM
(
    SELECT
        org,
        show_id,
        argMax(event_id, snapshot_ts)                                        AS event_id,
        argMax(event_name, snapshot_ts)                                      AS event_name,
        argMax(city, snapshot_ts)                                            AS city,
        argMax(show_start_at, snapshot_ts)                                   AS show_start_at,
        max(snapshot_ts)                                                     AS newest_ts,
        argMax(tickets_total, snapshot_ts)                                   AS capacity,
        argMax(tickets_left, snapshot_ts)                                    AS free,
        argMax(tickets_sold, snapshot_ts)                                    AS sold,
        sumIf(sold_since_previous, snapshot_ts > now() - INTERVAL 1 DAY)     AS sold_1d,
        sumIf(sold_since_previous, snapshot_ts > now() - INTERVAL 7 DAY)     AS sold_7d,
        if(
            countIf(snapshot_ts <= now() - INTERVAL 7 DAY) > 0,
            maxIf(snapshot_ts, snapshot_ts <= now() - INTERVAL 7 DAY),
            min(snapshot_ts)
        )                                                                    AS baseline_ts,
        if(newest_ts > baseline_ts, sold_7d / (dateDiff('second', baseline_ts, newest_ts) / 86400), NULL) AS pace
    FROM v_inventory_history
    GROUP BY org, show_id
) AS t
WHERE (t.org, t.newest_ts) IN (SELECT org, max(snapshot_ts) FROM stg_qtickets_api_inventory_raw GROUP BY org)
COMMENT 'DataLens: sell-through of every show on sale, with its pace and projected sell-out date; times in {timezone}';
