-- One row per event with sales or on sale: sales today, yesterday, 7 days and all time, and
-- its inventory on sale now. The daily sales and the shows on sale are one UNION ALL grouped
-- by event, so an event on sale that has sold nothing yet has its row (last_sales_date NULL)
-- and the sum of tickets_total over events is every seat on sale.
-- measures: tickets_sold_today, revenue_today, tickets_sold_yesterday, revenue_yesterday = SUM
-- measures: tickets_sold_7d, revenue_7d, tickets_sold_total, revenue_total, tickets_total, tickets_left = SUM
-- measures: last_sales_date, inventory_snapshot_ts = MAX
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
