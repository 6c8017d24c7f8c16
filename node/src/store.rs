//! The node's store: the only module that touches sled.
//!
//! One tree, `data`, holds everything the imports write, under a one-byte kind prefix, so that a
//! whole import is one atomic `sled::Batch` (nothing is written unless every row is valid):
//!
//! | prefix | key | value |
//! |---|---|---|
//! | `p` | cf | [`Person`], in chunks |
//! | `f` | family id | [`Family`], in chunks |
//! | `S` | cf | [`Sanitaria`] |
//! | `R` | cf ‖ year u16 | [`Reddito`] |
//! | `I`, `L`, `T` | cf ‖ row hash [8] | [`Immobile`], [`Locazione`], [`Tributo`] |
//! | `A`, `C`, `V` | cf ‖ row hash [8] | [`Accesso`], [`PresaInCarico`], [`Intervento`] |
//! | `K` | household key [32] | hash of the record the hub acknowledged |
//! | `M` | household key [32] | local household id |
//! | `O` | seq u64 | an outbox batch not yet acknowledged |
//! | `N` | household key [32] | the hub's overlap notice |
//! | `U` | user name | an operator's account (`accounts.rs`; password as an argon2id hash) |
//! | `A`, `C`, `V`, `D` | cf ‖ record id [16] | records written in the web app ([`Accesso`], [`PresaInCarico`], [`Intervento`], [`Attivita`]) |
//! | `X` | cf ‖ case id [16] | a case of the cartella sociale ([`Caso`]) |
//! | `W` | record id [16] | who wrote an app record, and about whom ([`AppRecord`]) |
//! | `Q` | user name ‖ 0 ‖ idempotency key | the id of the record that key created |
//! | `G` | household key [32] | what was done about an overlap notice ([`Verifica`]) |
//! | `E` | user ‖ 0 ‖ device id | an operator's phone (`devices.rs`: first and last use, disconnected) |
//! | `Y` | epoch u16 ‖ cf | a person fingerprint from the key services |
//! | `Z` | person id [16] | an erased person's tombstone ([`StoredTombstone`]) |
//!
//! Persons and families (`p`, `f`) are *chunked* kinds: sorted runs of a few kilobytes of
//! entries, one sled value per run keyed by its first entry's key (`store/chunk.rs` has the
//! format, `store/chunked.rs` the reads and writes). Callers see one entry per key as for every
//! other kind: [`Store::get`], [`Store::scan`], [`Tx::put`] and the rest resolve chunks
//! themselves. A transaction's writes to chunked kinds become whole-chunk writes when it is
//! applied, under a lock that every chunk writer takes, so two writers never lose each other's
//! entries. Schema version 1 stored them one key per entry under `P` and `F`; the migration to 2
//! moves them into chunks.
//!
//! Imported rows of accessi, prese in carico and interventi end in an 8-byte row hash; records
//! written in the app end in a random 16-byte id, so no import can ever overwrite one.
//!
//! [`Accesso`]: crate::model::Accesso
//! [`PresaInCarico`]: crate::model::PresaInCarico
//! [`Intervento`]: crate::model::Intervento
//! [`Attivita`]: crate::model::Attivita
//! [`Caso`]: crate::model::Caso
//! [`AppRecord`]: crate::model::AppRecord
//! [`Verifica`]: crate::model::Verifica
//! [`StoredTombstone`]: crate::model::StoredTombstone
//!
//! A second tree, `audit`, is the operators' audit trail (seq u64 → [`AuditRecord`], hash-chained
//! by `audit.rs`), and `meta` holds the schema version, the sync state and the person id key.
//! Keys are big-endian.
//!
//! Large commits go through `journal` (seq u64 → (key, value or deletion)): sled keeps every page
//! a `Batch` touches in memory until the batch is sealed and flushed, so one atomic batch of a
//! million persons peaked at 7 GB. A commit of more than [`DIRECT_COMMIT`] writes is staged in
//! the journal in small flushed chunks, marked committed in `meta` (`journal_commit`, the commit
//! point), copied into `data` in small flushed chunks, and dropped. A store opened with a
//! committed journal finishes the copy; an uncommitted one is discarded. Either way an import is
//! all or nothing, in bounded memory (docs/benchmarks.md).

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
pub use siso_server::store::OpenMode;
use siso_server::store::{open_versioned, Owner, Versioned};
use siso_shared::wire::{decode_value, encode_value};

