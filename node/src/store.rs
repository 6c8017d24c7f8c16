//! The node's store: the only module that touches sled.
//!
//! One tree, `data`, holds everything the imports write, under a one-byte kind prefix, so that a
//! whole import is one atomic `sled::Batch` (nothing is written unless every row is valid):
//!
//! | prefix | key | value |
//! |---|---|---|
//! | `P` | cf | [`Person`] |
//! | `F` | family id | [`Family`] |
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
pub const SCHEMA_VERSION: u32 = 1;

/// This store, for the shared open and its messages.
const OWNER: Owner = Owner {
    name: "node",
    version: SCHEMA_VERSION,
};

pub use siso_server::store::{Migrated, StoreError};

/// The schema migrations of the node's store, each from its version to the next (none yet:
/// version 1 is the first; `tests/fixtures/node-store-v1` is a store of it that every later
/// release must migrate and read).
pub const MIGRATIONS: &[siso_server::store::Migration] = &[];

/// Kinds of data, as key prefixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// Persons.
    Person = b'P',
    /// Families.
    Family = b'F',
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

/// Commits of at most this many writes are one sled `Batch`; larger ones go through the journal.
pub const DIRECT_COMMIT: usize = 20_000;

/// Journal entries written, or copied into `data`, per sled batch; each chunk is flushed, which
/// lets sled release the pages behind it.
const JOURNAL_CHUNK: usize = 2_000;

/// A set of writes applied atomically by [`Store::commit`] (a later write to the same key wins).
/// [`Store::apply_audited`] also checks its expectations: values read before the writes were
/// decided, which must not have changed meanwhile.
#[derive(Debug, Default)]
pub struct Tx {
    writes: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    expect: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl Tx {
    /// Expects `k` to hold `v` (absent: `None`) when the writes are applied (optimistic
    /// concurrency: a read-modify-write of a case, an idempotency key not yet used).
    pub fn expect<T: Serialize>(
        &mut self,
        kind: Kind,
        k: &[u8],
        v: Option<&T>,
    ) -> Result<(), StoreError> {
        self.expect.push((key(kind, k), v.map(enc).transpose()?));
        Ok(())
    }

    /// Puts a value.
    pub fn put<T: Serialize>(&mut self, kind: Kind, k: &[u8], v: &T) -> Result<(), StoreError> {
        self.writes.push((key(kind, k), Some(enc(v)?)));
        Ok(())
    }

    /// Deletes a key.
    pub fn delete(&mut self, kind: Kind, k: &[u8]) {
        self.writes.push((key(kind, k), None));
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

fn batch_of<'a>(writes: impl Iterator<Item = &'a (Vec<u8>, Option<Vec<u8>>)>) -> sled::Batch {
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
        };
        store.recover()?;
        Ok(store)
    }

    /// Finishes a committed journal, discards an uncommitted one.
    fn recover(&self) -> Result<(), StoreError> {
        if self.meta.get(JOURNAL_COMMIT)?.is_some() {
            tracing::warn!("finishing an import interrupted after its commit point");
            self.replay_journal()?;
        } else if !self.journal()?.is_empty() {
            tracing::warn!("discarding an import interrupted before its commit point");
            self.clear_journal()?;
        }
        Ok(())
    }

    fn journal(&self) -> Result<sled::Tree, StoreError> {
        Ok(self.db.open_tree(JOURNAL)?)
    }

    fn replay_journal(&self) -> Result<(), StoreError> {
        let mut b = sled::Batch::default();
        let mut n = 0;
        for v in self.journal()?.iter().values() {
            let v = v?;
            match decode_write(&v)? {
                (k, Some(v)) => b.insert(k, v),
                (k, None) => b.remove(k),
            }
            n += 1;
            if n == JOURNAL_CHUNK {
                self.data.apply_batch(std::mem::take(&mut b))?;
                self.db.flush()?;
                n = 0;
            }
        }
        self.data.apply_batch(b)?;
        self.db.flush()?;
        self.clear_journal()?;
        self.meta.remove(JOURNAL_COMMIT)?;
        self.db.flush()?;
        Ok(())
    }

    fn clear_journal(&self) -> Result<(), StoreError> {
        self.db.drop_tree(JOURNAL)?;
        self.db.flush()?;
        Ok(())
    }

