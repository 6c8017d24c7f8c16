//! The hub's store: the only module that touches sled.
//!
//! Trees (every key big-endian; `M` is a member id as one length byte and its bytes):
//! - `meta`: `schema_version` → u32; `scheme` ‖ `epoch u16` → the epoch's fingerprint scheme
//!   (the first batch's; none recorded on a store older than protocol 2 means the shared key).
//! - `batchshard/` ‖ `epoch u16 ‖ shard u16` (at most [`SHARDS`] trees per epoch; a member's
//!   shard is a hash of its id): `M ‖ seq u64` → an acknowledged batch (adds, removes, snapshot
//!   flag). A member's current set is the replay of its batches in `seq` order; a snapshot
//!   deletes the member's earlier batches in the same transaction, and long histories are
//!   compacted into one snapshot. One value per batch keeps ingest far cheaper than one sled key
//!   per fingerprint. Spreading members over many trees keeps sled from rewriting batches: a
//!   sled leaf holds up to 16 values and is rewritten whole every 10 updates, so with every
//!   member in one tree each batch was written about three times. A bounded number of trees
//!   keeps sled's tree directory small: it is rewritten whole whenever a tree is created, so one
//!   tree per member (schemas 2 and 3) cost a national hub of 8,000 members over a tenth of its
//!   CPU.
//! - `ledger`: `epoch u16 ‖ M ‖ batch id [16]` → (seq, stored): batches already applied, so a
//!   retried batch is acknowledged again and not applied twice.
//! - `aggregates`: `epoch u16 ‖ M ‖ month u8` → a Comune's aggregate cells for that period.
//! - `audit`: `seq u64` → a chained message-log record (no payloads).
//! - `releases`: `id u64` → a statistical release's meta (period, digest, audit report), and
//!   `release_cells`: `id u64` → the whole release (its cells and suppression); both written
//!   in one transaction, never changed. Encoded by `release`, opaque here.
//!
//! **Invariant:** nothing personal is stored: records hold only fingerprints, intervention kinds
//! and dates. **Invariant:** the service acknowledges only after [`Store::flush`] returns.

use std::path::Path;

use serde::{Deserialize, Serialize};
pub use siso_server::store::OpenMode;
use siso_server::store::{open_versioned, schema_version, Owner, Versioned};
use siso_shared::wire::{
    decode_value, encode_value, AggregateCell, BatchId, HouseholdRecord, Scheme,
};
use siso_shared::{Fingerprint, MemberId};
use sled::transaction::ConflictableTransactionError;
use sled::Transactional;

/// sled's page cache. The hub reads batches back only when it starts (the in-memory index
/// answers everything else), so sled's default of 1 GiB would only hold written batches.
const CACHE_CAPACITY: u64 = 128 << 20;

/// The schema version this build reads and writes.
/// Version 2: one batch tree per member and epoch (version 1 had one `batches` tree).
/// Version 3: each intervention of a stored record carries its area of need (protocol 4).
/// Version 4: batches in [`SHARDS`] trees per epoch instead of one tree per member.
pub const SCHEMA_VERSION: u32 = 4;

/// Batch trees per epoch (schema 4). Regional hubs (about a hundred members) still have nearly
/// one member per tree; a national one about eight.
pub const SHARDS: u16 = 1024;

/// The schema migrations of the hub's store (`tests/fixtures/hub-store-v1`, a store of schema
/// version 2 despite its name, is one every later release must migrate and read).
pub const MIGRATIONS: &[siso_server::store::Migration] = &[
    siso_server::store::Migration {
        from: 2,
        describe: "stored interventions get an area of need (altro until the member's next round)",
        run: v2::migrate,
    },
    siso_server::store::Migration {
        from: 3,
        describe: "batches move from one tree per member to a bounded set of trees per epoch",
        run: v3::migrate,
    },
];

/// The tree layout of schema versions 2 and 3, read only by the migration to 4.
mod v3 {
    use super::{batch_key, shard_tree_name, StoreError, MEMBER_TREES};

