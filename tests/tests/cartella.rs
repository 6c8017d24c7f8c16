//! Records written in the operators' app are first-class: the assessment and the next sync
//! pick them up with no second entry (counts and fingerprints), a follow-up of an overlap
//! notice reaches the aggregates as a count, and re-importing the municipal files afterwards
//! neither overwrites nor duplicates them.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use siso_node::accounts::{self, OperatorRole};
use siso_node::assess::assess;
use siso_node::audit::AuditTrail;
use siso_node::cartella::{Desk, Operator, RecordKind, Step};
use siso_node::import::{import, ImportKind, ImportOptions, Profile};
use siso_node::model::{Accesso, AppRecord, Intervento};
use siso_node::rules::Rules;
use siso_node::store::{Kind, Store};
use siso_node::sync::{assess_and_round, build_records, epoch_key};
use siso_server::web::Password;
use siso_shared::wire::Measure;
use siso_shared::{AreaBisogno, Role, TipoIntervento};
use siso_tests::harness::*;
use time::macros::{date, datetime};

const GIULIA: &str = "NREGLI90B42G478F";

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/examples")
}

fn load_file(
    store: &Store,
    kind: ImportKind,
    file: &std::path::Path,
) -> siso_node::import::ImportSummary {
    let o = ImportOptions::new(Role::Comune, date!(2026 - 11 - 29));
    import(store, kind, file, &Profile::default(), &o).unwrap()
}

fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// An operator's account on a node of `member`'s role.
fn account(st: &Store, user: &str, role: OperatorRole, member: Role) {
    let p = Password::new("una frase lunga abbastanza").unwrap();
    accounts::add(st, user, role, &p, member, datetime!(2026-11-29 10:00 UTC)).unwrap();
}

fn operator(user: &str, role: OperatorRole) -> Operator {
    Operator {
        user: user.into(),
        role,
        addr: "127.0.0.1".into(),
    }
}

/// An aggregate measure's epoch total (no breakdown).
fn total(cells: &[siso_shared::wire::PeriodAggregates], m: Measure) -> i64 {
    cells
        .iter()
        .filter(|p| p.month == 0)
        .flat_map(|p| &p.cells)
        .filter(|c| c.measure == m && c.breakdown == siso_shared::wire::Breakdown::Total)
        .map(|c| c.value)
        .sum()
}

/// An aggregate measure's epoch value for one area of need.
fn by_area(cells: &[siso_shared::wire::PeriodAggregates], m: Measure, a: AreaBisogno) -> i64 {
    cells
        .iter()
        .filter(|p| p.month == 0)
        .flat_map(|p| &p.cells)
        .filter(|c| c.measure == m && c.breakdown == siso_shared::wire::Breakdown::Area(a))
        .map(|c| c.value)
        .sum()
}

