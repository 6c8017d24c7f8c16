//! The key service's QUIC side: accepts connections, reads the member identity from the client
//! certificate, and serves one request per bidirectional stream with bounded reads. Protocol
//! decisions are in [`crate::service`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use siso_shared::oprf::wire::{self as owire, KeyReply};
use siso_shared::wire::{frame_len, ErrorCode, WireError, HEADER_LEN};
use siso_shared::MemberId;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::config::{KeydConfig, Limits};
use crate::service::Keyd;

/// QUIC application close codes.
pub mod close {
    /// Normal shutdown.
    pub const SHUTDOWN: u32 = 0;
    /// The certificate carries no usable member identity.
    pub const NO_IDENTITY: u32 = 1;
}

/// The QUIC server configuration: client certificates of the regional CA (with its CRL), ALPN
/// `siso-oprf/1`, the limits of `cfg`. Called at start and on SIGHUP.
pub fn server_config(cfg: &KeydConfig) -> Result<quinn::ServerConfig, siso_server::tls::TlsError> {
    siso_server::tls::quic_server_config(
        &cfg.ca_dir,
        &cfg.cert,
        &cfg.key,
        owire::ALPN,
        cfg.limits.max_streams_per_connection,
        cfg.limits.idle_timeout_secs,
    )
}

/// Serves until `shutdown`; then lets in-flight requests finish (up to the grace period),
/// flushes the store and closes.
pub async fn run(
    endpoint: quinn::Endpoint,
    keyd: Arc<Keyd>,
    limits: Limits,
    shutdown: CancellationToken,
) {
    let tracker = TaskTracker::new();
    let active = Arc::new(AtomicUsize::new(0));
    loop {
        let incoming = tokio::select! {
            _ = shutdown.cancelled() => break,
            i = endpoint.accept() => match i {
                Some(i) => i,
                None => break,
            },
        };
        if active.load(Ordering::Relaxed) >= limits.max_connections {
            keyd.metrics
                .connections_refused
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(remote = %incoming.remote_address(), "connection refused: limit reached");
            incoming.refuse();
            continue;
        }
        let keyd = keyd.clone();
        let shutdown = shutdown.clone();
        let active = active.clone();
        let remote = incoming.remote_address();
        tracker.spawn(
            async move {
                active.fetch_add(1, Ordering::Relaxed);
                connection(incoming, keyd, shutdown).await;
                active.fetch_sub(1, Ordering::Relaxed);
            }
            .instrument(tracing::info_span!("conn", %remote)),
        );
    }
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
    let store = keyd.store().clone();
    match tokio::task::spawn_blocking(move || store.flush()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "final store flush failed"),
        Err(e) => tracing::error!(error = %e, "final store flush task failed"),
    }
    endpoint.close(
        quinn::VarInt::from_u32(close::SHUTDOWN),
        b"key service stopping",
    );
    let _ = tokio::time::timeout(Duration::from_secs(3), endpoint.wait_idle()).await;
    tracing::info!("key service stopped");
}

fn member_of(conn: &quinn::Connection) -> Result<MemberId, String> {
    let leaf = siso_server::tls::peer_leaf(conn.peer_identity())?;
    siso_shared::identity::member_of_cert_der(&leaf).map_err(|e| e.to_string())
}

async fn connection(incoming: quinn::Incoming, keyd: Arc<Keyd>, shutdown: CancellationToken) {
    let conn = tokio::select! {
        _ = shutdown.cancelled() => return,
        c = incoming => match c {
            Ok(c) => c,
            Err(e) => {
                keyd.metrics.connections_refused.fetch_add(1, Ordering::Relaxed);
                tracing::info!(error = %e, "handshake refused");
                return;
            }
        },
    };
    let member = match member_of(&conn) {
        Ok(m) => m,
        Err(reason) => {
            keyd.metrics
                .connections_refused
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%reason, "connection closed: no member identity");
            conn.close(
                quinn::VarInt::from_u32(close::NO_IDENTITY),
                reason.as_bytes(),
            );
            return;
        }
    };
    keyd.metrics
        .connections_total
        .fetch_add(1, Ordering::Relaxed);
    let span = tracing::info_span!("member", %member);
    async {
        let streams = TaskTracker::new();
        loop {
            let (send, recv) = tokio::select! {
                _ = shutdown.cancelled() => break,
                s = conn.accept_bi() => match s {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::debug!(reason = %e, "disconnected");
                        break;
                    }
                },
            };
            let keyd = keyd.clone();
            let member = member.clone();
            streams
                .spawn(async move { request(send, recv, &keyd, &member).await }.in_current_span());
        }
        streams.close();
        streams.wait().await;
        if shutdown.is_cancelled() {
            conn.close(
                quinn::VarInt::from_u32(close::SHUTDOWN),
                b"key service stopping",
            );
        }
    }
    .instrument(span)
    .await;
}

async fn reply(send: &mut quinn::SendStream, msg: &KeyReply) {
    match owire::encode(msg) {
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

fn refused(code: ErrorCode, message: impl Into<String>) -> KeyReply {
    KeyReply::Error(WireError::new(code, message))
}

async fn request(
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    keyd: &Arc<Keyd>,
    member: &MemberId,
) {
    let mut header = [0u8; HEADER_LEN];
    if let Err(e) = recv.read_exact(&mut header).await {
        keyd.metrics.request("frame", "malformed");
        reply(
            &mut send,
            &refused(
                ErrorCode::Malformed,
                format!("incomplete frame header: {e}"),
            ),
        )
        .await;
        return;
    }
    let len = match frame_len(header) {
        Ok(l) => l,
        Err(e) => {
            let _ = recv.stop(quinn::VarInt::from_u32(u32::from(u16::from(
                ErrorCode::TooLarge,
            ))));
            keyd.metrics.request("frame", "too_large");
            reply(&mut send, &refused(ErrorCode::TooLarge, e.to_string())).await;
            return;
        }
    };
    let body = match recv.read_to_end(len).await {
        Ok(b) if b.len() == len => b,
        Ok(b) => {
            keyd.metrics.request("frame", "malformed");
            let m = format!("frame announces {len} bytes but carries {}", b.len());
            reply(&mut send, &refused(ErrorCode::Malformed, m)).await;
            return;
        }
        Err(quinn::ReadToEndError::TooLong) => {
            keyd.metrics.request("frame", "malformed");
            reply(
                &mut send,
                &refused(ErrorCode::Malformed, "bytes after the frame"),
            )
            .await;
            return;
        }
        Err(e) => {
            tracing::debug!(error = %e, "request stream failed");
            return;
        }
    };
    let r = keyd.handle(member, &body).await;
    reply(&mut send, &r).await;
}
