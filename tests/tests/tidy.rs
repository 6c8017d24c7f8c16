//! Tidy tests of the source tree, in the spirit of rust-analyzer's: they read the files as text
//! and fail when the architecture described in docs/ARCHITECTURE.md stops being true.
//!
//! - The modules of `siso-hub` and `siso-node` form layers; a module may name (`crate::x`) only
//!   modules of lower layers, so no import circle can come back. A new module must be placed in
//!   a layer here (and in the codemap).
//! - No source file under a `src/` directory is longer than [`MAX_LINES`] lines.
//! - Every Rust file starts with a `//!` doc comment.
//! - Only the `store.rs` of each side (and files of its `store/` folder), and `siso-server`'s, name
//!   sled.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The longest a source file may be.
const MAX_LINES: usize = 800;

/// The hub's layers, lowest first. **Invariant:** `stats` never calls `service`; `service` never
/// calls `http` or `server`.
const HUB_LAYERS: &[&[&str]] = &[
    &["disclosure"],
    &["accounts", "config", "metrics", "overlap", "store"],
    &["audit", "ingest", "stats", "tls"],
    &["release"],
    &["plan"],
    &["dashboard", "service"],
    &["backup", "http", "server", "users"],
    &["lib"],
];

/// The node's layers, lowest first: data flows store → model → household → assess → aggregates
/// → sync. **Invariant:** `assess` and `aggregates` never call `sync`.
const NODE_LAYERS: &[&[&str]] = &[
    &["check_cf", "client", "config", "model", "rules"],
    &["oprf", "store"],
    &["accounts", "audit", "devices", "persons"],
    &["household", "import", "retention"],
    &["assess", "report"],
    &["cartella"],
    &["aggregates"],
    &["sync", "web"],
    &["backup", "serve"],
    &["lib"],
];

/// The key service's layers, lowest first.
const KEYD_LAYERS: &[&[&str]] = &[
    &["config", "store"],
    &["metrics"],
    &["service"],
    &["server", "shares"],
    &["lib"],
];

/// The workspace root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the workspace")
        .to_path_buf()
}

/// Every `.rs` file below `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if p.is_dir() {
                if !["target", ".git", "corpus", "artifacts"].contains(&name.as_str()) {
                    stack.push(p);
                }
            } else if name.ends_with(".rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The top-level module a file of `src/` belongs to: `overlap/index.rs` → `overlap`,
/// `service.rs` → `service`, `lib.rs` → `lib`.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_owned()
}

/// The top-level modules a source text names through `crate::` (in `use` lines and in paths),
/// comments left out.
fn crate_refs(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                // `crate::{a, b::{C, D}, e}`: the names at depth 0 of the group.
                let mut depth = 0;
                let mut name = String::new();
                let mut names = Vec::new();
                for c in group.chars() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => names.push(std::mem::take(&mut name)),
                        _ if depth == 0 => name.push(c),
                        _ => {}
                    }
                }
                names.push(name);
                for n in names {
                    let n: String = n
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if !n.is_empty() {
                        out.insert(n);
                    }
                }
            } else {
                let n: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !n.is_empty() {
                    out.insert(n);
                }
            }
        }
    }
    out
}

/// The layer violations of a crate: `(module, named module)` pairs where the named module is not
/// in a lower layer, and modules that no layer lists.
fn layer_violations(files: &[(String, String)], layers: &[&[&str]]) -> Vec<String> {
    let layer = |m: &str| layers.iter().position(|l| l.contains(&m));
    let mut out = Vec::new();
    for (module, text) in files {
        let Some(own) = layer(module) else {
            out.push(format!("module `{module}` is in no layer"));
            continue;
        };
        for r in crate_refs(text) {
            if r == *module {
                continue;
            }
            match layer(&r) {
                Some(l) if l < own => {}
                Some(_) => out.push(format!("`{module}` names `crate::{r}`, not a lower layer")),
                None if module == "lib" => {}
                None => out.push(format!(
                    "`{module}` names `crate::{r}`, which no layer lists"
                )),
            }
        }
    }
    out
}

/// The files of a crate's `src/` as (top-level module, text), the binary's `main.rs` left out.
fn crate_sources(krate: &str) -> Vec<(String, String)> {
    let src = root().join(krate).join("src");
    rust_files(&src)
        .into_iter()
        .filter(|f| f.file_name().is_some_and(|n| n != "main.rs") || f.parent() != Some(&src))
        .map(|f| (module_of(&src, &f), std::fs::read_to_string(&f).unwrap()))
        .collect()
}

#[test]
fn hub_node_and_keyd_modules_respect_their_layers() {
    let mut v = layer_violations(&crate_sources("hub"), HUB_LAYERS);
    v.extend(layer_violations(&crate_sources("node"), NODE_LAYERS));
    v.extend(layer_violations(&crate_sources("keyd"), KEYD_LAYERS));
    assert!(
        v.is_empty(),
        "layering (tests/tests/tidy.rs):\n{}",
        v.join("\n")
    );
}

