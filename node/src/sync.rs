//! One sync round with the hub: build the household records to share, diff them against what
//! the hub has acknowledged, persist the difference as outbox batches, send them (each with a
//! stable batch id, so a retry is never applied twice), then fetch the overlap notices.
//!
//! Shared: households with an intervention, a case or an access in the epoch, or flagged latent
//! need — never the whole anagrafe. A crash or a lost connection leaves the outbox in the store;
//! the next round sends it first.
//!
//! **Invariant:** only fingerprints, intervention kinds and dates leave the node.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use siso_shared::wire::{
    BatchId, FetchOverlaps, HouseholdRecord, InterventionSummary, Message, RecordFlags, Scheme,
    SubmitBatch,
};
use siso_shared::{CodiceFiscale, EpochKey, Fingerprint, FingerprintSecret, MemberId, Role};
use time::Date;

use crate::client::{ClientError, Dialer, HubClient};
use crate::config::NodeConfig;
use crate::household::{household_of, LocalHousehold};
use crate::model::*;
use crate::store::{Kind, OpenMode, Store, StoreError, SyncState, Tx};

/// Sync errors.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The hub could not be reached or refused.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The key services could not make the fingerprints (unreachable, over budget, a wrong
    /// answer); nothing was sent and the outbox is kept.
    #[error(transparent)]
    Oprf(#[from] crate::oprf::OprfClientError),
    /// The fingerprint secret could not be read.
    #[error("fingerprint secret {path}: {reason}")]
    Secret {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// A stored codice fiscale no longer validates (should not happen).
    #[error("stored person data is invalid: {0}")]
    Data(String),
    /// The round was stopped on purpose after N batches (tests of interrupted rounds).
    #[error("sync interrupted after {0} batch(es)")]
    Interrupted(usize),
}

/// A batch waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxBatch {
    /// Idempotency key, reused on every retry.
    pub batch_id: BatchId,
    /// Replaces the member's set at the hub.
    pub snapshot: bool,
    /// Records to add.
    pub add: Vec<HouseholdRecord>,
    /// Keys to remove.
    pub remove: Vec<Fingerprint>,
}

/// What a round did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    /// Household records the node shares now.
    pub shared: u64,
    /// Batches sent and acknowledged.
    pub batches: u64,
    /// Of which the hub had already applied (a retry).
    pub duplicates: u64,
    /// Records added or changed.
    pub added: u64,
    /// Records removed.
    pub removed: u64,
    /// Overlap notices received.
    pub notices: u64,
    /// Records the hub holds for this member.
    pub hub_records: u64,
    /// Aggregate cells sent (Comune nodes).
    pub aggregate_cells: u64,
    /// The hub reported fewer of this member's records than it had acknowledged (re-created or
    /// restored from an older backup), so the round sent the whole set again as a snapshot.
    pub resent_full: bool,
    /// Person fingerprints the key services evaluated in this round (budget spent).
    pub fingerprints_evaluated: u64,
    /// Person fingerprints taken from the node's cache.
    pub fingerprints_cached: u64,
}

/// Options of a round.
#[derive(Debug, Clone, Default)]
pub struct SyncOptions {
    /// Stop after this many acknowledged batches (simulates a crash between batches).
    pub stop_after_batches: Option<usize>,
    /// Households the assessment flags as latent need (local ids).
    pub latent_need: BTreeSet<String>,
    /// Aggregates to send after the records (Comune nodes).
    pub aggregates: Option<Vec<siso_shared::wire::PeriodAggregates>>,
    /// Forget what the hub acknowledged and send the whole set again as a snapshot (a hub
    /// re-created or restored from an older backup). Unsent outbox batches are dropped: the
    /// snapshot supersedes them.
    pub full: bool,
}

