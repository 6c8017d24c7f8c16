//! Upgrades: `tests/fixtures/node-store-v1` is a node store written by schema version 1 (the
//! example registries of docs/examples and an operator's account), kept in git. Every release
//! must migrate it (`siso-node migrate`) and read what was written.

#![allow(clippy::unwrap_used)]

#[path = "../../tests/src/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};
use std::process::Command;

use siso_node::import::{ImportKind, ImportOptions, Profile};
use siso_node::store::{OpenMode, Store};
use siso_shared::Role;

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/examples")
}

fn make(dir: &Path) {
    let store = Store::open(dir, OpenMode::Create).unwrap();
    let today = time::macros::date!(2026 - 11 - 30);
    for kind in [
        ImportKind::Anagrafe,
        ImportKind::Redditi,
        ImportKind::Accessi,
        ImportKind::PreseInCarico,
        ImportKind::Interventi,
    ] {
        siso_node::import::import(
            &store,
            kind,
            &examples().join(kind.file_name()),
            &Profile::default(),
            &ImportOptions::new(Role::Comune, today),
        )
        .unwrap();
    }
    let p = siso_server::web::Password::new("una-password-lunga-2026").unwrap();
    siso_node::accounts::add(
        &store,
        "responsabile",
        siso_node::accounts::OperatorRole::Responsabile,
        &p,
        Role::Comune,
        time::macros::datetime!(2026-11-30 10:00 UTC),
    )
    .unwrap();
    store.flush().unwrap();
}

#[test]
fn a_version_1_store_is_migrated_and_read() {
    let copy = harness::store_fixture("node-store-v1", make);
    let m = Store::migrate(copy.path()).unwrap();
    assert_eq!(m.to, siso_node::store::SCHEMA_VERSION);
    let store = Store::open(copy.path(), OpenMode::Existing).unwrap();
    let s = siso_node::report::status(&store, "054039", 2026).unwrap();
    assert_eq!(
        (
            s.persons,
            s.families,
            s.accessi,
            s.prese_in_carico,
            s.interventi
        ),
        (7, 3, 3, 1, 3),
        "{s:?}"
    );
    let a = siso_node::accounts::get(&store, "responsabile")
        .unwrap()
        .unwrap();
    assert_eq!(a.role, siso_node::accounts::OperatorRole::Responsabile);
    drop(store);

    // The command: JSON on stdout; a store of a newer release is refused with a clear message.
    let data = tempfile::tempdir().unwrap();
    harness::copy_dir(copy.path(), &data.path().join("store"));
    let out = Command::new(env!("CARGO_BIN_EXE_siso-node"))
        .arg("--data")
        .arg(data.path())
        .arg("migrate")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["to"], siso_node::store::SCHEMA_VERSION);
    let db = sled::open(data.path().join("store")).unwrap();
    db.open_tree("meta")
        .unwrap()
        .insert("schema_version", &99u32.to_be_bytes())
        .unwrap();
    db.flush().unwrap();
    drop(db);
    let e = Store::open(&data.path().join("store"), OpenMode::Existing).unwrap_err();
    assert!(e.to_string().contains("newer release"), "{e}");
    let out = Command::new(env!("CARGO_BIN_EXE_siso-node"))
        .arg("--data")
        .arg(data.path())
        .arg("migrate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}
