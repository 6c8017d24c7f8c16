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
//!
//! A second tree, `access_log`, records who read which person and when (seq u64 → entry), and
//! `meta` holds the schema version and sync state. Keys are big-endian.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use siso_shared::wire::{decode_value, encode_value};

/// The schema version this build reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

/// Store errors.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled failed.
    #[error("store: {0}")]
    Sled(#[from] sled::Error),
    /// A value could not be decoded or encoded.
    #[error("store: corrupt value: {0}")]
    Corrupt(String),
    /// Another schema version.
    #[error("store schema version {found}, this node reads version {SCHEMA_VERSION}")]
    Schema {
        /// Found.
        found: u32,
    },
    /// No store.
    #[error("no node store in {0}; run `siso-node init` first")]
    Missing(String),
}

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

/// A set of writes applied atomically by [`Store::commit`].
#[derive(Debug, Default)]
pub struct Tx {
    batch: sled::Batch,
    writes: usize,
}

impl Tx {
    /// Puts a value.
    pub fn put<T: Serialize>(&mut self, kind: Kind, k: &[u8], v: &T) -> Result<(), StoreError> {
        self.batch.insert(key(kind, k), enc(v)?);
        self.writes += 1;
        Ok(())
    }

    /// Deletes a key.
    pub fn delete(&mut self, kind: Kind, k: &[u8]) {
        self.batch.remove(key(kind, k));
        self.writes += 1;
    }

    /// Writes in the set.
    pub fn len(&self) -> usize {
        self.writes
    }

    /// True if nothing would be written.
    pub fn is_empty(&self) -> bool {
        self.writes == 0
    }
}

/// One entry of the access log (read by the web app, later).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessLogEntry {
    /// Unix time, seconds.
    pub time: i64,
    /// The operator who read.
    pub operator: String,
    /// Whose data.
    pub cf: String,
    /// What was done (`view`, `edit`, …).
    pub action: String,
}

/// The node store.
#[derive(Debug, Clone)]
pub struct Store {
    db: sled::Db,
    data: sled::Tree,
    meta: sled::Tree,
    access_log: sled::Tree,
}

impl Store {
    /// Creates (or opens) a store.
    pub fn create(dir: &Path) -> Result<Store, StoreError> {
        Self::open_inner(dir, true)
    }

    /// Opens an existing store.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        if !dir.join("conf").exists() {
            return Err(StoreError::Missing(dir.display().to_string()));
        }
        Self::open_inner(dir, false)
    }

    fn open_inner(dir: &Path, create: bool) -> Result<Store, StoreError> {
        let db = sled::Config::new().path(dir).open()?;
        let meta = db.open_tree("meta")?;
        match meta.get("schema_version")? {
            Some(v) => {
                let found = <[u8; 4]>::try_from(v.as_ref())
                    .map(u32::from_be_bytes)
                    .map_err(|_| StoreError::Corrupt("schema_version".into()))?;
                if found != SCHEMA_VERSION {
                    return Err(StoreError::Schema { found });
                }
            }
            None if create => {
                meta.insert("schema_version", &SCHEMA_VERSION.to_be_bytes())?;
                db.flush()?;
            }
            None => return Err(StoreError::Missing(dir.display().to_string())),
        }
        Ok(Store {
            data: db.open_tree("data")?,
            access_log: db.open_tree("access_log")?,
            meta,
            db,
        })
    }

    /// Applies a set of writes atomically and makes it durable.
    pub fn commit(&self, tx: Tx) -> Result<(), StoreError> {
        self.data.apply_batch(tx.batch)?;
        self.db.flush()?;
        Ok(())
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
        self.meta.insert(name, enc(v)?)?;
        self.db.flush()?;
        Ok(())
    }

    /// Appends to the access log.
    pub fn log_access(&self, e: &AccessLogEntry) -> Result<(), StoreError> {
        let seq = self.db.generate_id()?;
        self.access_log.insert(seq.to_be_bytes(), enc(e)?)?;
        self.db.flush()?;
        Ok(())
    }

    /// The access log, oldest first.
    pub fn access_log(&self) -> Result<Vec<AccessLogEntry>, StoreError> {
        self.access_log
            .iter()
            .values()
            .map(|v| v.map_err(StoreError::from).and_then(|v| dec(&v)))
            .collect()
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
