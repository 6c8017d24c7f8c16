//! The `siso-hub` command line (see `siso-hub --help` and docs/operations.md).
//!
//! Exit codes: 0 success; 1 failure (reason on stderr) or, for `audit verify`, a broken chain;
//! 2 usage error; 3 `sdc audit` found a suppressed cell an attacker can narrow below k.

use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use siso_hub::config::{Access, HubConfig, Limits, LogFormat, StatsConfig};
use siso_hub::service::SystemClock;
use siso_hub::store::{OpenMode, Store};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(
    name = "siso-hub",
    version,
    about = "The Region's siso hub: mutual-TLS QUIC ingestion of pseudonymous household records, overlap detection, statistics"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a hub: DIR/hub.toml (every setting, commented), DIR/analyst.token, the store.
    Init {
        /// Data directory of the hub.
        #[arg(long)]
        data: PathBuf,
        /// Regional CA directory (ca.pem; crl.pem if any certificate is revoked).
        #[arg(long)]
        ca_dir: PathBuf,
        /// The hub's certificate (PEM).
        #[arg(long)]
        cert: PathBuf,
        /// The hub's private key (PEM).
        #[arg(long)]
        key: PathBuf,
        /// UDP address for QUIC.
        #[arg(long, default_value = "0.0.0.0:4433")]
        listen: SocketAddr,
        /// TCP address for HTTP (health, metrics, analysts).
        #[arg(long, default_value = "127.0.0.1:8080")]
        http: SocketAddr,
        /// Overwrite an existing hub.toml and analyst token (the store is kept).
        #[arg(long)]
        force: bool,
    },
    /// Serve until SIGTERM or Ctrl-C (SIGHUP re-reads the CA's CRL).
    Serve {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// Override the configured log format.
        #[arg(long, value_enum)]
        log_format: Option<LogFormat>,
    },
    /// The tamper-evident message log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Statistical disclosure control.
    Sdc {
        #[command(subcommand)]
        command: SdcCommand,
    },
}

