-- The replay series: one row per sample time, underlying and inventory model (the top-level fields of `gex`).
-- `currency` is the underlying (BTC, SPY: the column keeps its first name). It names the venue too, since an
-- underlying's options are listed on one venue.
-- Exposures in USD (GEX and NGI per 1 % spot move, VSS per vol point, CHL24h over one day, VOLG per vol point
-- squared), levels are strikes or spot levels in USD, NULL when absent. `version` (epoch ms of the write) makes a
-- re-run replace its earlier rows.
CREATE TABLE IF NOT EXISTS gex_snapshots
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
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(toDateTime(intDiv(at_ms, 1000), 'UTC'))
ORDER BY (currency, model, at_ms)
