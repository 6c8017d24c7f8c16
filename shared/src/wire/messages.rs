//! Message types of the siso protocol, one type per command (mini-redis style).
//!
//! On the wire every enum is its variant index (`u32`), so variants and fields are only ever
//! appended under a new [`super::PROTOCOL_VERSION`]. Golden hex fixtures in
//! `shared/tests/golden/` pin the encoding of every message.
//!
//! **Invariant:** no message type holds a codice fiscale, a name or an address: persons travel
//! only as [`Fingerprint`]s.

use serde::{Deserialize, Serialize};
use time::Date;

use crate::fingerprint::Fingerprint;
use crate::identity::MemberId;
use crate::vocab::{AgeBand, AreaBisogno, HouseholdType, Role, TipoIntervento};

/// Every message of the protocol. Requests go client → hub, replies hub → client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Message {
    /// Request: open a session, check versions and the identity the hub sees.
    Hello(Hello),
    /// Reply to `Hello`.
    HelloAck(HelloAck),
    /// Request: submit household records (adds, removes, or a full snapshot).
    SubmitBatch(SubmitBatch),
    /// Reply to `SubmitBatch` and `SubmitAggregates`, sent once the data is durable.
    Ack(Ack),
    /// Request: submit a Comune's aggregates for an epoch.
    SubmitAggregates(SubmitAggregates),
    /// Request: the overlaps of the caller's own households.
    FetchOverlaps(FetchOverlaps),
    /// Reply to `FetchOverlaps`.
    Overlaps(OverlapsReply),
    /// Request: published (suppressed) statistics.
    StatsQuery(StatsQuery),
    /// Reply to `StatsQuery`.
    Stats(StatsReply),
    /// Request (region only): the overlap matrix between members.
    OverlapMatrixQuery(OverlapMatrixQuery),
    /// Reply to `OverlapMatrixQuery`.
    OverlapMatrix(OverlapMatrix),
    /// Reply: the request was refused or failed.
    Error(WireError),
}

impl Message {
    /// A short name of the message kind, for logs and metrics (never a payload).
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Hello(_) => "hello",
            Message::HelloAck(_) => "hello_ack",
            Message::SubmitBatch(_) => "submit_batch",
            Message::Ack(_) => "ack",
            Message::SubmitAggregates(_) => "submit_aggregates",
            Message::FetchOverlaps(_) => "fetch_overlaps",
            Message::Overlaps(_) => "overlaps",
            Message::StatsQuery(_) => "stats_query",
            Message::Stats(_) => "stats",
            Message::OverlapMatrixQuery(_) => "overlap_matrix_query",
            Message::OverlapMatrix(_) => "overlap_matrix",
            Message::Error(_) => "error",
        }
    }

    /// True for the messages a client may send.
    pub fn is_request(&self) -> bool {
        matches!(
            self,
            Message::Hello(_)
                | Message::SubmitBatch(_)
                | Message::SubmitAggregates(_)
                | Message::FetchOverlaps(_)
                | Message::StatsQuery(_)
                | Message::OverlapMatrixQuery(_)
        )
    }

    /// The member id a request names in its body, if any.
    pub fn claimed_member(&self) -> Option<&MemberId> {
        match self {
            Message::Hello(m) => Some(&m.member),
            Message::SubmitBatch(m) => Some(&m.member),
            Message::SubmitAggregates(m) => Some(&m.member),
            Message::FetchOverlaps(m) => Some(&m.member),
            _ => None,
        }
    }

    /// Semantic checks beyond what decoding guarantees.
    pub(crate) fn validate(&self) -> Result<(), String> {
        match self {
            Message::SubmitBatch(b) => {
                check_epoch(b.epoch)?;
                for r in &b.add {
                    if r.persons.is_empty() || r.persons.len() > MAX_PERSONS_PER_HOUSEHOLD {
                        return Err(format!(
                            "a household record must have 1 to {MAX_PERSONS_PER_HOUSEHOLD} persons"
                        ));
                    }
                }
                Ok(())
            }
            Message::SubmitAggregates(a) => {
                check_epoch(a.epoch)?;
                for p in &a.periods {
                    if p.month > 12 {
                        return Err(format!("month {} out of 0..=12", p.month));
                    }
                }
                Ok(())
            }
            Message::FetchOverlaps(f) => check_epoch(f.epoch),
            Message::StatsQuery(q) => {
                check_epoch(q.epoch)?;
                match q.month {
                    Some(m) if !(1..=12).contains(&m) => Err(format!("month {m} out of 1..=12")),
                    _ => Ok(()),
                }
            }
            Message::OverlapMatrixQuery(q) => check_epoch(q.epoch),
            _ => Ok(()),
        }
    }
}

