//! Nodes against a real hub on loopback: sync, overlaps resolved to local households, an
//! interrupted round resumed, an offline outbox, a third-sector node.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use siso_node::import::{import, ImportKind, ImportOptions, Profile};
use siso_node::store::Kind;
use siso_node::sync::{round, SyncError, SyncOptions};
use siso_shared::Role;
use siso_tests::harness::*;
use time::macros::datetime;

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/examples")
}

fn opts(role: Role) -> ImportOptions {
    ImportOptions::new(role, time::macros::date!(2026 - 11 - 29))
}

const NOW: time::OffsetDateTime = datetime!(2026-11-29 10:00 UTC);

fn load_comune(store: &siso_node::store::Store) {
    for (k, f) in [
        (ImportKind::Anagrafe, "anagrafe.csv"),
        (ImportKind::Accessi, "accessi.csv"),
        (ImportKind::PreseInCarico, "prese-in-carico.csv"),
        (ImportKind::Interventi, "interventi.csv"),
    ] {
        import(
            store,
            k,
            &examples().join(f),
            &Profile::default(),
            &opts(Role::Comune),
        )
        .unwrap();
    }
}

#[tokio::test]
async fn sync_overlaps_and_ets_node() {
    let (pki, dirs, hub) = fresh_hub().await;
    let (pg_cfg, pg) = node(&pki, hub.addr(), PERUGIA, &dirs.path().join("pg"), 2);
    load_comune(&pg);
    let r = round(&pg, &pg_cfg, &SyncOptions::default(), NOW)
        .await
        .unwrap();
    // Shared: family 1003 (Neri: access, case, intervention), family 1002 (Verdi: access,
    // intervention) and Conti Sara, non-resident (access, intervention). Never family 1001,
    // which has no activity.
    assert_eq!(r.shared, 3);
    assert_eq!(r.hub_records, 3);
    assert_eq!(r.notices, 0);
    assert_eq!(pg.count(Kind::Outbox).unwrap(), 0);
    // A second round sends nothing.
    let r2 = round(&pg, &pg_cfg, &SyncOptions::default(), NOW)
        .await
        .unwrap();
    assert_eq!((r2.batches, r2.added, r2.removed), (0, 0, 0));

    // The Caritas supports Conti Sara (recorded without a codice fiscale) and Giulia Neri.
    let (ca_cfg, ca) = node(&pki, hub.addr(), CARITAS, &dirs.path().join("ca"), 100);
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("interventi.csv");
    std::fs::write(
        &f,
        "codice_fiscale;tipo_intervento;area_bisogno;data_inizio;data_fine;importo;cognome;nome;sesso;data_nascita;codice_catastale_nascita\n\
         ;pacco_alimentare;poverta;2026-03-10;;0;Conti;Sara;F;1985-07-07;H501\n\
         NREGLI90B42G478F;buoni_spesa;poverta;2026-03-01;2026-04-30;200;;;;;\n",
    )
    .unwrap();
    // A third-sector node may not import the anagrafe.
    assert!(import(
        &ca,
        ImportKind::Anagrafe,
        &examples().join("anagrafe.csv"),
        &Profile::default(),
        &opts(Role::Ets)
    )
    .is_err());
    import(
        &ca,
        ImportKind::Interventi,
        &f,
        &Profile::default(),
        &opts(Role::Ets),
    )
    .unwrap();
    let r = round(&ca, &ca_cfg, &SyncOptions::default(), NOW)
        .await
        .unwrap();
    assert_eq!(r.shared, 2);
    assert_eq!(r.notices, 2);
    // The ETS learns counts only.
    let ca_view = siso_node::report::overlaps_json(&ca).unwrap();
    assert_eq!(ca_view.len(), 2);
    for o in &ca_view {
        assert_eq!(o["others_count"], 1);
        assert_eq!(o["others"].as_array().unwrap().len(), 0);
    }
    // Giulia Neri: rent support from Perugia Feb–Jul, vouchers from the Caritas Mar–Apr.
    let giulia = ca_view
        .iter()
        .find(|o| o["household"] == "NR:NREGLI90B42G478F")
        .unwrap();
    assert_eq!(giulia["double_economic_support"], true);

    // Perugia, after its next sync, sees who and what, on its own households with names.
    round(&pg, &pg_cfg, &SyncOptions::default(), NOW)
        .await
        .unwrap();
    let view = siso_node::report::overlaps_json(&pg).unwrap();
    assert_eq!(view.len(), 2, "{view:#?}");
    let neri = view.iter().find(|o| o["household"] == "F:1003").unwrap();
    assert_eq!(neri["reference_person"], "Neri Giulia");
    assert_eq!(neri["others_count"], 1);
    assert_eq!(neri["others"][0]["member"], CARITAS);
    assert_eq!(neri["others"][0]["role"], "ets");
    assert_eq!(neri["others"][0]["kinds"][0], "buoni_spesa");
    assert_eq!(neri["double_economic_support"], true);
    let sara = view
        .iter()
        .find(|o| o["household"] == "NR:CNTSRA85L47H501X")
        .unwrap();
    assert_eq!(sara["reference_person"], "Conti Sara");
    assert_eq!(sara["double_economic_support"], false);
    let table = siso_node::report::overlaps_table(&view);
    assert!(table.contains("Neri Giulia") && table.contains("ets-caritas-perugia"));

    // The hub's store and logs hold no codice fiscale or name of these people.
    hub.stop().await;
    assert_absent_below(
        &dirs.path().join("hub"),
        [
            "NREGLI90B42G478F",
            "CNTSRA85L47H501X",
            "VRDGPP45A20L117B",
            "Neri",
            "Conti",
            "Pinturicchio",
        ],
    );
}

