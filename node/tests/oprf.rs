//! `siso-node sync` through the key services, end to end over real QUIC: fingerprints from two
//! of three `siso-keyd` instances, no fingerprint secret anywhere in the node's directory, one
//! service down is tolerated, two down fail the sync cleanly with nothing lost, routine syncs
//! spend no budget, a member over budget is refused (and counted), and the hub refuses to mix
//! fingerprint schemes within an epoch.

#![allow(clippy::unwrap_used)]

#[path = "../../tests/src/harness.rs"]
mod harness;
#[path = "../../tests/src/keyd.rs"]
mod keyd;

use std::path::Path;
use std::process::{Command, Output};

use harness::*;
use keyd::KeyServices;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_siso-node"))
}

fn run(data: &Path, args: &[&str]) -> Output {
    bin().arg("--data").arg(data).args(args).output().unwrap()
}

fn init_oprf(pki: &Pki, member: &str, hub: std::net::SocketAddr, k: &KeyServices, data: &Path) {
    let d = pki.layout.member_dir(&member.parse().unwrap());
    let mut cmd = bin();
    cmd.arg("--data").arg(data).args([
        "init",
        "--member",
        member,
        "--hub",
        &hub.to_string(),
        "--epoch",
        "2026",
    ]);
    cmd.arg("--ca").arg(pki.ca_pem());
    cmd.arg("--cert").arg(d.join("cert.pem"));
    cmd.arg("--key").arg(d.join("key.pem"));
    cmd.arg("--oprf-verification").arg(&k.verification);
    for s in k.oprf_config().services {
        cmd.arg("--keyd")
            .arg(format!("{}:{}@{}", s.share, s.name, s.address));
    }
    run_ok(&mut cmd);
    // A stopped service is found out at the handshake timeout: keep it short here.
    let toml = std::fs::read_to_string(data.join("node.toml")).unwrap();
    let (head, oprf) = toml.split_once("[oprf]").unwrap();
    let toml = format!(
        "{head}[oprf]{}",
        oprf.replacen("timeout_secs = 30\n", "timeout_secs = 3\n", 1)
    );
    assert!(toml.contains("timeout_secs = 3\n"), "{toml}");
    std::fs::write(data.join("node.toml"), toml).unwrap();
}

fn import(data: &Path, dir: &Path, families: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let (a, i) = write_registry_csvs(dir, families);
    for (kind, f) in [("anagrafe", &a), ("interventi", &i)] {
        run_ok(bin().arg("--data").arg(data).args(["import", kind]).arg(f));
    }
}

