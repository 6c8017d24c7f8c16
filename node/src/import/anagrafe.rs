//! The anagrafe's commit stage, row by row: each valid person goes into the transaction as it
//! is read, and only what the families need (a few bytes per person) is kept besides, so an
//! import of a million persons holds no million `Person` values (docs/benchmarks.md).
//!
//! The file is the registry as of today: families are replaced, and residents who are no longer
//! in it keep their records but become non-residents.

use std::collections::HashSet;

use time::Date;

use super::ImportError;
use crate::model::{Family, Person};
use crate::persons::IdKey;
use crate::store::{Kind, Store, Tx};

/// What a family needs of one member.
struct Member {
    /// Index of the family id in `Anagrafe::family_ids`.
    family: u32,
    cf: [u8; 16],
    /// Marked `IS` (the reference person).
    reference: bool,
    born: Date,
}

/// Builds the transaction of an anagrafe import as rows arrive.
pub(super) struct Anagrafe {
    tx: Tx,
    /// Codici fiscali in the file (sorted at the end).
    cfs: Vec<[u8; 16]>,
    family_ids: Vec<String>,
    family_index: std::collections::HashMap<String, u32, foldhash::fast::RandomState>,
    members: Vec<Member>,
    /// Erased persons (by person id) and the key that makes ids; `None` when there are none.
    tombstones: Option<(HashSet<Vec<u8>>, IdKey)>,
    /// Rows left out because their person was erased.
    pub(super) erased: u64,
}

fn cf_bytes(cf: &str) -> Result<[u8; 16], ImportError> {
    <[u8; 16]>::try_from(cf.as_bytes()).map_err(|_| ImportError::Io {
        path: "anagrafe".into(),
        reason: format!("a validated codice fiscale of {} bytes", cf.len()),
    })
}

impl Anagrafe {
    /// A builder that leaves out the rows of the erased persons in `tombstones`.
    pub(super) fn new(tombstones: Option<(HashSet<Vec<u8>>, IdKey)>) -> Anagrafe {
        Anagrafe {
            tx: Tx::default(),
            cfs: Vec::new(),
            family_ids: Vec::new(),
            family_index: Default::default(),
            members: Vec::new(),
            tombstones,
            erased: 0,
        }
    }

    /// Takes one valid person of the file.
    pub(super) fn person(&mut self, p: Person) -> Result<(), ImportError> {
        if let Some((erased, key)) = &self.tombstones {
            if erased.contains(key.id(&p.cf).as_slice()) {
                self.erased += 1;
                return Ok(());
            }
        }
        let cf = cf_bytes(&p.cf)?;
        self.cfs.push(cf);
        if let Some(fam) = &p.famiglia {
            let family = match self.family_index.get(fam.as_str()) {
                Some(&i) => i,
                None => {
                    let i = self.family_ids.len() as u32;
                    self.family_ids.push(fam.clone());
                    self.family_index.insert(fam.clone(), i);
                    i
                }
            };
            self.members.push(Member {
                family,
                cf,
                reference: p.rapporto.trim().eq_ignore_ascii_case("IS"),
                born: p.data_nascita,
            });
        }
        self.tx.put(Kind::Person, p.cf.as_bytes(), &p)?;
        Ok(())
    }

    /// The transaction: the persons read, the families rebuilt, families no longer in the file
    /// deleted, residents no longer in it made non-residents. Returns it with the number of
    /// persons and of households in the file.
    pub(super) fn finish(self, store: &Store) -> Result<(Tx, u64, u64), ImportError> {
        let Anagrafe {
            mut tx,
            mut cfs,
            family_ids,
            family_index,
            mut members,
            ..
        } = self;
        drop(family_index);
        cfs.sort_unstable();
        // Members in file order within each family (the first `IS` is the reference person).
        members.sort_by_key(|m| m.family);
        let households = family_ids.len() as u64;
        for group in members.chunk_by(|a, b| a.family == b.family) {
            let reference = group
                .iter()
                .find(|m| m.reference)
                .or_else(|| group.iter().min_by_key(|m| (m.born, m.cf)))
                .map(|m| String::from_utf8_lossy(&m.cf).into_owned())
                .unwrap_or_default();
            let mut cfs: Vec<String> = group
                .iter()
                .map(|m| String::from_utf8_lossy(&m.cf).into_owned())
                .collect();
            cfs.sort();
            let id = &family_ids[group[0].family as usize];
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
        drop(members);
        let mut in_file: HashSet<&str, foldhash::fast::RandomState> = Default::default();
        in_file.extend(family_ids.iter().map(String::as_str));
        for k in store.keys(Kind::Family)? {
            if !in_file.contains(String::from_utf8_lossy(&k).as_ref()) {
                tx.delete(Kind::Family, &k);
            }
        }
        let mut failed = None;
        store.for_each::<Person>(Kind::Person, b"", |k, p| {
            if failed.is_some() || !p.resident {
                return;
            }
            let known = <[u8; 16]>::try_from(k).is_ok_and(|cf| cfs.binary_search(&cf).is_ok());
            if !known {
                let moved = Person {
                    resident: false,
                    famiglia: None,
                    ..p
                };
                if let Err(e) = tx.put(Kind::Person, k, &moved) {
                    failed = Some(e);
                }
            }
        })?;
        if let Some(e) = failed {
            return Err(e.into());
        }
        Ok((tx, cfs.len() as u64, households))
    }
}