mod chunk;
mod chunked;
#[cfg(test)]
mod tests;

pub use chunk::ChunkError;

/// The journal tree's name.
const JOURNAL: &str = "journal";

/// A journal entry: `0` (delete) or `1` (put), the key's length (u32 BE), the key, the value.
fn encode_write(k: &[u8], v: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + k.len() + v.map_or(0, <[u8]>::len));
    out.push(u8::from(v.is_some()));
    out.extend_from_slice(&(k.len() as u32).to_be_bytes());
    out.extend_from_slice(k);
    if let Some(v) = v {
        out.extend_from_slice(v);
    }
    out
}

fn decode_write(b: &[u8]) -> Result<(&[u8], Option<&[u8]>), StoreError> {
    let bad = || StoreError::Corrupt("journal entry".into());
    let (&tag, rest) = b.split_first().ok_or_else(bad)?;
    let len = rest
        .get(..4)
        .and_then(|l| <[u8; 4]>::try_from(l).ok())
        .map(u32::from_be_bytes)
        .ok_or_else(bad)? as usize;
    let k = rest.get(4..4 + len).ok_or_else(bad)?;
    let v = rest.get(4 + len..).ok_or_else(bad)?;
    match tag {
        0 if v.is_empty() => Ok((k, None)),
        1 => Ok((k, Some(v))),
        _ => Err(bad()),
    }
}

/// The `meta` key marking a journal as committed.
const JOURNAL_COMMIT: &str = "journal_commit";

/// The schema version this build reads and writes.
pub const SCHEMA_VERSION: u32 = 2;

/// This store, for the shared open and its messages.
const OWNER: Owner = Owner {
    name: "node",
    version: SCHEMA_VERSION,
};

pub use siso_server::store::{Migrated, StoreError};

/// The schema migrations of the node's store, each from its version to the next
/// (`tests/fixtures/node-store-v1` is a store of version 1 that every later release must
/// migrate and read).
pub const MIGRATIONS: &[siso_server::store::Migration] = &[siso_server::store::Migration {
    from: 1,
    describe: "persons and families into chunks of a few kilobytes (one sled value per run of entries instead of one per entry)",
    run: chunked::migrate_v1,
}];

/// Kinds of data, as key prefixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// Persons (chunked).
    Person = b'p',
    /// Families (chunked).
    Family = b'f',
    /// Health facts.
    Sanitaria = b'S',
    /// Incomes.
    Reddito = b'R',
    /// Properties.
    Immobile = b'I',
    /// Leases.
    Locazione = b'L',
    /// Local taxes.
    Tributo = b'T',
    /// Accesses.
    Accesso = b'A',
    /// Cases.
    PresaInCarico = b'C',
    /// Interventions.
    Intervento = b'V',
    /// Acknowledged household records.
    Acked = b'K',
    /// Household key → local id.
    HouseholdMap = b'M',
    /// Outbox.
    Outbox = b'O',
    /// Overlap notices.
    Notice = b'N',
    /// Operators' accounts (key: user name).
    Account = b'U',
    /// Activities of the diary (app only).
    Attivita = b'D',
    /// Cases of the cartella sociale (app only).
    Caso = b'X',
    /// App records by id: author and subject.
    AppRecord = b'W',
    /// Idempotency keys of the API.
    Idempotency = b'Q',
    /// Follow-ups of overlap notices.
    Verifica = b'G',
    /// Operators' phones (key: user ‖ 0 ‖ device id).
    Device = b'E',
    /// Person fingerprints obtained from the key services (key: epoch `u16` BE ‖ codice
    /// fiscale), so routine syncs and re-imports spend no budget; one epoch at a time.
    Pseudonym = b'Y',
    /// Erased persons (key: person id [16]; `retention.rs`): imports skip them, and one not yet
    /// withdrawn from the hub makes the next sync a snapshot.
    Tombstone = b'Z',
}

