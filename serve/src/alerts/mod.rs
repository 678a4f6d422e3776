//! Alerts (`dealerflow serve --alerts FILE.toml`): rules over the live trades and evaluations, a journal that
//! survives restarts, and delivery to webhooks.
//!
//! The follower thread calls the [`Alerter`] (a [`FollowerHook`]) after every trade and every evaluation it
//! publishes. A rule that fires ([`rules`]) becomes an [`Alert`] whose id is `RULE:CURRENCY:POS`, POS being the
//! stream position it fired at (the trade's `2·seq + 1`, the evaluation's `2·records`), so the same log position
//! always gives the same id. The alert is then
//!
//! 1. appended to the journal and fsynced ([`journal`]); an id already in the journal is never fired again;
//! 2. published on the stream as an `alert` event at its position;
//! 3. handed to the delivery tasks through a channel ([`deliver`]): the follower never waits on the network.
//!
//! On start the journal is read: the alerts not yet delivered to every target are queued again, and each rule's
//! last alert per currency restores its cooldown. `dealerflow alerts test` sends [`sample_alert`] to every
//! target once.

pub mod deliver;
pub mod journal;
pub mod rules;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use dealerflow_engine::report::GexReport;
use dealerflow_schemas::time::format_ms;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use deliver::{Delivery, Failure};
pub use journal::Journal;
pub use rules::{AlertsConfig, Observation, RuleEngine, RulesError, Target};

use crate::events::TradeEvent;
use crate::hub::{FollowerHook, Hub, StreamEvent, StreamKind};

/// Why alerts could not start.
#[derive(Debug, thiserror::Error)]
pub enum AlertsError {
    /// The rules file.
    #[error(transparent)]
    Rules(#[from] RulesError),
    /// The journal could not be read or written.
    #[error("cannot {what} {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done (`open`, `append to`, ...).
        what: &'static str,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// A journal line that does not read.
    #[error("{}: line {line} is not a journal entry ({message}); move the file away to start a new journal", path.display())]
    Corrupt {
        /// The journal.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The JSON parser's message.
        message: String,
    },
    /// Another service holds the journal.
    #[error("{}: another dealerflow serve with alerts is running on this data directory", path.display())]
    Locked {
        /// The journal.
        path: PathBuf,
    },
    /// The HTTP client could not be built.
    #[error("the webhook HTTP client: {0}")]
    Client(#[source] reqwest::Error),
}

/// One alert: what fired, where in the log, and the targets it is owed to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// `RULE:CURRENCY:POS`.
    pub id: String,
    /// The rule's name.
    pub rule: String,
    /// The rule's `when`.
    pub when: String,
    /// Underlying currency.
    pub currency: String,
    /// The stream position it fired at.
    pub pos: u64,
    /// Exchange time of the trade or the evaluation, epoch ms.
    pub at_ms: i64,
    /// The same, RFC 3339.
    pub at: String,
    /// One line for people.
    pub message: String,
    /// What the rule saw (the trade, or the values it compared).
    pub values: Value,
    /// Names of the targets it is sent to.
    pub targets: Vec<String>,
}

impl Alert {
    /// The id of the alert of `rule` for `currency` at stream position `pos`.
    pub fn id_for(rule: &str, currency: &str, pos: u64) -> String {
        format!("{rule}:{currency}:{pos}")
    }

    /// What chat targets show: currency, rule, message and id.
    pub fn text(&self) -> String {
        format!(
            "dealerflow {} {}: {} (alert {})",
            self.currency, self.rule, self.message, self.id
        )
    }

    /// The alert as JSON without its target list, fields in declaration order (what the stream and `json`
    /// targets get).
    pub fn public_json(&self) -> String {
        #[derive(Serialize)]
        struct Public<'a> {
            id: &'a str,
            rule: &'a str,
            when: &'a str,
            currency: &'a str,
            pos: u64,
            at_ms: i64,
            at: &'a str,
            message: &'a str,
            values: &'a Value,
        }
        serde_json::to_string(&Public {
            id: &self.id,
            rule: &self.rule,
            when: &self.when,
            currency: &self.currency,
            pos: self.pos,
            at_ms: self.at_ms,
            at: &self.at,
            message: &self.message,
            values: &self.values,
        })
        .unwrap_or_default()
    }
}

