//! `siso-node check-cf`: a data-quality check of a codice fiscale export before import.
//!
//! One code per input line; for each, `<input>\t<OK|ERROR>\t<normalised code or reason>` in
//! order. Blank lines are reported as errors too, so line numbers of input and output agree.

use std::io::{self, BufRead, Write};

use siso_shared::CodiceFiscale;
use time::Date;

/// Counts of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Lines read.
    pub lines: u64,
    /// Valid codes.
    pub valid: u64,
    /// Invalid lines.
    pub invalid: u64,
}

/// Checks every line of `input`, writing one result line each to `out`. `reference` anchors
/// the century of birth years (today, normally). Only I/O failures are errors.
pub fn check_lines(
    input: impl BufRead,
    mut out: impl Write,
    reference: Date,
) -> io::Result<Summary> {
    let mut s = Summary::default();
    for line in input.split(b'\n') {
        let mut line = line?;
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        s.lines += 1;
        let shown = String::from_utf8_lossy(&line).replace('\t', " ");
        let verdict = match std::str::from_utf8(&line) {
            Err(_) => Err("not valid UTF-8".to_owned()),
            Ok(text) => CodiceFiscale::parse(text, reference)
                .map(|cf| cf.as_str().to_owned())
                .map_err(|e| e.to_string()),
        };
        match verdict {
            Ok(code) => {
                s.valid += 1;
                writeln!(out, "{shown}\tOK\t{code}")?;
            }
            Err(reason) => {
                s.invalid += 1;
                writeln!(out, "{shown}\tERROR\t{reason}")?;
            }
        }
    }
    out.flush()?;
    Ok(s)
}

/// `siso-node check-cf [FILE]`: checks each line of `file` (standard input when absent or
/// `-`), writes the verdicts to standard output and a count to standard error; exit 2 when the
/// input cannot be read.
pub fn run(file: Option<&std::path::Path>) -> std::process::ExitCode {
    use std::process::ExitCode;
    let today = time::OffsetDateTime::now_utc().date();
    let stdout = io::stdout().lock();
    let result = match file {
        None => check_lines(io::stdin().lock(), stdout, today),
        Some(p) if p.as_os_str() == "-" => check_lines(io::stdin().lock(), stdout, today),
        Some(p) => match std::fs::File::open(p) {
            Ok(f) => check_lines(io::BufReader::new(f), stdout, today),
            Err(e) => {
                eprintln!("siso-node: error: {}: {e}", p.display());
                return ExitCode::from(2);
            }
        },
    };
    match result {
        Ok(s) => {
            eprintln!(
                "{} lines: {} valid, {} invalid",
                s.lines, s.valid, s.invalid
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("siso-node: error: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn reports_each_line_in_order() {
        let input = b"RSSMRA80A01H501U\n rssmra80a41a475h \r\nRSSMRA80A01H501A\n\nRSS\xffMRA\n";
        let mut out = Vec::new();
        let s = check_lines(&input[..], &mut out, date!(2026 - 11 - 29)).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[0], "RSSMRA80A01H501U\tOK\tRSSMRA80A01H501U");
        assert_eq!(lines[1], " rssmra80a41a475h \tOK\tRSSMRA80A41A475H");
        assert_eq!(
            lines[2],
            "RSSMRA80A01H501A\tERROR\twrong check character 'A', expected 'U'"
        );
        assert_eq!(lines[3], "\tERROR\twrong length: 0 characters, expected 16");
        assert!(lines[4].ends_with("\tERROR\tnot valid UTF-8"));
        assert_eq!(
            s,
            Summary {
                lines: 5,
                valid: 2,
                invalid: 3
            }
        );
    }
}