/// Length of the random id of a record written in the app (imported rows end in an 8-byte
/// row hash instead).
pub const APP_ID_LEN: usize = 16;

impl Kind {
    /// Stored in chunks (`store/chunk.rs`) rather than one sled key per entry.
    pub fn chunked(self) -> bool {
        matches!(self, Kind::Person | Kind::Family)
    }
}

/// How many entries the raw `data` value at full key `k` holds (a chunk's count, else one; an
/// undecodable chunk counts none): for summaries of a store dump.
pub fn entries_in(k: &[u8], v: &[u8]) -> u64 {
    if chunked_key(k) {
        chunk::count(v).map_or(0, |n| n as u64)
    } else {
        1
    }
}

/// Is this full key (kind byte first) of a chunked kind?
fn chunked_key(k: &[u8]) -> bool {
    matches!(k.first(), Some(&b) if b == Kind::Person as u8 || b == Kind::Family as u8)
}

fn key(kind: Kind, rest: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + rest.len());
    k.push(kind as u8);
    k.extend_from_slice(rest);
    k
}

fn enc<T: Serialize>(v: &T) -> Result<Vec<u8>, StoreError> {
    encode_value(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn dec<T: DeserializeOwned>(b: &[u8]) -> Result<T, StoreError> {
    decode_value(b).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Commits of at most this many writes (and [`DIRECT_BYTES`]) are one sled `Batch`; larger ones
/// go through the journal.
pub const DIRECT_COMMIT: usize = 20_000;

/// Commits of at most this many bytes (and [`DIRECT_COMMIT`] writes) are one sled `Batch`.
pub const DIRECT_BYTES: usize = 2 << 20;

/// Journal entries written, or copied into `data`, per sled batch (at most this many, and at
/// most [`JOURNAL_CHUNK_BYTES`]); each batch is flushed, which lets sled release the pages
/// behind it.
const JOURNAL_CHUNK: usize = 2_000;

/// Bytes of journal entries per sled batch, at most.
const JOURNAL_CHUNK_BYTES: usize = 4 << 20;

/// A write: the full key, the value or `None` for a deletion.
type Write = (Vec<u8>, Option<Vec<u8>>);

fn write_len((k, v): &Write) -> usize {
    k.len() + v.as_ref().map_or(0, Vec::len)
}

/// Sorts `writes` by key (stably) and keeps the last write of each key: what a sled `Batch`
/// applies when it is given the same key twice.
fn last_per_key<T>(writes: &mut Vec<T>, key: impl Fn(&T) -> &[u8]) {
    writes.sort_by(|a, b| key(a).cmp(key(b)));
    writes.dedup_by(|later, earlier| {
        if key(later) == key(earlier) {
            std::mem::swap(later, earlier);
            true
        } else {
            false
        }
    });
}

/// Cuts writes into runs of at most [`JOURNAL_CHUNK`] writes and [`JOURNAL_CHUNK_BYTES`] bytes
/// (a run holds at least one write).
fn runs(writes: &[Write]) -> impl Iterator<Item = &[Write]> {
    let mut rest = writes;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut bytes = 0;
        let mut n = 0;
        while n < rest.len()
            && n < JOURNAL_CHUNK
            && (n == 0 || bytes + write_len(&rest[n]) <= JOURNAL_CHUNK_BYTES)
        {
            bytes += write_len(&rest[n]);
            n += 1;
        }
        let (run, after) = rest.split_at(n);
        rest = after;
        Some(run)
    })
}

/// A set of writes applied atomically by [`Store::commit`] (a later write to the same key wins).
/// [`Store::apply_audited`] also checks its expectations: values read before the writes were
/// decided, which must not have changed meanwhile.
///
/// Its writes are kept in one buffer (keys and values back to back, 16 bytes of bookkeeping
/// each) rather than two allocations per write: an import of a million persons is a million
/// writes.
#[derive(Debug, Default)]
pub struct Tx {
    buf: Vec<u8>,
    writes: Vec<Slot>,
    expect: Vec<Write>,
}

/// Where a write of a [`Tx`] is in its buffer.
#[derive(Debug, Clone, Copy)]
struct Slot {
    at: usize,
    klen: u32,
    /// The value's length; [`Slot::DELETE`] for a deletion.
    vlen: u32,
}

impl Slot {
    const DELETE: u32 = u32::MAX;
}

impl Tx {
    /// Expects `k` to hold `v` (absent: `None`) when the writes are applied (optimistic
    /// concurrency: a read-modify-write of a case, an idempotency key not yet used). Not for
    /// chunked kinds (persons, families), whose writers are serialised instead.
    pub fn expect<T: Serialize>(
        &mut self,
        kind: Kind,
        k: &[u8],
        v: Option<&T>,
    ) -> Result<(), StoreError> {
        debug_assert!(!kind.chunked(), "expectations on a chunked kind");
        self.expect.push((key(kind, k), v.map(enc).transpose()?));
        Ok(())
    }

    /// Puts a value.
    pub fn put<T: Serialize>(&mut self, kind: Kind, k: &[u8], v: &T) -> Result<(), StoreError> {
        let v = enc(v)?;
        let vlen = u32::try_from(v.len())
            .ok()
            .filter(|&n| n != Slot::DELETE)
            .ok_or_else(|| StoreError::Corrupt(format!("a value of {} bytes", v.len())))?;
        self.push(kind, k, vlen);
        self.buf.extend_from_slice(&v);
        Ok(())
    }

    /// Deletes a key.
    pub fn delete(&mut self, kind: Kind, k: &[u8]) {
        self.push(kind, k, Slot::DELETE);
    }

    fn push(&mut self, kind: Kind, k: &[u8], vlen: u32) {
        self.writes.push(Slot {
            at: self.buf.len(),
            klen: 1 + k.len() as u32,
            vlen,
        });
        self.buf.push(kind as u8);
        self.buf.extend_from_slice(k);
    }

    /// The full key of a write.
    fn key_of(&self, s: Slot) -> &[u8] {
        &self.buf[s.at..s.at + s.klen as usize]
    }

    /// The value of a write (`None`: a deletion).
    fn value_of(&self, s: Slot) -> Option<&[u8]> {
        let start = s.at + s.klen as usize;
        (s.vlen != Slot::DELETE).then(|| &self.buf[start..start + s.vlen as usize])
    }

    /// The writes, in order.
    fn iter(&self) -> impl Iterator<Item = (&[u8], Option<&[u8]>)> + '_ {
        self.writes
            .iter()
            .map(|&s| (self.key_of(s), self.value_of(s)))
    }

    /// Writes in the set.
    pub fn len(&self) -> usize {
        self.writes.len()
    }

    /// True if nothing would be written.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }
}