/// Most persons a household record may hold.
pub const MAX_PERSONS_PER_HOUSEHOLD: usize = 64;
/// Earliest and latest epoch accepted.
pub const EPOCHS: std::ops::RangeInclusive<u16> = 2000..=2199;

fn check_epoch(e: u16) -> Result<(), String> {
    if EPOCHS.contains(&e) {
        Ok(())
    } else {
        Err(format!(
            "epoch {e} out of {}..={}",
            EPOCHS.start(),
            EPOCHS.end()
        ))
    }
}

/// Opens a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The client's protocol version.
    pub protocol_version: u16,
    /// The client's software version (for the hub's log).
    pub software_version: String,
    /// The member the client believes it is (must match its certificate).
    pub member: MemberId,
}

/// The hub's answer to `Hello`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelloAck {
    /// The hub's protocol version.
    pub protocol_version: u16,
    /// The hub's software version.
    pub software_version: String,
    /// The identity the hub read from the client certificate.
    pub member: MemberId,
    /// Its role.
    pub role: Role,
}

/// A batch identifier chosen by the node, stable across retries of the same batch.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BatchId(pub [u8; 16]);

impl std::fmt::Debug for BatchId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BatchId({})", hex::encode(self.0))
    }
}

impl std::fmt::Display for BatchId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// One intervention as the hub sees it: kind, area of need and period only.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct InterventionSummary {
    /// Kind of intervention.
    pub kind: TipoIntervento,
    /// Area of need it answers (protocol version 4), so that the hub can count the households
    /// supported in an area once across members.
    pub area: AreaBisogno,
    /// First day.
    pub start: Date,
    /// Last day, if ended.
    pub end: Option<Date>,
}

impl InterventionSummary {
    /// True if the two periods share at least one day (open periods run forever).
    pub fn overlaps_in_time(&self, other: &InterventionSummary) -> bool {
        let a_end = self.end.unwrap_or(Date::MAX);
        let b_end = other.end.unwrap_or(Date::MAX);
        self.start <= b_end && other.start <= a_end
    }
}

/// Flags carried by a household record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RecordFlags {
    /// The node's assessment found the household eligible and not supported by this node.
    pub latent_need: bool,
    /// The household is not resident in the member's Comune (formed from a non-resident person).
    pub non_resident: bool,
}

/// A pseudonymised household record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HouseholdRecord {
    /// Household key (keyed hash of the sorted member fingerprints).
    pub key: Fingerprint,
    /// The members' person fingerprints.
    pub persons: Vec<Fingerprint>,
    /// Interventions of the submitting member for this household in the epoch.
    pub interventions: Vec<InterventionSummary>,
    /// Flags.
    pub flags: RecordFlags,
}

impl HouseholdRecord {
    /// True if the submitting member supports this household (at least one intervention).
    pub fn is_supported(&self) -> bool {
        !self.interventions.is_empty()
    }
}

/// How the fingerprints of a batch were made (`fingerprint.rs`). The hub keeps one scheme per
/// epoch and refuses a batch of the other: fingerprints of two schemes never match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Scheme {
    /// Keyed BLAKE3 under a secret every node holds (tests and small pilots).
    SharedKey,
    /// RFC 9497 VOPRF under a threshold key held by the key services (the default).
    Oprf,
}

impl Scheme {
    /// The name used in configuration, logs and errors.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::SharedKey => "shared-key",
            Scheme::Oprf => "oprf",
        }
    }
}

impl std::fmt::Display for Scheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Household records to add and remove; or, with `snapshot`, the member's whole set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitBatch {
    /// The submitting member (must be the caller).
    pub member: MemberId,
    /// Epoch (year).
    pub epoch: u16,
    /// Idempotency key: a batch already applied is acknowledged again, not applied twice.
    pub batch_id: BatchId,
    /// How the fingerprints were made (protocol version 2).
    pub scheme: Scheme,
    /// True: `add` is the member's complete set for the epoch, replacing the previous one.
    pub snapshot: bool,
    /// Records to add or replace (by household key).
    pub add: Vec<HouseholdRecord>,
    /// Household keys to remove.
    pub remove: Vec<Fingerprint>,
}

/// Acknowledges a durable submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// The batch acknowledged.
    pub batch_id: BatchId,
    /// True if the batch had already been applied (this is a repeated acknowledgement).
    pub duplicate: bool,
    /// How many records (or aggregate cells) the member had stored for the epoch once this batch
    /// was applied; a repeated Ack reports that same count.
    pub stored: u64,
}