    /// Applies a set of writes atomically and makes it durable: one sled batch when small,
    /// through the journal when large (see the module documentation).
    pub fn commit(&self, mut tx: Tx) -> Result<(), StoreError> {
        let _w = self.barrier.enter();
        if tx.writes.len() <= DIRECT_COMMIT {
            self.data.apply_batch(batch_of(tx.writes.iter()))?;
            self.db.flush()?;
            return Ok(());
        }
        // In key order, the last write of each key only (what a `Batch` would apply): sled
        // inserts in key order are several times cheaper than in file order.
        tx.writes.sort_by(|a, b| a.0.cmp(&b.0));
        tx.writes.dedup_by(|later, earlier| {
            if later.0 == earlier.0 {
                std::mem::swap(later, earlier);
                true
            } else {
                false
            }
        });
        self.clear_journal()?;
        let journal = self.journal()?;
        for (n, chunk) in tx.writes.chunks(JOURNAL_CHUNK).enumerate() {
            let mut b = sled::Batch::default();
            for (i, (k, v)) in chunk.iter().enumerate() {
                let seq = (n * JOURNAL_CHUNK + i) as u64;
                b.insert(&seq.to_be_bytes(), encode_write(k, v.as_deref()));
            }
            journal.apply_batch(b)?;
            self.db.flush()?;
        }
        // The commit point: from here on, opening the store finishes the copy.
        self.meta.insert(JOURNAL_COMMIT, &[1u8])?;
        self.db.flush()?;
        drop(tx);
        self.replay_journal()
    }

    /// Reads one value.
    pub fn get<T: DeserializeOwned>(&self, kind: Kind, k: &[u8]) -> Result<Option<T>, StoreError> {
        self.data.get(key(kind, k))?.map(|v| dec(&v)).transpose()
    }

