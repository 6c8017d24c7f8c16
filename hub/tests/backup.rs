//! Online backup and restore, end to end with the binaries: a node and the hub are backed up
//! while `serve` runs and a load of batches goes on, both are killed with SIGKILL, their data
//! directories wiped and restored from the backups; every batch acknowledged before the backup
//! point is there, and every node record; one sync round brings the hub back to everything
//! (the restored hub is older than the node, which resends what it lacks).

#![allow(clippy::unwrap_used)]

#[path = "../../tests/src/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use harness::*;
use siso_shared::wire::{BatchId, HouseholdRecord, Message, RecordFlags, SubmitBatch};
use siso_shared::{Fingerprint, MemberId};

fn hub_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_siso-hub"))
}

/// The `siso-node` binary beside `siso-hub` (a workspace test run builds both; a run of this
/// package alone builds it here).
fn node_bin() -> PathBuf {
    let p = hub_bin().with_file_name("siso-node");
    if !p.exists() {
        let st = Command::new(env!("CARGO"))
            .args(["build", "-p", "siso-node", "--bin", "siso-node"])
            .status()
            .unwrap();
        assert!(st.success(), "building siso-node");
    }
    p
}

fn node_cmd(data: &Path) -> Command {
    let mut c = Command::new(node_bin());
    c.arg("--data").arg(data);
    c
}

fn json(out: std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap()
}

