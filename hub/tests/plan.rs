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
    AggregateCell, BatchId, Breakdown, HouseholdRecord, InterventionSummary, Measure, Message,
    PeriodAggregates, RecordFlags, Scheme, SubmitAggregates, SubmitBatch,
};
use siso_shared::{AreaBisogno, Fingerprint, TipoIntervento};
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
            // Assisi's persons 11..=20 are elderly; every other household is poor.
            area: if person.0 == 1 && person.1 > 10 {
                AreaBisogno::Anziani
            } else {
                AreaBisogno::Poverta
            },
            start: date!(2026 - 02 - 01),
            end: Some(date!(2026 - 10 - 31)),
        }],
        flags: RecordFlags::default(),
    }
}

/// Submits `member`'s whole set of records for `epoch` over QUIC and checks the Ack.
async fn submit_records(
    hub: &TestHub,
    pki: &Pki,
    member: &str,
    epoch: u16,
    add: Vec<HouseholdRecord>,
) {
    // Not the aggregates' batch id ([epoch as u8; 16]): one ledger holds both.
    let mut batch_id = [7u8; 16];
    batch_id[..2].copy_from_slice(&epoch.to_be_bytes());
    let (c, _) = hub.connect(pki, member).await.unwrap();
    let r = c
        .call(&Message::SubmitBatch(SubmitBatch {
            member: member.parse().unwrap(),
            epoch,
            batch_id: BatchId(batch_id),
            scheme: Scheme::SharedKey,
            snapshot: true,
            add,
            remove: vec![],
        }))
        .await
        .unwrap();
    assert!(matches!(r, Message::Ack(_)), "{member}: {r:?}");
    c.close().await;
}

