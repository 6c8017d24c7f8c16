//! Hash chains for append-only logs (the hub's message log, the node's audit trail): each
//! record carries its position and the hash of the one before, so a record changed, removed or
//! reordered breaks the chain from there on. Each side keeps its own record type and encoding;
//! the chain's head and its verification are here.

use std::sync::Mutex;

use crate::store::StoreError;

/// The next position and the hash of the last record, appended to under a lock so that records
/// are numbered without gaps.
#[derive(Debug)]
pub struct ChainHead(Mutex<(u64, [u8; 32])>);

impl ChainHead {
    /// Resumes after the last stored record (`(seq, hash)`), or starts an empty chain.
    pub fn resume(last: Option<(u64, [u8; 32])>) -> ChainHead {
        ChainHead(Mutex::new(match last {
            Some((seq, hash)) => (seq + 1, hash),
            None => (0, [0; 32]),
        }))
    }

    /// Appends one record: `write(seq, prev)` stores it and returns its hash. Returns its seq.
    pub fn append<E>(
        &self,
        write: impl FnOnce(u64, [u8; 32]) -> Result<[u8; 32], E>,
    ) -> Result<u64, E> {
        let mut head = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let seq = head.0;
        let hash = write(seq, head.1)?;
        *head = (seq + 1, hash);
        Ok(seq)
    }
}

impl ChainHead {
    /// Resumes after the last stored record, if any.
    pub fn after(last: Option<Link>) -> ChainHead {
        ChainHead::resume(last.map(|l| (l.seq, l.hash)))
    }
}

/// Walks stored records in order; one that does not decode ([`StoreError::Corrupt`]) breaks the
/// chain in its place.
pub fn verify_stored(
    links: impl IntoIterator<Item = Result<Link, StoreError>>,
) -> Result<Verification, StoreError> {
    verify(links.into_iter().map(|r| match r {
        Ok(l) => Ok(Some(l)),
        Err(StoreError::Corrupt(_)) => Ok(None),
        Err(e) => Err(e),
    }))
}

/// One record as the chain sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    /// Its position.
    pub seq: u64,
    /// The hash of the previous record it records.
    pub prev: [u8; 32],
    /// Its own hash.
    pub hash: [u8; 32],
}

impl Link {
    /// A record's link: its position, the previous hash it records, and BLAKE3 over its
    /// encoding (which includes both).
    pub fn of(seq: u64, prev: [u8; 32], encoded: &[u8]) -> Link {
        Link {
            seq,
            prev,
            hash: *blake3::hash(encoded).as_bytes(),
        }
    }
}

/// The result of walking a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Verification {
    /// Records read.
    pub records: u64,
    /// The first record whose position or `prev` does not match, or that could not be read.
    pub first_broken: Option<u64>,
}

/// Walks a chain in order; `None` stands for a record that could not be decoded.
pub fn verify<E>(
    links: impl IntoIterator<Item = Result<Option<Link>, E>>,
) -> Result<Verification, E> {
    let mut prev = [0u8; 32];
    let mut records = 0u64;
    for (expected, link) in (0u64..).zip(links) {
        let Some(l) = link? else {
            return Ok(Verification {
                records,
                first_broken: Some(expected),
            });
        };
        records += 1;
        if l.seq != expected || l.prev != prev {
            return Ok(Verification {
                records,
                first_broken: Some(expected),
            });
        }
        prev = l.hash;
    }
    Ok(Verification {
        records,
        first_broken: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: u64) -> Vec<Link> {
        let head = ChainHead::resume(None);
        let mut out = Vec::new();
        for i in 0..n {
            head.append(|seq, prev| {
                let hash =
                    *blake3::hash(&[prev.as_slice(), &seq.to_be_bytes(), &[i as u8]].concat())
                        .as_bytes();
                out.push(Link { seq, prev, hash });
                Ok::<_, ()>(hash)
            })
            .unwrap();
        }
        out
    }

    #[test]
    fn an_intact_chain_verifies_and_any_break_is_located() {
        let c = chain(5);
        let ok = verify(c.iter().map(|l| Ok::<_, ()>(Some(*l)))).unwrap();
        assert_eq!(
            ok,
            Verification {
                records: 5,
                first_broken: None
            }
        );
        // A record changed (its hash no longer what the next one recorded).
        let mut t = c.clone();
        t[2].hash[0] ^= 1;
        let v = verify(t.iter().map(|l| Ok::<_, ()>(Some(*l)))).unwrap();
        assert_eq!(v.first_broken, Some(3));
        // A record removed; one unreadable.
        let mut r = c.clone();
        r.remove(1);
        assert_eq!(
            verify(r.iter().map(|l| Ok::<_, ()>(Some(*l))))
                .unwrap()
                .first_broken,
            Some(1)
        );
        let v = verify(
            c.iter()
                .enumerate()
                .map(|(i, l)| Ok::<_, ()>((i != 4).then_some(*l))),
        );
        assert_eq!(v.unwrap().first_broken, Some(4));
        // Resuming continues the numbering.
        let h = ChainHead::resume(Some((4, c[4].hash)));
        assert_eq!(
            h.append(|seq, prev| {
                assert_eq!(prev, c[4].hash);
                Ok::<_, ()>([seq as u8; 32])
            }),
            Ok(5)
        );
    }
}
