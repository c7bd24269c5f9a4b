-- Every inventory snapshot of every show, with the seats taken since the show's previous
-- snapshot (a window over the show's snapshots in time order). The seats are a stock: they
-- add up over shows at one snapshot, never over time.
-- measures: tickets_total, tickets_left, tickets_sold = SUM over shows at one snapshot_ts (a stock: never over time)
-- measures: sold_since_previous = SUM
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
