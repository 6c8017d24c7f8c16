//! The key service's store (sled): evaluations spent and refusals, per epoch and member. No
//! input is ever stored (the service sees blinded elements only, and keeps none of them).
//!
//! Tree `usage`: key = epoch (`u16` big-endian) ‖ member id (UTF-8); value = used (`u64` BE) ‖
//! refused (`u64` BE).
//!
//! **Invariant:** an evaluation is counted durably (flushed) before its answer is sent, so a
//! crash can over-count a member's usage but never under-count it.

use std::path::Path;

use siso_server::store::{open_versioned, Owner, Versioned};
pub use siso_server::store::{OpenMode, StoreError};
use siso_shared::MemberId;

/// The schema version this build reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

const OWNER: Owner = Owner {
    name: "keyd",
    version: SCHEMA_VERSION,
};

/// One member's usage of one epoch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Usage {
    /// Evaluations answered (or about to be).
    pub used: u64,
    /// Requests refused for the budget.
    pub refused: u64,
}

impl Usage {
    fn to_bytes(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.used.to_be_bytes());
        b[8..].copy_from_slice(&self.refused.to_be_bytes());
        b
    }

    fn of_bytes(v: &[u8]) -> Result<Usage, StoreError> {
        let b: [u8; 16] = v
            .try_into()
            .map_err(|_| StoreError::Corrupt("usage value is not 16 bytes".into()))?;
        let (u, r) = b.split_at(8);
        let word = |s: &[u8]| {
            <[u8; 8]>::try_from(s)
                .map(u64::from_be_bytes)
                .map_err(|_| StoreError::Corrupt("usage".into()))
        };
        Ok(Usage {
            used: word(u)?,
            refused: word(r)?,
        })
    }
}

/// One row of a usage report: epoch, member id, usage, the member's budget (none for a member
/// that may not ask).
pub type UsageRow = (u16, String, Usage, Option<u64>);

/// The outcome of a charge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charge {
    /// Counted: the new usage.
    Granted(Usage),
    /// Over budget: nothing counted but the refusal.
    Refused(Usage),
}

/// The usage store.
#[derive(Debug, Clone)]
pub struct Store {
    db: Versioned,
    usage: sled::Tree,
}

fn key(epoch: u16, member: &MemberId) -> Vec<u8> {
    let mut k = epoch.to_be_bytes().to_vec();
    k.extend_from_slice(member.to_string().as_bytes());
    k
}

impl Store {
    /// Opens (or, with `Create`, creates) the store in `dir`.
    pub fn open(dir: &Path, mode: OpenMode) -> Result<Store, StoreError> {
        let db = open_versioned(sled::Config::new(), dir, OWNER, mode)?;
        let usage = db.db.open_tree("usage")?;
        Ok(Store { db, usage })
    }

    /// Counts `n` evaluations for `member` in `epoch` if they fit in `limit`, else counts a
    /// refusal; either way durably before returning.
    pub fn charge(
        &self,
        epoch: u16,
        member: &MemberId,
        n: u64,
        limit: u64,
    ) -> Result<Charge, StoreError> {
        let k = key(epoch, member);
        let mut outcome = None;
        let mut failure = None;
        self.usage.update_and_fetch(&k, |old| {
            let mut u = match old.map(Usage::of_bytes).transpose() {
                Ok(u) => u.unwrap_or_default(),
                Err(e) => {
                    failure = Some(e);
                    return old.map(<[u8]>::to_vec);
                }
            };
            if u.used.saturating_add(n) <= limit {
                u.used += n;
                outcome = Some(Charge::Granted(u));
            } else {
                u.refused += 1;
                outcome = Some(Charge::Refused(u));
            }
            Some(u.to_bytes().to_vec())
        })?;
        if let Some(e) = failure {
            return Err(e);
        }
        self.usage.flush()?;
        outcome.ok_or_else(|| StoreError::Corrupt("usage update did not run".into()))
    }

    /// One member's usage of an epoch.
    pub fn usage(&self, epoch: u16, member: &MemberId) -> Result<Usage, StoreError> {
        self.usage
            .get(key(epoch, member))?
            .map(|v| Usage::of_bytes(&v))
            .transpose()
            .map(Option::unwrap_or_default)
    }

    /// Every (epoch, member id, usage), in key order.
    pub fn all(&self) -> Result<Vec<(u16, String, Usage)>, StoreError> {
        self.usage
            .iter()
            .map(|kv| {
                let (k, v) = kv?;
                let epoch = k
                    .get(..2)
                    .and_then(|e| <[u8; 2]>::try_from(e).ok())
                    .map(u16::from_be_bytes)
                    .ok_or_else(|| StoreError::Corrupt("usage key".into()))?;
                let member = String::from_utf8_lossy(&k[2..]).into_owned();
                Ok((epoch, member, Usage::of_bytes(&v)?))
            })
            .collect()
    }

    /// Flushes everything.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.db.flush()?;
        Ok(())
    }
}
