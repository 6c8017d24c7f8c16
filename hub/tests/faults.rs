//! The hub process killed with SIGKILL during ingestion at ten random points and restarted:
//! every acknowledged batch is present, nothing is applied twice, and the overlaps equal those
//! of a clean run. And a message log changed behind the running hub's back is found online.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use siso_node::client::HubClient;
use siso_shared::wire::*;
use siso_shared::{Fingerprint, TipoIntervento};

/// Batch `b` of member `m`: 50 households; Terni's first household of each batch shares a
/// person with Perugia's.
fn batch(m: &str, b: u16) -> SubmitBatch {
    let add = (0..50u16)
        .map(|h| {
            let mut p = [0u8; 32];
            p[..2].copy_from_slice(&b.to_be_bytes());
            p[2..4].copy_from_slice(&h.to_be_bytes());
            p[4] = if m == PERUGIA || h == 0 { 1 } else { 2 };
            let mut k = p;
            k[5] = if m == PERUGIA { 1 } else { 2 };
            HouseholdRecord {
                key: Fingerprint(k),
                persons: vec![Fingerprint(p)],
                interventions: vec![InterventionSummary {
                    kind: TipoIntervento::Mensa,
                    area: siso_shared::AreaBisogno::Altro,
                    start: time::macros::date!(2026 - 01 - 01),
                    end: None,
                }],
                flags: RecordFlags::default(),
            }
        })
        .collect();
    let mut id = [0u8; 16];
    id[0] = if m == PERUGIA { 1 } else { 2 };
    id[1..3].copy_from_slice(&b.to_be_bytes());
    SubmitBatch {
        member: m.parse().unwrap(),
        epoch: 2026,
        batch_id: BatchId(id),
        scheme: siso_shared::wire::Scheme::SharedKey,
        snapshot: false,
        add,
        remove: vec![],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_ingestion_loses_nothing_acknowledged() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let hub_dir = dir.path().join("hub");
    let mut hub = BinaryHub::init(env!("CARGO_BIN_EXE_siso-hub").as_ref(), &pki, &hub_dir);
    let addr = hub.addr;

    const BATCHES: u16 = 200;
    let mut pending: Vec<SubmitBatch> = Vec::new();
    for b in 0..BATCHES {
        pending.push(batch(PERUGIA, b));
        pending.push(batch(TERNI, b));
    }
    let mut acked = 0usize;
    let mut kills = 0;
    let mut seed: u64 = 12345;
    hub.start().await;
    while !pending.is_empty() {
        // Kill at a pseudo-random moment while batches flow (ten times), then run clean.
        let killer = if kills < 10 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let delay = 5 + (seed >> 33) % 60;
            let pid = hub.pid();
            Some(tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(delay)).await;
                Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status()
                    .unwrap();
            }))
        } else {
            None
        };
        let mut clients = std::collections::HashMap::new();
        'send: while let Some(b) = pending.first().cloned() {
            let m = b.member.to_string();
            if !clients.contains_key(&m) {
                match HubClient::connect(
                    addr,
                    "localhost",
                    pki.tls(&m),
                    &b.member,
                    Duration::from_secs(2),
                )
                .await
                {
                    Ok((c, _)) => {
                        clients.insert(m.clone(), c);
                    }
                    Err(_) => break 'send,
                }
            }
            match clients[&m].call(&Message::SubmitBatch(b)).await {
                Ok(Message::Ack(_)) => {
                    pending.remove(0);
                    acked += 1;
                }
                _ => break 'send,
            }
        }
        if let Some(k) = killer {
            k.await.unwrap();
            kills += 1;
        } else {
            hub.signal("KILL");
        }
        let _ = hub.wait();
        hub.start().await;
    }
    assert!(kills >= 10);
    assert_eq!(acked, 2 * BATCHES as usize);

    // After a last restart: every batch present once, and the overlaps of a clean run.
    let http = hub.http;
    let token = hub.token.clone();
    let (_, metrics) = http_get(http, "/metrics", None).await;
    assert!(
        metrics.contains(&format!(
            "siso_hub_records_stored {}",
            2 * 50 * BATCHES as u64
        )),
        "{metrics}"
    );
    let (_, body) = http_get(http, "/api/overlaps?epoch=2026", Some(&token)).await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["overlap_groups"], BATCHES as u64, "{v}");
    assert_eq!(v["pairs"][0]["households"], BATCHES as u64, "{v}");
    // Resending an old batch is acknowledged as a duplicate and changes nothing.
    let (c, _) = connect_to(addr, pki.tls(PERUGIA), PERUGIA).await.unwrap();
    let Message::Ack(a) = c
        .call(&Message::SubmitBatch(batch(PERUGIA, 3)))
        .await
        .unwrap()
    else {
        panic!()
    };
    assert!(a.duplicate);
    // A repeated Ack reports the count recorded when the batch was applied (its 4th batch).
    assert_eq!(a.stored, 4 * 50);
    c.close().await;
    hub.signal("TERM");
    assert!(hub.wait().success());
    let v = Command::new(env!("CARGO_BIN_EXE_siso-hub"))
        .args(["audit", "verify", "--data"])
        .arg(&hub_dir)
        .output()
        .unwrap();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
}

/// The message log's chain is checked while serving (at start, then every
/// `audit_check_minutes`) and the result is on `/metrics`: a changed record shows as broken.
#[tokio::test]
async fn the_message_log_chain_is_checked_online() {
    let (pki, _data, hub) = fresh_hub().await;
    let (c, _) = hub.connect(&pki, PERUGIA).await.unwrap();
    c.call(&one_record_batch(PERUGIA, 1, true)).await.unwrap();
    c.close().await;
    let v = hub.running.hub.check_chain().unwrap();
    assert!(v.first_broken.is_none() && v.records >= 2, "{v:?}");
    let (_, body) = hub.http_get("/metrics", None).await;
    assert!(body.contains("siso_hub_audit_chain_intact 1"), "{body}");
    assert!(
        body.contains(&format!("siso_hub_audit_chain_records {}", v.records)),
        "{body}"
    );
    // A record changed behind the hub's back.
    let store = hub.running.hub.store();
    let mut first = store.audit_iter().next().unwrap().unwrap();
    first.outcome = "forbidden".into();
    store.audit_tamper(0, &first).unwrap();
    let v = hub.running.hub.check_chain().unwrap();
    assert!(v.first_broken.is_some(), "{v:?}");
    let (_, body) = hub.http_get("/metrics", None).await;
    assert!(body.contains("siso_hub_audit_chain_intact 0"), "{body}");
    hub.stop().await;
}
