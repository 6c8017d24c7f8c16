//! Persons as the operators reach them: an opaque id per person (never the codice fiscale in a
//! URL or a log line) and the person search — by codice fiscale, by surname and name (accents
//! and case ignored, any prefix of "surname name" or "name surname"), by household (anagrafe
//! family id).
//!
//! A person's id is a keyed BLAKE3 of the codice fiscale under a random key kept in the node's
//! store (`meta` `person_id_key`): stable across imports and restarts, and opaque to anyone
//! without the node's store.
//!
//! The search index lives in memory ([`PersonIndex`]), built from the store when the web app
//! starts; persons the web app itself writes are to be added with [`PersonIndex::insert`]
//! (nothing in the app writes persons yet). Imports need the store to themselves
//! (sled admits one process), so they run while `serve` is stopped and the next start indexes
//! what they wrote: imports pay nothing for the index, and the store holds no index to keep
//! consistent. Measured in docs/benchmarks.md.
//!
//! **Invariant:** a search never answers from the index alone: each candidate is read back
//! from the store, so a person is shown as the store has them.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::model::{Family, Person};
use crate::store::{Kind, Store, StoreError};

/// The `meta` key of the person id key.
const ID_KEY: &str = "person_id_key";

/// Most rows a search returns.
pub const MAX_ROWS: usize = 50;

/// The key that makes person ids (32 random bytes). Never printed.
#[derive(Clone)]
pub struct IdKey([u8; 32]);

impl std::fmt::Debug for IdKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdKey(<redacted>)")
    }
}

impl IdKey {
    /// The id of the person with this codice fiscale: 16 bytes.
    pub fn id(&self, cf: &str) -> [u8; 16] {
        let mut h = blake3::Hasher::new_keyed(&self.0);
        h.update(b"siso/node/person-id/v1\0");
        h.update(cf.as_bytes());
        let mut out = [0u8; 16];
        out.copy_from_slice(&h.finalize().as_bytes()[..16]);
        out
    }

    /// The id as it appears in URLs and JSON (32 hex digits).
    pub fn id_hex(&self, cf: &str) -> String {
        hex::encode(self.id(cf))
    }
}

/// Errors of the person functions.
#[derive(Debug, thiserror::Error)]
pub enum PersonError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The system random source failed (creating the id key).
    #[error("no randomness available for the person id key")]
    Random,
}

/// The node's person id key, created (durably) the first time it is needed.
pub fn id_key(store: &Store) -> Result<IdKey, PersonError> {
    if let Some(k) = store.meta_get::<[u8; 32]>(ID_KEY)? {
        return Ok(IdKey(k));
    }
    let mut k = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut k)
        .map_err(|_| PersonError::Random)?;
    store.meta_put(ID_KEY, &k)?;
    Ok(IdKey(k))
}

/// A name folded for search: ASCII (accents removed), lower case, letters and digits only, one
/// space between words ("D'Angelo" → "d angelo").
pub fn fold(s: &str) -> String {
    let ascii = deunicode::deunicode(s).to_ascii_lowercase();
    let kept: String = ascii
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { ' ' })
        .collect();
    kept.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// One row of a search result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonRow {
    /// The person's id.
    pub id: String,
    /// Codice fiscale.
    pub codice_fiscale: String,
    /// Surname.
    pub cognome: String,
    /// Given name.
    pub nome: String,
    /// Anagrafe family, if resident.
    pub id_famiglia: Option<String>,
}

/// One index entry: a folded name in the arena, and the person's codice fiscale.
#[derive(Debug, Clone, Copy)]
struct Entry {
    start: u32,
    len: u16,
    cf: [u8; 16],
}

/// The in-memory person index: folded "surname name" and "name surname" sorted for prefix
/// search, and id → codice fiscale. About 70 bytes a person.
pub struct PersonIndex {
    key: IdKey,
    arena: String,
    entries: Vec<Entry>,
    by_id: HashMap<[u8; 16], [u8; 16]>,
}

impl std::fmt::Debug for PersonIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersonIndex")
            .field("persons", &self.by_id.len())
            .finish_non_exhaustive()
    }
}

fn cf_bytes(cf: &str) -> Option<[u8; 16]> {
    cf.as_bytes().try_into().ok()
}

fn looks_like_cf(q: &str) -> bool {
    q.len() >= 6
        && q.len() <= 16
        && q.bytes().all(|b| b.is_ascii_alphanumeric())
        && q.bytes().take(6).all(|b| b.is_ascii_alphabetic())
        && q.bytes().any(|b| b.is_ascii_digit())
}

impl PersonIndex {
    /// Indexes every person of the store.
    pub fn build(store: &Store, key: IdKey) -> Result<PersonIndex, StoreError> {
        let mut ix = PersonIndex {
            key,
            arena: String::new(),
            entries: Vec::new(),
            by_id: HashMap::new(),
        };
        store.for_each::<Person>(Kind::Person, b"", |_, p| {
            ix.push(&p);
        })?;
        ix.arena.shrink_to_fit();
        ix.entries.shrink_to_fit();
        let arena = &ix.arena;
        let name = |e: &Entry| &arena[e.start as usize..e.start as usize + e.len as usize];
        ix.entries
            .sort_unstable_by(|a, b| name(a).cmp(name(b)).then(a.cf.cmp(&b.cf)));
        Ok(ix)
    }