fn batch_of<'a>(writes: impl Iterator<Item = &'a Write>) -> sled::Batch {
    let mut b = sled::Batch::default();
    for (k, v) in writes {
        match v {
            Some(v) => b.insert(k.as_slice(), v.as_slice()),
            None => b.remove(k.as_slice()),
        }
    }
    b
}

/// A record of the operators' audit trail as stored (`audit.rs` builds and chains them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position in the trail, from 0.
    pub seq: u64,
    /// Unix time, seconds.
    pub time: i64,
    /// The operator's user name (as typed, for a refused log-in).
    pub user: String,
    /// The operator's role (empty for a refused log-in).
    pub role: String,
    /// What happened (`accesso`, `accesso_rifiutato`, `uscita`, `ricerca`, …).
    pub action: String,
    /// The persons whose data was shown or changed, by id (never a codice fiscale).
    pub persons: Vec<String>,
    /// A few words more (never a query text).
    pub detail: String,
    /// The client's address.
    pub addr: String,
    /// Hash of the previous record (zeros for the first).
    pub prev: [u8; 32],
}

impl AuditRecord {
    /// The record as its chain sees it (its hash: BLAKE3 over its encoding, `prev` included).
    pub fn link(&self) -> Result<siso_server::chain::Link, StoreError> {
        Ok(siso_server::chain::Link::of(
            self.seq,
            self.prev,
            &enc(self)?,
        ))
    }
}

