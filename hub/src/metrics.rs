//! Prometheus text metrics: connections, requests by kind and outcome, ingest latency, records.
//! Labels carry only kinds and outcomes — never a member id or a payload.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

const BUCKETS: [f64; 11] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// The hub's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Connections accepted (handshake completed).
    pub connections_total: AtomicU64,
    /// Connections open now.
    pub connections_active: AtomicU64,
    /// Connections refused (limit reached or handshake failed).
    pub connections_refused: AtomicU64,
    requests: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    ingest_buckets: [AtomicU64; BUCKETS.len()],
    ingest_count: AtomicU64,
    ingest_sum_micros: AtomicU64,
    /// The expiries of the hub's certificate, the CA and the CRL (start and SIGHUP).
    pub expiries: Mutex<Vec<siso_server::tls::Expiry>>,
    /// The last check of the message log's chain: its result and when (unix seconds).
    pub chain: Mutex<Option<(siso_server::chain::Verification, i64)>>,
}

impl Metrics {
    /// Counts a request.
    pub fn request(&self, kind: &'static str, outcome: &'static str) {
        let mut m = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        *m.entry((kind, outcome)).or_default() += 1;
    }

    /// Observes one ingest (batch received → durable).
    pub fn ingest(&self, d: Duration) {
        let secs = d.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                self.ingest_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.ingest_count.fetch_add(1, Ordering::Relaxed);
        self.ingest_sum_micros
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }

    /// Renders the Prometheus text format; `records` is the number of records stored.
    pub fn render(&self, records: u64) -> String {
        let mut s = String::new();
        let g = |s: &mut String, name: &str, help: &str, kind: &str, v: u64| {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}");
        };
        g(
            &mut s,
            "siso_hub_connections_total",
            "QUIC connections accepted.",
            "counter",
            self.connections_total.load(Ordering::Relaxed),
        );
        g(
            &mut s,
            "siso_hub_connections_active",
            "QUIC connections open.",
            "gauge",
            self.connections_active.load(Ordering::Relaxed),
        );
        g(
            &mut s,
            "siso_hub_connections_refused_total",
            "QUIC connections refused (limit or failed handshake).",
            "counter",
            self.connections_refused.load(Ordering::Relaxed),
        );
        g(
            &mut s,
            "siso_hub_records_stored",
            "Household records stored, all epochs.",
            "gauge",
            records,
        );
        let _ = writeln!(
            s,
            "# HELP siso_hub_requests_total Requests by kind and outcome.\n# TYPE siso_hub_requests_total counter"
        );
        for ((kind, outcome), v) in self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                s,
                "siso_hub_requests_total{{kind=\"{kind}\",outcome=\"{outcome}\"}} {v}"
            );
        }
        let _ = writeln!(
            s,
            "# HELP siso_hub_ingest_seconds Time from a batch's arrival to its durable acknowledgement.\n# TYPE siso_hub_ingest_seconds histogram"
        );
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                s,
                "siso_hub_ingest_seconds_bucket{{le=\"{b}\"}} {}",
                self.ingest_buckets[i].load(Ordering::Relaxed)
            );
        }
        let count = self.ingest_count.load(Ordering::Relaxed);
        let _ = writeln!(s, "siso_hub_ingest_seconds_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            s,
            "siso_hub_ingest_seconds_sum {}",
            self.ingest_sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(s, "siso_hub_ingest_seconds_count {count}");
        s.push_str(&siso_server::tls::expiry_metrics(
            &self.expiries.lock().unwrap_or_else(|p| p.into_inner()),
        ));
        if let Some((v, at)) = *self.chain.lock().unwrap_or_else(|p| p.into_inner()) {
            g(
                &mut s,
                "siso_hub_audit_chain_intact",
                "1 if the message log's hash chain verified at the last check, 0 if broken.",
                "gauge",
                u64::from(v.first_broken.is_none()),
            );
            g(
                &mut s,
                "siso_hub_audit_chain_records",
                "Records of the message log verified at the last check.",
                "gauge",
                v.records,
            );
            g(
                &mut s,
                "siso_hub_audit_chain_checked_timestamp_seconds",
                "When the message log's chain was last checked.",
                "gauge",
                at.max(0) as u64,
            );
        }
        s
    }
}
