//! The hub's protocol logic, separate from I/O (quinn style): a decoded request and the caller's
//! certificate identity in, a reply out. The QUIC server and the tests both drive [`Hub::handle`].
//!
//! **Invariant:** the caller's identity comes from its certificate ([`Caller`]); a body naming
//! another member is refused. **Invariant:** `Ack` is sent only after the batch is durable.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use siso_shared::wire::{
    self, Ack, ErrorCode, HelloAck, Message, OverlapMatrix, OverlapPair, OverlapsReply, StatsReply,
    SubmitAggregates, SubmitBatch, WireError, PROTOCOL_VERSION,
};
use siso_shared::{MemberId, Role};

use crate::audit::{AuditLog, Entry};
use crate::config::Access;
use crate::ingest::{ingest_blocking, Head, Ingested};
use crate::metrics::Metrics;
use crate::overlap::Summary;
use crate::release::{self, Period, Release};
use crate::stats::{self, RecordFacts};
use crate::store::{Store, StoreError, StoredBatch};

pub use crate::ingest::State;
pub use siso_server::clock::{Clock, SystemClock};

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// From the certificate's SAN URI.
    pub member: MemberId,
}

/// The latest release of each period in the store, each checked against its digest.
fn latest_releases(store: &Store) -> Result<HashMap<Period, Arc<Release>>, HubError> {
    let mut latest: HashMap<Period, u64> = HashMap::new();
    for (id, b) in store.release_metas()? {
        let meta: release::Meta =
            wire::decode_value(&b).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let e = latest.entry(meta.period).or_insert(id);
        *e = (*e).max(id);
    }
    let mut out = HashMap::new();
    for (period, id) in latest {
        let b = store
            .release(id)?
            .ok_or_else(|| StoreError::Corrupt(format!("release {id} has no cells")))?;
        let stored: release::Stored =
            wire::decode_value(&b).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        out.insert(period, Arc::new(stored.into_release()?));
    }
    Ok(out)
}