/// Reads the shared-key scheme's secret and derives the epoch key.
pub fn epoch_key(cfg: &NodeConfig) -> Result<EpochKey, SyncError> {
    let path = cfg
        .fingerprint_key
        .as_ref()
        .ok_or_else(|| SyncError::Secret {
            path: "node.toml".into(),
            reason: "no fingerprint_key: this node uses the key services ([oprf])".into(),
        })?;
    let text = std::fs::read_to_string(path).map_err(|e| SyncError::Secret {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let secret = FingerprintSecret::from_hex(&text).map_err(|e| SyncError::Secret {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    Ok(secret.epoch_key(cfg.epoch))
}

/// How a round makes fingerprints: the shared key, or person fingerprints already obtained from
/// the key services (by codice fiscale).
#[derive(Debug)]
pub enum Pseudonyms {
    /// The shared-key scheme.
    Shared(EpochKey),
    /// The OPRF scheme: every needed person's fingerprint, by normalised code.
    Oprf(HashMap<String, Fingerprint>),
}

impl Pseudonyms {
    /// The scheme declared to the hub.
    pub fn scheme(&self) -> Scheme {
        match self {
            Pseudonyms::Shared(_) => Scheme::SharedKey,
            Pseudonyms::Oprf(_) => Scheme::Oprf,
        }
    }

    fn person(&self, code: &CodiceFiscale) -> Result<Fingerprint, SyncError> {
        match self {
            Pseudonyms::Shared(k) => Ok(k.person(code)),
            Pseudonyms::Oprf(m) => m
                .get(code.as_str())
                .copied()
                .ok_or_else(|| SyncError::Data("a member has no fingerprint".into())),
        }
    }

    fn household(&self, persons: &[Fingerprint]) -> Fingerprint {
        match self {
            Pseudonyms::Shared(k) => k.household(persons),
            Pseudonyms::Oprf(_) => siso_shared::fingerprint::household_of_persons(persons),
        }
    }
}

/// Active households, by local id, with their interventions in the epoch.
pub type Households = BTreeMap<String, (LocalHousehold, Vec<InterventionSummary>)>;

/// The person fingerprints of every member of `households` under the key services: from the
/// node's cache (this epoch's), else evaluated (and cached, durably). Returns the map and the
/// number evaluated.
pub async fn oprf_pseudonyms(
    store: &Store,
    cfg: &NodeConfig,
    oprf: &crate::config::OprfConfig,
    households: &Households,
    reference: Date,
) -> Result<(Pseudonyms, u64, u64), SyncError> {
    let epoch = cfg.epoch.to_be_bytes();
    // The cache holds one epoch under one key: entries of another epoch, or of a key dealt
    // again (a compromised service), are wiped — epochs stay unlinkable, and fingerprints of two
    // keys never mix in what the node sends.
    let group = crate::oprf::load_verification(&oprf.verification, cfg.epoch)?.group_key;
    let cached_group: Option<String> = store.meta_get("oprf_group_key")?;
    let rekeyed = cached_group.as_deref().is_some_and(|g| g != group);
    let mut stale = Tx::default();
    let mut stale_n = 0;
    for k in store.keys(Kind::Pseudonym)? {
        if rekeyed || k.get(..2) != Some(&epoch[..]) {
            stale.delete(Kind::Pseudonym, &k);
            stale_n += 1;
        }
    }
    if stale_n > 0 {
        store.commit(stale)?;
        tracing::info!(
            entries = stale_n,
            rekeyed,
            "fingerprint cache of another epoch or key wiped"
        );
    }
    if cached_group.as_deref() != Some(group.as_str()) {
        store.meta_put("oprf_group_key", &group)?;
    }
    let mut codes = BTreeSet::new();
    for (id, (h, _)) in households {
        for cf in &h.members {
            let code = CodiceFiscale::parse(cf, reference)
                .map_err(|e| SyncError::Data(format!("household {id}: {e}")))?;
            codes.insert(code.as_str().to_owned());
        }
    }
    let mut map = HashMap::with_capacity(codes.len());
    let mut missing = Vec::new();
    for cf in codes {
        let mut k = epoch.to_vec();
        k.extend_from_slice(cf.as_bytes());
        match store.get::<Fingerprint>(Kind::Pseudonym, &k)? {
            Some(f) => {
                map.insert(cf, f);
            }
            None => missing.push(cf),
        }
    }
    let cached = map.len() as u64;
    let evaluated = missing.len() as u64;
    if !missing.is_empty() {
        let session = crate::oprf::KeySession::connect(cfg, oprf).await?;
        tracing::info!(count = missing.len(), services = ?session.services(), "asking the key services for fingerprints");
        let inputs = missing.iter().map(|c| c.as_bytes().to_vec()).collect();
        let outputs = session.evaluate(inputs).await;
        session.close().await;
        let outputs = outputs?;
        let mut tx = Tx::default();
        for (cf, out) in missing.into_iter().zip(outputs) {
            let f = siso_shared::fingerprint::person_of_oprf(&out);
            let mut k = epoch.to_vec();
            k.extend_from_slice(cf.as_bytes());
            tx.put(Kind::Pseudonym, &k, &f)?;
            map.insert(cf, f);
        }
        store.commit(tx)?;
    }
    Ok((Pseudonyms::Oprf(map), evaluated, cached))
}

/// Every local household of an epoch with activity, as (household, interventions in the epoch).
pub fn active_households(
    store: &Store,
    epoch: u16,
    latent: &BTreeSet<String>,
) -> Result<Households, StoreError> {
    let families = household_of(store)?;
    let mut out: BTreeMap<String, (LocalHousehold, Vec<InterventionSummary>)> = BTreeMap::new();
    let cf_of = |k: &[u8]| String::from_utf8_lossy(&k[..16.min(k.len())]).into_owned();
    let mut touch = |cf: String, iv: Option<InterventionSummary>| {
        let h = families
            .get(&cf)
            .cloned()
            .unwrap_or_else(|| LocalHousehold::single(&cf));
        let e = out.entry(h.id.clone()).or_insert((h, Vec::new()));
        if let Some(i) = iv {
            e.1.push(i);
        }
    };
    for (k, v) in store.scan::<Intervento>(Kind::Intervento, b"")? {
        if in_epoch(v.inizio, v.fine, epoch) {
            touch(
                cf_of(&k),
                Some(InterventionSummary {
                    kind: v.tipo,
                    area: v.area,
                    start: v.inizio,
                    end: v.fine,
                }),
            );
        }
    }
    for (k, v) in store.scan::<PresaInCarico>(Kind::PresaInCarico, b"")? {
        if in_epoch(v.inizio, v.fine, epoch) {
            touch(cf_of(&k), None);
        }
    }
    for (k, v) in store.scan::<Accesso>(Kind::Accesso, b"")? {
        if in_epoch(v.data, Some(v.data), epoch) {
            touch(cf_of(&k), None);
        }
    }
    // Latent-need households (ids from the assessment) are shared even without activity.
    let by_id: HashMap<&str, &LocalHousehold> =
        families.values().map(|h| (h.id.as_str(), h)).collect();
    for id in latent {
        if !out.contains_key(id) {
            if let Some(h) = by_id.get(id.as_str()) {
                out.insert(id.clone(), ((*h).clone(), Vec::new()));
            } else if let Some(cf) = id.strip_prefix("NR:") {
                out.insert(id.clone(), (LocalHousehold::single(cf), Vec::new()));
            }
        }
    }
    for (_, ivs) in out.values_mut() {
        ivs.sort_by_key(|i| (i.start, i.kind, i.end));
        ivs.dedup();
    }
    Ok(out)
}

/// The pseudonymised records to share (shared-key scheme), by household key, with their ids.
pub fn build_records(
    store: &Store,
    key: &EpochKey,
    role: Role,
    latent: &BTreeSet<String>,
    reference: Date,
) -> Result<BTreeMap<Fingerprint, (String, HouseholdRecord)>, SyncError> {
    let households = active_households(store, key.epoch(), latent)?;
    records_of(
        households,
        &Pseudonyms::Shared(key.clone()),
        role,
        latent,
        reference,
    )
}

/// The pseudonymised records of `households`, by household key, with their local ids.
pub fn records_of(
    households: Households,
    pseudonyms: &Pseudonyms,
    role: Role,
    latent: &BTreeSet<String>,
    reference: Date,
) -> Result<BTreeMap<Fingerprint, (String, HouseholdRecord)>, SyncError> {
    let mut out = BTreeMap::new();
    for (id, (h, interventions)) in households {
        let mut persons = Vec::with_capacity(h.members.len());
        for cf in &h.members {
            let code = CodiceFiscale::parse(cf, reference)
                .map_err(|e| SyncError::Data(format!("household {id}: {e}")))?;
            persons.push(pseudonyms.person(&code)?);
        }
        persons.sort();
        persons.dedup();
        let hk = pseudonyms.household(&persons);
        let supported = !interventions.is_empty();
        out.insert(
            hk,
            (
                id.clone(),
                HouseholdRecord {
                    key: hk,
                    persons,
                    interventions,
                    flags: RecordFlags {
                        latent_need: latent.contains(&id) && !supported,
                        non_resident: h.non_resident && role == Role::Comune,
                    },
                },
            ),
        );
    }
    Ok(out)
}

fn record_hash(r: &HouseholdRecord) -> Result<[u8; 32], SyncError> {
    let b = siso_shared::wire::encode_value(r).map_err(|e| SyncError::Data(e.to_string()))?;
    Ok(*blake3::hash(&b).as_bytes())
}

fn random_batch_id() -> Result<BatchId, SyncError> {
    let mut b = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b)
        .map_err(|_| SyncError::Data("system random generator failed".into()))?;
    Ok(BatchId(b))
}

/// Forgets what the hub acknowledged and any unsent batch: the next batches are a snapshot.
fn reset(store: &Store) -> Result<(), SyncError> {
    let mut tx = Tx::default();
    for k in store.keys(Kind::Outbox)? {
        tx.delete(Kind::Outbox, &k);
    }
    for k in store.keys(Kind::Acked)? {
        tx.delete(Kind::Acked, &k);
    }
    store.commit(tx)?;
    let mut state: SyncState = store.meta_get("sync")?.unwrap_or_default();
    state.last_sync = None;
    store.meta_put("sync", &state)?;
    Ok(())
}

/// Computes the difference between `households` (fingerprinted with `pseudonyms`) and what the
/// hub acknowledged, and appends it to the outbox. Returns the number of records shared.
pub fn prepare(
    store: &Store,
    cfg: &NodeConfig,
    pseudonyms: &Pseudonyms,
    households: Households,
    opts: &SyncOptions,
    reference: Date,
) -> Result<u64, SyncError> {
    let desired = records_of(
        households,
        pseudonyms,
        cfg.role(),
        &opts.latent_need,
        reference,
    )?;
    let acked: HashMap<Fingerprint, [u8; 32]> = store
        .scan::<[u8; 32]>(Kind::Acked, b"")?
        .into_iter()
        .filter_map(|(k, v)| Some((Fingerprint(k.try_into().ok()?), v)))
        .collect();
    let mut add = Vec::new();
    for (k, (_, r)) in &desired {
        if acked.get(k) != Some(&record_hash(r)?) {
            add.push(r.clone());
        }
    }
    let remove: Vec<Fingerprint> = acked
        .keys()
        .filter(|k| !desired.contains_key(*k))
        .copied()
        .collect();
    let mut tx = Tx::default();
    for (k, (id, _)) in &desired {
        tx.put(Kind::HouseholdMap, &k.0, id)?;
    }
    let mut state: SyncState = store.meta_get("sync")?.unwrap_or_default();
    let mut batches = Vec::new();
    let first_ever = acked.is_empty() && state.last_sync.is_none();
    let chunk = cfg.sync.batch_records.max(1);
    let mut adds = add.chunks(chunk).peekable();
    let mut removes = remove.chunks(chunk);
    if first_ever {
        // The first round replaces whatever the hub held for this member (a reinstalled node).
        batches.push(OutboxBatch {
            batch_id: random_batch_id()?,
            snapshot: true,
            add: adds.next().map(<[_]>::to_vec).unwrap_or_default(),
            remove: Vec::new(),
        });
    }
    loop {
        let a = adds.next();
        let r = removes.next();
        if a.is_none() && r.is_none() {
            break;
        }
        batches.push(OutboxBatch {
            batch_id: random_batch_id()?,
            snapshot: false,
            add: a.map(<[_]>::to_vec).unwrap_or_default(),
            remove: r.map(<[_]>::to_vec).unwrap_or_default(),
        });
    }
    for b in &batches {
        tx.put(Kind::Outbox, &state.next_outbox.to_be_bytes(), b)?;
        state.next_outbox += 1;
    }
    store.commit(tx)?;
    store.meta_put("sync", &state)?;
    Ok(desired.len() as u64)
}

/// Records the hub's acknowledgement of an outbox batch, atomically with its removal.
fn acknowledge(store: &Store, seq: &[u8], b: &OutboxBatch) -> Result<(), SyncError> {
    let mut tx = Tx::default();
    if b.snapshot {
        for k in store.keys(Kind::Acked)? {
            tx.delete(Kind::Acked, &k);
        }
    }
    for k in &b.remove {
        tx.delete(Kind::Acked, &k.0);
    }
    for r in &b.add {
        tx.put(Kind::Acked, &r.key.0, &record_hash(r)?)?;
    }
    tx.delete(Kind::Outbox, seq);
    store.commit(tx)?;
    Ok(())
}

/// Connects to the hub with the node's credentials.
/// The credentials are read from their files at every connection (a renewed certificate is
/// used at once); while they are unchanged the TLS configuration is reused, so a round resumes
/// the session of the one before ([`crate::client::config_from_files`]).
pub async fn connect(cfg: &NodeConfig) -> Result<HubClient, SyncError> {
    let dialer = Dialer::from_files(cfg.hub, &cfg.ca, &cfg.cert, &cfg.key)?;
    let member: MemberId = cfg
        .member_id()
        .map_err(|e| SyncError::Data(e.to_string()))?;
    let (client, _ack) = HubClient::connect_via(
        &dialer,
        cfg.hub,
        &cfg.hub_name,
        &member,
        Duration::from_secs(cfg.sync.timeout_secs.max(1)),
    )
    .await?;
    Ok(client)
}

/// One whole round: prepare, send the outbox, fetch overlaps.
pub async fn round(
    store: &Store,
    cfg: &NodeConfig,
    opts: &SyncOptions,
    now: time::OffsetDateTime,
) -> Result<SyncReport, SyncError> {
    let member = cfg
        .member_id()
        .map_err(|e| SyncError::Data(e.to_string()))?;
    let scheme = if cfg.oprf.is_some() {
        Scheme::Oprf
    } else {
        Scheme::SharedKey
    };
    // What the hub holds for this member was made under the stored scheme (none recorded: the
    // shared key, the only scheme before protocol 2). Another scheme starts over as a snapshot.
    let held: Option<String> = store.meta_get("scheme")?;
    let held = match held {
        Some(h) => Some(h),
        None => (store.count(Kind::Acked)? > 0).then(|| "shared-key".to_owned()),
    };
    let switched = held.as_deref().is_some_and(|h| h != scheme.as_str());
    // Persons erased since the last round: a snapshot replaces everything the hub holds for
    // this member (its earlier batches, with their fingerprints, are deleted with it).
    let withdrawals = crate::retention::pending_withdrawals(store)?;
    if opts.full || switched || !withdrawals.is_empty() {
        if switched {
            tracing::info!(from = ?held, to = %scheme, "fingerprint scheme changed: sending the whole set again");
        }
        if !withdrawals.is_empty() {
            tracing::info!(
                persons = withdrawals.len(),
                "persons erased: sending the whole set again as a snapshot"
            );
        }
        reset(store)?;
    }
    let mut report = SyncReport::default();
    // Batches left by an interrupted round go first, as they are; new ones only after them.
    if store.count(Kind::Outbox)? == 0 {
        let reference = now.date();
        let households = active_households(store, cfg.epoch, &opts.latent_need)?;
        let pseudonyms = match &cfg.oprf {
            Some(o) => {
                let (p, evaluated, cached) =
                    oprf_pseudonyms(store, cfg, o, &households, reference).await?;
                report.fingerprints_evaluated = evaluated;
                report.fingerprints_cached = cached;
                p
            }
            None => Pseudonyms::Shared(epoch_key(cfg)?),
        };
        report.shared = prepare(store, cfg, &pseudonyms, households, opts, reference)?;
        store.meta_put("scheme", &scheme.as_str().to_owned())?;
    }
    let client = connect(cfg).await?;
    let mut state: SyncState = store.meta_get("sync")?.unwrap_or_default();
    let mut fresh_stored = None;
    for (seq, b) in store.scan::<OutboxBatch>(Kind::Outbox, b"")? {
        let reply = client
            .call(&Message::SubmitBatch(SubmitBatch {
                member: member.clone(),
                epoch: cfg.epoch,
                batch_id: b.batch_id,
                scheme,
                snapshot: b.snapshot,
                add: b.add.clone(),
                remove: b.remove.clone(),
            }))
            .await?;
        let Message::Ack(ack) = reply else {
            return Err(ClientError::Unexpected(reply.kind()).into());
        };
        acknowledge(store, &seq, &b)?;
        report.batches += 1;
        report.duplicates += u64::from(ack.duplicate);
        report.added += b.add.len() as u64;
        report.removed += b.remove.len() as u64;
        state.hub_records = ack.stored;
        if !ack.duplicate {
            fresh_stored = Some(ack.stored);
        }
        if opts.stop_after_batches == Some(report.batches as usize) {
            store.meta_put("sync", &state)?;
            return Err(SyncError::Interrupted(report.batches as usize));
        }
    }
    report.hub_records = state.hub_records;
    if report.shared == 0 {
        report.shared = store.count(Kind::Acked)? as u64;
    }
    // After a batch it applied, the hub's count of this member's records must equal what the
    // node holds as acknowledged; fewer means the hub lost data it had acknowledged.
    let acked = store.count(Kind::Acked)? as u64;
    if let (false, Some(n)) = (opts.full, fresh_stored) {
        if n < acked {
            return resend_all(store, cfg, opts, now, client, &state, n, acked).await;
        }
    }
    if let (Some(periods), Role::Comune) = (&opts.aggregates, cfg.role()) {
        let reply = client
            .call(&Message::SubmitAggregates(
                siso_shared::wire::SubmitAggregates {
                    member: member.clone(),
                    epoch: cfg.epoch,
                    batch_id: random_batch_id()?,
                    periods: periods.clone(),
                },
            ))
            .await?;
        if !matches!(reply, Message::Ack(_)) {
            return Err(ClientError::Unexpected(reply.kind()).into());
        }
        report.aggregate_cells = periods.iter().map(|p| p.cells.len() as u64).sum();
    }
    let reply = client
        .call(&Message::FetchOverlaps(FetchOverlaps {
            member: member.clone(),
            epoch: cfg.epoch,
        }))
        .await?;
    let Message::Overlaps(o) = reply else {
        return Err(ClientError::Unexpected(reply.kind()).into());
    };
    // Also in a round that sent nothing: the hub must hold every record it acknowledged.
    if !opts.full && o.held < acked {
        return resend_all(store, cfg, opts, now, client, &state, o.held, acked).await;
    }
    let mut tx = Tx::default();
    for k in store.keys(Kind::Notice)? {
        tx.delete(Kind::Notice, &k);
    }
    for n in o.notices {
        let household: String = store
            .get(Kind::HouseholdMap, &n.household.0)?
            .unwrap_or_else(|| "?".into());
        let k = n.household.0;
        tx.put(
            Kind::Notice,
            &k,
            &StoredNotice {
                household,
                notice: n,
            },
        )?;
        report.notices += 1;
    }
    store.commit(tx)?;
    state.last_sync = Some(now.unix_timestamp());
    store.meta_put("sync", &state)?;
    if !withdrawals.is_empty() {
        // The snapshot without them was acknowledged above.
        crate::retention::mark_withdrawn(store, &withdrawals)?;
    }
    client.close().await;
    Ok(report)
}

/// The hub holds fewer of this member's records (`hub`) than the node holds as acknowledged
/// (`node`): it was re-created or restored from an older backup. Runs the round again sending
/// the whole set as a snapshot.
#[allow(clippy::too_many_arguments)]
async fn resend_all(
    store: &Store,
    cfg: &NodeConfig,
    opts: &SyncOptions,
    now: time::OffsetDateTime,
    client: HubClient,
    state: &SyncState,
    hub: u64,
    node: u64,
) -> Result<SyncReport, SyncError> {
    tracing::warn!(
        hub,
        node,
        "the hub holds fewer of this member's records than it acknowledged \
         (re-created or restored from an older backup?): sending the whole set again"
    );
    store.meta_put("sync", state)?;
    client.close().await;
    let full = SyncOptions {
        full: true,
        ..opts.clone()
    };
    let mut r = Box::pin(round(store, cfg, &full, now)).await?;
    r.resent_full = true;
    Ok(r)
}

/// Runs the assessment, then a round that flags its latent-need households: what `siso-node
/// sync` and `serve` do, so the flags the hub sees are always current.
pub async fn assess_and_round(
    store: &Store,
    cfg: &NodeConfig,
    rules: &crate::rules::Rules,
    now: time::OffsetDateTime,
) -> Result<SyncReport, SyncError> {
    assess_and_round_with(store, cfg, rules, now, false).await
}

/// [`assess_and_round`], with `full` as in [`SyncOptions::full`] (`siso-node sync --full`).
pub async fn assess_and_round_with(
    store: &Store,
    cfg: &NodeConfig,
    rules: &crate::rules::Rules,
    now: time::OffsetDateTime,
    full: bool,
) -> Result<SyncReport, SyncError> {
    let a = crate::assess::assess(store, rules, cfg.epoch, now.date())?;
    let reference = reference_date(cfg.epoch, now.date());
    let opts = SyncOptions {
        latent_need: a.latent_ids(),
        aggregates: Some(crate::aggregates::compute(store, &a, cfg.epoch, reference)?),
        full,
        ..SyncOptions::default()
    };
    round(store, cfg, &opts, now).await
}

/// Errors opening a node's data directory.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The configuration.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Opens a node's configuration and store from its data directory.
pub fn open(data: &Path) -> Result<(NodeConfig, Store), OpenError> {
    let cfg = NodeConfig::load(data)?;
    let store = Store::open(&data.join("store"), OpenMode::Existing)?;
    Ok((cfg, store))
}
