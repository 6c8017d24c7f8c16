//! Retention and erasure: `siso-node retention run` deletes social records past the periods of
//! `[retention]`; `siso-node erase --codice-fiscale CF` removes one person from the node (social
//! records, registry rows, fingerprint cache, family membership) and leaves a tombstone, so that
//! no import brings them back and the next sync withdraws their fingerprints from the hub (a
//! snapshot round, which replaces everything the hub holds for the member).
//!
//! Each run is one atomic write with its entry in the operators' audit trail (counts only; an
//! erasure names the person by id, never by codice fiscale).
//!
//! **Invariant:** a tombstoned person is never written again by an import, and a tombstone not
//! yet withdrawn makes the next sync round a snapshot.

use std::collections::BTreeMap;

use serde::Serialize;
use time::{Date, OffsetDateTime};

use crate::audit::{Action, AuditTrail};
use crate::config::RetentionConfig;
use crate::model::{
    Accesso, AppRecord, Attivita, Caso, Family, Intervento, PresaInCarico, StoredTombstone,
};
use crate::persons::{self, PersonError};
use crate::store::{AuditRecord, Kind, Store, StoreError, Tx};

/// Errors of retention and erasure.
#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The person id key.
    #[error(transparent)]
    Person(#[from] PersonError),
    /// Not a valid codice fiscale.
    #[error("not a valid codice fiscale: {0}")]
    BadCf(String),
}

/// What a run deleted (or, dry, would delete), by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Purged {
    /// Dry run: nothing was written.
    pub dry_run: bool,
    /// Records per kind (`accessi`, `prese_in_carico`, `interventi`, `casi`, `attivita`, ...).
    pub counts: BTreeMap<String, u64>,
}

impl Purged {
    fn add(&mut self, kind: &str) {
        *self.counts.entry(kind.to_owned()).or_default() += 1;
    }

    /// All records.
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }
}

impl std::fmt::Display for Purged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verb = if self.dry_run {
            "would delete"
        } else {
            "deleted"
        };
        if self.counts.is_empty() {
            return writeln!(f, "nothing past its retention period");
        }
        for (k, n) in &self.counts {
            writeln!(f, "{verb} {n} {k}")?;
        }
        Ok(())
    }
}

/// The day `years` whole years after `d` (29 February → 28 February when needed).
fn plus_years(d: Date, years: u16) -> Date {
    let y = d.year() + i32::from(years);
    Date::from_calendar_date(y, d.month(), d.day())
        .or_else(|_| Date::from_calendar_date(y, d.month(), d.day() - 1))
        .unwrap_or(Date::MAX)
}

/// Whether a record dated `d` is past `years` on `today`.
fn past(d: Date, years: u16, today: Date) -> bool {
    plus_years(d, years) <= today
}

/// The app record id of a key (`cf ‖ id`), when it is a record written in the app.
fn app_id(k: &[u8]) -> Option<&[u8]> {
    (k.len() == 16 + crate::store::APP_ID_LEN).then(|| &k[16..])
}