    /// Every (key without prefix, value) of a kind whose key starts with `prefix`.
    pub fn scan<T: DeserializeOwned>(
        &self,
        kind: Kind,
        prefix: &[u8],
    ) -> Result<Vec<(Vec<u8>, T)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.data.scan_prefix(key(kind, prefix)) {
            let (k, v) = kv?;
            out.push((k[1..].to_vec(), dec(&v)?));
        }
        Ok(out)
    }

    /// Keys (without prefix) of a kind.
    pub fn keys(&self, kind: Kind) -> Result<Vec<Vec<u8>>, StoreError> {
        self.data
            .scan_prefix([kind as u8])
            .keys()
            .map(|k| k.map(|k| k[1..].to_vec()).map_err(StoreError::from))
            .collect()
    }

    /// Calls `f` with every value of a kind under a prefix, in key order, one at a time (no
    /// list of them all in memory).
    pub fn for_each<T: DeserializeOwned>(
        &self,
        kind: Kind,
        prefix: &[u8],
        mut f: impl FnMut(&[u8], T),
    ) -> Result<(), StoreError> {
        for kv in self.data.scan_prefix(key(kind, prefix)) {
            let (k, v) = kv?;
            f(&k[1..], dec(&v)?);
        }
        Ok(())
    }

    /// At most `limit` keys of a kind under a prefix, in key order (without the kind byte).
    pub fn keys_under(
        &self,
        kind: Kind,
        prefix: &[u8],
        limit: usize,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        self.data
            .scan_prefix(key(kind, prefix))
            .keys()
            .take(limit)
            .map(|k| k.map(|k| k[1..].to_vec()).map_err(StoreError::from))
            .collect()
    }

    /// Entries of every kind (imports, sync state): what a failed import must leave unchanged.
    pub fn entries(&self) -> usize {
        self.data.len()
    }

    /// Number of entries of a kind.
    pub fn count(&self, kind: Kind) -> usize {
        self.data.scan_prefix([kind as u8]).count()
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
        let r = (&self.data, &self.audit).transaction(|(data, audit)| {
            for (k, v) in &tx.expect {
                if data.get(k.as_slice())?.as_deref() != v.as_deref() {
                    return Err(ConflictableTransactionError::Abort(()));
                }
            }
            for (k, v) in &tx.writes {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn big_tx(n: usize, tag: u8) -> Tx {
        let mut tx = Tx::default();
        for i in 0..n {
            tx.put(
                Kind::Person,
                format!("P{i:07}").as_bytes(),
                &(i as u64, tag),
            )
            .unwrap();
        }
        tx.delete(Kind::Person, b"P0000000");
        tx
    }

    fn audit_record(seq: u64) -> AuditRecord {
        AuditRecord {
            seq,
            time: 0,
            user: "u".into(),
            role: "r".into(),
            action: "registrazione".into(),
            persons: Vec::new(),
            detail: String::new(),
            addr: String::new(),
            prev: [0; 32],
        }
    }

    #[test]
    fn an_audited_write_checks_what_it_read_and_lands_with_its_record_or_not_at_all() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(&d.path().join("s"), OpenMode::Create).unwrap();
        let mut tx = Tx::default();
        tx.put(Kind::Caso, b"k", &1u32).unwrap();
        s.apply_audited(&tx, &audit_record(0)).unwrap();
        // Someone read 1 and writes 2; someone else, who also read 1, then writes 3: refused.
        let mut first = Tx::default();
        first.expect(Kind::Caso, b"k", Some(&1u32)).unwrap();
        first.put(Kind::Caso, b"k", &2u32).unwrap();
        let mut second = Tx::default();
        second.expect(Kind::Caso, b"k", Some(&1u32)).unwrap();
        second.put(Kind::Caso, b"k", &3u32).unwrap();
        second.put(Kind::Attivita, b"other", &9u32).unwrap();
        s.apply_audited(&first, &audit_record(1)).unwrap();
        assert!(matches!(
            s.apply_audited(&second, &audit_record(2)),
            Err(StoreError::Changed)
        ));
        assert_eq!(s.get::<u32>(Kind::Caso, b"k").unwrap(), Some(2));
        assert_eq!(s.get::<u32>(Kind::Attivita, b"other").unwrap(), None);
        assert_eq!(
            s.audit_iter().count(),
            2,
            "the refused write's record is not kept"
        );
        // An absent key expected absent.
        let mut once = Tx::default();
        once.expect::<u32>(Kind::Idempotency, b"key", None).unwrap();
        once.put(Kind::Idempotency, b"key", &7u32).unwrap();
        s.apply_audited(&once, &audit_record(2)).unwrap();
        assert!(matches!(
            s.apply_audited(&once, &audit_record(3)),
            Err(StoreError::Changed)
        ));
    }

    #[test]
    fn a_large_commit_goes_through_the_journal_and_leaves_it_empty() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path(), OpenMode::Create).unwrap();
        let n = DIRECT_COMMIT * 2 + 17;
        s.commit(big_tx(n, 1)).unwrap();
        // The later delete of the first key won; everything else is there.
        assert_eq!(s.count(Kind::Person), n - 1);
        assert_eq!(
            s.get::<(u64, u8)>(Kind::Person, format!("P{:07}", n - 1).as_bytes())
                .unwrap(),
            Some(((n - 1) as u64, 1))
        );
        assert!(s.journal().unwrap().is_empty());
        assert!(s.meta.get(JOURNAL_COMMIT).unwrap().is_none());
    }

    /// Stages a journal as `commit` does, optionally marks it committed, and "crashes".
    fn stage(dir: &Path, n: usize, committed: bool) {
        let s = Store::open(dir, OpenMode::Create).unwrap();
        let tx = big_tx(n, 2);
        let mut b = sled::Batch::default();
        for (i, (k, v)) in tx.writes.iter().enumerate() {
            b.insert(&(i as u64).to_be_bytes(), encode_write(k, v.as_deref()));
        }
        s.journal().unwrap().apply_batch(b).unwrap();
        if committed {
            s.meta.insert(JOURNAL_COMMIT, &[1u8]).unwrap();
        }
        s.db.flush().unwrap();
    }

    /// Opens after a "crash" (sled releases its file lock when its background thread lets go).
    fn reopen(dir: &Path) -> Store {
        for _ in 0..100 {
            match Store::open(dir, OpenMode::Existing) {
                Ok(s) => return s,
                Err(StoreError::Sled(sled::Error::Io(_))) => {
                    std::thread::sleep(std::time::Duration::from_millis(20))
                }
                Err(e) => panic!("{e}"),
            }
        }
        panic!("the store stayed locked")
    }

    #[test]
    fn a_committed_journal_is_finished_at_open_and_an_uncommitted_one_discarded() {
        let n = DIRECT_COMMIT + 5;
        let dir = tempfile::tempdir().unwrap();
        stage(dir.path(), n, true);
        let s = reopen(dir.path());
        assert_eq!(s.count(Kind::Person), n - 1);
        assert!(s.journal().unwrap().is_empty());
        assert!(s.meta.get(JOURNAL_COMMIT).unwrap().is_none());
        drop(s);

        let dir = tempfile::tempdir().unwrap();
        stage(dir.path(), n, false);
        let s = reopen(dir.path());
        assert_eq!(s.count(Kind::Person), 0);
        assert!(s.journal().unwrap().is_empty());
    }
}
