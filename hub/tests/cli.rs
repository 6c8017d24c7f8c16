//! The `siso-hub` binary: init, serve until SIGTERM, audit verify (intact and tampered).

#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use common::*;
use siso_hub::store::{OpenMode, Store};
use siso_shared::wire::*;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_siso-hub"))
}

#[tokio::test(flavor = "multi_thread")]
async fn init_serve_sigterm_and_audit() {
    let pki = Pki::new();
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("hub");
    let hub = BinaryHub::init(env!("CARGO_BIN_EXE_siso-hub").as_ref(), &pki, &dir);
    let (udp, tcp) = (hub.addr.port(), hub.http.port());
    let config = hub.config.clone();
    let text = std::fs::read_to_string(&config).unwrap();
    for field in [
        "max_connections",
        "idle_timeout_secs",
        "max_request_bytes",
        "allow",
        "deny",
        "k = 5",
        "release_quiet_ms = 2000",
        "log_format",
    ] {
        assert!(text.contains(field), "hub.toml lacks {field}");
    }
    let token_mode = std::fs::metadata(dir.join("analyst.token"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(token_mode & 0o777, 0o600);
    // A second init refuses to overwrite.
    let again = hub_init_command(env!("CARGO_BIN_EXE_siso-hub").as_ref(), &pki, &dir)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));

    let mut child = bin()
        .args(["serve", "--log-format", "json", "--config"])
        .arg(&config)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the HTTP health check.
    let http: std::net::SocketAddr = format!("127.0.0.1:{tcp}").parse().unwrap();
    wait_for_tcp(http, "siso-hub serve").await;
    let (status, _) = http_get(http, "/healthz", None).await;
    assert_eq!(status, 200);
    let quic = format!("127.0.0.1:{udp}").parse().unwrap();
    let (c, _) = connect_to(quic, pki.tls(PERUGIA), PERUGIA).await.unwrap();
    // Nothing released yet: statistics are unavailable, not empty.
    let (status, body) = http_get(http, "/api/public/summary?epoch=2026", None).await;
    assert_eq!(status, 503, "{body}");
    let r = c.call(&one_record_batch(PERUGIA, 1, true)).await.unwrap();
    assert!(matches!(r, Message::Ack(_)));
    c.close().await;
    // Once ingest is quiet (2 s by default) the hub cuts, audits and publishes a release by
    // itself; every response names it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let (head, body) = loop {
        let (status, head, body) =
            http_call(http, "GET", "/api/public/summary?epoch=2026", &[], "").await;
        if status == 200 {
            break (head, body);
        }
        assert_eq!(status, 503, "{body}");
        assert!(std::time::Instant::now() < deadline, "no release cut");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["release"]["id"], 1, "{doc}");
    let digest = doc["release"]["digest"].as_str().unwrap().to_owned();
    assert!(
        head.to_lowercase()
            .contains(&format!("siso-release: 1; period=2026; digest={digest}")),
        "{head}"
    );

    // SIGTERM: a clean exit.
    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let out = tokio::task::spawn_blocking(move || {
        let status = child.wait().unwrap();
        let mut err = String::new();
        use std::io::Read;
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        (status, err)
    })
    .await
    .unwrap();
    assert!(out.0.success(), "exit {:?}: {}", out.0, out.1);
    // JSON logs carry the member id and never a payload.
    assert!(
        out.1
            .lines()
            .any(|l| l.starts_with('{') && l.contains("054039")),
        "{}",
        out.1
    );

    let v = bin()
        .args(["audit", "verify", "--data"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
    let text = String::from_utf8_lossy(&v.stdout).into_owned();
    // Hello, the batch, and the release (whose payload hash is its digest).
    assert!(text.contains("3 records, chain intact"), "{text}");
    {
        let store = Store::open(&dir.join("store"), OpenMode::Existing).unwrap();
        let rec = store.audit_iter().last().unwrap().unwrap();
        assert_eq!(rec.kind, "release 2026");
        assert_eq!(rec.outcome, "ok");
        assert_eq!(hex::encode(rec.payload_hash), digest);
    }

    // The release as stored; a new one of unchanged figures is not cut; a monthly one is.
    let l = bin()
        .args(["release", "list", "--format", "json", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(l.status.success(), "{}", String::from_utf8_lossy(&l.stderr));
    let list: serde_json::Value = serde_json::from_slice(&l.stdout).unwrap();
    assert_eq!(list["releases"][0]["digest"], digest.as_str(), "{list}");
    // Every sensitive withheld cell proven (complements need no proof; tests/tests/statistics.rs
    // checks the exact count against a release's table). Nothing is small here.
    let report = &list["releases"][0]["report"];
    let (proven, withheld) = (report["proven"].as_u64(), report["suppressed"].as_u64());
    assert!(proven.is_some_and(|p| Some(p) <= withheld), "{report}");
    let again = bin()
        .args([
            "release", "create", "--epoch", "2026", "--format", "json", "--config",
        ])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(doc["unchanged_since"], 1, "{doc}");
    let bad = bin()
        .args([
            "release", "create", "--epoch", "2026", "--month", "13", "--config",
        ])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let a = bin()
        .args([
            "sdc",
            "audit",
            "--release",
            "1",
            "--format",
            "json",
            "--config",
        ])
        .arg(&config)
        .output()
        .unwrap();
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&a.stdout).unwrap();
    assert_eq!(doc["not_proven"], 0, "{doc}");

    // The disclosure audit of what the hub publishes: JSON alone on stdout, one report per
    // epoch with data, exit 0 when nothing is exposed (3 otherwise, never 1 or 2).
    for method in ["subtraction", "audited"] {
        let a = bin()
            .args([
                "sdc", "audit", "--format", "json", "--method", method, "--config",
            ])
            .arg(&config)
            .output()
            .unwrap();
        assert!(
            matches!(a.status.code(), Some(0) | Some(3)),
            "{}",
            String::from_utf8_lossy(&a.stderr)
        );
        let doc: serde_json::Value = serde_json::from_slice(&a.stdout).unwrap();
        for e in doc["epochs"].as_array().unwrap() {
            assert!(
                e["cells"].as_u64().is_some() && e["suppressed"].as_u64().is_some(),
                "{e}"
            );
            if method == "audited" {
                assert_eq!(e["not_proven"], 0, "{e}");
            }
        }
    }

    // Tamper with the first record: verify reports the break and exits 1.
    {
        let store = Store::open(&dir.join("store"), OpenMode::Existing).unwrap();
        let mut first = store.audit_iter().next().unwrap().unwrap();
        first.outcome = "forbidden".into();
        store.audit_tamper(0, &first).unwrap();
    }
    let v = bin()
        .args(["audit", "verify", "--data"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(v.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&v.stdout).contains("chain broken at record 1"));
}

#[test]
fn help_everywhere() {
    for args in [
        vec!["--help"],
        vec!["init", "--help"],
        vec!["serve", "--help"],
        vec!["audit", "verify", "--help"],
        vec!["sdc", "audit", "--help"],
    ] {
        let out = bin().args(&args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
    }
    let out = bin().args(["serve"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = bin()
        .args(["serve", "--config", "/nonexistent/hub.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/hub.toml"));
}

/// `--version` names the version and the git revision it was built from (or "unknown" outside
/// a git checkout), so an operator can tell which build runs.
#[test]
fn version_names_the_git_revision() {
    let out = bin().arg("--version").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let prefix = format!("siso-hub {} (", env!("CARGO_PKG_VERSION"));
    let rev = text
        .trim()
        .strip_prefix(&prefix)
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{text}"));
    let git = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    match git {
        Some(head) => assert_eq!(rev, head),
        None => assert_eq!(rev, "unknown"),
    }
}
