//! The commit stage: valid rows into one store transaction. The anagrafe replaces the families
//! and marks residents missing from the file as non-residents; the other kinds add facts and
//! records per person, keyed so that a re-imported row replaces itself.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::validate::Row;
use super::{ImportError, ImportKind, ImportSummary};
use crate::model::*;
use crate::store::{cf_key, row_hash, Kind, Store, Tx};

/// The transaction that imports `rows` of `kind`, counting persons and households in
/// `summary`.
pub(super) fn build_tx(
    store: &Store,
    kind: ImportKind,
    rows: &[Row],
    summary: &mut ImportSummary,
) -> Result<Tx, ImportError> {
    let mut tx = Tx::default();
    let mut persons: HashSet<&str> = HashSet::new();
    if kind == ImportKind::Anagrafe {
        let mut families: BTreeMap<String, Vec<&Person>> = BTreeMap::new();
        for r in rows {
            if let Row::Anagrafe(p) = r {
                persons.insert(&p.cf);
                if let Some(fam) = &p.famiglia {
                    families.entry(fam.clone()).or_default().push(p);
                }
                tx.put(Kind::Person, p.cf.as_bytes(), p)?;
            }
        }
        // The file is the registry as of today: families are replaced, and residents who are
        // no longer in it keep their records but become non-residents.
        for k in store.keys(Kind::Family)? {
            if !families.contains_key(String::from_utf8_lossy(&k).as_ref()) {
                tx.delete(Kind::Family, &k);
            }
        }
        for (k, p) in store.scan::<Person>(Kind::Person, b"")? {
            if p.resident && !persons.contains(String::from_utf8_lossy(&k).as_ref()) {
                let moved = Person {
                    resident: false,
                    famiglia: None,
                    ..p
                };
                tx.put(Kind::Person, &k, &moved)?;
            }
        }
        for (id, members) in &families {
            let reference = members
                .iter()
                .find(|p| p.rapporto.trim().eq_ignore_ascii_case("IS"))
                .or_else(|| {
                    members
                        .iter()
                        .min_by_key(|p| (p.data_nascita, p.cf.clone()))
                })
                .map(|p| p.cf.clone())
                .unwrap_or_default();
            let mut cfs: Vec<String> = members.iter().map(|p| p.cf.clone()).collect();
            cfs.sort();
            tx.put(
                Kind::Family,
                id.as_bytes(),
                &Family {
                    id: id.clone(),
                    members: cfs,
                    reference,
                },
            )?;
        }
        summary.households = families.len() as u64;
    } else {
        let mut subjects: HashMap<&str, &Person> = HashMap::new();
        for r in rows {
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
                    let k = row_hash(&(v.inizio, v.area))?;
                    tx.put(Kind::PresaInCarico, &cf_key(&p.cf, &k), v)?;
                }
                Row::Intervento(p, v) => {
                    persons.insert(&p.cf);
                    subjects.entry(&p.cf).or_insert(p);
                    let k = row_hash(&(v.tipo, v.area, v.inizio))?;
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
    }
    summary.persons = persons.len() as u64;
    Ok(tx)
}
