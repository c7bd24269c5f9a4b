-- The DataLens views as datalens_reader really reads them, and as an analyst sums them.
--
-- * Readable with the reader's grants alone. A plain view runs as its invoker (ClickHouse's
--   default_normal_view_sql_security = INVOKER), so a reader granted a view but not the raw,
--   monitoring or inner-view tables it reads got "Not enough privileges". Every view now runs
--   as its definer, {definer}: on a server the user zakaz_view_definer, which zakaz bootstrap
--   creates before the schema with SELECT on exactly what the views read and no host to log
--   in from (warehouse/access.py); on the embedded engine, which has no users, CURRENT_USER.
-- * Summable. v_qtickets_sales_dashboard repeated the event's current tickets_total and
--   tickets_left on every sales day, so a chart summing them over days counted the same seats
--   once per day (and differently under each date filter). They leave the daily view: the
--   current inventory is in v_sales_latest (one row per event, now also for an event on sale
--   that has sold nothing yet, so its sum is every seat on sale) and v_show_sell_through (one
--   row per show). How each measure of each view aggregates is in warehouse/datalens.py
--   (MEASURES), and docs/DATALENS.md lists it beside each field's meaning.
-- * Every view column carries its meaning as a COMMENT, and so does every table column
--   (ALTER TABLE … COMMENT COLUMN below): the schema contract copies them into Dagster's
--   catalog and docs/DATALENS.md, so this file is the one place a field's meaning is written.
-- * The webhooks row of v_qtickets_freshness has a status of its own: the newest heartbeat
--   of qtickets_webhook_heartbeat (written every 10 minutes at least), SUCCESS when it is
--   under 30 minutes old, STALE otherwise, instead of a NULL a chart paints red.
-- The DataLens contract of 005 holds: declared types, SETTINGS join_use_nulls = 1, NULL for
-- what does not exist, times and "today" in ZAKAZ_TIMEZONE ({timezone}).
CREATE OR REPLACE VIEW v_qtickets_sales_dashboard
(
    sales_date      Date COMMENT 'day of payment in {timezone}',
    org             LowCardinality(String) COMMENT 'the Qtickets account (ORG_NAME)',
    event_id        UInt64 COMMENT 'Qtickets event id',
    event_name      Nullable(String) COMMENT 'the event''s name; NULL: the event is missing from dim_events',
    city            LowCardinality(Nullable(String)) COMMENT 'the event''s city; NULL: unknown',
    orders          UInt64 COMMENT 'paid orders for the event paid that day (an order is for one event)',
    tickets_sold    UInt64 COMMENT 'tickets of those orders, refunded ones not counted',
    gross_revenue   Decimal(18, 2) COMMENT 'roubles paid for those tickets, before refunds',
    refunded_amount Decimal(18, 2) COMMENT 'roubles refunded on those tickets, kept on the day of the sale',
    revenue         Decimal(18, 2) COMMENT 'gross_revenue - refunded_amount, roubles'
)
DEFINER = {definer} SQL SECURITY DEFINER
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
    f.revenue           AS revenue
FROM fact_qtickets_sales_daily AS f
LEFT JOIN (SELECT org, event_id, event_name FROM dim_events) AS e ON e.org = f.org AND e.event_id = f.event_id
SETTINGS join_use_nulls = 1
COMMENT 'DataLens: daily sales per event; times in {timezone}';

CREATE OR REPLACE VIEW v_sales_14d
(
    sales_date      Date COMMENT 'day of payment in {timezone}; the last 14 days including today',
    org             LowCardinality(String) COMMENT 'the Qtickets account (ORG_NAME)',
    event_id        UInt64 COMMENT 'Qtickets event id',
    event_name      Nullable(String) COMMENT 'the event''s name; NULL: the event is missing from dim_events',
    city            LowCardinality(Nullable(String)) COMMENT 'the event''s city; NULL: unknown',
    orders          UInt64 COMMENT 'paid orders for the event paid that day (an order is for one event)',
    tickets_sold    UInt64 COMMENT 'tickets of those orders, refunded ones not counted',
    gross_revenue   Decimal(18, 2) COMMENT 'roubles paid for those tickets, before refunds',
    refunded_amount Decimal(18, 2) COMMENT 'roubles refunded on those tickets, kept on the day of the sale',
    revenue         Decimal(18, 2) COMMENT 'gross_revenue - refunded_amount, roubles'
)
DEFINER = {definer} SQL SECURITY DEFINER
AS SELECT
    sales_date, org, event_id, event_name, city, orders, tickets_sold, gross_revenue, refunded_amount, revenue
