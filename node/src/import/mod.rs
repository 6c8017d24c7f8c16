//! Import drivers for the municipal registries and the social-service records.
//!
//! Every row is validated (codice fiscale, dates, vocabulary codes, numbers) before anything is
//! written; an import is one atomic store transaction. With any invalid row nothing is written
//! and every error is reported as `FILE:LINE: column: reason`; `--skip-invalid` imports the valid
//! rows and writes the rejects, with their reasons, to a CSV file.
//!
//! **Invariant:** an import with errors (and no `--skip-invalid`) writes nothing.

pub mod profile;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Instant;

use siso_shared::{AreaBisogno, CodiceFiscale, Role, Sex, TipoIntervento};
use time::Date;

pub use profile::{Encoding, Profile};

use crate::model::*;
use crate::store::{cf_key, row_hash, Kind, Store, StoreError, Tx};

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
            ImportKind::Interventi => &[
                "cognome",
                "nome",
                "sesso",
                "data_nascita",
                "codice_catastale_nascita",
            ],
            _ => &[],
        }
    }

    /// May a member of `role` import this kind?
    pub fn allowed_for(self, role: Role) -> bool {
        match role {
            Role::Comune => true,
            Role::Ets => matches!(self, ImportKind::Interventi | ImportKind::Accessi),
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
}

impl fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} rows read, {} imported, {} rejected, {} persons, {} households, {:.2} s{}",
            self.rows_read,
            self.imported,
            self.rejected,
            self.persons,
            self.households,
            self.seconds,
            if self.dry_run {
                " (dry run: nothing written)"
            } else {
                ""
            }
        )
    }
}

/// A parsed row.
#[derive(Debug, Clone)]
enum Row {
    Anagrafe(Person),
    Sanitaria(String, Sanitaria),
    Reddito(String, Reddito),
    Immobile(String, Immobile),
    Locazione(String, Locazione),
    Tributo(String, Tributo),
    Accesso(Person, Accesso),
    Presa(Person, PresaInCarico),
    Intervento(Person, Intervento),
}

struct Fields<'a> {
    cols: &'a HashMap<String, usize>,
    values: Vec<String>,
    profile: &'a Profile,
    reference: Date,
    errors: Vec<(String, String)>,
}

fn parse_date_str(s: &str) -> Option<Date> {
    let s = s.trim();
    let (y, m, d) = if let Some((d, rest)) = s.split_once('/') {
        let (m, y) = rest.split_once('/')?;
        (y, m, d)
    } else {
        let mut it = s.splitn(3, '-');
        (it.next()?, it.next()?, it.next()?)
    };
    if y.len() != 4 {
        return None;
    }
    let month = time::Month::try_from(m.parse::<u8>().ok()?).ok()?;
    Date::from_calendar_date(y.parse().ok()?, month, d.parse().ok()?).ok()
}

