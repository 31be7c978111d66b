//! Prometheus metrics of one process, kept in its own registry (no globals, so tests
//! running several apps in one process each see only their own).
//!
//! Every label value comes from a closed set fixed by the code: HTTP methods are the
//! standard ones or `other`, routes are route templates or `unmatched`, statuses are
//! three-digit numbers, and the hub's labels are channel, outcome, stream and status names.
//! Nothing a client sends can add a time series.

use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// The process's metrics; cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    task_restarts: IntCounterVec,
    deliveries: IntCounterVec,
    delivery_latency: HistogramVec,
    stream_gauges: IntGaugeVec,
    ledger: IntGaugeVec,
    in_flight_limit: IntGaugeVec,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("bilet".to_owned()), None)
            .expect("a constant prefix is valid");
        let http_requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by route template and status",
            ),
            &["method", "route", "status"],
        )
        .expect("valid metric");
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by route template",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["method", "route"],
        )
        .expect("valid metric");
        let task_restarts = IntCounterVec::new(
            Opts::new(
                "worker_task_restarts_total",
                "Background tasks restarted by the supervisor after a failure",
            ),
            &["task"],
        )
        .expect("valid metric");
        let deliveries = IntCounterVec::new(
            Opts::new(
                "hub_deliveries_total",
                "Send attempts by channel and outcome",
            ),
            &["channel", "outcome"],
        )
        .expect("valid metric");
        let delivery_latency = HistogramVec::new(
            HistogramOpts::new(
                "hub_delivery_latency_seconds",
                "From the commit of the domain event to the provider's acceptance",
            )
            .buckets(vec![
                0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0,
            ]),
            &["channel"],
        )
        .expect("valid metric");
        let stream_gauges = IntGaugeVec::new(
            Opts::new(
                "hub_stream",
                "Hub streams: length, entries pending acknowledgement, consumer lag",
            ),
            &["stream", "measure"],
        )
        .expect("valid metric");
        let ledger = IntGaugeVec::new(
            Opts::new(
                "hub_ledger_deliveries",
                "Deliveries in the ledger by channel and status",
            ),
            &["channel", "status"],
        )
        .expect("valid metric");
        let in_flight_limit = IntGaugeVec::new(
            Opts::new(
                "hub_in_flight_limit",
                "Sends a channel's sender keeps in flight, as its provider's answers allow",
            ),
            &["channel"],
        )
        .expect("valid metric");
        for collector in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_duration.clone()),
            Box::new(task_restarts.clone()),
            Box::new(deliveries.clone()),
            Box::new(delivery_latency.clone()),
            Box::new(stream_gauges.clone()),
            Box::new(ledger.clone()),
            Box::new(in_flight_limit.clone()),
        ] {
            registry
                .register(collector)
                .expect("each metric registers once");
        }
        Self {
            registry,
            http_requests,
            http_duration,
            task_restarts,
            deliveries,
            delivery_latency,
            stream_gauges,
            ledger,
            in_flight_limit,
        }
    }

    /// The registry, for modules that add metrics of their own.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// One HTTP request; `method` is from [`crate::http::observe::method_label`] and
    /// `route` a route template or `unmatched`.
    pub fn observe_request(
        &self,
        method: &'static str,
        route: &str,
        status: u16,
        latency: Duration,
    ) {
        // hyper only builds statuses from 100 to 999; anything else would be our bug.
        let status = if (100..=999).contains(&status) {
            status.to_string()
        } else {
            "other".to_owned()
        };
        self.http_requests
            .with_label_values(&[method, route, &status])
            .inc();
        self.http_duration
            .with_label_values(&[method, route])
            .observe(latency.as_secs_f64());
    }

    pub fn task_restarted(&self, task: &'static str) {
        self.task_restarts.with_label_values(&[task]).inc();
    }

    /// One send attempt and its outcome (`delivered`, `retry_after`, `permanent`, `token_invalid`).
    pub fn delivery(&self, channel: &'static str, outcome: &'static str) {
        self.deliveries.with_label_values(&[channel, outcome]).inc();
    }

    /// Commit-to-acceptance latency of a delivered message.
    pub fn delivery_latency(&self, channel: &'static str, latency: Duration) {
        self.delivery_latency
            .with_label_values(&[channel])
            .observe(latency.as_secs_f64());
    }

    /// A channel's current in-flight limit.
    pub fn in_flight_limit(&self, channel: &'static str, limit: usize) {
        self.in_flight_limit
            .with_label_values(&[channel])
            .set(limit as i64);
    }

    /// A stream's length, pending entries and lag, as last measured.
    pub fn stream(&self, stream: &str, length: u64, pending: u64, lag: u64) {
        for (measure, value) in [("length", length), ("pending", pending), ("lag", lag)] {
            self.stream_gauges
                .with_label_values(&[stream, measure])
                .set(value as i64);
        }
    }

    /// The ledger's count of deliveries in one channel and status (names outside the
    /// ledger's own are counted as `other`).
    pub fn ledger(&self, channel: &str, status: &str, count: i64) {
        let channel = closed(channel, LEDGER_CHANNELS);
        let status = closed(status, LEDGER_STATUSES);
        self.ledger.with_label_values(&[channel, status]).set(count);
    }

    /// The Prometheus text exposition of everything registered.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buffer)
            .expect("encoding to a Vec cannot fail");
        String::from_utf8(buffer).expect("the text format is UTF-8")
    }
}

/// The ledger's channels and statuses, as its table's CHECK constraints allow them.
const LEDGER_CHANNELS: &[&str] = &["apns", "fcm", "rustore", "sms", "email"];
const LEDGER_STATUSES: &[&str] = &[
    "pending",
    "sending",
    "delivered",
    "failed",
    "dead",
    "skipped",
];

/// `value` when it is one of `allowed`, else `other`.
fn closed(value: &str, allowed: &[&'static str]) -> &'static str {
    allowed
        .iter()
        .find(|a| **a == value)
        .copied()
        .unwrap_or("other")
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
