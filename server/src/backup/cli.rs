//! The command-line arguments and output shared by `siso-node` and `siso-hub` for `backup`,
//! `backup verify` and `restore`: the manifest as JSON (`--format json`, alone on stdout) or
//! as lines for a person.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::{recipients, BackupError, Manifest, Recipient};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Lines for a person.
    Table,
    /// The manifest as one JSON object.
    Json,
}

/// `backup --to FILE`.
#[derive(Debug, clap::Args)]
pub struct TakeArgs {
    /// The backup file to write (written as FILE.partial, then renamed: FILE is whole or absent).
    #[arg(long, value_name = "FILE")]
    pub to: Option<PathBuf>,
    /// Encrypt to this age recipient (`age1…`; repeatable). Without one, the backup is plain:
    /// keep it where only the service's administrators can read it.
    #[arg(long, value_name = "AGE_RECIPIENT")]
    pub recipient: Vec<String>,
    /// Encrypt to the age recipients listed in this file (one per line, `#` comments).
    #[arg(long, value_name = "FILE")]
    pub recipients_file: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

/// `backup verify FILE`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The backup file.
    pub file: PathBuf,
    /// The age identity file, for an encrypted backup.
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

/// `restore --from FILE`.
#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// The backup file.
    #[arg(long, value_name = "FILE")]
    pub from: PathBuf,
    /// The age identity file, for an encrypted backup.
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

fn print(m: &Manifest, format: Format) {
    match format {
        Format::Json => println!("{}", serde_json::to_string(m).unwrap_or_default()),
        Format::Table => print!("{m}"),
    }
}

impl TakeArgs {
    /// Takes the backup with `take(to, recipients)` and prints its manifest.
    pub fn run<E: From<BackupError>>(
        &self,
        take: impl FnOnce(&Path, &[Recipient]) -> Result<Manifest, E>,
    ) -> Result<ExitCode, E> {
        let Some(to) = &self.to else {
            return Err(BackupError::Mismatch(
                "backup: --to FILE is required (or `backup verify FILE`)".into(),
            )
            .into());
        };
        let mut list = self.recipient.clone();
        if let Some(f) = &self.recipients_file {
            let text = std::fs::read_to_string(f).map_err(BackupError::Io)?;
            list.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(str::to_owned),
            );
        }
        let m = take(to, &recipients(&list)?)?;
        print(&m, self.format);
        if self.format == Format::Table {
            println!(
                "written to {}{}",
                to.display(),
                if list.is_empty() {
                    " (not encrypted)".to_owned()
                } else {
                    format!(" (encrypted to {} recipient(s))", list.len())
                }
            );
        }
        Ok(ExitCode::SUCCESS)
    }
}

impl VerifyArgs {
    /// Verifies the file as `program`'s backup and prints its manifest.
    pub fn run<E: From<BackupError>>(&self, program: &str) -> Result<ExitCode, E> {
        let m = super::verify(&self.file, self.identity.as_deref(), program)?;
        print(&m, self.format);
        if self.format == Format::Table {
            println!("{}: intact", self.file.display());
        }
        Ok(ExitCode::SUCCESS)
    }
}

impl RestoreArgs {
    /// Restores with `restore(from, identity)` (which returns the manifest and the referenced
    /// files missing on this machine) into `data`, and prints what was restored.
    pub fn run<E: From<BackupError>>(
        &self,
        data: &Path,
        restore: impl FnOnce(&Path, Option<&Path>) -> Result<(Manifest, Vec<String>), E>,
    ) -> Result<ExitCode, E> {
        let (m, missing) = restore(&self.from, self.identity.as_deref())?;
        print(&m, self.format);
        for f in &missing {
            eprintln!("warning: the configuration names {f}, which is not on this machine: put it back before starting the service");
        }
        if self.format == Format::Table {
            println!("restored into {}", data.display());
        }
        Ok(ExitCode::SUCCESS)
    }
}
