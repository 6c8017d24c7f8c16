//! Retention and erasure end to end: records past their periods are purged (the counts equal
//! what was planted), and an erased person's fingerprints leave the hub at the next sync and do
//! not come back with a re-import.

#![allow(clippy::unwrap_used)]

#[path = "../../tests/src/harness.rs"]
mod harness;

use std::path::Path;
use std::process::Command;

use harness::*;
use siso_node::config::RetentionConfig;
use siso_node::model::{Accesso, Intervento, PresaInCarico};
use siso_node::store::{cf_key, Kind, OpenMode, Store, Tx};
use siso_shared::{AreaBisogno, TipoIntervento};
use siso_shared::{CodiceFiscale, Fingerprint};
use time::macros::date;

fn bin(data: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_siso-node"));
    c.arg("--data").arg(data);
    c
}

fn json(out: std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap()
}

const CF: &str = "RSSMRA80A01G478V";

/// How many of `l` were planted past their period.
fn planted<T>(l: &[(T, bool)]) -> u64 {
    l.iter().filter(|(_, p)| *p).count() as u64
}

#[test]
fn retention_purges_exactly_what_is_past_its_period() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store"), OpenMode::Create).unwrap();
    let today = date!(2026 - 12 - 06);
    let mut tx = Tx::default();
    // Accessi: 5 years. Past: before 2021-12-06 (inclusive of the day).
    let accessi = [
        (date!(2019 - 01 - 10), true),
        (date!(2021 - 12 - 06), true),
        (date!(2021 - 12 - 07), false),
        (date!(2026 - 01 - 01), false),
    ];
    for (i, (d, _)) in accessi.iter().enumerate() {
        let a = Accesso {
            data: *d,
            area: AreaBisogno::Poverta,
            esito: String::new(),
        };
        tx.put(Kind::Accesso, &cf_key(CF, &[i as u8; 8]), &a)
            .unwrap();
    }
    // Interventions: 10 years after their end; open ones are kept.
    let interventi = [
        (Some(date!(2015 - 06 - 30)), true),
        (Some(date!(2016 - 12 - 06)), true),
        (Some(date!(2016 - 12 - 07)), false),
        (None, false),
    ];
    for (i, (end, _)) in interventi.iter().enumerate() {
        let v = Intervento {
            tipo: TipoIntervento::PaccoAlimentare,
            area: AreaBisogno::Poverta,
            inizio: date!(2010 - 01 - 01),
            fine: *end,
            importo: 0,
        };
        tx.put(Kind::Intervento, &cf_key(CF, &[i as u8; 8]), &v)
            .unwrap();
    }
    // Prese in carico: 10 years after their end.
    let prese = [(Some(date!(2012 - 01 - 01)), true), (None, false)];
    for (i, (end, _)) in prese.iter().enumerate() {
        let p = PresaInCarico {
            inizio: date!(2005 - 01 - 01),
            fine: *end,
            operatore: "x".into(),
            area: AreaBisogno::Anziani,
        };
        tx.put(Kind::PresaInCarico, &cf_key(CF, &[i as u8; 8]), &p)
            .unwrap();
    }
    store.commit(tx).unwrap();
    let entries = store.entries();

    let cfg = RetentionConfig::default();
    let now = time::OffsetDateTime::now_utc();
    let dry = siso_node::retention::run(&store, &cfg, today, "test", now, true).unwrap();
    assert_eq!(store.entries(), entries, "a dry run wrote");
    let done = siso_node::retention::run(&store, &cfg, today, "test", now, false).unwrap();
    assert_eq!(dry.counts, done.counts);
    assert_eq!(done.counts.get("accessi"), Some(&planted(&accessi)));
    assert_eq!(done.counts.get("interventi"), Some(&planted(&interventi)));
    assert_eq!(done.counts.get("prese_in_carico"), Some(&planted(&prese)));
    assert_eq!(store.count(Kind::Accesso).unwrap(), 2);
    assert_eq!(store.count(Kind::Intervento).unwrap(), 2);
    assert_eq!(store.count(Kind::PresaInCarico).unwrap(), 1);
    // Once is enough; the run is in the audit trail, with counts and no person.
    let again = siso_node::retention::run(&store, &cfg, today, "test", now, false).unwrap();
    assert_eq!(again.total(), 0);
    let last: Vec<_> = store.audit_iter().map(Result::unwrap).collect();
    let rec = last
        .iter()
        .find(|r| r.action == "scadenza_conservazione")
        .unwrap();
    assert!(rec.detail.contains("accessi 2"), "{}", rec.detail);
    assert!(rec.persons.is_empty());
}

