//! Frozen statistical releases (docs/PRIVACY.md, "Releases").
//!
//! A release is the protected cube of one period — an epoch, or one month of it — cut at one
//! moment, audited, stored and never changed: every table the hub publishes (dashboard,
//! `/api/stats`, its CSV, the public summary, `StatsQuery` over QUIC) is cut from the latest
//! release and names it, so two downloads differ only when a new release was cut, and a
//! revision is protected against the one before it ([`crate::disclosure::joint`]).
//!
//! **Invariant:** a release is stored only when the audit proved every sensitive withheld cell
//! of it — small counts, the amounts spent on them, and, for a revision, every change of fewer
//! than `k` since the previous release — protected; otherwise it is refused and the previous
//! release stays published.
//!
//! **Invariant:** the digest covers exactly what is published (keys and published values, not
//! the withheld true values) and is the payload hash of the release's message-log record.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use siso_shared::MemberId;

use crate::disclosure::{AuditError, Interval, Method, Reason};
use crate::stats::{self, CellKey, Cube, Figures};

/// What a release is of: an epoch (`month` = `None`) or one month of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Period {
    /// The epoch (year).
    pub epoch: u16,
    /// The month (1–12) of a monthly release.
    pub month: Option<u8>,
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.month {
            Some(m) => write!(f, "{}-{m:02}", self.epoch),
            None => write!(f, "{}", self.epoch),
        }
    }
}

/// The audit report of a release: what was withheld and what it cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Cells in the release.
    pub cells: usize,
    /// Cells withheld.
    pub suppressed: usize,
    /// Of those, small counts (primary suppression).
    pub primary: usize,
    /// Cells withheld beyond the primary ones (information loss)…
    pub extra_cells: usize,
    /// …the units they count…
    pub extra_total: i64,
    /// …and the amounts they hide, in cents.
    pub extra_amount: i64,
    /// Cells added because subtraction-safe suppression did not pass the audit.
    pub audit_cells: usize,
    /// Counts that changed by fewer than `k` since the previous release (protected as change
    /// cells of the revision).
    pub changes: usize,
    /// Sensitive withheld cells (small counts, small changes, amounts spent on either) the
    /// audit proved protected: all of them, or the release is refused.
    pub proven: usize,
    /// Audit rounds and linear programs solved.
    pub rounds: usize,
    /// Linear programs solved.
    pub solves: usize,
    /// Seconds to protect and audit.
    pub seconds: f64,
}

/// A release's identity and report (what `release list` shows).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// Sequence number, from 1, over all periods.
    pub id: u64,
    /// What it is of.
    pub period: Period,
    /// When it was cut (Unix seconds).
    pub created: i64,
    /// The release it revises (the latest of the same epoch before it).
    pub previous: Option<u64>,
    /// The threshold.
    pub k: u32,
    /// BLAKE3 of its published content ([`digest`]).
    #[serde(with = "hex_digest")]
    pub digest: [u8; 32],
    /// Its audit report.
    pub report: Report,
}

impl Meta {
    /// The digest in hex.
    pub fn digest_hex(&self) -> String {
        hex::encode(self.digest)
    }

    /// The release as responses name it.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "period": self.period.to_string(),
            "created": self.created,
            "digest": self.digest_hex(),
        })
    }
}

mod hex_digest {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&hex::encode(d))
        } else {
            s.serialize_bytes(d)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            let mut out = [0u8; 32];
            hex::decode_to_slice(s, &mut out).map_err(serde::de::Error::custom)?;
            Ok(out)
        } else {
            let v: Vec<u8> = Vec::deserialize(d)?;
            v.try_into()
                .map_err(|_| serde::de::Error::custom("a digest is 32 bytes"))
        }
    }
}

/// A release in memory.
#[derive(Debug, Clone)]
pub struct Release {
    /// Identity and report.
    pub meta: Meta,
    /// The protected cube every published table is cut from.
    pub cube: Arc<Cube>,
}

/// A release as stored: its meta and everything to rebuild its cube (true values included,
/// kept on the hub like the records they come from, never published).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stored {
    /// Identity and report.
    pub meta: Meta,
    /// Cells in key order with their true values.
    pub cells: Vec<(CellKey, i64)>,
    /// Withheld cells.
    pub suppressed: Vec<bool>,
    /// Why each is withheld.
    pub reasons: Vec<Option<Reason>>,
    /// What the audit proved of each withheld cell.
    pub intervals: Vec<Option<Interval>>,
    /// The members with data.
    pub members: Vec<MemberId>,
    /// The measures present.
    pub measures: Vec<String>,
}

impl Stored {
    /// The stored form of a release.
    pub fn of(r: &Release) -> Stored {
        let c = &r.cube;
        Stored {
            meta: r.meta.clone(),
            cells: c
                .keys()
                .iter()
                .cloned()
                .zip(c.table.values.iter().copied())
                .collect(),
            suppressed: c.protection.suppression.suppressed.clone(),
            reasons: c.protection.reasons.clone(),
            intervals: c.protection.intervals.clone(),
            members: c.members.clone(),
            measures: c.measures.iter().cloned().collect(),
        }
    }