    /// Appends a person's entries (unsorted).
    fn push(&mut self, p: &Person) -> Vec<Entry> {
        let Some(cf) = cf_bytes(&p.cf) else {
            return Vec::new();
        };
        self.by_id.insert(self.key.id(&p.cf), cf);
        let (surname, name) = (fold(&p.cognome), fold(&p.nome));
        let mut added = Vec::new();
        for names in [format!("{surname} {name}"), format!("{name} {surname}")] {
            let names = names.trim();
            if names.is_empty() || names.len() > usize::from(u16::MAX) {
                continue;
            }
            let e = Entry {
                start: self.arena.len() as u32,
                len: names.len() as u16,
                cf,
            };
            self.arena.push_str(names);
            self.entries.push(e);
            added.push(e);
        }
        added
    }

    fn name(&self, e: &Entry) -> &str {
        &self.arena[e.start as usize..e.start as usize + e.len as usize]
    }

    /// Adds (or re-adds, after a change of name) a person the web app wrote.
    pub fn insert(&mut self, p: &Person) {
        let start = self.entries.len();
        self.push(p);
        let added: Vec<Entry> = self.entries.drain(start..).collect();
        for e in added {
            let at = self
                .entries
                .partition_point(|x| (self.name(x), x.cf) < (self.name(&e), e.cf));
            self.entries.insert(at, e);
        }
    }

    /// Persons indexed.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// True if nobody is indexed.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The person with an id (32 hex digits), if any, as the store has them.
    pub fn by_id(&self, store: &Store, id: &str) -> Result<Option<Person>, StoreError> {
        let Some(id) = hex::decode(id)
            .ok()
            .and_then(|b| <[u8; 16]>::try_from(b).ok())
        else {
            return Ok(None);
        };
        match self.by_id.get(&id) {
            Some(cf) => store.get(Kind::Person, cf),
            None => Ok(None),
        }
    }

    /// The codici fiscali whose folded names begin with `prefix`, in name order, at most `n`.
    fn by_name(&self, prefix: &str, n: usize) -> Vec<String> {
        let first = self.entries.partition_point(|e| self.name(e) < prefix);
        let mut out: Vec<String> = Vec::new();
        for e in &self.entries[first..] {
            if !self.name(e).starts_with(prefix) || out.len() >= n {
                break;
            }
            let cf = String::from_utf8_lossy(&e.cf).into_owned();
            if !out.contains(&cf) {
                out.push(cf);
            }
        }
        out
    }

    /// Persons matching `query`, at most [`MAX_ROWS`], sorted by surname, name, codice fiscale:
    /// - all digits: the members of that anagrafe family;
    /// - a codice fiscale or its beginning (six letters, then digits…): those codes;
    /// - otherwise words: persons whose "surname name" or "name surname" begins with them
    ///   (accents, case and punctuation ignored), e.g. `ross`, `rossi mar`, `mario rossi`.
    pub fn search(&self, store: &Store, query: &str) -> Result<Vec<PersonRow>, StoreError> {
        let q = query.trim();
        let by_name = !q.is_empty() && !q.bytes().all(|b| b.is_ascii_digit()) && !looks_like_cf(q);
        let folded = fold(q);
        let cfs: Vec<String> = if q.is_empty() || (by_name && folded.is_empty()) {
            Vec::new()
        } else if q.bytes().all(|b| b.is_ascii_digit()) {
            store
                .get::<Family>(Kind::Family, q.as_bytes())?
                .map(|f| f.members)
                .unwrap_or_default()
        } else if looks_like_cf(q) {
            store
                .keys_under(Kind::Person, q.to_ascii_uppercase().as_bytes(), MAX_ROWS)?
                .into_iter()
                .map(|k| String::from_utf8_lossy(&k).into_owned())
                .collect()
        } else {
            self.by_name(&folded, MAX_ROWS)
        };
        let mut rows = Vec::new();
        for cf in cfs {
            let Some(p) = store.get::<Person>(Kind::Person, cf.as_bytes())? else {
                continue;
            };
            let (surname, name) = (fold(&p.cognome), fold(&p.nome));
            let still = [format!("{surname} {name}"), format!("{name} {surname}")]
                .iter()
                .any(|n| n.starts_with(&folded));
            if by_name && !still {
                continue;
            }
            rows.push(PersonRow {
                id: self.key.id_hex(&p.cf),
                codice_fiscale: p.cf.clone(),
                cognome: p.cognome.clone(),
                nome: p.nome.clone(),
                id_famiglia: p.famiglia.clone(),
            });
        }
        rows.sort_by(|a, b| {
            (&a.cognome, &a.nome, &a.codice_fiscale).cmp(&(&b.cognome, &b.nome, &b.codice_fiscale))
        });
        rows.truncate(MAX_ROWS);
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_ignores_accents_case_and_punctuation() {
        assert_eq!(fold("  D'Angelo  "), "d angelo");
        assert_eq!(fold("NICOLÒ"), "nicolo");
        assert_eq!(fold("De Sanctis-Rossi"), "de sanctis rossi");
        assert_eq!(fold("Žižek"), "zizek");
        assert!(looks_like_cf("RSSMRA80") && looks_like_cf("rssmra80a01h501u"));
        assert!(!looks_like_cf("rossi") && !looks_like_cf("1001") && !looks_like_cf("rossi mario"));
    }
}
