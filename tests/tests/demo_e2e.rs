//! The demo's flow on a small population, through the same code as `siso-demo`: the hub finds
//! exactly the planted overlaps, double economic supports and unsupported needs; the published
//! statistics equal the truth; and no codice fiscale, name or address of the synthetic
//! population appears anywhere in the hub's data directory or its log.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use siso_tests::demo::{self, DemoOptions};
use siso_tests::harness::{assert_absent_below, http_call};
use siso_tests::synth::SynthOptions;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_flow_finds_what_was_planted_and_leaks_nothing() {
    let dir = tempfile::tempdir().unwrap();
    demo::install_logging(&dir.path().join("hub").join("hub.log")).unwrap();
    let opts = DemoOptions {
        dir: dir.path().to_owned(),
        synth: SynthOptions {
            scale: 400,
            ..SynthOptions::default()
        },
        http: "127.0.0.1:0".parse().unwrap(),
        concurrency: 8,
        web: "127.0.0.1:0".parse().unwrap(),
        shared_key: false,
    };
    let d = demo::run(&opts, |_| {}).await.unwrap();
    let s = &d.summary;
    assert_eq!(s.members, 94);
    assert!(
        s.overlaps_planted > 0
            && s.double_economic_support_planted > 0
            && s.unsupported_need_planted > 0,
        "{s:?}"
    );
    assert_eq!(s.overlaps_found, s.overlaps_planted, "{s:?}");
    assert_eq!(
        s.double_economic_support_found, s.double_economic_support_planted,
        "{s:?}"
    );
    assert_eq!(
        s.unsupported_need_found, s.unsupported_need_planted,
        "{s:?}"
    );

    // The demo published a release, and it is what the hub serves.
    let rel = d.hub.hub.release_for(d.truth.epoch, None).unwrap();
    assert_eq!(rel.meta.id, s.release.id);
    assert_eq!(rel.meta.digest_hex(), s.release.digest);
    // Every sensitive withheld cell of the release (small counts, and the amounts spent on
    // them) was proven protected, and a fresh audit of its suppression (nothing carried over
    // from the protection loop) agrees.
    let report = &rel.meta.report;
    let t = &rel.cube.table;
    let withheld = &rel.cube.protection.suppression.suppressed;
    let sensitive = t.sensitive();
    let must = (0..t.len())
        .filter(|&c| sensitive[c] && withheld[c])
        .count();
    assert!(must > 0 && must <= report.suppressed, "{report:?}");
    assert_eq!(report.proven, must, "{report:?}");
    let mut auditor = siso_hub::disclosure::Auditor::new(t).unwrap();
    let fresh = auditor
        .run(withheld, siso_hub::disclosure::Mode::Sufficient)
        .unwrap();
    // Cells the quick proofs leave open are decided on their whole component.
    let open = fresh.unprotected(t);
    let decided = auditor.decide(withheld, &open).unwrap();
    assert_eq!(decided.len(), open.len());
    let exposed: Vec<_> = decided
        .iter()
        .filter(|(c, iv)| !iv.protects(t.is_count(*c), t.k))
        .collect();
    assert!(
        exposed.is_empty(),
        "{} exposed: {:?}",
        exposed.len(),
        &exposed[..exposed.len().min(5)]
    );
    // Published statistics equal the truth; on a population this sparse (one person in 400)
    // disclosure control may withhold even Region totals, never publish a wrong one.
    let req = siso_hub::stats::Request::total(d.truth.epoch, siso_shared::wire::Level::Region);
    let doc = siso_hub::release::to_json(&rel, &req);
    let row = &doc["rows"][0];
    for (measure, truth) in [
        ("accessi", d.truth.accessi),
        ("households_supported", d.truth.households_supported_comuni),
        ("unsupported_need", d.truth.unsupported_need_planted),
    ] {
        assert!(
            row[measure].is_null() || row[measure] == truth,
            "{measure}: {row}"
        );
    }
    // Every table the API serves is cut from that release and names it.
    let token = format!("Bearer {}", d.token);
    let auth = [("Authorization", token.as_str())];
    for path in [
        format!(
            "/api/stats?level=comune&by=area_bisogno&epoch={}",
            d.truth.epoch
        ),
        format!("/api/stats.csv?level=zona&epoch={}", d.truth.epoch),
        format!("/api/public/summary?epoch={}", d.truth.epoch),
        format!("/?epoch={}", d.truth.epoch),
    ] {
        let (status, head, body) = http_call(d.hub.http_addr, "GET", &path, &auth, "").await;
        assert_eq!(status, 200, "{path}: {body}");
        assert!(
            head.to_lowercase().contains(&format!(
                "siso-release: {}; period={}; digest={}",
                rel.meta.id,
                d.truth.epoch,
                rel.meta.digest_hex()
            )),
            "{path}: {head}"
        );
    }
    let (_, _, body) = http_call(
        d.hub.http_addr,
        "GET",
        &format!("/api/stats?level=region&epoch={}", d.truth.epoch),
        &auth,
        "",
    )
    .await;
    let api: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(api["rows"], doc["rows"]);

    // The operators' web app of Perugia: each demo account logs in with its printed password,
    // and the social worker finds persons of the synthetic anagrafe.
    assert_eq!(s.web_accounts.len(), 3);
    let web: std::net::SocketAddr = s
        .web_url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let mut cookie = String::new();
    for a in &s.web_accounts {
        let body = serde_json::json!({"username": a.username, "password": a.password}).to_string();
        let json = [("Content-Type", "application/json")];
        let (status, head, reply) = http_call(web, "POST", "/api/v1/sessione", &json, &body).await;
        assert_eq!(status, 200, "{}: {reply}", a.username);
        let v: serde_json::Value = serde_json::from_str(&reply).unwrap();
        assert_eq!(v["ruolo"], a.ruolo.as_str());
        if a.ruolo == "assistente_sociale" {
            cookie = head
                .lines()
                .find_map(|l| l.strip_prefix("set-cookie: "))
                .and_then(|c| c.split(';').next())
                .unwrap()
                .to_owned();
        }
    }
    let surname = std::fs::read_to_string(dir.path().join("data/054039/anagrafe.csv"))
        .unwrap()
        .lines()
        .nth(1)
        .and_then(|l| l.split(';').nth(1))
        .unwrap()
        .to_owned();
    let path = format!("/api/v1/persone?q={}", surname.replace(' ', "%20"));
    let (status, _, reply) = http_call(web, "GET", &path, &[("Cookie", &cookie)], "").await;
    assert_eq!(status, 200, "{reply}");
    let v: serde_json::Value = serde_json::from_str(&reply).unwrap();
    assert!(!v["rows"].as_array().unwrap().is_empty(), "{surname}: {v}");

    d.shutdown.cancel();
    d.hub.done.await.unwrap();

    // Every codice fiscale, surname and address of the population, scanned for in every byte of
    // the hub's directory (store and log).
    let mut needles: BTreeSet<String> = BTreeSet::new();
    for member in &d.truth.members {
        for file in ["anagrafe.csv", "interventi.csv"] {
            let p = dir.path().join("data").join(member).join(file);
            let Ok(text) = std::fs::read_to_string(&p) else {
                continue;
            };
            for line in text.lines().skip(1) {
                let f: Vec<&str> = line.split(';').collect();
                if f[0].len() == 16 {
                    needles.insert(f[0].to_owned());
                }
                if file == "anagrafe.csv" {
                    needles.insert(format!("{} {}", f[1], f[2]));
                    needles.insert(f[8].to_owned());
                    if f[1].len() >= 6 {
                        needles.insert(f[1].to_owned());
                    }
                }
            }
        }
    }
    assert!(needles.len() > 500, "too few needles: {}", needles.len());
    let log = std::fs::read_to_string(d.hub_dir.join("hub.log")).unwrap();
    assert!(
        log.contains("request served") || log.contains("hub serving"),
        "the hub log is empty"
    );
    assert!(assert_absent_below(&d.hub_dir, &needles) > 10_000);
}