/// The node store.
#[derive(Debug, Clone)]
pub struct Store {
    db: sled::Db,
    data: sled::Tree,
    meta: sled::Tree,
    audit: sled::Tree,
    barrier: siso_server::store::Barrier,
    /// Held by every writer of chunked kinds from reading the chunks to applying the writes.
    chunk_lock: std::sync::Arc<std::sync::Mutex<()>>,
}

impl Store {
    /// Opens the store in `dir`: with [`OpenMode::Create`] a new one is made if there is none
    /// (`init`, tests); either way the schema version is checked.
    /// Brings the store in `dir` to this release's schema (`siso-node migrate`; the node must
    /// be stopped, and backed up first).
    pub fn migrate(dir: &Path) -> Result<Migrated, StoreError> {
        siso_server::store::migrate(sled::Config::new(), dir, OWNER, MIGRATIONS)
    }

    pub fn open(dir: &Path, mode: OpenMode) -> Result<Store, StoreError> {
        let Versioned { db, meta, barrier } =
            open_versioned(sled::Config::new(), dir, OWNER, mode)?;
        let store = Store {
            data: db.open_tree("data")?,
            audit: db.open_tree("audit")?,
            meta,
            db,
            barrier,
            chunk_lock: Default::default(),
        };
        recover(&store.db, &store.data, &store.meta)?;
        Ok(store)
    }

    /// Applies a set of writes atomically and makes it durable: one sled batch when small,
    /// through the journal when large (see the module documentation).
    pub fn commit(&self, tx: Tx) -> Result<(), StoreError> {
        let _w = self.barrier.enter();
        let _chunks = tx
            .iter()
            .any(|(k, _)| chunked_key(k))
            .then(|| self.lock_chunks());
        let (mut writes, _) = self.resolve(&tx, false)?;
        drop(tx);
        let bytes: usize = writes.iter().map(write_len).sum();
        if writes.len() <= DIRECT_COMMIT && bytes <= DIRECT_BYTES {
            self.data.apply_batch(batch_of(writes.iter()))?;
            drop(_chunks);
            self.db.flush()?;
            return Ok(());
        }
        // In key order, the last write of each key only (what a `Batch` would apply): sled
        // inserts in key order are several times cheaper than in file order.
        last_per_key(&mut writes, |w| w.0.as_slice());
        clear_journal(&self.db)?;
        let journal = self.db.open_tree(JOURNAL)?;
        let mut seq = 0u64;
        for run in runs(&writes) {
            let mut b = sled::Batch::default();
            for (k, v) in run {
                b.insert(&seq.to_be_bytes(), encode_write(k, v.as_deref()));
                seq += 1;
            }
            journal.apply_batch(b)?;
            self.db.flush()?;
        }
        // The commit point: from here on, opening the store finishes the copy.
        self.meta.insert(JOURNAL_COMMIT, &[1u8])?;
        self.db.flush()?;
        drop(writes);
        replay_journal(&self.db, &self.data, &self.meta)
    }

    /// The lock of chunk writers (nothing it guards can be left half-done by a panic: a write
    /// is applied by sled atomically or not at all).
    fn lock_chunks(&self) -> std::sync::MutexGuard<'_, ()> {
        self.chunk_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reads one value.
    pub fn get<T: DeserializeOwned>(&self, kind: Kind, k: &[u8]) -> Result<Option<T>, StoreError> {
        if kind.chunked() {
            return self.chunk_get(kind, k, |v| dec(v));
        }
        self.data.get(key(kind, k))?.map(|v| dec(&v)).transpose()
    }