#[tokio::test]
async fn interrupted_round_resumes_and_offline_outbox_survives() {
    let (pki, dirs, hub) = fresh_hub().await;
    // One record per batch: three batches.
    let (cfg, st) = node(&pki, hub.addr(), PERUGIA, &dirs.path().join("pg"), 1);
    load_comune(&st);
    let interrupted = SyncOptions {
        stop_after_batches: Some(1),
        ..SyncOptions::default()
    };
    let e = round(&st, &cfg, &interrupted, NOW).await.unwrap_err();
    assert!(matches!(e, SyncError::Interrupted(1)));
    assert_eq!(st.count(Kind::Outbox).unwrap(), 2);
    assert_eq!(hub.running.hub.records(), 1);
    // The next round sends what is left, nothing twice.
    let r = round(&st, &cfg, &SyncOptions::default(), NOW)
        .await
        .unwrap();
    assert_eq!(r.batches, 2);
    assert_eq!(r.hub_records, 3);
    assert_eq!(hub.running.hub.records(), 3);
    assert_eq!(st.count(Kind::Outbox).unwrap(), 0);

    // The hub goes down; a change is made; sync fails cleanly and the outbox keeps it.
    let hub_cfg = hub.cfg.clone();
    hub.stop().await;
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("i.csv");
    std::fs::write(
        &f,
        "codice_fiscale;tipo_intervento;area_bisogno;data_inizio;data_fine;importo\nRSSMRA70C01G478R;mensa;poverta;2026-05-01;;0\n",
    )
    .unwrap();
    import(
        &st,
        ImportKind::Interventi,
        &f,
        &Profile::default(),
        &opts(Role::Comune),
    )
    .unwrap();
    let e = round(&st, &cfg, &SyncOptions::default(), NOW)
        .await
        .unwrap_err();
    match &e {
        SyncError::Client(c) => assert!(c.is_transient(), "{c}"),
        other => panic!("expected a connection error, got {other}"),
    }
    assert_eq!(st.count(Kind::Outbox).unwrap(), 1);
    // Back up (same address): the outbox drains.
    let mut hub_cfg = hub_cfg;
    hub_cfg.listen = cfg.hub;
    let hub = start_hub_with(hub_cfg).await;
    let r = round(&st, &cfg, &SyncOptions::default(), NOW)
        .await
        .unwrap();
    assert_eq!(r.batches, 1);
    assert_eq!(r.hub_records, 4);
    assert_eq!(st.count(Kind::Outbox).unwrap(), 0);
    hub.stop().await;
}