/// Persons: Assisi's 1..=20 (tag 1), Bastia's own 1..=10 (tag 2), Perugia's 1..=12 (tag 3),
/// the Caritas's own 1..=5 (tag 4).
/// - Assisi supports its 20; Bastia its 10 and Assisi's persons 11..=15 (same zona);
/// - Perugia supports its 12;
/// - the Caritas supports Assisi's persons 1..=6, Perugia's 1..=8 and its own 5.
async fn plant(hub: &TestHub, pki: &Pki) {
    use TipoIntervento::*;
    let submit = |member: &'static str, add| submit_records(hub, pki, member, 2026, add);
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
    for m in [ASSISI, BASTIA, PERUGIA] {
        let mut c = cells(&planted(m));
        c.push(AggregateCell {
            breakdown: Breakdown::Total,
            measure: Measure::SocialWorkers,
            value: social_workers(m),
        });
        submit_aggregates(hub, pki, m, 2026, c).await;
    }
    // The previous epoch: Assisi alone, 10 households in need, 5 supported.
    submit_records(
        hub,
        pki,
        ASSISI,
        2025,
        (1..=5)
            .map(|i| household(11, i, (1, i), ContributoEconomico))
            .collect(),
    )
    .await;
    submit_aggregates(
        hub,
        pki,
        ASSISI,
        2025,
        cells(&[(AreaBisogno::Poverta, [20, 10, 0, 5, 5, 0, 0])]),
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

/// One area's planted figures of a member: accessi, households in need, requests waiting,
/// households supported, interventions, euro cents, minutes of activity.
type Figures = [i64; 7];

const MEASURES: [Measure; 7] = [
    Measure::Accessi,
    Measure::HouseholdsInNeed,
    Measure::WaitingRequests,
    Measure::HouseholdsSupported,
    Measure::Interventions,
    Measure::ExpenditureCents,
    Measure::ActivityMinutes,
];

/// The planted aggregates of 2026 by member and area (no household is in two areas, so a
/// member's total of supported households is the sum too). No figure is in 1..k.
fn planted(member: &str) -> Vec<(AreaBisogno, Figures)> {
    use AreaBisogno::*;
    match member {
        ASSISI => vec![
            (Poverta, [30, 20, 6, 10, 12, 500_000, 600]),
            (Anziani, [10, 8, 0, 6, 7, 0, 120]),
        ],
        BASTIA => vec![
            (Poverta, [15, 10, 5, 5, 5, 200_000, 300]),
            (Anziani, [5, 5, 0, 5, 6, 0, 60]),
        ],
        _ => vec![(Poverta, [50, 25, 10, 20, 22, 800_000, 900])],
    }
}

/// Planted social workers (the LEPS staffing indicator).
fn social_workers(member: &str) -> i64 {
    match member {
        ASSISI => 3,
        BASTIA => 2,
        _ => 40,
    }
}

/// The cells of a member's figures by area, with their totals.
fn cells(by_area: &[(AreaBisogno, Figures)]) -> Vec<AggregateCell> {
    let mut out = Vec::new();
    for (i, m) in MEASURES.iter().enumerate() {
        let mut total = 0;
        for (a, f) in by_area {
            total += f[i];
            if f[i] > 0 {
                out.push(AggregateCell {
                    breakdown: Breakdown::Area(*a),
                    measure: m.clone(),
                    value: f[i],
                });
            }
        }
        if total > 0 {
            out.push(AggregateCell {
                breakdown: Breakdown::Total,
                measure: m.clone(),
                value: total,
            });
        }
    }
    out
}

async fn submit_aggregates(
    hub: &TestHub,
    pki: &Pki,
    member: &str,
    epoch: u16,
    c: Vec<AggregateCell>,
) {
    let (conn, _) = hub.connect(pki, member).await.unwrap();
    let r = conn
        .call(&Message::SubmitAggregates(SubmitAggregates {
            member: member.parse().unwrap(),
            epoch,
            batch_id: BatchId([epoch as u8; 16]),
            periods: vec![PeriodAggregates { month: 0, cells: c }],
        }))
        .await
        .unwrap();
    assert!(matches!(r, Message::Ack(_)), "{r:?}");
    conn.close().await;
}

/// The truth of one measure (index into [`MEASURES`]) over members and areas.
fn truth(members: &[&str], areas: &[AreaBisogno], i: usize) -> i64 {
    members
        .iter()
        .flat_map(|m| planted(m))
        .filter(|(a, _)| areas.is_empty() || areas.contains(a))
        .map(|(_, f)| f[i])
        .sum()
}

fn residents(zona: Option<u8>) -> f64 {
    siso_shared::comuni::zone()
        .iter()
        .filter(|z| zona.is_none_or(|x| x == z.number))
        .flat_map(|z| siso_shared::comuni::in_zona(z.number))
        .map(|c| f64::from(c.population))
        .sum()
}

fn round(x: f64, d: i32) -> f64 {
    let p = 10f64.powi(d);
    (x * p).round() / p
}

/// Checks one supply-and-demand row against the planted truth of `members` and `areas`.
/// Distinct households supported by zona 3 (`Some(3)`) or the Region (`None`) in our areas
/// (none: every area), from the planted records: Assisi's 1..=10 and Bastia's own 10 are poor,
/// Assisi's 11..=20 elderly (Bastia's 11..=15 are the same households); Perugia's 12 and the
/// Caritas's own 5 are poor.
fn distinct_truth(zona: Option<u8>, areas: &[AreaBisogno]) -> i64 {
    let (poor, elderly) = match zona {
        Some(3) => (20, 10),
        Some(_) => (12, 0),
        None => (37, 10),
    };
    match areas {
        [] => poor + elderly,
        [AreaBisogno::Poverta] => poor,
        [AreaBisogno::Anziani] => elderly,
        _ => 0,
    }
}

/// Checks one supply-and-demand row against the planted truth of `members` and `areas`;
/// `distinct`: the households the hub counts once, where it can (else coverage is over the
/// members' sum).
fn check_row(
    row: &serde_json::Value,
    members: &[&str],
    areas: &[AreaBisogno],
    zona: Option<u8>,
    distinct: Option<i64>,
) {
    let t = |i| truth(members, areas, i);
    let what = format!("{} {}", row["name"], row["area"]);
    for (field, i) in [
        ("accessi", 0),
        ("households_in_need", 1),
        ("waiting_requests", 2),
        ("households_supported", 3),
        ("interventions", 4),
    ] {
        assert_eq!(row[field], t(i), "{what}: {field}");
    }
    assert_eq!(
        row["expenditure"].as_f64(),
        Some(t(5) as f64 / 100.0),
        "{what}"
    );
    assert_eq!(
        row["activity_hours"].as_f64(),
        Some(round(t(6) as f64 / 60.0, 1)),
        "{what}"
    );
    if let Some(d) = distinct {
        assert_eq!(row["households_supported_distinct"], d, "{what}");
    }
    let covered = distinct.unwrap_or(t(3));
    let coverage = (t(1) > 0).then(|| round(covered as f64 / t(1) as f64, 4));
    assert_eq!(row["coverage"].as_f64(), coverage, "{what}: coverage");
    let res = residents(zona);
    assert_eq!(row["residents"].as_f64(), Some(res), "{what}");
    assert_eq!(
        row["households_in_need_per_1000"].as_f64(),
        Some(round(t(1) as f64 / res * 1000.0, 2)),
        "{what}"
    );
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

/// A response's body as bytes (`http_get` reads text).
async fn get_bytes(hub: &TestHub, path: &str, token: &str) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(hub.running.http_addr)
        .await
        .unwrap();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&buf[..end]);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("spreadsheetml"), "{head}");
    buf[end + 4..].to_vec()
}

