//! Import drivers for the municipal registries and the social-service records.
//!
//! Every row is validated (codice fiscale, dates, vocabulary codes, numbers) before anything is
//! written; an import is one atomic store transaction. With any invalid row nothing is written
//! and every error is reported as `FILE:LINE: column: reason`; `--skip-invalid` imports the valid
//! rows and writes the rejects, with their reasons, to a CSV file.
//!
//! **Invariant:** an import with errors (and no `--skip-invalid`) writes nothing.

mod anagrafe;
mod commit;
pub mod profile;
mod read;
mod validate;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use siso_shared::Role;
use time::Date;

pub use commit::{natural_key, AppRow};
pub use profile::{Encoding, Profile};
pub use validate::{parse_cents, parse_date_str as parse_date};

use commit::build_tx;
use read::{read_rows, write_rejects, ReadOutcome};

use crate::store::{Store, StoreError};

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum ImportKind {
    /// Anagrafe (families and persons).
    Anagrafe,
    /// Anagrafe sanitaria (invalidity, law 104, self-sufficiency).
    Sanitaria,
    /// Incomes.
    Redditi,
    /// Properties.
    Immobili,
    /// Leases.
    Locazioni,
    /// Local taxes.
    Tributi,
    /// Accesses to reception desks.
    Accessi,
    /// Persons taken in charge.
    PreseInCarico,
    /// Interventions.
    Interventi,
}

impl ImportKind {
    /// The name used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            ImportKind::Anagrafe => "anagrafe",
            ImportKind::Sanitaria => "sanitaria",
            ImportKind::Redditi => "redditi",
            ImportKind::Immobili => "immobili",
            ImportKind::Locazioni => "locazioni",
            ImportKind::Tributi => "tributi",
            ImportKind::Accessi => "accessi",
            ImportKind::PreseInCarico => "prese-in-carico",
            ImportKind::Interventi => "interventi",
        }
    }

    /// Every kind: the six registries first (anagrafe, sanitaria, redditi, immobili, locazioni,
    /// tributi), then the social-service records (accessi, prese in carico, interventi).
    pub fn all() -> &'static [ImportKind] {
        <ImportKind as clap::ValueEnum>::value_variants()
    }

    /// The file's name in the canonical layout (`docs/examples/`, `siso-synth`'s output).
    pub fn file_name(self) -> String {
        format!("{}.csv", self.as_str())
    }

    /// Required columns.
    pub fn required(self) -> &'static [&'static str] {
        match self {
            ImportKind::Anagrafe => &[
                "codice_fiscale",
                "cognome",
                "nome",
                "sesso",
                "data_nascita",
                "codice_catastale_nascita",
                "id_famiglia",
                "rapporto_intestatario",
                "indirizzo",
            ],
            ImportKind::Sanitaria => &[
                "codice_fiscale",
                "invalidita_percentuale",
                "legge_104",
                "non_autosufficiente",
            ],
            ImportKind::Redditi => &["codice_fiscale", "anno", "reddito_complessivo"],
            ImportKind::Immobili => &[
                "codice_fiscale",
                "categoria_catastale",
                "rendita_catastale",
                "quota_possesso",
                "abitazione_principale",
            ],
            ImportKind::Locazioni => &[
                "codice_fiscale",
                "ruolo",
                "canone_annuo",
                "data_inizio",
                "data_fine",
                "morosita",
            ],
            ImportKind::Tributi => &[
                "codice_fiscale",
                "tributo",
                "anno",
                "importo_dovuto",
                "importo_versato",
            ],
            ImportKind::Accessi => &["data", "codice_fiscale", "area_bisogno", "esito"],
            ImportKind::PreseInCarico => &[
                "codice_fiscale",
                "data_inizio",
                "data_fine",
                "operatore",
                "area_bisogno",
            ],
            ImportKind::Interventi => &[
                "codice_fiscale",
                "tipo_intervento",
                "area_bisogno",
                "data_inizio",
                "data_fine",
                "importo",
            ],
        }
    }

    /// Optional columns.
    pub fn optional(self) -> &'static [&'static str] {
        match self {
            ImportKind::Interventi | ImportKind::Accessi => &[
                "cognome",
                "nome",
                "sesso",
                "data_nascita",
                "codice_catastale_nascita",
            ],
            ImportKind::PreseInCarico => &["cognome", "nome"],
            _ => &[],
        }
    }

    /// May a member of `role` import this kind?
    pub fn allowed_for(self, role: Role) -> bool {
        match role {
            Role::Comune => true,
            Role::Ets | Role::Asl => matches!(self, ImportKind::Interventi | ImportKind::Accessi),
            Role::Region => false,
        }
    }
}

