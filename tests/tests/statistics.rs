//! Statistics with disclosure control on a fixed dataset, the HTTP API at every level and
//! grouping with and without the token, and the dashboard in a real headless Chromium.

#![allow(clippy::unwrap_used)]

use siso_shared::wire::*;
use siso_shared::{AreaBisogno, Fingerprint, TipoIntervento};
use siso_tests::harness::*;
use time::macros::date;

fn cell(b: Breakdown, m: Measure, v: i64) -> AggregateCell {
    AggregateCell {
        breakdown: b,
        measure: m,
        value: v,
    }
}

fn period(month: u8, cells: Vec<AggregateCell>) -> PeriodAggregates {
    PeriodAggregates { month, cells }
}

/// Perugia (zona 2): 40 accesses (25 in January, 15 in February; 30 poverta, 10 abitare),
/// 12 households supported (8 rent, 4 vouchers), 5 000 € spent, 6 latent needs.
/// Terni (zona 10): 20 accesses in March (18 poverta, 2 abitare: the 2 must be suppressed, and
/// so must the 18, or 20 − 18 would give it away).
fn aggregates(member: &str) -> Vec<PeriodAggregates> {
    use Breakdown::*;
    use Measure::*;
    let area = |a| Area(a);
    match member {
        PERUGIA => vec![
            period(
                0,
                vec![
                    cell(Total, Accessi, 40),
                    cell(area(AreaBisogno::Poverta), Accessi, 30),
                    cell(area(AreaBisogno::Abitare), Accessi, 10),
                    cell(Total, HouseholdsSupported, 12),
                    cell(
                        Tipo(TipoIntervento::SostegnoAffitto),
                        HouseholdsSupported,
                        8,
                    ),
                    cell(Tipo(TipoIntervento::BuoniSpesa), HouseholdsSupported, 4),
                    cell(Total, ExpenditureCents, 500_000),
                    cell(Total, LatentNeed, 6),
                ],
            ),
            period(1, vec![cell(Total, Accessi, 25)]),
            period(2, vec![cell(Total, Accessi, 15)]),
        ],
        _ => vec![
            period(
                0,
                vec![
                    cell(Total, Accessi, 20),
                    cell(area(AreaBisogno::Poverta), Accessi, 18),
                    cell(area(AreaBisogno::Abitare), Accessi, 2),
                ],
            ),
            period(3, vec![cell(Total, Accessi, 20)]),
        ],
    }
}

fn rec(key: u8, persons: &[u8], kind: Option<TipoIntervento>, latent: bool) -> HouseholdRecord {
    HouseholdRecord {
        key: Fingerprint([key; 32]),
        persons: persons.iter().map(|&p| Fingerprint([p; 32])).collect(),
        interventions: kind
            .map(|kind| InterventionSummary {
                kind,
                area: AreaBisogno::Poverta,
                start: date!(2026 - 02 - 01),
                end: Some(date!(2026 - 06 - 30)),
            })
            .into_iter()
            .collect(),
        flags: RecordFlags {
            latent_need: latent,
            non_resident: false,
        },
    }
}

async fn load(hub: &TestHub, pki: &Pki) {
    for member in [PERUGIA, TERNI] {
        let (c, _) = hub.connect(pki, member).await.unwrap();
        let r = c
            .call(&Message::SubmitAggregates(SubmitAggregates {
                member: member.parse().unwrap(),
                epoch: 2026,
                batch_id: BatchId([1; 16]),
                periods: aggregates(member),
            }))
            .await
            .unwrap();
        assert!(matches!(r, Message::Ack(_)));
        c.close().await;
    }
    // Records: Perugia supports households 1..=8 (persons 1..=8) and has a latent need (person
    // 50) nobody supports; the Caritas supports persons 1, 2 and 60. Sum of supported records
    // 8 + 3 = 11; distinct households 11 − 2 = 9; double economic support: households 1 and 2
    // (Perugia cash, Caritas vouchers, overlapping).
    let (c, _) = hub.connect(pki, PERUGIA).await.unwrap();
    let mut add: Vec<HouseholdRecord> = (1..=8u8)
        .map(|i| {
            rec(
                100 + i,
                &[i],
                Some(TipoIntervento::ContributoEconomico),
                false,
            )
        })
        .collect();
    add.push(rec(150, &[50], None, true));
    c.call(&Message::SubmitBatch(SubmitBatch {
        member: PERUGIA.parse().unwrap(),
        epoch: 2026,
        batch_id: BatchId([2; 16]),
        scheme: siso_shared::wire::Scheme::SharedKey,
        snapshot: true,
        add,
        remove: vec![],
    }))
    .await
    .unwrap();
    let (c, _) = hub.connect(pki, CARITAS).await.unwrap();
    c.call(&Message::SubmitBatch(SubmitBatch {
        member: CARITAS.parse().unwrap(),
        epoch: 2026,
        batch_id: BatchId([3; 16]),
        scheme: siso_shared::wire::Scheme::SharedKey,
        snapshot: true,
        add: vec![
            rec(201, &[1], Some(TipoIntervento::BuoniSpesa), false),
            rec(202, &[2], Some(TipoIntervento::BuoniSpesa), false),
            rec(203, &[60], Some(TipoIntervento::PaccoAlimentare), false),
        ],
        remove: vec![],
    }))
    .await
    .unwrap();
}

