//! The *Piani di zona* view of the hub, end to end over real QUIC and HTTP: the overlap rate per
//! Comune, zona and Region against planted truth (overlaps with third-sector entities and
//! between Comuni of one zona count), and named accounts made with the `siso-hub` binary — an
//! `ufficio_di_piano` of zona 3 reads its own Comuni and is refused (403, in the message log)
//! on another zona's, API tokens and the analysts' shared token are revoked while the hub runs,
//! a disabled account cannot log in, and a browser session logs out only with its CSRF token.

#![allow(clippy::unwrap_used)]

#[path = "../../tests/src/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};
use std::process::Command;

use harness::*;
use siso_shared::wire::{
    BatchId, HouseholdRecord, InterventionSummary, Message, RecordFlags, Scheme, SubmitBatch,
};
use siso_shared::{Fingerprint, TipoIntervento};
use time::macros::date;

const BASTIA: &str = "054002"; // zona 3, like Assisi

fn hub_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_siso-hub"))
}

fn pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let opts = siso_certs_dev::InitOptions {
        comuni: vec![PERUGIA.into(), ASSISI.into(), BASTIA.into()],
        shared_key: true,
        ..siso_certs_dev::InitOptions::default()
    };
    siso_certs_dev::init(dir.path(), &opts, time::OffsetDateTime::now_utc()).unwrap();
    let layout = siso_certs_dev::Layout {
        root: dir.path().to_owned(),
    };
    Pki { dir, layout }
}

/// One supported household: key `(tag, i)`, one person `(person tag, i)`.
fn household(tag: u8, i: u8, person: (u8, u8), kind: TipoIntervento) -> HouseholdRecord {
    let fp = |a: u8, b: u8| {
        let mut f = [0u8; 32];
        f[0] = a;
        f[1] = b;
        Fingerprint(f)
    };
    HouseholdRecord {
        key: fp(tag, i),
        persons: vec![fp(person.0, person.1)],
        interventions: vec![InterventionSummary {
            kind,
            start: date!(2026 - 02 - 01),
            end: Some(date!(2026 - 10 - 31)),
        }],
        flags: RecordFlags::default(),
    }
}

/// Persons: Assisi's 1..=20 (tag 1), Bastia's own 1..=10 (tag 2), Perugia's 1..=12 (tag 3),
/// the Caritas's own 1..=5 (tag 4).
/// - Assisi supports its 20; Bastia its 10 and Assisi's persons 11..=15 (same zona);
/// - Perugia supports its 12;
/// - the Caritas supports Assisi's persons 1..=6, Perugia's 1..=8 and its own 5.
async fn plant(hub: &TestHub, pki: &Pki) {
    use TipoIntervento::*;
    let submit = |member: &'static str, add: Vec<HouseholdRecord>| async move {
        let (c, _) = hub.connect(pki, member).await.unwrap();
        let r = c
            .call(&Message::SubmitBatch(SubmitBatch {
                member: member.parse().unwrap(),
                epoch: 2026,
                batch_id: BatchId([7; 16]),
                scheme: Scheme::SharedKey,
                snapshot: true,
                add,
                remove: vec![],
            }))
            .await
            .unwrap();
        assert!(matches!(r, Message::Ack(_)), "{r:?}");
        c.close().await;
    };
    submit(
        ASSISI,
        (1..=20)
            .map(|i| household(10, i, (1, i), ContributoEconomico))
            .collect(),
    )
    .await;
    submit(
        BASTIA,
        (1..=10)
            .map(|i| household(20, i, (2, i), AssistenzaDomiciliare))
            .chain((11..=15).map(|i| household(21, i, (1, i), AssistenzaDomiciliare)))
            .collect(),
    )
    .await;
    submit(
        PERUGIA,
        (1..=12)
            .map(|i| household(30, i, (3, i), SostegnoAffitto))
            .collect(),
    )
    .await;
    submit(
        CARITAS,
        (1..=6)
            .map(|i| household(40, i, (1, i), PaccoAlimentare))
            .chain((1..=8).map(|i| household(41, i, (3, i), PaccoAlimentare)))
            .chain((1..=5).map(|i| household(42, i, (4, i), Mensa)))
            .collect(),
    )
    .await;
}

/// The planted truth: (unit as the API labels it, distinct supported households, households
/// also supported by another member).
const TRUTH: [(&str, u64, u64); 7] = [
    ("comune:054001", 20, 11), // Assisi: 6 with the Caritas, 5 with Bastia
    ("comune:054002", 15, 5),  // Bastia: the 5 shared with Assisi
    ("comune:054039", 12, 8),  // Perugia: 8 with the Caritas
    ("comune:ets-caritas-perugia", 19, 14),
    ("zona:3", 30, 11), // Assisi's 20 and Bastia's own 10; 6 + 5 shared
    ("zona:2", 12, 8),
    ("region", 47, 19),
];

