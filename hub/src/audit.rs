//! The tamper-evident message log: one record per request (time, member, kind, record count,
//! outcome, BLAKE3 of the payload), each chained to the hash of the previous one. It never holds
//! a payload. `siso-hub audit verify` walks the chain.

use std::sync::Mutex;

use crate::store::{AuditRecord, Store, StoreError};

/// The head of the chain, appended to under a lock so records are numbered without gaps.
#[derive(Debug)]
pub struct AuditLog {
    head: Mutex<(u64, [u8; 32])>,
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
        let head = match store.audit_last()? {
            Some(r) => (r.seq + 1, r.hash()?),
            None => (0, [0; 32]),
        };
        Ok(AuditLog {
            head: Mutex::new(head),
        })
    }

    /// Appends a record (made durable by the next store flush).
    pub fn append(&self, store: &Store, e: Entry<'_>) -> Result<(), StoreError> {
        let mut head = self.head.lock().unwrap_or_else(|p| p.into_inner());
        let rec = AuditRecord {
            seq: head.0,
            time: e.time,
            member: e.member.to_owned(),
            kind: e.kind.to_owned(),
            records: e.records,
            outcome: e.outcome.to_owned(),
            payload_hash: *blake3::hash(e.payload).as_bytes(),
            prev: head.1,
        };
        store.audit_put(&rec)?;
        *head = (rec.seq + 1, rec.hash()?);
        Ok(())
    }
}

/// The result of verifying the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// Records read.
    pub records: u64,
    /// The first record whose `prev` or position does not match, if any.
    pub first_broken: Option<u64>,
}

/// Walks the whole chain.
pub fn verify(store: &Store) -> Result<Verification, StoreError> {
    let mut prev = [0u8; 32];
    let mut records = 0u64;
    for (expected_seq, rec) in (0u64..).zip(store.audit_iter()) {
        let rec = match rec {
            Ok(r) => r,
            Err(StoreError::Corrupt(_)) => {
                return Ok(Verification {
                    records,
                    first_broken: Some(expected_seq),
                })
            }
            Err(e) => return Err(e),
        };
        records += 1;
        if rec.seq != expected_seq || rec.prev != prev {
            return Ok(Verification {
                records,
                first_broken: Some(expected_seq),
            });
        }
        prev = rec.hash()?;
    }
    Ok(Verification {
        records,
        first_broken: None,
    })
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