#[tokio::test]
async fn app_records_reach_the_assessment_the_sync_and_survive_reimports() {
    let (pki, dirs, hub) = fresh_hub().await;
    let (cfg, st) = node(&pki, hub.addr(), PERUGIA, &dirs.path().join("pg"), 100);
    for k in &ImportKind::all()[..6] {
        load_file(&st, *k, &examples().join(k.file_name()));
    }
    let now = datetime!(2026-11-29 10:00 UTC);
    for (user, role) in [
        ("s.verdi", OperatorRole::Sportello),
        ("a.rossi", OperatorRole::AssistenteSociale),
    ] {
        account(&st, user, role, Role::Comune);
    }
    // Before any social-service record: the Neri household is a latent need, unsupported.
    let rules = Rules::defaults();
    let r = assess_and_round(&st, &cfg, &rules, now).await.unwrap();
    assert_eq!(r.shared, 1);
    assert_eq!(hub.running.hub.summary(2026).unsupported_need, 1);

    // The desk records an access asking for a case; a social worker takes it in charge, grants
    // shopping vouchers and settles the hub's notice.
    let trail = AuditTrail::open(&st).unwrap();
    let ids = siso_node::persons::id_key(&st).unwrap();
    let desk = Desk {
        store: &st,
        trail: &trail,
        ids: &ids,
        now,
    };
    let sportello = operator("s.verdi", OperatorRole::Sportello);
    let worker = operator("a.rossi", OperatorRole::AssistenteSociale);
    let access = fields(&[
        ("data", "2026-11-28"),
        ("codice_fiscale", GIULIA),
        ("area_bisogno", "poverta"),
        ("esito", "richiesta di presa in carico"),
    ]);
    desk.write(&sportello, RecordKind::Accesso, access, None)
        .unwrap();
    let load = desk.caseload(&worker).unwrap();
    let case = load.richieste[0].caso.id.clone().unwrap();
    // For the plan's figures: the request waits for a case to open, and the household's need
    // counts under `altro` (no open case yet).
    let reference = siso_node::model::reference_date(2026, now.date());
    let a = assess(&st, &rules, 2026, now.date()).unwrap();
    let cells = siso_node::aggregates::compute(&st, &a, 2026, reference).unwrap();
    assert_eq!(total(&cells, Measure::WaitingRequests), 1);
    assert_eq!(
        by_area(&cells, Measure::WaitingRequests, AreaBisogno::Poverta),
        1
    );
    assert_eq!(total(&cells, Measure::HouseholdsInNeed), 1);
    assert_eq!(
        by_area(&cells, Measure::HouseholdsInNeed, AreaBisogno::Altro),
        1
    );
    desk.step(&worker, &case, Step::Presa, &BTreeMap::new())
        .unwrap();
    // Two diary entries: one of the case (poverta), one of no case (altro).
    for (minutes, caso) in [("45", case.as_str()), ("30", "")] {
        let activity = fields(&[
            ("codice_fiscale", GIULIA),
            ("data", "2026-11-28"),
            ("tipo_attivita", "colloquio"),
            ("durata_minuti", minutes),
            ("note", "Colloquio."),
            ("luogo", "sede"),
            ("caso", caso),
        ]);
        desk.write(&worker, RecordKind::Attivita, activity, None)
            .unwrap();
    }
    let vouchers = fields(&[
        ("codice_fiscale", GIULIA),
        ("tipo_intervento", "buoni_spesa"),
        ("area_bisogno", "poverta"),
        ("data_inizio", "2026-11-28"),
        ("data_fine", "2026-12-31"),
        ("importo", "150,00"),
    ]);
    let w = desk
        .write(&worker, RecordKind::Intervento, vouchers, None)
        .unwrap();
    let notice = hex::encode(&st.keys(Kind::Notice).unwrap()[0]);
    let follow = fields(&[
        ("esito", "intervento_rivisto"),
        ("note", "Buoni spesa concessi."),
    ]);
    desk.follow_up(&worker, &notice, &follow).unwrap();
    // Every record says who wrote it.
    let id: [u8; 16] = hex::decode(&w.id).unwrap().try_into().unwrap();
    let rec: AppRecord = st.get(Kind::AppRecord, &id).unwrap().unwrap();
    assert_eq!(rec.author, "a.rossi");

    // The assessment sees the support: no longer a latent need.
    let a = assess(&st, &rules, 2026, now.date()).unwrap();
    let neri = a
        .households
        .iter()
        .find(|h| h.household == "F:1003")
        .unwrap();
    assert!(neri.supported_here && !neri.latent_need, "{neri:?}");
    // The aggregates count the notice and its follow-up.
    let cells = siso_node::aggregates::compute(&st, &a, 2026, reference).unwrap();
    assert_eq!(total(&cells, Measure::OverlapNotices), 1);
    assert_eq!(total(&cells, Measure::OverlapNoticesResolved), 1);
    assert_eq!(total(&cells, Measure::Accessi), 1);
    assert_eq!(total(&cells, Measure::PersoneInCarico), 1);
    assert_eq!(total(&cells, Measure::ExpenditureCents), 15_000);
    // The plan's figures: the case is open, so the request no longer waits and the need counts
    // under the case's area; one intervention; the diary's minutes by the area of their case.
    assert_eq!(total(&cells, Measure::WaitingRequests), 0);
    assert_eq!(total(&cells, Measure::HouseholdsInNeed), 1);
    assert_eq!(
        by_area(&cells, Measure::HouseholdsInNeed, AreaBisogno::Poverta),
        1
    );
    assert_eq!(total(&cells, Measure::Interventions), 1);
    assert_eq!(
        by_area(&cells, Measure::Interventions, AreaBisogno::Poverta),
        1
    );
    assert_eq!(total(&cells, Measure::ActivityMinutes), 75);
    // One social worker with an enabled account (the receptionist is not one).
    assert_eq!(total(&cells, Measure::SocialWorkers), 1);
    assert_eq!(
        by_area(&cells, Measure::ActivityMinutes, AreaBisogno::Poverta),
        45
    );
    assert_eq!(
        by_area(&cells, Measure::ActivityMinutes, AreaBisogno::Altro),
        30
    );

    // The next sync shares the household with the app's intervention, under the same key.
    let key = epoch_key(&cfg).unwrap();
    let recs = build_records(&st, &key, Role::Comune, &BTreeSet::new(), now.date()).unwrap();
    let (_, neri_rec) = recs.values().find(|(id, _)| id == "F:1003").unwrap();
    assert!(neri_rec
        .interventions
        .iter()
        .any(|i| i.kind == TipoIntervento::BuoniSpesa));
    let r = assess_and_round(&st, &cfg, &rules, now).await.unwrap();
    assert_eq!((r.shared, r.added), (1, 1), "{r:?}");
    assert_eq!(hub.running.hub.summary(2026).unsupported_need, 0);

    // Re-importing files that hold the very rows the operators wrote: left out, not duplicated;
    // other rows imported; the app's records untouched.
    let dir = tempfile::tempdir().unwrap();
    let acc = dir.path().join("accessi.csv");
    std::fs::write(
        &acc,
        format!(
            "{}2026-11-28;{GIULIA};poverta;richiesta di presa in carico\n",
            std::fs::read_to_string(examples().join("accessi.csv")).unwrap()
        ),
    )
    .unwrap();
    let s = load_file(&st, ImportKind::Accessi, &acc);
    assert_eq!(
        (s.rows_read, s.imported, s.already_in_app),
        (4, 3, 1),
        "{s}"
    );
    let int = dir.path().join("interventi.csv");
    std::fs::write(
        &int,
        format!(
            "{}{GIULIA};buoni_spesa;poverta;2026-11-28;2026-12-31;150.00;;;;;\n",
            std::fs::read_to_string(examples().join("interventi.csv")).unwrap()
        ),
    )
    .unwrap();
    let s = load_file(&st, ImportKind::Interventi, &int);
    assert_eq!((s.imported, s.already_in_app), (3, 1), "{s}");
    let giulia_access: Vec<(Vec<u8>, Accesso)> = st.scan(Kind::Accesso, GIULIA.as_bytes()).unwrap();
    // The example's own access (12 January) and the app's: two, not three.
    assert_eq!(giulia_access.len(), 2, "{giulia_access:?}");
    let giulia_int: Vec<(Vec<u8>, Intervento)> =
        st.scan(Kind::Intervento, GIULIA.as_bytes()).unwrap();
    assert_eq!(giulia_int.len(), 2, "{giulia_int:?}");
    assert!(
        giulia_int.iter().any(|(k, _)| k.len() == 16 + 16),
        "the app's record kept its id"
    );
    // A second import of the same files changes nothing.
    let before = st.entries();
    load_file(&st, ImportKind::Accessi, &acc);
    load_file(&st, ImportKind::Interventi, &int);
    assert_eq!(st.entries(), before);
    hub.stop().await;
}

