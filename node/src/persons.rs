//! Persons as the operators reach them: an opaque id per person (never the codice fiscale in a
//! URL or a log line) and the person search — by codice fiscale, by surname and name (accents
//! and case ignored, any prefix of either), by household (anagrafe family id).
//!
//! A person's id is a keyed BLAKE3 of the codice fiscale under a random key kept in the node's
//! store (`meta` `person_id_key`): stable, and opaque to anyone without the node's store. The
//! store keeps `id → cf` (`i`) and the name index (`n`: "surname name" and "name surname",
//! normalised, ‖ 0 ‖ cf); every write of a person through [`index_person`] keeps them, in the
//! same transaction. A name index entry whose person has since changed name is never shown: each
//! candidate is checked against the person's record.
//!
//! **Invariant:** every person written by an import has its id and index entries in the same
//! transaction; a store written before the index existed is indexed once ([`ensure_index`]).

use serde::{Deserialize, Serialize};

use crate::model::{Family, Person};
use crate::store::{Kind, Store, StoreError, Tx};

/// The `meta` key of the person id key.
const ID_KEY: &str = "person_id_key";
/// The `meta` key of the index version; 1 once every person is indexed.
const INDEX_VERSION: &str = "person_index";

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
/// space between words.
pub fn fold(s: &str) -> String {
    let ascii = deunicode::deunicode(s).to_ascii_lowercase();
    let kept: String = ascii
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { ' ' })
        .collect();
    kept.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn index_key(names: &str, cf: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(names.len() + 1 + cf.len());
    k.extend_from_slice(names.as_bytes());
    k.push(0);
    k.extend_from_slice(cf.as_bytes());
    k
}

/// Adds a person's id and name index entries to a transaction that writes the person.
pub fn index_person(tx: &mut Tx, key: &IdKey, p: &Person) -> Result<(), StoreError> {
    tx.put(Kind::PersonId, &key.id(&p.cf), &p.cf)?;
    let (surname, name) = (fold(&p.cognome), fold(&p.nome));
    if surname.is_empty() && name.is_empty() {
        return Ok(());
    }
    for names in [format!("{surname} {name}"), format!("{name} {surname}")] {
        tx.put(Kind::NameIndex, &index_key(names.trim(), &p.cf), &())?;
    }
    Ok(())
}

/// Indexes every person of a store written before the index existed (once; then a no-op).
pub fn ensure_index(store: &Store) -> Result<usize, PersonError> {
    if store.meta_get::<u32>(INDEX_VERSION)? == Some(1) {
        return Ok(0);
    }
    let key = id_key(store)?;
    let mut tx = Tx::default();
    let mut n = 0;
    for (_, p) in store.scan::<Person>(Kind::Person, b"")? {
        index_person(&mut tx, &key, &p)?;
        n += 1;
    }
    store.commit(tx)?;
    store.meta_put(INDEX_VERSION, &1u32)?;
    Ok(n)
}

/// Marks a new store as indexed (nothing to index yet).
pub fn mark_indexed(store: &Store) -> Result<(), PersonError> {
    store.meta_put(INDEX_VERSION, &1u32)?;
    Ok(())
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

fn row(key: &IdKey, p: &Person) -> PersonRow {
    PersonRow {
        id: key.id_hex(&p.cf),
        codice_fiscale: p.cf.clone(),
        cognome: p.cognome.clone(),
        nome: p.nome.clone(),
        id_famiglia: p.famiglia.clone(),
    }
}

/// What a query looks for.
fn looks_like_cf(q: &str) -> bool {
    q.len() >= 6
        && q.len() <= 16
        && q.bytes().all(|b| b.is_ascii_alphanumeric())
        && q.bytes().take(6).all(|b| b.is_ascii_alphabetic())
        && q.bytes().any(|b| b.is_ascii_digit())
}

/// Persons matching `query`, at most [`MAX_ROWS`], sorted by surname, name, codice fiscale:
/// - all digits: the members of that anagrafe family;
/// - a codice fiscale or its beginning (six letters, then digits…): those codes;
/// - otherwise words: persons whose "surname name" or "name surname" begins with them
///   (accents, case and apostrophes ignored), e.g. `ross`, `rossi mar`, `mario rossi`.
pub fn search(store: &Store, key: &IdKey, query: &str) -> Result<Vec<PersonRow>, StoreError> {
    let q = query.trim();
    let mut cfs: Vec<String> = Vec::new();
    if q.is_empty() {
        return Ok(Vec::new());
    } else if q.bytes().all(|b| b.is_ascii_digit()) {
        if let Some(f) = store.get::<Family>(Kind::Family, q.as_bytes())? {
            cfs = f.members;
        }
    } else if looks_like_cf(q) {
        let upper = q.to_ascii_uppercase();
        cfs = store
            .keys_under(Kind::Person, upper.as_bytes(), MAX_ROWS)?
            .into_iter()
            .map(|k| String::from_utf8_lossy(&k).into_owned())
            .collect();
    } else {
        let folded = fold(q);
        if folded.is_empty() {
            return Ok(Vec::new());
        }
        // Twice the rows: each person is indexed in both orders.
        for k in store.keys_under(Kind::NameIndex, folded.as_bytes(), 4 * MAX_ROWS)? {
            if let Some(pos) = k.iter().position(|&b| b == 0) {
                let cf = String::from_utf8_lossy(&k[pos + 1..]).into_owned();
                if !cfs.contains(&cf) {
                    cfs.push(cf);
                }
            }
        }
    }
    let mut rows = Vec::new();
    for cf in cfs {
        let Some(p) = store.get::<Person>(Kind::Person, cf.as_bytes())? else {
            continue;
        };
        // A stale index entry (the person's name changed since) matches no more.
        let names = [
            format!("{} {}", fold(&p.cognome), fold(&p.nome)),
            format!("{} {}", fold(&p.nome), fold(&p.cognome)),
        ];
        let folded = fold(q);
        let by_name = !looks_like_cf(q) && !q.bytes().all(|b| b.is_ascii_digit());
        if by_name && !names.iter().any(|n| n.starts_with(&folded)) {
            continue;
        }
        rows.push(row(key, &p));
    }
    rows.sort_by(|a, b| {
        (&a.cognome, &a.nome, &a.codice_fiscale).cmp(&(&b.cognome, &b.nome, &b.codice_fiscale))
    });
    rows.truncate(MAX_ROWS);
    Ok(rows)
}

/// The person with an id (32 hex digits), if any.
pub fn by_id(store: &Store, id: &str) -> Result<Option<Person>, StoreError> {
    let Ok(bytes) = hex::decode(id) else {
        return Ok(None);
    };
    if bytes.len() != 16 {
        return Ok(None);
    }
    let Some(cf) = store.get::<String>(Kind::PersonId, &bytes)? else {
        return Ok(None);
    };
    store.get(Kind::Person, cf.as_bytes())
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