/// The follower's side of alerts: evaluates the rules, journals, publishes and queues what fires.
#[derive(Debug)]
pub struct Alerter {
    engine: RuleEngine,
    journal: Arc<Mutex<Journal>>,
    delivery: Delivery,
}

impl Alerter {
    /// An alerter over `engine` writing to `journal` and queueing to `delivery`; the cooldowns start from what
    /// the journal holds.
    pub fn new(
        mut engine: RuleEngine,
        journal: Arc<Mutex<Journal>>,
        delivery: Delivery,
    ) -> Alerter {
        {
            let j = journal.lock().unwrap_or_else(PoisonError::into_inner);
            for (rule, currency, at_ms) in j.last_fired() {
                engine.fired_before(rule, currency, at_ms);
            }
        }
        Alerter {
            engine,
            journal,
            delivery,
        }
    }

    fn fire(&mut self, hub: &Hub, pos: u64, f: rules::Firing) {
        let rule = &self.engine.rules()[f.rule];
        let alert = Alert {
            id: Alert::id_for(&rule.name, &f.currency, pos),
            rule: rule.name.clone(),
            when: rule.condition.when().as_str().to_string(),
            currency: f.currency,
            pos,
            at_ms: f.at_ms,
            at: format_ms(f.at_ms),
            message: f.message,
            values: f.values,
            targets: rule.targets.clone(),
        };
        {
            let mut j = self.journal.lock().unwrap_or_else(PoisonError::into_inner);
            if j.contains(&alert.id) {
                return;
            }
            if let Err(e) = j.record_alert(&alert) {
                // Better sent without the restart guarantee than not at all.
                hub.metrics.errors.inc();
                tracing::error!(alert = %alert.id, error = %e, "the alert could not be journaled; sending it anyway");
            }
        }
        hub.metrics.alerts_fired.inc();
        hub.publish(StreamEvent {
            pos,
            kind: StreamKind::Alert,
            currency: alert.currency.clone(),
            data: alert.public_json(),
        });
        let alert = Arc::new(alert);
        self.delivery.enqueue(&alert, &alert.targets);
    }
}

impl FollowerHook for Alerter {
    fn after_trade(&mut self, hub: &Hub, trade: &TradeEvent) {
        for f in self.engine.on_trade(trade) {
            self.fire(hub, 2 * trade.seq + 1, f);
        }
    }

    fn after_evaluation(&mut self, hub: &Hub, records: u64, report: &GexReport) {
        let observation = Observation::from_report(report);
        for f in self.engine.on_evaluation(&observation) {
            self.fire(hub, 2 * records, f);
        }
    }
}

/// The delivery tasks of a running service.
#[derive(Debug)]
pub struct AlertService {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    journal: PathBuf,
}

impl AlertService {
    /// The journal file.
    pub fn journal(&self) -> &Path {
        &self.journal
    }