#[test]
fn two_workers_taking_the_same_request_at_once_one_wins() {
    let d = tempfile::tempdir().unwrap();
    let st = Store::open(&d.path().join("s"), siso_node::store::OpenMode::Create).unwrap();
    load_file(&st, ImportKind::Anagrafe, &examples().join("anagrafe.csv"));
    let now = datetime!(2026-11-29 10:00 UTC);
    for user in ["a.rossi", "b.gialli"] {
        account(&st, user, OperatorRole::AssistenteSociale, Role::Comune);
    }
    let trail = AuditTrail::open(&st).unwrap();
    let ids = siso_node::persons::id_key(&st).unwrap();
    let desk = Desk {
        store: &st,
        trail: &trail,
        ids: &ids,
        now,
    };
    let (a, b) = (
        operator("a.rossi", OperatorRole::AssistenteSociale),
        operator("b.gialli", OperatorRole::AssistenteSociale),
    );
    let desk_op = operator("s.verdi", OperatorRole::Sportello);
    let access = fields(&[
        ("data", "2026-11-28"),
        ("codice_fiscale", GIULIA),
        ("area_bisogno", "poverta"),
        ("esito", "richiesta di presa in carico"),
    ]);
    desk.write(&desk_op, RecordKind::Accesso, access, None)
        .unwrap();
    let case = desk.caseload(&a).unwrap().richieste[0]
        .caso
        .id
        .clone()
        .unwrap();
    // Both read the request as unassigned; the first to write wins, the second is refused and
    // writes nothing (not even its audit record).
    let none = BTreeMap::new();
    let first = desk.prepare_step(&a, &case, Step::Presa, &none).unwrap();
    let second = desk.prepare_step(&b, &case, Step::Presa, &none).unwrap();
    let audit_before = st.audit_iter().count();
    desk.apply_step(&a, first).unwrap();
    let e = desk.apply_step(&b, second).unwrap_err();
    assert!(
        matches!(
            e,
            siso_node::cartella::CartellaError::Store(siso_node::store::StoreError::Changed)
        ),
        "{e:?}"
    );
    assert_eq!(st.audit_iter().count(), audit_before + 1);
    let (_, _, caso) = desk.case(&case).unwrap();
    assert_eq!(caso.assegnatario.as_deref(), Some("a.rossi"));
}