/// Parses an amount into cents: `1234.56`, `1234,56`, and with `decimal_comma` `1.234,56`.
pub fn parse_cents(s: &str, decimal_comma: bool) -> Option<i64> {
    let t = s.trim().replace([' ', '€'], "");
    if t.is_empty() {
        return None;
    }
    let normal = if decimal_comma {
        t.replace('.', "").replace(',', ".")
    } else if t.contains(',') && !t.contains('.') {
        t.replace(',', ".")
    } else {
        t.replace(',', "")
    };
    let (neg, body) = match normal.strip_prefix('-') {
        Some(b) => (true, b.to_owned()),
        None => (false, normal),
    };
    let (int, frac) = body.split_once('.').unwrap_or((&body, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 2
    {
        return None;
    }
    let i: i64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let f: i64 = match frac.len() {
        0 => 0,
        1 => frac.parse::<i64>().ok()? * 10,
        _ => frac.parse().ok()?,
    };
    let v = i.checked_mul(100)?.checked_add(f)?;
    Some(if neg { -v } else { v })
}

impl Fields<'_> {
    fn raw(&self, col: &str) -> Option<&str> {
        self.cols
            .get(col)
            .and_then(|&i| self.values.get(i))
            .map(|s| s.trim())
    }

    fn err(&mut self, col: &str, reason: impl Into<String>) {
        self.errors.push((col.to_owned(), reason.into()));
    }

    fn text(&mut self, col: &str) -> String {
        self.raw(col).unwrap_or("").to_owned()
    }

    fn required_text(&mut self, col: &str) -> Option<String> {
        match self.raw(col) {
            Some(s) if !s.is_empty() => Some(s.to_owned()),
            _ => {
                self.err(col, "empty");
                None
            }
        }
    }

    fn cf(&mut self, col: &str) -> Option<CodiceFiscale> {
        let raw = self.raw(col).unwrap_or("").to_owned();
        match CodiceFiscale::parse(&raw, self.reference) {
            Ok(cf) => Some(cf),
            Err(e) => {
                self.err(col, e.to_string());
                None
            }
        }
    }

    fn date(&mut self, col: &str) -> Option<Date> {
        let raw = self.raw(col).unwrap_or("").to_owned();
        let d = parse_date_str(&raw);
        if d.is_none() {
            self.err(
                col,
                format!("{raw:?} is not a date (YYYY-MM-DD or DD/MM/YYYY)"),
            );
        }
        d
    }

    fn opt_date(&mut self, col: &str) -> Option<Option<Date>> {
        match self.raw(col) {
            None | Some("") => Some(None),
            Some(_) => self.date(col).map(Some),
        }
    }

    fn cents(&mut self, col: &str) -> Option<i64> {
        let raw = self.raw(col).unwrap_or("").to_owned();
        let v = parse_cents(&raw, self.profile.decimal_comma);
        if v.is_none() {
            self.err(col, format!("{raw:?} is not an amount"));
        }
        v
    }

    fn boolean(&mut self, col: &str) -> Option<bool> {
        match self.raw(col).map(str::to_ascii_uppercase).as_deref() {
            Some("S") | Some("SI") | Some("SÌ") => Some(true),
            Some("N") | Some("NO") => Some(false),
            other => {
                let shown = other.unwrap_or("").to_owned();
                self.err(col, format!("{shown:?} is not S or N"));
                None
            }
        }
    }

    fn year(&mut self, col: &str) -> Option<u16> {
        let raw = self.raw(col).unwrap_or("").to_owned();
        match raw.parse::<u16>() {
            Ok(y) if (1900..=2199).contains(&y) => Some(y),
            _ => {
                self.err(col, format!("{raw:?} is not a year"));
                None
            }
        }
    }

    fn vocab<T: FromStr>(&mut self, col: &str) -> Option<T>
    where
        T::Err: fmt::Display,
    {
        let raw = self.raw(col).unwrap_or("").to_owned();
        match raw.parse::<T>() {
            Ok(v) => Some(v),
            Err(e) => {
                self.err(col, e.to_string());
                None
            }
        }
    }

    fn percent(&mut self, col: &str) -> Option<u32> {
        let raw = self.raw(col).unwrap_or("").to_owned();
        match parse_cents(&raw, self.profile.decimal_comma) {
            Some(v) if (0..=10_000).contains(&v) => Some(v as u32),
            _ => {
                self.err(
                    col,
                    format!("{raw:?} is not a percentage between 0 and 100"),
                );
                None
            }
        }
    }

    /// Checks that the code's encoded sex and birth date agree with the row's.
    fn check_demographics(&mut self, cf: &CodiceFiscale, sex: Option<Sex>, born: Option<Date>) {
        if let Some(s) = sex {
            if s != cf.sex() {
                self.err(
                    "codice_fiscale",
                    format!(
                        "encodes sex {} but sesso is {}",
                        cf.sex().as_str(),
                        s.as_str()
                    ),
                );
            }
        }
        if let Some(d) = born {
            let c = cf.birth_date();
            if (d.year().rem_euclid(100), d.month(), d.day())
                != (c.year().rem_euclid(100), c.month(), c.day())
            {
                self.err(
                    "codice_fiscale",
                    format!("encodes birth date {c} but data_nascita is {d}"),
                );
            }
        }
    }

    fn sex(&mut self, col: &str) -> Option<Sex> {
        let raw = self.raw(col).unwrap_or("").to_owned();
        let s = Sex::parse(&raw);
        if s.is_none() {
            self.err(col, format!("{raw:?} is not M or F"));
        }
        s
    }

    /// A person named by a record (access, case, intervention): from the code, or for
    /// interventions without a code, computed from the demographic columns.
    fn subject(&mut self, allow_compute: bool) -> Option<Person> {
        let code = self.raw("codice_fiscale").unwrap_or("").to_owned();
        let has_demo = allow_compute
            && [
                "cognome",
                "nome",
                "sesso",
                "data_nascita",
                "codice_catastale_nascita",
            ]
            .iter()
            .all(|c| self.raw(c).is_some_and(|v| !v.is_empty()));
        if code.is_empty() && allow_compute {
            if !has_demo {
                self.err(
                    "codice_fiscale",
                    "empty, and cognome, nome, sesso, data_nascita, codice_catastale_nascita are not all given to compute it",
                );
                return None;
            }
            let (sn, gn) = (self.text("cognome"), self.text("nome"));
            let (sex, born) = (self.sex("sesso")?, self.date("data_nascita")?);
            let place = self.text("codice_catastale_nascita");
            return match CodiceFiscale::compute(&sn, &gn, sex, born, &place) {
                Ok(cf) => Some(Person {
                    cf: cf.as_str().to_owned(),
                    cognome: sn,
                    nome: gn,
                    sesso: sex,
                    data_nascita: born,
                    luogo_nascita: place.to_ascii_uppercase(),
                    famiglia: None,
                    rapporto: String::new(),
                    indirizzo: String::new(),
                    resident: false,
                }),
                Err(e) => {
                    self.err("codice_fiscale", format!("cannot be computed: {e}"));
                    None
                }
            };
        }
        let cf = self.cf("codice_fiscale")?;
        let (mut cognome, mut nome) = (String::new(), String::new());
        if has_demo {
            let sex = self.sex("sesso");
            let born = self.date("data_nascita");
            self.check_demographics(&cf, sex, born);
            cognome = self.text("cognome");
            nome = self.text("nome");
        }
        Some(Person {
            cf: cf.as_str().to_owned(),
            cognome,
            nome,
            sesso: cf.sex(),
            data_nascita: cf.birth_date(),
            luogo_nascita: cf.birthplace_code(),
            famiglia: None,
            rapporto: String::new(),
            indirizzo: String::new(),
            resident: false,
        })
    }
}

fn parse_row(kind: ImportKind, f: &mut Fields<'_>) -> Option<Row> {
    Some(match kind {
        ImportKind::Anagrafe => {
            let cf = f.cf("codice_fiscale");
            let cognome = f.required_text("cognome");
            let nome = f.required_text("nome");
            let sex = f.sex("sesso");
            let born = f.date("data_nascita");
            let place = f.required_text("codice_catastale_nascita");
            let fam = f.required_text("id_famiglia");
            let rapporto = f.text("rapporto_intestatario");
            let indirizzo = f.text("indirizzo");
            let cf = cf?;
            f.check_demographics(&cf, sex, born);
            let place = place?.to_ascii_uppercase();
            if place != cf.birthplace_code() {
                f.err(
                    "codice_fiscale",
                    format!(
                        "encodes birthplace {} but codice_catastale_nascita is {place}",
                        cf.birthplace_code()
                    ),
                );
            }
            Row::Anagrafe(Person {
                cf: cf.as_str().to_owned(),
                cognome: cognome?,
                nome: nome?,
                sesso: sex?,
                data_nascita: born?,
                luogo_nascita: place,
                famiglia: Some(fam?),
                rapporto,
                indirizzo,
                resident: true,
            })
        }
        ImportKind::Sanitaria => {
            let cf = f.cf("codice_fiscale");
            let inv = f.percent("invalidita_percentuale");
            let l104 = f.boolean("legge_104");
            let na = f.boolean("non_autosufficiente");
            Row::Sanitaria(
                cf?.as_str().to_owned(),
                Sanitaria {
                    invalidita: (inv? / 100) as u8,
                    legge_104: l104?,
                    non_autosufficiente: na?,
                },
            )
        }
        ImportKind::Redditi => {
            let cf = f.cf("codice_fiscale");
            let anno = f.year("anno");
            let imp = f.cents("reddito_complessivo");
            Row::Reddito(
                cf?.as_str().to_owned(),
                Reddito {
                    anno: anno?,
                    importo: imp?,
                },
            )
        }
        ImportKind::Immobili => {
            let cf = f.cf("codice_fiscale");
            let cat = f.required_text("categoria_catastale");
            let rendita = f.cents("rendita_catastale");
            let quota = f.percent("quota_possesso");
            let main = f.boolean("abitazione_principale");
            Row::Immobile(
                cf?.as_str().to_owned(),
                Immobile {
                    categoria: cat?,
                    rendita: rendita?,
                    quota: quota?,
                    abitazione_principale: main?,
                },
            )
        }
        ImportKind::Locazioni => {
            let cf = f.cf("codice_fiscale");
            let ruolo = f.required_text("ruolo");
            let canone = f.cents("canone_annuo");
            let inizio = f.date("data_inizio");
            let fine = f.opt_date("data_fine");
            let mor = f.boolean("morosita");
            Row::Locazione(
                cf?.as_str().to_owned(),
                Locazione {
                    ruolo: ruolo?,
                    canone: canone?,
                    inizio: inizio?,
                    fine: fine?,
                    morosita: mor?,
                },
            )
        }
        ImportKind::Tributi => {
            let cf = f.cf("codice_fiscale");
            let tributo = f.required_text("tributo");
            let anno = f.year("anno");
            let dovuto = f.cents("importo_dovuto");
            let versato = f.cents("importo_versato");
            Row::Tributo(
                cf?.as_str().to_owned(),
                Tributo {
                    tributo: tributo?.to_ascii_uppercase(),
                    anno: anno?,
                    dovuto: dovuto?,
                    versato: versato?,
                },
            )
        }
        ImportKind::Accessi => {
            let p = f.subject(false);
            let data = f.date("data");
            let area = f.vocab::<AreaBisogno>("area_bisogno");
            let esito = f.text("esito");
            Row::Accesso(
                p?,
                Accesso {
                    data: data?,
                    area: area?,
                    esito,
                },
            )
        }
        ImportKind::PreseInCarico => {
            let p = f.subject(false);
            let inizio = f.date("data_inizio");
            let fine = f.opt_date("data_fine");
            let op = f.required_text("operatore");
            let area = f.vocab::<AreaBisogno>("area_bisogno");
            Row::Presa(
                p?,
                PresaInCarico {
                    inizio: inizio?,
                    fine: fine?,
                    operatore: op?,
                    area: area?,
                },
            )
        }
        ImportKind::Interventi => {
            let p = f.subject(true);
            let tipo = f.vocab::<TipoIntervento>("tipo_intervento");
            let area = f.vocab::<AreaBisogno>("area_bisogno");
            let inizio = f.date("data_inizio");
            let fine = f.opt_date("data_fine");
            let importo = match f.raw("importo") {
                None | Some("") => Some(0),
                Some(_) => f.cents("importo"),
            };
            if let (Some(i), Some(Some(e))) = (inizio, fine) {
                if e < i {
                    f.err("data_fine", "before data_inizio");
                }
            }
            Row::Intervento(
                p?,
                Intervento {
                    tipo: tipo?,
                    area: area?,
                    inizio: inizio?,
                    fine: fine?,
                    importo: importo?,
                },
            )
        }
    })
}

/// Byte offsets of every newline read so far: line numbers computed from them are exact for LF
/// and CRLF files alike (the csv crate's own line counter is off by one on CRLF input).
#[derive(Clone, Default)]
struct Newlines(std::rc::Rc<std::cell::RefCell<Vec<u64>>>);

impl Newlines {
    /// The 1-based line of a record starting at a byte offset. On CRLF input the csv reader
    /// places a record's start on the `\n` that ends the previous line, hence `<=`.
    fn line_of(&self, byte: u64) -> u64 {
        self.0.borrow().partition_point(|&n| n <= byte) as u64 + 1
    }
}

struct CountingReader<R> {
    inner: R,
    offset: u64,
    newlines: Newlines,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut nl = self.newlines.0.borrow_mut();
        for (i, b) in buf[..n].iter().enumerate() {
            if *b == b'\n' {
                nl.push(self.offset + i as u64);
            }
        }
        self.offset += n as u64;
        Ok(n)
    }
}

