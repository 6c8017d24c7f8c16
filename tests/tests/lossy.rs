//! A lossy UDP relay between node and hub (10% dropped, some reordered, some duplicated): the
//! sync completes with the same result as over a clean path.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use siso_node::import::{import, ImportKind, ImportOptions, Profile};
use siso_node::rules::Rules;
use siso_node::sync::assess_and_round;
use siso_shared::Role;
use siso_tests::harness::*;
use siso_tests::synth::Rng;
use tokio::net::UdpSocket;

/// Datagrams the relay dropped and duplicated (proof that the path misbehaved).
static DROPPED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static DUPLICATED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How one direction of the relay misbehaves.
#[derive(Debug, Clone, Copy)]
struct Faults {
    drop: f64,
    dup: f64,
    reorder: f64,
}

impl Faults {
    /// The fate of one datagram: the delays (ms) of the copies to send — none if it is dropped,
    /// two if it is duplicated, a delay of 2–14 ms if it is reordered.
    fn fate(&self, rng: &mut Rng) -> Vec<u64> {
        if rng.chance(self.drop) {
            DROPPED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Vec::new();
        }
        let copies = if rng.chance(self.dup) { 2 } else { 1 };
        DUPLICATED.fetch_add(copies - 1, std::sync::atomic::Ordering::Relaxed);
        (0..copies)
            .map(|_| {
                if rng.chance(self.reorder) {
                    rng.range(2, 15) as u64
                } else {
                    0
                }
            })
            .collect()
    }
}

/// Relays datagrams between one client and `upstream`, misbehaving on purpose. Bounded: it
/// stops with the test's runtime.
async fn relay(upstream: SocketAddr, faults: Faults) -> SocketAddr {
    let front = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let back = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    back.connect(upstream).await.unwrap();
    let addr = front.local_addr().unwrap();
    let client: Arc<tokio::sync::Mutex<Option<SocketAddr>>> = Arc::default();
    let send_later = |sock: Arc<UdpSocket>, to: Option<SocketAddr>, data: Vec<u8>, delay: u64| {
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(delay)).await;
            let _ = match to {
                Some(a) => sock.send_to(&data, a).await,
                None => sock.send(&data).await,
            };
        });
    };
    {
        let (front, back, client) = (front.clone(), back.clone(), client.clone());
        tokio::spawn(async move {
            let mut rng = Rng::new(7);
            let mut buf = vec![0u8; 65536];
            while let Ok((n, from)) = front.recv_from(&mut buf).await {
                *client.lock().await = Some(from);
                for delay in faults.fate(&mut rng) {
                    send_later(back.clone(), None, buf[..n].to_vec(), delay);
                }
            }
        });
    }
    tokio::spawn(async move {
        let mut rng = Rng::new(11);
        let mut buf = vec![0u8; 65536];
        while let Ok(n) = back.recv(&mut buf).await {
            let Some(to) = *client.lock().await else {
                continue;
            };
            for delay in faults.fate(&mut rng) {
                send_later(front.clone(), Some(to), buf[..n].to_vec(), delay);
            }
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_through_a_lossy_path() {
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/examples");
    let pki = Pki::new();
    let dirs = tempfile::tempdir().unwrap();
    let now = time::macros::datetime!(2026-11-29 10:00 UTC);
    let o = ImportOptions::new(Role::Comune, now.date());
    let mut results = Vec::new();
    for lossy in [false, true] {
        let hub = start_hub(&pki, &dirs.path().join(format!("hub-{lossy}"))).await;
        let target = if lossy {
            relay(
                hub.addr(),
                Faults {
                    drop: 0.10,
                    dup: 0.05,
                    reorder: 0.10,
                },
            )
            .await
        } else {
            hub.addr()
        };
        // Small batches: many round trips through the relay.
        let (cfg, st) = node(
            &pki,
            target,
            PERUGIA,
            &dirs.path().join(format!("pg-{lossy}")),
            1,
        );
        for (k, f) in [
            (ImportKind::Anagrafe, "anagrafe.csv"),
            (ImportKind::Redditi, "redditi.csv"),
            (ImportKind::Accessi, "accessi.csv"),
            (ImportKind::PreseInCarico, "prese-in-carico.csv"),
            (ImportKind::Interventi, "interventi.csv"),
        ] {
            import(&st, k, &examples.join(f), &Profile::default(), &o).unwrap();
        }
        let r = tokio::time::timeout(
            Duration::from_secs(60),
            assess_and_round(&st, &cfg, &Rules::defaults(), now),
        )
        .await
        .expect("sync did not finish in time")
        .unwrap();
        results.push((
            r.shared,
            r.hub_records,
            r.aggregate_cells,
            hub.running.hub.records(),
        ));
        hub.stop().await;
    }
    assert_eq!(results[0], results[1], "clean vs lossy");
    assert!(
        DROPPED.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "the relay dropped nothing"
    );
    assert!(
        DUPLICATED.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "the relay duplicated nothing"
    );
    assert_eq!(results[0].3, 3);
}
