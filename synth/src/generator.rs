//! The simulation loop: one step per simulated second, every event appended to the log in exchange-time order.
//!
//! Within a second starting at `t`: at 08:00 UTC (and at the start) the listing is refreshed (Instrument events);
//! then each currency's index ticks (IndexPrice at `t`); then, on their intervals, a MarkIvSnapshot and an
//! OpenInterest per currency (at `t`); then the trades of the second, merged across currencies by millisecond
//! (ties: currency order, then order of generation). The regime chain and the vol surfaces step once a minute.
//!
//! Randomness: ChaCha8 streams derived from the seed, one per concern (regime, index shocks, each currency's
//! flow and open interest), so changing one part of the model does not reshuffle the others. No clock, no hash
//! order: the same config and seed give a byte-identical log. `ts_recv_ns` is the exchange time.

use dealerflow_engine::black_scholes::BsInputs;
use dealerflow_log::catalog::InstrumentCatalog;
use dealerflow_log::LogWriter;
use dealerflow_schemas::time::{MS_PER_DAY, MS_PER_YEAR};
use dealerflow_schemas::{
    Event, IndexPrice, InstrumentId, Liquidation, MarkIv, MarkIvSnapshot, OpenInterest,
    OpenInterestEntry, Trade,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use super::config::{CurrencyConfig, SynthConfig};
use super::index_path::IndexPath;
use super::listing::Listing;
use super::planted::PlantedEffect;
use super::regime::{Regime, RegimeChain};
use super::trade_flow::{Fill, TradeFlow};
use super::vol_surface::VolSurface;
use super::{SynthError, SynthProgress, SynthReport};

const STREAM_REGIME: u64 = 1;
const STREAM_INDEX: u64 = 2;
const STREAM_FLOW: u64 = 100;
const STREAM_OI: u64 = 200;

fn stream(seed: u64, id: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(id);
    rng
}

/// One currency's market state.
struct Market {
    cfg: CurrencyConfig,
    index_name: String,
    path: IndexPath,
    surface: VolSurface,
    listing: Listing,
    flow: TradeFlow,
    flow_rng: ChaCha8Rng,
    oi_rng: ChaCha8Rng,
    minute_vol: f64,
    /// Drift of ln S over the current minute set by the planted effect, fraction per year (0 without one).
    minute_drift: f64,
    next_trade_id: u64,
}

/// Appends events, interns instruments and keeps the counts.
struct Sink<'a> {
    writer: &'a mut LogWriter,
    catalog: InstrumentCatalog,
    planted: &'a mut dyn PlantedEffect,
    report: SynthReport,
}

impl Sink<'_> {
    fn append(&mut self, ts_ms: i64, event: Event) -> Result<(), SynthError> {
        self.planted.observe(&event);
        self.writer
            .append(ts_ms.saturating_mul(1_000_000), &event)?;
        self.report.events += 1;
        Ok(())
    }
}

