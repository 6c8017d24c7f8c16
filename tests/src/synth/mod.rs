//! `siso-synth`: a deterministic synthetic population of Umbria, scaled from the Comuni's real
//! sizes, written as the canonical CSV files of each member, with planted truth
//! (`truth.json`): people who moved between Comuni while supported, households supported by a
//! Comune and a third-sector entity (some with double economic support), and poor households
//! that nobody supports (latent needs).
//!
//! Figures follow `../shared/data/STATS.md`: mean household size ≈ 2.2, 37% one-person
//! households, absolute poverty ≈ 6.5% of households, accesses ≈ 2.4% of residents a year.

mod names;

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;
use siso_shared::{comuni, CodiceFiscale, Sex};
use time::{Date, Month};

use names::{FEMALE, FOREIGN, MALE, STREETS, SURNAMES};

/// A small deterministic generator (SplitMix64): the same seed gives the same population on
/// every machine and version.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeds the generator.
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }
    /// One element.
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
}

/// The third-sector entities of the synthetic Region.
pub const ETS: [&str; 2] = ["caritas-perugia", "banco-alimentare-umbria"];

/// Generator options.
#[derive(Debug, Clone)]
pub struct SynthOptions {
    /// Seed.
    pub seed: u64,
    /// One synthetic person per `scale` residents.
    pub scale: u32,
    /// ISTAT codes of the Comuni (empty: all 92).
    pub comuni: Vec<String>,
    /// The epoch (year).
    pub epoch: u16,
    /// Today (ages are taken on the epoch's reference date, as the nodes do).
    pub today: Date,
}

/// The population arguments of `siso-synth` and `siso-demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct PopulationArgs {
    /// Seed of the synthetic population.
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
    /// One synthetic person per SCALE residents.
    #[arg(long, default_value_t = 50)]
    pub scale: u32,
    /// Comuni (ISTAT codes, comma-separated; default all 92).
    #[arg(long)]
    pub comuni: Option<String>,
}

impl PopulationArgs {
    /// The generator options for `epoch`, as of `today`.
    pub fn options(&self, epoch: u16, today: Date) -> SynthOptions {
        SynthOptions {
            seed: self.seed,
            scale: self.scale,
            comuni: self
                .comuni
                .iter()
                .flat_map(|c| c.split(','))
                .map(|s| s.trim().to_owned())
                .collect(),
            epoch,
            today,
        }
    }
}

impl Default for SynthOptions {
    fn default() -> Self {
        SynthOptions {
            seed: 2026,
            scale: 50,
            comuni: Vec::new(),
            epoch: 2026,
            today: date(2026, 11, 29),
        }
    }
}

/// The planted truth.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Truth {
    /// Seed.
    pub seed: u64,
    /// Scale.
    pub scale: u32,
    /// Epoch.
    pub epoch: u16,
    /// Members with files (Comuni and ETS).
    pub members: Vec<String>,
    /// Persons in the anagrafe files.
    pub persons: u64,
    /// Households in the anagrafe files.
    pub households: u64,
    /// Groups of linked supported records of two or more members.
    pub overlaps_planted: u64,
    /// Of which: movers between Comuni.
    pub movers: u64,
    /// Of which: households supported by a Comune and an ETS.
    pub comune_and_ets: u64,
    /// Households with economic support from two members in overlapping periods.
    pub double_economic_support_planted: u64,
    /// Poor households supported by nobody.
    pub unsupported_need_planted: u64,
    /// Poor households not supported by their Comune but by an ETS.
    pub latent_supported_by_ets: u64,
    /// Access events in the epoch, all Comuni.
    pub accessi: u64,
    /// Households supported per Comune, summed.
    pub households_supported_comuni: u64,
}

#[derive(Clone)]
struct P {
    cf: String,
    surname: String,
    name: String,
    sex: Sex,
    born: Date,
    place: String,
}

fn date(y: i32, m: u8, d: u8) -> Date {
    Month::try_from(m)
        .ok()
        .and_then(|mo| Date::from_calendar_date(y, mo, d).ok())
        .unwrap_or(Date::MIN)
}