FROM v_qtickets_sales_dashboard
WHERE sales_date > toDate(now(), '{timezone}') - 14
COMMENT 'DataLens: the dashboard''s daily sales of the last 14 days; today in {timezone}';

CREATE OR REPLACE VIEW v_sales_latest
(
    org                    LowCardinality(String) COMMENT 'the Qtickets account (ORG_NAME)',
    event_id               UInt64 COMMENT 'Qtickets event id',
    event_name             Nullable(String) COMMENT 'the event''s name; NULL: the event is missing from dim_events',
    city                   LowCardinality(Nullable(String)) COMMENT 'the event''s city; NULL: unknown',
    last_sales_date        Nullable(Date) COMMENT 'newest day with a sale, in {timezone}; NULL: on sale, nothing sold yet',
    tickets_sold_today     UInt64 COMMENT 'tickets sold today (in {timezone}), refunded ones not counted',
    revenue_today          Decimal(18, 2) COMMENT 'revenue of today''s sales, roubles, net of their refunds',
    tickets_sold_yesterday UInt64 COMMENT 'tickets sold yesterday',
    revenue_yesterday      Decimal(18, 2) COMMENT 'revenue of yesterday''s sales, roubles',
    tickets_sold_7d        UInt64 COMMENT 'tickets sold in the last 7 days including today',
    revenue_7d             Decimal(18, 2) COMMENT 'revenue of the last 7 days'' sales, roubles',
    tickets_sold_total     UInt64 COMMENT 'tickets sold, all time',
    revenue_total          Decimal(18, 2) COMMENT 'revenue, all time, roubles',
    tickets_total          Nullable(UInt64) COMMENT 'capacity of the event''s shows on sale now (seats not disabled); NULL: none on sale',
    tickets_left           Nullable(UInt64) COMMENT 'free seats of the event''s shows on sale now; NULL: none on sale',
    inventory_snapshot_ts  Nullable(DateTime('{timezone}')) COMMENT 'the snapshot tickets_total and tickets_left come from; NULL: none on sale'
)
DEFINER = {definer} SQL SECURITY DEFINER
AS WITH toDate(now(), '{timezone}') AS today
SELECT
    u.org                                                                         AS org,
    u.event_id                                                                    AS event_id,
    any(e.event_name)                                                             AS event_name,
    nullIf(max(u.city), '')                                                       AS city,
    max(u.sales_date)                                                             AS last_sales_date,
    sumIf(u.tickets_sold, ifNull(u.sales_date = today, 0))                        AS tickets_sold_today,
    CAST(sumIf(u.revenue, ifNull(u.sales_date = today, 0)) AS Decimal(18, 2))     AS revenue_today,
    sumIf(u.tickets_sold, ifNull(u.sales_date = today - 1, 0))                    AS tickets_sold_yesterday,
    CAST(sumIf(u.revenue, ifNull(u.sales_date = today - 1, 0)) AS Decimal(18, 2)) AS revenue_yesterday,
    sumIf(u.tickets_sold, ifNull(u.sales_date > today - 7, 0))                    AS tickets_sold_7d,
    CAST(sumIf(u.revenue, ifNull(u.sales_date > today - 7, 0)) AS Decimal(18, 2)) AS revenue_7d,
    sum(u.tickets_sold)                                                           AS tickets_sold_total,
    CAST(sum(u.revenue) AS Decimal(18, 2))                                        AS revenue_total,
    sum(u.seats_total)                                                            AS tickets_total,
    sum(u.seats_left)                                                             AS tickets_left,
    toTimeZone(max(u.snapshot_ts), '{timezone}')                                  AS inventory_snapshot_ts