fn unit_of(row: &serde_json::Value, level: &str) -> String {
    match level {
        "comune" => format!("comune:{}", row["comune"].as_str().unwrap()),
        "zona" => format!("zona:{}", row["zona"]),
        _ => "region".into(),
    }
}

async fn json(hub: &TestHub, path: &str, token: &str) -> serde_json::Value {
    let (st, body) = hub.http_get(path, Some(token)).await;
    assert_eq!(st, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn siso_hub(args: &[&str]) -> std::process::Output {
    let out = Command::new(hub_bin()).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "siso-hub {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn write_config(hub: &TestHub) -> PathBuf {
    let p = hub.data.join("hub.toml");
    std::fs::write(&p, hub.cfg.render().unwrap()).unwrap();
    p
}

fn password_file(dir: &Path, name: &str, pw: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, format!("{pw}\n")).unwrap();
    p.display().to_string()
}

/// The message-log lines of one caller: (kind, outcome).
fn logged(hub: &TestHub, who: &str) -> Vec<(String, String)> {
    hub.running
        .hub
        .store()
        .audit_iter()
        .map(Result::unwrap)
        .filter(|r| r.member == who)
        .map(|r| (r.kind, r.outcome))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn overlap_rate_and_named_accounts() {
    let pki = pki();
    let dirs = tempfile::tempdir().unwrap();
    let hub = start_hub(&pki, &dirs.path().join("hub")).await;
    plant(&hub, &pki).await;
    hub.release(2026).await;
    let analyst = hub.token.clone();

    // The overlap rate: every unit's figures equal the planted truth (none is small, so none
    // is withheld), and the rate is shared ÷ distinct.
    let mut seen = 0;
    for level in ["comune", "zona", "region"] {
        let v = json(
            &hub,
            &format!("/api/stats?level={level}&epoch=2026"),
            &analyst,
        )
        .await;
        for row in v["rows"].as_array().unwrap() {
            let unit = unit_of(row, level);
            let Some((_, distinct, shared)) = TRUTH.iter().find(|t| t.0 == unit) else {
                continue;
            };
            assert_eq!(row["households_supported_distinct"], *distinct, "{unit}");
            assert_eq!(row["households_shared"], *shared, "{unit}");
            let rate = (*shared as f64 / *distinct as f64 * 10_000.0).round() / 10_000.0;
            assert_eq!(row["overlap_rate"].as_f64(), Some(rate), "{unit}");
            seen += 1;
        }
    }
    assert_eq!(seen, TRUTH.len(), "every planted unit has a row");
    // The dashboard shows zona 3's rate (36,7 %), not 0.
    let (st, page) = hub.http_get("/?epoch=2026", Some(&analyst)).await;
    assert_eq!(st, 200);
    assert!(
        page.contains("data-value=\"0.3667\""),
        "zona 3's rate on the dashboard"
    );

    // Named accounts, made with the binary while the hub runs.
    let config = write_config(&hub);
    let config = config.to_str().unwrap();
    let pw = password_file(dirs.path(), "pw", "ufficio di piano zona 3");
    siso_hub(&[
        "user",
        "add",
        "--config",
        config,
        "--username",
        "zona3",
        "--role",
        "ufficio_di_piano",
        "--zona",
        "3",
        "--password-file",
        &pw,
    ]);
    let out = siso_hub(&["token", "create", "--config", config, "--username", "zona3"]);
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(token.starts_with("siso_"), "{token}");
    // A zona needs an ufficio_di_piano; a regione account has none.
    let bad = Command::new(hub_bin())
        .args([
            "user",
            "add",
            "--config",
            config,
            "--username",
            "x",
            "--role",
            "regione",
            "--zona",
            "2",
            "--password-file",
            &pw,
        ])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    let listing = siso_hub(&["user", "list", "--config", config, "--format", "json"]);
    let listing = String::from_utf8(listing.stdout).unwrap();
    assert!(
        listing.contains("\"zona3\"") && !listing.contains("argon2"),
        "{listing}"
    );

    // Zona 3's office: its own Comuni at Comune level, with or without `zona=3`.
    for path in [
        "/api/stats?level=comune&epoch=2026",
        "/api/stats?level=comune&epoch=2026&zona=3",
    ] {
        let v = json(&hub, path, &token).await;
        let mut comuni: Vec<&str> = v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["comune"].as_str().unwrap())
            .collect();
        comuni.sort_unstable();
        assert_eq!(comuni, [ASSISI, BASTIA], "{path}");
    }
    // Every zona and the Region at their own levels.
    let v = json(&hub, "/api/stats?level=zona&epoch=2026", &token).await;
    assert!(v["rows"].as_array().unwrap().iter().any(|r| r["zona"] == 2));
    // Another zona's Comuni, the overlap list: refused and logged.
    for path in [
        "/api/stats?level=comune&epoch=2026&zona=2",
        "/api/stats.csv?level=comune&epoch=2026&zona=2",
        "/api/overlaps?epoch=2026",
    ] {
        let (st, body) = hub.http_get(path, Some(&token)).await;
        assert_eq!(st, 403, "{path}: {body}");
    }
    let log = logged(&hub, "user:zona3");
    let forbidden = log.iter().filter(|(_, o)| o == "forbidden").count();
    assert_eq!(forbidden, 3, "{log:?}");
    assert!(
        log.contains(&("http /api/stats".into(), "ok".into())),
        "{log:?}"
    );
    // Without a token only the open summary is served.
    assert_eq!(
        hub.http_get("/api/stats?level=zona&epoch=2026", None)
            .await
            .0,
        401
    );
    assert_eq!(hub.http_get("/api/overlaps?epoch=2026", None).await.0, 401);
    assert_eq!(
        hub.http_get("/api/public/summary?epoch=2026", None).await.0,
        200
    );

    // A browser session: log in with the password, the dashboard shows only zona 3's Comuni,
    // log out needs the session's CSRF token.
    let addr = hub.running.http_addr;
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let (st, head, _) = http_call(
        addr,
        "POST",
        "/login",
        &form,
        "username=zona3&password=ufficio+di+piano+zona+3&next=%2F%3Fepoch%3D2026",
    )
    .await;
    assert_eq!(st, 303, "{head}");
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("siso_session="), "{cookie}");
    assert!(head.to_lowercase().contains("httponly; samesite=strict"));
    let with_cookie = [("Cookie", cookie.as_str())];
    let (st, head, page) = http_call(addr, "GET", "/?epoch=2026", &with_cookie, "").await;
    assert_eq!(st, 200);
    assert!(head.contains("content-security-policy"), "{head}");
    assert!(page.contains("data-zona=\"3\"") && !page.contains("data-zona=\"2\""));
    assert!(
        !page.contains("id=\"ets\""),
        "the entities' table is not zona 3's"
    );
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    let logout_headers = [form[0], with_cookie[0]];
    let (st, _, _) = http_call(addr, "POST", "/logout", &logout_headers, "csrf=wrong").await;
    assert_eq!(st, 403);
    let (st, _, _) = http_call(
        addr,
        "POST",
        "/logout",
        &logout_headers,
        &format!("csrf={csrf}"),
    )
    .await;
    assert_eq!(st, 303);
    let (st, _, _) = http_call(addr, "GET", "/?epoch=2026", &with_cookie, "").await;
    assert_eq!(st, 401, "the session ended");
    // A wrong password is refused.
    let (st, _, _) = http_call(
        addr,
        "POST",
        "/login",
        &form,
        "username=zona3&password=wrong",
    )
    .await;
    assert_eq!(st, 401);

    // Revocation while the hub runs: the token, then the analysts' shared token.
    let listing = siso_hub(&["token", "list", "--config", config, "--format", "json"]);
    let tokens: serde_json::Value = serde_json::from_slice(&listing.stdout).unwrap();
    let id = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["username"] == "zona3")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!String::from_utf8_lossy(&listing.stdout).contains(&token));
    siso_hub(&["token", "revoke", "--config", config, "--id", &id]);
    assert_eq!(
        hub.http_get("/api/stats?level=zona&epoch=2026", Some(&token))
            .await
            .0,
        401
    );
    assert_eq!(
        hub.http_get("/api/stats?level=zona&epoch=2026", Some(&analyst))
            .await
            .0,
        200
    );
    siso_hub(&["token", "revoke", "--config", config, "--id", "analyst"]);
    assert_eq!(
        hub.http_get("/api/stats?level=zona&epoch=2026", Some(&analyst))
            .await
            .0,
        401
    );
    // A disabled account cannot log in.
    siso_hub(&["user", "disable", "--config", config, "zona3"]);
    let (st, _, _) = http_call(
        addr,
        "POST",
        "/login",
        &form,
        "username=zona3&password=ufficio+di+piano+zona+3",
    )
    .await;
    assert_eq!(st, 401);
    hub.stop().await;
}
