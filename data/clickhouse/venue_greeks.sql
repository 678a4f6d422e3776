-- The venue's own greeks of each instrument, one row per instrument per snapshot, kept to compare with dealerflow's.
-- `currency` is the underlying, `venue` the instrument's venue (`deribit`, `opra`). Units are the venue's
-- (Deribit: Black-76 on the forward with mark IV, rounded to 5 decimals. Delta per unit of underlying, gamma per
-- USD, vega and theta in USD per vol point and per day, rho in USD per 1 % of rate).
CREATE TABLE IF NOT EXISTS venue_greeks
(
    currency String,
    venue String,
    instrument String,
    ts_exchange_ms Int64,
    ts DateTime('UTC') MATERIALIZED toDateTime(intDiv(ts_exchange_ms, 1000), 'UTC'),
    delta Float64,
    gamma Float64,
    vega Float64,
    theta Float64,
    rho Float64,
    log_seq UInt64
)
ENGINE = ReplacingMergeTree(log_seq)
PARTITION BY toYYYYMM(toDateTime(intDiv(ts_exchange_ms, 1000), 'UTC'))
ORDER BY (currency, instrument, ts_exchange_ms)
