//! `siso-synth`: writes a deterministic synthetic population of Umbria as the canonical CSV
//! files of each member (`OUT/<member id>/*.csv`) and the planted truth (`OUT/truth.json`).
//!
//! Exit codes: 0 success; 1 failure; 2 usage error.

use std::path::PathBuf;

use clap::Parser;
use siso_tests::synth::{generate, SynthOptions};

#[derive(Parser)]
#[command(
    name = "siso-synth",
    version,
    about = "Deterministic synthetic population of Umbria for siso"
)]
struct Cli {
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
    /// Seed.
    #[arg(long, default_value_t = 2026)]
    seed: u64,
    /// One synthetic person per SCALE residents.
    #[arg(long, default_value_t = 50)]
    scale: u32,
    /// Comuni (ISTAT codes, comma-separated; default all 92).
    #[arg(long)]
    comuni: Option<String>,
    /// Epoch (default: the current year).
    #[arg(long)]
    epoch: Option<u16>,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let now = time::OffsetDateTime::now_utc();
    let opts = SynthOptions {
        seed: cli.seed,
        scale: cli.scale,
        comuni: cli
            .comuni
            .map(|c| c.split(',').map(|s| s.trim().to_owned()).collect())
            .unwrap_or_default(),
        epoch: cli.epoch.unwrap_or(now.year() as u16),
        today: now.date(),
    };
    match generate(&opts, &cli.out) {
        Ok(t) => {
            eprintln!(
                "{} members, {} persons, {} households; planted: {} overlaps, {} double economic supports, {} unsupported needs",
                t.members.len(), t.persons, t.households, t.overlaps_planted, t.double_economic_support_planted, t.unsupported_need_planted
            );
            println!("{}", cli.out.join("truth.json").display());
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("siso-synth: error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