fn free_tcp() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Acknowledged batches: member, batch id, when the acknowledgement arrived.
type Acked = Arc<Mutex<Vec<(&'static str, BatchId, Instant)>>>;

/// A load generator's member sending one-record batches until `stop`; every acknowledged
/// batch id goes to `acked` with the moment its acknowledgement arrived.
async fn load(
    pki: Arc<Pki>,
    addr: std::net::SocketAddr,
    member: &'static str,
    stop: Arc<AtomicBool>,
    acked: Acked,
) {
    let Ok((client, _)) = connect_to(addr, pki.tls(member), member).await else {
        return;
    };
    let tag = member.as_bytes()[5];
    let mut i = 0u32;
    while !stop.load(Ordering::Relaxed) {
        let mut id = [tag; 16];
        id[..4].copy_from_slice(&i.to_be_bytes());
        let mut key = [tag; 32];
        key[..4].copy_from_slice(&i.to_be_bytes());
        let batch = Message::SubmitBatch(SubmitBatch {
            member: member.parse::<MemberId>().unwrap(),
            epoch: 2026,
            batch_id: BatchId(id),
            scheme: siso_shared::wire::Scheme::SharedKey,
            snapshot: false,
            add: vec![HouseholdRecord {
                key: Fingerprint(key),
                persons: vec![Fingerprint([!tag; 32])],
                interventions: vec![],
                flags: RecordFlags::default(),
            }],
            remove: vec![],
        });
        match client.request(&batch).await {
            Ok(Message::Ack(a)) => {
                acked
                    .lock()
                    .unwrap()
                    .push((member, a.batch_id, Instant::now()));
            }
            // The hub was killed.
            _ => return,
        }
        i += 1;
    }
}

async fn wait_metric(addr: std::net::SocketAddr, name: &str, ok: impl Fn(u64) -> bool) -> u64 {
    wait_for_tcp(addr, "the node").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = http_get(addr, "/metrics", None).await;
        if status == 200 {
            if let Some(v) = body
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name} ")))
                .and_then(|v| v.trim().parse::<u64>().ok())
            {
                if ok(v) {
                    return v;
                }
            }
        }
        assert!(Instant::now() < deadline, "{name} never reached its value");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A child process killed when the test ends, however it ends.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn online_backups_under_load_survive_sigkill_and_restore() {
    let pki = Arc::new(Pki::new());
    let root = tempfile::tempdir().unwrap();
    let (hub_dir, node_dir) = (root.path().join("hub"), root.path().join("node"));
    let mut hub = BinaryHub::init(&hub_bin(), &pki, &hub_dir);
    hub.start().await;

    // The node: 300 families imported, synced every second once it serves.
    let (cfg, store) = node(&pki, hub.addr, PERUGIA, &node_dir, 50);
    drop(store);
    let node_http = free_tcp();
    let cfg = siso_node::config::NodeConfig {
        sync: siso_node::config::SyncConfig {
            interval_secs: 1,
            ..cfg.sync.clone()
        },
        http: siso_node::config::HttpConfig { listen: node_http },
        web: siso_node::config::WebConfig {
            listen: free_tcp(),
            ..cfg.web.clone()
        },
        ..cfg
    };
    std::fs::write(
        siso_node::config::NodeConfig::path(&node_dir),
        cfg.render().unwrap(),
    )
    .unwrap();
    let (anagrafe, interventi) = write_registry_csvs(root.path(), 300);
    for (kind, file) in [("anagrafe", &anagrafe), ("interventi", &interventi)] {
        run_ok(node_cmd(&node_dir).args(["import", kind]).arg(file));
    }
    let before = json(run_ok(
        node_cmd(&node_dir).args(["status", "--format", "json"]),
    ));

    // The load: two members sending batches as fast as the hub acknowledges them.
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let loaders: Vec<_> = [TERNI, ASSISI]
        .into_iter()
        .map(|m| tokio::spawn(load(pki.clone(), hub.addr, m, stop.clone(), acked.clone())))
        .collect();
    while acked.lock().unwrap().len() < 200 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The hub's backup, online, while the load goes on. Every batch acknowledged before the
    // command started must be in it.
    let hub_backup = root.path().join("hub.siso-backup");
    let point = Instant::now();
    let out = run_ok(
        Command::new(hub_bin())
            .args(["backup", "--format", "json", "--config"])
            .arg(&hub.config)
            .arg("--to")
            .arg(&hub_backup),
    );
    let m = json(out);
    assert_eq!(m["online"], true, "{m}");
    assert_eq!(m["program"], "hub", "{m}");
    let during = acked.lock().unwrap().len();

    // Then the node serves (its first round sends everything to the hub, after the hub's
    // backup point) and is backed up online too.
    let mut node_proc = Killed(
        node_cmd(&node_dir)
            .arg("serve")
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let shared = wait_metric(node_http, "siso_node_shared_records", |v| v == 300).await;
    wait_metric(node_http, "siso_node_outbox_batches", |v| v == 0).await;
    let node_backup = root.path().join("node.siso-backup");
    let m = json(run_ok(
        node_cmd(&node_dir)
            .args(["backup", "--format", "json", "--to"])
            .arg(&node_backup),
    ));
    assert_eq!(m["online"], true, "{m}");
    assert_eq!(m["member"], PERUGIA, "{m}");
    assert_eq!(m["summary"]["households_shared"], shared, "{m}");
    let persons = before["persons"].as_u64().unwrap();
    assert_eq!(m["summary"]["persons"], persons, "{m}");
    assert!(acked.lock().unwrap().len() > during, "the load stopped");

    // Both killed mid-load; their data directories gone.
    hub.signal("KILL");
    hub.wait();
    node_proc.0.kill().unwrap();
    node_proc.0.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    for l in loaders {
        l.await.unwrap();
    }
    std::fs::remove_dir_all(&hub_dir).unwrap();
    std::fs::remove_dir_all(&node_dir).unwrap();

    // Verified, then restored.
    for (bin, file) in [(hub_bin(), &hub_backup), (node_bin(), &node_backup)] {
        run_ok(Command::new(bin).args(["backup", "verify"]).arg(file));
    }
    let out = run_ok(
        Command::new(hub_bin())
            .args(["restore", "--from"])
            .arg(&hub_backup)
            .arg("--data")
            .arg(&hub_dir),
    );
    // The analyst token lived in the wiped directory: the restore names it; put it back.
    let token = hub_dir.join("analyst.token");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&token.display().to_string()),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(&token, &hub.token).unwrap();
    run_ok(
        node_cmd(&node_dir)
            .args(["restore", "--from"])
            .arg(&node_backup),
    );

    // Every batch acknowledged before the backup point is in the restored hub.
    {
        let store = siso_hub::store::Store::open(
            &hub_dir.join("store"),
            siso_hub::store::OpenMode::Existing,
        )
        .unwrap();
        let acked = acked.lock().unwrap();
        let due: Vec<_> = acked.iter().filter(|(_, _, t)| *t < point).collect();
        assert!(due.len() >= 200);
        for (member, id, _) in &due {
            let m: MemberId = member.parse().unwrap();
            assert!(
                store.ledger_get(2026, &m, id).unwrap().is_some(),
                "batch {id:?} of {member}, acknowledged before the backup, is missing"
            );
        }
    }
    // Every node record is in the restored node.
    let after = json(run_ok(
        node_cmd(&node_dir).args(["status", "--format", "json"]),
    ));
    assert_eq!(before["persons"], after["persons"]);
    assert_eq!(before["families"], after["families"]);
    assert_eq!(after["shared_records"], shared, "{after}");

    // The restored hub predates the node's round: one sync round resends what it lacks.
    hub.start().await;
    let r = json(run_ok(
        node_cmd(&node_dir).args(["sync", "--format", "json"]),
    ));
    assert_eq!(r["resent_full"], true, "{r}");
    assert_eq!(r["hub_records"], shared, "{r}");
    let r = json(run_ok(
        node_cmd(&node_dir).args(["sync", "--format", "json"]),
    ));
    assert_eq!(
        (&r["resent_full"], &r["added"]),
        (&false.into(), &0.into()),
        "{r}"
    );
}

#[test]
fn a_closed_store_backs_up_and_bad_files_are_refused() {
    let pki = Pki::new();
    let root = tempfile::tempdir().unwrap();
    let hub_dir = root.path().join("hub");
    let hub = BinaryHub::init(&hub_bin(), &pki, &hub_dir);
    let file = root.path().join("b");
    // Encrypted to an age recipient: needs the identity to verify or restore.
    let id = age_identity(root.path());
    let m = json(run_ok(
        Command::new(hub_bin())
            .args([
                "backup",
                "--format",
                "json",
                "--recipient",
                &id.1,
                "--config",
            ])
            .arg(&hub.config)
            .arg("--to")
            .arg(&file),
    ));
    assert_eq!(m["online"], false, "{m}");
    let out = Command::new(hub_bin())
        .args(["backup", "verify"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--identity"));
    run_ok(
        Command::new(hub_bin())
            .args(["backup", "verify", "--identity"])
            .arg(&id.0)
            .arg(&file),
    );
    // A node's restore refuses a hub's backup; a truncated one is refused and leaves nothing.
    let out = node_cmd(&root.path().join("n"))
        .args(["restore", "--identity"])
        .arg(&id.0)
        .arg("--from")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not of a node"));
    let bytes = std::fs::read(&file).unwrap();
    let cut = root.path().join("cut");
    std::fs::write(&cut, &bytes[..bytes.len() - 10]).unwrap();
    let target = root.path().join("restored");
    let out = Command::new(hub_bin())
        .args(["restore", "--identity"])
        .arg(&id.0)
        .arg("--from")
        .arg(&cut)
        .arg("--data")
        .arg(&target)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(!target.exists());
    // A restore names the referenced files it does not carry and points hub.toml at its new
    // directory.
    let out = run_ok(
        Command::new(hub_bin())
            .args(["restore", "--identity"])
            .arg(&id.0)
            .arg("--from")
            .arg(&file)
            .arg("--data")
            .arg(&target),
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("not included"));
    let cfg = siso_hub::config::HubConfig::load(&target.join("hub.toml")).unwrap();
    assert_eq!(cfg.data_dir, target);
}

/// An age identity file in `dir` and its recipient.
fn age_identity(dir: &Path) -> (PathBuf, String) {
    use age::secrecy::ExposeSecret;
    use siso_server::backup::age;
    let id = age::x25519::Identity::generate();
    let path = dir.join("backup-identity.txt");
    std::fs::write(&path, id.to_string().expose_secret()).unwrap();
    (path, id.to_public().to_string())
}
