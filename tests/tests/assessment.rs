//! Needs assessment on the example households (hand-computed below), configurable rules, and
//! a latent need that the hub reports as unsupported until someone supports it.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use siso_node::assess::assess;
use siso_node::import::{import, ImportKind, ImportOptions, Profile};
use siso_node::rules::Rules;
use siso_node::store::{Kind, OpenMode, Store};
use siso_node::sync::assess_and_round;
use siso_shared::Role;
use siso_tests::harness::*;
use time::macros::{date, datetime};

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/examples")
}

fn load(store: &siso_node::store::Store, kinds: &[ImportKind]) {
    let o = ImportOptions::new(Role::Comune, date!(2026 - 11 - 29));
    for &k in kinds {
        let file = examples().join(k.file_name());
        import(store, k, &file, &Profile::default(), &o).unwrap();
    }
}

/// The six registries (they come first).
fn registries() -> &'static [ImportKind] {
    &ImportKind::all()[..6]
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 0.005
}

#[test]
fn hand_computed_households() {
    let d = tempfile::tempdir().unwrap();
    let s = Store::open(&d.path().join("s"), OpenMode::Create).unwrap();
    load(&s, registries());
    load(&s, &[ImportKind::Interventi]);
    let a = assess(&s, &Rules::defaults(), 2026, date!(2026 - 11 - 29)).unwrap();
    assert_eq!(a.reference_date, "2026-11-29");
    let h = |id: &str| {
        a.households
            .iter()
            .find(|h| h.household == id)
            .unwrap()
            .clone()
    };

    // 1001 Rossi: incomes 18 500 + 6 200.50; both shares of the main home excluded;
    // three members → scale 2.04; 24 700.50 / 2.04 = 12 108.09: above 10 140, eligible for nothing.
    let rossi = h("F:1001");
    let i = rossi.indicator.unwrap();
    assert!(close(i.income, 24_700.50) && close(i.property, 0.0) && close(i.scale, 2.04));
    assert!(close(i.value, 12_108.09));
    assert!(rossi.eligible.is_empty() && rossi.flags.is_empty() && !rossi.latent_need);

    // 1002 Verdi, 81, alone, 80% invalidity, not self-sufficient, a second home (rendita 420):
    // property 420 × 1.05 × 160 = 70 560; (9 800 + 14 112) / (1 + 0.5) = 15 941.33.
    let verdi = h("F:1002");
    let i = verdi.indicator.unwrap();
    assert!(close(i.property, 70_560.0) && close(i.scale, 1.5) && close(i.value, 15_941.33));
    assert!(verdi.eligible.is_empty());
    assert_eq!(verdi.flags, vec!["anziano_solo_non_autosufficiente"]);
    assert!(verdi.supported_here);

    // 1003 Neri: 7 400 / 1.57 = 4 713.38, a minor → ADI-like and hardship; rent arrears with a
    // minor; 320 € TARI unpaid (> 200) with hardship; supported here (rent support), so not latent.
    let neri = h("F:1003");
    assert!(close(neri.indicator.as_ref().unwrap().value, 4_713.38));
    assert_eq!(neri.eligible, vec!["adi", "disagio_economico"]);
    assert_eq!(
        neri.flags,
        vec!["morosita_con_minori", "morosita_tributi_con_disagio"]
    );
    assert!(neri.supported_here && !neri.latent_need);

    assert_eq!(a.counts.assessed, 3);
    assert_eq!(a.counts.latent_need, 0);
    assert_eq!(a.counts.insufficient_data, 0);
    assert_eq!(a.counts.eligible.get("adi"), Some(&1));
    assert_eq!(a.counts.critical.get("morosita_con_minori"), Some(&1));

    // Configurable thresholds: at 20 000 € the Rossi family (a minor, Luca) qualifies for both.
    let text = siso_node::rules::DEFAULT_RULES.replace("10140.0", "20000.0");
    let rules = Rules::parse(&text, "test").unwrap();
    let a = assess(&s, &rules, 2026, date!(2026 - 11 - 29)).unwrap();
    let rossi = a
        .households
        .iter()
        .find(|h| h.household == "F:1001")
        .unwrap();
    assert_eq!(rossi.eligible, vec!["adi", "disagio_economico"]);
    assert!(rossi.latent_need, "eligible and not supported here");
    // Before 2025 the 9 360 threshold applies (epoch 2024, reference 31 December 2024).
    let a = assess(&s, &rules, 2024, date!(2026 - 11 - 29)).unwrap();
    assert_eq!(a.reference_date, "2024-12-31");
    assert!(a
        .households
        .iter()
        .find(|h| h.household == "F:1001")
        .unwrap()
        .eligible
        .is_empty());
}

#[test]
fn insufficient_data_without_adult_income() {
    let d = tempfile::tempdir().unwrap();
    let s = Store::open(&d.path().join("s"), OpenMode::Create).unwrap();
    load(&s, &[ImportKind::Anagrafe]);
    let a = assess(&s, &Rules::defaults(), 2026, date!(2026 - 11 - 29)).unwrap();
    assert_eq!(a.counts.insufficient_data, 3);
    assert!(a
        .households
        .iter()
        .all(|h| h.indicator.is_none() && h.eligible.is_empty() && !h.latent_need));
}

#[tokio::test]
async fn latent_need_until_supported() {
    let (pki, dirs, hub) = fresh_hub().await;
    let (cfg, st) = node(&pki, hub.addr(), PERUGIA, &dirs.path().join("pg"), 100);
    load(&st, registries());
    let now = datetime!(2026-11-29 10:00 UTC);
    // The Neri household is eligible and nobody supports it: shared as latent need, and the hub
    // reports it unsupported.
    let r = assess_and_round(&st, &cfg, &Rules::defaults(), now)
        .await
        .unwrap();
    assert_eq!(r.shared, 1);
    let view = siso_node::report::overlaps_json(&st).unwrap();
    assert_eq!(view.len(), 1);
    assert_eq!(view[0]["household"], "F:1003");
    assert_eq!(view[0]["unsupported_need"], true);
    // Once this node supports it, it is no longer latent nor unsupported.
    load(&st, &[ImportKind::Interventi]);
    let a = assess(&st, &Rules::defaults(), 2026, now.date()).unwrap();
    assert!(
        !a.households
            .iter()
            .find(|h| h.household == "F:1003")
            .unwrap()
            .latent_need
    );
    assess_and_round(&st, &cfg, &Rules::defaults(), now)
        .await
        .unwrap();
    assert_eq!(st.count(Kind::Notice).unwrap(), 0);
    let s = hub.running.hub.summary(2026);
    assert_eq!(s.unsupported_need, 0);
    hub.stop().await;
}