/// Deletes (unless `dry_run`) what is past `cfg`'s periods on `today`, with one audit entry.
pub fn run(
    store: &Store,
    cfg: &RetentionConfig,
    today: Date,
    by: &str,
    now: OffsetDateTime,
    dry_run: bool,
) -> Result<Purged, RetentionError> {
    let mut out = Purged {
        dry_run,
        ..Purged::default()
    };
    let mut tx = Tx::default();
    let delete = |tx: &mut Tx, kind: Kind, k: &[u8], name: &str, out: &mut Purged| {
        tx.delete(kind, k);
        if let Some(id) = app_id(k) {
            tx.delete(Kind::AppRecord, id);
        }
        out.add(name);
    };
    for (k, a) in store.scan::<Accesso>(Kind::Accesso, b"")? {
        if past(a.data, cfg.accessi_years, today) {
            delete(&mut tx, Kind::Accesso, &k, "accessi", &mut out);
        }
    }
    for (k, v) in store.scan::<Intervento>(Kind::Intervento, b"")? {
        if v.fine.is_some_and(|f| past(f, cfg.interventi_years, today)) {
            delete(&mut tx, Kind::Intervento, &k, "interventi", &mut out);
        }
    }
    // Cases closed long enough ago go with their presa in carico (same key) and diary.
    let mut closed_cases = std::collections::HashSet::new();
    for (k, c) in store.scan::<Caso>(Kind::Caso, b"")? {
        if c.chiusura
            .as_ref()
            .is_some_and(|ch| past(ch.data, cfg.closed_case_years, today))
        {
            if let Some(id) = app_id(&k) {
                closed_cases.insert(hex::encode(id));
            }
            delete(&mut tx, Kind::Caso, &k, "casi", &mut out);
        }
    }
    for (k, p) in store.scan::<PresaInCarico>(Kind::PresaInCarico, b"")? {
        let of_closed_case = app_id(&k).is_some_and(|id| closed_cases.contains(&hex::encode(id)));
        if of_closed_case
            || p.fine
                .is_some_and(|f| past(f, cfg.closed_case_years, today))
        {
            delete(
                &mut tx,
                Kind::PresaInCarico,
                &k,
                "prese_in_carico",
                &mut out,
            );
        }
    }
    for (k, a) in store.scan::<Attivita>(Kind::Attivita, b"")? {
        let of_closed_case = a.caso.as_ref().is_some_and(|c| closed_cases.contains(c));
        if of_closed_case || past(a.data, cfg.closed_case_years, today) {
            delete(&mut tx, Kind::Attivita, &k, "attivita", &mut out);
        }
    }
    if dry_run {
        return Ok(out);
    }
    let detail = out
        .counts
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let rec = record(by, Action::Conservazione, vec![], detail, now);
    AuditTrail::open(store)?.record_with(store, &tx, rec)?;
    Ok(out)
}

fn record(
    by: &str,
    action: Action,
    persons: Vec<String>,
    detail: String,
    now: OffsetDateTime,
) -> AuditRecord {
    AuditRecord {
        seq: 0,
        time: now.unix_timestamp(),
        user: by.to_owned(),
        role: "amministratore".into(),
        action: action.as_str().into(),
        persons,
        detail,
        addr: "riga di comando".into(),
        prev: [0; 32],
    }
}

/// What an erasure removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Erased {
    /// The person's id on this node (what the audit trail names).
    pub person_id: String,
    /// Dry run: nothing was written.
    pub dry_run: bool,
    /// Records removed per kind.
    pub counts: BTreeMap<String, u64>,
    /// Whether the person was already erased (a tombstone existed).
    pub already: bool,
}

impl std::fmt::Display for Erased {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verb = if self.dry_run {
            "would remove"
        } else {
            "removed"
        };
        for (k, n) in &self.counts {
            writeln!(f, "{verb} {n} {k}")?;
        }
        writeln!(
            f,
            "person {}{}{}",
            self.person_id,
            if self.already {
                " (already erased before)"
            } else {
                ""
            },
            if self.dry_run {
                ""
            } else {
                "; the next sync withdraws their fingerprints from the hub"
            }
        )
    }
}

/// The kinds keyed by codice fiscale that an erasure removes, with their names.
const PERSONAL: &[(Kind, &str)] = &[
    (Kind::Person, "anagrafe"),
    (Kind::Sanitaria, "sanitaria"),
    (Kind::Reddito, "redditi"),
    (Kind::Immobile, "immobili"),
    (Kind::Locazione, "locazioni"),
    (Kind::Tributo, "tributi"),
    (Kind::Accesso, "accessi"),
    (Kind::PresaInCarico, "prese_in_carico"),
    (Kind::Intervento, "interventi"),
    (Kind::Attivita, "attivita"),
    (Kind::Caso, "casi"),
];

