//! The QUIC side of the hub: accepts connections, reads the member identity from the client
//! certificate, and serves one request per bidirectional stream with bounded reads. All protocol
//! decisions are in [`crate::service`].

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use siso_shared::wire::{self, ErrorCode, Message, WireError, HEADER_LEN};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::config::Limits;
use crate::service::{Caller, Hub};

/// QUIC application close codes.
pub mod close {
    /// Normal shutdown.
    pub const SHUTDOWN: u32 = 0;
    /// The certificate carries no usable siso identity.
    pub const NO_IDENTITY: u32 = 1;
    /// Too many bad requests.
    pub const ABUSE: u32 = 10;
}

/// Serves QUIC connections on `endpoint` until `shutdown` is cancelled; then stops accepting,
/// lets in-flight requests finish (up to the grace period), flushes the store and closes.
pub async fn run(
    endpoint: quinn::Endpoint,
    hub: Arc<Hub>,
    limits: Limits,
    shutdown: CancellationToken,
) {
    let tracker = TaskTracker::new();
    loop {
        let incoming = tokio::select! {
            _ = shutdown.cancelled() => break,
            i = endpoint.accept() => match i {
                Some(i) => i,
                None => break,
            },
        };
        let active = hub.metrics.connections_active.load(Ordering::Relaxed);
        if active as usize >= limits.max_connections {
            hub.metrics
                .connections_refused
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(remote = %incoming.remote_address(), "connection refused: limit reached");
            incoming.refuse();
            continue;
        }
        let hub = hub.clone();
        let limits = limits.clone();
        let shutdown = shutdown.clone();
        let remote = incoming.remote_address();
        tracker.spawn(
            async move { connection(incoming, hub, limits, shutdown).await }
                .instrument(tracing::info_span!("conn", %remote)),
        );
    }
    tracing::info!(
        connections = tracker.len(),
        "QUIC server stopping: finishing in-flight requests"
    );
    tracker.close();
    if tokio::time::timeout(
        Duration::from_secs(limits.shutdown_grace_secs),
        tracker.wait(),
    )
    .await
    .is_err()
    {
        tracing::warn!("shutdown grace period over; closing connections with requests in flight");
    }
    if let Err(e) = hub.store().flush().await {
        tracing::error!(error = %e, "final store flush failed");
    }
    endpoint.close(
        quinn::VarInt::from_u32(close::SHUTDOWN),
        b"hub shutting down",
    );
    // Every peer has been sent CONNECTION_CLOSE; waiting for them to drain is a courtesy,
    // bounded so that a half-open handshake cannot hold the shutdown.
    if tokio::time::timeout(Duration::from_secs(3), endpoint.wait_idle())
        .await
        .is_err()
    {
        tracing::debug!("connections still draining at shutdown");
    }
    tracing::info!("QUIC server stopped");
}

/// The member identity in a connection's client certificate.
fn caller_of(conn: &quinn::Connection) -> Result<Caller, String> {
    let leaf = siso_server::tls::peer_leaf(conn.peer_identity())?;
    siso_shared::identity::member_of_cert_der(&leaf)
        .map(|member| Caller { member })
        .map_err(|e| e.to_string())
}

async fn connection(
    incoming: quinn::Incoming,
    hub: Arc<Hub>,
    limits: Limits,
    shutdown: CancellationToken,
) {
    // A handshake that never completes (a client that vanished mid-way) must not hold up a
    // shutdown: it is abandoned when the hub stops.
    let conn = tokio::select! {
        _ = shutdown.cancelled() => return,
        c = incoming => match c {
            Ok(c) => c,
            Err(e) => {
                hub.metrics.connections_refused.fetch_add(1, Ordering::Relaxed);
                tracing::info!(error = %e, "handshake refused");
                return;
            }
        },
    };
    let caller = match caller_of(&conn) {
        Ok(c) => c,
        Err(reason) => {
            hub.metrics
                .connections_refused
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%reason, "connection closed: no siso identity");
            conn.close(
                quinn::VarInt::from_u32(close::NO_IDENTITY),
                reason.as_bytes(),
            );
            return;
        }
    };
    hub.metrics
        .connections_total
        .fetch_add(1, Ordering::Relaxed);
    hub.metrics
        .connections_active
        .fetch_add(1, Ordering::Relaxed);
    let span = tracing::info_span!("member", member = %caller.member);
    async {
        tracing::info!("connected");
        let bad = Arc::new(AtomicU32::new(0));
        let streams = TaskTracker::new();
        loop {
            let (send, recv) = tokio::select! {
                _ = shutdown.cancelled() => break,
                s = conn.accept_bi() => match s {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::info!(reason = %e, "disconnected");
                        break;
                    }
                },
            };
            let hub = hub.clone();
            let caller = caller.clone();
            let limits = limits.clone();
            let bad = bad.clone();
            let conn = conn.clone();
            streams.spawn(
                async move {
                    if request(send, recv, &hub, &caller, &limits).await {
                        let n = bad.fetch_add(1, Ordering::Relaxed) + 1;
                        if n >= limits.max_bad_requests {
                            tracing::warn!(
                                bad_requests = n,
                                "closing connection: too many bad requests"
                            );
                            conn.close(
                                quinn::VarInt::from_u32(close::ABUSE),
                                b"too many bad requests",
                            );
                        }
                    }
                }
                .in_current_span(),
            );
        }
        streams.close();
        streams.wait().await;
        if shutdown.is_cancelled() {
            conn.close(
                quinn::VarInt::from_u32(close::SHUTDOWN),
                b"hub shutting down",
            );
        }
    }
    .instrument(span)
    .await;
    hub.metrics
        .connections_active
        .fetch_sub(1, Ordering::Relaxed);
}

