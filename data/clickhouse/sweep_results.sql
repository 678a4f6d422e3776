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
CREATE TABLE IF NOT EXISTS sweep_results
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
ENGINE = ReplacingMergeTree(created_ms)
PARTITION BY toYYYYMM(toDateTime(intDiv(created_ms, 1000), 'UTC'))
ORDER BY (run_id, params, regime, sample)
