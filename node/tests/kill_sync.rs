//! A node process killed with SIGKILL in the middle of a sync resumes: the next `siso-node sync`
//! completes, and the hub ends with exactly what a clean, uninterrupted sync of the same data
//! gives — nothing lost, nothing twice.

#![allow(clippy::unwrap_used)]

#[path = "../../tests/src/harness.rs"]
mod harness;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harness::*;
use siso_node::import::{import, ImportKind, ImportOptions, Profile};
use siso_shared::Role;

const FAMILIES: usize = 6_000;

fn sync(data: &Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_siso-node"))
        .arg("--data")
        .arg(data)
        .args(["sync", "--format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_sync_resumes_and_the_hub_ends_as_after_a_clean_sync() {
    let (pki, dirs, hub) = fresh_hub().await;
    let data = dirs.path().join("node");
    {
        let (_, store) = node(&pki, hub.addr(), PERUGIA, &data, 100);
        let (a, i) = write_registry_csvs(dirs.path(), FAMILIES);
        let opts = ImportOptions::new(Role::Comune, time::macros::date!(2026 - 11 - 29));
        let s = import(&store, ImportKind::Anagrafe, &a, &Profile::default(), &opts).unwrap();
        assert_eq!(s.households as usize, FAMILIES);
        import(
            &store,
            ImportKind::Interventi,
            &i,
            &Profile::default(),
            &opts,
        )
        .unwrap();
    }
    // The same node, untouched, for the clean run against a second hub.
    let clean_data = dirs.path().join("clean");
    copy_dir(&data, &clean_data);

    // Kill the sync as soon as the hub holds some of the records, well before all.
    let mut child = sync(&data);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n = hub.running.hub.records();
        if n > 0 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the sync ended before it could be killed"
        );
        assert!(Instant::now() < deadline, "no batch reached the hub");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let status = Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(!exit.success(), "the sync was not killed");
    let partial = hub.running.hub.records();
    assert!(
        (partial as usize) < FAMILIES,
        "the sync had finished ({partial} records) before the kill"
    );

    // The next sync resumes and completes.
    let out = sync(&data).wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(hub.running.hub.records() as usize, FAMILIES);

    // A clean run of the same data against a fresh hub ends the same.
    let clean_hub = start_hub(&pki, &dirs.path().join("hub2")).await;
    let cfg_path = siso_node::config::NodeConfig::path(&clean_data);
    let cfg = std::fs::read_to_string(&cfg_path)
        .unwrap()
        .replace(&hub.addr().to_string(), &clean_hub.addr().to_string());
    std::fs::write(&cfg_path, cfg).unwrap();
    let out = sync(&clean_data).wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (a, b) = (
        hub.running.hub.summary(2026),
        clean_hub.running.hub.summary(2026),
    );
    assert_eq!(a, b);
    assert_eq!(a.records as usize, FAMILIES);
    assert_eq!(a.supported_records as usize, FAMILIES);
    // And the node knows it is done: nothing waits in its outbox.
    let out = Command::new(env!("CARGO_BIN_EXE_siso-node"))
        .arg("--data")
        .arg(&data)
        .args(["status", "--format", "json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["outbox_batches"], 0, "{v}");
    clean_hub.stop().await;
    hub.stop().await;
}
