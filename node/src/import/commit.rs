//! The commit stage of every kind but the anagrafe (`anagrafe.rs`): valid rows into one store
//! transaction. They add facts and records per person, keyed so that a re-imported row
//! replaces itself.
//!
//! **Invariant:** an import never touches a record written in the web app: app records end in a
//! 16-byte random id that no row hash can equal, and a row whose natural key matches an app
//! record of the same person is left out (counted in `already_in_app`), not duplicated.

use std::collections::{HashMap, HashSet};

use super::validate::Row;
use super::{ImportError, ImportKind, ImportSummary};
use crate::model::*;
use crate::store::{cf_key, row_hash, Kind, Store, StoreError, Tx};

/// A social-service record as the web app submits it, validated like an import row.
#[derive(Debug, Clone)]
pub enum AppRow {
    /// An access and its person.
    Accesso(Person, Accesso),
    /// A case and its person.
    Presa(Person, PresaInCarico),
    /// An intervention and its person.
    Intervento(Person, Intervento),
}

/// The natural key an import gives a record (the 8-byte suffix of its store key).
pub fn natural_key(row: &AppRow) -> Result<[u8; 8], StoreError> {
    match row {
        AppRow::Accesso(_, v) => row_hash(v),
        AppRow::Presa(_, v) => natural_presa(v),
        AppRow::Intervento(_, v) => natural_intervento(v),
    }
}

fn natural_presa(v: &PresaInCarico) -> Result<[u8; 8], StoreError> {
    row_hash(&(v.inizio, v.area))
}

fn natural_intervento(v: &Intervento) -> Result<[u8; 8], StoreError> {
    row_hash(&(v.tipo, v.area, v.inizio))
}

/// (cf, natural key) of every record of `kind` written in the app.
fn app_keys(store: &Store, kind: AppKind) -> Result<HashSet<Vec<u8>>, StoreError> {
    let mut out = HashSet::new();
    store.for_each::<AppRecord>(Kind::AppRecord, b"", |_, r| {
        if let (true, Some(n)) = (r.kind == kind, r.natural) {
            out.insert(cf_key(&r.cf, &n));
        }
    })?;
    Ok(out)
}

/// The transaction that imports `rows` of `kind` (any but the anagrafe), counting persons in
/// `summary`.
pub(super) fn build_tx(
    store: &Store,
    kind: ImportKind,
    rows: &[Row],
    summary: &mut ImportSummary,
) -> Result<Tx, ImportError> {
    let mut tx = Tx::default();
    let mut persons: HashSet<&str> = HashSet::new();
    let app_kind = match kind {
        ImportKind::Accessi => Some(AppKind::Accesso),
        ImportKind::PreseInCarico => Some(AppKind::Caso),
        ImportKind::Interventi => Some(AppKind::Intervento),
        _ => None,
    };
    let in_app = match app_kind {
        Some(k) => app_keys(store, k)?,
        None => HashSet::new(),
    };
    let mut subjects: HashMap<&str, &Person> = HashMap::new();
    for r in rows {
        let natural = match r {
            Row::Accesso(p, v) => Some((&p.cf, row_hash(v)?)),
            Row::Presa(p, v) => Some((&p.cf, natural_presa(v)?)),
            Row::Intervento(p, v) => Some((&p.cf, natural_intervento(v)?)),
            _ => None,
        };
        if let Some((cf, n)) = natural {
            if in_app.contains(&cf_key(cf, &n)) {
                summary.already_in_app += 1;
                continue;
            }
        }
        match r {
            Row::Sanitaria(cf, v) => {
                persons.insert(cf);
                tx.put(Kind::Sanitaria, cf.as_bytes(), v)?;
            }
            Row::Reddito(cf, v) => {
                persons.insert(cf);
                tx.put(Kind::Reddito, &cf_key(cf, &v.anno.to_be_bytes()), v)?;
            }
            Row::Immobile(cf, v) => {
                persons.insert(cf);
                let k = row_hash(&(&v.categoria, v.rendita, v.quota))?;
                tx.put(Kind::Immobile, &cf_key(cf, &k), v)?;
            }
            Row::Locazione(cf, v) => {
                persons.insert(cf);
                let k = row_hash(&(&v.ruolo, v.inizio))?;
                tx.put(Kind::Locazione, &cf_key(cf, &k), v)?;
            }
            Row::Tributo(cf, v) => {
                persons.insert(cf);
                let k = row_hash(&(&v.tributo, v.anno))?;
                tx.put(Kind::Tributo, &cf_key(cf, &k), v)?;
            }
            Row::Accesso(p, v) => {
                persons.insert(&p.cf);
                subjects.entry(&p.cf).or_insert(p);
                let k = row_hash(v)?;
                tx.put(Kind::Accesso, &cf_key(&p.cf, &k), v)?;
            }
            Row::Presa(p, v) => {
                persons.insert(&p.cf);
                subjects.entry(&p.cf).or_insert(p);
                let k = natural_presa(v)?;
                tx.put(Kind::PresaInCarico, &cf_key(&p.cf, &k), v)?;
            }
            Row::Intervento(p, v) => {
                persons.insert(&p.cf);
                subjects.entry(&p.cf).or_insert(p);
                let k = natural_intervento(v)?;
                tx.put(Kind::Intervento, &cf_key(&p.cf, &k), v)?;
            }
            Row::Anagrafe(_) => {}
        }
    }
    // Persons not in the anagrafe (moved away, not resident) are recorded as non-residents.
    for (cf, p) in subjects {
        let known: Option<Person> = store.get(Kind::Person, cf.as_bytes())?;
        match known {
            None => tx.put(Kind::Person, cf.as_bytes(), p)?,
            Some(k) if !k.resident && k.cognome.is_empty() && !p.cognome.is_empty() => {
                tx.put(Kind::Person, cf.as_bytes(), p)?
            }
            Some(_) => {}
        }
    }
    summary.persons = persons.len() as u64;
    Ok(tx)
}
