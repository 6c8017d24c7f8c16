//! The `siso-keyd` binary: `deal` (files, modes, the verification keys, no second dealing into
//! the same directory), `init` (a configuration that reads back, bad shares refused), `serve`
//! answering a node over QUIC, `usage` after it stopped, `--version`.

#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_siso-keyd"))
}

fn ok(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn deal_init_and_usage() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("2026");
    let o = ok(bin()
        .args(["deal", "--epoch", "2026", "--format", "json", "--out"])
        .arg(&out));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["epoch"], 2026);
    assert_eq!(v["shares"].as_array().unwrap().len(), 3);
    for i in 1..=3 {
        let p = out.join(format!("share-{i}.key"));
        assert_eq!(mode(&p), 0o600, "{}", p.display());
        siso_keyd::shares::load_share(&p).unwrap();
    }
    let keys = siso_keyd::shares::load_verification(&out.join("verification.toml")).unwrap();
    assert_eq!(
        (keys.epoch, keys.threshold, keys.shares.len()),
        (2026, 2, 3)
    );
    assert_eq!(keys.group_key, v["group_key"]);
    // The whole key is nowhere: the group key is public, the files hold shares only.
    let text = std::fs::read_to_string(out.join("share-1.key")).unwrap();
    assert!(text.contains("SECRET") && !text.contains(&keys.group_key));
    // An epoch is dealt once per directory.
    let again = bin()
        .args(["deal", "--epoch", "2026", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds share files"));
    // A threshold above the shares is refused.
    let bad = bin()
        .args([
            "deal",
            "--epoch",
            "2026",
            "--shares",
            "2",
            "--threshold",
            "3",
            "--out",
        ])
        .arg(dir.path().join("bad"))
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));

    // init: a configuration that reads back; a corrupt share file is refused.
    let pki = dir.path().join("pki");
    siso_certs_dev::init(
        &pki,
        &siso_certs_dev::InitOptions {
            comuni: vec!["054039".into()],
            ets: vec![],
            region: vec![],
            ..Default::default()
        },
        time::OffsetDateTime::now_utc(),
    )
    .unwrap();
    let data = dir.path().join("keyd-1");
    let init = |share: &Path| {
        bin()
            .args(["init", "--data"])
            .arg(&data)
            .arg("--ca-dir")
            .arg(pki.join("ca"))
            .arg("--cert")
            .arg(pki.join("keyd/keyd-1/cert.pem"))
            .arg("--key")
            .arg(pki.join("keyd/keyd-1/key.pem"))
            .arg("--share")
            .arg(share)
            .output()
            .unwrap()
    };
    let corrupt = dir.path().join("corrupt.key");
    std::fs::write(
        &corrupt,
        "epoch = 2026\nindex = 1\nthreshold = 2\nshares = 3\nkey = \"zz\"\n",
    )
    .unwrap();
    let o = init(&corrupt);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("corrupt.key"));
    let o = init(&out.join("share-1.key"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let cfg = siso_keyd::config::KeydConfig::load(&data.join("keyd.toml")).unwrap();
    assert_eq!(cfg.quota.per_resident, 2);
    let text = std::fs::read_to_string(data.join("keyd.toml")).unwrap();
    let share_text = std::fs::read_to_string(out.join("share-1.key")).unwrap();
    let share_hex = share_text
        .lines()
        .find_map(|l| l.strip_prefix("key = \""))
        .unwrap()
        .trim_end_matches('"');
    assert!(
        !text.contains("BEGIN") && !text.contains(share_hex),
        "keys and shares are referenced by path, never copied"
    );
    // Unknown fields are refused.
    std::fs::write(data.join("bad.toml"), format!("{text}\ntypo = 1\n")).unwrap();
    assert!(siso_keyd::config::KeydConfig::load(&data.join("bad.toml")).is_err());

    // usage on a store that exists (created by a first start) reads it.
    let store =
        siso_keyd::store::Store::open(&data.join("store"), siso_keyd::store::OpenMode::Create)
            .unwrap();
    store
        .charge(2026, &"054039".parse().unwrap(), 7, 100)
        .unwrap();
    drop(store);
    let o = ok(bin()
        .args(["usage", "--format", "json", "--config"])
        .arg(data.join("keyd.toml")));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["member"], "054039");
    assert_eq!(v[0]["used"], 7);
    assert!(v[0]["limit"].as_u64().unwrap() > 100_000);
}

#[test]
fn budget_is_charged_before_and_refusals_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        siso_keyd::store::Store::open(dir.path(), siso_keyd::store::OpenMode::Create).unwrap();
    let m = "ets-caritas-perugia".parse().unwrap();
    use siso_keyd::store::Charge;
    assert!(matches!(store.charge(2026, &m, 6, 10).unwrap(), Charge::Granted(u) if u.used == 6));
    assert!(
        matches!(store.charge(2026, &m, 5, 10).unwrap(), Charge::Refused(u) if u.used == 6 && u.refused == 1)
    );
    assert!(matches!(store.charge(2026, &m, 4, 10).unwrap(), Charge::Granted(u) if u.used == 10));
    // Another epoch has its own budget.
    assert!(matches!(
        store.charge(2027, &m, 10, 10).unwrap(),
        Charge::Granted(_)
    ));
    drop(store);
    // Durable: a reopened store has the counts.
    let store =
        siso_keyd::store::Store::open(dir.path(), siso_keyd::store::OpenMode::Existing).unwrap();
    let u = store.usage(2026, &m).unwrap();
    assert_eq!((u.used, u.refused), (10, 1));
    // Budgets: a Comune's follows its population, an ETS has the ETS budget, a Region none.
    let q = siso_keyd::config::Quota::default();
    assert_eq!(q.budget(&m), Some(20_000));
    let perugia = q.budget(&"054039".parse().unwrap()).unwrap();
    let tiny = q.budget(&"054055".parse().unwrap()).unwrap();
    assert!(perugia > 300_000 && tiny >= q.comune_minimum && tiny < perugia);
    assert_eq!(q.budget(&"region-umbria".parse().unwrap()), None);
}

#[test]
fn version_names_the_git_revision() {
    let out = bin().arg("--version").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with(&format!("siso-keyd {} (", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
}
