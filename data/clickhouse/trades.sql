-- Taker-side option trades of every venue, one row per trade (docs/ARCHITECTURE.md §5), projected from the event
-- log. `currency` is the underlying (BTC, SPY, SPX: the column keeps its first name), `venue` the instrument's venue
-- (`deribit` or `opra`, from its symbol, added after the first release: old rows default to `deribit`).
-- Re-sending a trade never duplicates it: rows with the same ordering key collapse to the one with the highest
-- log seq (ReplacingMergeTree, read with FINAL). A trade id is unique per underlying and a trade's exchange
-- time never changes, so (currency, ts_exchange_ms, trade_id) identifies a trade exactly as (currency, trade_id)
-- does, and lets time-range queries use the primary index.
-- Amounts are fixed-point: amount_raw = contracts x 1e8 (exact sums), dealer position = -sum(signed taker amount).
-- price and mark_price are in the quote currency as the venue quotes them (BTC for BTC options, USD for US
-- options), index_price is the underlying's price in USD. mark_price and index_price are NaN when the trade's
-- source did not have them.
CREATE TABLE IF NOT EXISTS trades
(
    currency String,
    venue String DEFAULT 'deribit',
    trade_id String,
    instrument String,
    option_kind Enum8('call' = 1, 'put' = 2),
    strike Float64,
    expiry_ms Int64,
    ts_exchange_ms Int64,
    ts DateTime('UTC') MATERIALIZED toDateTime(intDiv(ts_exchange_ms, 1000), 'UTC'),
    trade_seq Nullable(UInt64),
    taker_side Enum8('buy' = 1, 'sell' = 2),
    amount_raw Int64,
    price Float64,
    mark_price Float64,
    iv Nullable(Float64),
    index_price Float64,
    contract_size Float64,
    block_trade_id Nullable(String),
    liquidation Enum8('none' = 0, 'maker' = 1, 'taker' = 2, 'both' = 3),
    combo_id Nullable(String),
    log_seq UInt64,
    ts_recv_ns Int64
)
ENGINE = ReplacingMergeTree(log_seq)
PARTITION BY toYYYYMM(toDateTime(intDiv(ts_exchange_ms, 1000), 'UTC'))
ORDER BY (currency, ts_exchange_ms, trade_id)
