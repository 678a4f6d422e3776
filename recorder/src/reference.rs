//! Reference data requests: the instrument list (`public/get_instruments`, at start and hourly) and open
//! interest (`public/get_book_summary_by_currency`, every `--oi-interval`).

use serde_json::json;

use dealerflow_deribit::{BookSummaryMsg, InstrumentMsg};

use super::rpc::{CallError, RpcClient};
use super::{now_ns, Ctx};

/// Interns every live option of `currency`; returns how many were new.
pub(crate) async fn refresh_instruments(
    ctx: &Ctx,
    rpc: &RpcClient,
    currency: &str,
) -> Result<usize, CallError> {
    let raw = rpc
        .call(
            "public/get_instruments",
            &json!({"currency": currency, "kind": "option", "expired": false}),
        )
        .await?;
    let list: Vec<InstrumentMsg<'_>> = serde_json::from_str(&raw)
        .map_err(|e| CallError::BadResult(format!("public/get_instruments: {e}")))?;
    let new = ctx.with_state(|state, out| state.ingest_instruments(&list, now_ns(), out));
    tracing::info!(currency, listed = list.len(), new, "instruments refreshed");
    Ok(new)
}

/// Appends one `OpenInterest` snapshot for `currency` at exchange time `now_ms` (the entries'
/// `creation_timestamp` when present).
pub(crate) async fn poll_open_interest(
    ctx: &Ctx,
    rpc: &RpcClient,
    currency: &str,
    now_ms: i64,
) -> Result<(), CallError> {
    let raw = rpc
        .call(
            "public/get_book_summary_by_currency",
            &json!({"currency": currency, "kind": "option"}),
        )
        .await?;
    let list: Vec<BookSummaryMsg<'_>> = serde_json::from_str(&raw)
        .map_err(|e| CallError::BadResult(format!("public/get_book_summary_by_currency: {e}")))?;
    let ts = list
        .iter()
        .filter_map(|b| b.creation_timestamp)
        .max()
        .unwrap_or(now_ms);
    ctx.with_state(|state, out| state.ingest_open_interest(&list, ts, now_ns(), out));
    Ok(())
}