/// One invalid row (or header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// Line in the file (1 is the header).
    pub line: u64,
    /// Column (canonical name), or `row`/`header`.
    pub column: String,
    /// Why.
    pub reason: String,
}

/// Errors of an import.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file could not be read.
    #[error("{path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The header lacks required columns.
    #[error("{path}:1: header: missing column(s) {missing} (found: {found}); map vendor names with a --profile")]
    MissingColumns {
        /// The file.
        path: String,
        /// Missing canonical columns.
        missing: String,
        /// Columns found.
        found: String,
    },
    /// Rows are invalid; nothing was written.
    #[error("{} invalid row(s); nothing was imported", .errors.len())]
    Invalid {
        /// The file.
        path: String,
        /// Every error.
        errors: Vec<RowError>,
    },
    /// The kind is not allowed for this node's role.
    #[error(
        "a {role} node cannot import {kind}: third-sector nodes import only interventi and accessi"
    )]
    NotAllowed {
        /// Kind.
        kind: &'static str,
        /// Role.
        role: Role,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ImportError {
    /// Every error line, `FILE:LINE: column: reason`.
    pub fn lines(&self) -> Vec<String> {
        match self {
            ImportError::Invalid { path, errors } => errors
                .iter()
                .map(|e| format!("{path}:{}: {}: {}", e.line, e.column, e.reason))
                .collect(),
            other => vec![other.to_string()],
        }
    }
}

/// Options of an import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Validate only.
    pub dry_run: bool,
    /// Import the valid rows and write rejects here.
    pub skip_invalid: Option<PathBuf>,
    /// Reference date for codice fiscale centuries (today).
    pub reference: Date,
    /// The node's role.
    pub role: Role,
    /// Show a progress bar (on a terminal).
    pub progress: bool,
}

impl ImportOptions {
    /// A real import for a node of `role`: everything written, no rejects file, no progress
    /// bar; `reference` dates the codici fiscali (today).
    pub fn new(role: Role, reference: Date) -> ImportOptions {
        ImportOptions {
            dry_run: false,
            skip_invalid: None,
            reference,
            role,
            progress: false,
        }
    }
}

/// The outcome of an import.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ImportSummary {
    /// Data rows read.
    pub rows_read: u64,
    /// Rows imported (or, with `--dry-run`, that would be).
    pub imported: u64,
    /// Rows rejected (with `--skip-invalid`).
    pub rejected: u64,
    /// Distinct persons in the file.
    pub persons: u64,
    /// Households (families) in the file (anagrafe).
    pub households: u64,
    /// Seconds taken.
    pub seconds: f64,
    /// True if nothing was written because of `--dry-run`.
    pub dry_run: bool,
    /// Rows left out because an operator already recorded the same record in the web app.
    pub already_in_app: u64,
    /// Rows left out because their person was erased (`siso-node erase`).
    pub erased: u64,
}

impl fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} rows read, {} imported, {} rejected, {} persons, {} households, {:.2} s{}{}{}",
            self.rows_read,
            self.imported,
            self.rejected,
            self.persons,
            self.households,
            self.seconds,
            if self.already_in_app > 0 {
                format!(
                    " ({} already recorded in the web app, left out)",
                    self.already_in_app
                )
            } else {
                String::new()
            },
            if self.erased > 0 {
                format!(" ({} rows of erased persons, left out)", self.erased)
            } else {
                String::new()
            },
            if self.dry_run {
                " (dry run: nothing written)"
            } else {
                ""
            }
        )
    }
}

