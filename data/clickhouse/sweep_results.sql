-- Parameter sweep results: one row per (run, parameter set, regime, sample). `params` is the canonical
-- parameter set as a string (`alpha=0.5,beta=0.1,theta_flip=0.01`), metrics are NULL when not computed.
-- ic_vol / ic_trend are Spearman rank correlations, pnl_usd and the Sharpe ratios come from the rule strategy.
CREATE TABLE IF NOT EXISTS sweep_results
(
    run_id String,
    created_ms Int64,
    created DateTime('UTC') MATERIALIZED toDateTime(intDiv(created_ms, 1000), 'UTC'),
    params String,
    model String,
    regime String,
    sample String,
    objective String,
    objective_value Nullable(Float64),
    ic_vol Nullable(Float64),
    ic_trend Nullable(Float64),
    bucket_separation Nullable(Float64),
    pnl_usd Nullable(Float64),
    sharpe Nullable(Float64),
    deflated_sharpe Nullable(Float64),
    pbo Nullable(Float64),
    samples UInt64,
    trials UInt64
)
ENGINE = ReplacingMergeTree(created_ms)
PARTITION BY toYYYYMM(toDateTime(intDiv(created_ms, 1000), 'UTC'))
ORDER BY (run_id, params, regime, sample)
