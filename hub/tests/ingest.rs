//! Durable, idempotent ingestion and the overlap scenarios, over real QUIC with fingerprints of
//! real codici fiscali, and the analysts' HTTP API.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use siso_hub::store::{OpenMode, Store};
use siso_node::client::HubClient;
use siso_shared::wire::*;
use siso_shared::{CodiceFiscale, EpochKey, Fingerprint, FingerprintSecret, Sex, TipoIntervento};
use time::macros::date;
use time::Date;

fn key() -> EpochKey {
    FingerprintSecret::from_hex(&"5a".repeat(32))
        .unwrap()
        .epoch_key(2026)
}

/// A person's fingerprint from a computed codice fiscale.
fn person(surname: &str, name: &str, sex: Sex, born: Date) -> Fingerprint {
    let cf = CodiceFiscale::compute(surname, name, sex, born, "G478").unwrap();
    key().person(&cf)
}

fn household(
    persons: &[Fingerprint],
    iv: &[(TipoIntervento, Date, Option<Date>)],
    latent: bool,
) -> HouseholdRecord {
    HouseholdRecord {
        key: key().household(persons),
        persons: persons.to_vec(),
        interventions: iv
            .iter()
            .map(|&(kind, start, end)| InterventionSummary {
                kind,
                area: siso_shared::AreaBisogno::Altro,
                start,
                end,
            })
            .collect(),
        flags: RecordFlags {
            latent_need: latent,
            non_resident: false,
        },
    }
}

fn submit(
    member: &str,
    id: u8,
    snapshot: bool,
    add: Vec<HouseholdRecord>,
    remove: Vec<Fingerprint>,
) -> Message {
    Message::SubmitBatch(SubmitBatch {
        member: member.parse().unwrap(),
        epoch: 2026,
        batch_id: BatchId([id; 16]),
        scheme: siso_shared::wire::Scheme::SharedKey,
        snapshot,
        add,
        remove,
    })
}

async fn ack(c: &HubClient, m: Message) -> Ack {
    match c.call(&m).await.unwrap() {
        Message::Ack(a) => a,
        other => panic!("expected Ack, got {other:?}"),
    }
}

async fn notices(c: &HubClient, member: &str) -> Vec<OverlapNotice> {
    match c
        .call(&Message::FetchOverlaps(FetchOverlaps {
            member: member.parse().unwrap(),
            epoch: 2026,
        }))
        .await
        .unwrap()
    {
        Message::Overlaps(o) => o.notices,
        other => panic!("expected Overlaps, got {other:?}"),
    }
}

const FOOD: TipoIntervento = TipoIntervento::PaccoAlimentare;
const CASH: TipoIntervento = TipoIntervento::ContributoEconomico;
const RENT: TipoIntervento = TipoIntervento::SostegnoAffitto;
const VOUCHERS: TipoIntervento = TipoIntervento::BuoniSpesa;

#[tokio::test]
async fn idempotent_and_durable_across_restarts() {
    let (pki, data, hub) = fresh_hub().await;
    let (c, _) = hub.connect(&pki, PERUGIA).await.unwrap();
    let a = person("Rossi", "Mario", Sex::M, date!(1970 - 03 - 01));
    let b = person("Bianchi", "Anna", Sex::F, date!(1972 - 05 - 09));
    let h1 = household(&[a, b], &[(FOOD, date!(2026 - 01 - 10), None)], false);
    let first = ack(&c, submit(PERUGIA, 1, false, vec![h1.clone()], vec![])).await;
    assert!(!first.duplicate);
    assert_eq!(first.stored, 1);
    // The same batch again (its Ack was "lost"): acknowledged, not applied twice.
    let again = ack(&c, submit(PERUGIA, 1, false, vec![h1.clone()], vec![])).await;
    assert!(again.duplicate);
    assert_eq!(again.stored, 1);
    let x = person("Verdi", "Luca", Sex::M, date!(1980 - 01 - 01));
    let h2 = household(&[x], &[], true);
    let second = ack(&c, submit(PERUGIA, 2, false, vec![h2.clone()], vec![])).await;
    assert_eq!(second.stored, 2);
    let cfg = hub.cfg.clone();
    c.close().await;
    hub.stop().await;

    // Restarted: nothing acknowledged is lost, and old batch ids are still duplicates.
    let hub = start_hub_with(cfg.clone()).await;
    let (c, _) = hub.connect(&pki, PERUGIA).await.unwrap();
    assert_eq!(hub.running.hub.records(), 2);
    let again = ack(&c, submit(PERUGIA, 2, false, vec![h2.clone()], vec![])).await;
    assert!(again.duplicate);
    assert_eq!(hub.running.hub.records(), 2);
    // Removal deletes; a snapshot replaces the whole set.
    let r = ack(&c, submit(PERUGIA, 3, false, vec![], vec![h2.key])).await;
    assert_eq!(r.stored, 1);
    let y = person("Neri", "Giulia", Sex::F, date!(1990 - 02 - 02));
    let h3 = household(&[y], &[(FOOD, date!(2026 - 02 - 01), None)], false);
    let r = ack(&c, submit(PERUGIA, 4, true, vec![h3.clone()], vec![])).await;
    assert_eq!(r.stored, 1);
    c.close().await;
    hub.stop().await;
    let hub = start_hub_with(cfg).await;
    assert_eq!(hub.running.hub.records(), 1);
    // The message log chain is intact and holds every request.
    hub.stop().await;
    let store = Store::open(&data.path().join("hub/store"), OpenMode::Existing).unwrap();
    let v = siso_hub::audit::verify(&store).unwrap();
    assert_eq!(v.first_broken, None);
    assert!(v.records >= 7, "{v:?}");
}

