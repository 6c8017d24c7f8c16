//! The local admin socket of a running `serve` (`DATA/admin.sock`, mode 0600): what a command
//! run beside the service needs from the process that holds the store (sled lets one process
//! open it). One request per connection: a command line (`backup\n`), answered by `ok\n` and
//! the command's bytes, or by `error: MESSAGE\n`.
//!
//! A client that stalls for 30 s (sends no command, or stops reading an answer) is cut off, so a
//! stuck `backup` cannot hold the store's write barrier and stop the service's writes for long.
//!
//! **Invariant:** the socket is reachable only by the service's user (file mode 0600 in the
//! data directory); it serves commands that read the store, never ones that take input data.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The socket's file name in the data directory.
pub const SOCKET: &str = "admin.sock";

/// How long a client may stall (send nothing, or read nothing) before its command is ended.
const STALL: std::time::Duration = std::time::Duration::from_secs(30);

/// The longest command line read.
const MAX_LINE: u64 = 256;

/// A command handler: the command (without its newline) and where to write its answer's
/// bytes (after the `ok` line, written by the caller once the handler starts writing).
pub type Handler = Arc<dyn Fn(&str, &mut dyn Write) -> Result<(), String> + Send + Sync>;

/// The handler of a service whose only command is `backup`: `dump` writes a consistent copy of
/// its store (under the store's write barrier) and returns the entries per tree.
pub fn backup_handler<F>(dump: F) -> Handler
where
    F: Fn(&mut dyn Write) -> Result<crate::store::TreeCounts, crate::store::DumpError>
        + Send
        + Sync
        + 'static,
{
    Arc::new(move |command, out| match command {
        "backup" => {
            let started = std::time::Instant::now();
            let counts = dump(out).map_err(|e| e.to_string())?;
            tracing::info!(
                entries = counts.values().sum::<u64>(),
                held_ms = started.elapsed().as_millis() as u64,
                "online backup: store copied"
            );
            Ok(())
        }
        other => Err(format!("unknown command {other:?}")),
    })
}

/// The socket path of a data directory.
pub fn socket_path(data: &Path) -> PathBuf {
    data.join(SOCKET)
}

/// Serves the admin socket at `path` until `shutdown`, then removes it. A stale socket file
/// (left by a killed process) is replaced.
pub async fn serve(
    path: PathBuf,
    handler: Handler,
    shutdown: tokio_util::sync::CancellationToken,
) -> std::io::Result<()> {
    let bind = || -> std::io::Result<tokio::net::UnixListener> {
        if path.exists() {
            std::fs::remove_file(&path)?;
        }
        let listener = tokio::net::UnixListener::bind(&path)?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        Ok(listener)
    };
    let listener = match bind() {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(socket = %path.display(), error = %e, "admin socket unavailable: online backups will be refused");
            return Err(e);
        }
    };
    loop {
        tokio::select! {
            r = listener.accept() => {
                let (stream, _) = match r {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(error = %e, "admin socket: accept failed");
                        continue;
                    }
                };
                let handler = handler.clone();
                let stream = stream.into_std()?;
                stream.set_nonblocking(false)?;
                tokio::task::spawn_blocking(move || {
                    if let Err(e) = answer(stream, &handler) {
                        tracing::warn!(error = %e, "admin socket: request failed");
                    }
                });
            }
            () = shutdown.cancelled() => break,
        }
    }
    let _ = std::fs::remove_file(&path);
    Ok(())
}

