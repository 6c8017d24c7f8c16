//! The `siso-node` command line (see `siso-node --help` and docs/operations.md).
//!
//! Exit codes: 0 success; 1 a command failed (invalid import, unreachable hub, …);
//! 2 usage or I/O error reading the input of `check-cf`.

use std::io::{self, BufReader};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use time::OffsetDateTime;

#[derive(Parser)]
#[command(
    name = "siso-node",
    version,
    about = "siso node: local registries, social-service records, pseudonymous sync with the Region's hub"
)]
struct Cli {
    /// The node's data directory (holds node.toml and the store).
    #[arg(long, global = true, env = "SISO_NODE_DATA")]
    data: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check codici fiscali, one per line: prints `<input>\t<OK|ERROR>\t<code or reason>`.
    /// Exit 0 even when some are invalid; 2 on I/O errors.
    CheckCf {
        /// Input file; `-` or absent for standard input.
        file: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let today = OffsetDateTime::now_utc().date();
    match cli.command {
        Command::CheckCf { file } => {
            let stdout = io::stdout().lock();
            let result = match file {
                None => siso_node::check_cf::check_lines(io::stdin().lock(), stdout, today),
                Some(p) if p.as_os_str() == "-" => {
                    siso_node::check_cf::check_lines(io::stdin().lock(), stdout, today)
                }
                Some(p) => match std::fs::File::open(&p) {
                    Ok(f) => siso_node::check_cf::check_lines(BufReader::new(f), stdout, today),
                    Err(e) => {
                        eprintln!("siso-node: error: {}: {e}", p.display());
                        return ExitCode::from(2);
                    }
                },
            };
            match result {
                Ok(s) => {
                    eprintln!(
                        "{} lines: {} valid, {} invalid",
                        s.lines, s.valid, s.invalid
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("siso-node: error: {e}");
                    ExitCode::from(2)
                }
            }
        }
    }
}