#[tokio::test]
async fn long_histories_are_compacted_when_they_carry_garbage_and_survive_restart() {
    let (pki, _data, hub) = fresh_hub().await;
    let (terni, _) = hub.connect(&pki, TERNI).await.unwrap();
    let (perugia, _) = hub.connect(&pki, PERUGIA).await.unwrap();
    let record = |key: u8, person: u8| HouseholdRecord {
        key: Fingerprint([key; 32]),
        persons: vec![Fingerprint([person; 32])],
        interventions: vec![],
        flags: RecordFlags::default(),
    };
    for i in 0..100u8 {
        // Terni keeps changing ten households (one record replaced per batch, and every tenth
        // batch removes one and adds it back): its batches are mostly garbage.
        let remove = if i % 10 == 9 {
            vec![Fingerprint([128 + (i % 10); 32])]
        } else {
            vec![]
        };
        ack(
            &terni,
            submit(TERNI, i, false, vec![record(128 + (i % 10), i)], remove),
        )
        .await;
        // Perugia only adds: its history is its set, nothing to compact.
        ack(
            &perugia,
            submit(PERUGIA, i, false, vec![record(i, 200)], vec![]),
        )
        .await;
    }
    let store = hub.running.hub.store();
    let terni_batches = store.batch_count(2026, &TERNI.parse().unwrap()).unwrap();
    assert!(terni_batches <= 65, "{terni_batches}");
    assert_eq!(
        store.batch_count(2026, &PERUGIA.parse().unwrap()).unwrap(),
        100
    );
    let before = hub.running.hub.records();
    assert_eq!(before, 10 + 100);
    let groups = hub.running.hub.summary(2026).overlap_groups;
    let cfg = hub.cfg.clone();
    terni.close().await;
    perugia.close().await;
    hub.stop().await;
    let hub = start_hub_with(cfg).await;
    assert_eq!(hub.running.hub.records(), before);
    assert_eq!(hub.running.hub.summary(2026).overlap_groups, groups);
    hub.stop().await;
}