fn sync_json(data: &Path) -> serde_json::Value {
    let out = run_ok(
        bin()
            .arg("--data")
            .arg(data)
            .args(["sync", "--format", "json"]),
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn persons(families: usize) -> u64 {
    (0..families).map(|f| 1 + (f % 3) as u64).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_through_two_of_three_key_services() {
    let (pki, dirs, hub) = fresh_hub().await;
    let mut quota = siso_keyd::config::Quota::default();
    quota.members.insert(TERNI.into(), 5);
    let mut k = KeyServices::start(&pki.layout, &dirs.path().join("keyd"), 2026, quota)
        .await
        .unwrap();

    // Perugia: two key services evaluate every person of the shared households.
    let data = dirs.path().join("perugia");
    init_oprf(&pki, PERUGIA, hub.addr(), &k, &data);
    let toml = std::fs::read_to_string(data.join("node.toml")).unwrap();
    assert!(
        toml.contains("[oprf]") && !toml.contains("fingerprint_key ="),
        "{toml}"
    );
    import(&data, dirs.path(), 30);
    let v = sync_json(&data);
    assert_eq!(v["shared"], 30, "{v}");
    assert_eq!(v["fingerprints_evaluated"], persons(30), "{v}");
    let used = |k: &KeyServices, i: usize| {
        k.service(i).map(|s| {
            s.store()
                .usage(2026, &PERUGIA.parse().unwrap())
                .unwrap()
                .used
        })
    };
    // Two services (the first two to answer) evaluated every person once; the third nothing.
    let total = |k: &KeyServices| (0..3).filter_map(|i| used(k, i)).sum::<u64>();
    let mut each: Vec<u64> = (0..3).filter_map(|i| used(&k, i)).collect();
    each.sort_unstable();
    assert_eq!(each, vec![0, persons(30), persons(30)]);
    // The operator sees the budget at each service.
    let out = run_ok(bin().arg("--data").arg(&data).arg("budget"));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.len(), 3);
    assert!(
        rows.iter().all(|r| r["limit"].as_u64().unwrap() > 300_000),
        "{rows:?}"
    );
    let spent: u64 = rows.iter().map(|r| r["used"].as_u64().unwrap()).sum();
    assert_eq!(spent, 2 * persons(30));
    // A routine sync (and a re-import of the same registry) spends no budget.
    import(&data, dirs.path(), 30);
    let v = sync_json(&data);
    assert_eq!(
        (&v["fingerprints_evaluated"], &v["fingerprints_cached"]),
        (&serde_json::json!(0), &serde_json::json!(persons(30))),
        "{v}"
    );
    assert_eq!(total(&k), 2 * persons(30));

    // No fingerprint secret anywhere in the node's directory: no key file, and none of the
    // three shares' key material in any byte of any file (store, config, logs).
    let mut needles = Vec::new();
    for p in std::fs::read_dir(dirs.path().join("keyd/dealt")).unwrap() {
        let p = p.unwrap().path();
        if p.extension().is_some_and(|e| e == "key") {
            let text = std::fs::read_to_string(&p).unwrap();
            let hexkey = text
                .lines()
                .find_map(|l| l.strip_prefix("key = \""))
                .unwrap()
                .trim_end_matches('"')
                .to_owned();
            needles.push(hex::decode(&hexkey).unwrap());
            needles.push(hexkey.into_bytes());
        }
    }
    assert_eq!(needles.len(), 6);
    for f in files_under(&data) {
        assert!(
            !f.file_name()
                .unwrap()
                .to_string_lossy()
                .contains("fingerprint"),
            "{}",
            f.display()
        );
        let bytes = std::fs::read(&f).unwrap();
        for n in &needles {
            assert!(
                !bytes.windows(n.len()).any(|w| w == n.as_slice()),
                "key material in {}",
                f.display()
            );
        }
    }

    // One service stopped: the other two evaluate.
    k.stop_one(0).await;
    import(&data, dirs.path(), 40);
    let v = sync_json(&data);
    assert_eq!(v["shared"], 40, "{v}");
    assert_eq!(
        v["fingerprints_evaluated"],
        persons(40) - persons(30),
        "{v}"
    );

    // Two stopped: the sync fails with a clear message, nothing is sent or lost.
    k.stop_one(1).await;
    import(&data, dirs.path(), 50);
    let out = run(&data, &["sync"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("only 1 of 3 key services reachable, 2 needed"),
        "{err}"
    );
    let status: serde_json::Value =
        serde_json::from_slice(&run(&data, &["status", "--format", "json"]).stdout).unwrap();
    assert_eq!(
        (&status["shared_records"], &status["outbox_batches"]),
        (&serde_json::json!(40), &serde_json::json!(0)),
        "{status}"
    );
    k.start_one(0).await.unwrap();
    let v = sync_json(&data);
    assert_eq!(v["shared"], 50, "{v}");
    assert_eq!(v["hub_records"], 50, "{v}");

    // Epoch rollover: the cache of 2026 is wiped at the first sync of 2027 (here the services
    // hold no 2027 share yet, so that sync fails cleanly — and the cache is gone all the same).
    let pseudonyms = |data: &Path| {
        let st = siso_node::store::Store::open(
            &data.join("store"),
            siso_node::store::OpenMode::Existing,
        )
        .unwrap();
        st.count(siso_node::store::Kind::Pseudonym).unwrap()
    };
    assert_eq!(pseudonyms(&data), persons(50) as usize);
    let dealt = siso_keyd::shares::deal(2027, 3, 2, &dirs.path().join("dealt-2027")).unwrap();
    let toml = std::fs::read_to_string(data.join("node.toml")).unwrap();
    let toml = toml.replace("epoch = 2026", "epoch = 2027").replace(
        &k.verification.display().to_string(),
        &dealt.verification.display().to_string(),
    );
    std::fs::write(data.join("node.toml"), toml).unwrap();
    let out = run(&data, &["sync"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no share for epoch 2027"), "{err}");
    assert_eq!(pseudonyms(&data), 0);

    // Over budget: refused with a clear message, and counted by the service.
    let terni = dirs.path().join("terni");
    init_oprf(&pki, TERNI, hub.addr(), &k, &terni);
    import(&terni, &dirs.path().join("terni-files"), 10);
    let out = run(&terni, &["sync"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("over_budget") && err.contains("budget of 5"),
        "{err}"
    );
    let refused: u64 = [0, 2]
        .iter()
        .filter_map(|&i| k.service(i))
        .map(|s| s.metrics.refusals("over_budget"))
        .sum();
    assert!(refused >= 1, "refusals counted: {refused}");
    let stored: u64 = [0, 2]
        .iter()
        .filter_map(|&i| k.service(i))
        .map(|s| {
            s.store()
                .usage(2026, &TERNI.parse().unwrap())
                .unwrap()
                .refused
        })
        .sum();
    assert!(stored >= 1);
    let (_, body) = http_get(k.configs[0].http, "/metrics", None).await;
    assert!(
        body.contains("siso_keyd_refusals_total{reason=\"over_budget\"}")
            && body.contains(&format!(
                "siso_keyd_budget_used{{epoch=\"2026\",member=\"{PERUGIA}\"}}"
            )),
        "{body}"
    );

    // A shared-key node in the same epoch is refused by the hub: schemes never mix.
    let assisi = dirs.path().join("assisi");
    let d = pki.layout.member_dir(&ASSISI.parse().unwrap());
    let mut cmd = bin();
    cmd.arg("--data").arg(&assisi).args([
        "init",
        "--member",
        ASSISI,
        "--hub",
        &hub.addr().to_string(),
        "--epoch",
        "2026",
    ]);
    cmd.arg("--ca").arg(pki.ca_pem());
    cmd.arg("--cert").arg(d.join("cert.pem"));
    cmd.arg("--key").arg(d.join("key.pem"));
    cmd.arg("--fingerprint-key")
        .arg(pki.layout.fingerprint_key());
    run_ok(&mut cmd);
    import(&assisi, &dirs.path().join("assisi-files"), 3);
    let out = run(&assisi, &["sync"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not mix fingerprint schemes"), "{err}");

    k.stop().await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_services_refuse_wrong_roles_and_malformed_requests() {
    use siso_shared::oprf::wire::{self as owire, KeyReply, KeyRequest};
    let pki = Pki::new();
    let dirs = tempfile::tempdir().unwrap();
    let k = KeyServices::start(
        &pki.layout,
        dirs.path(),
        2026,
        siso_keyd::config::Quota::default(),
    )
    .await
    .unwrap();
    let addr = k.configs[0].listen;
    let ask = |member: &'static str, frame: Vec<u8>| {
        let mut tls = pki.tls(member);
        tls.alpn = vec![owire::ALPN.to_vec()];
        async move {
            let (ep, conn) =
                siso_node::client::dial(addr, "keyd-1", tls, std::time::Duration::from_secs(5))
                    .await
                    .unwrap();
            let r =
                siso_node::client::exchange(&conn, &frame, std::time::Duration::from_secs(5)).await;
            conn.close(0u32.into(), b"");
            ep.wait_idle().await;
            r
        }
    };
    let budget = owire::encode(&KeyRequest::Budget {
        version: owire::OPRF_PROTOCOL_VERSION,
        epoch: 2026,
    })
    .unwrap();
    let reply = |b: Vec<u8>| owire::decode_reply(&b[4..]).unwrap();
    // A Comune may ask; a Region analyst identity may not.
    assert!(
        matches!(reply(ask(PERUGIA, budget.clone()).await.unwrap()), KeyReply::Budget(b) if b.limit > 0)
    );
    match reply(ask(REGION, budget.clone()).await.unwrap()) {
        KeyReply::Error(e) => assert_eq!(e.code, siso_shared::wire::ErrorCode::Forbidden),
        other => panic!("{other:?}"),
    }
    // A malformed frame and an epoch without a share.
    let mut bad = budget.clone();
    bad[7] = 9;
    match reply(ask(PERUGIA, bad).await.unwrap()) {
        KeyReply::Error(e) => assert_eq!(e.code, siso_shared::wire::ErrorCode::Malformed),
        other => panic!("{other:?}"),
    }
    let other_epoch = owire::encode(&KeyRequest::Evaluate {
        version: owire::OPRF_PROTOCOL_VERSION,
        body: owire::Evaluate {
            epoch: 2027,
            set: vec![1, 2],
            blinded: vec![siso_shared::oprf::Element([1; 32])],
        },
    })
    .unwrap();
    match reply(ask(PERUGIA, other_epoch).await.unwrap()) {
        KeyReply::Error(e) => assert_eq!(e.code, siso_shared::wire::ErrorCode::Unavailable),
        other => panic!("{other:?}"),
    }
    // An element that is not a group element is refused, not evaluated.
    let junk = owire::encode(&KeyRequest::Evaluate {
        version: owire::OPRF_PROTOCOL_VERSION,
        body: owire::Evaluate {
            epoch: 2026,
            set: vec![1, 2],
            blinded: vec![siso_shared::oprf::Element([0xff; 32])],
        },
    })
    .unwrap();
    match reply(ask(PERUGIA, junk).await.unwrap()) {
        KeyReply::Error(e) => {
            assert_eq!(e.code, siso_shared::wire::ErrorCode::Malformed);
            assert!(e.message.contains("element 0"), "{}", e.message);
        }
        other => panic!("{other:?}"),
    }
    // The hub's ALPN is refused at the handshake; the hub's certificate is not a client's.
    let mut tls = pki.tls(PERUGIA);
    tls.alpn = vec![siso_shared::wire::ALPN.to_vec()];
    let r = siso_node::client::dial(addr, "keyd-1", tls, std::time::Duration::from_secs(5)).await;
    assert!(r.is_err(), "the hub's ALPN must be refused");
    k.stop().await;
}