    /// Moves every member tree's batches into its shard tree (keys `M ‖ seq`), then drops the
    /// member tree. Safe to run again after a crash: a copied batch is copied again to the same
    /// key, and a member tree is dropped only after its copy is flushed.
    pub(super) fn migrate(db: &sled::Db) -> Result<(), StoreError> {
        for name in db.tree_names() {
            if !name.starts_with(MEMBER_TREES) {
                continue;
            }
            let (epoch, member, _) = name
                .get(MEMBER_TREES.len()..)
                .and_then(super::parse_prefix)
                .ok_or_else(|| StoreError::Corrupt("batch tree name".into()))?;
            let old = db.open_tree(&name)?;
            let new = db.open_tree(shard_tree_name(epoch, &member))?;
            for kv in old.iter() {
                let (k, v) = kv?;
                let seq = <[u8; 8]>::try_from(k.as_ref())
                    .map(u64::from_be_bytes)
                    .map_err(|_| StoreError::Corrupt("batch key".into()))?;
                new.insert(batch_key(&member, seq), v)?;
            }
            db.flush()?;
            db.drop_tree(&name)?;
        }
        db.flush()?;
        Ok(())
    }
}

/// The record layout of schema version 2 (protocol 3), read only by its migration.
mod v2 {
    use serde::{Deserialize, Serialize};
    use siso_shared::wire::{HouseholdRecord, InterventionSummary, RecordFlags};
    use siso_shared::{AreaBisogno, Fingerprint, TipoIntervento};

    use super::{decode, encode, StoreError, StoredBatch, MEMBER_TREES as BATCH_TREES};

    #[derive(Serialize, Deserialize)]
    struct Intervention {
        kind: TipoIntervento,
        start: time::Date,
        end: Option<time::Date>,
    }

    #[derive(Serialize, Deserialize)]
    struct Record {
        key: Fingerprint,
        persons: Vec<Fingerprint>,
        interventions: Vec<Intervention>,
        flags: RecordFlags,
    }

    #[derive(Serialize, Deserialize)]
    struct Batch {
        snapshot: bool,
        add: Vec<Record>,
        remove: Vec<Fingerprint>,
    }

    /// Rewrites every stored batch with `altro` as each intervention's area. A member's next
    /// round sends the true areas: a node keeps a hash of each record the hub acknowledged, and
    /// the new field changes the hash of every record with an intervention, so the node sends
    /// them all again (node/src/sync.rs).
    pub(super) fn migrate(db: &sled::Db) -> Result<(), StoreError> {
        for name in db.tree_names() {
            if !name.starts_with(BATCH_TREES) {
                continue;
            }
            let tree = db.open_tree(&name)?;
            for kv in tree.iter() {
                let (k, v) = kv?;
                let old: Batch = decode(&v)?;
                let new = StoredBatch {
                    snapshot: old.snapshot,
                    add: old
                        .add
                        .into_iter()
                        .map(|r| HouseholdRecord {
                            key: r.key,
                            persons: r.persons,
                            interventions: r
                                .interventions
                                .into_iter()
                                .map(|i| InterventionSummary {
                                    kind: i.kind,
                                    area: AreaBisogno::Altro,
                                    start: i.start,
                                    end: i.end,
                                })
                                .collect(),
                            flags: r.flags,
                        })
                        .collect(),
                    remove: old.remove,
                };
                tree.insert(k, encode(&new)?)?;
            }
            tree.flush()?;
        }
        Ok(())
    }
}

/// This store, for the shared open and its messages.
const OWNER: Owner = Owner {
    name: "hub",
    version: SCHEMA_VERSION,
};

/// Name prefix of the per-member batch trees of schemas 2 and 3 (read by migrations only).
const MEMBER_TREES: &[u8] = b"batches/";

/// Name prefix of the batch trees (schema 4).
const BATCH_TREES: &[u8] = b"batchshard/";

/// The member id part of keys: one length byte and the id's bytes.
fn member_key(member: &MemberId) -> Vec<u8> {
    let m = member.to_string();
    let mut k = Vec::with_capacity(1 + m.len() + 8);
    k.push(m.len() as u8);
    k.extend_from_slice(m.as_bytes());
    k
}