#[tokio::test]
async fn overlap_scenarios() {
    let (pki, _data, hub) = fresh_hub().await;
    let (perugia, _) = hub.connect(&pki, PERUGIA).await.unwrap();
    let (terni, _) = hub.connect(&pki, TERNI).await.unwrap();
    let (assisi, _) = hub.connect(&pki, ASSISI).await.unwrap();
    let (caritas, _) = hub.connect(&pki, CARITAS).await.unwrap();
    let (banco, _) = hub.connect(&pki, BANCO).await.unwrap();

    // 1. A person who moved from Perugia to Terni while supported: Perugia's household had her
    //    with her partner until June, Terni's has her alone since July.
    let mover = person("Conti", "Sara", Sex::F, date!(1985 - 07 - 07));
    let partner = person("Gallo", "Pietro", Sex::M, date!(1983 - 03 - 03));
    let pg_mover = household(
        &[mover, partner],
        &[(FOOD, date!(2026 - 01 - 01), Some(date!(2026 - 06 - 30)))],
        false,
    );
    let tr_mover = household(&[mover], &[(FOOD, date!(2026 - 07 - 01), None)], false);

    // Shopping vouchers in April.
    let april = (VOUCHERS, date!(2026 - 04 - 01), Some(date!(2026 - 04 - 30)));

    // 2. Household supported by Perugia and by the Caritas, both economic, overlapping periods:
    //    double economic support.
    let h2a = person("Russo", "Marco", Sex::M, date!(1960 - 01 - 01));
    let h2b = person("Russo", "Elena", Sex::F, date!(1962 - 01 - 01));
    let pg_double = household(
        &[h2a, h2b],
        &[(CASH, date!(2026 - 02 - 01), Some(date!(2026 - 05 - 31)))],
        false,
    );
    let ca_double = household(&[h2a, h2b], &[april], false);

    // 3. Perugia supports the head of a household, the Banco the spouse alone; economic supports
    //    in periods that do not overlap: linked, but not double economic support.
    let head = person("Ferri", "Paolo", Sex::M, date!(1975 - 09 - 09));
    let spouse = person("Lodi", "Carla", Sex::F, date!(1977 - 10 - 10));
    let pg_head = household(
        &[head, spouse],
        &[(RENT, date!(2026 - 01 - 01), Some(date!(2026 - 03 - 31)))],
        false,
    );
    let banco_spouse = household(&[spouse], &[april], false);

    // 4. Latent needs: one in Assisi linked to nobody, one in Assisi linked to a record the
    //    Caritas supports.
    let lonely = person("Marini", "Rita", Sex::F, date!(1940 - 12 - 12));
    let helped = person("Costa", "Ugo", Sex::M, date!(1950 - 06 - 06));
    let as_lonely = household(&[lonely], &[], true);
    let as_helped = household(&[helped], &[], true);
    let ca_helped = household(&[helped], &[(FOOD, date!(2026 - 03 - 01), None)], false);

    for (c, member, records) in [
        (
            &perugia,
            PERUGIA,
            vec![pg_mover.clone(), pg_double.clone(), pg_head.clone()],
        ),
        (&terni, TERNI, vec![tr_mover.clone()]),
        (&assisi, ASSISI, vec![as_lonely.clone(), as_helped.clone()]),
        (
            &caritas,
            CARITAS,
            vec![ca_double.clone(), ca_helped.clone()],
        ),
        (&banco, BANCO, vec![banco_spouse.clone()]),
    ] {
        ack(c, submit(member, 1, true, records, vec![])).await;
    }

    let pg = notices(&perugia, PERUGIA).await;
    assert_eq!(pg.len(), 3, "{pg:#?}");
    let find =
        |n: &[OverlapNotice], k: Fingerprint| n.iter().find(|x| x.household == k).cloned().unwrap();
    let n = find(&pg, pg_mover.key);
    assert_eq!(n.others_count, 1);
    assert_eq!(n.others[0].member.to_string(), TERNI);
    assert_eq!(n.others[0].zona, Some(10));
    assert_eq!(n.others[0].kinds, vec![FOOD]);
    assert!(!n.double_economic_support);
    let n = find(&pg, pg_double.key);
    assert_eq!(n.others[0].member.to_string(), CARITAS);
    assert_eq!(n.others[0].role, siso_shared::Role::Ets);
    assert!(n.double_economic_support);
    let n = find(&pg, pg_head.key);
    assert_eq!(n.others[0].member.to_string(), BANCO);
    assert!(!n.double_economic_support);

    let tr = notices(&terni, TERNI).await;
    assert_eq!(tr.len(), 1);
    assert_eq!(tr[0].others[0].member.to_string(), PERUGIA);

    // The ETS learns counts and flags, never who.
    let ca = notices(&caritas, CARITAS).await;
    assert_eq!(
        ca.len(),
        1,
        "the helped person is supported only by the Caritas: {ca:#?}"
    );
    assert_eq!(ca[0].household, ca_double.key);
    assert_eq!(ca[0].others_count, 1);
    assert!(ca[0].others.is_empty());
    assert!(ca[0].double_economic_support);

    let asn = notices(&assisi, ASSISI).await;
    let lonely_n = find(&asn, as_lonely.key);
    assert!(lonely_n.unsupported_need);
    assert_eq!(lonely_n.others_count, 0);
    let helped_n = find(&asn, as_helped.key);
    assert!(!helped_n.unsupported_need);
    assert_eq!(helped_n.others_count, 1);
    assert_eq!(helped_n.others[0].member.to_string(), CARITAS);

    // The region's view, over QUIC and over HTTP.
    let (region, _) = hub.connect(&pki, REGION).await.unwrap();
    let m = match region
        .call(&Message::OverlapMatrixQuery(OverlapMatrixQuery {
            epoch: 2026,
        }))
        .await
        .unwrap()
    {
        Message::OverlapMatrix(m) => m,
        other => panic!("{other:?}"),
    };
    assert_eq!(m.double_economic_support, 1);
    assert_eq!(m.unsupported_need, 1);
    let pairs: Vec<(String, String, u64)> = m
        .pairs
        .iter()
        .map(|p| (p.a.to_string(), p.b.to_string(), p.households))
        .collect();
    assert_eq!(
        pairs,
        vec![
            (PERUGIA.to_string(), TERNI.to_string(), 1),
            (PERUGIA.to_string(), BANCO.to_string(), 1),
            (PERUGIA.to_string(), CARITAS.to_string(), 1),
            (BANCO.to_string(), CARITAS.to_string(), 0),
        ]
        .into_iter()
        .filter(|p| p.2 > 0)
        .collect::<Vec<_>>()
    );

    let (status, _) = hub.http_get("/api/overlaps?epoch=2026", None).await;
    assert_eq!(status, 401);
    let (status, _) = hub
        .http_get("/api/overlaps?epoch=2026", Some("wrong"))
        .await;
    assert_eq!(status, 401);
    let (status, body) = hub
        .http_get("/api/overlaps?epoch=2026", Some(&hub.token))
        .await;
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["epoch"], 2026);
    assert_eq!(v["double_economic_support"], 1);
    assert_eq!(v["unsupported_need"], 1);
    assert_eq!(v["pairs"].as_array().unwrap().len(), 3);
    assert_eq!(v["pairs"][0]["a"], PERUGIA);
    let (status, _) = hub.http_get("/api/overlaps", Some(&hub.token)).await;
    assert_eq!(status, 400);
    let (status, body) = hub.http_get("/healthz", None).await;
    assert_eq!((status, body.trim()), (200, "ok"));
    let (status, body) = hub.http_get("/metrics", None).await;
    assert_eq!(status, 200);
    assert!(
        body.contains("siso_hub_requests_total{kind=\"submit_batch\",outcome=\"ok\"} 5"),
        "{body}"
    );
    assert!(body.contains("siso_hub_records_stored 9"), "{body}");
    assert!(body.contains("siso_hub_ingest_seconds_count 5"));

    // When the Caritas stops supporting, the Assisi need becomes unsupported, and Perugia's
    // double support disappears.
    ack(&caritas, submit(CARITAS, 2, true, vec![], vec![])).await;
    let asn = notices(&assisi, ASSISI).await;
    assert!(find(&asn, as_helped.key).unsupported_need);
    let pg = notices(&perugia, PERUGIA).await;
    assert!(pg.iter().all(|n| !n.double_economic_support));
    hub.stop().await;
}

