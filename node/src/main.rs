//! The `siso-node` command line (see `siso-node --help` and docs/operations.md).
//!
//! Exit codes: 0 success; 1 a command failed (invalid import, unreachable hub, refused request);
//! 2 usage error, or an I/O error reading the input of `check-cf`.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use siso_node::accounts::{self, Change, OperatorRole};
use siso_node::config::{HttpConfig, NodeConfig, SyncConfig};
use siso_node::import::{self, ImportKind, ImportOptions, Profile};
use siso_node::store::{OpenMode, Store};
use siso_node::{retention, sync};
use siso_server::web::Password;
use siso_shared::wire::{Dimension, Level, Message, StatsQuery};
use siso_shared::{MemberId, Role};
use time::OffsetDateTime;

#[derive(Parser)]
#[command(
    name = "siso-node",
    version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("SISO_GIT_REV"), ")"),
    about = "siso node: local registries and social-service records, pseudonymous sync with the Region's hub"
)]
struct Cli {
    /// The node's data directory (node.toml and the store).
    #[arg(long, global = true, env = "SISO_NODE_DATA")]
    data: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    Table,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum LevelArg {
    Region,
    Zona,
    Comune,
}

#[derive(Clone, Copy, ValueEnum)]
enum ByArg {
    AreaBisogno,
    TipoIntervento,
    AgeBand,
    HouseholdType,
}

#[derive(Subcommand)]
enum Command {
    /// Create a node: DATA/node.toml (paths to the keys, not copies) and the store.
    Init {
        /// Member id: the Comune's ISTAT code, or ets-<slug>.
        #[arg(long)]
        member: MemberId,
        /// The hub's QUIC address.
        #[arg(long)]
        hub: SocketAddr,
        /// The hub's name in its certificate.
        #[arg(long, default_value = "localhost")]
        hub_name: String,
        /// The regional CA certificate.
        #[arg(long)]
        ca: PathBuf,
        /// This node's certificate.
        #[arg(long)]
        cert: PathBuf,
        /// This node's private key.
        #[arg(long)]
        key: PathBuf,
        /// The epoch's key service verification keys (`verification.toml` of `siso-keyd deal`).
        #[arg(long, required_unless_present = "fingerprint_key")]
        oprf_verification: Option<PathBuf>,
        /// A key service as SHARE:NAME@ADDRESS, e.g. 1:keyd-1@10.0.0.7:7401 (repeat for each).
        #[arg(long = "keyd", value_name = "SHARE:NAME@ADDRESS")]
        keyd: Vec<siso_node::config::KeyService>,
        /// Shared-key scheme instead of the key services: the fingerprint secret (hex file).
        /// For tests and small pilots only.
        #[arg(long, conflicts_with_all = ["oprf_verification", "keyd"])]
        fingerprint_key: Option<PathBuf>,
        /// The epoch (year) to share; default: the current year.
        #[arg(long)]
        epoch: Option<u16>,
        /// Overwrite an existing node.toml (the store is kept).
        #[arg(long)]
        force: bool,
    },
    /// Import a registry or records file (atomic: with any invalid row nothing is written).
    Import {
        /// What the file holds.
        kind: ImportKind,
        /// The file (CSV).
        file: PathBuf,
        /// Driver profile (vendor column names, delimiter, encoding, formats).
        #[arg(long)]
        profile: Option<PathBuf>,
        /// Validate only; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Import the valid rows; write the rejects with their reasons to this CSV file.
        #[arg(long, value_name = "REJECTS.csv")]
        skip_invalid: Option<PathBuf>,
        /// Output format of the summary on stdout.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// One sync round with the hub.
    Sync {
        /// Output format of the report on stdout.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        /// Send the whole set again as a snapshot, forgetting what the hub acknowledged (after
        /// the hub was re-created or restored from an older backup).
        #[arg(long)]
        full: bool,
    },
    /// The overlaps the hub reported at the last sync, resolved to local households.
    Overlaps {
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Published statistics from the hub.
    Stats {
        /// Territorial level.
        #[arg(long, value_enum, default_value = "zona")]
        level: LevelArg,
        /// Grouping.
        #[arg(long, value_enum)]
        by: Option<ByArg>,
        /// Month 1–12 (default: the whole epoch).
        #[arg(long)]
        month: Option<u8>,
        /// Epoch (default: the node's).
        #[arg(long)]
        epoch: Option<u16>,
    },
    /// Assess every household: economic indicator, benefit eligibility, latent needs, critical
    /// situations (rules in DATA/rules.toml).
    Assess {
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Periodic sync, the HTTP server (/healthz, /metrics) and the operators' web app, until
    /// SIGTERM or Ctrl-C.
    Serve {
        /// Address of the web app, overriding `[web] listen` (plain HTTP only on loopback).
        #[arg(long, value_name = "HOST:PORT")]
        web_listen: Option<SocketAddr>,
    },
    /// This member's fingerprint budget at each key service (JSON on stdout).
    Budget,
    /// Delete social records past the periods of `[retention]` in node.toml (needs the store:
    /// run it while `serve` is stopped, e.g. from the unit's ExecStartPre or a timer).
    Retention {
        #[command(subcommand)]
        command: RetentionCommand,
    },
    /// Erase a person from this node (GDPR art. 17, where the law allows): their social and
    /// registry records, fingerprint cache and family membership; a tombstone keeps imports from
    /// bringing them back, and the next sync withdraws their fingerprints from the hub. Needs
    /// the store (stop `serve`).
    Erase {
        /// The person's codice fiscale.
        #[arg(long)]
        codice_fiscale: String,
        /// Who erases (recorded in the audit trail).
        #[arg(long)]
        by: String,
        /// Why, e.g. the request's protocol number (recorded; no personal data).
        #[arg(long)]
        reason: String,
        /// Count what would be removed; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Back up the store, node.toml and rules.toml into one file, while `serve` runs (through
    /// its admin socket, under a write barrier) or not. `backup verify FILE` checks one.
    #[command(args_conflicts_with_subcommands = true)]
    Backup {
        #[command(subcommand)]
        command: Option<BackupCommand>,
        #[command(flatten)]
        take: siso_server::backup::cli::TakeArgs,
    },
    /// Restore a backup into the (new or empty) data directory given by --data, after checking
    /// all of it.
    Restore(siso_server::backup::cli::RestoreArgs),
    /// Bring the store to this release's schema (stop the node and back it up first).
    Migrate,
    /// Counts, last sync, outbox size.
    Status {
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Operators' accounts of the web app. Needs the store: run it while `serve` is stopped.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// The operators' audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Check codici fiscali, one per line: prints `<input>\t<OK|ERROR>\t<code or reason>`.
    /// Exit 0 even when some are invalid; 2 on I/O errors.
    CheckCf {
        /// Input file; `-` or absent for standard input.
        file: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum BackupCommand {
    /// Check a backup file without restoring it (exit 1 if it is corrupt, truncated, another
    /// program's, or cannot be decrypted).
    Verify(siso_server::backup::cli::VerifyArgs),
}

#[derive(Subcommand)]
enum RetentionCommand {
    /// Delete (or with --dry-run count) what is past its retention period today.
    Run {
        /// Who runs it (recorded in the audit trail).
        #[arg(long, default_value = "retention")]
        by: String,
        /// Count what would be deleted; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Walk the hash chain: the record count and the first broken record (exit 1 if any).
    Verify {
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account.
    Add {
        /// User name: 2–64 characters among a-z, 0-9, '.', '_' and '-'.
        #[arg(long)]
        username: String,
        /// Role.
        #[arg(long, value_enum)]
        role: OperatorRole,
        /// File holding the password (`-`: standard input); without it, a prompt on the
        /// terminal. Never on the command line.
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
    },
    /// List the accounts (never their passwords).
    List {
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Disable an account: it can no longer log in.
    Disable {
        /// User name.
        username: String,
    },
    /// Enable a disabled account.
    Enable {
        /// User name.
        username: String,
    },
    /// Set a new password.
    ResetPassword {
        /// User name.
        username: String,
        /// File holding the password (`-`: standard input); without it, a prompt.
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
    },
    /// Change an account's role.
    SetRole {
        /// User name.
        username: String,
        /// The new role.
        #[arg(value_enum)]
        role: OperatorRole,
    },
}

/// A new password from a file, standard input (`-`) or a prompt on the terminal (twice, without
/// echo). One trailing newline of a file is not part of the password.
fn read_password(file: Option<&Path>) -> Result<Password> {
    use std::io::{IsTerminal, Read};
    let text = match file {
        Some(p) if p.as_os_str() == "-" => {
            let mut s = String::new();
            io::stdin()
                .read_to_string(&mut s)
                .context("reading the password from standard input")?;
            s
        }
        Some(p) => std::fs::read_to_string(p)
            .with_context(|| format!("reading the password from {}", p.display()))?,
        None if io::stdin().is_terminal() => {
            let a = rpassword::prompt_password("Password: ")?;
            let b = rpassword::prompt_password("Password (again): ")?;
            if a != b {
                bail!("the two passwords differ");
            }
            a
        }
        None => {
            bail!("--password-file FILE (or -) is required when standard input is not a terminal")
        }
    };
    let text = text
        .strip_suffix('\n')
        .map(|t| t.strip_suffix('\r').unwrap_or(t))
        .unwrap_or(&text);
    Ok(Password::new(text)?)
}

fn user_command(data: &Path, command: UserCommand) -> Result<ExitCode> {
    let (cfg, store) = sync::open(data)?;
    let member = cfg.member_id()?.role();
    let now = OffsetDateTime::now_utc();
    let done = |what: &str, a: &accounts::Account| {
        eprintln!("{what}: {} ({})", a.username, a.role);
        ExitCode::SUCCESS
    };
    let change = |username: String, c: Change, what: &str| -> Result<ExitCode> {
        Ok(done(
            what,
            &accounts::change(&store, &username, c, member, now)?,
        ))
    };
    Ok(match command {
        UserCommand::Add {
            username,
            role,
            password_file,
        } => {
            let p = read_password(password_file.as_deref())?;
            done(
                "created",
                &accounts::add(&store, &username, role, &p, member, now)?,
            )
        }
        UserCommand::List { format } => {
            let l = accounts::list(&store)?;
            if format == Format::Json {
                println!("{}", serde_json::to_string_pretty(&l)?);
            } else {
                println!("{:<24} {:<20} {:<9} updated", "user", "role", "state");
                for a in l {
                    let state = if a.disabled { "disabled" } else { "enabled" };
                    println!(
                        "{:<24} {:<20} {:<9} {}",
                        a.username, a.role, state, a.updated
                    );
                }
            }
            ExitCode::SUCCESS
        }
        UserCommand::Disable { username } => change(username, Change::Disable, "disabled")?,
        UserCommand::Enable { username } => change(username, Change::Enable, "enabled")?,
        UserCommand::ResetPassword {
            username,
            password_file,
        } => {
            let p = read_password(password_file.as_deref())?;
            change(username, Change::Password(p), "new password")?
        }
        UserCommand::SetRole { username, role } => {
            change(username, Change::Role(role), "new role")?
        }
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("SISO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    if let Command::CheckCf { file } = &cli.command {
        return siso_node::check_cf::run(file.as_deref());
    }
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("siso-node: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn data_dir(d: &Option<PathBuf>) -> Result<PathBuf> {
    d.clone()
        .context("--data DIR is required (or set SISO_NODE_DATA)")
}

fn absolute(p: &Path) -> Result<PathBuf> {
    std::fs::canonicalize(p).with_context(|| format!("{} not found", p.display()))
}

fn run(cli: Cli) -> Result<ExitCode> {
    if let Command::Backup {
        command: Some(BackupCommand::Verify(v)),
        ..
    } = &cli.command
    {
        // Needs no data directory.
        return v.run("node");
    }
    let data = data_dir(&cli.data)?;
    match cli.command {
        Command::Init {
            member,
            hub,
            hub_name,
            ca,
            cert,
            key,
            oprf_verification,
            keyd,
            fingerprint_key,
            epoch,
            force,
        } => {
            let pem = std::fs::read_to_string(&cert)
                .with_context(|| format!("reading {}", cert.display()))?;
            let der = rustls::pki_types::pem::PemObject::from_pem_slice(pem.as_bytes())
                .map(|c: rustls::pki_types::CertificateDer<'static>| c.to_vec())
                .map_err(|e| anyhow::anyhow!("{}: not a PEM certificate: {e}", cert.display()))?;
            let in_cert = siso_shared::identity::member_of_cert_der(&der)
                .with_context(|| format!("{}", cert.display()))?;
            if in_cert != member {
                bail!("--member {member} does not match the certificate, which is issued to {in_cert}");
            }
            if member.role() == Role::Region {
                bail!("a region identity runs no node");
            }
            std::fs::create_dir_all(&data)
                .with_context(|| format!("creating {}", data.display()))?;
            let path = NodeConfig::path(&data);
            if path.exists() && !force {
                bail!(
                    "{} exists; pass --force to overwrite it (the store is kept)",
                    path.display()
                );
            }
            let cfg = NodeConfig {
                member: member.to_string(),
                hub,
                hub_name,
                ca: absolute(&ca)?,
                cert: absolute(&cert)?,
                key: absolute(&key)?,
                fingerprint_key: fingerprint_key.as_deref().map(absolute).transpose()?,
                oprf: match oprf_verification {
                    Some(v) => Some(siso_node::config::OprfConfig {
                        verification: absolute(&v)?,
                        batch: 4096,
                        timeout_secs: 30,
                        services: keyd,
                    }),
                    None => None,
                },
                epoch: epoch.unwrap_or(OffsetDateTime::now_utc().year() as u16),
                sync: SyncConfig::default(),
                http: HttpConfig::default(),
                web: Default::default(),
                retention: Default::default(),
            };
            cfg.check_scheme()?;
            match &cfg.oprf {
                Some(o) => {
                    siso_node::oprf::load_verification(&o.verification, cfg.epoch)?;
                }
                None => {
                    sync::epoch_key(&cfg)?;
                }
            }
            Store::open(&data.join("store"), OpenMode::Create)?;
            let rules = data.join("rules.toml");
            if !rules.exists() {
                std::fs::write(&rules, siso_node::rules::DEFAULT_RULES)
                    .with_context(|| format!("writing {}", rules.display()))?;
            }
            std::fs::write(&path, cfg.render()?)
                .with_context(|| format!("writing {}", path.display()))?;
            println!("{}", path.display());
            eprintln!(
                "node {member} created (epoch {}); role {}",
                cfg.epoch,
                member.role()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Import {
            kind,
            file,
            profile,
            dry_run,
            skip_invalid,
            format,
        } => {
            let (cfg, store) = sync::open(&data)?;
            let profile = match profile {
                Some(p) => Profile::load(&p)?,
                None => Profile::default(),
            };
            let opts = ImportOptions {
                dry_run,
                skip_invalid,
                reference: OffsetDateTime::now_utc().date(),
                role: cfg.role(),
                progress: true,
            };
            match import::import(&store, kind, &file, &profile, &opts) {
                Ok(s) => {
                    match format {
                        Format::Json => println!("{}", serde_json::to_string(&s)?),
                        Format::Table => println!("{s}"),
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    for l in e.lines() {
                        eprintln!("{l}");
                    }
                    if let import::ImportError::Invalid { errors, .. } = &e {
                        eprintln!("{} error(s); nothing was imported", errors.len());
                    }
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Sync { format, full } => {
            let (cfg, store) = sync::open(&data)?;
            let rt = tokio::runtime::Runtime::new()?;
            let rules = siso_node::rules::Rules::load(&data)?;
            let report = rt
                .block_on(sync::assess_and_round_with(
                    &store,
                    &cfg,
                    &rules,
                    OffsetDateTime::now_utc(),
                    full,
                ))
                .map_err(|e| match e {
                    sync::SyncError::Client(c) if c.is_transient() => anyhow::anyhow!(
                        "cannot reach the hub at {}: {c}; {} batch(es) wait in the outbox for the next sync",
                        cfg.hub,
                        store
                            .count(siso_node::store::Kind::Outbox)
                            .map_or_else(|e| format!("? ({e})"), |n| n.to_string())
                    ),
                    other => other.into(),
                })?;
            match format {
                Format::Json => println!("{}", serde_json::to_string(&report)?),
                Format::Table => {
                    if report.resent_full {
                        println!("the hub had lost records it acknowledged: the whole set was sent again");
                    }
                    println!(
                        "shared {} household records: {} batches ({} already applied), {} added, {} removed; hub holds {}; {} overlap notices",
                        report.shared,
                        report.batches,
                        report.duplicates,
                        report.added,
                        report.removed,
                        report.hub_records,
                        report.notices
                    )
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Overlaps { format } => {
            let (_, store) = sync::open(&data)?;
            let rows = siso_node::report::overlaps_json(&store)?;
            match format {
                Format::Json => println!("{}", serde_json::Value::Array(rows)),
                Format::Table => print!("{}", siso_node::report::overlaps_table(&rows)),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Stats {
            level,
            by,
            month,
            epoch,
        } => {
            let (cfg, _) = sync::open(&data)?;
            let q = StatsQuery {
                epoch: epoch.unwrap_or(cfg.epoch),
                level: match level {
                    LevelArg::Region => Level::Region,
                    LevelArg::Zona => Level::Zona,
                    LevelArg::Comune => Level::Comune,
                },
                by: by.map(|b| match b {
                    ByArg::AreaBisogno => Dimension::AreaBisogno,
                    ByArg::TipoIntervento => Dimension::TipoIntervento,
                    ByArg::AgeBand => Dimension::AgeBand,
                    ByArg::HouseholdType => Dimension::HouseholdType,
                }),
                month,
            };
            let rt = tokio::runtime::Runtime::new()?;
            let json = rt.block_on(async {
                let client = sync::connect(&cfg).await?;
                let r = client.call(&Message::StatsQuery(q)).await;
                client.close().await;
                match r? {
                    Message::Stats(s) => Ok::<_, anyhow::Error>(s.json),
                    other => bail!("unexpected reply {}", other.kind()),
                }
            })?;
            println!("{json}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Assess { format } => {
            let (cfg, store) = sync::open(&data)?;
            let rules = siso_node::rules::Rules::load(&data)?;
            let a = siso_node::assess::assess(
                &store,
                &rules,
                cfg.epoch,
                OffsetDateTime::now_utc().date(),
            )?;
            match format {
                Format::Json => println!("{}", serde_json::to_string(&a)?),
                Format::Table => {
                    println!("nucleo\tcomponenti\tindicatore\trequisiti\tsegnalazioni\tsostenuto qui\taltrove\tbisogno latente");
                    for h in &a.households {
                        let yes = |b: bool| if b { "sì" } else { "no" };
                        println!(
                            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                            h.household,
                            h.members,
                            h.indicator.as_ref().map_or(
                                "dati insufficienti".to_owned(),
                                |i| format!("{:.2}", i.value)
                            ),
                            h.eligible.join(","),
                            h.flags.join(","),
                            yes(h.supported_here),
                            yes(h.supported_elsewhere),
                            yes(h.latent_need)
                        );
                    }
                    eprintln!(
                        "{} households assessed, {} latent need, {} insufficient data",
                        a.counts.assessed, a.counts.latent_need, a.counts.insufficient_data
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve { web_listen } => {
            let (mut cfg, store) = sync::open(&data)?;
            if let Some(l) = web_listen {
                cfg.web.listen = l;
                cfg.web.check()?;
            }
            let rules = siso_node::rules::Rules::load(&data)?;
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(siso_node::serve::serve(cfg, store, rules, &data))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { format } => {
            let (cfg, store) = sync::open(&data)?;
            let s = siso_node::report::status(&store, &cfg.member, cfg.epoch)?;
            match format {
                Format::Json => println!("{}", serde_json::to_string(&s)?),
                Format::Table => println!("{s}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::User { command } => user_command(&data, command),
        Command::Migrate => {
            let m = Store::migrate(&data.join("store"))?;
            println!("{}", serde_json::to_string(&m)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Backup {
            command: Some(BackupCommand::Verify(v)),
            ..
        } => v.run("node"),
        Command::Backup {
            command: None,
            take,
        } => take.run(|to, recipients| {
            siso_node::backup::take(&data, to, recipients, OffsetDateTime::now_utc())
                .map_err(anyhow::Error::from)
        }),
        Command::Restore(r) => r.run(&data, |from, identity| {
            siso_node::backup::restore(from, identity, &data).map_err(anyhow::Error::from)
        }),
        Command::Retention {
            command:
                RetentionCommand::Run {
                    by,
                    dry_run,
                    format,
                },
        } => {
            let (cfg, store) = sync::open(&data)?;
            let now = OffsetDateTime::now_utc();
            let p = retention::run(&store, &cfg.retention, now.date(), &by, now, dry_run)?;
            match format {
                Format::Json => println!("{}", serde_json::to_string(&p)?),
                Format::Table => print!("{p}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Erase {
            codice_fiscale,
            by,
            reason,
            dry_run,
            format,
        } => {
            let (_, store) = sync::open(&data)?;
            let now = OffsetDateTime::now_utc();
            let e = retention::erase(&store, &codice_fiscale, &by, &reason, now, dry_run)?;
            match format {
                Format::Json => println!("{}", serde_json::to_string(&e)?),
                Format::Table => print!("{e}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Budget => {
            let cfg = NodeConfig::load(&data)?;
            let rows = tokio::runtime::Runtime::new()?.block_on(siso_node::oprf::budgets(&cfg))?;
            println!("{}", serde_json::Value::Array(rows));
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit {
            command: AuditCommand::Verify { format },
        } => {
            let (_, store) = sync::open(&data)?;
            let v = siso_node::audit::verify(&store)?;
            match format {
                Format::Json => println!("{}", serde_json::to_string(&v)?),
                Format::Table => match v.first_broken {
                    None => println!("{} records, chain intact", v.records),
                    Some(at) => println!("{} records, chain broken at record {at}", v.records),
                },
            }
            Ok(if v.first_broken.is_none() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::CheckCf { .. } => Ok(ExitCode::SUCCESS),
    }
}
