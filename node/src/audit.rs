//! The operators' audit trail: every log-in (and refused one), log-out, search and, as they
//! come, every card read and every write — who, when, which persons (by id, never by codice
//! fiscale), what, from which address. Append-only, each record chained to the previous one's
//! hash (`siso_server::chain`), durable before the reply is sent; `siso-node audit verify`
//! walks the chain. A `responsabile` reads who touched a person's data (GDPR art. 15) through
//! `GET /api/v1/audit?persona=ID`.
//!
//! **Invariant:** no query text, codice fiscale, name or password is ever written here.

use serde::Serialize;
use siso_server::chain::{self, ChainHead, Verification};

use crate::store::{AuditRecord, Store, StoreError, Tx};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// A log-in.
    Accesso,
    /// A refused log-in (wrong password, locked account, rate limit).
    AccessoRifiutato,
    /// A log-out.
    Uscita,
    /// A person search (the persons shown).
    Ricerca,
    /// The audit entries of a person read.
    LetturaAudit,
    /// The audit entries of a person exported.
    EsportazioneAudit,
    /// A person's card read.
    LetturaScheda,
    /// A card or record refused to this operator (not theirs).
    AccessoNegato,
    /// A record written (access, case step, intervention, activity, follow-up).
    Registrazione,
    /// A caseload or the service's overview read (the persons listed).
    LetturaCarico,
    /// A person erased from the node (`siso-node erase`).
    Cancellazione,
    /// Records past their retention period deleted (`siso-node retention run`).
    Conservazione,
}

impl Action {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Accesso => "accesso",
            Action::AccessoRifiutato => "accesso_rifiutato",
            Action::Uscita => "uscita",
            Action::Ricerca => "ricerca",
            Action::LetturaAudit => "lettura_audit",
            Action::EsportazioneAudit => "esportazione_audit",
            Action::LetturaScheda => "lettura_scheda",
            Action::AccessoNegato => "accesso_negato",
            Action::Registrazione => "registrazione",
            Action::LetturaCarico => "lettura_carico",
            Action::Cancellazione => "cancellazione",
            Action::Conservazione => "scadenza_conservazione",
        }
    }
}

/// The trail's head.
#[derive(Debug)]
pub struct AuditTrail {
    head: ChainHead,
}

impl AuditTrail {
    /// Resumes after the last stored record.
    pub fn open(store: &Store) -> Result<AuditTrail, StoreError> {
        Ok(AuditTrail {
            head: ChainHead::after(store.audit_last()?.map(|r| r.link()).transpose()?),
        })
    }

    /// Appends a record durably, numbering and chaining it (its `seq` and `prev` are set
    /// here); its position.
    pub fn record(&self, store: &Store, rec: AuditRecord) -> Result<u64, StoreError> {
        self.record_with(store, &Tx::default(), rec)
    }

    /// Applies `tx` and appends `rec` in one atomic, durable step (a write and its audit entry
    /// land together or not at all); its position. The chain is held only while the record is
    /// applied in memory; the flush that makes it durable comes after, so concurrent writers
    /// share flushes (group commit) and still return only once their record is on disk.
    pub fn record_with(
        &self,
        store: &Store,
        tx: &Tx,
        mut rec: AuditRecord,
    ) -> Result<u64, StoreError> {
        let seq = self.head.append(|seq, prev| {
            rec.seq = seq;
            rec.prev = prev;
            store.apply_audited(tx, &rec)?;
            Ok::<_, StoreError>(rec.link()?.hash)
        })?;
        store.flush()?;
        Ok(seq)
    }
}

/// Walks the whole trail.
pub fn verify(store: &Store) -> Result<Verification, StoreError> {
    chain::verify_stored(store.audit_iter().map(|r| r.and_then(|r| r.link())))
}

/// The records that concern a person, oldest first.
pub fn for_person(store: &Store, id: &str) -> Result<Vec<AuditRecord>, StoreError> {
    let mut out = Vec::new();
    for r in store.audit_iter() {
        let r = r?;
        if r.persons.iter().any(|p| p == id) {
            out.push(r);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::OpenMode;

    fn event(action: Action, persons: &[String]) -> AuditRecord {
        AuditRecord {
            seq: 0,
            time: 1_764_000_000,
            user: "s.verdi".into(),
            role: "sportello".into(),
            action: action.as_str().into(),
            persons: persons.to_vec(),
            detail: String::new(),
            addr: "127.0.0.1".into(),
            prev: [0; 32],
        }
    }

    #[test]
    fn records_chain_resume_and_tampering_is_found() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("store");
        let ids = ["a1".to_owned(), "b2".to_owned()];
        {
            let s = Store::open(&path, OpenMode::Create).unwrap();
            let t = AuditTrail::open(&s).unwrap();
            assert_eq!(t.record(&s, event(Action::Accesso, &[])).unwrap(), 0);
            assert_eq!(t.record(&s, event(Action::Ricerca, &ids)).unwrap(), 1);
        }
        let s = Store::open(&path, OpenMode::Existing).unwrap();
        let t = AuditTrail::open(&s).unwrap();
        assert_eq!(t.record(&s, event(Action::Ricerca, &ids[1..])).unwrap(), 2);
        assert_eq!(
            verify(&s).unwrap(),
            Verification {
                records: 3,
                first_broken: None
            }
        );
        let b2: Vec<u64> = for_person(&s, "b2")
            .unwrap()
            .iter()
            .map(|r| r.seq)
            .collect();
        assert_eq!(b2, [1, 2]);
        assert!(for_person(&s, "zz").unwrap().is_empty());
        // A record changed in place breaks the chain at the next one; garbage at its own.
        let mut r1 = s.audit_iter().nth(1).unwrap().unwrap();
        r1.user = "altro".into();
        let bytes = siso_shared::wire::encode_value(&r1).unwrap();
        s.audit_tamper(1, &bytes).unwrap();
        assert_eq!(verify(&s).unwrap().first_broken, Some(2));
        s.audit_tamper(1, b"\xff").unwrap();
        assert_eq!(verify(&s).unwrap().first_broken, Some(1));
    }
}