/// The same population through the key services and through the shared key: the hub finds the
/// same overlaps, double supports and unsupported needs, and the nodes share the same number of
/// households (only the fingerprints differ).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_services_and_shared_key_find_the_same() {
    let mut found = Vec::new();
    for shared_key in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let opts = DemoOptions {
            dir: dir.path().to_owned(),
            synth: SynthOptions {
                scale: 1000,
                ..SynthOptions::default()
            },
            http: "127.0.0.1:0".parse().unwrap(),
            concurrency: 8,
            web: "127.0.0.1:0".parse().unwrap(),
            shared_key,
        };
        let d = demo::run(&opts, |_| {}).await.unwrap();
        let s = d.summary.clone();
        assert_eq!(
            s.fingerprint_scheme,
            if shared_key { "shared-key" } else { "oprf" }
        );
        assert_eq!(s.fingerprints_evaluated > 0, !shared_key, "{s:?}");
        // No fingerprint secret was written anywhere with the key services.
        let secrets: Vec<_> = siso_tests::harness::files_under(dir.path())
            .into_iter()
            .filter(|f| f.file_name().is_some_and(|n| n == "fingerprint.key"))
            .collect();
        assert_eq!(secrets.is_empty(), !shared_key, "{secrets:?}");
        found.push((
            s.households_shared,
            s.overlaps_found,
            s.double_economic_support_found,
            s.unsupported_need_found,
        ));
        d.shutdown.cancel();
        d.hub.done.await.unwrap();
        if let Some(k) = d.keyd {
            k.stop().await;
        }
    }
    assert_eq!(found[0], found[1]);
    assert!(found[0].1 > 0, "{found:?}");
}
