//! `siso-synth`: writes a deterministic synthetic population of Umbria as the canonical CSV
//! files of each member (`OUT/<member id>/*.csv`) and the planted truth (`OUT/truth.json`).
//!
//! Exit codes: 0 success; 1 failure; 2 usage error.

use std::path::PathBuf;

use clap::Parser;
use siso_tests::synth::{generate, PopulationArgs};

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
    #[command(flatten)]
    population: PopulationArgs,
    /// Epoch (default: the current year).
    #[arg(long)]
    epoch: Option<u16>,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let now = time::OffsetDateTime::now_utc();
    let opts = cli
        .population
        .options(cli.epoch.unwrap_or(now.year() as u16), now.date());
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
