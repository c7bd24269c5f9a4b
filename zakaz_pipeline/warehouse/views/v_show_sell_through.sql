-- One row per show on sale (in its org's newest snapshot). The windows end now: "sold in
-- the last 7 days" is the sum of sold_since_previous over the show's snapshots of the last
-- 7 × 24 hours, i.e. tickets_sold now minus at the last snapshot before the window; with a
-- shorter history, minus at the show's first snapshot. The pace divides it by the time
-- between that baseline snapshot and the newest one, so a short history is not diluted.
-- measures: capacity, tickets_sold, tickets_left, tickets_sold_1d, tickets_sold_7d, pace_per_day = SUM
-- measures: snapshot_ts = MAX
-- measures: pct_sold = none: recompute 100 * SUM(tickets_sold) / SUM(capacity)
-- measures: days_until_show = none: a property of the show (MIN for the nearest)
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