/// The workbook's first sheet equals the JSON rows, figure by figure; withheld is «n.d.».
fn check_workbook(book: &[u8], doc: &serde_json::Value) {
    use calamine::{Data, Reader};
    let mut wb = calamine::Xlsx::new(std::io::Cursor::new(book.to_vec())).unwrap();
    assert_eq!(
        wb.sheet_names(),
        [
            "Domanda e offerta",
            "Comuni",
            "Aree ISTAT",
            "Regione",
            "Note"
        ]
    );
    let sheet = wb.worksheet_range("Domanda e offerta").unwrap();
    let mut rows = sheet.rows();
    let head: Vec<String> = rows.next().unwrap().iter().map(|c| c.to_string()).collect();
    assert_eq!(head[2], "Accessi");
    let want = doc["rows"].as_array().unwrap();
    let got: Vec<&[Data]> = rows.collect();
    assert_eq!(got.len(), want.len());
    let mut numbers = 0;
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g[1].to_string(), w["area"].as_str().unwrap());
        for (j, field) in [
            "accessi",
            "households_in_need",
            "waiting_requests",
            "households_supported",
        ]
        .iter()
        .enumerate()
        {
            match (&g[j + 2], w[field].as_f64()) {
                (Data::Float(x), Some(y)) => {
                    assert_eq!(*x, y, "{field}");
                    numbers += 1;
                }
                (Data::Int(x), Some(y)) => {
                    assert_eq!(*x as f64, y, "{field}");
                    numbers += 1;
                }
                (Data::String(s), None) => assert_eq!(s, "n.d."),
                (other, y) => panic!("{field}: {other:?} against {y:?}"),
            }
        }
        let cov = head.iter().position(|h| h == "Copertura").unwrap();
        match (&g[cov], w["coverage"].as_f64()) {
            (Data::Float(x), Some(y)) => assert_eq!(*x, y),
            (Data::String(s), None) => assert_eq!(s, "n.d."),
            (other, y) => panic!("coverage: {other:?} against {y:?}"),
        }
    }
    assert!(numbers >= 40, "{numbers} numbers compared");
    let notes = wb.worksheet_range("Note").unwrap();
    let text: Vec<String> = notes.rows().map(|r| r[0].to_string()).collect();
    assert!(text.iter().any(|l| l.contains("n.d.")), "{text:?}");
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
    hub.release(2025).await;
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

    // Supply and demand: every figure of zona 3 and the Region per area equals the truth.
    use AreaBisogno::{Anziani, Poverta};
    let zona3 = [ASSISI, BASTIA];
    let all = [ASSISI, BASTIA, PERUGIA];
    let v = json(
        &hub,
        "/api/supply-demand?level=zona&epoch=2026&zona=3",
        &analyst,
    )
    .await;
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(
        rows.len(),
        AreaBisogno::ALL.len() + 1,
        "every area and the total"
    );
    for row in rows {
        let area = row["area"].as_str().unwrap();
        let areas: Vec<AreaBisogno> = match area {
            "totale" => vec![],
            a => vec![a.parse().unwrap()],
        };
        if areas.is_empty() || areas == [Poverta] || areas == [Anziani] {
            check_row(
                row,
                &zona3,
                &areas,
                Some(3),
                Some(distinct_truth(Some(3), &areas)),
            );
        } else {
            assert_eq!(row["accessi"], 0, "{area}");
            assert!(row["coverage"].is_null(), "{area}: nobody in need");
        }
        // Against the Region in the same release.
        let region_cov = (truth(&all, &areas, 1) > 0).then(|| {
            round(
                distinct_truth(None, &areas) as f64 / truth(&all, &areas, 1) as f64,
                4,
            )
        });
        assert_eq!(row["region"]["coverage"].as_f64(), region_cov, "{area}");
    }
    let total = rows.iter().find(|r| r["area"] == "totale").unwrap();
    // LEPS: 5 social workers for zona 3's residents (one per 5,000 is the essential level).
    let res = residents(Some(3));
    assert_eq!(total["social_workers"], 5);
    assert_eq!(
        total["residents_per_social_worker"].as_f64(),
        Some((res / 5.0).round())
    );
    assert_eq!(total["leps_met"], serde_json::json!(5.0 * 5000.0 >= res));
    // Only the hub counts households once across members: 30 in zona 3 (the records).
    assert_eq!(total["households_supported_distinct"], 30);
    // The previous epoch: 5 supported of 10 in need.
    assert_eq!(total["previous_epoch"]["coverage"].as_f64(), Some(0.5));
    assert_eq!(v["previous_release"]["period"], "2025");
    let v = json(
        &hub,
        "/api/supply-demand?level=region&epoch=2026&area=poverta",
        &analyst,
    )
    .await;
    check_row(&v["rows"][0], &all, &[Poverta], None, Some(37));
    // ISTAT's areas: poverty and adult hardship groups poverta, abitare, lavoro, salute mentale.
    let v = json(
        &hub,
        "/api/supply-demand?level=zona&epoch=2026&zona=3&classification=istat&area=poverta_e_disagio_adulti",
        &analyst,
    )
    .await;
    // A group of areas: the hub cannot count its households once, so coverage is over the sum.
    assert!(v["rows"][0]["households_supported_distinct"].is_null());
    check_row(&v["rows"][0], &zona3, &[Poverta], Some(3), None);
    // The same figures in Italian CSV.
    let (st, csv) = hub
        .http_get(
            "/api/supply-demand.csv?level=zona&epoch=2026&zona=3&area=totale",
            Some(&analyst),
        )
        .await;
    assert_eq!(st, 200);
    assert!(csv.starts_with('\u{feff}'), "byte-order mark");
    let lines: Vec<&str> = csv.trim_start_matches('\u{feff}').lines().collect();
    let head: Vec<&str> = lines[0].split(';').collect();
    let row: Vec<&str> = lines[1].split(';').collect();
    let col = |n: &str| row[head.iter().position(|h| *h == n).unwrap()];
    assert_eq!(col("households_in_need"), "43");
    assert_eq!(col("coverage"), "0,6977"); // 30 households of 43 in need
    assert_eq!(col("expenditure"), "7000,00");
    assert_eq!(col("activity_hours"), "18,0");
    // The spreadsheet holds the same numbers (read back with calamine).
    let book = get_bytes(&hub, "/api/supply-demand.xlsx?epoch=2026&zona=3", &analyst).await;
    check_workbook(
        &book,
        &json(
            &hub,
            "/api/supply-demand?level=zona&epoch=2026&zona=3",
            &analyst,
        )
        .await,
    );
    for bad in [
        "/api/supply-demand?level=zona&epoch=2026&area=nowhere",
        "/api/supply-demand?level=zona&epoch=2026&classification=eurostat",
    ] {
        assert_eq!(hub.http_get(bad, Some(&analyst)).await.0, 400, "{bad}");
    }

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
    let v = json(&hub, "/api/supply-demand?level=comune&epoch=2026", &token).await;
    assert!(v["rows"].as_array().unwrap().iter().all(|r| r["zona"] == 3));
    for path in [
        "/api/supply-demand?level=comune&epoch=2026&zona=2",
        "/api/stats?level=comune&epoch=2026&zona=2",
        "/api/stats.csv?level=comune&epoch=2026&zona=2",
        "/api/overlaps?epoch=2026",
    ] {
        let (st, body) = hub.http_get(path, Some(&token)).await;
        assert_eq!(st, 403, "{path}: {body}");
    }
    let log = logged(&hub, "user:zona3");
    let forbidden = log.iter().filter(|(_, o)| o == "forbidden").count();
    assert_eq!(forbidden, 4, "{log:?}");
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