    /// Ends the delivery tasks (what they had not delivered stays pending in the journal).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Opens the journal of `data_dir`, starts one delivery task per target on the current tokio runtime, queues
/// what the journal has pending, and returns the follower's hook and the tasks' handle.
pub fn start(
    config: &AlertsConfig,
    data_dir: &Path,
    hub: Arc<Hub>,
) -> Result<(Alerter, AlertService), AlertsError> {
    let journal = Journal::open(data_dir)?;
    let path = journal.path().to_path_buf();
    let pending = journal.pending();
    let journal = Arc::new(Mutex::new(journal));
    let client = deliver::client(&config.delivery)?;
    let (stop, stop_rx) = watch::channel(false);
    let (delivery, tasks) = Delivery::start(
        &config.targets,
        config.delivery,
        client,
        journal.clone(),
        hub,
        stop_rx,
    );
    if !pending.is_empty() {
        tracing::info!(
            alerts = pending.len(),
            journal = %path.display(),
            "sending the alerts not yet delivered"
        );
    }
    for (alert, targets) in &pending {
        delivery.enqueue(alert, targets);
    }
    let alerter = Alerter::new(RuleEngine::new(config.rules.clone()), journal, delivery);
    Ok((
        alerter,
        AlertService {
            stop,
            tasks,
            journal: path,
        },
    ))
}

/// The alert `dealerflow alerts test` sends to `target`.
pub fn sample_alert(target: &Target) -> Alert {
    let at_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    Alert {
        id: Alert::id_for("sample", "BTC", 0),
        rule: "sample".into(),
        when: "test".into(),
        currency: "BTC".into(),
        pos: 0,
        at_ms,
        at: format_ms(at_ms),
        message: format!(
            "a sample alert to check the target {:?} ({}); nothing happened in the market",
            target.name,
            target.format.as_str()
        ),
        values: Value::Object(Default::default()),
        targets: vec![target.name.clone()],
    }
}

/// Sends [`sample_alert`] to every target of `config` once (no retry, no journal); the outcome per target, in
/// file order.
pub async fn send_samples(
    config: &AlertsConfig,
) -> Result<Vec<(Target, Result<(), Failure>)>, AlertsError> {
    let client = deliver::client(&config.delivery)?;
    let mut out = Vec::new();
    for target in &config.targets {
        let r = deliver::post(&client, target, &sample_alert(target)).await;
        out.push((target.clone(), r));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use dealerflow_schemas::DurationMs;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::rules::{Condition, DeliverySettings, Format, Rule};
    use super::*;

    fn trade(seq: u64, amount: f64) -> TradeEvent {
        TradeEvent {
            seq,
            ts_exchange_ms: 1_786_911_707_538 + seq as i64,
            at: format_ms(1_786_911_707_538 + seq as i64),
            currency: "BTC".into(),
            instrument: "BTC-17AUG26-63000-P".into(),
            option_kind: "put",
            strike: 63_000.0,
            expiry_ms: 1_786_953_600_000,
            trade_id: seq.to_string(),
            taker_side: "sell",
            amount,
            dealer_position_change: amount,
            price: 0.002,
            index_price: 63_064.71,
            iv: Some(0.1672),
            notional_usd: amount * 63_064.71,
        }
    }

    fn big_trades(targets: &[&str]) -> Rule {
        Rule {
            name: "big".into(),
            currency: None,
            cooldown: DurationMs::ZERO,
            targets: targets.iter().map(|t| t.to_string()).collect(),
            condition: Condition::TradeSize {
                contracts_above: Some(5.0),
                notional_usd_above: None,
            },
        }
    }

    #[test]
    fn an_id_already_in_the_journal_is_not_fired_again() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Arc::new(Mutex::new(Journal::open(dir.path()).unwrap()));
        let hub = Hub::default();
        let mut stream = hub.subscribe();
        let mut first = Alerter::new(
            RuleEngine::new(vec![big_trades(&[])]),
            journal.clone(),
            Delivery::default(),
        );
        first.after_trade(&hub, &trade(10, 6.0));
        first.after_trade(&hub, &trade(11, 5.0));
        assert_eq!(journal.lock().unwrap().len(), 1);
        let e = stream.try_recv().unwrap();
        assert_eq!(
            (e.kind, e.pos, e.currency.as_str()),
            (StreamKind::Alert, 21, "BTC")
        );
        let data: Value = serde_json::from_str(&e.data).unwrap();
        assert_eq!(data["id"], "big:BTC:21");
        assert_eq!(data["when"], "trade_size");
        assert_eq!(data["values"]["amount"], 6.0);
        assert!(data.get("targets").is_none());
        assert!(stream.try_recv().is_err());

        // A second follower over the same journal (a restart that reads the same records again): the trade at
        // seq 10 fires the same id, which is not fired twice; a new one is.
        let mut again = Alerter::new(
            RuleEngine::new(vec![big_trades(&[])]),
            journal.clone(),
            Delivery::default(),
        );
        again.after_trade(&hub, &trade(10, 6.0));
        assert!(stream.try_recv().is_err());
        again.after_trade(&hub, &trade(12, 7.0));
        assert_eq!(stream.try_recv().unwrap().pos, 25);
        assert_eq!(journal.lock().unwrap().len(), 2);
        assert_eq!(hub.metrics.alerts_fired.get(), 2);
    }

    #[test]
    fn bodies() {
        let mut a = journal::tests::alert("big", 21, 0, &["t"]);
        a.message = "taker sell of 6".into();
        assert_eq!(
            deliver::body(Format::Slack, &a),
            r#"{"text":"dealerflow BTC big: taker sell of 6 (alert big:BTC:21)"}"#
        );
        assert_eq!(
            deliver::body(Format::Discord, &a),
            r#"{"content":"dealerflow BTC big: taker sell of 6 (alert big:BTC:21)"}"#
        );
        let json = deliver::body(Format::Json, &a);
        assert!(
            json.starts_with(
                r#"{"id":"big:BTC:21","rule":"big","when":"trade_size","currency":"BTC","pos":21,"#
            ),
            "{json}"
        );
        let json: Value = serde_json::from_str(&json).unwrap();
        assert!(json.get("targets").is_none());
        assert_eq!(json["values"]["amount"], 30.0);
        a.message = "x".repeat(3_000);
        let long: Value = serde_json::from_str(&deliver::body(Format::Discord, &a)).unwrap();
        assert_eq!(long["content"].as_str().unwrap().chars().count(), 2_000);
    }

    /// A webhook on 127.0.0.1: `/flaky` answers 503 twice then 200, `/gone` 404; records (path, body) of each
    /// request.
    async fn webhook() -> (String, Arc<Mutex<Vec<(String, Value)>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let (head_end, len) = loop {
                    let n = s.read(&mut chunk).await.unwrap();
                    if n == 0 {
                        break (0, 0);
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
                        let len = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .map_or(0, |v| v.trim().parse().unwrap());
                        break (i + 4, len);
                    }
                };
                if head_end == 0 {
                    continue;
                }
                while buf.len() < head_end + len {
                    let n = s.read(&mut chunk).await.unwrap();
                    buf.extend_from_slice(&chunk[..n]);
                }
                let path = String::from_utf8_lossy(&buf)
                    .split_whitespace()
                    .nth(1)
                    .unwrap()
                    .to_string();
                let body: Value = serde_json::from_slice(&buf[head_end..head_end + len]).unwrap();
                let status = {
                    let mut seen = log.lock().unwrap();
                    seen.push((path.clone(), body));
                    let tries = seen.iter().filter(|(p, _)| *p == path).count();
                    match path.as_str() {
                        "/flaky" if tries <= 2 => "503 Service Unavailable",
                        "/flaky" => "200 OK",
                        _ => "404 Not Found",
                    }
                };
                let answer =
                    format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                let _ = s.write_all(answer.as_bytes()).await;
            }
        });
        (base, seen)
    }

    #[tokio::test]
    async fn deliveries_are_retried_journaled_and_a_refusal_is_final() {
        let (base, seen) = webhook().await;
        let dir = tempfile::tempdir().unwrap();
        let config = AlertsConfig {
            path: "rules.toml".into(),
            rules: vec![big_trades(&["flaky", "gone"])],
            targets: vec![
                Target {
                    name: "flaky".into(),
                    format: Format::Json,
                    url: format!("{base}/flaky"),
                },
                Target {
                    name: "gone".into(),
                    format: Format::Slack,
                    url: format!("{base}/gone"),
                },
            ],
            delivery: DeliverySettings {
                timeout: Duration::from_secs(5),
                retry_initial: Duration::from_millis(20),
                retry_max: Duration::from_millis(40),
            },
        };
        let hub = Arc::new(Hub::default());
        let (mut alerter, service) = start(&config, dir.path(), hub.clone()).unwrap();
        // The follower's thread, as in the service.
        std::thread::scope(|s| {
            s.spawn(|| alerter.after_trade(&hub, &trade(10, 6.0)));
        });
        let t0 = std::time::Instant::now();
        while hub.metrics.alerts_sent.get() < 1 || seen.lock().unwrap().len() < 4 {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "{:?}",
                seen.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        service.stop().await;
        let seen = seen.lock().unwrap().clone();
        let paths: Vec<&str> = seen.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths.iter().filter(|p| **p == "/flaky").count(), 3);
        assert_eq!(paths.iter().filter(|p| **p == "/gone").count(), 1);
        assert_eq!(hub.metrics.alerts_failed.get(), 3);
        drop(alerter);
        let j = Journal::open(dir.path()).unwrap();
        assert!(j.pending().is_empty(), "{:?}", j.pending());
        let text = std::fs::read_to_string(j.path()).unwrap();
        assert!(
            text.contains("\"undeliverable\":{\"id\":\"big:BTC:21\",\"target\":\"gone\""),
            "{text}"
        );
        assert!(text.contains("404 Not Found"), "{text}");
    }
}
