//! `siso-loadgen` against a hub running at an address (here a hub on 127.0.0.1 with the test
//! PKI): the load generator issues its members' certificates from the hub's CA directory,
//! sends over real QUIC and mutual TLS, and reports what the members are told. A CA the hub does
//! not trust makes every member fail and the command exit 1.

#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};

use siso_tests::harness::{fresh_hub, Pki};

fn loadgen(args: Vec<String>) -> Output {
    Command::new(env!("CARGO_BIN_EXE_siso-loadgen"))
        .args(args)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loadgen_drives_a_hub_at_an_address() {
    let (pki, _data, hub) = fresh_hub().await;
    let args = |ca: &std::path::Path| -> Vec<String> {
        [
            "--members",
            "6",
            "--households",
            "300",
            "--overlap",
            "0.1",
            "--batch",
            "100",
            "--json",
            "--hub",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([
            hub.addr().to_string(),
            "--ca".into(),
            ca.display().to_string(),
        ])
        .collect()
    };
    let ca = pki.layout.ca_dir();
    let a = args(&ca);
    let out = tokio::task::spawn_blocking(move || loadgen(a))
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(r["errors"], 0);
    assert_eq!(r["overlaps_expected"], 90);
    assert_eq!(r["overlaps_found"], 90);
    assert_eq!(r["hub"], hub.addr().to_string());
    assert!(r["overlap_summary_s"].is_null());
    // The hub's own summary agrees with what the members were told.
    assert_eq!(hub.running.hub.summary(2026).overlap_groups, 90);

    // Member certificates from a CA the hub does not trust: nothing gets through.
    let other = Pki::new();
    let a = args(&other.layout.ca_dir());
    let out = tokio::task::spawn_blocking(move || loadgen(a))
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let r: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    assert!(r["errors"].as_u64().unwrap() >= 6, "{r}");
    assert_eq!(r["overlaps_found"], 0);
    assert_eq!(hub.running.hub.summary(2026).overlap_groups, 90);
    hub.stop().await;
}
