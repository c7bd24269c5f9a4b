-- The dashboard's rows of the last 14 days, "today" a day in ZAKAZ_TIMEZONE (never the
-- server's or the session's).
-- measures: orders, tickets_sold, gross_revenue, refunded_amount, revenue = SUM
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
