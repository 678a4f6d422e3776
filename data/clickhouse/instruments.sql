-- Option instruments of every venue. `currency` is the underlying (BTC, ETH, SPY, SPX for SPXW options: the column
-- keeps its first name), `venue` where the option is listed: `deribit` (names like BTC-17AUG26-63000-P, coin-quoted,
-- expiry 08:00 UTC) or `opra` (US listed options, OSI symbols like SPY250902C00400000, USD-quoted, expiry at the
-- settlement time in New York). Strike in USD (USDC for linear Deribit options), expiry in epoch ms, contract size
-- in units of the underlying (1 coin on Deribit, 100 shares or index units for US options). `venue` was added after
-- the first release: a table created before it gets the column, and its old rows (all Deribit's) the default.
-- Partitioned by expiry month, one row per (currency, name).
CREATE TABLE IF NOT EXISTS instruments
(
    currency String,
    venue String DEFAULT 'deribit',
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