#[path = "../../tests/src/webdriver.rs"]
mod webdriver;

/// The plan page in a real Chromium: an `ufficio_di_piano` logs in with the form, its zona's
/// bars, coverage grid and table hold the numbers of `/api/supply-demand`, and on a 390 px
/// wide phone neither the plan page nor the dashboard scrolls sideways. Screenshots go to
/// `test-artifacts/` (docs/img holds copies).
#[tokio::test(flavor = "multi_thread")]
async fn the_plan_page_in_a_browser() {
    use fantoccini::Locator;
    let pki = pki();
    let dirs = tempfile::tempdir().unwrap();
    let hub = start_hub(&pki, &dirs.path().join("hub")).await;
    plant(&hub, &pki).await;
    hub.release(2025).await;
    hub.release(2026).await;
    let pw = "ufficio di piano zona 3";
    siso_hub::accounts::update(&hub.data, |a| {
        a.add(
            "zona3",
            siso_hub::accounts::HubRole::UfficioDiPiano,
            Some(3),
            &siso_server::web::Password::new(pw).unwrap(),
            time::OffsetDateTime::now_utc(),
        )
    })
    .unwrap();
    let api = json(&hub, "/api/supply-demand?level=zona&epoch=2026", &hub.token).await;
    let base = format!("http://{}", hub.running.http_addr);
    let driver = webdriver::chromedriver().await;
    let profile = tempfile::tempdir().unwrap();
    let c = webdriver::browser_with(
        &driver,
        profile.path(),
        &["--window-size=1280,1800"],
        serde_json::Map::new(),
    )
    .await;
    c.goto(&format!("{base}/login?next=%2Fpiano%3Fepoch%3D2026"))
        .await
        .unwrap();
    webdriver::type_into(&c, "#username", "zona3").await;
    webdriver::type_into(&c, "#password", pw).await;
    c.find(Locator::Css("form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    webdriver::element(&c, "#copertura-zone").await;
    // Every bar of zona 3 and every zona's coverage square equals the API's figure.
    let rows = api["rows"].as_array().unwrap();
    let mut bars = 0;
    for row in rows
        .iter()
        .filter(|r| r["zona"] == 3 && r["area"] != "totale")
    {
        let area = row["area"].as_str().unwrap();
        for series in [
            "households_in_need",
            "households_supported",
            "waiting_requests",
        ] {
            let css = format!("rect[data-area=\"{area}\"][data-series=\"{series}\"]");
            let v = c
                .find(Locator::Css(&css))
                .await
                .unwrap()
                .attr("data-value")
                .await
                .unwrap()
                .unwrap();
            assert_eq!(v.parse::<f64>().ok(), row[series].as_f64(), "{css}");
            bars += 1;
        }
    }
    assert_eq!(bars, 3 * AreaBisogno::ALL.len());
    for row in rows.iter().filter(|r| r["area"] == "totale") {
        let css = format!("g.zona-cell[data-zona=\"{}\"]", row["zona"]);
        let v = c
            .find(Locator::Css(&css))
            .await
            .unwrap()
            .attr("data-value")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(v.parse::<f64>().ok(), row["coverage"].as_f64(), "{css}");
    }
    // The table: zona 3's households in need by area (Italian number format).
    let cell = c
        .find(Locator::Css(
            "tr[data-area=\"totale\"] td[data-field=\"households_in_need\"]",
        ))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(cell, "43");
    let leps = c
        .find(Locator::Css("#leps"))
        .await
        .unwrap()
        .attr("data-social-workers")
        .await
        .unwrap();
    assert_eq!(leps.as_deref(), Some("5"));
    let artifacts = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    std::fs::write(
        artifacts.join("piano-di-zona.png"),
        c.screenshot().await.unwrap(),
    )
    .unwrap();
    // Another zona's page is refused.
    c.goto(&format!("{base}/piano?epoch=2026&zona=2"))
        .await
        .unwrap();
    let body = c
        .find(Locator::Css("body"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("own zona only"), "{body}");
    c.close().await.unwrap();

    // A phone, 390 px wide: nothing scrolls sideways.
    let mut options = serde_json::Map::new();
    options.insert(
        "mobileEmulation".into(),
        serde_json::json!({"deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 2.0, "touch": true}}),
    );
    let profile = tempfile::tempdir().unwrap();
    let c = webdriver::browser_with(&driver, profile.path(), &[], options).await;
    c.goto(&format!(
        "{base}/login?token={}&next=%2Fpiano%3Fepoch%3D2026%26zona%3D3",
        hub.token
    ))
    .await
    .unwrap();
    webdriver::element(&c, "#copertura-zone").await;
    for path in ["/piano?epoch=2026&zona=3", "/?epoch=2026"] {
        c.goto(&format!("{base}{path}")).await.unwrap();
        webdriver::element(&c, "figure.chart").await;
        let w = c
            .execute("return document.documentElement.scrollWidth;", vec![])
            .await
            .unwrap();
        assert!(w.as_f64().unwrap() <= 390.0, "{path}: {w} px wide");
    }
    c.goto(&format!("{base}/piano?epoch=2026&zona=3"))
        .await
        .unwrap();
    webdriver::element(&c, "#copertura-zone").await;
    std::fs::write(
        artifacts.join("piano-di-zona-telefono.png"),
        c.screenshot().await.unwrap(),
    )
    .unwrap();
    c.close().await.unwrap();
    hub.stop().await;
}

const ASL: &str = "asl-usl-umbria-1";

/// A health authority as a member: its households overlap the Comuni's exactly as planted, it
/// learns only the overlaps of its own households (how many others, not who), it may neither
/// send aggregates nor query statistics, and the integration figures — households supported by
/// both sides, by the social side only, by the health side only — equal the truth per Comune,
/// zona and Region, adding up to the distinct households supported.
#[tokio::test(flavor = "multi_thread")]
async fn a_health_authority_and_the_integration_figures() {
    use TipoIntervento::*;
    let pki = pki();
    let dirs = tempfile::tempdir().unwrap();
    let hub = start_hub(&pki, &dirs.path().join("hub")).await;
    let submit = |member: &'static str, add| submit_records(&hub, &pki, member, 2026, add);
    // Assisi supports its persons 1..=15, Perugia its 1..=12; the USL supports Assisi's 1..=6,
    // Perugia's 1..=5 and 7 persons of its own (home care, residential care).
    submit(
        ASSISI,
        (1..=15)
            .map(|i| household(10, i, (1, i), ContributoEconomico))
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
        ASL,
        (1..=6)
            .map(|i| household(50, i, (1, i), AssistenzaDomiciliare))
            .chain((1..=5).map(|i| household(51, i, (3, i), StrutturaResidenziale)))
            .chain((1..=7).map(|i| household(52, i, (5, i), AssistenzaDomiciliare)))
            .collect(),
    )
    .await;
    // The USL learns its 11 overlapping households, as counts only.
    let (c, ack) = hub.connect(&pki, ASL).await.unwrap();
    assert_eq!(ack.role, siso_shared::Role::Asl);
    let r = c
        .call(&Message::FetchOverlaps(siso_shared::wire::FetchOverlaps {
            member: ASL.parse().unwrap(),
            epoch: 2026,
        }))
        .await
        .unwrap();
    let Message::Overlaps(o) = r else {
        panic!("{r:?}")
    };
    assert_eq!(o.notices.len(), 11);
    assert!(o
        .notices
        .iter()
        .all(|n| n.others_count == 1 && n.others.is_empty()));
    assert_eq!(o.held, 18);
    // Neither aggregates nor statistics.
    let forbidden = |r: Result<Message, siso_node::client::ClientError>| {
        matches!(r, Err(siso_node::client::ClientError::Refused(ref e))
            if e.code == siso_shared::wire::ErrorCode::Forbidden)
    };
    let r = c
        .call(&Message::SubmitAggregates(SubmitAggregates {
            member: ASL.parse().unwrap(),
            epoch: 2026,
            batch_id: BatchId([6; 16]),
            periods: vec![],
        }))
        .await;
    assert!(forbidden(r), "aggregates");
    let r = c.call(&stats_query(siso_shared::wire::Level::Region)).await;
    assert!(forbidden(r), "statistics");
    c.close().await;
    // The overlap pairs, exactly as planted.
    let v = json(&hub, "/api/overlaps?epoch=2026", &hub.token).await;
    let mut pairs: Vec<(String, String, u64)> = v["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["a"].as_str().unwrap().to_owned(),
                p["b"].as_str().unwrap().to_owned(),
                p["households"].as_u64().unwrap(),
            )
        })
        .collect();
    pairs.sort();
    assert_eq!(
        pairs,
        [
            (ASSISI.to_owned(), ASL.to_owned(), 6),
            (PERUGIA.to_owned(), ASL.to_owned(), 5)
        ]
    );
    // Integration: (unit, integrated, social only, health only).
    hub.release(2026).await;
    let truth: [(&str, &str, u64, u64, u64); 6] = [
        ("comune", ASSISI, 6, 9, 0),
        ("comune", PERUGIA, 5, 7, 0),
        ("comune", ASL, 11, 0, 7),
        ("zona", "3", 6, 9, 0),
        ("zona", "2", 5, 7, 0),
        ("region", "", 11, 16, 7),
    ];
    for (level, id, integrated, social, health) in truth {
        let v = json(
            &hub,
            &format!("/api/stats?level={level}&epoch=2026"),
            &hub.token,
        )
        .await;
        let row = v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| match level {
                "comune" => r["comune"] == id,
                "zona" => r["zona"].as_u64().map(|z| z.to_string()).as_deref() == Some(id),
                _ => true,
            })
            .cloned()
            .unwrap();
        let n = |k: &str| row[k].as_u64().unwrap_or(0);
        assert_eq!(
            n("integrated_households"),
            integrated,
            "{level} {id}: {row}"
        );
        assert_eq!(n("social_only_households"), social, "{level} {id}");
        assert_eq!(n("health_only_households"), health, "{level} {id}");
        assert_eq!(
            n("households_supported_distinct"),
            integrated + social + health,
            "{level} {id}"
        );
    }
    hub.stop().await;
}