/// The key of a member's batch in its shard tree: `M ‖ seq u64`.
fn batch_key(member: &MemberId, seq: u64) -> Vec<u8> {
    let mut k = member_key(member);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// The name of the batch tree holding a member's batches of an epoch.
fn shard_tree_name(epoch: u16, member: &MemberId) -> Vec<u8> {
    let h = blake3::hash(member.to_string().as_bytes());
    let shard = u16::from_be_bytes([h.as_bytes()[0], h.as_bytes()[1]]) % SHARDS;
    let mut name = BATCH_TREES.to_vec();
    name.extend_from_slice(&epoch.to_be_bytes());
    name.extend_from_slice(&shard.to_be_bytes());
    name
}

/// Splits a batch key into its member and sequence number.
fn parse_batch_key(key: &[u8]) -> Option<(MemberId, u64)> {
    let len = usize::from(*key.first()?);
    let m = std::str::from_utf8(key.get(1..1 + len)?).ok()?;
    let seq = <[u8; 8]>::try_from(key.get(1 + len..)?).ok()?;
    Some((m.parse().ok()?, u64::from_be_bytes(seq)))
}

pub use siso_server::store::StoreError;

/// A batch as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredBatch {
    /// Replaces the member's previous set.
    pub snapshot: bool,
    /// Records added or replaced.
    pub add: Vec<HouseholdRecord>,
    /// Household keys removed.
    pub remove: Vec<Fingerprint>,
}

/// What the ledger remembers of an applied batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// Sequence number of the batch (0 for aggregates).
    pub seq: u64,
    /// Records (or cells) stored for the member after it was applied.
    pub stored: u64,
}

/// A message-log record as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position in the log, from 0.
    pub seq: u64,
    /// Unix time, seconds.
    pub time: i64,
    /// The caller's member id (from its certificate), or `-` if unknown.
    pub member: String,
    /// Request kind.
    pub kind: String,
    /// Records (or cells) in the request.
    pub records: u64,
    /// Outcome: `ok`, `duplicate`, or an error code name.
    pub outcome: String,
    /// BLAKE3 of the request frame body.
    pub payload_hash: [u8; 32],
    /// Hash of the previous record (zeros for the first).
    pub prev: [u8; 32],
}

impl AuditRecord {
    /// The record as its chain sees it (its hash: BLAKE3 over its encoding, `prev` included).
    pub fn link(&self) -> Result<siso_server::chain::Link, StoreError> {
        let bytes = encode_value(self).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(siso_server::chain::Link::of(self.seq, self.prev, &bytes))
    }
}

/// The hub store.
#[derive(Debug, Clone)]
pub struct Store {
    db: sled::Db,
    meta: sled::Tree,
    ledger: sled::Tree,
    aggregates: sled::Tree,
    audit: sled::Tree,
    releases: sled::Tree,
    release_cells: sled::Tree,
    barrier: siso_server::store::Barrier,
    flushes: std::sync::Arc<FlushGroup>,
}

/// Group commit: callers waiting for durability share flushes. A flush that *starts* after a
/// caller's writes covers them, so a caller arriving while one runs waits for the next one and
/// every caller queued behind it is served by that single flush.
#[derive(Debug, Default)]
struct FlushGroup {
    /// Generation of the last flush started (under `lock`).
    started: std::sync::atomic::AtomicU64,
    /// Generation of the last flush finished.
    done: std::sync::atomic::AtomicU64,
    /// Held while a flush runs.
    lock: tokio::sync::Mutex<()>,
}

fn prefix(epoch: u16, member: &MemberId) -> Vec<u8> {
    let m = member.to_string();
    let mut k = Vec::with_capacity(3 + m.len() + 16);
    k.extend_from_slice(&epoch.to_be_bytes());
    k.push(m.len() as u8);
    k.extend_from_slice(m.as_bytes());
    k
}

fn parse_prefix(key: &[u8]) -> Option<(u16, MemberId, &[u8])> {
    let epoch = u16::from_be_bytes([*key.first()?, *key.get(1)?]);
    let len = usize::from(*key.get(2)?);
    let m = std::str::from_utf8(key.get(3..3 + len)?).ok()?;
    Some((epoch, m.parse().ok()?, key.get(3 + len..)?))
}

