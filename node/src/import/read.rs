//! Reading a registry file: opening it in its profile's encoding, counting lines exactly (CRLF
//! included) for `FILE:LINE` errors, and writing the rejects file of `--skip-invalid`.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::Path;

use super::validate::{parse_row, Fields, Row};
use super::{Encoding, ImportError, ImportKind, ImportOptions, Profile, RowError};

/// What reading a whole file gave.
pub(super) struct ReadOutcome {
    /// The header as found.
    pub(super) header: Vec<String>,
    /// Every error, row by row.
    pub(super) errors: Vec<RowError>,
    /// The invalid rows' values, with their reasons.
    pub(super) rejects: Vec<(Vec<String>, String)>,
    /// Data rows read.
    pub(super) rows_read: u64,
}

/// Reads and validates every row of `path`, passing each valid one to `sink` as it is read: the
/// header is checked for the kind's columns, each row is validated on its own, and a broken
/// record (bad quoting, invalid encoding) ends the file with an `unreadable` error.
pub(super) fn read_rows(
    kind: ImportKind,
    path: &Path,
    profile: &Profile,
    opts: &ImportOptions,
    sink: &mut dyn FnMut(Row) -> Result<(), ImportError>,
) -> Result<ReadOutcome, ImportError> {
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

    let mut rows_read = 0u64;
    let mut errors: Vec<RowError> = Vec::new();
    let mut rejects: Vec<(Vec<String>, String)> = Vec::new();
    // Validated codici fiscali are 16 ASCII bytes.
    let mut seen_cf: HashSet<[u8; 16], foldhash::fast::RandomState> = HashSet::default();
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
        rows_read += 1;
        if let Some(b) = &bar {
            if rows_read.is_multiple_of(4096) {
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
                values,
                profile,
                reference: opts.reference,
                errors: Vec::new(),
            };
            let r = parse_row(kind, &mut f);
            row_errors.extend(f.errors);
            values = f.values;
            r
        } else {
            None
        };
        if let (Some(Row::Anagrafe(p)), true) = (&parsed, row_errors.is_empty()) {
            let first = <[u8; 16]>::try_from(p.cf.as_bytes()).map_or(true, |cf| seen_cf.insert(cf));
            if !first {
                row_errors.push(("codice_fiscale".into(), "appears twice in the file".into()));
            }
        }
        match (parsed, row_errors.is_empty()) {
            (Some(r), true) => sink(r)?,
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
    Ok(ReadOutcome {
        header: header_text,
        errors,
        rejects,
        rows_read,
    })
}

/// Byte offsets of every newline read so far: line numbers computed from them are exact for LF
/// and CRLF files alike (the csv crate's own line counter is off by one on CRLF input).
#[derive(Clone, Default)]
pub(super) struct Newlines(std::rc::Rc<std::cell::RefCell<Vec<u64>>>);

impl Newlines {
    /// The 1-based line of a record starting at a byte offset. On CRLF input the csv reader
    /// places a record's start on the `\n` that ends the previous line, hence `<=`.
    pub(super) fn line_of(&self, byte: u64) -> u64 {
        self.0.borrow().partition_point(|&n| n <= byte) as u64 + 1
    }
}

/// A reader that records every newline's offset in a shared [`Newlines`].
pub(super) struct CountingReader<R> {
    /// The file.
    pub(super) inner: R,
    /// Bytes read so far.
    pub(super) offset: u64,
    /// Where the newlines are.
    pub(super) newlines: Newlines,
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

/// Opens a file, decoding it to UTF-8 as its profile says.
pub(super) fn open_reader(path: &Path, profile: &Profile) -> Result<Box<dyn Read>, ImportError> {
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

/// Writes the rejected rows, each with its reasons in a last `errore` column.
pub(super) fn write_rejects(
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
