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
