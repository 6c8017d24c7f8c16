//! `siso-loadgen`: N simulated members with M household records each over real QUIC and mutual
//! TLS to an in-process hub or to a running one (`--hub ADDR --ca DIR`); prints throughput,
//! batch latency and overlaps found vs planted (as the members are told them).
//!
//! Exit codes: 0 success (and found == expected, no errors); 1 otherwise; 2 usage error.

use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;

use siso_tests::loadgen::{run_against, LoadOptions, Target};

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
    /// A running hub's QUIC address instead of an in-process hub. Its store should not hold
    /// other data under the simulated members' ids (900000, 900001, ...), epoch 2026.
    #[arg(long, requires = "ca")]
    hub: Option<SocketAddr>,
    /// With --hub: the name in the hub's certificate.
    #[arg(long, default_value = "localhost")]
    server_name: String,
    /// With --hub: the directory of the CA the hub trusts (ca.pem and ca.key, as siso-certs
    /// writes them); a certificate is issued from it for every simulated member, so use a test
    /// CA.
    #[arg(long, requires = "hub")]
    ca: Option<PathBuf>,
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
        let target = match (cli.hub, cli.ca) {
            (Some(addr), Some(ca_dir)) => Target::Remote {
                addr,
                server_name: cli.server_name,
                ca_dir,
            },
            _ => Target::InProcess,
        };
        rt.block_on(run_against(&o, &target, dir.path()))
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
