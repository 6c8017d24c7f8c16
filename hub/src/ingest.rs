//! The hub's in-memory state (every epoch's records, rebuilt from the store at start) and the
//! blocking part of a batch submission: ledger check, one fingerprint scheme per epoch, durable
//! write, in-memory apply, compaction. [`crate::service`] calls it under the member's lock.

use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;

use siso_shared::wire;
use siso_shared::MemberId;

use crate::overlap::{EpochState, MemberIx, Members};
use crate::store::{LedgerEntry, Store, StoreError, StoredBatch};

/// A member's history of an epoch is compacted into one snapshot when it is longer than this
/// many batches *and* its batches hold more than [`COMPACT_RATIO`] times the member's current
/// records (adds and removes counted): compaction bounds the store's garbage and the replay's
/// work, and a history that only adds has neither, so rewriting it would only cost a full
/// copy of the member's set (at thirty million fingerprints, each member's set twice).
const COMPACT_AFTER: u64 = 64;

/// See [`COMPACT_AFTER`].
const COMPACT_RATIO: u64 = 2;

/// What a member's stored history of an epoch holds (rebuilt by the replay).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct History {
    /// Batches stored.
    pub batches: u64,
    /// Records added and keys removed in them.
    pub records: u64,
}

/// In-memory state rebuilt from the store at start.
#[derive(Debug, Default)]
pub struct State {
    /// Member interning.
    pub members: Members,
    /// Records per epoch.
    pub epochs: BTreeMap<u16, EpochState>,
    /// Each member's stored history, per epoch.
    histories: HashMap<(u16, MemberIx), History>,
}

impl State {
    pub(crate) fn apply(&mut self, epoch: u16, member: &MemberId, b: StoredBatch) {
        let m = self.members.intern(member);
        let n = (b.add.len() + b.remove.len()) as u64;
        let h = self.histories.entry((epoch, m)).or_default();
        if b.snapshot {
            *h = History {
                batches: 1,
                records: n,
            };
        } else {
            h.batches += 1;
            h.records += n;
        }
        let st = self.epochs.entry(epoch).or_default();
        st.apply(m, b.snapshot, b.add, &b.remove, &self.members);
    }

    /// A member's stored history of an epoch.
    pub(crate) fn history(&self, epoch: u16, member: &MemberId) -> History {
        self.members
            .get(member)
            .and_then(|m| self.histories.get(&(epoch, m)))
            .copied()
            .unwrap_or_default()
    }

    /// Whether a member's history should be compacted now.
    fn compaction_due(&self, epoch: u16, member: &MemberId) -> bool {
        let h = self.history(epoch, member);
        let live = match (self.members.get(member), self.epochs.get(&epoch)) {
            (Some(m), Some(e)) => e.member_records(m) as u64,
            _ => 0,
        };
        h.batches > COMPACT_AFTER && h.records > COMPACT_RATIO * live
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
    let due = state
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .compaction_due(epoch, member);
    if due {
        let set = {
            let st = state.read().unwrap_or_else(|p| p.into_inner());
            match (st.members.get(member), st.epochs.get(&epoch)) {
                (Some(m), Some(e)) => e.member_set(m),
                _ => Vec::new(),
            }
        };
        let records = set.len() as u64;
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
        let mut st = state.write().unwrap_or_else(|p| p.into_inner());
        if let Some(m) = st.members.get(member) {
            st.histories.insert(
                (epoch, m),
                History {
                    batches: 1,
                    records,
                },
            );
        }
    }
    Ok(Ingested::Applied(count))
}
