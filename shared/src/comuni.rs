//! The 92 Comuni of Umbria and their 12 zone sociali, compiled in from `shared/data/`.
//!
//! The zone assignment lives in one data file (`umbria_comuni.csv`, column `zona_number`) so a
//! correction is a one-line change.

use std::sync::OnceLock;

const COMUNI: &str = include_str!("../data/umbria_comuni.csv");
const ZONE: &str = include_str!("../data/umbria_zone_sociali.csv");

/// Province of a Comune.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Province {
    /// Perugia.
    PG,
    /// Terni.
    TR,
}

/// One Comune of Umbria.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comune {
    /// Six-digit ISTAT code, e.g. `054039` (Perugia).
    pub istat: String,
    /// Cadastral (Belfiore) code, e.g. `G478`.
    pub catastale: String,
    /// Official name.
    pub name: String,
    /// Province.
    pub province: Province,
    /// Zona sociale number, 1–12.
    pub zona: u8,
    /// Resident population (ANPR, January 2026).
    pub population: u32,
}

/// One zona sociale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zona {
    /// Number 1–12.
    pub number: u8,
    /// The lead Comune (capofila).
    pub capofila: String,
}

impl Zona {
    /// Display name, e.g. `Zona 2 - Perugia`.
    pub fn name(&self) -> String {
        format!("Zona {} - {}", self.number, self.capofila)
    }
}

struct Tables {
    comuni: Vec<Comune>,
    zone: Vec<Zona>,
}

fn data_lines(s: &str) -> impl Iterator<Item = &str> {
    s.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .skip(1)
}

fn tables() -> &'static Tables {
    static T: OnceLock<Tables> = OnceLock::new();
    T.get_or_init(|| {
        let mut comuni: Vec<Comune> = data_lines(COMUNI)
            .filter_map(|l| {
                let f: Vec<&str> = l.split(';').collect();
                if f.len() != 6 {
                    return None;
                }
                Some(Comune {
                    istat: f[0].to_owned(),
                    catastale: f[1].to_owned(),
                    name: f[2].to_owned(),
                    province: if f[3] == "TR" {
                        Province::TR
                    } else {
                        Province::PG
                    },
                    zona: f[4].parse().ok()?,
                    population: f[5].parse().ok()?,
                })
            })
            .collect();
        comuni.sort_by(|a, b| a.istat.cmp(&b.istat));
        let mut zone: Vec<Zona> = data_lines(ZONE)
            .filter_map(|l| {
                let (n, c) = l.split_once(';')?;
                Some(Zona {
                    number: n.parse().ok()?,
                    capofila: c.to_owned(),
                })
            })
            .collect();
        zone.sort_by_key(|z| z.number);
        Tables { comuni, zone }
    })
}

/// All Comuni, by ISTAT code.
pub fn all() -> &'static [Comune] {
    &tables().comuni
}

/// All zone sociali, by number.
pub fn zone() -> &'static [Zona] {
    &tables().zone
}

/// Looks a Comune up by its six-digit ISTAT code.
pub fn by_istat(code: &str) -> Option<&'static Comune> {
    let c = &tables().comuni;
    c.binary_search_by(|x| x.istat.as_str().cmp(code))
        .ok()
        .map(|i| &c[i])
}

/// Looks a Comune up by its cadastral code.
pub fn by_catastale(code: &str) -> Option<&'static Comune> {
    tables()
        .comuni
        .iter()
        .find(|c| c.catastale.eq_ignore_ascii_case(code))
}

/// Looks a zona up by number.
pub fn zona(number: u8) -> Option<&'static Zona> {
    tables().zone.iter().find(|z| z.number == number)
}

/// The Comuni of one zona.
pub fn in_zona(number: u8) -> impl Iterator<Item = &'static Comune> {
    tables().comuni.iter().filter(move |c| c.zona == number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        assert_eq!(all().len(), 92);
        assert_eq!(
            all().iter().filter(|c| c.province == Province::PG).count(),
            59
        );
        assert_eq!(
            all().iter().filter(|c| c.province == Province::TR).count(),
            33
        );
        assert_eq!(zone().len(), 12);
        for z in zone() {
            assert!(in_zona(z.number).count() > 0, "zona {} is empty", z.number);
        }
        assert!(all().iter().all(|c| (1..=12).contains(&c.zona)));
        let total: u32 = all().iter().map(|c| c.population).sum();
        assert_eq!(total, 858_228);
    }

    #[test]
    fn lookups() {
        let pg = by_istat("054039").unwrap();
        assert_eq!(pg.name, "Perugia");
        assert_eq!(pg.catastale, "G478");
        assert_eq!(pg.zona, 2);
        assert_eq!(by_catastale("L117").unwrap().name, "Terni");
        assert_eq!(zona(2).unwrap().name(), "Zona 2 - Perugia");
        assert!(by_istat("999999").is_none());
        // Every Comune's cadastral code is a known birthplace code.
        for c in all() {
            assert!(
                crate::belfiore::exists(c.catastale.as_bytes()),
                "{}",
                c.name
            );
        }
    }
}
