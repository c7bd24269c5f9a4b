-- Daily sales per event: the main dashboard's dataset. It carries no current stock: the
-- event's tickets_total and tickets_left repeated on every sales day would be counted once
-- per day by a chart summing over days (and differently under each date filter); the seats
-- on sale are in v_sales_latest (per event) and v_show_sell_through (per show).
-- measures: orders, tickets_sold, gross_revenue, refunded_amount, revenue = SUM
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
