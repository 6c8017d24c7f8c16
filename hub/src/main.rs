//! The `siso-hub` command line (see `siso-hub --help` and docs/operations.md).
//!
//! Exit codes: 0 success; 1 failure (reason on stderr) or, for `audit verify`, a broken chain;
//! 2 usage error; 3 `sdc audit` found a suppressed cell an attacker can narrow below k, or
//! `release create` was refused by disclosure control (the previous release stays published).

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
    version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("SISO_GIT_REV"), ")"),
    about = "The Region's siso hub: mutual-TLS QUIC ingestion of pseudonymous household records, overlap detection, statistics"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum BackupCommand {
    /// Check a backup file without restoring it (exit 1 if it is corrupt, truncated, another
    /// program's, or cannot be decrypted).
    Verify(siso_server::backup::cli::VerifyArgs),
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
    /// Back up the store and hub.toml into one file, while `serve` runs (through its admin
    /// socket, under a write barrier) or not. `backup verify FILE` checks one.
    #[command(args_conflicts_with_subcommands = true)]
    Backup {
        #[command(subcommand)]
        command: Option<BackupCommand>,
        /// The configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
        #[command(flatten)]
        take: siso_server::backup::cli::TakeArgs,
    },
    /// Restore a backup into a new or empty directory, after checking all of it: DIR/store and
    /// DIR/hub.toml (its data_dir set to DIR).
    Restore {
        /// The directory to restore into.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        #[command(flatten)]
        args: siso_server::backup::cli::RestoreArgs,
    },
    /// Bring the store to this release's schema (stop the hub and back it up first); JSON on
    /// stdout.
    Migrate {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
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
    /// Frozen statistical releases: what the dashboard and the API publish.
    Release {
        #[command(subcommand)]
        command: ReleaseCommand,
    },
    /// Named accounts of the web side (regione, ufficio_di_piano); while the hub runs or not.
    User {
        #[command(subcommand)]
        command: siso_hub::users::UserCommand,
    },
    /// API tokens of named accounts (and the analysts' shared token, `analyst`).
    Token {
        #[command(subcommand)]
        command: siso_hub::users::TokenCommand,
    },
}

#[derive(Subcommand)]
enum ReleaseCommand {
    /// Cut, audit and store a release of an epoch (or of one month of it) from the current
    /// figures; refused (exit 3) if disclosure control cannot protect it. The running hub cuts
    /// releases by itself (`[stats] release_quiet_ms`); this needs the hub stopped.
    Create {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// The epoch (year).
        #[arg(long)]
        epoch: u16,
        /// A monthly release: only the figures of this month (1–12).
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=12))]
        month: Option<u8>,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: OutputFormat,
    },
    /// List every stored release with its digest and audit report.
    List {
        /// The configuration file (the hub must not be running).
        #[arg(long)]
        config: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: OutputFormat,
    },
}

#[derive(Subcommand)]
enum SdcCommand {
    /// The linear-programming attack on everything the hub would publish for an epoch: every
    /// sensitive suppressed cell's feasible interval (with --exact every suppressed cell's),
    /// and whether it is protected (exit 3 if a sensitive one is not).
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
        /// Protect the current figures as this method would before auditing: `audited` (what
        /// releases use) or `subtraction` (subtraction-safe suppression alone, for comparison).
        #[arg(
            long,
            value_enum,
            default_value = "audited",
            conflicts_with = "release"
        )]
        method: MethodArg,
        /// Audit a stored release afresh instead of the current figures.
        #[arg(long)]
        release: Option<u64>,
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
                audit_check_minutes: 60,
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
        Command::Backup {
            command: Some(BackupCommand::Verify(v)),
            ..
        } => v.run("hub"),
        Command::Backup {
            command: None,
            config,
            take,
        } => {
            let Some(config) = config else {
                bail!("backup: --config FILE is required");
            };
            take.run(|to, recipients| {
                siso_hub::backup::take(&config, to, recipients, time::OffsetDateTime::now_utc())
                    .map_err(anyhow::Error::from)
            })
        }
        Command::Restore { data, args } => args.run(&data, |from, identity| {
            siso_hub::backup::restore(from, identity, &data).map_err(anyhow::Error::from)
        }),
        Command::User { command } => {
            siso_hub::users::user(command, time::OffsetDateTime::now_utc())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Token { command } => {
            siso_hub::users::token(command, time::OffsetDateTime::now_utc())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate { config } => {
            let cfg = HubConfig::load(&config)?;
            let m = Store::migrate(&cfg.store_dir())?;
            println!("{}", serde_json::to_string(&m)?);
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
                    release,
                },
        } => sdc_audit(
            &config,
            epoch,
            format,
            export.as_deref(),
            exact,
            match method {
                MethodArg::Subtraction => siso_hub::disclosure::Method::Subtraction,
                MethodArg::Audited => siso_hub::disclosure::Method::Audited,
            },
            release,
        ),
        Command::Release {
            command:
                ReleaseCommand::Create {
                    config,
                    epoch,
                    month,
                    format,
                },
        } => release_create(&config, epoch, month, format),
        Command::Release {
            command: ReleaseCommand::List { config, format },
        } => release_list(&config, format),
    }
}