/// What a statistics cell is broken down by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Breakdown {
    /// No breakdown: the member's total.
    Total,
    /// By area of need.
    Area(AreaBisogno),
    /// By kind of intervention.
    Tipo(TipoIntervento),
    /// By age band.
    AgeBand(AgeBand),
    /// By household type.
    HouseholdType(HouseholdType),
}

/// A statistics measure.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Measure {
    /// Access events.
    Accessi,
    /// Distinct persons with an access.
    PersoneConAccesso,
    /// Distinct persons in charge.
    PersoneInCarico,
    /// Distinct households supported (at least one intervention).
    HouseholdsSupported,
    /// Expenditure, euro cents.
    ExpenditureCents,
    /// Households assessed.
    HouseholdsAssessed,
    /// Households eligible under the named rule.
    Eligible(String),
    /// Households with a latent need.
    LatentNeed,
    /// Households with insufficient data for the assessment.
    InsufficientData,
    /// Households with the named critical flag.
    Critical(String),
    /// Overlap notices the member holds for the epoch (the last sync's).
    OverlapNotices,
    /// Of which an operator settled with a follow-up (compatible supports, intervention revised).
    OverlapNoticesResolved,
    /// Households assessed in need (eligible under at least one rule, so latent needs too), by
    /// the area of an open case of one of their members, else `altro` (protocol version 4).
    HouseholdsInNeed,
    /// Cases asked for at the desk and not yet taken in charge at the reference date, by area
    /// (protocol version 4).
    WaitingRequests,
    /// Interventions active in the epoch, by kind and area (epoch total; protocol version 4).
    Interventions,
    /// Minutes of recorded activity (interviews, home visits, calls, team meetings) in the
    /// epoch, by the area of the case they belong to, else `altro` (protocol version 4).
    ActivityMinutes,
    /// Social workers of the member: its enabled `assistente_sociale` accounts when the
    /// aggregates are computed (epoch total; protocol version 4).
    SocialWorkers,
}

/// One aggregate cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AggregateCell {
    /// Breakdown.
    pub breakdown: Breakdown,
    /// Measure.
    pub measure: Measure,
    /// Value (a count, or cents for expenditure).
    pub value: i64,
}

/// The cells of one period: a month 1–12, or 0 for the whole epoch (distinct counts over the
/// epoch are sent here, never summed from months).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodAggregates {
    /// Month 1–12, or 0 for the epoch total.
    pub month: u8,
    /// Cells.
    pub cells: Vec<AggregateCell>,
}

/// A Comune's aggregates for an epoch; replaces the member's previous aggregates per period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitAggregates {
    /// The submitting member (must be the caller; Comuni only).
    pub member: MemberId,
    /// Epoch.
    pub epoch: u16,
    /// Idempotency key.
    pub batch_id: BatchId,
    /// Periods.
    pub periods: Vec<PeriodAggregates>,
}

/// Asks for the overlaps of the caller's own households.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchOverlaps {
    /// The caller (must match its certificate).
    pub member: MemberId,
    /// Epoch.
    pub epoch: u16,
}

/// Another member that supports a linked household.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtherSupport {
    /// The member.
    pub member: MemberId,
    /// Its role.
    pub role: Role,
    /// Its zona sociale, for Comuni of Umbria.
    pub zona: Option<u8>,
    /// The kinds of intervention it records for the linked household.
    pub kinds: Vec<TipoIntervento>,
}

/// What the hub knows about one of the caller's households.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverlapNotice {
    /// The caller's household key.
    pub household: Fingerprint,
    /// How many other members support a linked household.
    pub others_count: u32,
    /// Who they are (empty for third-sector callers, who learn only the count).
    pub others: Vec<OtherSupport>,
    /// Linked records hold economic supports of two members with overlapping periods.
    pub double_economic_support: bool,
    /// The caller flagged latent need and nobody supports a linked household.
    pub unsupported_need: bool,
}

/// Reply to `FetchOverlaps`: one notice per household of the caller that links to another
/// member's record or is an unsupported need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverlapsReply {
    /// Epoch.
    pub epoch: u16,
    /// Notices.
    pub notices: Vec<OverlapNotice>,
    /// How many household records of the caller the hub holds for the epoch (protocol 3): a
    /// node that holds more as acknowledged knows the hub lost them (restored from an older
    /// backup) and sends its whole set again.
    pub held: u64,
}

/// Territorial level of a statistics query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Level {
    /// The Region.
    Region,
    /// Per zona sociale.
    Zona,
    /// Per Comune (and per third-sector entity).
    Comune,
}

/// A dimension to group statistics by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Dimension {
    /// `area_bisogno`.
    AreaBisogno,
    /// `tipo_intervento`.
    TipoIntervento,
    /// `age_band`.
    AgeBand,
    /// `household_type`.
    HouseholdType,
}

