-- Option instruments: strike in USD, expiry in epoch ms (08:00 UTC), contract size in coins of the underlying.
-- Partitioned by expiry month, one row per (currency, name).
CREATE TABLE IF NOT EXISTS instruments
(
    currency String,
    name String,
    quote_currency String,
    option_kind Enum8('call' = 1, 'put' = 2),
    strike Float64,
    expiry_ms Int64,
    expiry DateTime('UTC') MATERIALIZED toDateTime(intDiv(expiry_ms, 1000), 'UTC'),
    contract_size Float64,
    log_seq UInt64
)
ENGINE = ReplacingMergeTree(log_seq)
PARTITION BY toYYYYMM(toDateTime(intDiv(expiry_ms, 1000), 'UTC'))
ORDER BY (currency, name)
