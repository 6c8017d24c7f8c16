//! `siso-loadgen`: N simulated members with M household records each over real QUIC and mutual
//! TLS to an in-process hub; prints throughput, batch latency and overlaps found vs planted.
//!
//! Exit codes: 0 success (and found == expected, no errors); 1 otherwise; 2 usage error.

use clap::Parser;
use siso_tests::loadgen::{run, LoadOptions};

#[derive(Parser)]
#[command(
    name = "siso-loadgen",
    version,
    about = "Load generator for the siso hub"
)]
struct Cli {
    /// Simulated members (up to 8000 for a national-scale run).
    #[arg(long, default_value_t = 92)]
    members: usize,
    /// Household records per member.
    #[arg(long, default_value_t = 1000)]
    households: usize,
    /// Fraction of households planted as overlaps with another member.
    #[arg(long, default_value_t = 0.05)]
    overlap: f64,
    /// Records per batch.
    #[arg(long, default_value_t = 2000)]
    batch: usize,
    /// Members sending at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let o = LoadOptions {
        members: cli.members,
        households: cli.households,
        overlap: cli.overlap,
        batch: cli.batch,
        concurrency: cli.concurrency,
        seed: cli.seed,
    };
    let result = (|| -> Result<_, siso_tests::demo::DemoError> {
        let dir = tempfile::Builder::new().prefix("siso-loadgen-").tempdir()?;
        let rt = tokio::runtime::Runtime::new()?;
        rt.block_on(run(&o, dir.path()))
    })();
    match result {
        Ok(r) => {
            if cli.json {
                println!("{}", serde_json::to_string(&r).unwrap_or_default());
            } else {
                println!("{r:#?}");
            }
            if r.errors == 0 && r.overlaps_found == r.overlaps_expected {
                std::process::ExitCode::SUCCESS
            } else {
                std::process::ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("siso-loadgen: error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
