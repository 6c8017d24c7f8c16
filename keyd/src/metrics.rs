//! Prometheus text metrics of the key service: requests by kind and outcome, evaluations,
//! refusals by reason, connections, and each member's budget use per epoch (member ids are
//! public identities of institutions, never persons).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::store::UsageRow;

/// The service's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Connections accepted.
    pub connections_total: AtomicU64,
    /// Connections refused (limit, handshake, identity).
    pub connections_refused: AtomicU64,
    evaluations: AtomicU64,
    requests: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    refusals: Mutex<BTreeMap<&'static str, u64>>,
    /// The expiries of the service's certificate, the CA and the CRL (start and SIGHUP).
    pub expiries: Mutex<Vec<siso_server::tls::Expiry>>,
}

impl Metrics {
    /// Counts a request.
    pub fn request(&self, kind: &'static str, outcome: &'static str) {
        let mut m = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        *m.entry((kind, outcome)).or_default() += 1;
    }

    /// Counts a refusal for budget or rate.
    pub fn refusal(&self, reason: &'static str) {
        let mut m = self.refusals.lock().unwrap_or_else(|p| p.into_inner());
        *m.entry(reason).or_default() += 1;
    }

    /// Counts evaluations answered.
    pub fn evaluated(&self, n: u64) {
        self.evaluations.fetch_add(n, Ordering::Relaxed);
    }

    /// Refusals so far for `reason`.
    pub fn refusals(&self, reason: &str) -> u64 {
        let m = self.refusals.lock().unwrap_or_else(|p| p.into_inner());
        m.get(reason).copied().unwrap_or(0)
    }

    /// The text exposition, with each member's budget use.
    pub fn render(&self, usage: &[UsageRow]) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# HELP siso_keyd_evaluations_total Blinded elements evaluated."
        );
        let _ = writeln!(s, "# TYPE siso_keyd_evaluations_total counter");
        let _ = writeln!(
            s,
            "siso_keyd_evaluations_total {}",
            self.evaluations.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            s,
            "# HELP siso_keyd_requests_total Requests by kind and outcome."
        );
        let _ = writeln!(s, "# TYPE siso_keyd_requests_total counter");
        for ((k, o), n) in self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                s,
                "siso_keyd_requests_total{{kind=\"{k}\",outcome=\"{o}\"}} {n}"
            );
        }
        let _ = writeln!(
            s,
            "# HELP siso_keyd_refusals_total Requests refused for budget or rate."
        );
        let _ = writeln!(s, "# TYPE siso_keyd_refusals_total counter");
        for (r, n) in self
            .refusals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(s, "siso_keyd_refusals_total{{reason=\"{r}\"}} {n}");
        }
        let _ = writeln!(
            s,
            "# HELP siso_keyd_connections_total Connections accepted."
        );
        let _ = writeln!(s, "# TYPE siso_keyd_connections_total counter");
        let _ = writeln!(
            s,
            "siso_keyd_connections_total {}",
            self.connections_total.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            s,
            "# HELP siso_keyd_connections_refused_total Connections refused."
        );
        let _ = writeln!(s, "# TYPE siso_keyd_connections_refused_total counter");
        let _ = writeln!(
            s,
            "siso_keyd_connections_refused_total {}",
            self.connections_refused.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            s,
            "# HELP siso_keyd_budget_used Evaluations a member spent in an epoch."
        );
        let _ = writeln!(s, "# TYPE siso_keyd_budget_used gauge");
        for (e, m, u, _) in usage {
            let _ = writeln!(
                s,
                "siso_keyd_budget_used{{epoch=\"{e}\",member=\"{m}\"}} {}",
                u.used
            );
        }
        let _ = writeln!(
            s,
            "# HELP siso_keyd_budget_limit A member's budget for an epoch."
        );
        let _ = writeln!(s, "# TYPE siso_keyd_budget_limit gauge");
        for (e, m, _, l) in usage {
            if let Some(l) = l {
                let _ = writeln!(
                    s,
                    "siso_keyd_budget_limit{{epoch=\"{e}\",member=\"{m}\"}} {l}"
                );
            }
        }
        let _ = writeln!(
            s,
            "# HELP siso_keyd_budget_refused Requests refused for a member's budget."
        );
        let _ = writeln!(s, "# TYPE siso_keyd_budget_refused counter");
        for (e, m, u, _) in usage {
            let _ = writeln!(
                s,
                "siso_keyd_budget_refused{{epoch=\"{e}\",member=\"{m}\"}} {}",
                u.refused
            );
        }
        s
    }
}
