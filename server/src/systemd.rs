//! systemd readiness (`Type=notify`): `READY=1` once a server listens, `STOPPING=1` when it
//! begins to shut down, `RELOADING=1` around a SIGHUP reload. Without `$NOTIFY_SOCKET` (not
//! started by systemd) nothing is sent.

use std::io;
use std::os::unix::net::UnixDatagram;

/// [`notify`], a failure logged as a warning (a unit without `Type=notify` is unaffected).
pub fn tell(state: &str) {
    if let Err(e) = notify(state) {
        tracing::warn!(error = %e, state, "systemd notification failed");
    }
}

/// Sends `state` to systemd's notification socket if there is one; `Ok(false)` if not.
pub fn notify(state: &str) -> io::Result<bool> {
    match std::env::var_os("NOTIFY_SOCKET") {
        Some(path) => {
            use std::os::unix::ffi::OsStrExt;
            notify_to(path.as_bytes(), state).map(|()| true)
        }
        None => Ok(false),
    }
}

/// Sends `state` to the datagram socket at `path` (`@name`: Linux's abstract namespace).
pub fn notify_to(path: &[u8], state: &str) -> io::Result<()> {
    let sock = UnixDatagram::unbound()?;
    match path.strip_prefix(b"@") {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            sock.send_to_addr(state.as_bytes(), &addr)?;
        }
        None => {
            use std::os::unix::ffi::OsStrExt;
            sock.send_to(state.as_bytes(), std::ffi::OsStr::from_bytes(path))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_reaches_the_socket() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path)?;
        use std::os::unix::ffi::OsStrExt;
        notify_to(path.as_os_str().as_bytes(), "READY=1")?;
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf)?;
        assert_eq!(&buf[..n], b"READY=1");
        // A socket that is not there is an error, not a panic.
        assert!(notify_to(b"/nonexistent/notify", "READY=1").is_err());
        Ok(())
    }
}