fn decode<T: serde::de::DeserializeOwned>(b: &[u8]) -> Result<T, StoreError> {
    decode_value(b).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, StoreError> {
    encode_value(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl Store {
    /// Opens the store in `dir`: with [`OpenMode::Create`] a new one is made if there is none
    /// (`init`, tests); either way the schema version is checked.
    /// Brings the store in `dir` to this release's schema (`siso-hub migrate`; the hub must be
    /// stopped, and backed up first).
    pub fn migrate(dir: &Path) -> Result<siso_server::store::Migrated, StoreError> {
        siso_server::store::migrate(sled::Config::new(), dir, OWNER, MIGRATIONS)
    }

    pub fn open(dir: &Path, mode: OpenMode) -> Result<Store, StoreError> {
        let config = sled::Config::new()
            .mode(sled::Mode::HighThroughput)
            .cache_capacity(CACHE_CAPACITY);
        let Versioned { db, meta, barrier } = open_versioned(config, dir, OWNER, mode)?;
        Ok(Store {
            barrier,
            flushes: Default::default(),
            ledger: db.open_tree("ledger")?,
            aggregates: db.open_tree("aggregates")?,
            audit: db.open_tree("audit")?,
            releases: db.open_tree("releases")?,
            release_cells: db.open_tree("release_cells")?,
            meta,
            db,
        })
    }

    /// Makes every write so far durable.
    ///
    /// sled 0.34's `flush_async` deadlocks when several flushes are awaited at once (sled issue
    /// #1308, seen here as a hung demo in release mode), so the blocking flush runs on the
    /// blocking pool instead. Concurrent callers share flushes ([`FlushGroup`]): callers that
    /// arrive while one runs are all served by the next, instead of one flush each.
    pub async fn flush(&self) -> Result<(), StoreError> {
        use std::sync::atomic::Ordering::SeqCst;
        let g = &self.flushes;
        // Any flush started after this point covers the caller's writes, made before it.
        let want = g.started.load(SeqCst) + 1;
        let _running = g.lock.lock().await;
        if g.done.load(SeqCst) >= want {
            return Ok(());
        }
        let generation = g.started.fetch_add(1, SeqCst) + 1;
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.flush())
            .await
            .map_err(|e| StoreError::Task(e.to_string()))??;
        g.done.store(generation, SeqCst);
        Ok(())
    }

    /// The fingerprint scheme recorded for an epoch.
    pub fn epoch_scheme(&self, epoch: u16) -> Result<Option<Scheme>, StoreError> {
        let mut k = b"scheme".to_vec();
        k.extend_from_slice(&epoch.to_be_bytes());
        self.meta.get(k)?.map(|v| decode(&v)).transpose()
    }

    /// Records an epoch's fingerprint scheme (flushed with the batch that set it).
    pub fn set_epoch_scheme(&self, epoch: u16, scheme: Scheme) -> Result<(), StoreError> {
        let _w = self.barrier.enter();
        let mut k = b"scheme".to_vec();
        k.extend_from_slice(&epoch.to_be_bytes());
        self.meta.insert(k, encode(&scheme)?)?;
        Ok(())
    }

    /// The ledger entry of a batch already applied.
    pub fn ledger_get(
        &self,
        epoch: u16,
        member: &MemberId,
        batch: &BatchId,
    ) -> Result<Option<LedgerEntry>, StoreError> {
        let mut k = prefix(epoch, member);
        k.extend_from_slice(&batch.0);
        self.ledger.get(k)?.map(|v| decode(&v)).transpose()
    }

    /// The batch tree of a member in an epoch (sled keeps open trees in memory).
    fn batch_tree(&self, epoch: u16, member: &MemberId) -> Result<sled::Tree, StoreError> {
        Ok(self.db.open_tree(shard_tree_name(epoch, member))?)
    }

    /// Batches stored for a member in an epoch.
    pub fn batch_count(&self, epoch: u16, member: &MemberId) -> Result<usize, StoreError> {
        Ok(self
            .batch_tree(epoch, member)?
            .scan_prefix(member_key(member))
            .keys()
            .count())
    }

    /// Stores an applied batch and its ledger entry in one transaction. A snapshot (or a
    /// compaction, `ledger: None`) deletes the member's earlier batches in the same transaction.
    pub fn put_batch(
        &self,
        epoch: u16,
        member: &MemberId,
        ledger: Option<(&BatchId, LedgerEntry)>,
        batch: &StoredBatch,
    ) -> Result<u64, StoreError> {
        self.put_batch_encoded(epoch, member, ledger, batch, None)
    }

    /// [`Store::put_batch`] with the batch's encoding already at hand (the tail of the request
    /// body, [`siso_shared::wire::submit_batch_tail`]), so the records are not encoded again.
    /// Debug builds check that `encoded` is the encoding of `batch`.
    pub fn put_batch_encoded(
        &self,
        epoch: u16,
        member: &MemberId,
        ledger: Option<(&BatchId, LedgerEntry)>,
        batch: &StoredBatch,
        encoded: Option<&[u8]>,
    ) -> Result<u64, StoreError> {
        let _w = self.barrier.enter();
        let p = prefix(epoch, member);
        let tree = self.batch_tree(epoch, member)?;
        let mk = member_key(member);
        // Only a snapshot needs every earlier key (to delete them); otherwise the last one.
        let existing: Vec<sled::IVec> = if batch.snapshot {
            tree.scan_prefix(&mk).keys().collect::<Result<_, _>>()?
        } else {
            tree.scan_prefix(&mk)
                .keys()
                .next_back()
                .transpose()?
                .into_iter()
                .collect()
        };
        let seq = match existing.last() {
            Some(k) => {
                parse_batch_key(k)
                    .map(|(_, seq)| seq)
                    .ok_or_else(|| StoreError::Corrupt("batch key".into()))?
                    + 1
            }
            None => 0,
        };
        let key = batch_key(member, seq);
        let value: std::borrow::Cow<'_, [u8]> = match encoded {
            Some(e) => {
                #[cfg(debug_assertions)]
                if encode(batch)? != e {
                    return Err(StoreError::Corrupt(
                        "the encoded batch is not the batch's encoding".into(),
                    ));
                }
                std::borrow::Cow::Borrowed(e)
            }
            None => std::borrow::Cow::Owned(encode(batch)?),
        };
        let ledger_kv = match ledger {
            Some((id, entry)) => {
                let mut lk = p.clone();
                lk.extend_from_slice(&id.0);
                Some((
                    lk,
                    encode(&LedgerEntry {
                        seq,
                        stored: entry.stored,
                    })?,
                ))
            }
            None => None,
        };
        (&tree, &self.ledger).transaction(|(b, l)| {
            if batch.snapshot {
                for k in &existing {
                    b.remove(k)?;
                }
            }
            b.insert(&key[..], value.as_ref())?;
            if let Some((lk, lv)) = &ledger_kv {
                l.insert(lk.as_slice(), lv.as_slice())?;
            }
            Ok::<(), ConflictableTransactionError<StoreError>>(())
        })?;
        Ok(seq)
    }

    /// Replays every stored batch: epoch by epoch, each member's batches in `seq` order.
    pub fn replay(
        &self,
        mut f: impl FnMut(u16, &MemberId, StoredBatch),
    ) -> Result<u64, StoreError> {
        let mut n = 0;
        let mut names: Vec<sled::IVec> = self
            .db
            .tree_names()
            .into_iter()
            .filter(|t| t.starts_with(BATCH_TREES))
            .collect();
        names.sort();
        for name in names {
            let epoch = name
                .get(BATCH_TREES.len()..BATCH_TREES.len() + 2)
                .and_then(|e| <[u8; 2]>::try_from(e).ok())
                .map(u16::from_be_bytes)
                .ok_or_else(|| StoreError::Corrupt("batch tree name".into()))?;
            for kv in self.db.open_tree(&name)?.iter() {
                let (k, v) = kv?;
                let (member, _) =
                    parse_batch_key(&k).ok_or_else(|| StoreError::Corrupt("batch key".into()))?;
                f(epoch, &member, decode(&v)?);
                n += 1;
            }
        }
        Ok(n)
    }

    /// Stores a Comune's aggregates, replacing each period it carries, and records the batch.
    pub fn put_aggregates(
        &self,
        epoch: u16,
        member: &MemberId,
        batch: &BatchId,
        periods: &[(u8, Vec<AggregateCell>)],
        stored: u64,
    ) -> Result<(), StoreError> {
        let _w = self.barrier.enter();
        let p = prefix(epoch, member);
        let mut rows = Vec::new();
        for (month, cells) in periods {
            let mut k = p.clone();
            k.push(*month);
            rows.push((k, encode(cells)?));
        }
        let mut lk = p.clone();
        lk.extend_from_slice(&batch.0);
        let lv = encode(&LedgerEntry { seq: 0, stored })?;
        (&self.aggregates, &self.ledger).transaction(|(a, l)| {
            for (k, v) in &rows {
                a.insert(k.as_slice(), v.as_slice())?;
            }
            l.insert(lk.as_slice(), lv.as_slice())?;
            Ok::<(), ConflictableTransactionError<StoreError>>(())
        })?;
        Ok(())
    }

    /// Every member's aggregates of an epoch: (member, month, cells).
    pub fn aggregates(
        &self,
        epoch: u16,
    ) -> Result<Vec<(MemberId, u8, Vec<AggregateCell>)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.aggregates.scan_prefix(epoch.to_be_bytes()) {
            let (k, v) = kv?;
            let (_, member, rest) =
                parse_prefix(&k).ok_or_else(|| StoreError::Corrupt("aggregate key".into()))?;
            let month = *rest
                .first()
                .ok_or_else(|| StoreError::Corrupt("aggregate key".into()))?;
            out.push((member, month, decode(&v)?));
        }
        Ok(out)
    }

    /// Writes a consistent copy of the whole store (every tree) to `out` for a backup, holding
    /// the write barrier: writes wait until it is written, and none is half in it.
    pub fn dump(
        &self,
        out: &mut dyn std::io::Write,
    ) -> Result<siso_server::store::TreeCounts, siso_server::store::DumpError> {
        siso_server::store::dump(
            &Versioned {
                db: self.db.clone(),
                meta: self.meta.clone(),
                barrier: self.barrier.clone(),
            },
            out,
        )
    }

    /// Makes every write so far durable, from a blocking thread.
    pub fn flush_blocking(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    /// Stores release `id` (its encoded meta and whole encoded release) in one transaction;
    /// refuses an id already taken (releases are immutable).
    pub fn put_release(&self, id: u64, meta: &[u8], whole: &[u8]) -> Result<(), StoreError> {
        let _w = self.barrier.enter();
        let key = id.to_be_bytes();
        (&self.releases, &self.release_cells).transaction(|(m, c)| {
            if m.get(key)?.is_some() {
                return Err(ConflictableTransactionError::Abort(StoreError::Corrupt(
                    format!("release {id} exists already"),
                )));
            }
            m.insert(&key, meta)?;
            c.insert(&key, whole)?;
            Ok(())
        })?;
        Ok(())
    }

    /// Every release's encoded meta, in id order.
    pub fn release_metas(&self) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.releases.iter() {
            let (k, v) = kv?;
            let id = <[u8; 8]>::try_from(k.as_ref())
                .map_err(|_| StoreError::Corrupt("release key".into()))?;
            out.push((u64::from_be_bytes(id), v.to_vec()));
        }
        Ok(out)
    }

    /// One whole encoded release.
    pub fn release(&self, id: u64) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .release_cells
            .get(id.to_be_bytes())?
            .map(|v| v.to_vec()))
    }

    /// The highest release id, 0 if none.
    pub fn last_release_id(&self) -> Result<u64, StoreError> {
        match self.releases.last()? {
            None => Ok(0),
            Some((k, _)) => Ok(u64::from_be_bytes(
                <[u8; 8]>::try_from(k.as_ref())
                    .map_err(|_| StoreError::Corrupt("release key".into()))?,
            )),
        }
    }

    /// The last message-log record, if any.
    pub fn audit_last(&self) -> Result<Option<AuditRecord>, StoreError> {
        self.audit.last()?.map(|(_, v)| decode(&v)).transpose()
    }

    /// Appends a message-log record at its `seq`.
    pub fn audit_put(&self, rec: &AuditRecord) -> Result<(), StoreError> {
        let _w = self.barrier.enter();
        self.audit.insert(rec.seq.to_be_bytes(), encode(rec)?)?;
        Ok(())
    }

    /// Every message-log record in order.
    pub fn audit_iter(&self) -> impl Iterator<Item = Result<AuditRecord, StoreError>> + '_ {
        self.audit
            .iter()
            .map(|kv| kv.map_err(StoreError::from).and_then(|(_, v)| decode(&v)))
    }

    /// Overwrites a raw message-log value (tests of tamper detection only).
    #[doc(hidden)]
    pub fn audit_tamper(&self, seq: u64, rec: &AuditRecord) -> Result<(), StoreError> {
        let _w = self.barrier.enter();
        self.audit.insert(seq.to_be_bytes(), encode(rec)?)?;
        self.db.flush()?;
        Ok(())
    }

    /// Bytes on disk (for metrics).
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }

    /// The meta tree's schema version (for `status`).
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        schema_version(&self.meta)?.ok_or_else(|| StoreError::Corrupt("schema_version".into()))
    }
}

#[cfg(test)]
mod tests;
