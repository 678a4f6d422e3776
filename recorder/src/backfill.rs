//! Backfill: asking the exchange for trades the live feed missed.
//!
//! - `sweep`: `public/get_last_trades_by_currency_and_time` over an exchange-time window, paging on
//!   `has_more` (count ≤ 1000, ascending; the next page starts at the last timestamp seen, inclusive, and
//!   duplicates are dropped by trade id). Deribit keeps only the last 24 h there, so a window reaching further
//!   back is clamped and the unreachable part is written as a gap.
//! - `fill_seq_gaps`: `public/get_last_trades_by_instrument` by `start_seq`/`end_seq` for each instrument
//!   with missing trade_seq numbers; seqs the exchange does not return are given up with a note.
//!
//! Every backfill that appends trades writes a `Session::Backfilled` event.

use serde_json::json;

use dealerflow_schemas::{Event, Session};

use dealerflow_deribit::TradesPage;

use super::rpc::{CallError, RpcClient};
use super::state::Origin;
use super::{now_ns, Ctx};

/// How far back `public/get_last_trades_by_currency_and_time` reaches, ms (Deribit: 24 h).
pub const RECENT_TRADES_MS: i64 = 24 * 3_600_000;

/// Safety margin kept inside the 24 h window, ms.
const WINDOW_MARGIN_MS: i64 = 60_000;

/// Largest page Deribit serves.
pub const PAGE: u64 = 1000;

/// Exchange time now (`public/get_time`), epoch ms.
pub(crate) async fn exchange_now(rpc: &RpcClient) -> Result<i64, CallError> {
    let raw = rpc.call("public/get_time", &json!({})).await?;
    raw.trim()
        .parse::<i64>()
        .map_err(|e| CallError::BadResult(format!("public/get_time: {e}")))
}

/// What one page of backfilled trades gave.
struct PageOutcome {
    /// Trades appended (new).
    appended: u64,
    /// Newest timestamp on the page, epoch ms.
    last_ts: Option<i64>,
    /// Highest trade_seq on the page.
    last_seq: Option<u64>,
    /// Trades on the page.
    len: usize,
    /// Deribit's `has_more`.
    has_more: bool,
}

fn ingest_page(ctx: &Ctx, raw: &str) -> Result<PageOutcome, CallError> {
    let page: TradesPage<'_> =
        serde_json::from_str(raw).map_err(|e| CallError::BadResult(format!("trades page: {e}")))?;
    let last_ts = page.trades.iter().filter_map(|t| t.timestamp).max();
    let last_seq = page.trades.iter().filter_map(|t| t.trade_seq).max();
    let n = page.trades.len();
    let appended = ctx.with_state(|state, out| {
        state
            .ingest_trades(&page.trades, Origin::Backfill, now_ns(), out)
            .appended
    });
    Ok(PageOutcome {
        appended,
        last_ts,
        last_seq,
        len: n,
        has_more: page.has_more,
    })
}

fn note_backfilled(ctx: &Ctx, count: u64) {
    if count > 0 {
        ctx.with_state(|_, out| {
            out.push((now_ns(), Event::Session(Session::Backfilled { count })));
        });
    }
}

/// Fetches every trade of `currency` with `from_ms ≤ timestamp ≤ to_ms` (exchange time now is `now_ms`);
/// returns how many were new. When the watermark is older than Deribit's 24 h of real time (the recorder was
/// down that long), the window is clamped to what is still served and the rest is written as lost.
pub(crate) async fn sweep(
    ctx: &Ctx,
    rpc: &RpcClient,
    currency: &str,
    from_ms: i64,
    to_ms: i64,
    now_ms: i64,
) -> Result<u64, CallError> {
    let oldest = now_ms - RECENT_TRADES_MS + WINDOW_MARGIN_MS;
    let mut start = from_ms;
    if ctx.watermark_age_ms() > RECENT_TRADES_MS - WINDOW_MARGIN_MS && start < oldest {
        tracing::warn!(
            currency,
            from_ms,
            oldest,
            "backfill window reaches past Deribit's 24 h; the older part is lost"
        );
        ctx.with_state(|state, out| {
            state.announce_time_gap(from_ms, oldest - 1, now_ns(), out);
            out.push((
                now_ns(),
                Event::Session(Session::Note {
                    text: format!(
                        "{currency} trades between {from_ms} and {} ms are older than the 24 h backfill reaches",
                        oldest - 1
                    ),
                }),
            ));
        });
        start = oldest;
    }
    let mut total = 0;
    while start <= to_ms {
        let params = json!({
            "currency": currency,
            "kind": "option",
            "start_timestamp": start,
            "end_timestamp": to_ms,
            "count": PAGE,
            "sorting": "asc",
        });
        let raw = rpc
            .call("public/get_last_trades_by_currency_and_time", &params)
            .await?;
        let page = ingest_page(ctx, &raw)?;
        total += page.appended;
        if !page.has_more || page.len == 0 {
            break;
        }
        start = match page.last_ts {
            Some(ts) if ts > start => ts,
            _ => {
                // A whole page in one millisecond: step past it (cannot page within a millisecond by time).
                tracing::warn!(
                    currency,
                    start,
                    "a full page of trades shares one timestamp; stepping 1 ms"
                );
                start + 1
            }
        };
    }
    note_backfilled(ctx, total);
    Ok(total)
}

/// Requests the missing trade_seq ranges of up to `max_instruments` instruments; returns how many trades
/// were new.
pub(crate) async fn fill_seq_gaps(
    ctx: &Ctx,
    rpc: &RpcClient,
    max_instruments: usize,
) -> Result<u64, CallError> {
    let spans = ctx.with_state(|state, _| state.missing_spans());
    let mut total = 0;
    for (name, id, lo, hi) in spans.into_iter().take(max_instruments) {
        let mut start_seq = lo;
        loop {
            let params = json!({
                "instrument_name": name,
                "start_seq": start_seq,
                "end_seq": hi,
                "count": PAGE,
                "sorting": "asc",
            });
            let raw = rpc
                .call("public/get_last_trades_by_instrument", &params)
                .await?;
            let page = ingest_page(ctx, &raw)?;
            total += page.appended;
            match page.last_seq {
                Some(s) if page.has_more && page.len > 0 && s >= start_seq && s < hi => {
                    start_seq = s + 1
                }
                _ => break,
            }
        }
        // Whatever is still missing in the span does not exist at the exchange (or is no longer served).
        ctx.with_state(|state, out| state.give_up(id, lo, hi, now_ns(), out));
    }
    note_backfilled(ctx, total);
    Ok(total)
}
