//! The hub's in-memory state (every epoch's records, rebuilt from the store at start) and the
//! blocking part of a batch submission: ledger check, one fingerprint scheme per epoch, durable
//! write, in-memory apply, compaction. [`crate::service`] calls it under the member's lock.

use std::collections::BTreeMap;
use std::sync::RwLock;

use siso_shared::wire;
use siso_shared::MemberId;

use crate::overlap::{EpochState, Members};
use crate::store::{LedgerEntry, Store, StoreError, StoredBatch};

/// A delta history longer than this is compacted into one snapshot.
const COMPACT_AFTER: usize = 64;

/// In-memory state rebuilt from the store at start.
#[derive(Debug, Default)]
pub struct State {
    /// Member interning.
    pub members: Members,
    /// Records per epoch.
    pub epochs: BTreeMap<u16, EpochState>,
}

impl State {
    pub(crate) fn apply(&mut self, epoch: u16, member: &MemberId, b: StoredBatch) {
        let m = self.members.intern(member);
        let st = self.epochs.entry(epoch).or_default();
        st.apply(m, b.snapshot, b.add, &b.remove, &self.members);
    }

    /// Records of a member after applying `b`, without applying it.
    pub(crate) fn count_after(&self, epoch: u16, member: &MemberId, b: &StoredBatch) -> u64 {
        match (self.members.get(member), self.epochs.get(&epoch)) {
            (Some(m), Some(st)) => st.count_after(m, b.snapshot, &b.add, &b.remove),
            _ => EpochState::default().count_after(0, b.snapshot, &b.add, &b.remove),
        }
    }

    /// Records stored, all epochs.
    pub fn records(&self) -> u64 {
        self.epochs.values().map(|e| e.records() as u64).sum()
    }
}

/// What [`ingest_blocking`] did with a batch.
pub(crate) enum Ingested {
    /// Already applied: the member's record count recorded then.
    Duplicate(u64),
    /// Refused: the epoch would exceed [`crate::overlap::MAX_RECORDS`].
    Full,
    /// Stored (not yet flushed) and applied: the member's record count now.
    Applied(u64),
    /// Refused: the epoch holds fingerprints of another scheme.
    Scheme(wire::Scheme),
}

/// Who submitted a batch, for which epoch, under which id and fingerprint scheme.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Head<'a> {
    pub epoch: u16,
    pub member: &'a MemberId,
    pub batch_id: &'a wire::BatchId,
    pub scheme: wire::Scheme,
}

/// The blocking part of a batch submission, under the member's lock: ledger check, one scheme
/// per epoch, durable write of the batch with its ledger entry, in-memory apply, compaction of
/// a long history.
pub(crate) fn ingest_blocking(
    store: &Store,
    state: &RwLock<State>,
    head: Head<'_>,
    stored: StoredBatch,
    encoded: Option<Vec<u8>>,
) -> Result<Ingested, StoreError> {
    let Head {
        epoch,
        member,
        batch_id,
        scheme,
    } = head;
    if let Some(e) = store.ledger_get(epoch, member, batch_id)? {
        return Ok(Ingested::Duplicate(e.stored));
    }
    // One scheme per epoch: fingerprints of two schemes never match, so a mixed epoch would
    // silently find no overlaps between them.
    let held = match store.epoch_scheme(epoch)? {
        Some(s) => Some(s),
        None => {
            let st = state.read().unwrap_or_else(|p| p.into_inner());
            (st.epochs.get(&epoch).map_or(0, |e| e.records()) > 0)
                .then_some(wire::Scheme::SharedKey)
        }
    };
    match held {
        Some(h) if h != scheme => return Ok(Ingested::Scheme(h)),
        Some(_) => {}
        None => store.set_epoch_scheme(epoch, scheme)?,
    }
    let (count, total) = {
        let st = state.read().unwrap_or_else(|p| p.into_inner());
        (
            st.count_after(epoch, member, &stored),
            st.epochs.get(&epoch).map_or(0, |e| e.records()),
        )
    };
    if total + stored.add.len() > crate::overlap::MAX_RECORDS {
        return Ok(Ingested::Full);
    }
    store.put_batch_encoded(
        epoch,
        member,
        Some((
            batch_id,
            LedgerEntry {
                seq: 0,
                stored: count,
            },
        )),
        &stored,
        encoded.as_deref(),
    )?;
    state
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .apply(epoch, member, stored);
    if store.batch_count(epoch, member)? > COMPACT_AFTER {
        let set = {
            let st = state.read().unwrap_or_else(|p| p.into_inner());
            match (st.members.get(member), st.epochs.get(&epoch)) {
                (Some(m), Some(e)) => e.member_set(m),
                _ => Vec::new(),
            }
        };
        store.put_batch(
            epoch,
            member,
            None,
            &StoredBatch {
                snapshot: true,
                add: set,
                remove: Vec::new(),
            },
        )?;
    }
    Ok(Ingested::Applied(count))
}
