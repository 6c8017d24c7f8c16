//! Property tests of the import drivers on bad input: arbitrary bytes and mutated example files
//! give a result or an error — never a panic — and an import that fails writes nothing.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use proptest::prelude::*;
use siso_node::import::{import, ImportKind, ImportOptions, Profile};
use siso_node::store::{OpenMode, Store};
use siso_shared::Role;

const KINDS: [(ImportKind, &str); 4] = [
    (ImportKind::Anagrafe, "anagrafe.csv"),
    (ImportKind::Redditi, "redditi.csv"),
    (ImportKind::Locazioni, "locazioni.csv"),
    (ImportKind::Interventi, "interventi.csv"),
];

fn opts() -> ImportOptions {
    ImportOptions::new(Role::Comune, time::macros::date!(2026 - 11 - 29))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn mutated_files_never_panic_and_failures_write_nothing(
        which in 0usize..4,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..12),
        garbage in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let (kind, name) = KINDS[which];
        let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/examples").join(name);
        let mut bytes = std::fs::read(src).unwrap();
        for (pos, v) in flips {
            let n = bytes.len();
            bytes[pos % n] = v;
        }
        bytes.extend(garbage);
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("in.csv");
        std::fs::write(&f, &bytes).unwrap();
        let store = Store::open(&dir.path().join("store"), OpenMode::Create).unwrap();
        match import(&store, kind, &f, &Profile::default(), &opts()) {
            Ok(s) => prop_assert_eq!(s.rejected, 0),
            Err(_) => prop_assert_eq!(store.entries(), 0, "a failed import wrote something"),
        }
    }
}

#[test]
fn a_100_mb_single_line_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("huge.csv");
    let mut bytes = b"codice_fiscale;anno;reddito_complessivo\n".to_vec();
    bytes.resize(bytes.len() + 100 * 1024 * 1024, b'A');
    std::fs::write(&f, &bytes).unwrap();
    drop(bytes);
    let store = Store::open(&dir.path().join("store"), OpenMode::Create).unwrap();
    let e = import(
        &store,
        ImportKind::Redditi,
        &f,
        &Profile::default(),
        &opts(),
    )
    .unwrap_err();
    let lines = e.lines();
    let wanted = ":2: row: expected 3 fields, found 1";
    assert!(lines.iter().any(|l| l.ends_with(wanted)), "{lines:?}");
    assert_eq!(store.entries(), 0);
}