fn money(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

#[derive(Default)]
struct Files {
    anagrafe: String,
    sanitaria: String,
    redditi: String,
    immobili: String,
    locazioni: String,
    tributi: String,
    accessi: String,
    prese: String,
    interventi: String,
}

impl Files {
    fn new(comune: bool) -> Files {
        let mut f = Files::default();
        if comune {
            f.anagrafe = "codice_fiscale;cognome;nome;sesso;data_nascita;codice_catastale_nascita;id_famiglia;rapporto_intestatario;indirizzo\n".into();
            f.sanitaria =
                "codice_fiscale;invalidita_percentuale;legge_104;non_autosufficiente\n".into();
            f.redditi = "codice_fiscale;anno;reddito_complessivo\n".into();
            f.immobili = "codice_fiscale;categoria_catastale;rendita_catastale;quota_possesso;abitazione_principale\n".into();
            f.locazioni =
                "codice_fiscale;ruolo;canone_annuo;data_inizio;data_fine;morosita\n".into();
            f.tributi = "codice_fiscale;tributo;anno;importo_dovuto;importo_versato\n".into();
            f.prese = "codice_fiscale;data_inizio;data_fine;operatore;area_bisogno\n".into();
        }
        f.accessi = "data;codice_fiscale;area_bisogno;esito\n".into();
        f.interventi = "codice_fiscale;tipo_intervento;area_bisogno;data_inizio;data_fine;importo;cognome;nome;sesso;data_nascita;codice_catastale_nascita\n".into();
        f
    }

    fn write(&self, dir: &Path, comune: bool) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let mut list = vec![
            ("accessi.csv", &self.accessi),
            ("interventi.csv", &self.interventi),
        ];
        if comune {
            list.extend([
                ("anagrafe.csv", &self.anagrafe),
                ("sanitaria.csv", &self.sanitaria),
                ("redditi.csv", &self.redditi),
                ("immobili.csv", &self.immobili),
                ("locazioni.csv", &self.locazioni),
                ("tributi.csv", &self.tributi),
                ("prese-in-carico.csv", &self.prese),
            ]);
        }
        for (name, text) in list {
            std::fs::write(dir.join(name), text)?;
        }
        Ok(())
    }

    fn intervention(
        &mut self,
        p: &P,
        kind: &str,
        area: &str,
        (start, end): (Date, Option<Date>),
        amount: i64,
        with_cf: bool,
    ) {
        let end = end.map(|d| d.to_string()).unwrap_or_default();
        if with_cf {
            let _ = writeln!(
                self.interventi,
                "{};{kind};{area};{start};{end};{};;;;;",
                p.cf,
                money(amount)
            );
        } else {
            let _ = writeln!(
                self.interventi,
                ";{kind};{area};{start};{end};{};{};{};{};{};{}",
                money(amount),
                p.surname,
                p.name,
                p.sex.as_str(),
                p.born,
                p.place
            );
        }
    }
}