async fn reply(send: &mut quinn::SendStream, msg: &Message) {
    match wire::encode(msg) {
        Ok(frame) => {
            if let Err(e) = send.write_all(&frame).await {
                tracing::debug!(error = %e, "reply not delivered");
                return;
            }
            let _ = send.finish();
        }
        Err(e) => tracing::error!(error = %e, "reply could not be encoded"),
    }
}

/// Serves one request stream. Returns true if the request was a bad one.
async fn request(
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    hub: &Hub,
    caller: &Caller,
    limits: &Limits,
) -> bool {
    let mut header = [0u8; HEADER_LEN];
    if let Err(e) = recv.read_exact(&mut header).await {
        let (reply_msg, bad) = hub
            .refuse(
                caller,
                ErrorCode::Malformed,
                format!("incomplete frame header: {e}"),
            )
            .await;
        reply(&mut send, &reply_msg).await;
        return bad;
    }
    let len = match wire::frame_len(header) {
        Ok(l) if l <= limits.max_request_bytes => l,
        Ok(l) => {
            let _ = recv.stop(quinn::VarInt::from_u32(ErrorCode::TooLarge.into_u32()));
            let (m, bad) = hub
                .refuse(
                    caller,
                    ErrorCode::TooLarge,
                    format!(
                        "request of {l} bytes exceeds this hub's limit of {}",
                        limits.max_request_bytes
                    ),
                )
                .await;
            reply(&mut send, &m).await;
            return bad;
        }
        Err(e) => {
            let _ = recv.stop(quinn::VarInt::from_u32(ErrorCode::TooLarge.into_u32()));
            let (m, bad) = hub.refuse(caller, ErrorCode::TooLarge, e.to_string()).await;
            reply(&mut send, &m).await;
            return bad;
        }
    };
    let body = match recv.read_to_end(len).await {
        Ok(b) if b.len() == len => b,
        Ok(b) => {
            let (m, bad) = hub
                .refuse(
                    caller,
                    ErrorCode::Malformed,
                    format!("frame announces {len} bytes but carries {}", b.len()),
                )
                .await;
            reply(&mut send, &m).await;
            return bad;
        }
        Err(quinn::ReadToEndError::TooLong) => {
            let (m, bad) = hub
                .refuse(caller, ErrorCode::Malformed, "bytes after the frame")
                .await;
            reply(&mut send, &m).await;
            return bad;
        }
        Err(e) => {
            tracing::debug!(error = %e, "request stream failed");
            return false;
        }
    };
    let (m, bad) = hub.handle(caller, &body).await;
    reply(&mut send, &m).await;
    bad
}

trait IntoU32 {
    fn into_u32(self) -> u32;
}

impl IntoU32 for ErrorCode {
    fn into_u32(self) -> u32 {
        u32::from(u16::from(self))
    }
}

impl Hub {
    /// Refuses a request that could not even be read as a frame (logged and counted like any
    /// other request).
    pub async fn refuse(
        &self,
        caller: &Caller,
        code: ErrorCode,
        message: impl Into<String>,
    ) -> (Message, bool) {
        let e = Message::Error(WireError::new(code, message));
        self.log_refusal(caller, &e);
        (e, true)
    }
}
