//! Who lives with whom: the local household of every person, as the assessment, the aggregates
//! and the sync all see it. Anagrafe families are households; a person outside the anagrafe
//! (a non-resident with a record here) is a household of one.

use std::collections::HashMap;

use crate::model::Family;
use crate::store::{Kind, Store, StoreError};

/// A household as the node sees it: local id and members' codici fiscali.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalHousehold {
    /// `F:<family id>` for anagrafe families, `NR:<codice fiscale>` for a person outside it.
    pub id: String,
    /// Members.
    pub members: Vec<String>,
    /// The reference person.
    pub reference: String,
    /// Not in the anagrafe.
    pub non_resident: bool,
}

impl LocalHousehold {
    /// The one-person household of someone outside the anagrafe.
    pub fn single(cf: &str) -> LocalHousehold {
        LocalHousehold {
            id: format!("NR:{cf}"),
            members: vec![cf.to_owned()],
            reference: cf.to_owned(),
            non_resident: true,
        }
    }
}

/// The anagrafe household of every person in a family (codice fiscale → household); persons
/// not in it are households of their own ([`LocalHousehold::single`]).
pub fn household_of(store: &Store) -> Result<HashMap<String, LocalHousehold>, StoreError> {
    let mut out = HashMap::new();
    for (_, fam) in store.scan::<Family>(Kind::Family, b"")? {
        let h = LocalHousehold {
            id: format!("F:{}", fam.id),
            members: fam.members.clone(),
            reference: fam.reference.clone(),
            non_resident: false,
        };
        for m in &fam.members {
            out.insert(m.clone(), h.clone());
        }
    }
    Ok(out)
}

/// The household of one person, read from the store (the card of the web app): the anagrafe
/// family, or a household of one.
pub fn of_person(
    store: &Store,
    person: &crate::model::Person,
) -> Result<LocalHousehold, StoreError> {
    if let Some(fid) = &person.famiglia {
        if let Some(fam) = store.get::<Family>(Kind::Family, fid.as_bytes())? {
            return Ok(LocalHousehold {
                id: format!("F:{}", fam.id),
                members: fam.members,
                reference: fam.reference,
                non_resident: false,
            });
        }
    }
    Ok(LocalHousehold::single(&person.cf))
}
