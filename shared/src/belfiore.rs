//! Birthplace (Belfiore / codice catastale) codes: every Italian municipality, current and
//! historical, and every foreign country (`Z…`), compiled in from `shared/data/belfiore_codes.csv`.
//!
//! The table is parsed once, on first use, into a bitset for O(1) existence checks (the hot path
//! of codice fiscale validation) and a sorted list for name look-ups.

use std::sync::OnceLock;

const DATA: &str = include_str!("../data/belfiore_codes.csv");

/// Number of syntactically possible codes: one letter A–Z followed by three digits.
const SPACE: usize = 26 * 1000;

/// One birthplace: a municipality (possibly suppressed since) or a foreign country.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Birthplace {
    /// The four-character code, e.g. `G478`.
    pub code: String,
    /// Name of the municipality or country (the most recent name the code carried).
    pub name: String,
    /// Province abbreviation for Italian municipalities, empty for foreign countries.
    pub province: String,
    /// True for a foreign country (`Z…`).
    pub foreign: bool,
    /// True if the municipality still exists (always true for countries in the table).
    pub active: bool,
}

struct Table {
    bits: Vec<u64>,
    entries: Vec<Birthplace>,
}

fn index(code: &[u8]) -> Option<usize> {
    if code.len() != 4 {
        return None;
    }
    let letter = code[0];
    if !letter.is_ascii_uppercase() {
        return None;
    }
    let mut n = 0usize;
    for &d in &code[1..] {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n * 10 + usize::from(d - b'0');
    }
    Some(usize::from(letter - b'A') * 1000 + n)
}

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut bits = vec![0u64; SPACE.div_ceil(64)];
        let mut entries: Vec<Birthplace> = Vec::with_capacity(10_100);
        for line in DATA.lines().skip(1) {
            let mut f = line.split(';');
            let (Some(code), Some(name), Some(province), Some(kind), Some(active)) =
                (f.next(), f.next(), f.next(), f.next(), f.next())
            else {
                continue;
            };
            let Some(i) = index(code.as_bytes()) else {
                continue;
            };
            bits[i / 64] |= 1 << (i % 64);
            let entry = Birthplace {
                code: code.to_owned(),
                name: name.to_owned(),
                province: if kind == "stato_estero" {
                    String::new()
                } else {
                    province.to_owned()
                },
                foreign: kind == "stato_estero",
                active: active == "S",
            };
            // Rows for one code are in chronological order; the later (or active) name wins.
            match entries.last_mut() {
                Some(last) if last.code == entry.code => {
                    if entry.active || !last.active {
                        *last = entry;
                    }
                }
                _ => entries.push(entry),
            }
        }
        entries.sort_by(|a, b| a.code.cmp(&b.code));
        entries.dedup_by(|later, earlier| {
            if later.code == earlier.code {
                if later.active && !earlier.active {
                    std::mem::swap(later, earlier);
                }
                true
            } else {
                false
            }
        });
        Table { bits, entries }
    })
}

/// True if `code` (four ASCII characters, upper case) is a known birthplace code, current or
/// historical, Italian or foreign.
pub fn exists(code: &[u8]) -> bool {
    match index(code) {
        Some(i) => table().bits[i / 64] & (1 << (i % 64)) != 0,
        None => false,
    }
}

/// Looks a code up for display.
pub fn lookup(code: &str) -> Option<&'static Birthplace> {
    let t = table();
    t.entries
        .binary_search_by(|e| e.code.as_str().cmp(code))
        .ok()
        .map(|i| &t.entries[i])
}

/// Every known code, in code order (for the synthetic-data generator and tests).
pub fn all() -> &'static [Birthplace] {
    &table().entries
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_codes() {
        assert!(exists(b"G478")); // Perugia
        assert!(exists(b"L117")); // Terni
        assert!(exists(b"H501")); // Roma
        assert!(exists(b"Z112")); // Germania
        assert!(exists(b"A001")); // Abano, suppressed municipality code still valid
        assert!(!exists(b"Z000"));
        assert!(!exists(b"Z999"));
        assert!(!exists(b"g478"));
        assert!(!exists(b"G47"));
        assert_eq!(lookup("G478").map(|b| b.name.as_str()), Some("Perugia"));
        assert!(lookup("Z112").is_some_and(|b| b.foreign));
        assert!(all().len() > 10_000);
    }
}