#[derive(Subcommand)]
enum SdcCommand {
    /// The linear-programming attack on everything the hub would publish for an epoch: every
    /// suppressed cell's feasible interval, and whether it is protected (exit 3 if not).
    Audit {
        /// The configuration file (data directory and k; the hub must not be running).
        #[arg(long)]
        config: PathBuf,
        /// The epoch (default: every epoch with data).
        #[arg(long)]
        epoch: Option<u16>,
        /// Output: a summary and the unprotected cells, or everything as one JSON document.
        #[arg(long, value_enum, default_value = "text")]
        format: OutputFormat,
        /// Also write the table and its suppression as JSON (for an independent solver).
        #[arg(long)]
        export: Option<PathBuf>,
        /// Compute every suppressed cell's exact interval (two linear programs per cell on its
        /// whole component; slow on large tables). Default: prove each cell protected with the
        /// fewest programs, reporting an interval the attacker cannot narrow.
        #[arg(long)]
        exact: bool,
        /// Protect as this method would before auditing (default: `[stats] protection`): with
        /// `audited`, what the linear-programming protection withholds and costs.
        #[arg(long, value_enum)]
        method: Option<MethodArg>,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum MethodArg {
    Subtraction,
    Audited,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum OutputFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Verify the hash chain: prints the record count and the first broken link (exit 1).
    Verify {
        /// Data directory of the hub (the hub must not be running).
        #[arg(long)]
        data: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("siso-hub: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn absolute(p: &Path) -> Result<PathBuf> {
    std::fs::canonicalize(p).with_context(|| format!("{} not found", p.display()))
}

fn write_private(path: &Path, contents: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(contents)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SISO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => b.json().init(),
        LogFormat::Text => b.init(),
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Init {
            data,
            ca_dir,
            cert,
            key,
            listen,
            http,
            force,
        } => {
            std::fs::create_dir_all(&data)
                .with_context(|| format!("creating {}", data.display()))?;
            let data = absolute(&data)?;
            let config_path = data.join("hub.toml");
            if config_path.exists() && !force {
                bail!(
                    "{} exists; pass --force to overwrite it (the store is kept)",
                    config_path.display()
                );
            }
            let ca_dir = absolute(&ca_dir)?;
            if !ca_dir.join("ca.pem").exists() {
                bail!("{} has no ca.pem", ca_dir.display());
            }
            let cfg = HubConfig {
                data_dir: data.clone(),
                listen,
                http,
                ca_dir,
                cert: absolute(&cert)?,
                key: absolute(&key)?,
                analyst_token_file: data.join("analyst.token"),
                log_format: LogFormat::Text,
                limits: Limits::default(),
                access: Access::default(),
                stats: StatsConfig::default(),
            };
            // The TLS material must load before we call the hub created.
            siso_hub::tls::server_config(&cfg).context("checking the TLS material")?;
            let mut token = [0u8; 32];
            ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut token)
                .map_err(|_| anyhow::anyhow!("system random generator failed"))?;
            write_private(
                &cfg.analyst_token_file,
                format!("{}\n", hex::encode(token)).as_bytes(),
            )?;
            Store::open(&cfg.store_dir(), OpenMode::Create)?;
            std::fs::write(&config_path, cfg.render()?)
                .with_context(|| format!("writing {}", config_path.display()))?;
            println!("{}", config_path.display());
            eprintln!(
                "hub created: config {}, analyst token {}, store {}",
                config_path.display(),
                cfg.analyst_token_file.display(),
                cfg.store_dir().display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve { config, log_format } => {
            let cfg = HubConfig::load(&config)?;
            init_logging(log_format.unwrap_or(cfg.log_format));
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(serve(cfg))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit {
            command: AuditCommand::Verify { data },
        } => {
            let store = Store::open(&data.join("store"), OpenMode::Existing)
                .context("opening the store (is the hub still running?)")?;
            let v = siso_hub::audit::verify(&store)?;
            match v.first_broken {
                None => {
                    println!("{} records, chain intact", v.records);
                    Ok(ExitCode::SUCCESS)
                }
                Some(n) => {
                    println!("{} records read, chain broken at record {n}", v.records);
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Sdc {
            command:
                SdcCommand::Audit {
                    config,
                    epoch,
                    format,
                    export,
                    exact,
                    method,
                },
        } => sdc_audit(
            &config,
            epoch,
            format,
            export.as_deref(),
            exact,
            method.map(|m| match m {
                MethodArg::Subtraction => siso_hub::disclosure::Method::Subtraction,
                MethodArg::Audited => siso_hub::disclosure::Method::Audited,
            }),
        ),
    }
}

/// `siso-hub sdc audit`.
fn sdc_audit(
    config: &Path,
    epoch: Option<u16>,
    format: OutputFormat,
    export: Option<&Path>,
    exact: bool,
    method: Option<siso_hub::disclosure::Method>,
) -> Result<ExitCode> {
    let mode = if exact {
        siso_hub::disclosure::Mode::Exact
    } else {
        siso_hub::disclosure::Mode::Sufficient
    };
    let cfg = HubConfig::load(config)?;
    init_logging(cfg.log_format);
    let store = Store::open(&cfg.store_dir(), OpenMode::Existing)
        .context("opening the store (is the hub still running?)")?;
    let mut hub = siso_hub::service::Hub::open(
        store,
        cfg.access.clone(),
        cfg.stats.k,
        Arc::new(SystemClock),
    )?;
    hub.protection = match method {
        Some(m) => m,
        None => cfg.stats.protection,
    };
    let epochs: Vec<u16> = match epoch {
        Some(e) => vec![e],
        None => hub.epochs()?,
    };
    let mut reports = Vec::new();
    let mut exposed = 0usize;
    for e in epochs {
        // The reference, in the same run: the same cube, subtraction-safe suppression only.
        let started = std::time::Instant::now();
        hub.cube_with(e, siso_hub::disclosure::Method::Subtraction)?;
        let reference_s = started.elapsed().as_secs_f64();
        let started = std::time::Instant::now();
        let cube = hub.cube_with(e, hub.protection)?;
        let protect_s = started.elapsed().as_secs_f64();
        let started = std::time::Instant::now();
        let (audit, cells) = siso_hub::stats::audit(&cube, mode)?;
        let audit_s = started.elapsed().as_secs_f64();
        let unprotected: Vec<_> = cells.iter().filter(|c| !c.protected).collect();
        exposed += unprotected.len();
        if let Some(path) = export {
            let doc = cube.table.to_json(&cube.protection.suppression.suppressed);
            write_private(path, doc.to_string().as_bytes())?;
        }
        let p = &cube.protection;
        let summary = serde_json::json!({
            "epoch": e,
            "k": cube.k,
            "cells": cube.table.len(),
            "constraints": cube.table.constraints.len(),
            "suppressed": p.suppression.count(),
            "primary_cells": p.primary_cells,
            "extra_cells": p.extra_cells,
            "extra_total": p.extra_total,
            "extra_amount_cents": p.extra_amount,
            "audit_cells": p.audit_cells,
            "rounds": p.rounds,
            "components": audit.components,
            "largest_component": audit.largest,
            "not_proven": unprotected.len(),
            "method": hub.protection,
            "protect_s": protect_s,
            "subtraction_only_s": reference_s,
            "ratio_protect_over_subtraction_only": protect_s / reference_s.max(1e-9),
            "audit_s": audit_s,
        });
        match format {
            OutputFormat::Text => {
                println!(
                    "epoch {e}: {} cells, {} suppressed ({} primary, {} more of total {}, {} added by the audit in {} rounds); {} components (largest {}); {} not proven protected; protection {protect_s:.1} s, audit {audit_s:.1} s",
                    cube.table.len(),
                    p.suppression.count(),
                    p.primary_cells,
                    p.extra_cells,
                    p.extra_total,
                    p.audit_cells,
                    p.rounds,
                    audit.components,
                    audit.largest,
                    unprotected.len(),
                );
                for c in unprotected {
                    println!(
                        "  NOT PROTECTED {} month {} {} {}: [{}, {}]",
                        c.unit, c.month, c.group, c.measure, c.interval.min, c.interval.max
                    );
                }
            }
            OutputFormat::Json => {
                let mut doc = summary;
                doc["intervals"] = serde_json::to_value(&cells)?;
                reports.push(doc);
            }
        }
    }
    if format == OutputFormat::Json {
        println!("{}", serde_json::json!({ "epochs": reports }));
    }
    Ok(if exposed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}

async fn serve(cfg: HubConfig) -> Result<()> {
    let shutdown = CancellationToken::new();
    let running = siso_hub::start(&cfg, Arc::new(SystemClock), shutdown.clone()).await?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
            _ = hup.recv() => {
                match siso_hub::tls::server_config(&cfg) {
                    Ok(sc) => {
                        running.endpoint.set_server_config(Some(sc));
                        tracing::info!("SIGHUP: TLS configuration and CRL reloaded");
                    }
                    Err(e) => tracing::error!(error = %e, "SIGHUP: reload failed; keeping the previous configuration"),
                }
            }
        }
    }
    tracing::info!("shutting down: finishing in-flight requests");
    shutdown.cancel();
    running.done.await?;
    tracing::info!("stopped");
    Ok(())
}