fn open_reader(path: &Path, profile: &Profile) -> Result<Box<dyn Read>, ImportError> {
    let file = std::fs::File::open(path).map_err(|e| ImportError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    Ok(match profile.encoding {
        Encoding::Utf8 => Box::new(std::io::BufReader::new(file)),
        Encoding::Windows1252 | Encoding::Iso88591 => Box::new(
            encoding_rs_io::DecodeReaderBytesBuilder::new()
                .encoding(Some(encoding_rs::WINDOWS_1252))
                .build(file),
        ),
    })
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
    let io_err = |reason: String| ImportError::Io {
        path: shown.clone(),
        reason,
    };
    let total_bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let newlines = Newlines::default();
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(profile.delimiter as u8)
        .flexible(true)
        .has_headers(true)
        .from_reader(CountingReader {
            inner: open_reader(path, profile)?,
            offset: 0,
            newlines: newlines.clone(),
        });
    let header = rdr
        .byte_headers()
        .map_err(|e| io_err(e.to_string()))?
        .clone();
    let header_text: Vec<String> = header
        .iter()
        .map(|h| String::from_utf8_lossy(h).into_owned())
        .collect();
    let mut cols = HashMap::new();
    for (i, h) in header_text.iter().enumerate() {
        cols.entry(profile.canonical(h)).or_insert(i);
    }
    let missing: Vec<&str> = kind
        .required()
        .iter()
        .copied()
        .filter(|c| !cols.contains_key(*c))
        .collect();
    if !missing.is_empty() {
        return Err(ImportError::MissingColumns {
            path: shown,
            missing: missing.join(", "),
            found: header_text.join(", "),
        });
    }
    let bar = if opts.progress && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        let b = indicatif::ProgressBar::new(total_bytes);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg} [{bar:40}] {bytes}/{total_bytes} ({eta})",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b.set_message(format!("import {}", kind.as_str()));
        Some(b)
    } else {
        None
    };

    let mut summary = ImportSummary {
        dry_run: opts.dry_run,
        ..ImportSummary::default()
    };
    let mut rows: Vec<Row> = Vec::new();
    let mut errors: Vec<RowError> = Vec::new();
    let mut rejects: Vec<(Vec<String>, String)> = Vec::new();
    let mut seen_cf: HashSet<String> = HashSet::new();
    let mut record = csv::ByteRecord::new();
    loop {
        let line = newlines.line_of(rdr.position().byte());
        match rdr.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                // A broken record (bad quoting, invalid encoding) ends the file: report it.
                let line = e.position().map_or(line, |p| newlines.line_of(p.byte()));
                errors.push(RowError {
                    line,
                    column: "row".into(),
                    reason: format!("unreadable: {e}"),
                });
                break;
            }
        }
        let line = record
            .position()
            .map_or(line, |p| newlines.line_of(p.byte()));
        summary.rows_read += 1;
        if let Some(b) = &bar {
            if summary.rows_read.is_multiple_of(4096) {
                b.set_position(record.position().map_or(0, |p| p.byte()));
            }
        }
        let mut row_errors: Vec<(String, String)> = Vec::new();
        let mut values = Vec::with_capacity(record.len());
        for (i, v) in record.iter().enumerate() {
            match std::str::from_utf8(v) {
                Ok(s) => values.push(s.to_owned()),
                Err(_) => {
                    let col = header_text.get(i).cloned().unwrap_or_else(|| "row".into());
                    row_errors.push((
                        profile.canonical(&col),
                        "not valid UTF-8 (set encoding = \"windows-1252\" in a --profile?)".into(),
                    ));
                    values.push(String::from_utf8_lossy(v).into_owned());
                }
            }
        }
        if record.len() != header.len() {
            row_errors.push((
                "row".into(),
                format!("expected {} fields, found {}", header.len(), record.len()),
            ));
        }
        let parsed = if row_errors.is_empty() {
            let mut f = Fields {
                cols: &cols,
                values: values.clone(),
                profile,
                reference: opts.reference,
                errors: Vec::new(),
            };
            let r = parse_row(kind, &mut f);
            row_errors.extend(f.errors);
            r
        } else {
            None
        };
        if let (Some(Row::Anagrafe(p)), true) = (&parsed, row_errors.is_empty()) {
            if !seen_cf.insert(p.cf.clone()) {
                row_errors.push(("codice_fiscale".into(), "appears twice in the file".into()));
            }
        }
        match (parsed, row_errors.is_empty()) {
            (Some(r), true) => rows.push(r),
            _ => {
                let reason = row_errors
                    .iter()
                    .map(|(c, r)| format!("{c}: {r}"))
                    .collect::<Vec<_>>()
                    .join("; ");
                if row_errors.is_empty() {
                    row_errors.push(("row".into(), "invalid".into()));
                }
                for (column, reason) in row_errors {
                    errors.push(RowError {
                        line,
                        column,
                        reason,
                    });
                }
                rejects.push((values, reason));
            }
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if !errors.is_empty() {
        match &opts.skip_invalid {
            None => {
                return Err(ImportError::Invalid {
                    path: shown,
                    errors,
                })
            }
            Some(rej) if !opts.dry_run => write_rejects(rej, &header_text, &rejects, profile)
                .map_err(|e| ImportError::Io {
                    path: rej.display().to_string(),
                    reason: e.to_string(),
                })?,
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
    summary.imported = rows.len() as u64;
    let tx = build_tx(store, kind, &rows, &mut summary)?;
    if !opts.dry_run {
        store.commit(tx)?;
    }
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

fn write_rejects(
    path: &Path,
    header: &[String],
    rejects: &[(Vec<String>, String)],
    profile: &Profile,
) -> std::io::Result<()> {
    let mut w = csv::WriterBuilder::new()
        .flexible(true)
        .delimiter(profile.delimiter as u8)
        .from_path(path)?;
    let mut h = header.to_vec();
    h.push("errore".into());
    w.write_record(&h)?;
    for (values, reason) in rejects {
        let mut r = values.clone();
        r.push(reason.clone());
        w.write_record(&r)?;
    }
    w.flush()
}

fn build_tx(
    store: &Store,
    kind: ImportKind,
    rows: &[Row],
    summary: &mut ImportSummary,
) -> Result<Tx, ImportError> {
    let mut tx = Tx::default();
    let mut persons: HashSet<&str> = HashSet::new();
    if kind == ImportKind::Anagrafe {
        let mut families: BTreeMap<String, Vec<&Person>> = BTreeMap::new();
        for r in rows {
            if let Row::Anagrafe(p) = r {
                persons.insert(&p.cf);
                if let Some(fam) = &p.famiglia {
                    families.entry(fam.clone()).or_default().push(p);
                }
                tx.put(Kind::Person, p.cf.as_bytes(), p)?;
            }
        }
        // The file is the registry as of today: families are replaced, and residents who are
        // no longer in it keep their records but become non-residents.
        for k in store.keys(Kind::Family)? {
            if !families.contains_key(String::from_utf8_lossy(&k).as_ref()) {
                tx.delete(Kind::Family, &k);
            }
        }
        for (k, p) in store.scan::<Person>(Kind::Person, b"")? {
            if p.resident && !persons.contains(String::from_utf8_lossy(&k).as_ref()) {
                let moved = Person {
                    resident: false,
                    famiglia: None,
                    ..p
                };
                tx.put(Kind::Person, &k, &moved)?;
            }
        }
        for (id, members) in &families {
            let reference = members
                .iter()
                .find(|p| p.rapporto.trim().eq_ignore_ascii_case("IS"))
                .or_else(|| {
                    members
                        .iter()
                        .min_by_key(|p| (p.data_nascita, p.cf.clone()))
                })
                .map(|p| p.cf.clone())
                .unwrap_or_default();
            let mut cfs: Vec<String> = members.iter().map(|p| p.cf.clone()).collect();
            cfs.sort();
            tx.put(
                Kind::Family,
                id.as_bytes(),
                &Family {
                    id: id.clone(),
                    members: cfs,
                    reference,
                },
            )?;
        }
        summary.households = families.len() as u64;
    } else {
        let mut subjects: HashMap<&str, &Person> = HashMap::new();
        for r in rows {
            match r {
                Row::Sanitaria(cf, v) => {
                    persons.insert(cf);
                    tx.put(Kind::Sanitaria, cf.as_bytes(), v)?;
                }
                Row::Reddito(cf, v) => {
                    persons.insert(cf);
                    tx.put(Kind::Reddito, &cf_key(cf, &v.anno.to_be_bytes()), v)?;
                }
                Row::Immobile(cf, v) => {
                    persons.insert(cf);
                    let k = row_hash(&(&v.categoria, v.rendita, v.quota))?;
                    tx.put(Kind::Immobile, &cf_key(cf, &k), v)?;
                }
                Row::Locazione(cf, v) => {
                    persons.insert(cf);
                    let k = row_hash(&(&v.ruolo, v.inizio))?;
                    tx.put(Kind::Locazione, &cf_key(cf, &k), v)?;
                }
                Row::Tributo(cf, v) => {
                    persons.insert(cf);
                    let k = row_hash(&(&v.tributo, v.anno))?;
                    tx.put(Kind::Tributo, &cf_key(cf, &k), v)?;
                }
                Row::Accesso(p, v) => {
                    persons.insert(&p.cf);
                    subjects.entry(&p.cf).or_insert(p);
                    let k = row_hash(v)?;
                    tx.put(Kind::Accesso, &cf_key(&p.cf, &k), v)?;
                }
                Row::Presa(p, v) => {
                    persons.insert(&p.cf);
                    subjects.entry(&p.cf).or_insert(p);
                    let k = row_hash(&(v.inizio, v.area))?;
                    tx.put(Kind::PresaInCarico, &cf_key(&p.cf, &k), v)?;
                }
                Row::Intervento(p, v) => {
                    persons.insert(&p.cf);
                    subjects.entry(&p.cf).or_insert(p);
                    let k = row_hash(&(v.tipo, v.area, v.inizio))?;
                    tx.put(Kind::Intervento, &cf_key(&p.cf, &k), v)?;
                }
                Row::Anagrafe(_) => {}
            }
        }
        // Persons not in the anagrafe (moved away, not resident) are recorded as non-residents.
        for (cf, p) in subjects {
            let known: Option<Person> = store.get(Kind::Person, cf.as_bytes())?;
            match known {
                None => tx.put(Kind::Person, cf.as_bytes(), p)?,
                Some(k) if !k.resident && k.cognome.is_empty() && !p.cognome.is_empty() => {
                    tx.put(Kind::Person, cf.as_bytes(), p)?
                }
                Some(_) => {}
            }
        }
    }
    summary.persons = persons.len() as u64;
    Ok(tx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts() {
        assert_eq!(parse_cents("1234.56", false), Some(123_456));
        assert_eq!(parse_cents("1234,56", false), Some(123_456));
        assert_eq!(parse_cents("1.234,56", true), Some(123_456));
        assert_eq!(parse_cents("1234,5", true), Some(123_450));
        assert_eq!(parse_cents("12", false), Some(1200));
        assert_eq!(parse_cents("-3,10", false), Some(-310));
        assert_eq!(parse_cents("€ 1.000,00", true), Some(100_000));
        assert_eq!(parse_cents("", false), None);
        assert_eq!(parse_cents("abc", false), None);
        assert_eq!(parse_cents("1.2.3", false), None);
        assert_eq!(parse_cents("1,234", false), None);
    }

    #[test]
    fn dates() {
        assert_eq!(
            parse_date_str("2026-02-28"),
            Date::from_calendar_date(2026, time::Month::February, 28).ok()
        );
        assert_eq!(
            parse_date_str("28/02/2026"),
            Date::from_calendar_date(2026, time::Month::February, 28).ok()
        );
        assert_eq!(parse_date_str("30/02/2026"), None);
        assert_eq!(parse_date_str("26-02-28"), None);
        assert_eq!(parse_date_str(""), None);
    }
}