/// Removes the person `cf` from the node (unless `dry_run`) and leaves a tombstone; `reason`
/// goes into the audit trail (no codice fiscale in it).
pub fn erase(
    store: &Store,
    cf: &str,
    by: &str,
    reason: &str,
    now: OffsetDateTime,
    dry_run: bool,
) -> Result<Erased, RetentionError> {
    let cf = siso_shared::CodiceFiscale::parse(cf, now.date())
        .map_err(|e| RetentionError::BadCf(e.to_string()))?;
    let cf = cf.as_str();
    let key = persons::id_key(store)?;
    let id = key.id(cf);
    let mut out = Erased {
        person_id: hex::encode(id),
        dry_run,
        counts: BTreeMap::new(),
        already: store
            .get::<StoredTombstone>(Kind::Tombstone, &id)?
            .is_some(),
    };
    let mut tx = Tx::default();
    for (kind, name) in PERSONAL {
        for k in store.keys_under(*kind, cf.as_bytes(), usize::MAX)? {
            tx.delete(*kind, &k);
            if let Some(app) = app_id(&k) {
                tx.delete(Kind::AppRecord, app);
            }
            *out.counts.entry((*name).to_owned()).or_default() += 1;
        }
    }
    // Records written in the app about the person, wherever their `W` entry points.
    for (k, w) in store.scan::<AppRecord>(Kind::AppRecord, b"")? {
        if w.cf == cf {
            tx.delete(Kind::AppRecord, &k);
        }
    }
    for k in store.keys(Kind::Pseudonym)? {
        if k.get(2..) == Some(cf.as_bytes()) {
            tx.delete(Kind::Pseudonym, &k);
        }
    }
    for (k, mut fam) in store.scan::<Family>(Kind::Family, b"")? {
        if fam.members.iter().any(|m| m == cf) {
            fam.members.retain(|m| m != cf);
            if fam.members.is_empty() {
                tx.delete(Kind::Family, &k);
            } else {
                if fam.reference == cf {
                    fam.reference = fam.members[0].clone();
                }
                tx.put(Kind::Family, &k, &fam)?;
            }
        }
    }
    tx.put(
        Kind::Tombstone,
        &id,
        &StoredTombstone {
            time: now.unix_timestamp(),
            by: by.to_owned(),
            withdrawn: false,
        },
    )?;
    if dry_run {
        return Ok(out);
    }
    let total: u64 = out.counts.values().sum();
    let rec = record(
        by,
        Action::Cancellazione,
        vec![out.person_id.clone()],
        format!("{total} registrazioni; {reason}"),
        now,
    );
    AuditTrail::open(store)?.record_with(store, &tx, rec)?;
    Ok(out)
}

/// Whether `cf` was erased on this node (imports skip its rows).
pub fn is_erased(store: &Store, key: &persons::IdKey, cf: &str) -> Result<bool, StoreError> {
    Ok(store
        .get::<StoredTombstone>(Kind::Tombstone, &key.id(cf))?
        .is_some())
}

/// Tombstones whose fingerprints the hub may still hold (the next round is a snapshot).
pub fn pending_withdrawals(store: &Store) -> Result<Vec<Vec<u8>>, StoreError> {
    Ok(store
        .scan::<StoredTombstone>(Kind::Tombstone, b"")?
        .into_iter()
        .filter(|(_, t)| !t.withdrawn)
        .map(|(k, _)| k)
        .collect())
}

/// Marks `pending` as withdrawn (after a snapshot round the hub acknowledged).
pub fn mark_withdrawn(store: &Store, pending: &[Vec<u8>]) -> Result<(), StoreError> {
    let mut tx = Tx::default();
    for k in pending {
        if let Some(mut t) = store.get::<StoredTombstone>(Kind::Tombstone, k)? {
            t.withdrawn = true;
            tx.put(Kind::Tombstone, k, &t)?;
        }
    }
    store.commit(tx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn years_are_whole_calendar_years() {
        let d = time::macros::date!(2020 - 02 - 29);
        assert_eq!(plus_years(d, 1), time::macros::date!(2021 - 02 - 28));
        assert!(past(
            time::macros::date!(2020 - 03 - 01),
            5,
            time::macros::date!(2025 - 03 - 01)
        ));
        assert!(!past(
            time::macros::date!(2020 - 03 - 01),
            5,
            time::macros::date!(2025 - 02 - 28)
        ));
    }
}
