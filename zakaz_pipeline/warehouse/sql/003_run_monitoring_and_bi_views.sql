-- One row per Dagster run, written by the run-status sensor (and by the zakaz CLI for its
-- own runs); a run recorded twice collapses to the newest record.
CREATE TABLE IF NOT EXISTS meta_job_runs
(
    org          LowCardinality(String),
    run_id       String,
    job          LowCardinality(String),
    status       LowCardinality(String),
    started_at   Nullable(DateTime64(3, 'UTC')),
    finished_at  Nullable(DateTime64(3, 'UTC')),
    partitions   String COMMENT 'the run''s sales days: a day, first…last, or empty',
    assets       Array(String) COMMENT 'asset keys the run targeted',
    rows_written UInt64,
    message      String COMMENT 'first line of the error of a failed run',
    recorded_at  DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(recorded_at)
ORDER BY (org, run_id);