#[tokio::test]
async fn a_third_sector_record_by_demographics_overlaps_a_comunes() {
    let (pki, dirs, hub) = fresh_hub().await;
    let (pg_cfg, pg) = node(&pki, hub.addr(), PERUGIA, &dirs.path().join("pg"), 100);
    let (ets_cfg, ets) = node(&pki, hub.addr(), CARITAS, &dirs.path().join("ets"), 100);
    for k in &ImportKind::all()[..6] {
        load_file(&pg, *k, &examples().join(k.file_name()));
    }
    // Perugia supports Sara Conti (no codice fiscale in its file either: computed).
    load_file(
        &pg,
        ImportKind::Interventi,
        &examples().join("interventi.csv"),
    );
    let now = datetime!(2026-11-29 10:00 UTC);
    account(&ets, "caritas.1", OperatorRole::OperatoreEts, Role::Ets);
    // The entity's operator records a food parcel for her from her demographics alone.
    let trail = AuditTrail::open(&ets).unwrap();
    let ids = siso_node::persons::id_key(&ets).unwrap();
    let desk = Desk {
        store: &ets,
        trail: &trail,
        ids: &ids,
        now,
    };
    let parcel = fields(&[
        ("codice_fiscale", ""),
        ("cognome", "Conti"),
        ("nome", "Sara"),
        ("sesso", "F"),
        ("data_nascita", "1985-07-07"),
        ("codice_catastale_nascita", "H501"),
        ("tipo_intervento", "pacco_alimentare"),
        ("area_bisogno", "poverta"),
        ("data_inizio", "2026-03-10"),
        ("importo", ""),
    ]);
    let w = desk
        .write(
            &operator("caritas.1", OperatorRole::OperatoreEts),
            RecordKind::Intervento,
            parcel,
            None,
        )
        .unwrap();
    assert_eq!(w.person.cf, "CNTSRA85L47H501X");
    let rules = Rules::defaults();
    assess_and_round(&pg, &pg_cfg, &rules, now).await.unwrap();
    assess_and_round(&ets, &ets_cfg, &rules, now).await.unwrap();
    assess_and_round(&pg, &pg_cfg, &rules, now).await.unwrap();
    // Both members learn of the overlap on their own household.
    let household = "NR:CNTSRA85L47H501X";
    for (who, st) in [("Perugia", &pg), ("Caritas", &ets)] {
        let notices: Vec<(Vec<u8>, siso_node::model::StoredNotice)> =
            st.scan(Kind::Notice, b"").unwrap();
        let n = notices
            .iter()
            .find(|(_, n)| n.household == household)
            .unwrap_or_else(|| panic!("{who} has no notice for {household}: {notices:?}"));
        assert!(n.1.notice.others_count >= 1, "{who}: {:?}", n.1.notice);
    }
    hub.stop().await;
}