    /// The release back, its cube rebuilt and its digest checked.
    pub fn into_release(self) -> Result<Release, ReleaseError> {
        let cube = Cube::restore(
            self.meta.k,
            self.cells,
            self.suppressed,
            self.reasons,
            self.intervals,
            self.members,
            self.measures.into_iter().collect::<BTreeSet<_>>(),
            self.meta.report.changes,
        )?;
        let d = digest(&self.meta, &cube)?;
        if d != self.meta.digest {
            return Err(ReleaseError::Digest(self.meta.id));
        }
        Ok(Release {
            meta: self.meta,
            cube: Arc::new(cube),
        })
    }
}

/// Why a release was not cut.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    /// The period has no figures.
    #[error("no figures for {0}: nothing to release")]
    Empty(Period),
    /// The figures are those of the previous release.
    #[error("nothing changed since release {0}")]
    Unchanged(u64),
    /// Disclosure control could not protect the figures.
    #[error("disclosure control refused the release: {0}")]
    Audit(#[from] AuditError),
    /// The audit did not prove every sensitive withheld cell protected.
    #[error("the audit did not prove {0} sensitive withheld cells protected: release refused")]
    NotProven(usize),
    /// A stored release does not match its digest.
    #[error("release {0} does not match its digest: the store was altered")]
    Digest(u64),
    /// The release could not be encoded.
    #[error("encoding the release: {0}")]
    Encode(String),
}

/// BLAKE3 over the canonical encoding of what a release publishes: its id, period, time,
/// predecessor and threshold, and every cell's key with its published value (`None` withheld).
pub fn digest(meta: &Meta, cube: &Cube) -> Result<[u8; 32], ReleaseError> {
    Ok(*blake3::hash(&canonical(meta, cube)?).as_bytes())
}

/// The bytes [`digest`] hashes (also the payload the message log hashes).
pub fn canonical(meta: &Meta, cube: &Cube) -> Result<Vec<u8>, ReleaseError> {
    let published: Vec<(&CellKey, Option<i64>)> = cube
        .keys()
        .iter()
        .zip(cube.table.values.iter())
        .zip(cube.protection.suppression.suppressed.iter())
        .map(|((k, &v), &s)| (k, if s { None } else { Some(v) }))
        .collect();
    siso_shared::wire::encode_value(&(
        "siso-release/1",
        meta.id,
        meta.period,
        meta.created,
        meta.previous,
        meta.k,
        published,
    ))
    .map_err(|e| ReleaseError::Encode(e.to_string()))
}

/// Cuts release `id` of `period` at `created` from `figures` (already those of the period:
/// see [`Figures::month`]), as a revision of `previous` if there is one: protects with the
/// audited method, checks that every sensitive withheld cell was proven protected, and computes the
/// report and digest. Pure: the caller stores it.
pub fn cut(
    id: u64,
    period: Period,
    created: i64,
    k: u32,
    figures: Figures,
    previous: Option<&Release>,
) -> Result<Release, ReleaseError> {
    if figures.is_empty() {
        return Err(ReleaseError::Empty(period));
    }
    if let Some(p) = previous {
        if p.meta.period == period && figures.same_as(&p.cube) {
            return Err(ReleaseError::Unchanged(p.meta.id));
        }
    }
    let started = std::time::Instant::now();
    let cube = stats::protect(
        k,
        Method::Audited,
        figures,
        previous.map(|p| p.cube.as_ref()),
    )?;
    let seconds = started.elapsed().as_secs_f64();
    let t = &cube.table;
    let p = &cube.protection;
    let withheld: Vec<usize> = (0..t.len())
        .filter(|&c| p.suppression.suppressed[c])
        .collect();
    let sensitive = t.sensitive();
    let must: Vec<usize> = withheld.iter().copied().filter(|&c| sensitive[c]).collect();
    let proven = must
        .iter()
        .filter(|&&c| {
            p.intervals
                .get(c)
                .copied()
                .flatten()
                .is_some_and(|iv| iv.protects(t.is_count(c), t.k))
        })
        .count();
    if proven < must.len() {
        return Err(ReleaseError::NotProven(must.len() - proven));
    }
    let report = Report {
        cells: t.len(),
        suppressed: withheld.len(),
        primary: p.primary_cells,
        extra_cells: p.extra_cells,
        extra_total: p.extra_total,
        extra_amount: p.extra_amount,
        audit_cells: p.audit_cells,
        changes: cube.changes,
        proven,
        rounds: p.rounds,
        solves: p.solves,
        seconds,
    };
    let mut meta = Meta {
        id,
        period,
        created,
        previous: previous.map(|p| p.meta.id),
        k,
        digest: [0; 32],
        report,
    };
    meta.digest = digest(&meta, &cube)?;
    Ok(Release {
        meta,
        cube: Arc::new(cube),
    })
}

/// The JSON document of a request, cut from release `r` and naming it.
pub fn to_json(r: &Release, q: &stats::Request) -> serde_json::Value {
    let mut doc = stats::to_json(&r.cube, q);
    if let Some(o) = doc.as_object_mut() {
        o.insert("release".into(), r.meta.to_json());
    }
    doc
}