FROM
(
    SELECT org, event_id, city, toNullable(sales_date) AS sales_date, tickets_sold, revenue,
           CAST(NULL, 'Nullable(UInt32)') AS seats_total, CAST(NULL, 'Nullable(UInt32)') AS seats_left,
           CAST(NULL, 'Nullable(DateTime(\'UTC\'))') AS snapshot_ts
    FROM fact_qtickets_sales_daily
    UNION ALL
    SELECT org, event_id, city, NULL, toUInt64(0), CAST(0, 'Decimal(18, 2)'),
           toNullable(tickets_total), toNullable(tickets_left), toNullable(snapshot_ts)
    FROM fact_qtickets_inventory_latest
    WHERE on_sale
) AS u
LEFT JOIN (SELECT org, event_id, event_name FROM dim_events) AS e ON e.org = u.org AND e.event_id = u.event_id
GROUP BY u.org, u.event_id
SETTINGS join_use_nulls = 1
COMMENT 'DataLens: per event with sales or on sale, sales today, yesterday, 7 days and all time, and its inventory on sale; times in {timezone}';

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

CREATE OR REPLACE VIEW v_inventory_history
(
    org                 LowCardinality(String) COMMENT 'the Qtickets account (ORG_NAME)',
    event_id            UInt64 COMMENT 'Qtickets event id',
    event_name          Nullable(String) COMMENT 'the event''s name; NULL: the event is missing from dim_events',
    city                LowCardinality(Nullable(String)) COMMENT 'the event''s city; NULL: the event is missing from dim_events or has no city',
    show_id             UInt64 COMMENT 'Qtickets show id (one date of the event)',
    show_start_at       Nullable(DateTime('{timezone}')) COMMENT 'when the show starts; NULL: the show is missing from dim_shows or has no start',
    snapshot_ts         DateTime('{timezone}') COMMENT 'when the inventory was read (every 15 minutes while the show is on sale)',
    tickets_total       UInt32 COMMENT 'capacity at that snapshot: seats that are not disabled',
    tickets_left        UInt32 COMMENT 'free seats at that snapshot',
    tickets_sold        Int64 COMMENT 'tickets_total - tickets_left: seats taken (paid or reserved) at that snapshot',
    sold_since_previous Nullable(Int64) COMMENT 'tickets_sold minus that of the show''s previous snapshot (negative when seats came back); NULL: the show''s first snapshot'
)
DEFINER = {definer} SQL SECURITY DEFINER
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

CREATE OR REPLACE VIEW v_show_sell_through
(
    org                    LowCardinality(String) COMMENT 'the Qtickets account (ORG_NAME)',
    event_id               UInt64 COMMENT 'Qtickets event id',
    event_name             Nullable(String) COMMENT 'the event''s name; NULL: the event is missing from dim_events',
    city                   LowCardinality(Nullable(String)) COMMENT 'the event''s city; NULL: the event is missing from dim_events or has no city',
    show_id                UInt64 COMMENT 'Qtickets show id (one date of the event)',
    show_start_at          Nullable(DateTime('{timezone}')) COMMENT 'when the show starts; NULL: the show is missing from dim_shows or has no start',
    snapshot_ts            DateTime('{timezone}') COMMENT 'the newest snapshot, which the figures come from',
    capacity               UInt32 COMMENT 'seats that are not disabled',
    tickets_sold           Int64 COMMENT 'capacity - tickets_left: seats taken (paid or reserved)',
    tickets_left           UInt32 COMMENT 'free seats',
    pct_sold               Nullable(Float64) COMMENT '100 * tickets_sold / capacity, rounded to 0.1; NULL: capacity 0',
    tickets_sold_1d        Nullable(Int64) COMMENT 'seats taken in the last 24 hours; NULL: no two snapshots to compare',
    tickets_sold_7d        Nullable(Int64) COMMENT 'seats taken in the last 7 days (since the first snapshot when the history is shorter); NULL: no two snapshots to compare',
    pace_per_day           Nullable(Float64) COMMENT 'tickets_sold_7d per day over the time it covers, rounded to 0.01; NULL: not measurable',
    days_until_show        Nullable(Int64) COMMENT 'calendar days from today to the show''s day, in {timezone}; negative once it started; NULL: start unknown',
    projected_sellout_date Nullable(Date) COMMENT 'day in {timezone} the last seat goes at pace_per_day; NULL: pace zero, negative, unknown or more than 10 years away'
)
DEFINER = {definer} SQL SECURITY DEFINER
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

