//! Delivery to webhooks: one task per target, fed through a channel, so that the follower never waits on the
//! network.
//!
//! Each target's task sends its alerts one at a time, in the order they fired. A 2xx answer is a delivery (it is
//! journaled, then the next alert goes); a connection error, a timeout, a 408, a 429 or a 5xx is retried after
//! a delay that starts at `retry_initial` and doubles with jitter up to `retry_max` (at least what a
//! `Retry-After` header asks, up to `retry_max`), for as long as the service runs; any other 4xx means the target
//! will never take this alert, which is journaled as undeliverable. One target being down holds up only its own
//! queue. What is still queued when the service stops stays pending in the journal and is sent on the next start.
//! The one window left: a target that took an alert in the instant before the service died, before its answer
//! was journaled, gets that alert again after the restart (at least once, never lost).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use dealerflow_schemas::backoff::Backoff;
use serde_json::json;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::rules::{DeliverySettings, Format, Target};
use super::{Alert, AlertsError, Journal};
use crate::hub::Hub;

/// The JSON body `format` sends for `alert`: the alert itself without its target list (`json`),
/// `{"content": ...}` (`discord`, at most 2 000 characters) or `{"text": ...}` (`slack`).
pub fn body(format: Format, alert: &Alert) -> String {
    match format {
        Format::Json => alert.public_json(),
        Format::Discord => json!({ "content": truncate(&alert.text(), 2_000) }).to_string(),
        Format::Slack => json!({ "text": alert.text() }).to_string(),
    }
}

fn truncate(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max_chars - 1).collect();
    out.push('…');
    out
}

/// Why a delivery failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Worth trying again (connection refused or reset, timeout, 408, 429, 5xx), after at least `after` when the
    /// target said so.
    Retry {
        /// What happened.
        message: String,
        /// The target's `Retry-After`.
        after: Option<Duration>,
    },
    /// The target refused this alert for good (another 4xx).
    Refused {
        /// What the target answered.
        message: String,
    },
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Retry { message, .. } | Failure::Refused { message } => f.write_str(message),
        }
    }
}

/// The HTTP client every delivery uses (TLS with the Mozilla roots; `timeout` per request).
pub fn client(settings: &DeliverySettings) -> Result<reqwest::Client, AlertsError> {
    reqwest::Client::builder()
        .timeout(settings.timeout)
        .connect_timeout(settings.timeout)
        .user_agent(concat!("dealerflow/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(AlertsError::Client)
}

/// Sends `alert` to `target` once.
pub async fn post(client: &reqwest::Client, target: &Target, alert: &Alert) -> Result<(), Failure> {
    let response = client
        .post(&target.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body(target.format, alert))
        .send()
        .await
        .map_err(|e| Failure::Retry {
            // Without the URL: it may hold the webhook's secret.
            message: format!("{}: {}", target.display_url(), describe(e)),
            after: None,
        })?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64);
    let text = response.text().await.unwrap_or_default();
    let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let message = format!(
        "{} answered {status}{}",
        target.display_url(),
        if text.is_empty() {
            String::new()
        } else {
            format!(": {}", truncate(&text, 200))
        }
    );
    if status.is_server_error()
        || status == reqwest::StatusCode::TOO_MANY_REQUESTS
        || status == reqwest::StatusCode::REQUEST_TIMEOUT
    {
        Err(Failure::Retry { message, after })
    } else {
        Err(Failure::Refused { message })
    }
}

/// A reqwest error with its causes, without the URL.
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut out = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        let t = s.to_string();
        if !out.contains(&t) {
            out.push_str(": ");
            out.push_str(&t);
        }
        source = s.source();
    }
    out
}

/// The queues of the delivery tasks (the default has none: alerts go to the journal and the stream only).
#[derive(Debug, Clone, Default)]
pub struct Delivery {
    queues: BTreeMap<String, mpsc::UnboundedSender<Arc<Alert>>>,
}