#[tokio::test]
async fn replaying_another_members_batch_changes_nothing_of_theirs() {
    let (pki, _data, hub) = fresh_hub().await;
    let (perugia, _) = hub.connect(&pki, PERUGIA).await.unwrap();
    let (terni, _) = hub.connect(&pki, TERNI).await.unwrap();
    let a = person("Rossi", "Mario", Sex::M, date!(1970 - 03 - 01));
    let h = household(&[a], &[(FOOD, date!(2026 - 01 - 10), None)], false);
    let original = submit(PERUGIA, 9, true, vec![h.clone()], vec![]);
    ack(&perugia, original.clone()).await;
    // Terni replays Perugia's batch as is: refused, the body names Perugia.
    match terni.request(&original).await.unwrap() {
        Message::Error(e) => assert_eq!(e.code, ErrorCode::IdentityMismatch),
        other => panic!("{other:?}"),
    }
    // Terni relabels it as its own, same batch id, as a snapshot that would empty a set: it is
    // applied to Terni's records only (batch ids are per member).
    let Message::SubmitBatch(mut b) = original else {
        panic!()
    };
    b.member = TERNI.parse().unwrap();
    b.add.clear();
    let a2 = ack(&terni, Message::SubmitBatch(b)).await;
    assert!(!a2.duplicate);
    assert_eq!(a2.stored, 0);
    // Perugia's record is untouched.
    assert_eq!(hub.running.hub.records(), 1);
    let again = ack(&perugia, submit(PERUGIA, 9, true, vec![h], vec![])).await;
    assert!(again.duplicate);
    assert_eq!(again.stored, 1);
    hub.stop().await;
}

#[tokio::test]
async fn an_intervention_ending_before_it_starts_is_refused_and_nothing_is_stored() {
    let (pki, _data, hub) = fresh_hub().await;
    let (c, _) = hub.connect(&pki, PERUGIA).await.unwrap();
    let anna = person("Rossi", "Anna", Sex::F, date!(1980 - 04 - 02));
    let bad = household(
        &[anna],
        &[(CASH, date!(2026 - 06 - 01), Some(date!(2026 - 05 - 31)))],
        false,
    );
    match c
        .request(&submit(PERUGIA, 1, false, vec![bad], vec![]))
        .await
        .unwrap()
    {
        Message::Error(e) => {
            assert_eq!(e.code, ErrorCode::Malformed);
            assert!(e.message.contains("ends before it starts"), "{}", e.message);
        }
        other => panic!("expected an error, got {other:?}"),
    }
    assert_eq!(hub.running.hub.records(), 0);
    // The same batch id with a valid period is a new batch, not a duplicate of the refusal.
    let good = household(
        &[anna],
        &[(CASH, date!(2026 - 05 - 01), Some(date!(2026 - 05 - 31)))],
        false,
    );
    let a = ack(&c, submit(PERUGIA, 1, false, vec![good], vec![])).await;
    assert!(!a.duplicate);
    assert_eq!(a.stored, 1);
    c.close().await;
    hub.stop().await;
}