    /// Calls `f` with every (key without the kind byte, raw value) of `kind` under `prefix`, in
    /// key order, until it returns `false`.
    fn walk(
        &self,
        kind: Kind,
        prefix: &[u8],
        mut f: impl FnMut(&[u8], &[u8]) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        if kind.chunked() {
            return self.chunk_walk(kind, prefix, f);
        }
        for kv in self.data.scan_prefix(key(kind, prefix)) {
            let (k, v) = kv?;
            if !f(&k[1..], &v)? {
                break;
            }
        }
        Ok(())
    }

    /// Every (key without prefix, value) of a kind whose key starts with `prefix`.
    pub fn scan<T: DeserializeOwned>(
        &self,
        kind: Kind,
        prefix: &[u8],
    ) -> Result<Vec<(Vec<u8>, T)>, StoreError> {
        let mut out = Vec::new();
        self.walk(kind, prefix, |k, v| {
            out.push((k.to_vec(), dec(v)?));
            Ok(true)
        })?;
        Ok(out)
    }

    /// Keys (without prefix) of a kind.
    pub fn keys(&self, kind: Kind) -> Result<Vec<Vec<u8>>, StoreError> {
        self.keys_under(kind, b"", usize::MAX)
    }

    /// Calls `f` with every value of a kind under a prefix, in key order, one at a time (no
    /// list of them all in memory).
    pub fn for_each<T: DeserializeOwned>(
        &self,
        kind: Kind,
        prefix: &[u8],
        mut f: impl FnMut(&[u8], T),
    ) -> Result<(), StoreError> {
        self.walk(kind, prefix, |k, v| {
            f(k, dec(v)?);
            Ok(true)
        })
    }

    /// At most `limit` keys of a kind under a prefix, in key order (without the kind byte).
    pub fn keys_under(
        &self,
        kind: Kind,
        prefix: &[u8],
        limit: usize,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        self.walk(kind, prefix, |k, _| {
            out.push(k.to_vec());
            Ok(out.len() < limit)
        })?;
        Ok(out)
    }

    /// Entries of every kind (imports, sync state): what a failed import must leave unchanged
    /// (a chunk of persons or families counts once).
    pub fn entries(&self) -> usize {
        self.data.len()
    }

    /// Number of entries of a kind.
    pub fn count(&self, kind: Kind) -> Result<usize, StoreError> {
        if kind.chunked() {
            return self.chunk_count(kind);
        }
        Ok(self.data.scan_prefix([kind as u8]).count())
    }

    /// Reads a meta value.
    pub fn meta_get<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, StoreError> {
        self.meta.get(name)?.map(|v| dec(&v)).transpose()
    }

    /// Writes a meta value durably.
    pub fn meta_put<T: Serialize>(&self, name: &str, v: &T) -> Result<(), StoreError> {
        let _w = self.barrier.enter();
        self.meta.insert(name, enc(v)?)?;
        self.db.flush()?;
        Ok(())
    }

    /// Applies `tx` and appends `rec` to the audit trail in one atomic step: a write in the app
    /// and its audit entry land together or not at all. Durable after the next [`Store::flush`].
    /// If an expectation of `tx` does not hold, nothing is written ([`StoreError::Changed`]).
    pub fn apply_audited(&self, tx: &Tx, rec: &AuditRecord) -> Result<(), StoreError> {
        use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};
        let audit_value = enc(rec)?;
        let _w = self.barrier.enter();
        let chunked = tx.iter().any(|(k, _)| chunked_key(k));
        let _chunks = chunked.then(|| self.lock_chunks());
        let (writes, chunk_expect) = self.resolve(tx, chunked)?;
        let r = (&self.data, &self.audit).transaction(|(data, audit)| {
            for (k, v) in tx.expect.iter().chain(&chunk_expect) {
                if data.get(k.as_slice())?.as_deref() != v.as_deref() {
                    return Err(ConflictableTransactionError::Abort(()));
                }
            }
            for (k, v) in &writes {
                match v {
                    Some(v) => data.insert(k.as_slice(), v.as_slice())?,
                    None => data.remove(k.as_slice())?,
                };
            }
            audit.insert(&rec.seq.to_be_bytes(), audit_value.as_slice())?;
            Ok::<(), ConflictableTransactionError<()>>(())
        });
        match r {
            Ok(()) => {}
            Err(TransactionError::Storage(e)) => return Err(e.into()),
            Err(TransactionError::Abort(())) => return Err(StoreError::Changed),
        }
        Ok(())
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

