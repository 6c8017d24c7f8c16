//! The key service's protocol logic, apart from I/O: role check, share lookup, rate limit,
//! durable budget accounting, evaluation. [`crate::server`] feeds it request bodies.
//!
//! **Invariant:** only Comune and third-sector members get evaluations; every evaluation is
//! counted durably against the member's budget before it is answered; nothing of a request's
//! elements is logged or kept.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use siso_server::clock::Clock;
use siso_shared::oprf::wire::{self as owire, Budget, KeyReply, KeyRequest};
use siso_shared::oprf::{evaluate_share_random, KeyShare};
use siso_shared::wire::{ErrorCode, WireError};
use siso_shared::MemberId;

use crate::config::Quota;
use crate::metrics::Metrics;
use crate::store::{Charge, Store, StoreError};

/// Service errors at start.
#[derive(Debug, thiserror::Error)]
pub enum KeydError {
    /// Two share files for one epoch.
    #[error("two share files for epoch {0}: a service holds one share per epoch")]
    DuplicateEpoch(u16),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The service.
#[derive(Debug)]
pub struct Keyd {
    shares: HashMap<u16, KeyShare>,
    quota: Quota,
    store: Store,
    clock: Arc<dyn Clock>,
    rate: Mutex<HashMap<MemberId, (i64, u64)>>,
    /// Counters for `/metrics`.
    pub metrics: Metrics,
}

fn error(code: ErrorCode, message: impl Into<String>) -> KeyReply {
    KeyReply::Error(WireError::new(code, message))
}

/// Fills `b` from the system's random generator.
pub fn system_random(b: &mut [u8; 64]) {
    use ring::rand::SecureRandom;
    if ring::rand::SystemRandom::new().fill(b).is_err() {
        // The OS generator failing is unrecoverable: never evaluate with a predictable nonce.
        tracing::error!("the system random generator failed; stopping");
        std::process::abort();
    }
}

impl Keyd {
    /// A service over these shares (one per epoch).
    pub fn new(
        shares: Vec<KeyShare>,
        quota: Quota,
        store: Store,
        clock: Arc<dyn Clock>,
    ) -> Result<Keyd, KeydError> {
        let mut by_epoch = HashMap::new();
        for s in shares {
            let e = s.epoch();
            if by_epoch.insert(e, s).is_some() {
                return Err(KeydError::DuplicateEpoch(e));
            }
        }
        Ok(Keyd {
            shares: by_epoch,
            quota,
            store,
            clock,
            rate: Mutex::new(HashMap::new()),
            metrics: Metrics::default(),
        })
    }

    /// The store (usage reports, flush at shutdown).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Every member's usage with its budget: (epoch, member id, usage, budget).
    pub fn usage_report(&self) -> Result<Vec<crate::store::UsageRow>, StoreError> {
        Ok(self
            .store
            .all()?
            .into_iter()
            .map(|(e, m, u)| {
                let limit = m
                    .parse::<MemberId>()
                    .ok()
                    .and_then(|id| self.quota.budget(&id));
                (e, m, u, limit)
            })
            .collect())
    }

    /// The epochs served, with the share index of each.
    pub fn epochs(&self) -> Vec<(u16, u8)> {
        let mut v: Vec<(u16, u8)> = self
            .shares
            .values()
            .map(|s| (s.epoch(), s.index()))
            .collect();
        v.sort_unstable();
        v
    }

    /// Counts `n` evaluations against the member's per-minute rate; false if over it.
    fn within_rate(&self, member: &MemberId, n: u64) -> bool {
        let minute = self.clock.now().unix_timestamp().div_euclid(60);
        let mut rate = self.rate.lock().unwrap_or_else(|p| p.into_inner());
        let e = rate.entry(member.clone()).or_insert((minute, 0));
        if e.0 != minute {
            *e = (minute, 0);
        }
        if e.1.saturating_add(n) > self.quota.per_minute {
            return false;
        }
        e.1 += n;
        true
    }

