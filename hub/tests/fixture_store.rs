//! Upgrades: `tests/fixtures/hub-store-v1` is a hub store written by schema version 1 (three
//! members' batches over QUIC, one overlap, a statistical release), kept in git. Every release
//! must migrate it (`siso-hub migrate`) and read what was written: records, overlaps, the
//! release and the message log's chain.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::sync::Arc;

use common::*;
use siso_hub::store::{OpenMode, Store};

async fn make_async(dir: &Path) {
    let (pki, dirs, hub) = fresh_hub().await;
    use siso_shared::wire::*;
    for (member, id) in [(PERUGIA, 1u8), (CARITAS, 1), (TERNI, 5)] {
        let (c, _) = hub.connect(&pki, member).await.unwrap();
        let Message::SubmitBatch(mut b) = one_record_batch(member, id, true) else {
            unreachable!()
        };
        b.add[0].interventions = vec![InterventionSummary {
            kind: siso_shared::TipoIntervento::PaccoAlimentare,
            area: siso_shared::AreaBisogno::Altro,
            start: time::macros::date!(2026 - 03 - 01),
            end: None,
        }];
        c.call(&Message::SubmitBatch(b)).await.unwrap();
        c.close().await;
    }
    hub.release(2026).await;
    hub.stop().await;
    copy_dir(&dirs.path().join("hub/store"), dir);
}

fn make(dir: &Path) {
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(make_async(dir));
}

#[test]
fn a_version_1_store_is_migrated_and_read() {
    let copy = store_fixture("hub-store-v1", make);
    let m = Store::migrate(copy.path()).unwrap();
    assert_eq!(m.to, siso_hub::store::SCHEMA_VERSION);
    let store = Store::open(copy.path(), OpenMode::Existing).unwrap();
    assert!(siso_hub::audit::verify(&store)
        .unwrap()
        .first_broken
        .is_none());
    let hub = siso_hub::service::Hub::open(
        store,
        Default::default(),
        5,
        Arc::new(siso_hub::service::SystemClock),
    )
    .unwrap();
    assert_eq!(hub.records(), 3);
    assert_eq!(hub.summary(2026).overlap_groups, 1);
    let releases = hub.release_list().unwrap();
    assert_eq!(releases.len(), 1);
    assert!(hub.release_for(2026, None).is_some());
}