#[test]
fn the_layer_check_finds_a_circle_and_an_unplaced_module() {
    let files = vec![
        ("stats".to_owned(), "use crate::service::Hub;\n".to_owned()),
        (
            "service".to_owned(),
            "use crate::{stats, store::{Store, StoreError}};\n// crate::http in a comment\n"
                .to_owned(),
        ),
        (
            "store".to_owned(),
            "fn f() { crate::nowhere::g() }\n".to_owned(),
        ),
        ("extra".to_owned(), String::new()),
    ];
    let layers: &[&[&str]] = &[&["store"], &["stats"], &["service"]];
    let v = layer_violations(&files, layers);
    assert_eq!(
        v,
        [
            "`stats` names `crate::service`, not a lower layer",
            "`store` names `crate::nowhere`, which no layer lists",
            "module `extra` is in no layer",
        ],
        "{v:#?}"
    );
    assert_eq!(
        crate_refs("use crate::{a, b::{C, D}, e::f};\nlet x = crate::g::h();"),
        ["a", "b", "e", "g"].map(String::from).into()
    );
}

/// The workspace crates' directories.
const CRATES: [&str; 7] = [
    "shared",
    "server",
    "node",
    "hub",
    "keyd",
    "certs-dev",
    "tests",
];

#[test]
fn no_source_file_is_longer_than_the_limit() {
    let mut long = Vec::new();
    for c in CRATES {
        for f in rust_files(&root().join(c).join("src")) {
            let n = std::fs::read_to_string(&f).unwrap().lines().count();
            if n > MAX_LINES {
                long.push(format!("{}: {n} lines", f.display()));
            }
        }
    }
    assert!(
        long.is_empty(),
        "files over {MAX_LINES} lines (split them along their seams):\n{}",
        long.join("\n")
    );
}

#[test]
fn every_rust_file_starts_with_a_module_doc() {
    let mut bare = Vec::new();
    for c in CRATES.iter().chain(&["fuzz"]) {
        for f in rust_files(&root().join(c)) {
            let text = std::fs::read_to_string(&f).unwrap();
            if !text.trim_start().starts_with("//!") {
                bare.push(f.display().to_string());
            }
        }
    }
    assert!(
        bare.is_empty(),
        "files without a `//!` doc:\n{}",
        bare.join("\n")
    );
}

#[test]
fn only_the_store_modules_name_sled() {
    let allowed = [
        "node/src/store.rs",
        "hub/src/store.rs",
        "keyd/src/store.rs",
        "server/src/store.rs",
    ];
    let mut found = Vec::new();
    for c in CRATES {
        for f in rust_files(&root().join(c).join("src")) {
            let rel = f
                .strip_prefix(root())
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if allowed.contains(&rel.as_str())
                || allowed
                    .iter()
                    .any(|a| rel.starts_with(&format!("{}/", a.trim_end_matches(".rs"))))
            {
                continue;
            }
            let text = std::fs::read_to_string(&f).unwrap();
            if text
                .lines()
                .any(|l| l.split("//").next().unwrap_or("").contains("sled::"))
            {
                found.push(rel);
            }
        }
    }
    assert!(found.is_empty(), "sled named outside the stores: {found:?}");
}

/// Every `siso_*` metric an alert rule names is exported somewhere in the code (a renamed
/// metric must not silence an alert).
#[test]
fn alert_rules_name_only_exported_metrics() {
    let rules = std::fs::read_to_string(root().join("packaging/prometheus/siso-alerts.yml"))
        .expect("packaging/prometheus/siso-alerts.yml");
    let mut code = String::new();
    for c in CRATES {
        for f in rust_files(&root().join(c).join("src")) {
            code.push_str(&std::fs::read_to_string(&f).expect("source"));
        }
    }
    let mut named = std::collections::BTreeSet::new();
    for (i, _) in rules.match_indices("siso_") {
        let name: String = rules[i..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        named.insert(name);
    }
    assert!(named.len() >= 6, "{named:?}");
    let missing: Vec<&String> = named
        .iter()
        .filter(|n| !code.contains(n.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "alert rules name metrics nobody exports: {missing:?}"
    );
}

/// Every file the hub's Containerfile copies from the build context exists (CI machines without
/// a container engine do not build the image).
#[test]
fn the_containerfile_copies_files_that_exist() {
    let text = std::fs::read_to_string(root().join("packaging/Containerfile")).unwrap();
    let mut copies = 0;
    for line in text.lines().filter(|l| l.starts_with("COPY ")) {
        let args: Vec<&str> = line.split_whitespace().skip(1).collect();
        if args.iter().any(|a| a.starts_with("--from")) || args == [".", "."] {
            continue;
        }
        for src in &args[..args.len() - 1] {
            assert!(
                root().join(src).exists(),
                "Containerfile copies {src}, which is missing"
            );
            copies += 1;
        }
    }
    assert!(
        copies >= 3,
        "the Containerfile copies nothing from the context"
    );
    for line in text.lines().filter(|l| l.contains("--config")) {
        assert!(
            line.contains("/etc/siso/hub.toml") || line.starts_with('#'),
            "{line}"
        );
    }
}