/// Hub errors outside the protocol (startup, statistics).
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Disclosure control could not protect the statistics (nothing is published).
    #[error("disclosure control failed")]
    Audit(#[from] crate::disclosure::AuditError),
    /// A release was not cut (the previous one stays published).
    #[error(transparent)]
    Release(#[from] crate::release::ReleaseError),
}

/// The hub service.
#[derive(Debug)]
pub struct Hub {
    store: Store,
    state: Arc<RwLock<State>>,
    /// One lock per member: a member's batches are checked against the ledger, stored and
    /// applied one at a time and in order, while different members' batches proceed in
    /// parallel (sled takes concurrent writers; the state lock orders the in-memory applies).
    ingest: std::sync::Mutex<HashMap<MemberId, Arc<tokio::sync::Mutex<()>>>>,
    audit: AuditLog,
    access: Access,
    clock: Arc<dyn Clock>,
    /// Metrics.
    pub metrics: Metrics,
    /// Statistics suppression threshold.
    pub k: u32,
    /// The latest release of each period (what is published).
    releases: RwLock<HashMap<Period, Arc<Release>>>,
    /// Epochs with data newer than their latest release, and when data last arrived.
    dirty: std::sync::Mutex<(
        std::collections::BTreeSet<u16>,
        Option<tokio::time::Instant>,
    )>,
    /// One release is cut at a time.
    cutting: std::sync::Mutex<()>,
}

fn err(code: ErrorCode, msg: impl Into<String>) -> Message {
    Message::Error(WireError::new(code, msg))
}

fn records_in(msg: &Message) -> u64 {
    match msg {
        Message::SubmitBatch(b) => (b.add.len() + b.remove.len()) as u64,
        Message::SubmitAggregates(a) => a.periods.iter().map(|p| p.cells.len() as u64).sum(),
        _ => 0,
    }
}

impl Hub {
    /// Opens the service on a store, replaying every stored batch into memory.
    pub fn open(
        store: Store,
        access: Access,
        k: u32,
        clock: Arc<dyn Clock>,
    ) -> Result<Hub, HubError> {
        let mut state = State::default();
        let n = store.replay(|epoch, member, b| state.apply(epoch, member, b))?;
        tracing::info!(batches = n, records = state.records(), "store replayed");
        let audit = AuditLog::open(&store)?;
        let releases = latest_releases(&store)?;
        tracing::info!(releases = releases.len(), "published releases loaded");
        Ok(Hub {
            store,
            state: Arc::new(RwLock::new(state)),
            ingest: std::sync::Mutex::new(HashMap::new()),
            audit,
            access,
            clock,
            metrics: Metrics::default(),
            k,
            releases: RwLock::new(releases),
            dirty: std::sync::Mutex::new(Default::default()),
            cutting: std::sync::Mutex::new(()),
        })
    }

    fn member_lock(&self, m: &MemberId) -> Arc<tokio::sync::Mutex<()>> {
        self.ingest
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(m.clone())
            .or_default()
            .clone()
    }

    /// The store (for flushing at shutdown and for statistics).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Walks the message log's hash chain (while serving: records appended meanwhile are
    /// checked next time), keeps the result for `/metrics` and logs a broken chain as an error.
    pub fn check_chain(&self) -> Result<crate::audit::Verification, HubError> {
        let v = crate::audit::verify(&self.store)?;
        let now = self.clock.now().unix_timestamp();
        *self.metrics.chain.lock().unwrap_or_else(|p| p.into_inner()) = Some((v, now));
        match v.first_broken {
            Some(at) => tracing::error!(
                record = at,
                records = v.records,
                "the message log's hash chain is broken: a record was changed or removed"
            ),
            None => tracing::debug!(records = v.records, "message log chain intact"),
        }
        Ok(v)
    }

    fn read_state(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_state(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Records stored, all epochs.
    pub fn records(&self) -> u64 {
        self.read_state().records()
    }

    /// The region-wide overlap summary of an epoch.
    pub fn summary(&self, epoch: u16) -> Summary {
        let mut st = self.write_state();
        let State {
            members, epochs, ..
        } = &mut *st;
        epochs
            .get_mut(&epoch)
            .map(|e| e.summary(members))
            .unwrap_or_default()
    }

    /// The epochs with data: records or members' aggregates.
    pub fn epochs(&self) -> Result<Vec<u16>, HubError> {
        let mut e: std::collections::BTreeSet<u16> =
            self.with_state(|st| st.epochs.keys().copied().collect());
        for epoch in siso_shared::wire::EPOCHS {
            if !self.store.aggregates(epoch)?.is_empty() {
                e.insert(epoch);
            }
        }
        Ok(e.into_iter().collect())
    }

    /// The epoch's figures before disclosure control.
    fn figures(&self, epoch: u16) -> Result<stats::Figures, HubError> {
        let aggregates = self.store.aggregates(epoch)?;
        let records = self.with_state(|st| {
            st.epochs
                .get(&epoch)
                .map(|e| RecordFacts::of(&st.members, &e.unit_facts()))
        });
        Ok(stats::Figures::of(aggregates, records.as_ref()))
    }

    /// The cube of an epoch's current figures protected by `method`, built anew and not
    /// published (`sdc audit`, benchmarks): what is published comes from releases only.
    pub fn cube_with(
        &self,
        epoch: u16,
        method: crate::disclosure::Method,
    ) -> Result<stats::Cube, HubError> {
        Ok(stats::protect(self.k, method, self.figures(epoch)?, None)?)
    }

    /// The release a query of `epoch` (and `month`) is served from: the latest release of the
    /// epoch, or of that month if one is newer. `None`: nothing published yet.
    pub fn release_for(&self, epoch: u16, month: Option<u8>) -> Option<Arc<Release>> {
        let r = self.releases.read().unwrap_or_else(|p| p.into_inner());
        let whole = r.get(&Period { epoch, month: None });
        let monthly = month.and_then(|m| {
            r.get(&Period {
                epoch,
                month: Some(m),
            })
        });
        [whole, monthly]
            .into_iter()
            .flatten()
            .max_by_key(|x| x.meta.id)
            .cloned()
    }

    /// The latest release of an epoch, whatever its period (the one a revision is audited
    /// against).
    fn latest_of(&self, epoch: u16) -> Option<Arc<Release>> {
        self.releases
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|r| r.meta.period.epoch == epoch)
            .max_by_key(|r| r.meta.id)
            .cloned()
    }

    /// A stored release, its digest checked.
    pub fn release(&self, id: u64) -> Result<Option<Release>, HubError> {
        let Some(b) = self.store.release(id)? else {
            return Ok(None);
        };
        let stored: release::Stored =
            wire::decode_value(&b).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(Some(stored.into_release()?))
    }

    /// Every stored release's meta, in id order.
    pub fn release_list(&self) -> Result<Vec<release::Meta>, HubError> {
        self.store
            .release_metas()?
            .into_iter()
            .map(|(_, b)| {
                wire::decode_value(&b).map_err(|e| StoreError::Corrupt(e.to_string()).into())
            })
            .collect()
    }

    /// Cuts, audits and stores a release of `period` from the current figures (blocking: run
    /// it on a blocking thread). Refused — and recorded as refused in the message log — when
    /// disclosure control cannot protect it; the previous release stays published.
    pub fn cut_release(&self, period: Period) -> Result<Arc<Release>, HubError> {
        let _one = self.cutting.lock().unwrap_or_else(|p| p.into_inner());
        let mut figures = self.figures(period.epoch)?;
        if let Some(m) = period.month {
            figures = figures.month(m);
        }
        let previous = self.latest_of(period.epoch);
        let id = self.store.last_release_id()? + 1;
        let created = self.clock.now().unix_timestamp();
        let r = match release::cut(id, period, created, self.k, figures, previous.as_deref()) {
            Ok(r) => r,
            Err(e) => {
                if matches!(
                    e,
                    release::ReleaseError::Audit(_) | release::ReleaseError::NotProven(_)
                ) {
                    tracing::error!(%period, error = %e, "release refused");
                    self.record_release(period, 0, "refused", period.to_string().as_bytes())?;
                    self.store.flush_blocking()?;
                }
                return Err(e.into());
            }
        };
        let stored = release::Stored::of(&r);
        let corrupt = |e: wire::CodecError| StoreError::Corrupt(e.to_string());
        let meta = wire::encode_value(&r.meta).map_err(corrupt)?;
        let whole = wire::encode_value(&stored).map_err(corrupt)?;
        self.store.put_release(id, &meta, &whole)?;
        let canonical = release::canonical(&r.meta, &r.cube)?;
        self.record_release(period, r.meta.report.cells as u64, "ok", &canonical)?;
        // Durable before it is served.
        self.store.flush_blocking()?;
        let r = Arc::new(r);
        self.releases
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(period, r.clone());
        tracing::info!(
            id,
            %period,
            cells = r.meta.report.cells,
            suppressed = r.meta.report.suppressed,
            changes = r.meta.report.changes,
            seconds = r.meta.report.seconds,
            digest = %r.meta.digest_hex(),
            "release published"
        );
        Ok(r)
    }

    fn record_release(
        &self,
        period: Period,
        cells: u64,
        outcome: &str,
        payload: &[u8],
    ) -> Result<(), HubError> {
        let kind = format!("release {period}");
        self.audit.append(
            &self.store,
            crate::audit::Entry {
                time: self.clock.now().unix_timestamp(),
                member: "-",
                kind: &kind,
                records: cells,
                outcome,
                payload,
            },
        )?;
        Ok(())
    }

    /// Marks `epoch` as having data newer than its latest release.
    fn changed(&self, epoch: u16) {
        let mut d = self.dirty.lock().unwrap_or_else(|p| p.into_inner());
        d.0.insert(epoch);
        d.1 = Some(tokio::time::Instant::now());
    }

    /// Marks every epoch with data as possibly newer than its latest release (at start: data
    /// may have arrived after the last release before a restart; an unchanged epoch is not
    /// released again).
    pub fn mark_all_changed(&self) -> Result<(), HubError> {
        for e in self.epochs()? {
            self.changed(e);
        }
        Ok(())
    }

    /// The epochs to release now: those with new data, once no data has arrived for `quiet`.
    pub fn take_quiet(&self, quiet: std::time::Duration) -> Vec<u16> {
        let mut d = self.dirty.lock().unwrap_or_else(|p| p.into_inner());
        match d.1 {
            Some(t) if t.elapsed() >= quiet && !d.0.is_empty() => {
                d.1 = None;
                std::mem::take(&mut d.0).into_iter().collect()
            }
            _ => Vec::new(),
        }
    }

    /// Runs `f` with read access to the state (statistics).
    pub fn with_state<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&self.read_state())
    }

    /// Handles one request frame body from `caller`. Returns the reply and whether the request
    /// counts as a bad one (for the per-connection abuse limit).
    pub async fn handle(&self, caller: &Caller, body: &[u8]) -> (Message, bool) {
        let (kind, records, reply, bad) = match wire::decode_body(body) {
            Err(e) => (
                "malformed",
                0,
                err(ErrorCode::Malformed, e.to_string()),
                true,
            ),
            Ok(msg) => {
                let kind = msg.kind();
                let records = records_in(&msg);
                let (reply, bad) = self.dispatch(caller, msg, body).await;
                (kind, records, reply, bad)
            }
        };
        self.record(caller, kind, records, &reply, body);
        (reply, bad)
    }

    /// Counts, logs and appends to the message log one request and its reply.
    pub(crate) fn record(
        &self,
        caller: &Caller,
        kind: &'static str,
        records: u64,
        reply: &Message,
        body: &[u8],
    ) {
        let outcome: &'static str = match reply {
            Message::Error(e) => e.code.as_str(),
            Message::Ack(a) if a.duplicate => "duplicate",
            _ => "ok",
        };
        self.metrics.request(kind, outcome);
        let member = caller.member.to_string();
        if let Err(e) = self.audit.append(
            &self.store,
            Entry {
                time: self.clock.now().unix_timestamp(),
                member: &member,
                kind,
                records,
                outcome,
                payload: body,
            },
        ) {
            tracing::error!(error = %e, "message log append failed");
        }
        match reply {
            Message::Error(e) => {
                tracing::warn!(kind, code = e.code.as_str(), reason = %e.message, "request refused")
            }
            _ => tracing::debug!(kind, records, outcome, "request served"),
        }
    }

    /// Appends one HTTP query by an analyst or a named account to the message log (`who`:
    /// `analyst` or `user:NAME`; the query string hashed, never stored); made durable by the
    /// next flush.
    pub fn record_http(
        &self,
        who: &str,
        kind: &str,
        records: u64,
        outcome: &'static str,
        query: &[u8],
    ) {
        self.metrics.request("http", outcome);
        if let Err(e) = self.audit.append(
            &self.store,
            Entry {
                time: self.clock.now().unix_timestamp(),
                member: who,
                kind,
                records,
                outcome,
                payload: query,
            },
        ) {
            tracing::error!(error = %e, "message log append failed");
        }
        tracing::info!(who, kind, records, outcome, "HTTP query");
    }

    /// Records a request refused before it could be decoded (bad framing).
    pub(crate) fn log_refusal(&self, caller: &Caller, reply: &Message) {
        self.record(caller, "frame", 0, reply, b"");
    }

    fn allowed(&self, m: &MemberId) -> bool {
        let id = m.to_string();
        if self.access.deny.contains(&id) {
            return false;
        }
        self.access.allow.is_empty() || self.access.allow.contains(&id)
    }

    async fn dispatch(&self, caller: &Caller, msg: Message, body: &[u8]) -> (Message, bool) {
        if !msg.is_request() {
            return (
                err(
                    ErrorCode::Unexpected,
                    format!("{} is not a request", msg.kind()),
                ),
                true,
            );
        }
        if !self.allowed(&caller.member) {
            return (
                err(
                    ErrorCode::NotAllowed,
                    format!("member {} is not allowed on this hub", caller.member),
                ),
                false,
            );
        }
        if let Some(claimed) = msg.claimed_member() {
            if claimed != &caller.member {
                return (
                    err(
                        ErrorCode::IdentityMismatch,
                        format!(
                            "the request names member {claimed} but the certificate is {}",
                            caller.member
                        ),
                    ),
                    true,
                );
            }
        }
        let role = caller.member.role();
        let forbidden = |what: &str| {
            (
                err(ErrorCode::Forbidden, format!("role {role} may not {what}")),
                true,
            )
        };
        match msg {
            Message::Hello(h) => {
                if h.protocol_version != PROTOCOL_VERSION {
                    return (
                        err(
                            ErrorCode::UnsupportedVersion,
                            format!(
                                "protocol version {} not supported; this hub speaks {PROTOCOL_VERSION}",
                                h.protocol_version
                            ),
                        ),
                        false,
                    );
                }
                (
                    Message::HelloAck(HelloAck {
                        protocol_version: PROTOCOL_VERSION,
                        software_version: siso_shared::SOFTWARE_VERSION.into(),
                        member: caller.member.clone(),
                        role,
                    }),
                    false,
                )
            }
            Message::SubmitBatch(b) => match role {
                Role::Comune | Role::Ets | Role::Asl => (self.submit_batch(b, body).await, false),
                Role::Region => forbidden("submit household records"),
            },
            Message::SubmitAggregates(a) => match role {
                Role::Comune => (self.submit_aggregates(a).await, false),
                _ => forbidden("submit aggregates"),
            },
            Message::FetchOverlaps(f) => match role {
                Role::Comune | Role::Ets | Role::Asl => {
                    let st = self.read_state();
                    let (notices, held) =
                        match (st.members.get(&caller.member), st.epochs.get(&f.epoch)) {
                            (Some(m), Some(e)) => (
                                e.notices_for(m, &st.members, role == Role::Comune),
                                e.member_records(m) as u64,
                            ),
                            _ => (Vec::new(), 0),
                        };
                    (
                        Message::Overlaps(OverlapsReply {
                            epoch: f.epoch,
                            notices,
                            held,
                        }),
                        false,
                    )
                }
                Role::Region => forbidden("fetch household overlaps (it has no households)"),
            },
            Message::StatsQuery(q) => match role {
                Role::Comune | Role::Region => match self.release_for(q.epoch, q.month) {
                    Some(r) => {
                        let json = release::to_json(&r, &stats::Request::from(&q)).to_string();
                        (Message::Stats(StatsReply { json }), false)
                    }
                    None => (
                        err(
                            ErrorCode::Unavailable,
                            format!("no statistics released for {} yet", q.epoch),
                        ),
                        false,
                    ),
                },
                Role::Ets | Role::Asl => forbidden("query statistics beyond the public summary"),
            },
            Message::OverlapMatrixQuery(q) => match role {
                Role::Region => {
                    let s = self.summary(q.epoch);
                    (
                        Message::OverlapMatrix(OverlapMatrix {
                            epoch: q.epoch,
                            pairs: s
                                .pairs
                                .into_iter()
                                .map(|(a, b, households)| OverlapPair { a, b, households })
                                .collect(),
                            double_economic_support: s.double_economic_support,
                            unsupported_need: s.unsupported_need,
                        }),
                        false,
                    )
                }
                _ => forbidden("read the overlap matrix"),
            },
            // Replies were refused above.
            other => (
                err(
                    ErrorCode::Unexpected,
                    format!("{} is not a request", other.kind()),
                ),
                true,
            ),
        }
    }

    async fn submit_batch(&self, b: SubmitBatch, body: &[u8]) -> Message {
        let started = Instant::now();
        if let Some(r) = b.add.iter().find(|r| {
            r.interventions
                .iter()
                .any(|i| i.end.is_some_and(|e| e < i.start))
        }) {
            return err(
                ErrorCode::Malformed,
                format!(
                    "household {} has an intervention that ends before it starts",
                    hex::encode(&r.key.0[..8])
                ),
            );
        }
        let encoded = wire::submit_batch_tail(body, &b).map(<[u8]>::to_vec);
        let (epoch, member, batch_id, scheme) = (b.epoch, b.member, b.batch_id, b.scheme);
        let stored = StoredBatch {
            snapshot: b.snapshot,
            add: b.add,
            remove: b.remove,
        };
        let result: Result<Ingested, StoreError> = async {
            let lock = self.member_lock(&member);
            let guard = lock.lock().await;
            // The ledger check, the durable write and the in-memory apply block (sled, the state
            // lock, CPU-heavy indexing): they run on the blocking pool so that the runtime keeps
            // decoding and storing other members' batches meanwhile.
            let (store, state) = (self.store.clone(), self.state.clone());
            let m = member.clone();
            let outcome = tokio::task::spawn_blocking(move || {
                let head = Head {
                    epoch,
                    member: &m,
                    batch_id: &batch_id,
                    scheme,
                };
                ingest_blocking(&store, &state, head, stored, encoded)
            })
            .await
            .map_err(|e| StoreError::Task(e.to_string()))??;
            drop(guard);
            if let Ingested::Applied(_) = outcome {
                self.changed(epoch);
            }
            if !matches!(outcome, Ingested::Full | Ingested::Scheme(_)) {
                // Durable before the acknowledgement (also for a duplicate: what was applied
                // before must be on disk before it is acknowledged again).
                self.store.flush().await?;
            }
            Ok(outcome)
        }
        .await;
        match result {
            Ok(Ingested::Applied(n) | Ingested::Duplicate(n)) => {
                self.metrics.ingest(started.elapsed());
                Message::Ack(Ack {
                    batch_id,
                    duplicate: matches!(result, Ok(Ingested::Duplicate(_))),
                    stored: n,
                })
            }
            Ok(Ingested::Scheme(held)) => err(
                ErrorCode::SchemeMismatch,
                format!(
                    "epoch {epoch} holds {held} fingerprints and this batch is {scheme}: the hub \
                     does not mix fingerprint schemes within an epoch"
                ),
            ),
            Ok(Ingested::Full) => err(
                ErrorCode::Unavailable,
                "the hub holds the most records it can; ask the Region to add capacity",
            ),
            Err(e) => {
                tracing::error!(error = %e, "batch not stored");
                err(
                    ErrorCode::Unavailable,
                    "the hub could not store the batch; retry later",
                )
            }
        }
    }

    async fn submit_aggregates(&self, a: SubmitAggregates) -> Message {
        let result: Result<(bool, u64), StoreError> = async {
            let lock = self.member_lock(&a.member);
            let guard = lock.lock().await;
            if let Some(e) = self.store.ledger_get(a.epoch, &a.member, &a.batch_id)? {
                drop(guard);
                self.store.flush().await?;
                return Ok((true, e.stored));
            }
            let mut periods: HashMap<u8, Vec<wire::AggregateCell>> = HashMap::new();
            for p in a.periods {
                periods.entry(p.month).or_default().extend(p.cells);
            }
            let periods: Vec<(u8, Vec<wire::AggregateCell>)> = periods.into_iter().collect();
            let cells: u64 = periods.iter().map(|(_, c)| c.len() as u64).sum();
            self.store
                .put_aggregates(a.epoch, &a.member, &a.batch_id, &periods, cells)?;
            self.changed(a.epoch);
            drop(guard);
            self.store.flush().await?;
            Ok((false, cells))
        }
        .await;
        match result {
            Ok((duplicate, stored)) => Message::Ack(Ack {
                batch_id: a.batch_id,
                duplicate,
                stored,
            }),
            Err(e) => {
                tracing::error!(error = %e, "aggregates not stored");
                err(
                    ErrorCode::Unavailable,
                    "the hub could not store the aggregates; retry later",
                )
            }
        }
    }
}
