//! The service's counters in the Prometheus text format (`GET /metrics`), kept with `prometheus-client`.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Every metric of the service (names under `dealerflow_`).
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Log records read and applied by the follower.
    pub events_folded: Counter,
    /// Trades sent to the stream.
    pub trades_streamed: Counter,
    /// Records in the log not yet read by the follower (at the last evaluation).
    pub lag_records: Gauge,
    /// The follower's next log seq.
    pub folded_seq: Gauge,
    /// Seconds per evaluation (every currency of one evaluation round).
    pub evaluation_seconds: Histogram,
    /// Evaluations done.
    pub evaluations: Counter,
    /// Evaluations or log reads that failed.
    pub errors: Counter,
    /// Connected stream clients.
    pub stream_clients: Gauge,
    /// Events a slow stream client did not get (its queue was full).
    pub stream_dropped: Counter,
    /// Alerts fired (journaled and published).
    pub alerts_fired: Counter,
    /// Alerts delivered to a target.
    pub alerts_sent: Counter,
    /// Alert deliveries that failed (each retry counts once).
    pub alerts_failed: Counter,
    /// HTTP requests answered.
    pub http_requests: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// All metrics at zero.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("dealerflow");
        let events_folded = Counter::default();
        let trades_streamed = Counter::default();
        let lag_records = Gauge::default();
        let folded_seq = Gauge::default();
        let evaluation_seconds = Histogram::new(exponential_buckets(0.000_5, 2.0, 16));
        let evaluations = Counter::default();
        let errors = Counter::default();
        let stream_clients = Gauge::default();
        let stream_dropped = Counter::default();
        let alerts_fired = Counter::default();
        let alerts_sent = Counter::default();
        let alerts_failed = Counter::default();
        let http_requests = Counter::default();
        registry.register(
            "events_folded",
            "Log records read and applied by the follower",
            events_folded.clone(),
        );
        registry.register(
            "trades_streamed",
            "Trades sent to the stream",
            trades_streamed.clone(),
        );
        registry.register(
            "log_lag_records",
            "Log records not yet read by the follower",
            lag_records.clone(),
        );
        registry.register(
            "folded_seq",
            "The follower's next log seq",
            folded_seq.clone(),
        );
        registry.register(
            "evaluation_seconds",
            "Time of one evaluation round (every currency), seconds",
            evaluation_seconds.clone(),
        );
        registry.register("evaluations", "Evaluation rounds done", evaluations.clone());
        registry.register(
            "errors",
            "Evaluations or log reads that failed",
            errors.clone(),
        );
        registry.register(
            "stream_clients",
            "Connected stream clients",
            stream_clients.clone(),
        );
        registry.register(
            "stream_dropped_messages",
            "Events a slow stream client did not get (its queue was full)",
            stream_dropped.clone(),
        );
        registry.register(
            "alerts_fired",
            "Alerts fired (journaled and published)",
            alerts_fired.clone(),
        );
        registry.register(
            "alerts_sent",
            "Alerts delivered to a target",
            alerts_sent.clone(),
        );
        registry.register(
            "alerts_failed",
            "Alert deliveries that failed",
            alerts_failed.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests answered",
            http_requests.clone(),
        );
        Metrics {
            registry,
            events_folded,
            trades_streamed,
            lag_records,
            folded_seq,
            evaluation_seconds,
            evaluations,
            errors,
            stream_clients,
            stream_dropped,
            alerts_fired,
            alerts_sent,
            alerts_failed,
            http_requests,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}
