//! A `siso-node import` process killed with SIGKILL at several points of a large import (one
//! that goes through the store's journal): when the store is opened again it holds either the
//! whole import or nothing of it — never part.

#![allow(clippy::unwrap_used)]

#[path = "../../tests/src/harness.rs"]
mod harness;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harness::*;
use siso_node::store::{Kind, OpenMode, Store};

/// Enough persons (about 30,000: 3 MB of chunks) for more than `DIRECT_BYTES`, so the commit is
/// journaled.
const FAMILIES: usize = 12_000;

fn import(data: &Path, file: &Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_siso-node"))
        .arg("--data")
        .arg(data)
        .args(["import", "anagrafe"])
        .arg(file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Opens the store (which finishes or discards an interrupted journal) once sled lets go of it.
fn persons(data: &Path) -> usize {
    for _ in 0..200 {
        match Store::open(&data.join("store"), OpenMode::Existing) {
            Ok(s) => return s.count(Kind::Person).unwrap(),
            Err(_) => std::thread::sleep(Duration::from_millis(25)),
        }
    }
    panic!("the store stayed locked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_killed_at_any_point_is_all_or_nothing() {
    let pki = Pki::new();
    let dirs = tempfile::tempdir().unwrap();
    let hub: std::net::SocketAddr = "127.0.0.1:9".parse().unwrap();
    let (anagrafe, _) = write_registry_csvs(dirs.path(), FAMILIES);
    let total = std::fs::read_to_string(&anagrafe).unwrap().lines().count() - 1;
    assert!(total > siso_node::store::DIRECT_COMMIT);

    // A clean import, timed.
    let clean = dirs.path().join("clean");
    drop(node(&pki, hub, PERUGIA, &clean, 100));
    let t = Instant::now();
    assert!(import(&clean, &anagrafe).wait().unwrap().success());
    let full_time = t.elapsed();
    assert_eq!(persons(&clean), total);

    // Killed at a fifth, two fifths, ... of that time, each on a fresh node.
    let mut outcomes = Vec::new();
    for k in 1..=4u32 {
        let data = dirs.path().join(format!("killed-{k}"));
        drop(node(&pki, hub, PERUGIA, &data, 100));
        let mut child = import(&data, &anagrafe);
        std::thread::sleep(full_time * k / 5);
        let _ = Command::new("kill")
            .args(["-KILL", &child.id().to_string()])
            .status();
        let _ = child.wait();
        let n = persons(&data);
        assert!(
            n == 0 || n == total,
            "killed at {k}/5 of the import: {n} of {total} persons stored"
        );
        outcomes.push(n);
        // Whatever happened, importing again completes.
        assert!(import(&data, &anagrafe).wait().unwrap().success());
        assert_eq!(persons(&data), total);
    }
    eprintln!("persons after each kill: {outcomes:?} (of {total})");
}