/// Runs the simulation described by `config`, appending to `writer` (which must hold an empty log).
pub fn run(
    config: &SynthConfig,
    writer: &mut LogWriter,
    planted: &mut dyn PlantedEffect,
    progress: &mut dyn FnMut(SynthProgress),
) -> Result<SynthReport, SynthError> {
    config.validate()?;
    if writer.next_seq() != 0 {
        return Err(SynthError::NotEmpty {
            dir: writer.dir().to_path_buf(),
            records: writer.next_seq(),
        });
    }
    let mut regime_rng = stream(config.seed, STREAM_REGIME);
    let mut index_rng = stream(config.seed, STREAM_INDEX);
    let mut chain = RegimeChain::new(Regime::Calm);
    let mut markets: Vec<Market> = config
        .currencies
        .iter()
        .enumerate()
        .map(|(i, c)| Market {
            index_name: c.index_name(),
            path: IndexPath::new(c.start_spot_usd),
            surface: VolSurface::new(chain.current, c.vol_scale),
            listing: Listing::default(),
            flow: TradeFlow::new(c.trades_per_day, c.min_amount),
            flow_rng: stream(config.seed, STREAM_FLOW + i as u64),
            oi_rng: stream(config.seed, STREAM_OI + i as u64),
            minute_vol: chain.current.realized_vol() * c.vol_scale,
            minute_drift: 0.0,
            next_trade_id: c.first_trade_id,
            cfg: c.clone(),
        })
        .collect();
    let mut sink = Sink {
        writer,
        catalog: InstrumentCatalog::new(),
        planted,
        report: SynthReport::default(),
    };
    sink.report.first_ts_ms = config.start_ms;
    let total_seconds = u64::from(config.days) * 86_400;
    let mut fills: Vec<(i64, usize, u64, Fill)> = Vec::new();
    for s in 0..total_seconds {
        let t = config.start_ms + (s as i64) * 1000;
        if s % 60 == 0 {
            let regime = chain.step_minute(&mut regime_rng);
            sink.report.regime_minutes[regime.index() as usize] += 1;
            for (i, m) in markets.iter_mut().enumerate() {
                let noise: f64 = StandardNormal.sample(&mut m.oi_rng);
                m.surface.step_minute(regime, 1.0, noise);
                let regime_vol = regime.realized_vol() * m.cfg.vol_scale;
                let vol = sink.planted.volatility(i, t, regime_vol);
                m.minute_vol = if vol.is_finite() && vol > 0.0 {
                    vol
                } else {
                    regime_vol
                };
                let drift = sink.planted.drift(i, t, m.path.spot_usd);
                m.minute_drift = if drift.is_finite() { drift } else { 0.0 };
            }
        }
        if s == 0 || (t - 8 * 3_600_000).rem_euclid(MS_PER_DAY) == 0 {
            for m in &mut markets {
                refresh_listing(m, t, &mut sink)?;
            }
        }
        let z_market: f64 = StandardNormal.sample(&mut index_rng);
        for (i, m) in markets.iter_mut().enumerate() {
            let z_own: f64 = StandardNormal.sample(&mut index_rng);
            if s > 0 {
                let z = IndexPath::correlated_shock(i == 0, z_market, z_own);
                m.path.step_with_drift(m.minute_vol, m.minute_drift, 1.0, z);
            }
            let price = (m.path.spot_usd * 100.0).round() / 100.0;
            sink.append(
                t,
                Event::IndexPrice(IndexPrice {
                    index_name: m.index_name.clone(),
                    price,
                    ts_exchange_ms: t,
                }),
            )?;
            sink.report.index_prices += 1;
        }
        let since_start = t - config.start_ms;
        if since_start % config.mark_iv_interval_ms == 0 {
            for m in &markets {
                let snapshot = mark_snapshot(m, t);
                sink.append(t, Event::MarkIvSnapshot(snapshot))?;
                sink.report.mark_iv_snapshots += 1;
            }
        }
        if since_start % config.oi_interval_ms == 0 {
            for m in &markets {
                let entries = m
                    .listing
                    .active_by_id()
                    .into_iter()
                    .map(|i| OpenInterestEntry {
                        instrument: m.listing.options[i].id,
                        open_interest: m.listing.options[i].open_interest,
                    })
                    .collect();
                sink.append(
                    t,
                    Event::OpenInterest(OpenInterest {
                        ts_exchange_ms: t,
                        entries,
                    }),
                )?;
                sink.report.open_interest_snapshots += 1;
            }
        }
        fills.clear();
        for (i, m) in markets.iter_mut().enumerate() {
            let orders = m.flow.orders_in_second(t, chain.current, &mut m.flow_rng);
            for _ in 0..orders {
                let ms = t + rand::Rng::random_range(&mut m.flow_rng, 0..1000i64);
                let spot = m.path.spot_usd;
                for f in m.flow.order(
                    ms,
                    spot,
                    &m.surface,
                    &m.listing,
                    chain.current,
                    &mut m.flow_rng,
                ) {
                    let n = fills.len() as u64;
                    fills.push((ms, i, n, f));
                }
            }
        }
        fills.sort_by_key(|&(ms, i, n, _)| (ms, i, n));
        for (ms, i, _, f) in fills.drain(..) {
            let m = &mut markets[i];
            m.listing.apply_trade(f.option, f.amount, &mut m.oi_rng);
            let o = &m.listing.options[f.option];
            let trade = Trade {
                trade_id: format!("{}{}", m.cfg.trade_id_prefix, m.next_trade_id),
                instrument: o.id,
                ts_exchange_ms: ms,
                trade_seq: Some(o.trades),
                taker_side: f.side,
                amount: f.amount,
                price: f.price,
                mark_price: f.mark_price,
                iv: f.iv,
                index_price: (m.path.spot_usd * 100.0).round() / 100.0,
                block_trade_id: None,
                liquidation: Liquidation::None,
                combo_id: None,
            };
            m.next_trade_id += 1;
            *sink
                .report
                .trades
                .entry(m.cfg.currency.clone())
                .or_default() += 1;
            sink.append(ms, Event::Trade(trade))?;
        }
        if (s + 1) % 3600 == 0 || s + 1 == total_seconds {
            progress(SynthProgress {
                simulated_seconds: s + 1,
                total_seconds,
                events: sink.report.events,
            });
        }
    }
    sink.report.last_ts_ms = config.start_ms + (total_seconds as i64 - 1) * 1000;
    sink.report.instruments = sink.catalog.len() as u64;
    sink.report.next_seq = sink.writer.next_seq();
    Ok(sink.report)
}

fn refresh_listing(m: &mut Market, t: i64, sink: &mut Sink<'_>) -> Result<(), SynthError> {
    let new = m.listing.refresh(
        &m.cfg.currency,
        t,
        m.path.spot_usd,
        &m.surface,
        m.cfg.min_amount,
        &mut m.oi_rng,
    );
    for o in &new {
        let id = intern(sink, t, &o.name)?;
        m.listing.add(o, id);
    }
    Ok(())
}

fn intern(sink: &mut Sink<'_>, t: i64, name: &str) -> Result<InstrumentId, SynthError> {
    if let Some(id) = sink.catalog.id(name) {
        return Ok(id);
    }
    let Some(instrument) = sink.catalog.prepare(name, 1.0)? else {
        return sink.catalog.id(name).ok_or_else(|| SynthError::Vanished {
            name: name.to_string(),
        });
    };
    let id = instrument.id;
    sink.append(t, Event::Instrument(instrument.clone()))?;
    sink.catalog.observe(None, instrument)?;
    Ok(id)
}

fn mark_snapshot(m: &Market, t: i64) -> MarkIvSnapshot {
    let spot = m.path.spot_usd;
    let mut marks = Vec::new();
    for i in m.listing.active_by_id() {
        let o = &m.listing.options[i];
        let tau_years = (o.expiry_ms - t) as f64 / MS_PER_YEAR;
        let strike = o.strike_usd as f64;
        let mark_iv = m.surface.iv(spot, strike, tau_years);
        if let Some(bs) = BsInputs::new(o.kind, spot, strike, tau_years, mark_iv, 0.0) {
            marks.push(MarkIv {
                instrument: o.id,
                mark_price: ((bs.price_usd() / spot) * 1e8).round() / 1e8,
                mark_iv: (mark_iv * 1e4).round() / 1e4,
            });
        }
    }
    MarkIvSnapshot {
        ts_exchange_ms: t,
        marks,
    }
}
