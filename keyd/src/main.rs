//! The `siso-keyd` command line (see `siso-keyd --help` and docs/operations.md).
//!
//! Exit codes: 0 success; 1 failure (reason on stderr); 2 usage error.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use siso_keyd::config::{KeydConfig, Limits, Quota};
use siso_server::clock::SystemClock;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(
    name = "siso-keyd",
    version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("SISO_GIT_REV"), ")"),
    about = "siso fingerprint key service: evaluates blinded codici fiscali with one share of the epoch's OPRF key (RFC 9497), within per-member budgets"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Deal a fresh epoch key into share files (the key ceremony: docs/operations.md).
    Deal {
        /// The epoch (year).
        #[arg(long)]
        epoch: u16,
        /// Number of shares (one per custodian).
        #[arg(long, default_value_t = 3)]
        shares: u8,
        /// Shares needed to evaluate.
        #[arg(long, default_value_t = 2)]
        threshold: u8,
        /// Output directory (must not hold a dealing): share-N.key and verification.toml.
        #[arg(long)]
        out: PathBuf,
        /// Output format of the summary on stdout.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Write DIR/keyd.toml (every setting, commented) for one custodian's service.
    Init {
        /// Data directory (the usage store lives in DIR/store).
        #[arg(long)]
        data: PathBuf,
        /// Regional CA directory (ca.pem; crl.pem if any certificate is revoked).
        #[arg(long)]
        ca_dir: PathBuf,
        /// The service's certificate (siso-certs issue-keyd).
        #[arg(long)]
        cert: PathBuf,
        /// The service's TLS key.
        #[arg(long)]
        key: PathBuf,
        /// Share files, one per epoch (repeat the option).
        #[arg(long = "share", required = true)]
        shares: Vec<PathBuf>,
        /// UDP address for QUIC.
        #[arg(long, default_value = "0.0.0.0:7401")]
        listen: SocketAddr,
        /// TCP address for /healthz and /metrics.
        #[arg(long, default_value = "127.0.0.1:7480")]
        http: SocketAddr,
        /// Overwrite an existing keyd.toml.
        #[arg(long)]
        force: bool,
    },
    /// Serve until SIGTERM or Ctrl-C (SIGHUP re-reads the certificate, key and CRL).
    Serve {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
    },
    /// Evaluations spent per member and epoch (the service must be stopped; or read /metrics).
    Usage {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("siso-keyd: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SISO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn absolute(p: &std::path::Path) -> Result<PathBuf> {
    std::path::absolute(p).with_context(|| format!("resolving {}", p.display()))
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Deal {
            epoch,
            shares,
            threshold,
            out,
            format,
        } => {
            if !siso_shared::wire::EPOCHS.contains(&epoch) {
                bail!("epoch {epoch} is out of range");
            }
            let d = siso_keyd::shares::deal(epoch, shares, threshold, &out)?;
            match format {
                Format::Json => println!("{}", serde_json::to_string(&d)?),
                Format::Text => {
                    println!("epoch {epoch}: {shares} shares, any {threshold} evaluate");
                    for p in &d.shares {
                        println!("  SECRET  {}", p.display());
                    }
                    println!("  public  {}", d.verification.display());
                    println!("give each share file to its custodian and delete it here");
                }
            }
        }
        Command::Init {
            data,
            ca_dir,
            cert,
            key,
            shares,
            listen,
            http,
            force,
        } => {
            std::fs::create_dir_all(&data)
                .with_context(|| format!("creating {}", data.display()))?;
            let path = data.join("keyd.toml");
            if path.exists() && !force {
                bail!("{} exists (use --force to overwrite)", path.display());
            }
            let cfg = KeydConfig {
                data_dir: absolute(&data)?,
                listen,
                http,
                ca_dir: absolute(&ca_dir)?,
                cert: absolute(&cert)?,
                key: absolute(&key)?,
                shares: shares.iter().map(|p| absolute(p)).collect::<Result<_>>()?,
                quota: Quota::default(),
                limits: Limits::default(),
            };
            cfg.check().map_err(anyhow::Error::msg)?;
            for s in &cfg.shares {
                siso_keyd::shares::load_share(s)?;
            }
            std::fs::write(&path, cfg.to_toml()?)
                .with_context(|| format!("writing {}", path.display()))?;
            println!("{}", path.display());
        }
        Command::Serve { config } => {
            init_logging();
            let cfg = KeydConfig::load(&config)?;
            tokio::runtime::Runtime::new()?.block_on(serve(cfg))?;
        }
        Command::Usage { config, format } => {
            let cfg = KeydConfig::load(&config)?;
            let store = siso_keyd::store::Store::open(
                &cfg.data_dir.join("store"),
                siso_keyd::store::OpenMode::Existing,
            )?;
            let rows = store.all()?;
            match format {
                Format::Json => {
                    let v: Vec<serde_json::Value> = rows
                        .iter()
                        .map(|(e, m, u)| {
                            let limit = m.parse().ok().and_then(|id| cfg.quota.budget(&id));
                            serde_json::json!({"epoch": e, "member": m, "used": u.used,
                                "refused": u.refused, "limit": limit})
                        })
                        .collect();
                    println!("{}", serde_json::Value::Array(v));
                }
                Format::Text => {
                    println!(
                        "{:<6} {:<32} {:>12} {:>12} {:>8}",
                        "epoch", "member", "used", "limit", "refused"
                    );
                    for (e, m, u) in rows {
                        let limit = m
                            .parse()
                            .ok()
                            .and_then(|id| cfg.quota.budget(&id))
                            .map_or("-".to_string(), |l| l.to_string());
                        println!("{e:<6} {m:<32} {:>12} {limit:>12} {:>8}", u.used, u.refused);
                    }
                }
            }
        }
    }
    Ok(())
}

async fn serve(cfg: KeydConfig) -> Result<()> {
    let shutdown = CancellationToken::new();
    let running = siso_keyd::start(&cfg, Arc::new(SystemClock), shutdown.clone()).await?;
    siso_server::systemd::tell("READY=1");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
            _ = hup.recv() => match siso_keyd::server::server_config(&cfg) {
                Ok(sc) => {
                    running.endpoint.set_server_config(Some(sc));
                    siso_keyd::record_expiries(&running.keyd, &cfg, time::OffsetDateTime::now_utc());
                    tracing::info!("SIGHUP: TLS configuration and CRL reloaded");
                }
                Err(e) => tracing::error!(error = %e, "SIGHUP: reload failed; keeping the previous configuration"),
            },
        }
    }
    tracing::info!("shutting down: finishing in-flight requests");
    siso_server::systemd::tell("STOPPING=1");
    shutdown.cancel();
    running.done.await?;
    Ok(())
}