impl Delivery {
    /// Starts one task per target on the current tokio runtime; they end when `stop` turns true (or its sender
    /// is dropped). Deliveries are journaled in `journal` and counted in the hub's metrics.
    pub fn start(
        targets: &[Target],
        settings: DeliverySettings,
        client: reqwest::Client,
        journal: Arc<Mutex<Journal>>,
        hub: Arc<Hub>,
        stop: watch::Receiver<bool>,
    ) -> (Delivery, Vec<JoinHandle<()>>) {
        let mut queues = BTreeMap::new();
        let mut tasks = Vec::new();
        for (i, target) in targets.iter().enumerate() {
            let (tx, rx) = mpsc::unbounded_channel();
            queues.insert(target.name.clone(), tx);
            tasks.push(tokio::spawn(run_target(
                target.clone(),
                settings,
                client.clone(),
                rx,
                journal.clone(),
                hub.clone(),
                stop.clone(),
                0x5eed_u64.wrapping_add(i as u64),
            )));
        }
        (Delivery { queues }, tasks)
    }

    /// Queues `alert` for each of `targets` that has a task (never waits). A target that is no longer in the
    /// rules file is skipped (its deliveries stay pending in the journal).
    pub fn enqueue(&self, alert: &Arc<Alert>, targets: &[String]) {
        for t in targets {
            match self.queues.get(t) {
                Some(q) => {
                    // A closed queue means the service is stopping: the alert stays pending in the journal.
                    let _ = q.send(alert.clone());
                }
                None => tracing::warn!(
                    alert = %alert.id,
                    target = %t,
                    "the rules file has no target of this name any more; the alert stays pending for it"
                ),
            }
        }
    }
}

fn journal_blocking(
    journal: &Arc<Mutex<Journal>>,
    f: impl FnOnce(&mut Journal) -> Result<(), AlertsError> + Send + 'static,
) -> JoinHandle<Result<(), AlertsError>> {
    let journal = journal.clone();
    tokio::task::spawn_blocking(move || {
        let mut j = journal.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut j)
    })
}

#[allow(clippy::too_many_arguments)]
async fn run_target(
    target: Target,
    settings: DeliverySettings,
    client: reqwest::Client,
    mut queue: mpsc::UnboundedReceiver<Arc<Alert>>,
    journal: Arc<Mutex<Journal>>,
    hub: Arc<Hub>,
    mut stop: watch::Receiver<bool>,
    seed: u64,
) {
    let mut backoff = Backoff::new(settings.retry_initial, settings.retry_max, seed);
    loop {
        let alert = tokio::select! {
            a = queue.recv() => match a {
                Some(a) => a,
                None => return,
            },
            _ = stop.wait_for(|s| *s) => return,
        };
        backoff.reset();
        let mut failures = 0u32;
        loop {
            let outcome = tokio::select! {
                r = post(&client, &target, &alert) => r,
                _ = stop.wait_for(|s| *s) => return,
            };
            match outcome {
                Ok(()) => {
                    hub.metrics.alerts_sent.inc();
                    if failures > 0 {
                        tracing::info!(target = %target.name, alert = %alert.id, tries = failures + 1, "alert delivered");
                    }
                    let (id, name) = (alert.id.clone(), target.name.clone());
                    let recorded =
                        journal_blocking(&journal, move |j| j.record_delivered(&id, &name)).await;
                    if let Ok(Err(e)) = recorded {
                        hub.metrics.errors.inc();
                        tracing::error!(error = %e, "the delivery could not be journaled; it may be sent again after a restart");
                    }
                    break;
                }
                Err(Failure::Refused { message }) => {
                    hub.metrics.alerts_failed.inc();
                    tracing::error!(target = %target.name, alert = %alert.id, %message, "the target refused the alert; not retrying");
                    let (id, name) = (alert.id.clone(), target.name.clone());
                    let recorded = journal_blocking(&journal, move |j| {
                        j.record_undeliverable(&id, &name, &message)
                    })
                    .await;
                    if let Ok(Err(e)) = recorded {
                        hub.metrics.errors.inc();
                        tracing::error!(error = %e, "the refusal could not be journaled");
                    }
                    break;
                }
                Err(Failure::Retry { message, after }) => {
                    hub.metrics.alerts_failed.inc();
                    failures += 1;
                    let delay = backoff
                        .next_delay()
                        .max(after.unwrap_or_default().min(settings.retry_max));
                    // The first failure of an alert and then every tenth: a target down for hours is not a
                    // line per second.
                    if failures == 1 || failures.is_multiple_of(10) {
                        tracing::warn!(target = %target.name, alert = %alert.id, %message, tries = failures, retry_in_ms = delay.as_millis() as u64, "alert delivery failed; retrying");
                    }
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        _ = stop.wait_for(|s| *s) => return,
                    }
                }
            }
        }
    }
}
