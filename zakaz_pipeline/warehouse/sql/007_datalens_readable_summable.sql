-- Every table column carries its meaning as a COMMENT (the views' columns carry theirs in
-- warehouse/views/): the schema contract copies them into Dagster's catalog, and this file is
-- the one place a table field's meaning is written. (007 also made the views readable by
-- datalens_reader's grants alone and summable; views are no migration's any more, see
-- warehouse/registry.py.)
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