/// A Perugia node synced with a hub that then comes back empty (re-created, or restored from a
/// backup older than the node's last sync): the node pointed at the new hub, and the summary the
/// first hub had (and the PKI and directories, which must outlive them).
async fn synced_then_hub_recreated() -> (
    (Pki, tempfile::TempDir),
    TestHub,
    siso_node::config::NodeConfig,
    siso_node::store::Store,
    siso_hub::overlap::Summary,
) {
    let (pki, dirs, hub) = fresh_hub().await;
    let (mut cfg, st) = node(&pki, hub.addr(), PERUGIA, &dirs.path().join("pg"), 2);
    load_comune(&st);
    round(&st, &cfg, &SyncOptions::default(), NOW)
        .await
        .unwrap();
    assert_eq!(hub.running.hub.records(), 3);
    let before = hub.running.hub.summary(2026);
    hub.stop().await;
    let hub = start_hub(&pki, &dirs.path().join("hub2")).await;
    cfg.hub = hub.addr();
    ((pki, dirs), hub, cfg, st, before)
}

#[tokio::test]
async fn a_full_sync_refills_a_recreated_hub() {
    let (_dirs, hub, cfg, st, before) = synced_then_hub_recreated().await;
    // A normal round has nothing new to send, yet the hub's overlap reply says it holds none of
    // the member's records (protocol 3): the round sends the whole set again by itself.
    let r = round(&st, &cfg, &SyncOptions::default(), NOW)
        .await
        .unwrap();
    assert!(r.resent_full, "{r:?}");
    assert_eq!(r.hub_records, 3);
    assert_eq!(hub.running.hub.summary(2026), before);
    // A full round (`sync --full`) sends the whole set as a snapshot too.
    let full = SyncOptions {
        full: true,
        ..SyncOptions::default()
    };
    let r = round(&st, &cfg, &full, NOW).await.unwrap();
    assert_eq!(r.added, 3);
    assert_eq!(r.hub_records, 3);
    assert_eq!(hub.running.hub.summary(2026), before);
    assert_eq!(st.count(Kind::Outbox).unwrap(), 0);
    // And a normal round afterwards is quiet again.
    let r = round(&st, &cfg, &SyncOptions::default(), NOW)
        .await
        .unwrap();
    assert_eq!(r.batches, 0);
    assert!(!r.resent_full);
    hub.stop().await;
}

#[tokio::test]
async fn a_hub_that_lost_records_is_refilled_at_the_next_change() {
    let (_dirs, hub, cfg, st, before) = synced_then_hub_recreated().await;
    // One of the node's records changes.
    let first = st.keys(Kind::Acked).unwrap().remove(0);
    let mut tx = siso_node::store::Tx::default();
    tx.delete(Kind::Acked, &first);
    st.commit(tx).unwrap();
    // The round sends that one record, sees the hub hold fewer than it acknowledged, and sends
    // the whole set again.
    let r = round(&st, &cfg, &SyncOptions::default(), NOW)
        .await
        .unwrap();
    assert!(r.resent_full);
    assert_eq!(r.hub_records, 3);
    assert_eq!(hub.running.hub.summary(2026), before);
    // A normal round afterwards is quiet and does not resend.
    let r = round(&st, &cfg, &SyncOptions::default(), NOW)
        .await
        .unwrap();
    assert!(!r.resent_full);
    assert_eq!(r.batches, 0);
    hub.stop().await;
}
