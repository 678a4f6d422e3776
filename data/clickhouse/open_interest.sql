-- Open interest snapshots, one row per instrument per snapshot. `currency` is the underlying, `venue` the
-- instrument's venue (`deribit` or `opra`, added after the first release: old rows default to `deribit`).
-- open_interest_raw = contracts x 1e8.
CREATE TABLE IF NOT EXISTS open_interest
(
    currency String,
    venue String DEFAULT 'deribit',
    instrument String,
    ts_exchange_ms Int64,
    ts DateTime('UTC') MATERIALIZED toDateTime(intDiv(ts_exchange_ms, 1000), 'UTC'),
    open_interest_raw Int64,
    log_seq UInt64
)
ENGINE = ReplacingMergeTree(log_seq)
PARTITION BY toYYYYMM(toDateTime(intDiv(ts_exchange_ms, 1000), 'UTC'))
ORDER BY (currency, instrument, ts_exchange_ms)