/// Asks for published statistics (suppressed as on the dashboard).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsQuery {
    /// Epoch.
    pub epoch: u16,
    /// Level.
    pub level: Level,
    /// Optional grouping.
    pub by: Option<Dimension>,
    /// Optional month 1–12.
    pub month: Option<u8>,
}

/// Published statistics: the same JSON document the hub's `/api/stats` serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsReply {
    /// The JSON document.
    pub json: String,
}

/// Asks for the overlap matrix (region only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverlapMatrixQuery {
    /// Epoch.
    pub epoch: u16,
}

/// One pair of members with linked supported households.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverlapPair {
    /// First member (by member id order).
    pub a: MemberId,
    /// Second member.
    pub b: MemberId,
    /// Supported household records of `a` linked to a supported record of `b`.
    pub households: u64,
}

/// The overlap matrix of an epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverlapMatrix {
    /// Epoch.
    pub epoch: u16,
    /// Pairs with at least one linked household.
    pub pairs: Vec<OverlapPair>,
    /// Households (groups of linked records) with double economic support.
    pub double_economic_support: u64,
    /// Latent-need records linked to no supported record.
    pub unsupported_need: u64,
}

/// Stable error codes. Numbers never change meaning; unknown numbers decode as `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "u16", into = "u16")]
pub enum ErrorCode {
    /// 1: the request could not be decoded or is semantically invalid.
    Malformed,
    /// 2: the protocol version is not supported.
    UnsupportedVersion,
    /// 3: the caller's role may not make this request.
    Forbidden,
    /// 4: the body names a member other than the caller's certificate.
    IdentityMismatch,
    /// 5: the request exceeds a size limit.
    TooLarge,
    /// 6: the message is not a request.
    Unexpected,
    /// 7: the member is not allowed by the hub's allow/deny lists.
    NotAllowed,
    /// 8: the hub could not complete the request (storage); retry later.
    Unavailable,
    /// 9: an internal error.
    Internal,
    /// 10: too many bad requests; the connection will be closed.
    Abuse,
    /// 11: the member's evaluation budget for the epoch is spent (key service).
    OverBudget,
    /// 12: too many evaluations in the last minute (key service); retry later.
    RateLimited,
    /// 13: the batch's fingerprint scheme differs from the one the epoch already holds (hub).
    SchemeMismatch,
    /// Any other number (from a newer peer).
    Other(u16),
}

impl From<u16> for ErrorCode {
    fn from(n: u16) -> Self {
        match n {
            1 => ErrorCode::Malformed,
            2 => ErrorCode::UnsupportedVersion,
            3 => ErrorCode::Forbidden,
            4 => ErrorCode::IdentityMismatch,
            5 => ErrorCode::TooLarge,
            6 => ErrorCode::Unexpected,
            7 => ErrorCode::NotAllowed,
            8 => ErrorCode::Unavailable,
            9 => ErrorCode::Internal,
            10 => ErrorCode::Abuse,
            11 => ErrorCode::OverBudget,
            12 => ErrorCode::RateLimited,
            13 => ErrorCode::SchemeMismatch,
            n => ErrorCode::Other(n),
        }
    }
}

impl From<ErrorCode> for u16 {
    fn from(c: ErrorCode) -> u16 {
        match c {
            ErrorCode::Malformed => 1,
            ErrorCode::UnsupportedVersion => 2,
            ErrorCode::Forbidden => 3,
            ErrorCode::IdentityMismatch => 4,
            ErrorCode::TooLarge => 5,
            ErrorCode::Unexpected => 6,
            ErrorCode::NotAllowed => 7,
            ErrorCode::Unavailable => 8,
            ErrorCode::Internal => 9,
            ErrorCode::Abuse => 10,
            ErrorCode::OverBudget => 11,
            ErrorCode::RateLimited => 12,
            ErrorCode::SchemeMismatch => 13,
            ErrorCode::Other(n) => n,
        }
    }
}

impl ErrorCode {
    /// A stable snake_case name for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Malformed => "malformed",
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::IdentityMismatch => "identity_mismatch",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::Unexpected => "unexpected",
            ErrorCode::NotAllowed => "not_allowed",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
            ErrorCode::Abuse => "abuse",
            ErrorCode::OverBudget => "over_budget",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::SchemeMismatch => "scheme_mismatch",
            ErrorCode::Other(_) => "other",
        }
    }
}

/// An error reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{} ({}): {message}", code.as_str(), u16::from(*code))]
pub struct WireError {
    /// Stable code.
    pub code: ErrorCode,
    /// Human-readable explanation (never personal data).
    pub message: String,
}

impl WireError {
    /// Builds an error reply.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        WireError {
            code,
            message: message.into(),
        }
    }
}