    /// Makes every write so far durable.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    /// The last audit record, if any.
    pub fn audit_last(&self) -> Result<Option<AuditRecord>, StoreError> {
        self.audit.last()?.map(|(_, v)| dec(&v)).transpose()
    }

    /// Every audit record in order (a record that does not decode is an error in its place).
    pub fn audit_iter(&self) -> impl Iterator<Item = Result<AuditRecord, StoreError>> + '_ {
        self.audit
            .iter()
            .values()
            .map(|v| v.map_err(StoreError::from).and_then(|v| dec(&v)))
    }

    /// Overwrites a raw audit value (tests of tamper detection only).
    #[doc(hidden)]
    pub fn audit_tamper(&self, seq: u64, bytes: &[u8]) -> Result<(), StoreError> {
        let _w = self.barrier.enter();
        self.audit.insert(seq.to_be_bytes(), bytes)?;
        self.db.flush()?;
        Ok(())
    }
}

/// The first 8 bytes of BLAKE3 over a row's canonical encoding: the natural key of rows that
/// have no identifier of their own, so that re-importing the same row overwrites it.
pub fn row_hash<T: Serialize>(v: &T) -> Result<[u8; 8], StoreError> {
    let h = blake3::hash(&enc(v)?);
    let mut out = [0u8; 8];
    out.copy_from_slice(&h.as_bytes()[..8]);
    Ok(out)
}

/// `cf ‖ suffix`.
pub fn cf_key(cf: &str, suffix: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(cf.len() + suffix.len());
    k.extend_from_slice(cf.as_bytes());
    k.extend_from_slice(suffix);
    k
}

/// Serialized sync state kept in `meta`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncState {
    /// Unix time of the last completed round.
    pub last_sync: Option<i64>,
    /// Records the hub reported stored after the last batch.
    pub hub_records: u64,
    /// Next outbox sequence number.
    pub next_outbox: u64,
}

/// Finishes a committed journal, discards an uncommitted one.
fn recover(db: &sled::Db, data: &sled::Tree, meta: &sled::Tree) -> Result<(), StoreError> {
    if meta.get(JOURNAL_COMMIT)?.is_some() {
        tracing::warn!("finishing an import interrupted after its commit point");
        replay_journal(db, data, meta)?;
    } else if db
        .tree_names()
        .iter()
        .any(|n| n.as_ref() == JOURNAL.as_bytes())
        && !db.open_tree(JOURNAL)?.is_empty()
    {
        tracing::warn!("discarding an import interrupted before its commit point");
        clear_journal(db)?;
    }
    Ok(())
}

fn replay_journal(db: &sled::Db, data: &sled::Tree, meta: &sled::Tree) -> Result<(), StoreError> {
    let mut b = sled::Batch::default();
    let (mut n, mut bytes) = (0, 0);
    for v in db.open_tree(JOURNAL)?.iter().values() {
        let v = v?;
        bytes += v.len();
        match decode_write(&v)? {
            (k, Some(v)) => b.insert(k, v),
            (k, None) => b.remove(k),
        }
        n += 1;
        if n == JOURNAL_CHUNK || bytes >= JOURNAL_CHUNK_BYTES {
            data.apply_batch(std::mem::take(&mut b))?;
            db.flush()?;
            (n, bytes) = (0, 0);
        }
    }
    data.apply_batch(b)?;
    db.flush()?;
    clear_journal(db)?;
    meta.remove(JOURNAL_COMMIT)?;
    db.flush()?;
    Ok(())
}

fn clear_journal(db: &sled::Db) -> Result<(), StoreError> {
    db.drop_tree(JOURNAL)?;
    db.flush()?;
    Ok(())
}
