-- Index price ticks (e.g. btc_usd), USD. One row per (index, exchange ms), a re-sent tick replaces itself.
CREATE TABLE IF NOT EXISTS index_prices
(
    index_name String,
    ts_exchange_ms Int64,
    ts DateTime('UTC') MATERIALIZED toDateTime(intDiv(ts_exchange_ms, 1000), 'UTC'),
    price_usd Float64,
    log_seq UInt64
)
ENGINE = ReplacingMergeTree(log_seq)
PARTITION BY toYYYYMM(toDateTime(intDiv(ts_exchange_ms, 1000), 'UTC'))
ORDER BY (index_name, ts_exchange_ms)
