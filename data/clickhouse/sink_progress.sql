-- How far the sink has durably written each log: `next_seq` is the first seq not yet written. A row is inserted
-- only after every insert of the batch before it was acknowledged, so resuming from max(next_seq) never skips a
-- record (re-sent rows collapse by key in the other tables).
CREATE TABLE IF NOT EXISTS sink_progress
(
    log_id String,
    next_seq UInt64,
    updated_ms Int64
)
ENGINE = ReplacingMergeTree(next_seq)
ORDER BY log_id