/// Generates the population into `out/<member id>/*.csv` and `out/truth.json`.
pub fn generate(opts: &SynthOptions, out: &Path) -> std::io::Result<Truth> {
    let mut rng = Rng::new(opts.seed);
    let epoch = i32::from(opts.epoch);
    let reference = siso_node::model::reference_date(opts.epoch, opts.today);
    let selected: Vec<&comuni::Comune> = comuni::all()
        .iter()
        .filter(|c| opts.comuni.is_empty() || opts.comuni.contains(&c.istat))
        .collect();
    let mut used: HashSet<String> = HashSet::new();
    let mut truth = Truth {
        seed: opts.seed,
        scale: opts.scale,
        epoch: opts.epoch,
        ..Truth::default()
    };
    let mut files: BTreeMap<String, Files> = BTreeMap::new();
    for c in &selected {
        files.insert(c.istat.clone(), Files::new(true));
    }
    for e in ETS {
        files.insert(format!("ets-{e}"), Files::new(false));
    }
    let mut person = |rng: &mut Rng, home: &str, age_lo: i64, age_hi: i64, sex: Option<Sex>| -> P {
        loop {
            let sex = sex.unwrap_or(if rng.chance(0.515) { Sex::F } else { Sex::M });
            let surname = rng.pick(SURNAMES).to_string();
            let name = if sex == Sex::F {
                rng.pick(FEMALE)
            } else {
                rng.pick(MALE)
            }
            .to_string();
            let age = rng.range(age_lo, age_hi);
            let born = date(
                epoch - age as i32 - 1,
                rng.range(1, 12) as u8,
                rng.range(1, 28) as u8,
            );
            let place = if rng.chance(0.7) {
                home.to_owned()
            } else if rng.chance(0.67) {
                rng.pick(comuni::all()).catastale.clone()
            } else {
                rng.pick(FOREIGN).to_string()
            };
            let Ok(cf) = CodiceFiscale::compute(&surname, &name, sex, born, &place) else {
                continue;
            };
            if used.insert(cf.as_str().to_owned()) {
                return P {
                    cf: cf.as_str().to_owned(),
                    surname,
                    name,
                    sex,
                    born,
                    place,
                };
            }
        }
    };
    // Households by Comune.
    struct H {
        comune: String,
        id: String,
        members: Vec<P>,
        poor: bool,
    }
    let mut households: Vec<H> = Vec::new();
    for c in &selected {
        let target = (c.population / opts.scale.max(1)).max(3);
        let mut n = 0u32;
        let mut fam = 0u32;
        while n < target {
            fam += 1;
            let size = match rng.below(1000) {
                0..=369 => 1,
                370..=643 => 2,
                644..=823 => 3,
                824..=953 => 4,
                954..=993 => 5,
                _ => 6,
            };
            let mut members = Vec::new();
            let elderly = size == 1 && rng.chance(0.45);
            let head = if elderly {
                person(&mut rng, &c.catastale, 66, 92, None)
            } else {
                person(&mut rng, &c.catastale, 25, 64, None)
            };
            members.push(head.clone());
            if size >= 2 {
                let other = if head.sex == Sex::M { Sex::F } else { Sex::M };
                members.push(person(&mut rng, &c.catastale, 25, 64, Some(other)));
            }
            for _ in 2..size {
                members.push(person(&mut rng, &c.catastale, 0, 17, None));
            }
            n += size as u32;
            households.push(H {
                comune: c.istat.clone(),
                id: format!("{}{:05}", &c.istat[3..], fam),
                members,
                poor: rng.chance(0.065),
            });
        }
    }
    truth.households = households.len() as u64;
    truth.persons = households.iter().map(|h| h.members.len() as u64).sum();

    // Registries.
    for h in &households {
        let f = files
            .get_mut(&h.comune)
            .ok_or_else(|| std::io::Error::other("comune"))?;
        let street = format!("{} {}", rng.pick(STREETS), rng.range(1, 120));
        let adults: Vec<&P> = h
            .members
            .iter()
            .filter(|p| crate::synth::age(p.born, reference) >= 18)
            .collect();
        let scale = siso_node::assess::base_scale(h.members.len());
        for (i, p) in h.members.iter().enumerate() {
            let rel = if i == 0 {
                "IS"
            } else if i == 1 {
                "CG"
            } else {
                "FG"
            };
            let _ = writeln!(
                f.anagrafe,
                "{};{};{};{};{};{};{};{rel};{street}",
                p.cf,
                p.surname,
                p.name,
                p.sex.as_str(),
                p.born,
                p.place,
                h.id
            );
            let age = crate::synth::age(p.born, reference);
            if rng.chance(0.04) || (age >= 80 && rng.chance(0.15)) {
                let na = age >= 75 && rng.chance(0.5);
                let _ = writeln!(
                    f.sanitaria,
                    "{};{};{};{}",
                    p.cf,
                    rng.range(67, 100),
                    if rng.chance(0.5) { "S" } else { "N" },
                    if na { "S" } else { "N" }
                );
            }
        }
        // Incomes: poor households well below 9 360 € of indicator, the others well above
        // 10 140 € (every adult has an income row, so nobody lacks data).
        let target_indicator = if h.poor {
            rng.range(1_500, 6_500)
        } else {
            rng.range(16_000, 40_000)
        } as f64;
        // A disability only raises the scale (lowers the indicator): poor households stay
        // poor; the others get a margin for up to two members with a disability.
        let total = if h.poor {
            target_indicator * scale
        } else {
            target_indicator * (scale + 1.0)
        };
        for p in &adults {
            let share = (total / adults.len() as f64 * 100.0) as i64;
            let _ = writeln!(f.redditi, "{};{};{}", p.cf, epoch - 1, money(share));
        }
        let head = &h.members[0];
        if !h.poor && rng.chance(0.72) {
            let _ = writeln!(
                f.immobili,
                "{};A/2;{};100;S",
                head.cf,
                money(rng.range(40_000, 95_000))
            );
        } else {
            let mor = if h.poor && rng.chance(0.3) { "S" } else { "N" };
            let _ = writeln!(
                f.locazioni,
                "{};conduttore;{};{}-01-01;;{mor}",
                head.cf,
                money(rng.range(350_000, 900_000)),
                epoch - 2
            );
        }
        let due = rng.range(15_000, 50_000);
        let paid = if h.poor && rng.chance(0.4) { 0 } else { due };
        let _ = writeln!(
            f.tributi,
            "{};TARI;{};{};{}",
            head.cf,
            epoch - 1,
            money(due),
            money(paid)
        );
    }

    // Social services.
    let areas = ["poverta", "abitare", "minori_famiglia", "lavoro"];
    let d = |m: u8, day: u8| date(epoch, m, day);
    for (idx, h) in households.iter().enumerate() {
        let head = h.members[0].clone();
        let elderly_alone = h.members.len() == 1 && age(head.born, reference) >= 70;
        let comune_supports = (h.poor && rng.chance(0.55))
            || (elderly_alone && rng.chance(0.04))
            || (!h.poor && rng.chance(0.004));
        let f = files
            .get_mut(&h.comune)
            .ok_or_else(|| std::io::Error::other("comune"))?;
        if comune_supports {
            let area = if elderly_alone {
                "anziani"
            } else {
                *rng.pick(&areas)
            };
            let start = d(rng.range(1, 6) as u8, rng.range(1, 28) as u8);
            // One to three visits on different days (identical rows would be one access).
            for visit in 0..rng.range(1, 3) {
                let _ = writeln!(
                    f.accessi,
                    "{};{};{area};presa in carico",
                    d(start.month() as u8, 1 + 7 * visit as u8),
                    head.cf
                );
                truth.accessi += 1;
            }
            if rng.chance(0.6) {
                let _ = writeln!(f.prese, "{};{start};;A. Operatore;{area}", head.cf);
            }
            let economic = h.poor;
            let end = d(12, 31);
            if economic {
                f.intervention(
                    &head,
                    "contributo_economico",
                    area,
                    (start, Some(end)),
                    rng.range(50_000, 300_000),
                    true,
                );
            } else if elderly_alone {
                f.intervention(
                    &head,
                    "assistenza_domiciliare",
                    "anziani",
                    (start, None),
                    0,
                    true,
                );
            } else {
                f.intervention(
                    &head,
                    "servizio_sociale_professionale",
                    area,
                    (start, None),
                    0,
                    true,
                );
            }
            truth.households_supported_comuni += 1;
            // Some are also supported by a third-sector entity: linked records; with vouchers
            // in the same months, double economic support.
            if h.poor && rng.chance(0.25) {
                let ets = format!(
                    "ets-{}",
                    if h.comune.starts_with("0540") && rng.chance(0.7) {
                        ETS[0]
                    } else {
                        ETS[1]
                    }
                );
                let spouse = h.members.get(1).unwrap_or(&head).clone();
                let ef = files
                    .get_mut(&ets)
                    .ok_or_else(|| std::io::Error::other("ets"))?;
                let with_cf = rng.chance(0.6);
                if rng.chance(0.5) {
                    ef.intervention(
                        &spouse,
                        "buoni_spesa",
                        "poverta",
                        (d(start.month() as u8, 15), Some(d(12, 31))),
                        15_000,
                        with_cf,
                    );
                    truth.double_economic_support_planted += 1;
                } else {
                    ef.intervention(
                        &spouse,
                        "pacco_alimentare",
                        "poverta",
                        (d(1, 10), None),
                        0,
                        with_cf,
                    );
                }
                truth.comune_and_ets += 1;
            }
        } else if h.poor {
            // Poor and not supported by the Comune: a latent need. An ETS helps some.
            if rng.chance(0.2) {
                let ets = format!("ets-{}", ETS[idx % 2]);
                let ef = files
                    .get_mut(&ets)
                    .ok_or_else(|| std::io::Error::other("ets"))?;
                ef.intervention(
                    &head,
                    "mensa",
                    "poverta",
                    (d(2, 1), None),
                    0,
                    rng.chance(0.6),
                );
                let _ = writeln!(ef.accessi, "{};{};poverta;orientamento", d(2, 1), head.cf);
                truth.latent_supported_by_ets += 1;
            } else {
                truth.unsupported_need_planted += 1;
            }
        } else if rng.chance(0.012) {
            let _ = writeln!(
                f.accessi,
                "{};{};{};informazioni",
                d(rng.range(1, 11) as u8, rng.range(1, 28) as u8),
                head.cf,
                rng.pick(&areas)
            );
            truth.accessi += 1;
        }
    }
    // Movers: a resident of Comune B, not poor, supported by B from May, and by Comune A (where
    // she lived before) until April, as a non-resident there.
    let ids: Vec<String> = selected.iter().map(|c| c.istat.clone()).collect();
    if ids.len() >= 2 {
        let wanted = (ids.len() / 8).max(1);
        let mut movers = 0;
        for h in households.iter().filter(|h| !h.poor) {
            if movers >= wanted {
                break;
            }
            let already = files
                .get(&h.comune)
                .is_some_and(|f| f.interventi.contains(&h.members[0].cf));
            if already || !rng.chance(0.3) {
                continue;
            }
            let p = h.members[0].clone();
            let from = ids
                .iter()
                .find(|c| **c != h.comune && rng.chance(0.5))
                .unwrap_or(&ids[0])
                .clone();
            if from == h.comune {
                continue;
            }
            if let Some(fa) = files.get_mut(&from) {
                fa.intervention(
                    &p,
                    "contributo_economico",
                    "abitare",
                    (d(1, 15), Some(d(4, 30))),
                    120_000,
                    true,
                );
                let _ = writeln!(fa.accessi, "{};{};abitare;presa in carico", d(1, 10), p.cf);
                truth.accessi += 1;
                truth.households_supported_comuni += 1;
            }
            if let Some(fb) = files.get_mut(&h.comune) {
                fb.intervention(
                    &p,
                    "sostegno_affitto",
                    "abitare",
                    (d(5, 1), Some(d(12, 31))),
                    180_000,
                    true,
                );
                let _ = writeln!(fb.accessi, "{};{};abitare;presa in carico", d(5, 1), p.cf);
                truth.accessi += 1;
                truth.households_supported_comuni += 1;
            }
            movers += 1;
        }
        truth.movers = movers as u64;
    }
    truth.overlaps_planted = truth.movers + truth.comune_and_ets;
    for (member, f) in &files {
        let comune = !member.starts_with("ets-");
        f.write(&out.join(member), comune)?;
        truth.members.push(member.clone());
    }
    let json = serde_json::to_string_pretty(&truth).map_err(std::io::Error::other)?;
    std::fs::write(out.join("truth.json"), json)?;
    Ok(truth)
}

/// Age in whole years.
pub fn age(born: Date, day: Date) -> u32 {
    siso_node::model::age_on(born, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_sized() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let o = SynthOptions {
            comuni: vec!["054039".into(), "055032".into(), "054001".into()],
            scale: 200,
            ..SynthOptions::default()
        };
        let ta = generate(&o, a.path()).unwrap();
        let tb = generate(&o, b.path()).unwrap();
        assert_eq!(ta, tb);
        let fa = std::fs::read(a.path().join("054039/anagrafe.csv")).unwrap();
        let fb = std::fs::read(b.path().join("054039/anagrafe.csv")).unwrap();
        assert_eq!(fa, fb);
        let mean = ta.persons as f64 / ta.households as f64;
        assert!((1.9..2.5).contains(&mean), "mean household size {mean}");
        assert!(
            ta.unsupported_need_planted > 0 && ta.comune_and_ets > 0 && ta.movers > 0,
            "{ta:?}"
        );
        // Another seed, another population.
        let c = tempfile::tempdir().unwrap();
        let tc = generate(&SynthOptions { seed: 7, ..o }, c.path()).unwrap();
        assert_ne!(ta, tc);
    }
}
