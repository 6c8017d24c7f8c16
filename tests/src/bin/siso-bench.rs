//! `siso-bench`: benchmarks as a release binary (never timed unit tests). Every figure is a ratio
//! against a reference measured in the same run. See docs/benchmarks.md.
//!
//! - `cf`: codice fiscale validation + person fingerprinting per core, against raw
//!   `blake3::keyed_hash` of the same inputs.

use std::hint::black_box;
use std::time::Instant;

use clap::{Parser, Subcommand};
use siso_shared::{CodiceFiscale, FingerprintSecret, Sex};

#[derive(Parser)]
#[command(
    name = "siso-bench",
    version,
    about = "siso benchmarks (run in release mode)"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Codice fiscale validation + fingerprinting vs raw keyed BLAKE3, one core.
    Cf {
        /// Distinct codes.
        #[arg(long, default_value_t = 100_000)]
        codes: usize,
        /// Passes over them.
        #[arg(long, default_value_t = 20)]
        passes: usize,
    },
}

fn main() {
    let cli = Cli::parse();
    match cli.command {
        Cmd::Cf { codes, passes } => cf(codes, passes),
    }
}

fn cf(n: usize, passes: usize) {
    let mut rng = siso_tests::synth::Rng::new(42);
    let places = ["G478", "L117", "H501", "A475", "Z129"];
    let today = time::OffsetDateTime::now_utc().date();
    let inputs: Vec<String> = (0..n)
        .map(|i| {
            let born = time::Date::from_calendar_date(
                1930 + (i % 90) as i32,
                time::Month::try_from(1 + (i % 12) as u8).unwrap_or(time::Month::January),
                1 + (rng.below(28) as u8),
            )
            .unwrap_or(today);
            let sex = if i % 2 == 0 { Sex::M } else { Sex::F };
            let s = ["Rossi", "Bianchi", "Verdi", "Neri", "Conti"][i % 5];
            let g = ["Mario", "Anna", "Luca", "Giulia", "Paolo"][(i / 5) % 5];
            CodiceFiscale::compute(s, g, sex, born, places[i % 5])
                .map(|c| c.as_str().to_owned())
                .unwrap_or_default()
        })
        .collect();
    let secret = FingerprintSecret::from_bytes([7; 32]);
    let key = secret.epoch_key(2026);
    let raw_key = *blake3::hash(b"reference key").as_bytes();

    // Reference: raw keyed hash of the same bytes.
    let t = Instant::now();
    for _ in 0..passes {
        for s in &inputs {
            black_box(blake3::keyed_hash(&raw_key, black_box(s.as_bytes())));
        }
    }
    let raw = (n * passes) as f64 / t.elapsed().as_secs_f64();

    let t = Instant::now();
    let mut ok = 0usize;
    for _ in 0..passes {
        for s in &inputs {
            if let Ok(cf) = CodiceFiscale::parse(black_box(s), today) {
                black_box(key.person(&cf));
                ok += 1;
            }
        }
    }
    let ours = (n * passes) as f64 / t.elapsed().as_secs_f64();
    assert_eq!(ok, n * passes, "every generated code must validate");
    println!(
        "{{\"codes\":{},\"raw_keyed_hash_per_s\":{:.0},\"validate_and_fingerprint_per_s\":{:.0},\"ratio\":{:.3}}}",
        n * passes,
        raw,
        ours,
        ours / raw
    );
}