/// Validates a record the web app received (column name → value, as in a CSV file of `kind`)
/// exactly as an import row; the (column, reason) of every error otherwise. Only accessi, prese
/// in carico and interventi are records an operator writes.
pub fn validate_app(
    kind: ImportKind,
    fields: &std::collections::BTreeMap<String, String>,
    reference: Date,
) -> Result<AppRow, Vec<(String, String)>> {
    let cols: std::collections::HashMap<String, usize> = fields
        .keys()
        .enumerate()
        .map(|(i, k)| (k.clone(), i))
        .collect();
    let profile = Profile::default();
    let mut f = validate::Fields {
        cols: &cols,
        values: fields.values().cloned().collect(),
        profile: &profile,
        reference,
        errors: Vec::new(),
    };
    let row = validate::parse_row(kind, &mut f);
    match row {
        Some(_) if !f.errors.is_empty() => Err(f.errors),
        Some(validate::Row::Accesso(p, v)) => Ok(AppRow::Accesso(p, v)),
        Some(validate::Row::Presa(p, v)) => Ok(AppRow::Presa(p, v)),
        Some(validate::Row::Intervento(p, v)) => Ok(AppRow::Intervento(p, v)),
        Some(_) => Err(vec![(
            String::new(),
            format!("{} is not written in the app", kind.as_str()),
        )]),
        None => Err(f.errors),
    }
}

/// Imports `path` as `kind` into `store`.
pub fn import(
    store: &Store,
    kind: ImportKind,
    path: &Path,
    profile: &Profile,
    opts: &ImportOptions,
) -> Result<ImportSummary, ImportError> {
    let started = Instant::now();
    if !kind.allowed_for(opts.role) {
        return Err(ImportError::NotAllowed {
            kind: kind.as_str(),
            role: opts.role,
        });
    }
    let shown = path.display().to_string();
    // Erased persons stay erased: their rows are left out (tombstones are few; most imports
    // find none and check nothing).
    let erased: std::collections::HashSet<Vec<u8>> = store
        .keys(crate::store::Kind::Tombstone)?
        .into_iter()
        .collect();
    let mut tombstones = if erased.is_empty() {
        None
    } else {
        let key = crate::persons::id_key(store).map_err(|e| ImportError::Io {
            path: "store".into(),
            reason: e.to_string(),
        })?;
        Some((erased, key))
    };
    // The anagrafe is built into its transaction row by row; other kinds are small enough per
    // person to be collected first.
    let mut registry =
        (kind == ImportKind::Anagrafe).then(|| anagrafe::Anagrafe::new(tombstones.take()));
    let mut rows: Vec<validate::Row> = Vec::new();
    let mut valid = 0u64;
    let ReadOutcome {
        header,
        errors,
        rejects,
        rows_read,
    } = read_rows(kind, path, profile, opts, &mut |r| {
        valid += 1;
        match (&mut registry, r) {
            (Some(a), validate::Row::Anagrafe(p)) => a.person(p),
            (_, r) => {
                rows.push(r);
                Ok(())
            }
        }
    })?;
    let mut summary = ImportSummary {
        dry_run: opts.dry_run,
        rows_read,
        ..ImportSummary::default()
    };
    if !errors.is_empty() {
        match &opts.skip_invalid {
            None => {
                return Err(ImportError::Invalid {
                    path: shown,
                    errors,
                })
            }
            Some(rej) if !opts.dry_run => {
                write_rejects(rej, &header, &rejects, profile).map_err(|e| ImportError::Io {
                    path: rej.display().to_string(),
                    reason: e.to_string(),
                })?
            }
            Some(_) => {}
        }
        // A file that could not be read to its end is never partially imported.
        if errors.iter().any(|e| e.reason.starts_with("unreadable")) {
            return Err(ImportError::Invalid {
                path: shown,
                errors,
            });
        }
    }
    summary.rejected = rejects.len() as u64;
    let tx = match registry {
        Some(a) => {
            summary.erased = a.erased;
            let (tx, persons, households) = a.finish(store)?;
            summary.persons = persons;
            summary.households = households;
            tx
        }
        None => {
            if let Some((erased, key)) = &tombstones {
                let before = rows.len();
                rows.retain(|r| !erased.contains(key.id(r.cf()).as_slice()));
                summary.erased = (before - rows.len()) as u64;
            }
            build_tx(store, kind, &rows, &mut summary)?
        }
    };
    drop(rows);
    summary.imported = valid - summary.erased - summary.already_in_app;
    if !opts.dry_run {
        store.commit(tx)?;
    }
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}
