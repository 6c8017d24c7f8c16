//! The `siso-node` binary end to end: init (identity check), import (errors and exit codes),
//! sync against a real hub, overlaps, status, stats, serve.

#![allow(clippy::unwrap_used)]

#[path = "../../tests/src/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use harness::*;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_siso-node"))
}

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/examples")
}

fn run(data: &Path, args: &[&str]) -> Output {
    bin().arg("--data").arg(data).args(args).output().unwrap()
}

/// Runs a command that must succeed and print JSON on stdout; the JSON.
fn run_json(data: &Path, args: &[&str]) -> serde_json::Value {
    let out = run_ok(bin().arg("--data").arg(data).args(args));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn init_args(pki: &Pki, member: &str, cert_of: &str, hub: std::net::SocketAddr) -> Vec<String> {
    let d = pki.layout.member_dir(&cert_of.parse().unwrap());
    vec![
        "init".into(),
        "--member".into(),
        member.into(),
        "--hub".into(),
        hub.to_string(),
        "--hub-name".into(),
        "localhost".into(),
        "--ca".into(),
        pki.ca_pem().display().to_string(),
        "--cert".into(),
        d.join("cert.pem").display().to_string(),
        "--key".into(),
        d.join("key.pem").display().to_string(),
        "--fingerprint-key".into(),
        pki.layout.fingerprint_key().display().to_string(),
        "--epoch".into(),
        "2026".into(),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn node_commands_end_to_end() {
    let (pki, dirs, hub) = fresh_hub().await;
    let data = dirs.path().join("node");

    // A member id that does not match the certificate is refused.
    let out = bin()
        .args(init_args(&pki, TERNI, PERUGIA, hub.addr()))
        .arg("--data")
        .arg(&data)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not match the certificate"));
    // --data after the subcommand works too.
    run_ok(
        bin()
            .args(init_args(&pki, PERUGIA, PERUGIA, hub.addr()))
            .arg("--data")
            .arg(&data),
    );
    let toml = std::fs::read_to_string(data.join("node.toml")).unwrap();
    assert!(toml.contains("fingerprint_key") && toml.contains("interval_secs"));
    assert!(
        !toml.contains("BEGIN"),
        "keys must be referenced, not copied"
    );

    // An invalid import: FILE:LINE: column: reason on stderr, exit 1, nothing written.
    let bad = dirs.path().join("bad.csv");
    std::fs::write(
        &bad,
        "codice_fiscale;anno;reddito_complessivo\nRSSMRA70C01G478R;2025;12,5\nRSSMRA70C01G478Q;2025;100\n",
    )
    .unwrap();
    let out = run(&data, &["import", "redditi", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}:3: codice_fiscale: wrong check character 'Q', expected 'R'",
            bad.display()
        )),
        "{err}"
    );
    // Valid imports; JSON summary alone on stdout.
    for (kind, file) in [
        ("anagrafe", "anagrafe.csv"),
        ("accessi", "accessi.csv"),
        ("prese-in-carico", "prese-in-carico.csv"),
        ("interventi", "interventi.csv"),
    ] {
        let path = examples().join(file);
        let v = run_json(
            &data,
            &["import", kind, path.to_str().unwrap(), "--format", "json"],
        );
        assert!(v["imported"].as_u64().unwrap() > 0);
    }
    let out = run(
        &data,
        &[
            "import",
            "anagrafe",
            examples()
                .join("vendor/anagrafe-cp1252.csv")
                .to_str()
                .unwrap(),
            "--profile",
            examples()
                .join("profiles/vendor-cp1252.toml")
                .to_str()
                .unwrap(),
            "--dry-run",
        ],
    );
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("dry run"));

    // Sync, then the local views.
    let v = run_json(&data, &["sync", "--format", "json"]);
    assert_eq!(v["shared"], 3);
    let v = run_json(&data, &["overlaps", "--format", "json"]);
    assert_eq!(v.as_array().unwrap().len(), 0);
    let v = run_json(&data, &["status", "--format", "json"]);
    assert_eq!(v["shared_records"], 3);
    assert_eq!(v["outbox_batches"], 0);
    assert!(v["last_sync"].is_string());
    // Statistics are published as releases: the hub cuts one (a running `siso-hub serve` does
    // so by itself once ingest is quiet), and the answer names it.
    assert_eq!(v["epoch"], 2026);
    let rel = hub.release(2026).await;
    let v = run_json(&data, &["stats", "--level", "zona"]);
    assert_eq!(v["level"], "zona");
    assert_eq!(v["release"]["id"], rel.meta.id);

    // serve: health and metrics, then SIGTERM.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let toml = std::fs::read_to_string(data.join("node.toml"))
        .unwrap()
        .replace(
            "listen = \"127.0.0.1:8090\"",
            &format!("listen = \"127.0.0.1:{port}\""),
        );
    std::fs::write(data.join("node.toml"), toml).unwrap();
    let web: std::net::SocketAddr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut child = bin()
        .arg("--data")
        .arg(&data)
        .args(["serve", "--web-listen", &web.to_string()])
        .spawn()
        .unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_for_tcp(addr, "siso-node serve").await;
    let (status, body) = http_get(addr, "/healthz", None).await;
    assert_eq!((status, body.trim()), (200, "ok"));
    // The operators' web app answers on its own address.
    wait_for_tcp(web, "the web app").await;
    let (status, body) = http_get(web, "/accesso", None).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("Nome utente") && body.contains("Comune di Perugia"),
        "{body}"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, body) = http_get(addr, "/metrics", None).await;
        if body.contains("siso_node_sync_rounds_total{outcome=\"ok\"} 1") {
            assert!(body.contains("siso_node_shared_records 3"), "{body}");
            break;
        }
        assert!(Instant::now() < deadline, "no sync round reported: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success());

    // An unreachable hub: exit 1 with a clear message; the outbox survives.
    hub.stop().await;
    let extra = dirs.path().join("i.csv");
    std::fs::write(
        &extra,
        "codice_fiscale;tipo_intervento;area_bisogno;data_inizio;data_fine;importo\nRSSMRA70C01G478R;mensa;poverta;2026-05-01;;0\n",
    )
    .unwrap();
    assert!(
        run(&data, &["import", "interventi", extra.to_str().unwrap()])
            .status
            .success()
    );
    let toml = std::fs::read_to_string(data.join("node.toml"))
        .unwrap()
        .replace("timeout_secs = 30", "timeout_secs = 2");
    std::fs::write(data.join("node.toml"), toml).unwrap();
    let out = run(&data, &["sync"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot reach the hub") && err.contains("wait in the outbox"),
        "{err}"
    );
    let v = run_json(&data, &["status", "--format", "json"]);
    assert_eq!(v["outbox_batches"], 1);
}

#[test]
fn third_sector_node_refuses_registry_imports() {
    let pki = Pki::new();
    let dirs = tempfile::tempdir().unwrap();
    let data = dirs.path().join("ets");
    let out = bin()
        .arg("--data")
        .arg(&data)
        .args(init_args(
            &pki,
            CARITAS,
            CARITAS,
            "127.0.0.1:4433".parse().unwrap(),
        ))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(
        &data,
        &[
            "import",
            "anagrafe",
            examples().join("anagrafe.csv").to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("third-sector nodes import only interventi and accessi"));
    let out = run(
        &data,
        &[
            "import",
            "interventi",
            examples().join("interventi.csv").to_str().unwrap(),
        ],
    );
    assert!(out.status.success());
    // Usage errors exit 2.
    let out = run(&data, &["import", "catasto", "x.csv"]);
    assert_eq!(out.status.code(), Some(2));
}

/// Runs `siso-node --data DIR ARGS` with `stdin` on standard input.
fn run_with_stdin(data: &Path, args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    let mut child = bin()
        .arg("--data")
        .arg(data)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A command that fails before it reads standard input closes the pipe: its exit status and
    // message are what the test checks, not the write.
    if let Err(e) = child.stdin.take().unwrap().write_all(stdin.as_bytes()) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    child.wait_with_output().unwrap()
}

#[test]
fn operators_accounts_from_the_command_line() {
    let pki = Pki::new();
    let dirs = tempfile::tempdir().unwrap();
    let data = dirs.path().join("pg");
    let addr = "127.0.0.1:9".parse().unwrap();
    drop(node(&pki, addr, PERUGIA, &data, 100));
    let add = |user: &str, role: &str, password: &str| {
        let args = [
            "user",
            "add",
            "--username",
            user,
            "--role",
            role,
            "--password-file",
            "-",
        ];
        run_with_stdin(&data, &args, password)
    };
    // Created from standard input; the trailing newline is not part of the password.
    let out = add(
        "m.rossi",
        "assistente_sociale",
        "una frase lunga e sicura\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // From a file.
    let pw = dirs.path().join("pw.txt");
    std::fs::write(&pw, "un'altra frase lunga\n").unwrap();
    let args = [
        "user",
        "add",
        "--username",
        "sportello1",
        "--role",
        "sportello",
    ];
    run_ok(
        bin()
            .arg("--data")
            .arg(&data)
            .args(args)
            .arg("--password-file")
            .arg(&pw),
    );
    // Refusals, each exit 1 with a reason: short password, taken name, bad name, a role this
    // node cannot have, an unknown role (a usage error: exit 2).
    for (user, role, password, reason, code) in [
        ("corto", "sportello", "breve\n", "between 12 and 128", 1),
        (
            "m.rossi",
            "sportello",
            "una frase lunga e sicura",
            "already exists",
            1,
        ),
        (
            "M Rossi",
            "sportello",
            "una frase lunga e sicura",
            "user name",
            1,
        ),
        (
            "ets1",
            "operatore_ets",
            "una frase lunga e sicura",
            "has no operatore_ets",
            1,
        ),
        (
            "x.y",
            "admin",
            "una frase lunga e sicura",
            "invalid value",
            2,
        ),
    ] {
        let out = add(user, role, password);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{user}: {err}");
        assert!(err.contains(reason), "{user}: {err}");
    }
    // Without a file and without a terminal, no silent empty password.
    let out = run_with_stdin(
        &data,
        &["user", "add", "--username", "a.b", "--role", "sportello"],
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    // Disable, re-enable, change role; the listing shows states and never a hash.
    for args in [
        &["user", "disable", "sportello1"][..],
        &["user", "set-role", "m.rossi", "responsabile"],
    ] {
        run_ok(bin().arg("--data").arg(&data).args(args));
    }
    let v = run_json(&data, &["user", "list", "--format", "json"]);
    let text = v.to_string();
    assert!(
        !text.contains("argon2") && !text.contains("frase"),
        "{text}"
    );
    assert_eq!(v[0]["username"], "m.rossi");
    assert_eq!(v[0]["role"], "responsabile");
    assert_eq!(v[1]["disabled"], true);
    run_ok(
        bin()
            .arg("--data")
            .arg(&data)
            .args(["user", "enable", "sportello1"]),
    );
    let v = run_json(&data, &["user", "list", "--format", "json"]);
    assert_eq!(v[1]["disabled"], false);
    let out = run(&data, &["user", "disable", "nobody"]);
    assert_eq!(out.status.code(), Some(1));
    // The web app over plain HTTP is refused off loopback.
    let out = run(&data, &["serve", "--web-listen", "0.0.0.0:0"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("plain HTTP is refused"), "{err}");
    // The audit trail: empty and intact, then broken by a changed record (exit 1).
    let v = run_json(&data, &["audit", "verify", "--format", "json"]);
    assert_eq!(v, serde_json::json!({"records": 0, "first_broken": null}));
    {
        use siso_node::audit::{Action, AuditTrail};
        let s = siso_node::store::Store::open(
            &data.join("store"),
            siso_node::store::OpenMode::Existing,
        )
        .unwrap();
        let trail = AuditTrail::open(&s).unwrap();
        for action in [Action::Accesso, Action::Uscita] {
            let rec = siso_node::store::AuditRecord {
                seq: 0,
                time: 0,
                user: "m.rossi".into(),
                role: "responsabile".into(),
                action: action.as_str().into(),
                persons: vec![],
                detail: String::new(),
                addr: "127.0.0.1".into(),
                prev: [0; 32],
            };
            trail.record(&s, rec).unwrap();
        }
    }
    let out = run(&data, &["audit", "verify"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 records, chain intact"));
    {
        let s = siso_node::store::Store::open(
            &data.join("store"),
            siso_node::store::OpenMode::Existing,
        )
        .unwrap();
        s.audit_tamper(0, b"garbage").unwrap();
    }
    let out = run(&data, &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("broken at record 0"));
    // While another process holds the store (serve), a clear refusal.
    let held =
        siso_node::store::Store::open(&data.join("store"), siso_node::store::OpenMode::Existing)
            .unwrap();
    let out = run(&data, &["user", "list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("in use by another process"));
    drop(held);
}