ALTER TABLE stg_qtickets_api_orders_raw
    COMMENT COLUMN org 'the Qtickets account (ORG_NAME)',
    COMMENT COLUMN sales_date 'day of payment in ZAKAZ_TIMEZONE: the partition a sync replaces',
    COMMENT COLUMN order_id 'Qtickets order id',
    COMMENT COLUMN basket_id 'Qtickets basket id: one ticket (seat) of the order',
    COMMENT COLUMN event_id 'Qtickets event id of the order',
    COMMENT COLUMN show_id 'Qtickets show id of the ticket',
    COMMENT COLUMN seat_id 'the seat as Qtickets names it (ZONE-row;place)',
    COMMENT COLUMN zone_id 'zone part of seat_id',
    COMMENT COLUMN seat_row 'row part of seat_id; empty: no row',
    COMMENT COLUMN seat_place 'place part of seat_id; empty: no place',
    COMMENT COLUMN seat_name 'the seat as the buyer saw it',
    COMMENT COLUMN quantity 'tickets in the basket (1 for a seat)',
    COMMENT COLUMN sale_ts 'when the order was paid (payed_at), UTC',
    COMMENT COLUMN payed 'the order is paid',
    COMMENT COLUMN order_created_at 'order created, UTC',
    COMMENT COLUMN order_updated_at 'order last changed, UTC',
    COMMENT COLUMN order_deleted_at 'order cancelled, UTC; NULL: not cancelled',
    COMMENT COLUMN basket_created_at 'ticket created, UTC',
    COMMENT COLUMN basket_updated_at 'ticket last changed, UTC',
    COMMENT COLUMN basket_deleted_at 'ticket cancelled, UTC; NULL: not cancelled',
    COMMENT COLUMN checked_at 'ticket scanned at the entrance, UTC; NULL: not scanned',
    COMMENT COLUMN refunded_at 'ticket refunded, UTC; NULL: not refunded',
    COMMENT COLUMN refunded_amount 'roubles refunded on the ticket',
    COMMENT COLUMN refunded_deduction_amount 'roubles kept back from the refund',
    COMMENT COLUMN original_price 'roubles, the price before discounts',
    COMMENT COLUMN discount_value 'roubles of discount',
    COMMENT COLUMN price 'roubles paid for the ticket',
    COMMENT COLUMN service_fee_amount 'roubles of service fee',
    COMMENT COLUMN currency 'currency id of the order (RUB)',
    COMMENT COLUMN discount_id 'Qtickets discount id; NULL: none',
    COMMENT COLUMN promo_code_id 'Qtickets promo code id; NULL: none',
    COMMENT COLUMN payment_type 'payment type id of the order',
    COMMENT COLUMN utm_source 'utm_source of the order; empty: none',
    COMMENT COLUMN utm_medium 'utm_medium of the order; empty: none',
    COMMENT COLUMN utm_campaign 'utm_campaign of the order; empty: none',
    COMMENT COLUMN utm_content 'utm_content of the order; empty: none',
    COMMENT COLUMN utm_term 'utm_term of the order; empty: none',
    COMMENT COLUMN site_host 'site the order was placed on',
    COMMENT COLUMN loaded_at 'when the pipeline wrote the row, UTC';

ALTER TABLE stg_qtickets_api_inventory_raw
    COMMENT COLUMN org 'the Qtickets account (ORG_NAME)',
    COMMENT COLUMN snapshot_ts 'when the inventory was read, UTC (one snapshot of every show on sale per run)',
    COMMENT COLUMN event_id 'Qtickets event id',
    COMMENT COLUMN show_id 'Qtickets show id',
    COMMENT COLUMN tickets_total 'capacity: seats that are not disabled',
    COMMENT COLUMN tickets_left 'free seats';

ALTER TABLE dim_events
    COMMENT COLUMN org 'the Qtickets account (ORG_NAME)',
    COMMENT COLUMN event_id 'Qtickets event id',
    COMMENT COLUMN event_name 'the event''s name',
    COMMENT COLUMN is_active 'the event is active in Qtickets',
    COMMENT COLUMN is_deleted 'the event is deleted in Qtickets',
    COMMENT COLUMN deleted_at 'when it was deleted, UTC; NULL: not deleted',
    COMMENT COLUMN city_id 'Qtickets city id; NULL: none',
    COMMENT COLUMN city 'city name; empty: none',
    COMMENT COLUMN city_timezone 'the city''s time zone as Qtickets gives it',
    COMMENT COLUMN place_name 'venue',
    COMMENT COLUMN place_address 'venue address',
    COMMENT COLUMN age 'age rating (e.g. 12+)',
    COMMENT COLUMN currency 'currency id (RUB)',
    COMMENT COLUMN show_count 'shows (dates) of the event',
    COMMENT COLUMN first_show_at 'start of its first show, UTC; NULL: no show has a start',
    COMMENT COLUMN last_show_at 'start of its last show, UTC; NULL: no show has a start',
    COMMENT COLUMN created_at 'created in Qtickets, UTC',
    COMMENT COLUMN updated_at 'last changed in Qtickets, UTC',
    COMMENT COLUMN loaded_at 'when the pipeline wrote the row, UTC';

