//! `siso-demo`: hub and nodes on loopback with a synthetic population, real QUIC and TLS; a
//! summary in Italian and English; then the dashboard until Ctrl-C (or `--exit`).
//!
//! Exit codes: 0 success; 1 failure; 2 usage error.

use std::path::PathBuf;

use clap::Parser;
use siso_tests::demo::{self, DemoOptions};
use siso_tests::synth::PopulationArgs;

#[derive(Parser)]
#[command(
    name = "siso-demo",
    version,
    about = "The whole siso federation on loopback with a synthetic Umbria"
)]
struct Cli {
    /// Working directory (default: a new temporary directory).
    #[arg(long)]
    dir: Option<PathBuf>,
    #[command(flatten)]
    population: PopulationArgs,
    /// HTTP address of the hub's dashboard.
    #[arg(long, default_value = "127.0.0.1:8080")]
    http: std::net::SocketAddr,
    /// Address of the operators' web app of one Comune (Perugia), with demo accounts.
    #[arg(long, default_value = "127.0.0.1:8443")]
    web: std::net::SocketAddr,
    /// Stop after the summary.
    #[arg(long)]
    exit: bool,
    /// Print the summary as one JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// Nodes working at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Fingerprints with a secret shared by every node instead of three key services
    /// (the scheme before the key services; for comparison only).
    #[arg(long)]
    shared_key: bool,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("siso-demo: error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), demo::DemoError> {
    let (dir, _temp) = match cli.dir {
        Some(d) => (d, None),
        None => {
            let t = tempfile::Builder::new().prefix("siso-demo-").tempdir()?;
            (t.path().to_owned(), Some(t))
        }
    };
    demo::install_logging(&dir.join("hub").join("hub.log"))?;
    let now = time::OffsetDateTime::now_utc();
    let opts = DemoOptions {
        dir: dir.clone(),
        synth: cli.population.options(now.year() as u16, now.date()),
        http: cli.http,
        concurrency: cli.concurrency,
        web: cli.web,
        shared_key: cli.shared_key,
    };
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let d = demo::run(&opts, |step| eprintln!("… {step}")).await?;
        if cli.json {
            println!("{}", serde_json::to_string(&d.summary)?);
        } else {
            println!("{}", d.summary.text());
        }
        if !cli.exit {
            eprintln!(
                "Cruscotto / dashboard: {} — Ctrl-C per uscire / to stop (working directory {})",
                d.summary.dashboard_url,
                dir.display()
            );
            tokio::signal::ctrl_c().await?;
        }
        d.shutdown.cancel();
        let _ = d.hub.done.await;
        if let Some(k) = d.keyd {
            k.stop().await;
        }
        Ok::<(), demo::DemoError>(())
    })
}
