//! The tamper-evident message log: one record per request (time, member, kind, record count,
//! outcome, BLAKE3 of the payload), each chained to the hash of the previous one. It never holds
//! a payload. `siso-hub audit verify` walks the chain.

use siso_server::chain::{self, ChainHead};

use crate::store::{AuditRecord, Store, StoreError};

pub use siso_server::chain::Verification;

/// The head of the chain.
#[derive(Debug)]
pub struct AuditLog {
    head: ChainHead,
}

/// One request to log.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    /// Unix time, seconds.
    pub time: i64,
    /// Caller member id.
    pub member: &'a str,
    /// Request kind.
    pub kind: &'a str,
    /// Records or cells in the request.
    pub records: u64,
    /// Outcome.
    pub outcome: &'a str,
    /// The request body (hashed, never stored).
    pub payload: &'a [u8],
}

impl AuditLog {
    /// Resumes the chain after the last stored record.
    pub fn open(store: &Store) -> Result<AuditLog, StoreError> {
        Ok(AuditLog {
            head: ChainHead::after(store.audit_last()?.map(|r| r.link()).transpose()?),
        })
    }

    /// Appends a record (made durable by the next store flush).
    pub fn append(&self, store: &Store, e: Entry<'_>) -> Result<(), StoreError> {
        self.head.append(|seq, prev| {
            let rec = AuditRecord {
                seq,
                time: e.time,
                member: e.member.to_owned(),
                kind: e.kind.to_owned(),
                records: e.records,
                outcome: e.outcome.to_owned(),
                payload_hash: *blake3::hash(e.payload).as_bytes(),
                prev,
            };
            store.audit_put(&rec)?;
            Ok::<_, StoreError>(rec.link()?.hash)
        })?;
        Ok(())
    }
}

/// Walks the whole chain.
pub fn verify(store: &Store) -> Result<Verification, StoreError> {
    chain::verify_stored(store.audit_iter().map(|r| r.and_then(|r| r.link())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::OpenMode;

    #[test]
    fn chain_detects_tampering() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), OpenMode::Create).unwrap();
        let log = AuditLog::open(&store).unwrap();
        for i in 0..5 {
            log.append(
                &store,
                Entry {
                    time: 1_700_000_000 + i,
                    member: "054039",
                    kind: "submit_batch",
                    records: 3,
                    outcome: "ok",
                    payload: b"payload",
                },
            )
            .unwrap();
        }
        assert_eq!(
            verify(&store).unwrap(),
            Verification {
                records: 5,
                first_broken: None
            }
        );
        // Reopening continues the chain.
        let log = AuditLog::open(&store).unwrap();
        log.append(
            &store,
            Entry {
                time: 1,
                member: "-",
                kind: "malformed",
                records: 0,
                outcome: "malformed",
                payload: b"",
            },
        )
        .unwrap();
        assert_eq!(verify(&store).unwrap().first_broken, None);
        // Change the outcome of record 2: record 3's link breaks.
        let mut r: Vec<AuditRecord> = store.audit_iter().map(Result::unwrap).collect();
        r[2].outcome = "forbidden".into();
        store.audit_tamper(2, &r[2]).unwrap();
        assert_eq!(verify(&store).unwrap().first_broken, Some(3));
    }
}