    /// Answers one request body from `member` (identity from its certificate).
    pub async fn handle(self: &Arc<Self>, member: &MemberId, body: &[u8]) -> KeyReply {
        let (kind, reply) = match owire::decode_request(body) {
            Err(e) => ("malformed", error(ErrorCode::Malformed, e.to_string())),
            Ok(KeyRequest::Budget { epoch, .. }) => ("budget", self.budget(member, epoch).await),
            Ok(KeyRequest::Evaluate { body, .. }) => {
                ("evaluate", self.evaluate(member, body).await)
            }
        };
        let outcome = match &reply {
            KeyReply::Error(e) => e.code.as_str(),
            _ => "ok",
        };
        self.metrics.request(kind, outcome);
        if let KeyReply::Error(e) = &reply {
            tracing::info!(%member, kind, code = e.code.as_str(), reason = %e.message, "request refused");
        }
        reply
    }

    async fn budget(self: &Arc<Self>, member: &MemberId, epoch: u16) -> KeyReply {
        let Some(limit) = self.quota.budget(member) else {
            return error(
                ErrorCode::Forbidden,
                format!("role {} may not ask for fingerprints", member.role()),
            );
        };
        let me = self.clone();
        let m = member.clone();
        match tokio::task::spawn_blocking(move || me.store.usage(epoch, &m)).await {
            Ok(Ok(u)) => KeyReply::Budget(Budget {
                epoch,
                used: u.used,
                limit,
                per_minute: self.quota.per_minute,
            }),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "usage not readable");
                error(
                    ErrorCode::Unavailable,
                    "usage store unavailable; retry later",
                )
            }
            Err(e) => error(ErrorCode::Internal, e.to_string()),
        }
    }

    async fn evaluate(self: &Arc<Self>, member: &MemberId, req: owire::Evaluate) -> KeyReply {
        let Some(limit) = self.quota.budget(member) else {
            return error(
                ErrorCode::Forbidden,
                format!("role {} may not ask for fingerprints", member.role()),
            );
        };
        let Some(share) = self.shares.get(&req.epoch) else {
            return error(
                ErrorCode::Unavailable,
                format!("this key service holds no share for epoch {}", req.epoch),
            );
        };
        if !req.set.contains(&share.index()) {
            return error(
                ErrorCode::Malformed,
                format!(
                    "the share set {:?} does not name this service's share {}",
                    req.set,
                    share.index()
                ),
            );
        }
        let n = req.blinded.len() as u64;
        if !self.within_rate(member, n) {
            self.metrics.refusal("rate_limited");
            return error(
                ErrorCode::RateLimited,
                format!(
                    "more than {} evaluations in a minute; retry in a minute",
                    self.quota.per_minute
                ),
            );
        }
        let me = self.clone();
        let m = member.clone();
        let epoch = req.epoch;
        let charged =
            tokio::task::spawn_blocking(move || me.store.charge(epoch, &m, n, limit)).await;
        match charged {
            Ok(Ok(Charge::Granted(_))) => {}
            Ok(Ok(Charge::Refused(u))) => {
                self.metrics.refusal("over_budget");
                return error(
                    ErrorCode::OverBudget,
                    format!(
                        "the budget of {limit} evaluations for epoch {epoch} is spent ({} used; this batch asks {n}); ask the Region to raise it",
                        u.used
                    ),
                );
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "usage not recorded");
                return error(
                    ErrorCode::Unavailable,
                    "usage store unavailable; retry later",
                );
            }
            Err(e) => return error(ErrorCode::Internal, e.to_string()),
        }
        let me = self.clone();
        let result = tokio::task::spawn_blocking(move || {
            let share = me
                .shares
                .get(&req.epoch)
                .ok_or_else(|| siso_shared::oprf::OprfError::Shares("share vanished".into()))?;
            evaluate_share_random(share, &req, &mut system_random)
        })
        .await;
        match result {
            Ok(Ok(ev)) => {
                self.metrics.evaluated(n);
                KeyReply::Evaluated(ev)
            }
            Ok(Err(e)) => error(ErrorCode::Malformed, e.to_string()),
            Err(e) => error(ErrorCode::Internal, e.to_string()),
        }
    }
}
