-- Forward prices: one row per (underlying, venue, expiry, snapshot time), the forward the venue prices that expiry's
-- options on (Deribit: the future or synthetic future of the expiry), with the index at the same moment so that
-- the basis forward / index can be read. `currency` is the underlying (BTC, SPY), `venue` the venue of that
-- underlying's options in the log (`deribit`, `opra`), empty when the log defined no option of the underlying
-- before the forward. forward_price and index_price in USD, index_price NULL when the source did not have
-- it. `source` is what the venue names the forward (`BTC-30JUN23`, `SYN.BTC-13APR23`), empty when unknown.
CREATE TABLE IF NOT EXISTS forwards
(
    currency String,
    venue String,
    expiry_ms Int64,
    expiry DateTime('UTC') MATERIALIZED toDateTime(intDiv(expiry_ms, 1000), 'UTC'),
    ts_exchange_ms Int64,
    ts DateTime('UTC') MATERIALIZED toDateTime(intDiv(ts_exchange_ms, 1000), 'UTC'),
    forward_price Float64,
    index_price Nullable(Float64),
    source String,
    log_seq UInt64
)
ENGINE = ReplacingMergeTree(log_seq)
PARTITION BY toYYYYMM(toDateTime(intDiv(ts_exchange_ms, 1000), 'UTC'))
ORDER BY (currency, venue, expiry_ms, ts_exchange_ms)