/// Opens the hub of a configuration for an offline command (the hub must not be running).
fn open_offline(config: &Path) -> Result<siso_hub::service::Hub> {
    let cfg = HubConfig::load(config)?;
    init_logging(cfg.log_format);
    let store = Store::open(&cfg.store_dir(), OpenMode::Existing)
        .context("opening the store (is the hub still running?)")?;
    Ok(siso_hub::service::Hub::open(
        store,
        cfg.access.clone(),
        cfg.stats.k,
        Arc::new(SystemClock),
    )?)
}

/// `siso-hub release create`.
fn release_create(
    config: &Path,
    epoch: u16,
    month: Option<u8>,
    format: OutputFormat,
) -> Result<ExitCode> {
    use siso_hub::release::{Period, ReleaseError};
    use siso_hub::service::HubError;
    if !siso_shared::wire::EPOCHS.contains(&epoch) {
        bail!("epoch {epoch} out of range");
    }
    let hub = open_offline(config)?;
    let period = Period { epoch, month };
    match hub.cut_release(period) {
        Ok(r) => {
            match format {
                OutputFormat::Json => println!("{}", serde_json::to_string(&r.meta)?),
                OutputFormat::Text => print_meta(&r.meta),
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(HubError::Release(ReleaseError::Unchanged(id))) => {
            eprintln!("nothing changed since release {id}: no new release");
            if format == OutputFormat::Json {
                println!("{}", serde_json::json!({ "unchanged_since": id }));
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(HubError::Release(e @ (ReleaseError::Audit(_) | ReleaseError::NotProven(_)))) => {
            eprintln!("siso-hub: release of {period} refused: {e}");
            Ok(ExitCode::from(3))
        }
        Err(e) => Err(e.into()),
    }
}

fn print_meta(m: &siso_hub::release::Meta) {
    let r = &m.report;
    println!(
        "release {} of {}: created {}, previous {}, digest {}; {} cells, {} withheld ({} primary, {} more of total {}, {} added by the audit, {} changes since the previous release protected), all proven protected; {:.1} s",
        m.id,
        m.period,
        m.created,
        m.previous.map_or("none".into(), |p| p.to_string()),
        m.digest_hex(),
        r.cells,
        r.suppressed,
        r.primary,
        r.extra_cells,
        r.extra_total,
        r.audit_cells,
        r.changes,
        r.seconds
    );
}

/// `siso-hub release list`.
fn release_list(config: &Path, format: OutputFormat) -> Result<ExitCode> {
    let hub = open_offline(config)?;
    let list = hub.release_list()?;
    match format {
        OutputFormat::Json => println!("{}", serde_json::json!({ "releases": list })),
        OutputFormat::Text => {
            if list.is_empty() {
                eprintln!("no releases yet");
            }
            for m in &list {
                print_meta(m);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The sensitive cells an audit did not prove protected (the failure, exit 3), and how many
/// complements it narrowed below k (reported, not a failure).
fn exposure(cells: &[siso_hub::stats::AuditedCell]) -> (Vec<&siso_hub::stats::AuditedCell>, usize) {
    let unprotected = cells
        .iter()
        .filter(|c| c.sensitive && !c.protected)
        .collect();
    let narrowed = cells
        .iter()
        .filter(|c| !c.sensitive && !c.protected)
        .count();
    (unprotected, narrowed)
}

/// `siso-hub sdc audit`.
fn sdc_audit(
    config: &Path,
    epoch: Option<u16>,
    format: OutputFormat,
    export: Option<&Path>,
    exact: bool,
    method: siso_hub::disclosure::Method,
    release: Option<u64>,
) -> Result<ExitCode> {
    let mode = if exact {
        siso_hub::disclosure::Mode::Exact
    } else {
        siso_hub::disclosure::Mode::Sufficient
    };
    let hub = open_offline(config)?;
    if let Some(id) = release {
        return sdc_audit_release(&hub, id, format, export, mode);
    }
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
        let cube = hub.cube_with(e, method)?;
        let protect_s = started.elapsed().as_secs_f64();
        let started = std::time::Instant::now();
        let (audit, cells) = siso_hub::stats::audit(&cube, mode)?;
        let audit_s = started.elapsed().as_secs_f64();
        let (unprotected, narrowed) = exposure(&cells);
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
            "sensitive": cells.iter().filter(|c| c.sensitive).count(),
            "not_proven": unprotected.len(),
            "narrowed_complements": narrowed,
            "method": method,
            "protect_s": protect_s,
            "subtraction_only_s": reference_s,
            "ratio_protect_over_subtraction_only": protect_s / reference_s.max(1e-9),
            "audit_s": audit_s,
        });
        match format {
            OutputFormat::Text => {
                println!(
                    "epoch {e}: {} cells, {} suppressed ({} primary, {} more of total {}, {} added by the audit in {} rounds); {} components (largest {}); {} sensitive cells not proven protected; {narrowed} complements narrowed below k (not sensitive); protection {protect_s:.1} s, audit {audit_s:.1} s",
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

/// `siso-hub sdc audit --release ID`: a stored release's suppression audited afresh (the
/// release alone, not as a revision of the one before it).
fn sdc_audit_release(
    hub: &siso_hub::service::Hub,
    id: u64,
    format: OutputFormat,
    export: Option<&Path>,
    mode: siso_hub::disclosure::Mode,
) -> Result<ExitCode> {
    let r = hub
        .release(id)?
        .with_context(|| format!("no release {id}"))?;
    let started = std::time::Instant::now();
    let (audit, cells) = siso_hub::stats::audit(&r.cube, mode)?;
    let audit_s = started.elapsed().as_secs_f64();
    if let Some(path) = export {
        let doc = r
            .cube
            .table
            .to_json(&r.cube.protection.suppression.suppressed);
        write_private(path, doc.to_string().as_bytes())?;
    }
    let (unprotected, narrowed) = exposure(&cells);
    match format {
        OutputFormat::Text => {
            println!(
                "release {id} of {}: {} cells, {} withheld; {} components (largest {}); {} sensitive cells not proven protected; {narrowed} complements narrowed below k (not sensitive); audit {audit_s:.1} s",
                r.meta.period,
                r.cube.table.len(),
                r.cube.protection.suppression.count(),
                audit.components,
                audit.largest,
                unprotected.len()
            );
            for c in &unprotected {
                println!(
                    "  NOT PROTECTED {} month {} {} {}: [{}, {}]",
                    c.unit, c.month, c.group, c.measure, c.interval.min, c.interval.max
                );
            }
        }
        OutputFormat::Json => println!(
            "{}",
            serde_json::json!({
                "release": r.meta,
                "components": audit.components,
                "largest_component": audit.largest,
                "sensitive": cells.iter().filter(|c| c.sensitive).count(),
                "not_proven": unprotected.len(),
                "narrowed_complements": narrowed,
                "audit_s": audit_s,
                "intervals": cells,
            })
        ),
    }
    Ok(if unprotected.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}

async fn serve(cfg: HubConfig) -> Result<()> {
    let shutdown = CancellationToken::new();
    let running = siso_hub::start(&cfg, Arc::new(SystemClock), shutdown.clone()).await?;
    siso_server::systemd::tell("READY=1");
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
                        siso_hub::record_expiries(&running.hub, &cfg);
                        tracing::info!("SIGHUP: TLS configuration and CRL reloaded");
                    }
                    Err(e) => tracing::error!(error = %e, "SIGHUP: reload failed; keeping the previous configuration"),
                }
            }
        }
    }
    tracing::info!("shutting down: finishing in-flight requests");
    siso_server::systemd::tell("STOPPING=1");
    shutdown.cancel();
    running.done.await?;
    tracing::info!("stopped");
    Ok(())
}