ALTER TABLE dim_shows
    COMMENT COLUMN org 'the Qtickets account (ORG_NAME)',
    COMMENT COLUMN show_id 'Qtickets show id (one date of an event)',
    COMMENT COLUMN event_id 'Qtickets event id',
    COMMENT COLUMN show_name 'the show''s name; often empty',
    COMMENT COLUMN is_active 'the show is active in Qtickets',
    COMMENT COLUMN is_deleted 'the show is deleted in Qtickets',
    COMMENT COLUMN deleted_at 'when it was deleted, UTC; NULL: not deleted',
    COMMENT COLUMN start_date 'when the show starts, UTC',
    COMMENT COLUMN finish_date 'when it ends, UTC',
    COMMENT COLUMN open_date 'when the doors open, UTC',
    COMMENT COLUMN sale_start_date 'when sales open, UTC',
    COMMENT COLUMN sale_finish_date 'when sales close, UTC; NULL: at finish_date',
    COMMENT COLUMN min_price 'roubles, the cheapest default price; NULL: unknown',
    COMMENT COLUMN max_price 'roubles, the dearest default price; NULL: unknown',
    COMMENT COLUMN created_at 'created in Qtickets, UTC',
    COMMENT COLUMN updated_at 'last changed in Qtickets, UTC',
    COMMENT COLUMN loaded_at 'when the pipeline wrote the row, UTC';

ALTER TABLE fact_qtickets_sales_daily
    COMMENT COLUMN sales_date 'day of payment in ZAKAZ_TIMEZONE',
    COMMENT COLUMN org 'the Qtickets account (ORG_NAME)',
    COMMENT COLUMN event_id 'Qtickets event id',
    COMMENT COLUMN city 'the event''s city; empty: unknown',
    COMMENT COLUMN orders 'paid orders for the event paid that day',
    COMMENT COLUMN tickets_sold 'tickets of those orders, refunded ones not counted',
    COMMENT COLUMN gross_revenue 'roubles paid for those tickets, before refunds',
    COMMENT COLUMN refunded_amount 'roubles refunded on those tickets, kept on the day of the sale',
    COMMENT COLUMN revenue 'gross_revenue - refunded_amount, roubles',
    COMMENT COLUMN loaded_at 'when the pipeline wrote the row, UTC';

ALTER TABLE fact_qtickets_inventory_latest
    COMMENT COLUMN org 'the Qtickets account (ORG_NAME)',
    COMMENT COLUMN show_id 'Qtickets show id',
    COMMENT COLUMN event_id 'Qtickets event id',
    COMMENT COLUMN event_name 'the event''s name; empty: missing from dim_events',
    COMMENT COLUMN city 'the event''s city; empty: unknown',
    COMMENT COLUMN show_start_at 'when the show starts, UTC; NULL: unknown',
    COMMENT COLUMN snapshot_ts 'the show''s newest snapshot, UTC',
    COMMENT COLUMN tickets_total 'capacity at that snapshot: seats that are not disabled',
    COMMENT COLUMN tickets_left 'free seats at that snapshot',
    COMMENT COLUMN loaded_at 'when the pipeline wrote the row, UTC';

ALTER TABLE meta_job_runs
    COMMENT COLUMN org 'the Qtickets account (ORG_NAME)',
    COMMENT COLUMN run_id 'Dagster run id',
    COMMENT COLUMN job 'Dagster job name',
    COMMENT COLUMN status 'how the run ended: SUCCESS, FAILURE or CANCELED',
    COMMENT COLUMN started_at 'run start, UTC',
    COMMENT COLUMN finished_at 'run end, UTC',
    COMMENT COLUMN rows_written 'rows the run wrote to the warehouse',
    COMMENT COLUMN recorded_at 'when this row was written, UTC (the newest wins)';

ALTER TABLE meta_webhooks
    COMMENT COLUMN org 'the Qtickets account (ORG_NAME)',
    COMMENT COLUMN recorded_at 'when the heartbeat sensor read the queue, UTC';