/// Every person fingerprint in the hub's stored batches of `member` (the replay the hub starts
/// from).
fn hub_persons(hub: &TestHub) -> Vec<Fingerprint> {
    let mut out = Vec::new();
    hub.running
        .hub
        .store()
        .replay(|_, _, b| {
            for r in b.add {
                out.extend(r.persons);
            }
        })
        .unwrap();
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn an_erased_person_leaves_the_hub_at_the_next_sync_and_stays_erased() {
    let (pki, dirs, hub) = fresh_hub().await;
    let data = dirs.path().join("node");
    let (cfg, store) = node(&pki, hub.addr(), PERUGIA, &data, 50);
    drop(store);
    let (anagrafe, interventi) = write_registry_csvs(dirs.path(), 12);
    let import = |data: &Path| {
        [("anagrafe", &anagrafe), ("interventi", &interventi)].map(|(kind, file)| {
            json(run_ok(
                bin(data)
                    .args(["import", kind, "--format", "json"])
                    .arg(file),
            ))
        })
    };
    import(&data);
    run_ok(bin(&data).args(["sync"]));

    // Family F2 has three members; its second member has no intervention of their own.
    let text = std::fs::read_to_string(&anagrafe).unwrap();
    let row = text.lines().filter(|l| l.contains(";F2;")).nth(1).unwrap();
    let cf = row.split(';').next().unwrap().to_owned();
    let key = siso_node::sync::epoch_key(&cfg).unwrap();
    let fp = key.person(&CodiceFiscale::parse(&cf, date!(2026 - 12 - 06)).unwrap());
    assert!(
        hub_persons(&hub).contains(&fp),
        "the person is not at the hub"
    );

    // A dry run removes nothing; a bad codice fiscale is refused.
    let dry = json(run_ok(bin(&data).args([
        "erase",
        "--codice-fiscale",
        &cf,
        "--by",
        "dpo",
        "--reason",
        "prot. 123/2026",
        "--dry-run",
        "--format",
        "json",
    ])));
    assert_eq!(dry["counts"]["anagrafe"], 1, "{dry}");
    let out = bin(&data)
        .args([
            "erase",
            "--codice-fiscale",
            "XXX",
            "--by",
            "a",
            "--reason",
            "b",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let e = json(run_ok(bin(&data).args([
        "erase",
        "--codice-fiscale",
        &cf,
        "--by",
        "dpo",
        "--reason",
        "prot. 123/2026",
        "--format",
        "json",
    ])));
    assert_eq!(e["counts"], dry["counts"], "{e}");
    assert_eq!(e["already"], false);

    // The next sync is a snapshot without them: the hub holds none of their fingerprints.
    run_ok(bin(&data).args(["sync"]));
    let held = hub_persons(&hub);
    assert!(!held.is_empty());
    assert!(!held.contains(&fp), "the hub still holds the erased person");

    // A re-import leaves their rows out; the next sync does not bring them back.
    let summary = import(&data);
    assert_eq!(summary[0]["erased"], 1, "{}", summary[0]);
    run_ok(bin(&data).args(["sync"]));
    assert!(!hub_persons(&hub).contains(&fp));
    {
        let store = Store::open(&data.join("store"), OpenMode::Existing).unwrap();
        assert!(store
            .keys_under(Kind::Person, cf.as_bytes(), 1)
            .unwrap()
            .is_empty());
        // The audit trail names the person by id only.
        let recs: Vec<_> = store.audit_iter().map(Result::unwrap).collect();
        let rec = recs.iter().find(|r| r.action == "cancellazione").unwrap();
        assert_eq!(
            rec.persons,
            vec![e["person_id"].as_str().unwrap().to_owned()]
        );
        assert!(recs.iter().all(|r| !r.detail.contains(&cf)));
    }
    let a = json(run_ok(bin(&data).args(["status", "--format", "json"])));
    let persons_in_file = text.lines().count() as u64 - 1;
    assert_eq!(a["persons"], persons_in_file - 1, "{a}");
    hub.stop().await;
}
