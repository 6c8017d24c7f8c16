//! What one member is told about its own households: an [`OverlapNotice`] per household linked
//! to a record of another member, with double economic support, or with an unsupported need.

use std::collections::{BTreeMap, BTreeSet};

use siso_shared::wire::{OtherSupport, OverlapNotice};

use super::summary::economic_conflict;
use super::{EpochState, MemberIx, Members, Rec, Slot};

impl EpochState {
    /// The records sharing a person with the record in `slot`.
    fn neighbours(&self, slot: Slot) -> Vec<Slot> {
        let mut out = Vec::new();
        if let Some(r) = self.rec(slot) {
            for p in r.persons.iter() {
                out.extend(self.slots_of(p).into_iter().filter(|&s| s != slot));
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The overlap notices of one member's households: one per household linked to a record of
    /// another member, with double economic support, or an unsupported need. `names_visible`
    /// false (third-sector callers) leaves `others` empty: only the count is told.
    pub fn notices_for(
        &self,
        m: MemberIx,
        members: &Members,
        names_visible: bool,
    ) -> Vec<OverlapNotice> {
        let mut out = Vec::new();
        let Some(own) = self.by_member.get(&m) else {
            return out;
        };
        for (&key, &slot) in own {
            let Some(rec) = self.rec(slot) else { continue };
            let neigh = self.neighbours(slot);
            let linked: Vec<&Rec> = neigh.iter().filter_map(|&s| self.rec(s)).collect();
            let mut supporters: BTreeMap<MemberIx, BTreeSet<siso_shared::TipoIntervento>> =
                BTreeMap::new();
            for l in linked.iter().filter(|l| l.member != m && l.supported()) {
                supporters
                    .entry(l.member)
                    .or_default()
                    .extend(l.interventions.iter().map(|i| i.kind));
            }
            let des = economic_conflict(std::iter::once(rec).chain(linked.iter().copied()));
            let unsupported = rec.latent_need && !linked.iter().any(|l| l.supported());
            if supporters.is_empty() && !des && !unsupported {
                continue;
            }
            let others = if names_visible {
                let mut v: Vec<OtherSupport> = supporters
                    .iter()
                    .map(|(&ix, kinds)| {
                        let id = members.id(ix);
                        OtherSupport {
                            member: id.clone(),
                            role: id.role(),
                            zona: id.zona(),
                            kinds: kinds.iter().copied().collect(),
                        }
                    })
                    .collect();
                v.sort_by(|a, b| a.member.cmp(&b.member));
                v
            } else {
                Vec::new()
            };
            out.push(OverlapNotice {
                household: key,
                others_count: supporters.len() as u32,
                others,
                double_economic_support: des,
                unsupported_need: unsupported,
            });
        }
        out.sort_by_key(|n| n.household);
        out
    }
}
