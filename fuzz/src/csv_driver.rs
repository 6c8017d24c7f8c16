//! The body shared by the CSV-driver fuzz targets (one target per import kind, so each gets its
//! own corpus and coverage): the input bytes are written to a file and imported into a real sled
//! store. The first byte chooses the import profile (canonical UTF-8 or the CP1252 vendor
//! profile of `docs/examples/profiles`). Properties: the import never panics, and an import that
//! fails writes nothing.

use std::path::PathBuf;
use std::sync::OnceLock;

use siso_node::import::{import, ImportKind, ImportOptions, Profile};
use siso_node::store::{OpenMode, Store};
use siso_shared::Role;

struct World {
    dir: tempfile::TempDir,
    store: Store,
    profiles: [Profile; 2],
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = Store::open(&dir.path().join("store"), OpenMode::Create).expect("a store");
        let vendor = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../docs/examples/profiles/vendor-cp1252.toml");
        let vendor = Profile::load(&vendor).expect("the vendor profile loads");
        World {
            dir,
            store,
            profiles: [Profile::default(), vendor],
        }
    })
}

/// Imports `data` as `kind`; panics (a finding) if a failed import wrote anything.
pub fn run(kind: ImportKind, data: &[u8]) {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let w = world();
    let file = w.dir.path().join(format!("{}.csv", kind.as_str()));
    std::fs::write(&file, body).expect("write the input");
    let before = w.store.entries();
    let opts = ImportOptions::new(Role::Comune, time::macros::date!(2026 - 11 - 29));
    let profile = &w.profiles[usize::from(sel & 1)];
    if import(&w.store, kind, &file, profile, &opts).is_err() {
        assert_eq!(w.store.entries(), before, "a failed import wrote something");
    }
}
