//! `siso-certs`: the development PKI tool (see `siso-certs --help` and docs/operations.md).
//!
//! Exit codes: 0 success, 1 failure (message on stderr), 2 usage error.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use siso_certs_dev::{init, Ca, InitOptions};
use siso_shared::MemberId;
use time::OffsetDateTime;

#[derive(Parser)]
#[command(
    name = "siso-certs",
    version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("SISO_GIT_REV"), ")"),
    about = "Development PKI for a siso federation: regional CA, hub, key service and member certificates, CRL (and, on request, a shared-key fingerprint secret)"
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
    /// Create a CA, the hub, key service and member certificates (and, with --shared-key, a
    /// fingerprint secret).
    Init {
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// Comuni to certify: `all` or comma-separated ISTAT codes.
        #[arg(long, default_value = "all")]
        comuni: String,
        /// Third-sector entities (slugs, comma-separated; `none` for none).
        #[arg(long, default_value = "caritas-perugia,banco-alimentare-umbria")]
        ets: String,
        /// Health authorities, USL/ASL (slugs, comma-separated; `none` for none).
        #[arg(long, default_value = "usl-umbria-1,usl-umbria-2")]
        asl: String,
        /// Region analyst identities (slugs, comma-separated; `none` for none).
        #[arg(long, default_value = "umbria")]
        region: String,
        /// DNS name in the hub's certificate (127.0.0.1 and ::1 are always included).
        #[arg(long, default_value = "localhost")]
        hub_name: String,
        /// Key services to certify (names, comma-separated; `none` for none).
        #[arg(long, default_value = "keyd-1,keyd-2,keyd-3")]
        keyd: String,
        /// Also write `fingerprint.key`, the secret of the shared-key fingerprint scheme (tests
        /// and small pilots only: every node holding it can fingerprint any codice fiscale).
        #[arg(long)]
        shared_key: bool,
        /// Validity of member certificates, in days.
        #[arg(long, default_value_t = 365)]
        days: i64,
        /// Replace an existing CA (every certificate it issued becomes useless).
        #[arg(long)]
        force: bool,
        /// Output format of the summary on stdout.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Issue a key service's server certificate and key.
    IssueKeyd {
        /// The CA directory (`OUT/ca`).
        #[arg(long)]
        ca: PathBuf,
        /// The service's name (its DNS name in the certificate; a slug).
        #[arg(long)]
        name: String,
        /// Directory to write `cert.pem` and `key.pem` into.
        #[arg(long)]
        out: PathBuf,
        /// Validity in days.
        #[arg(long, default_value_t = 730)]
        days: i64,
    },
    /// Renew the certificate in DIR (cert.pem, key.pem): a new key and a certificate for the
    /// same identity (member, key service or hub); prints the old serial to revoke.
    Renew {
        /// The CA directory (`OUT/ca`).
        #[arg(long)]
        ca: PathBuf,
        /// The directory holding `cert.pem` and `key.pem`.
        #[arg(long)]
        dir: PathBuf,
        /// Validity in days.
        #[arg(long, default_value_t = 365)]
        days: i64,
    },
    /// Issue a certificate and key for one more member.
    Issue {
        /// The CA directory (`OUT/ca`).
        #[arg(long)]
        ca: PathBuf,
        /// Member id: an ISTAT code, `ets-<slug>` or `region-<slug>`.
        #[arg(long)]
        member: MemberId,
        /// Directory to write `cert.pem` and `key.pem` into.
        #[arg(long)]
        out: PathBuf,
        /// Validity in days.
        #[arg(long, default_value_t = 365)]
        days: i64,
    },
    /// Make a member's private key and CSR (run on the member's premises).
    Csr {
        /// Member id.
        #[arg(long)]
        member: MemberId,
        /// Directory to write `key.pem` (0600) and `request.csr` into.
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign a member's CSR (production path: the private key never leaves the member).
    SignCsr {
        /// The CA directory.
        #[arg(long)]
        ca: PathBuf,
        /// The CSR file (PEM).
        #[arg(long)]
        csr: PathBuf,
        /// Member id the certificate will carry (the CSR's own requests are ignored).
        #[arg(long)]
        member: MemberId,
        /// Where to write the certificate; stdout if absent.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Validity in days.
        #[arg(long, default_value_t = 365)]
        days: i64,
    },
    /// Revoke a certificate by serial and rewrite `crl.pem` in the CA directory.
    Revoke {
        /// The CA directory.
        #[arg(long)]
        ca: PathBuf,
        /// Serial as `openssl x509 -serial` prints it (case-insensitive, colons allowed).
        #[arg(long)]
        serial: String,
        /// Validity of the new CRL in days (re-run `revoke` or `crl` before it ends).
        #[arg(long, default_value_t = 30)]
        crl_days: i64,
        /// Revoke even a serial this CA has no record of.
        #[arg(long)]
        force: bool,
    },
    /// Re-sign `crl.pem` (to renew it before it expires).
    Crl {
        /// The CA directory.
        #[arg(long)]
        ca: PathBuf,
        /// Validity of the CRL in days.
        #[arg(long, default_value_t = 30)]
        crl_days: i64,
    },
}

fn list(s: &str) -> Vec<String> {
    if s == "none" {
        return Vec::new();
    }
    s.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_owned)
        .collect()
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("siso-certs: error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    let now = OffsetDateTime::now_utc();
    match cli.command {
        Command::Init {
            out,
            comuni,
            ets,
            asl,
            region,
            hub_name,
            keyd,
            shared_key,
            days,
            force,
            format,
        } => {
            let mut opts = InitOptions {
                ets: list(&ets),
                asl: list(&asl),
                region: list(&region),
                hub_name,
                keyd: list(&keyd),
                shared_key,
                member_days: days,
                force,
                ..InitOptions::default()
            };
            if comuni != "all" {
                opts.comuni = list(&comuni);
            }
            let report = init(&out, &opts, now)?;
            match format {
                Format::Text => {
                    println!("CA:               {}", report.layout.ca_dir().display());
                    println!("hub certificate:  {}", report.layout.hub_dir().display());
                    println!(
                        "members:          {} under {}",
                        report.members.len(),
                        report.layout.root.join("members").display()
                    );
                    if !opts.keyd.is_empty() {
                        println!(
                            "key services:     {} under {}",
                            opts.keyd.len(),
                            report.layout.root.join("keyd").display()
                        );
                    }
                    if opts.shared_key {
                        println!(
                            "fingerprint key:  {} (shared-key scheme; nodes only, never the hub)",
                            report.layout.fingerprint_key().display()
                        );
                    }
                }
                Format::Json => {
                    let members: Vec<serde_json::Value> = report
                        .members
                        .iter()
                        .map(|(m, s)| serde_json::json!({"member": m.to_string(), "serial": s}))
                        .collect();
                    let doc = serde_json::json!({
                        "out": report.layout.root.display().to_string(),
                        "hub_serial": report.hub_serial,
                        "members": members,
                    });
                    println!("{doc}");
                }
            }
        }
        Command::Renew { ca, dir, days } => {
            let r = siso_certs_dev::renew(&Ca::load(&ca)?, &dir, now, days)?;
            println!(
                "{}: new certificate {} in {}; revoke the old one once every service uses the new: \
                 siso-certs revoke --ca {} --serial {}",
                r.subject,
                r.new_serial,
                dir.display(),
                ca.display(),
                r.old_serial
            );
        }
        Command::IssueKeyd {
            ca,
            name,
            out,
            days,
        } => {
            let issued = Ca::load(&ca)?.issue_keyd(&name, now, days)?;
            issued.write_to(&out)?;
            println!("{} (serial {})", out.display(), issued.serial);
        }
        Command::Issue {
            ca,
            member,
            out,
            days,
        } => {
            let ca = Ca::load(&ca)?;
            let issued = ca.issue_member(&member, now, days)?;
            issued.write_to(&out)?;
            println!("{member}\t{}\t{}", issued.serial, out.display());
        }
        Command::Csr { member, out } => {
            let (key, csr) = siso_certs_dev::make_csr(&member)?;
            siso_certs_dev::write_file(&out.join("key.pem"), key.as_bytes(), 0o600)?;
            siso_certs_dev::write_file(&out.join("request.csr"), csr.as_bytes(), 0o644)?;
            println!("{}", out.join("request.csr").display());
        }
        Command::SignCsr {
            ca,
            csr,
            member,
            out,
            days,
        } => {
            let ca = Ca::load(&ca)?;
            let pem = std::fs::read_to_string(&csr)
                .with_context(|| format!("reading {}", csr.display()))?;
            let issued = ca.sign_csr(&pem, &member, now, days)?;
            match out {
                Some(path) => {
                    siso_certs_dev::write_file(&path, issued.cert_pem.as_bytes(), 0o644)?;
                    eprintln!(
                        "{member}: serial {} written to {}",
                        issued.serial,
                        path.display()
                    );
                }
                None => print!("{}", issued.cert_pem),
            }
        }
        Command::Revoke {
            ca,
            serial,
            crl_days,
            force,
        } => {
            let ca_dir = ca.clone();
            let ca = Ca::load(&ca)?;
            let subject = ca.revoke(&serial, now, crl_days, force)?;
            println!(
                "revoked {} ({}); CRL written to {}",
                siso_certs_dev::normalise_serial(&serial)?,
                subject.as_deref().unwrap_or("unknown subject"),
                ca_dir.join("crl.pem").display()
            );
        }
        Command::Crl { ca, crl_days } => {
            let ca_dir = ca.clone();
            Ca::load(&ca)?.write_crl(now, crl_days)?;
            println!("{}", ca_dir.join("crl.pem").display());
        }
    }
    Ok(())
}
