-- Mark price and mark IV snapshots, one row per instrument per snapshot. `currency` is the underlying, `venue` the
-- instrument's venue (`deribit` or `opra`, added after the first release: old rows default to `deribit`).
-- mark_price in the quote currency as the venue quotes it (BTC for BTC options, USD for US options), mark_iv a
-- fraction (0.45 = 45 %).
CREATE TABLE IF NOT EXISTS mark_iv
(
    currency String,
    venue String DEFAULT 'deribit',
    instrument String,
    ts_exchange_ms Int64,
    ts DateTime('UTC') MATERIALIZED toDateTime(intDiv(ts_exchange_ms, 1000), 'UTC'),
    mark_price Float64,
    mark_iv Float64,
    log_seq UInt64
)
ENGINE = ReplacingMergeTree(log_seq)
PARTITION BY toYYYYMM(toDateTime(intDiv(ts_exchange_ms, 1000), 'UTC'))
ORDER BY (currency, instrument, ts_exchange_ms)