fn get(path: &str) -> String {
    path.to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn statistics_api_and_dashboard() {
    let (pki, _dirs, hub) = fresh_hub().await;
    load(&hub, &pki).await;
    let t = Some(hub.token.as_str());
    // Nothing is published before a release.
    let (st, body) = hub.http_get("/api/stats?level=region&epoch=2026", t).await;
    assert_eq!(st, 503, "{body}");
    let rel = hub.release(2026).await;

    // Region level, hand-computed.
    let (st, body) = hub.http_get("/api/stats?level=region&epoch=2026", t).await;
    assert_eq!(st, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["k"], 5);
    assert_eq!(v["release"]["id"], rel.meta.id);
    assert_eq!(v["release"]["digest"], rel.meta.digest_hex());
    let r = &v["rows"][0];
    assert_eq!(r["accessi"], 60);
    assert_eq!(r["households_supported_sum"], 11);
    assert_eq!(r["households_supported_distinct"], 9);
    // Two households with double economic support: fewer than k, so not published.
    assert!(r["double_economic_support"].is_null(), "{r}");
    // Households 1 and 2 are supported by Perugia and the Caritas: 2 < k, withheld, and so is
    // the overlap rate computed from it (tests/tests/plan.rs checks published rates).
    assert!(r["households_shared"].is_null(), "{r}");
    assert!(r["overlap_rate"].is_null(), "{r}");
    assert_eq!(r["latent_need"], 6);
    assert_eq!(r["expenditure"], 5000.0);
    // unsupported_need = 1 < k: suppressed (null), flagged.
    assert!(r["unsupported_need"].is_null());
    assert_eq!(r["suppressed"], true);

    // Comune level by area: Terni's 2 is suppressed, and so is its 18 (its total 20 is public).
    let (_, body) = hub
        .http_get("/api/stats?level=comune&by=area_bisogno&epoch=2026", t)
        .await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let find = |c: &str, a: &str| {
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["comune"] == c && r["area_bisogno"] == a)
            .cloned()
            .unwrap()
    };
    assert!(find(TERNI, "abitare")["accessi"].is_null());
    assert!(find(TERNI, "poverta")["accessi"].is_null());
    assert_eq!(find(TERNI, "abitare")["suppressed"], true);
    // Region abitare (12) minus zona 2 (10) would reveal Terni's 2, so zona 2's abitare goes
    // too, hence Perugia's (the only Comune of zona 2 here), hence Perugia's poverta.
    assert!(find(PERUGIA, "abitare")["accessi"].is_null());
    assert!(find(PERUGIA, "poverta")["accessi"].is_null());
    assert_eq!(find(PERUGIA, "poverta")["zona"], 2);
    let (_, body) = hub
        .http_get("/api/stats?level=region&by=area_bisogno&epoch=2026", t)
        .await;
    let reg: serde_json::Value = serde_json::from_str(&body).unwrap();
    let area = |a: &str| {
        reg["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["area_bisogno"] == a)
            .cloned()
            .unwrap()
    };
    assert_eq!(area("poverta")["accessi"], 48);
    assert_eq!(area("abitare")["accessi"], 12);
    // Terni's total is still published, and can recover nothing.
    let (_, body) = hub.http_get("/api/stats?level=comune&epoch=2026", t).await;
    let c: serde_json::Value = serde_json::from_str(&body).unwrap();
    let terni = c["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["comune"] == TERNI)
        .unwrap();
    assert_eq!(terni["accessi"], 20);
    // The Caritas is a row of its own.
    let caritas = c["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["comune"] == CARITAS)
        .unwrap();
    assert!(caritas["households_supported_sum"].is_null(), "3 < k");
    // Zona level and months.
    let (_, body) = hub
        .http_get("/api/stats?level=zona&epoch=2026&month=1", t)
        .await;
    let z: serde_json::Value = serde_json::from_str(&body).unwrap();
    let z2 = z["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["zona"] == 2)
        .unwrap();
    assert_eq!(z2["accessi"], 25);
    assert_eq!(z2["zona_name"], "Zona 2 - Perugia");
    // Every grouping answers at every level.
    for level in ["region", "zona", "comune"] {
        for by in [
            "",
            "area_bisogno",
            "tipo_intervento",
            "age_band",
            "household_type",
        ] {
            let (st, body) = hub
                .http_get(&format!("/api/stats?level={level}&by={by}&epoch=2026"), t)
                .await;
            assert_eq!(st, 200, "{level} {by}: {body}");
            let (st, csv) = hub
                .http_get(
                    &format!("/api/stats.csv?level={level}&by={by}&epoch=2026"),
                    t,
                )
                .await;
            assert_eq!(st, 200);
            assert!(csv.lines().next().unwrap().ends_with("suppressed"), "{csv}");
        }
    }
    let (_, csv) = hub
        .http_get("/api/stats.csv?level=comune&by=area_bisogno&epoch=2026", t)
        .await;
    let header: Vec<&str> = csv.lines().next().unwrap().split(';').collect();
    let col = header.iter().position(|h| *h == "accessi").unwrap();
    let terni_abitare = csv
        .lines()
        .find(|l| l.starts_with(&format!("{TERNI};10;abitare")))
        .unwrap();
    assert_eq!(
        terni_abitare.split(';').nth(col),
        Some(""),
        "suppressed cells are empty in CSV"
    );
    // Without the token: 401; bad parameters: 400; the public summary is open.
    for p in [
        "/api/stats?level=region",
        "/api/stats.csv?level=region",
        "/api/overlaps?epoch=2026",
    ] {
        assert_eq!(hub.http_get(p, None).await.0, 401, "{p}");
    }
    assert_eq!(hub.http_get("/api/stats?level=nation", t).await.0, 400);
    assert_eq!(
        hub.http_get("/api/stats?level=zona&by=colour", t).await.0,
        400
    );
    assert_eq!(
        hub.http_get("/api/stats?level=zona&month=13", t).await.0,
        400
    );
    let (st, body) = hub.http_get("/api/public/summary?epoch=2026", None).await;
    assert_eq!(st, 200);
    let p: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(p["rows"][0]["accessi"], 60);
    assert!(p["rows"][0]["unsupported_need"].is_null());
    // StatsQuery over QUIC gives the same document.
    let (c, _) = hub.connect(&pki, REGION).await.unwrap();
    let Message::Stats(s) = c.call(&stats_query(Level::Region)).await.unwrap() else {
        panic!()
    };
    let q: serde_json::Value = serde_json::from_str(&s.json).unwrap();
    assert_eq!(q["rows"], p["rows"]);

    // The dashboard: login page without the token, the dashboard with it.
    let (st, body) = hub.http_get("/", None).await;
    assert_eq!(st, 401);
    assert!(body.contains("token degli analisti"));
    let (st, html) = hub.http_get(&get("/?epoch=2026"), t).await;
    assert_eq!(st, 200);
    assert!(
        html.contains("Cruscotto regionale")
            && !html.contains("http://")
            && !html.contains("https://")
    );

    // A real browser renders it.
    let url = format!(
        "http://{}/login?token={}&next=/%3Fepoch%3D2026",
        hub.running.http_addr, hub.token
    );
    let dom = chromium(&["--dump-dom", &url]);
    for fragment in [
        "Cruscotto regionale dei servizi sociali",
        // Demand and supply: zona 2's 40 accesses, 6 latent needs, 12 households supported.
        "data-series=\"accessi\" data-value=\"40\"",
        "data-series=\"households_supported\" data-value=\"12\"",
        // Distinct households of zona 2 (8) are withheld: the Region's 9 minus the Caritas's 3
        // (< k, suppressed) would otherwise expose it; zona 10 truly has none.
        "data-label=\"Zona 2 - Perugia\" data-value=\"n.d.\"",
        "data-label=\"Zona 10 - Terni\" data-value=\"0\"",
        // The summary cards and the tables show the published numbers, «n.d.» where suppressed.
        "data-measure=\"accessi\">Accessi<b>60</b>",
        "data-measure=\"unsupported_need\">Bisogni non sostenuti<b>n.d.</b>",
        "data-measure=\"expenditure\">Spesa (€)<b>5.000,00</b>",
        "<tr data-comune=\"055032\"><td>Terni</td><td data-measure=\"accessi\">20</td>",
        "class=\"point\" data-month=\"1\" data-value=\"25\"",
        "class=\"point\" data-month=\"7\" data-value=\"0\"",
        "Rilascio n. 1 (2026)",
    ] {
        assert!(dom.contains(fragment), "{fragment} not in the page: {dom}");
    }
    let artifacts = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("dashboard.png");
    let _ = std::fs::remove_file(&shot);
    chromium(&[
        "--window-size=1280,2200",
        &format!("--screenshot={}", shot.display()),
        &url,
    ]);
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 10_000,
        "screenshot too small"
    );

    // A revision. Terni reports 2 more accesses (22): published as they are, the two releases
    // would give away that 2 accesses arrived in between. The revision withholds what the
    // change would expose and stays protected against the release before it.
    let (c, _) = hub.connect(&pki, TERNI).await.unwrap();
    let mut more = aggregates(TERNI);
    more[0].cells[0].value = 22;
    more[0].cells[1].value = 20;
    more[1].cells[0].value = 22;
    let r = c
        .call(&Message::SubmitAggregates(SubmitAggregates {
            member: TERNI.parse().unwrap(),
            epoch: 2026,
            batch_id: BatchId([9; 16]),
            periods: more,
        }))
        .await
        .unwrap();
    assert!(matches!(r, Message::Ack(_)));
    c.close().await;
    // Until the revision is cut, the first release is what is served.
    let (_, body) = hub.http_get("/api/stats?level=comune&epoch=2026", t).await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["release"]["id"], 1);
    let rel2 = hub.release(2026).await;
    assert_eq!(rel2.meta.previous, Some(1));
    assert!(rel2.meta.report.changes > 0, "{:?}", rel2.meta.report);
    // Every sensitive withheld cell (small counts, small changes) was proven protected.
    let table = &rel2.cube.table;
    let sensitive = table.sensitive();
    let withheld = &rel2.cube.protection.suppression.suppressed;
    let must = (0..table.len())
        .filter(|&c| sensitive[c] && withheld[c])
        .count();
    assert_eq!(rel2.meta.report.proven, must);
    let (_, body) = hub.http_get("/api/stats?level=comune&epoch=2026", t).await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["release"]["id"], 2);
    let row = |v: &serde_json::Value, c: &str| {
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["comune"] == c)
            .cloned()
            .unwrap()
    };
    // Terni's 20 became 22: a change of 2 < k, so the 22 is withheld now.
    assert!(row(&v, TERNI)["accessi"].is_null(), "{v}");
    // Cutting again without new data makes no new release.
    assert_eq!(hub.release(2026).await.meta.id, 2);

    // A monthly release (as `siso-hub release create --month 1`): January's figures alone,
    // audited against the latest release of the epoch. Queries of January are served from it;
    // the year's from the epoch's release.
    let h = hub.running.hub.clone();
    let january = siso_hub::release::Period {
        epoch: 2026,
        month: Some(1),
    };
    let m = tokio::task::spawn_blocking(move || h.cut_release(january))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((m.meta.id, m.meta.previous), (3, Some(2)));
    let (_, body) = hub
        .http_get("/api/stats?level=zona&epoch=2026&month=1", t)
        .await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["release"]["period"], "2026-01", "{v}");
    let z2 = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["zona"] == 2)
        .cloned()
        .unwrap();
    assert_eq!(z2["accessi"], 25);
    let (_, body) = hub.http_get("/api/stats?level=zona&epoch=2026", t).await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["release"]["id"], 2);
    hub.stop().await;
}

/// Runs Debian's headless Chromium (installed by .ci/run) with a fresh profile.
fn chromium(args: &[&str]) -> String {
    let bin = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("Chromium is not installed: apt-get install chromium (.ci/run does this)");
    let profile = tempfile::tempdir().unwrap();
    let out = run_ok(
        std::process::Command::new(bin)
            .args(CHROMIUM_ARGS)
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(args),
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
