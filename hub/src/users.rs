//! `siso-hub user …` and `siso-hub token …`: named accounts and API tokens of the hub's web side
//! (`crate::accounts`), managed while the hub runs or not; a change takes effect at the running
//! hub's next request. Listings and the new token go to standard output (`--format json` for
//! scripts), confirmations to standard error.

use std::io::Read;
use std::path::{Path, PathBuf};

use siso_server::web::Password;
use time::OffsetDateTime;

use crate::accounts::{self, AccountError, HubRole};
use crate::config::{ConfigError, HubConfig};

/// Output format of listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Aligned text.
    #[default]
    Table,
    /// JSON.
    Json,
}

/// `siso-hub user …`.
#[derive(Debug, clap::Subcommand)]
pub enum UserCommand {
    /// Create an account of the hub's web side.
    Add {
        /// The hub's configuration file.
        #[arg(long)]
        config: PathBuf,
        /// User name: 2–64 characters among a-z, 0-9, '.', '_' and '-'.
        #[arg(long)]
        username: String,
        /// `regione` (every figure, all zone) or `ufficio_di_piano` (one zona's Comuni).
        #[arg(long, value_enum)]
        role: HubRole,
        /// The zona sociale (1–12) of an `ufficio_di_piano`.
        #[arg(long)]
        zona: Option<u8>,
        /// File holding the password (12–128 characters; one trailing newline ignored), or `-`
        /// for standard input.
        #[arg(long)]
        password_file: PathBuf,
    },
    /// List the accounts (never a password or its hash).
    List {
        /// The hub's configuration file.
        #[arg(long)]
        config: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Disable an account: it can no longer log in, its sessions end and its tokens are refused.
    Disable {
        /// The hub's configuration file.
        #[arg(long)]
        config: PathBuf,
        /// User name.
        username: String,
    },
    /// Enable a disabled account again.
    Enable {
        /// The hub's configuration file.
        #[arg(long)]
        config: PathBuf,
        /// User name.
        username: String,
    },
    /// Set a new password.
    ResetPassword {
        /// The hub's configuration file.
        #[arg(long)]
        config: PathBuf,
        /// User name.
        username: String,
        /// File holding the password, or `-` for standard input.
        #[arg(long)]
        password_file: PathBuf,
    },
}

/// `siso-hub token …`.
#[derive(Debug, clap::Subcommand)]
pub enum TokenCommand {
    /// Create an API token for an account and print it (once: only its hash is kept). It has
    /// the account's rights: `Authorization: Bearer TOKEN`.
    Create {
        /// The hub's configuration file.
        #[arg(long)]
        config: PathBuf,
        /// The account.
        #[arg(long)]
        username: String,
        /// Output format (`json`: `{"id": …, "username": …, "token": …}`).
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// List the tokens (ids, accounts, dates; never a token or its hash). `analyst` is the
    /// analysts' shared token.
    List {
        /// The hub's configuration file.
        #[arg(long)]
        config: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Revoke a token by id (`analyst`: the analysts' shared token).
    Revoke {
        /// The hub's configuration file.
        #[arg(long)]
        config: PathBuf,
        /// The token's id, as `token list` shows it.
        #[arg(long)]
        id: String,
    },
}

/// Errors of the account commands.
#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    /// The configuration file.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The accounts file or a refused change.
    #[error(transparent)]
    Accounts(#[from] AccountError),
    /// The password file.
    #[error("reading the password from {path}: {source}")]
    PasswordFile {
        /// The file (`-`: standard input).
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Output.
    #[error("writing the answer: {0}")]
    Output(#[from] serde_json::Error),
}

fn read_password(file: &Path) -> Result<Password, UsersError> {
    let err = |source| UsersError::PasswordFile {
        path: file.to_owned(),
        source,
    };
    let text = if file.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).map_err(err)?;
        s
    } else {
        std::fs::read_to_string(file).map_err(err)?
    };
    let text = text
        .strip_suffix('\n')
        .map(|t| t.strip_suffix('\r').unwrap_or(t))
        .unwrap_or(&text);
    Ok(Password::new(text).map_err(AccountError::from)?)
}

fn data_dir(config: &Path) -> Result<PathBuf, UsersError> {
    Ok(HubConfig::load(config)?.data_dir)
}

fn done(what: &str, v: &accounts::AccountView) {
    eprintln!(
        "{what}: {} ({}{})",
        v.username,
        v.role,
        v.zona.map(|z| format!(", zona {z}")).unwrap_or_default()
    );
}

/// Runs a `user` command.
pub fn user(command: UserCommand, now: OffsetDateTime) -> Result<(), UsersError> {
    match command {
        UserCommand::Add {
            config,
            username,
            role,
            zona,
            password_file,
        } => {
            let p = read_password(&password_file)?;
            let v = accounts::update(&data_dir(&config)?, |a| {
                a.add(&username, role, zona, &p, now)
            })?;
            done("created", &v);
        }
        UserCommand::List { config, format } => {
            let l = accounts::load(&data_dir(&config)?)?.list();
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&l)?),
                Format::Table => {
                    println!(
                        "{:<24} {:<17} {:<5} {:<9} {:>6} created",
                        "user", "role", "zona", "state", "tokens"
                    );
                    for a in l {
                        println!(
                            "{:<24} {:<17} {:<5} {:<9} {:>6} {}",
                            a.username,
                            a.role,
                            a.zona.map(|z| z.to_string()).unwrap_or_else(|| "-".into()),
                            if a.disabled { "disabled" } else { "enabled" },
                            a.tokens,
                            a.created
                        );
                    }
                }
            }
        }
        UserCommand::Disable { config, username } => done(
            "disabled",
            &accounts::update(&data_dir(&config)?, |a| {
                a.set_disabled(&username, true, now)
            })?,
        ),
        UserCommand::Enable { config, username } => done(
            "enabled",
            &accounts::update(&data_dir(&config)?, |a| {
                a.set_disabled(&username, false, now)
            })?,
        ),
        UserCommand::ResetPassword {
            config,
            username,
            password_file,
        } => {
            let p = read_password(&password_file)?;
            done(
                "new password",
                &accounts::update(&data_dir(&config)?, |a| a.set_password(&username, &p, now))?,
            );
        }
    }
    Ok(())
}

/// Runs a `token` command.
pub fn token(command: TokenCommand, now: OffsetDateTime) -> Result<(), UsersError> {
    match command {
        TokenCommand::Create {
            config,
            username,
            format,
        } => {
            let (id, token) =
                accounts::update(&data_dir(&config)?, |a| a.create_token(&username, now))?;
            match format {
                Format::Json => println!(
                    "{}",
                    serde_json::json!({"id": id, "username": username, "token": token})
                ),
                Format::Table => println!("{token}"),
            }
            eprintln!("token {id} created for {username}: keep it secret, it is not shown again");
        }
        TokenCommand::List { config, format } => {
            let l = accounts::load(&data_dir(&config)?)?.token_list();
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&l)?),
                Format::Table => {
                    println!("{:<12} {:<24} {:<26} revoked", "id", "user", "created");
                    for t in l {
                        println!(
                            "{:<12} {:<24} {:<26} {}",
                            t.id,
                            t.username,
                            if t.created.is_empty() {
                                "-"
                            } else {
                                &t.created
                            },
                            t.revoked.as_deref().unwrap_or("-")
                        );
                    }
                }
            }
        }
        TokenCommand::Revoke { config, id } => {
            let was = accounts::update(&data_dir(&config)?, |a| a.revoke_token(&id, now))?;
            eprintln!(
                "token {id} {}",
                if was {
                    "revoked"
                } else {
                    "was already revoked"
                }
            );
        }
    }
    Ok(())
}
