//! Local views for the command line: the overlaps the hub reported, resolved to local
//! households and names (names appear only here, on the node), and the node's status.

use serde::Serialize;
use serde_json::{json, Value};

use crate::model::{Family, Person, StoredNotice};
use crate::store::{Kind, Store, StoreError, SyncState};

/// The overlaps as a JSON array, one object per shared household with something to report.
pub fn overlaps_json(store: &Store) -> Result<Vec<Value>, StoreError> {
    let mut out = Vec::new();
    for (_, n) in store.scan::<StoredNotice>(Kind::Notice, b"")? {
        let reference = reference_person(store, &n.household)?;
        let others: Vec<Value> = n
            .notice
            .others
            .iter()
            .map(|o| {
                json!({
                    "member": o.member.to_string(),
                    "role": o.role.as_str(),
                    "zona": o.zona,
                    "kinds": o.kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
                })
            })
            .collect();
        out.push(json!({
            "household": n.household,
            "reference_person": reference,
            "others_count": n.notice.others_count,
            "others": others,
            "double_economic_support": n.notice.double_economic_support,
            "unsupported_need": n.notice.unsupported_need,
        }));
    }
    out.sort_by(|a, b| a["household"].as_str().cmp(&b["household"].as_str()));
    Ok(out)
}

/// "SURNAME NAME" of a local household's reference person.
pub fn reference_person(store: &Store, household: &str) -> Result<String, StoreError> {
    let cf = if let Some(fam) = household.strip_prefix("F:") {
        store
            .get::<Family>(Kind::Family, fam.as_bytes())?
            .map(|f| f.reference)
            .unwrap_or_default()
    } else {
        household.strip_prefix("NR:").unwrap_or("").to_owned()
    };
    Ok(match store.get::<Person>(Kind::Person, cf.as_bytes())? {
        Some(p) if !p.cognome.is_empty() => format!("{} {}", p.cognome, p.nome),
        _ => cf,
    })
}

/// The overlaps as a text table.
pub fn overlaps_table(rows: &[Value]) -> String {
    let mut s = String::from("nucleo\tpersona di riferimento\taltri enti\tdoppio sostegno economico\tbisogno non sostenuto\tdettaglio\n");
    for r in rows {
        let detail: Vec<String> = r["others"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|o| {
                        let kinds: Vec<&str> = o["kinds"]
                            .as_array()
                            .map(|k| k.iter().filter_map(Value::as_str).collect())
                            .unwrap_or_default();
                        format!(
                            "{} ({})",
                            o["member"].as_str().unwrap_or(""),
                            kinds.join(", ")
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let yes = |v: &Value| {
            if v.as_bool() == Some(true) {
                "sì"
            } else {
                "no"
            }
        };
        s.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\n",
            r["household"].as_str().unwrap_or(""),
            r["reference_person"].as_str().unwrap_or(""),
            r["others_count"],
            yes(&r["double_economic_support"]),
            yes(&r["unsupported_need"]),
            detail.join("; ")
        ));
    }
    s
}

/// The node's status.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// Member id.
    pub member: String,
    /// Epoch.
    pub epoch: u16,
    /// Persons known.
    pub persons: usize,
    /// Anagrafe families.
    pub families: usize,
    /// Accesses.
    pub accessi: usize,
    /// Cases.
    pub prese_in_carico: usize,
    /// Interventions.
    pub interventi: usize,
    /// Household records the hub has acknowledged.
    pub shared_records: usize,
    /// Batches waiting to be sent.
    pub outbox_batches: usize,
    /// Overlap notices from the last sync.
    pub overlap_notices: usize,
    /// Last completed sync (RFC 3339), if any.
    pub last_sync: Option<String>,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "member           {}", self.member)?;
        writeln!(f, "epoch            {}", self.epoch)?;
        writeln!(f, "persons          {}", self.persons)?;
        writeln!(f, "families         {}", self.families)?;
        writeln!(f, "accessi          {}", self.accessi)?;
        writeln!(f, "prese in carico  {}", self.prese_in_carico)?;
        writeln!(f, "interventi       {}", self.interventi)?;
        writeln!(f, "shared records   {}", self.shared_records)?;
        writeln!(f, "outbox batches   {}", self.outbox_batches)?;
        writeln!(f, "overlap notices  {}", self.overlap_notices)?;
        write!(
            f,
            "last sync        {}",
            self.last_sync.as_deref().unwrap_or("never")
        )
    }
}

/// Reads the status.
pub fn status(store: &Store, member: &str, epoch: u16) -> Result<Status, StoreError> {
    let state: SyncState = store.meta_get("sync")?.unwrap_or_default();
    Ok(Status {
        member: member.to_owned(),
        epoch,
        persons: store.count(Kind::Person)?,
        families: store.count(Kind::Family)?,
        accessi: store.count(Kind::Accesso)?,
        prese_in_carico: store.count(Kind::PresaInCarico)?,
        interventi: store.count(Kind::Intervento)?,
        shared_records: store.count(Kind::Acked)?,
        outbox_batches: store.count(Kind::Outbox)?,
        overlap_notices: store.count(Kind::Notice)?,
        last_sync: state.last_sync.and_then(|t| {
            time::OffsetDateTime::from_unix_timestamp(t)
                .ok()
                .and_then(|d| {
                    d.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                })
        }),
    })
}
