//! `siso-node serve`: the periodic sync, `/healthz` and `/metrics`, the operators' web app and
//! the local admin socket (online backups), until SIGTERM or Ctrl-C.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use time::OffsetDateTime;

use crate::config::NodeConfig;
use crate::store::Store;
use crate::sync;

#[derive(Default)]
struct NodeMetrics {
    rounds_ok: AtomicU64,
    rounds_failed: AtomicU64,
    last_success: AtomicU64,
}

/// Runs the node until SIGTERM or Ctrl-C: the sync loop, `/healthz` and `/metrics`, the web app,
/// and the admin socket in `data` (online backups).
pub async fn serve(
    cfg: NodeConfig,
    store: Store,
    rules: crate::rules::Rules,
    data: &Path,
) -> anyhow::Result<()> {
    let shutdown = tokio_util::sync::CancellationToken::new();
    let metrics = Arc::new(NodeMetrics::default());
    let expiries = siso_server::tls::expiry_metrics(&siso_server::tls::warn_expiring(
        &cfg.cert,
        &cfg.ca,
        None,
        OffsetDateTime::now_utc(),
    ));
    let listener = tokio::net::TcpListener::bind(cfg.http.listen)
        .await
        .with_context(|| format!("binding {}", cfg.http.listen))?;
    let app = {
        let metrics = metrics.clone();
        let store = store.clone();
        axum::Router::new()
            .route("/healthz", axum::routing::get(|| async { "ok\n" }))
            .route(
                "/metrics",
                axum::routing::get(move || {
                    let m = metrics.clone();
                    let store = store.clone();
                    let expiries = expiries.clone();
                    async move {
                        // A store that cannot be read shows as NaN (Prometheus's "no value").
                        let gauge = |k| {
                            store
                                .count(k)
                                .map_or_else(|_| "NaN".to_owned(), |n| n.to_string())
                        };
                        let outbox = gauge(crate::store::Kind::Outbox);
                        let shared = gauge(crate::store::Kind::Acked);
                        format!(
                            "# TYPE siso_node_sync_rounds_total counter\nsiso_node_sync_rounds_total{{outcome=\"ok\"}} {}\nsiso_node_sync_rounds_total{{outcome=\"failed\"}} {}\n# TYPE siso_node_last_sync_success_timestamp_seconds gauge\nsiso_node_last_sync_success_timestamp_seconds {}\n# TYPE siso_node_outbox_batches gauge\nsiso_node_outbox_batches {outbox}\n# TYPE siso_node_shared_records gauge\nsiso_node_shared_records {shared}\n{expiries}",
                            m.rounds_ok.load(Ordering::Relaxed),
                            m.rounds_failed.load(Ordering::Relaxed),
                            m.last_success.load(Ordering::Relaxed),
                        )
                    }
                }),
            )
    };
    let admin = tokio::spawn(siso_server::admin::serve(
        siso_server::admin::socket_path(data),
        {
            let store = store.clone();
            siso_server::admin::backup_handler(move |out| store.dump(out))
        },
        shutdown.clone(),
    ));
    let web_app = crate::web::start(&cfg, store.clone(), rules.clone(), shutdown.clone()).await?;
    let http_shutdown = shutdown.clone();
    let web = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { http_shutdown.cancelled().await })
            .await
    });
    tracing::info!(http = %cfg.http.listen, interval_secs = cfg.sync.interval_secs, "node serving");
    siso_server::systemd::tell("READY=1");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        let now = OffsetDateTime::now_utc();
        match sync::assess_and_round(&store, &cfg, &rules, now).await {
            Ok(r) => {
                metrics.rounds_ok.fetch_add(1, Ordering::Relaxed);
                metrics
                    .last_success
                    .store(now.unix_timestamp() as u64, Ordering::Relaxed);
                tracing::info!(
                    shared = r.shared,
                    batches = r.batches,
                    notices = r.notices,
                    "sync done"
                );
            }
            Err(e) => {
                metrics.rounds_failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "sync failed; will retry");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(cfg.sync.interval_secs.max(1))) => {}
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
        }
    }
    siso_server::systemd::tell("STOPPING=1");
    shutdown.cancel();
    let _ = web.await;
    let _ = web_app.await;
    match admin.await {
        Ok(Err(e)) => tracing::warn!(error = %e, "admin socket failed"),
        Err(e) => tracing::warn!(error = %e, "admin socket task failed"),
        Ok(Ok(())) => {}
    }
    Ok(())
}
