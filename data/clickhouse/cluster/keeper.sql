-- The history store on a ClickHouse cluster with Keeper (or ZooKeeper): run once with
--   clickhouse-client --multiquery < keeper.sql
-- Each server needs the macros {shard} and {replica}; the cluster is '{cluster}', the database dealerflow.
-- Then point dealerflow at any server with --cluster NAME: it finds these tables and only checks them.
-- Running it again after an upgrade adds the columns that tables of an earlier version lack.
-- Written by dealerflow_store::cluster::keeper_ddl; a test keeps this file equal to its output.

CREATE DATABASE IF NOT EXISTS dealerflow ON CLUSTER '{cluster}';

-- Option instruments of every venue. `currency` is the underlying (BTC, ETH, SPY, SPX for SPXW options: the column
-- keeps its first name), `venue` where the option is listed: `deribit` (names like BTC-17AUG26-63000-P, coin-quoted,
-- expiry 08:00 UTC) or `opra` (US listed options, OSI symbols like SPY250902C00400000, USD-quoted, expiry at the
-- settlement time in New York). Strike in USD (USDC for linear Deribit options), expiry in epoch ms, contract size
-- in units of the underlying (1 coin on Deribit, 100 shares or index units for US options). `venue` was added after
-- the first release: a table created before it gets the column, and its old rows (all Deribit's) the default.
-- Partitioned by expiry month, one row per (currency, name).
CREATE TABLE IF NOT EXISTS dealerflow.instruments_local ON CLUSTER '{cluster}'
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/dealerflow/instruments_local', '{replica}', log_seq)
PARTITION BY toYYYYMM(toDateTime(intDiv(expiry_ms, 1000), 'UTC'))
ORDER BY (currency, name);

CREATE TABLE IF NOT EXISTS dealerflow.instruments ON CLUSTER '{cluster}'
(
    currency String,
    venue String DEFAULT 'deribit',
    name String,
    quote_currency String,
    option_kind Enum8('call' = 1, 'put' = 2),
    strike Float64,
    expiry_ms Int64,
    expiry DateTime('UTC') ALIAS toDateTime(intDiv(expiry_ms, 1000), 'UTC'),
    contract_size Float64,
    log_seq UInt64
)
ENGINE = Distributed('{cluster}', 'dealerflow', 'instruments_local', cityHash64(currency, name));
ALTER TABLE dealerflow.instruments_local ON CLUSTER '{cluster}' ADD COLUMN IF NOT EXISTS venue String DEFAULT 'deribit' AFTER currency;
ALTER TABLE dealerflow.instruments ON CLUSTER '{cluster}' ADD COLUMN IF NOT EXISTS venue String DEFAULT 'deribit' AFTER currency;

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
CREATE TABLE IF NOT EXISTS dealerflow.trades_local ON CLUSTER '{cluster}'
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/dealerflow/trades_local', '{replica}', log_seq)
PARTITION BY toYYYYMM(toDateTime(intDiv(ts_exchange_ms, 1000), 'UTC'))
ORDER BY (currency, ts_exchange_ms, trade_id);

CREATE TABLE IF NOT EXISTS dealerflow.trades ON CLUSTER '{cluster}'
(
    currency String,
    venue String DEFAULT 'deribit',
    trade_id String,
    instrument String,
    option_kind Enum8('call' = 1, 'put' = 2),
    strike Float64,
    expiry_ms Int64,
    ts_exchange_ms Int64,
    ts DateTime('UTC') ALIAS toDateTime(intDiv(ts_exchange_ms, 1000), 'UTC'),
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
ENGINE = Distributed('{cluster}', 'dealerflow', 'trades_local', cityHash64(currency, trade_id));
ALTER TABLE dealerflow.trades_local ON CLUSTER '{cluster}' ADD COLUMN IF NOT EXISTS venue String DEFAULT 'deribit' AFTER currency;
ALTER TABLE dealerflow.trades ON CLUSTER '{cluster}' ADD COLUMN IF NOT EXISTS venue String DEFAULT 'deribit' AFTER currency;

-- Index price ticks (e.g. btc_usd), USD. One row per (index, exchange ms), a re-sent tick replaces itself.
CREATE TABLE IF NOT EXISTS dealerflow.index_prices_local ON CLUSTER '{cluster}'
(
    index_name String,
    ts_exchange_ms Int64,
    ts DateTime('UTC') MATERIALIZED toDateTime(intDiv(ts_exchange_ms, 1000), 'UTC'),
    price_usd Float64,
    log_seq UInt64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/dealerflow/index_prices_local', '{replica}', log_seq)
PARTITION BY toYYYYMM(toDateTime(intDiv(ts_exchange_ms, 1000), 'UTC'))
ORDER BY (index_name, ts_exchange_ms);

CREATE TABLE IF NOT EXISTS dealerflow.index_prices ON CLUSTER '{cluster}'
(
    index_name String,
    ts_exchange_ms Int64,
    ts DateTime('UTC') ALIAS toDateTime(intDiv(ts_exchange_ms, 1000), 'UTC'),
    price_usd Float64,
    log_seq UInt64
)
ENGINE = Distributed('{cluster}', 'dealerflow', 'index_prices_local', cityHash64(index_name, ts_exchange_ms));

-- Mark price and mark IV snapshots, one row per instrument per snapshot. `currency` is the underlying, `venue` the
-- instrument's venue (`deribit` or `opra`, added after the first release: old rows default to `deribit`).
-- mark_price in the quote currency as the venue quotes it (BTC for BTC options, USD for US options), mark_iv a
-- fraction (0.45 = 45 %).
CREATE TABLE IF NOT EXISTS dealerflow.mark_iv_local ON CLUSTER '{cluster}'
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/dealerflow/mark_iv_local', '{replica}', log_seq)
PARTITION BY toYYYYMM(toDateTime(intDiv(ts_exchange_ms, 1000), 'UTC'))
ORDER BY (currency, instrument, ts_exchange_ms);

CREATE TABLE IF NOT EXISTS dealerflow.mark_iv ON CLUSTER '{cluster}'
(
    currency String,
    venue String DEFAULT 'deribit',
    instrument String,
    ts_exchange_ms Int64,
    ts DateTime('UTC') ALIAS toDateTime(intDiv(ts_exchange_ms, 1000), 'UTC'),
    mark_price Float64,
    mark_iv Float64,
    log_seq UInt64
)
ENGINE = Distributed('{cluster}', 'dealerflow', 'mark_iv_local', cityHash64(currency, instrument, ts_exchange_ms));
ALTER TABLE dealerflow.mark_iv_local ON CLUSTER '{cluster}' ADD COLUMN IF NOT EXISTS venue String DEFAULT 'deribit' AFTER currency;
ALTER TABLE dealerflow.mark_iv ON CLUSTER '{cluster}' ADD COLUMN IF NOT EXISTS venue String DEFAULT 'deribit' AFTER currency;

-- Open interest snapshots, one row per instrument per snapshot. `currency` is the underlying, `venue` the
-- instrument's venue (`deribit` or `opra`, added after the first release: old rows default to `deribit`).
-- open_interest_raw = contracts x 1e8.
CREATE TABLE IF NOT EXISTS dealerflow.open_interest_local ON CLUSTER '{cluster}'
(
    currency String,
    venue String DEFAULT 'deribit',
    instrument String,
    ts_exchange_ms Int64,
    ts DateTime('UTC') MATERIALIZED toDateTime(intDiv(ts_exchange_ms, 1000), 'UTC'),
    open_interest_raw Int64,
    log_seq UInt64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/dealerflow/open_interest_local', '{replica}', log_seq)
PARTITION BY toYYYYMM(toDateTime(intDiv(ts_exchange_ms, 1000), 'UTC'))
ORDER BY (currency, instrument, ts_exchange_ms);

CREATE TABLE IF NOT EXISTS dealerflow.open_interest ON CLUSTER '{cluster}'
(
    currency String,
    venue String DEFAULT 'deribit',
    instrument String,
    ts_exchange_ms Int64,
    ts DateTime('UTC') ALIAS toDateTime(intDiv(ts_exchange_ms, 1000), 'UTC'),
    open_interest_raw Int64,
    log_seq UInt64
)
ENGINE = Distributed('{cluster}', 'dealerflow', 'open_interest_local', cityHash64(currency, instrument, ts_exchange_ms));
ALTER TABLE dealerflow.open_interest_local ON CLUSTER '{cluster}' ADD COLUMN IF NOT EXISTS venue String DEFAULT 'deribit' AFTER currency;
ALTER TABLE dealerflow.open_interest ON CLUSTER '{cluster}' ADD COLUMN IF NOT EXISTS venue String DEFAULT 'deribit' AFTER currency;

-- Forward prices: one row per (underlying, venue, expiry, snapshot time), the forward the venue prices that expiry's
-- options on (Deribit: the future or synthetic future of the expiry), with the index at the same moment so that
-- the basis forward / index can be read. `currency` is the underlying (BTC, SPY), `venue` the venue of that
-- underlying's options in the log (`deribit`, `opra`), empty when the log defined no option of the underlying
-- before the forward. forward_price and index_price in USD, index_price NULL when the source did not have
-- it. `source` is what the venue names the forward (`BTC-30JUN23`, `SYN.BTC-13APR23`), empty when unknown.
CREATE TABLE IF NOT EXISTS dealerflow.forwards_local ON CLUSTER '{cluster}'
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/dealerflow/forwards_local', '{replica}', log_seq)
PARTITION BY toYYYYMM(toDateTime(intDiv(ts_exchange_ms, 1000), 'UTC'))
ORDER BY (currency, venue, expiry_ms, ts_exchange_ms);

CREATE TABLE IF NOT EXISTS dealerflow.forwards ON CLUSTER '{cluster}'
(
    currency String,
    venue String,
    expiry_ms Int64,
    expiry DateTime('UTC') ALIAS toDateTime(intDiv(expiry_ms, 1000), 'UTC'),
    ts_exchange_ms Int64,
    ts DateTime('UTC') ALIAS toDateTime(intDiv(ts_exchange_ms, 1000), 'UTC'),
    forward_price Float64,
    index_price Nullable(Float64),
    source String,
    log_seq UInt64
)
ENGINE = Distributed('{cluster}', 'dealerflow', 'forwards_local', cityHash64(currency, venue, expiry_ms, ts_exchange_ms));

-- The venue's own greeks of each instrument, one row per instrument per snapshot, kept to compare with dealerflow's.
-- `currency` is the underlying, `venue` the instrument's venue (`deribit`, `opra`). Units are the venue's
-- (Deribit: Black-76 on the forward with mark IV, rounded to 5 decimals. Delta per unit of underlying, gamma per
-- USD, vega and theta in USD per vol point and per day, rho in USD per 1 % of rate).
CREATE TABLE IF NOT EXISTS dealerflow.venue_greeks_local ON CLUSTER '{cluster}'
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/dealerflow/venue_greeks_local', '{replica}', log_seq)
PARTITION BY toYYYYMM(toDateTime(intDiv(ts_exchange_ms, 1000), 'UTC'))
ORDER BY (currency, instrument, ts_exchange_ms);

CREATE TABLE IF NOT EXISTS dealerflow.venue_greeks ON CLUSTER '{cluster}'
(
    currency String,
    venue String,
    instrument String,
    ts_exchange_ms Int64,
    ts DateTime('UTC') ALIAS toDateTime(intDiv(ts_exchange_ms, 1000), 'UTC'),
    delta Float64,
    gamma Float64,
    vega Float64,
    theta Float64,
    rho Float64,
    log_seq UInt64
)
ENGINE = Distributed('{cluster}', 'dealerflow', 'venue_greeks_local', cityHash64(currency, instrument, ts_exchange_ms));

-- The replay series: one row per sample time, underlying and inventory model (the top-level fields of `gex`).
-- `currency` is the underlying (BTC, SPY: the column keeps its first name). It names the venue too, since an
-- underlying's options are listed on one venue.
-- Exposures in USD (GEX and NGI per 1 % spot move, VSS per vol point, CHL24h over one day, VOLG per vol point
-- squared), levels are strikes or spot levels in USD, NULL when absent. `version` (epoch ms of the write) makes a
-- re-run replace its earlier rows.
CREATE TABLE IF NOT EXISTS dealerflow.gex_snapshots_local ON CLUSTER '{cluster}'
(
    currency String,
    model String,
    at_ms Int64,
    at DateTime('UTC') MATERIALIZED toDateTime(intDiv(at_ms, 1000), 'UTC'),
    spot Float64,
    net_gamma_exposure_usd Float64,
    zero_gamma_level Nullable(Float64),
    call_wall Nullable(Float64),
    put_wall Nullable(Float64),
    major_positive_strike Nullable(Float64),
    minor_positive_strike Nullable(Float64),
    major_negative_strike Nullable(Float64),
    minor_negative_strike Nullable(Float64),
    ngi Float64,
    vss Float64,
    chl24h Float64,
    volg Float64,
    hpp Float64,
    scenario String,
    scenario_code UInt8,
    expected_move_1d_usd Nullable(Float64),
    delta_exposure_usd Float64,
    adv_usd Float64,
    excluded_instruments UInt64,
    version UInt64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/dealerflow/gex_snapshots_local', '{replica}', version)
PARTITION BY toYYYYMM(toDateTime(intDiv(at_ms, 1000), 'UTC'))
ORDER BY (currency, model, at_ms);

CREATE TABLE IF NOT EXISTS dealerflow.gex_snapshots ON CLUSTER '{cluster}'
(
    currency String,
    model String,
    at_ms Int64,
    at DateTime('UTC') ALIAS toDateTime(intDiv(at_ms, 1000), 'UTC'),
    spot Float64,
    net_gamma_exposure_usd Float64,
    zero_gamma_level Nullable(Float64),
    call_wall Nullable(Float64),
    put_wall Nullable(Float64),
    major_positive_strike Nullable(Float64),
    minor_positive_strike Nullable(Float64),
    major_negative_strike Nullable(Float64),
    minor_negative_strike Nullable(Float64),
    ngi Float64,
    vss Float64,
    chl24h Float64,
    volg Float64,
    hpp Float64,
    scenario String,
    scenario_code UInt8,
    expected_move_1d_usd Nullable(Float64),
    delta_exposure_usd Float64,
    adv_usd Float64,
    excluded_instruments UInt64,
    version UInt64
)
ENGINE = Distributed('{cluster}', 'dealerflow', 'gex_snapshots_local', cityHash64(currency, model, at_ms));

-- Parameter sweep results (`dealerflow backtest --clickhouse`): one row per (run, parameter set, regime, sample).
-- `params` is the canonical parameter set (`alpha=0.5,beta=0.25`), `rank` its place in the run (1 = best by the
-- objective in sample). `sample` is `in_sample` (every metric), `out_of_sample` (the held-out last block: the
-- objective only) or `regime` (the objective on that regime's samples). ic_vol / ic_trend are Spearman rank
-- correlations (ic_vol of the dampening score D = sign(ΔS)·HPP, ic_trend of −HPP, ic_vol_hpp / ic_trend_d the
-- earlier readings, added later), in_confidence_set is 1 for a set in the confidence set of the best sets, 0
-- outside it (in-sample rows, added later), pnl (fraction of notional, after fees) and the annualized Sharpe ratio
-- come from the rule strategy, deflated_sharpe and pbo are probabilities. Metrics are NULL when not computed or
-- undefined.
-- `currency` is the underlying the run scored. Re-sending a run replaces its rows (the newer created_ms wins).
CREATE TABLE IF NOT EXISTS dealerflow.sweep_results_local ON CLUSTER '{cluster}'
(
    run_id String,
    created_ms Int64,
    created DateTime('UTC') MATERIALIZED toDateTime(intDiv(created_ms, 1000), 'UTC'),
    currency String,
    model String,
    rank UInt32,
    params String,
    regime String,
    sample String,
    objective String,
    objective_value Nullable(Float64),
    ic_vol Nullable(Float64),
    ic_trend Nullable(Float64),
    bucket_separation Nullable(Float64),
    pnl Nullable(Float64),
    sharpe Nullable(Float64),
    deflated_sharpe Nullable(Float64),
    pbo Nullable(Float64),
    ic_vol_hpp Nullable(Float64),
    ic_trend_d Nullable(Float64),
    in_confidence_set Nullable(UInt8),
    samples UInt64,
    trials UInt64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/dealerflow/sweep_results_local', '{replica}', created_ms)
PARTITION BY toYYYYMM(toDateTime(intDiv(created_ms, 1000), 'UTC'))
ORDER BY (run_id, params, regime, sample);

CREATE TABLE IF NOT EXISTS dealerflow.sweep_results ON CLUSTER '{cluster}'
(
    run_id String,
    created_ms Int64,
    created DateTime('UTC') ALIAS toDateTime(intDiv(created_ms, 1000), 'UTC'),
    currency String,
    model String,
    rank UInt32,
    params String,
    regime String,
    sample String,
    objective String,
    objective_value Nullable(Float64),
    ic_vol Nullable(Float64),
    ic_trend Nullable(Float64),
    bucket_separation Nullable(Float64),
    pnl Nullable(Float64),
    sharpe Nullable(Float64),
    deflated_sharpe Nullable(Float64),
    pbo Nullable(Float64),
    ic_vol_hpp Nullable(Float64),
    ic_trend_d Nullable(Float64),
    in_confidence_set Nullable(UInt8),
    samples UInt64,
    trials UInt64
)
ENGINE = Distributed('{cluster}', 'dealerflow', 'sweep_results_local', cityHash64(run_id, params, regime, sample));
ALTER TABLE dealerflow.sweep_results_local ON CLUSTER '{cluster}' ADD COLUMN IF NOT EXISTS ic_vol_hpp Nullable(Float64) AFTER pbo;
ALTER TABLE dealerflow.sweep_results ON CLUSTER '{cluster}' ADD COLUMN IF NOT EXISTS ic_vol_hpp Nullable(Float64) AFTER pbo;
ALTER TABLE dealerflow.sweep_results_local ON CLUSTER '{cluster}' ADD COLUMN IF NOT EXISTS ic_trend_d Nullable(Float64) AFTER ic_vol_hpp;
ALTER TABLE dealerflow.sweep_results ON CLUSTER '{cluster}' ADD COLUMN IF NOT EXISTS ic_trend_d Nullable(Float64) AFTER ic_vol_hpp;
ALTER TABLE dealerflow.sweep_results_local ON CLUSTER '{cluster}' ADD COLUMN IF NOT EXISTS in_confidence_set Nullable(UInt8) AFTER ic_trend_d;
ALTER TABLE dealerflow.sweep_results ON CLUSTER '{cluster}' ADD COLUMN IF NOT EXISTS in_confidence_set Nullable(UInt8) AFTER ic_trend_d;

-- How far the sink has durably written each log: `next_seq` is the first seq not yet written. A row is inserted
-- only after every insert of the batch before it was acknowledged, so resuming from max(next_seq) never skips a
-- record (re-sent rows collapse by key in the other tables).
CREATE TABLE IF NOT EXISTS dealerflow.sink_progress_local ON CLUSTER '{cluster}'
(
    log_id String,
    next_seq UInt64,
    updated_ms Int64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/dealerflow/sink_progress_local', '{replica}', next_seq)
ORDER BY log_id;

CREATE TABLE IF NOT EXISTS dealerflow.sink_progress ON CLUSTER '{cluster}'
(
    log_id String,
    next_seq UInt64,
    updated_ms Int64
)
ENGINE = Distributed('{cluster}', 'dealerflow', 'sink_progress_local', cityHash64(log_id));