/// Answers one connection.
fn answer(stream: std::os::unix::net::UnixStream, handler: &Handler) -> std::io::Result<()> {
    // A client that stops reading must not hold the store's write barrier (a backup's) for long:
    // a write that waits longer than this fails, and the command ends.
    stream.set_write_timeout(Some(STALL))?;
    stream.set_read_timeout(Some(STALL))?;
    let mut line = String::new();
    BufReader::new((&stream).take(MAX_LINE)).read_line(&mut line)?;
    let command = line.trim_end_matches('\n').to_owned();
    tracing::info!(command = %command, "admin socket: request");
    let mut out = std::io::BufWriter::new(&stream);
    let mut started = OkFirst {
        inner: &mut out,
        started: false,
    };
    match handler(&command, &mut started) {
        Ok(()) => {
            if !started.started {
                started.inner.write_all(b"ok\n")?;
            }
        }
        Err(e) if !started.started => {
            writeln!(started.inner, "error: {}", e.replace('\n', " "))?;
        }
        // The answer was under way: the client sees it cut short, which its format detects.
        Err(e) => tracing::warn!(error = %e, "admin socket: answer cut short"),
    }
    out.flush()
}

/// Writes `ok\n` before the first byte of an answer.
struct OkFirst<'a, W: Write> {
    inner: &'a mut W,
    started: bool,
}

impl<W: Write> Write for OkFirst<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if !self.started {
            self.inner.write_all(b"ok\n")?;
            self.started = true;
        }
        self.inner.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Errors of [`request`].
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The socket could not be used.
    #[error("admin socket {path}: {source}")]
    Io {
        /// The socket.
        path: String,
        /// What failed.
        source: std::io::Error,
    },
    /// The service answered with an error.
    #[error("the running service refused: {0}")]
    Refused(String),
}

/// Sends `command` to the service whose data directory is `data`. `Ok(None)` when no service
/// listens there (no socket, or a stale one); else the answer's bytes as a reader.
pub fn request(data: &Path, command: &str) -> Result<Option<impl Read>, AdminError> {
    let path = socket_path(data);
    let io = |source| AdminError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut stream = match std::os::unix::net::UnixStream::connect(&path) {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(io(e)),
    };
    stream
        .write_all(format!("{command}\n").as_bytes())
        .map_err(io)?;
    let mut r = BufReader::new(stream);
    let mut line = String::new();
    (&mut r).take(4096).read_line(&mut line).map_err(io)?;
    match line.strip_suffix('\n') {
        Some("ok") => Ok(Some(r)),
        Some(l) => Err(AdminError::Refused(
            l.strip_prefix("error: ").unwrap_or(l).to_owned(),
        )),
        None => Err(AdminError::Refused(
            "the service closed the connection without an answer".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn answers_commands_refuses_unknown_ones_and_replaces_a_stale_socket() {
        let dir = tempfile::tempdir().unwrap();
        // No service: nothing answers.
        assert!(request(dir.path(), "backup").unwrap().is_none());
        // A stale socket file left by a killed process is replaced.
        std::fs::write(socket_path(dir.path()), b"").unwrap();
        assert!(request(dir.path(), "backup").unwrap().is_none());
        let shutdown = tokio_util::sync::CancellationToken::new();
        let handler: Handler = Arc::new(|command, out| match command {
            "backup" => out.write_all(b"the copy").map_err(|e| e.to_string()),
            "quiet" => Ok(()),
            other => Err(format!("unknown command {other:?}")),
        });
        let task = tokio::spawn(serve(socket_path(dir.path()), handler, shutdown.clone()));
        let data = dir.path().to_owned();
        let answers = tokio::task::spawn_blocking(move || {
            let mut got = String::new();
            // Until the service has replaced the stale file and listens.
            let mut r = loop {
                if let Some(r) = request(&data, "backup").unwrap() {
                    break r;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            };
            r.read_to_string(&mut got).unwrap();
            let refused = request(&data, "drop tables").err().unwrap().to_string();
            let quiet = request(&data, "quiet").unwrap().is_some();
            (got, refused, quiet)
        })
        .await
        .unwrap();
        assert_eq!(answers.0, "the copy");
        assert!(answers.1.contains("unknown command"), "{}", answers.1);
        assert!(answers.2);
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(socket_path(dir.path()))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        shutdown.cancel();
        task.await.unwrap().unwrap();
        assert!(!socket_path(dir.path()).exists());
    }
}
