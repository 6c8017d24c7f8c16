//! Opening a sled store: the database, its `meta` tree and the schema version kept there
//! (`schema_version` → u32, big-endian). Each side's `store.rs` opens through
//! [`open_versioned`] and owns every other tree.
//!
//! **Invariant:** a store written by another schema version is never read or written: it is
//! refused at open with [`StoreError::Schema`], before any other tree is touched.

use std::path::Path;

/// How long an open waits for a store that another handle is closing.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// The `meta` key of the schema version.
const SCHEMA_KEY: &str = "schema_version";

/// Whether a missing store may be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Create the store if there is none (`init`); an existing one must have the right version.
    Create,
    /// The store must exist.
    Existing,
}

/// Which program opens a store, for the messages an operator reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    /// `node` or `hub`.
    pub name: &'static str,
    /// The schema version this build reads and writes.
    pub version: u32,
}

/// Store errors, the same on both sides: each side's `store.rs` re-exports this type.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled failed.
    #[error("store: {0}")]
    Sled(#[from] sled::Error),
    /// A value could not be decoded or encoded.
    #[error("store: corrupt value: {0}")]
    Corrupt(String),
    /// The store was written by another schema version.
    #[error("store schema version {found}, this siso-{program} reads version {expected}: {}", if found < expected { format!("back it up, then run `siso-{program} migrate`") } else { "it was written by a newer release: run that release (or a newer one)".to_owned() })]
    Schema {
        /// The version found.
        found: u32,
        /// The version this build reads.
        expected: u32,
        /// `node` or `hub`.
        program: &'static str,
    },
    /// No store where one was expected.
    #[error("no {program} store in {dir}; run `siso-{program} init` first")]
    Missing {
        /// The directory.
        dir: String,
        /// `node` or `hub`.
        program: &'static str,
    },
    /// Another process holds the store (sled lets one process open it).
    #[error("the {program} store in {dir} is in use by another process (is `siso-{program} serve` running? stop it first)")]
    InUse {
        /// The directory.
        dir: String,
        /// `node` or `hub`.
        program: &'static str,
    },
    /// A blocking store task did not complete (it panicked or was cancelled).
    #[error("store: task failed: {0}")]
    Task(String),
    /// A record changed between the read and the write that depended on it (another writer
    /// came first); nothing was written.
    #[error("store: the record changed while it was being written; nothing was written")]
    Changed,
}

impl From<sled::transaction::TransactionError<StoreError>> for StoreError {
    fn from(e: sled::transaction::TransactionError<StoreError>) -> Self {
        match e {
            sled::transaction::TransactionError::Abort(e) => e,
            sled::transaction::TransactionError::Storage(e) => StoreError::Sled(e),
        }
    }
}

/// An open store: the database and its `meta` tree, version checked.
#[derive(Debug, Clone)]
pub struct Versioned {
    /// The database.
    pub db: sled::Db,
    /// The `meta` tree.
    pub meta: sled::Tree,
    /// The write barrier an online backup holds (every write of the owning store enters it).
    pub barrier: Barrier,
}

/// The write barrier of a store: every write (or group of writes that belong together, such as
/// a batch and its message-log record) [`enter`](Barrier::enter)s it; an online backup
/// [`hold`](Barrier::hold)s it, so no write is half in a backup. Entering is re-entrant on a
/// thread (a group may contain writes that enter again) and fair: a backup waiting to hold the
/// barrier lets the writes in progress finish and keeps new ones waiting, so a steady load
/// cannot starve it.
///
/// **Invariant:** a write of a store that is not inside the barrier does not exist: each
/// side's `store.rs` enters it in every method that writes.
#[derive(Debug, Clone, Default)]
pub struct Barrier(std::sync::Arc<parking_lot::RwLock<()>>);

thread_local! {
    /// The barriers this thread is inside (by address), for re-entry.
    static INSIDE: std::cell::RefCell<Vec<usize>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A write inside the barrier (see [`Barrier::enter`]); not `Send`, so it cannot be held
/// across an `.await` of a task that may move between threads.
#[must_use = "the barrier is held only while the guard lives"]
#[derive(Debug)]
pub struct Writing<'a> {
    guard: Option<(parking_lot::RwLockReadGuard<'a, ()>, usize)>,
}

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        if let Some((_, id)) = &self.guard {
            INSIDE.with(|h| h.borrow_mut().retain(|x| x != id));
        }
    }
}

impl Barrier {
    /// Enters the barrier for a write (waits while a backup holds it or waits to).
    pub fn enter(&self) -> Writing<'_> {
        let id = std::sync::Arc::as_ptr(&self.0) as usize;
        if INSIDE.with(|h| h.borrow().contains(&id)) {
            return Writing { guard: None };
        }
        let g = self.0.read();
        INSIDE.with(|h| h.borrow_mut().push(id));
        Writing {
            guard: Some((g, id)),
        }
    }

    /// Holds the barrier: returns once every write in progress has finished; no write starts
    /// until the guard is dropped.
    pub fn hold(&self) -> parking_lot::RwLockWriteGuard<'_, ()> {
        self.0.write()
    }
}

/// Opens the store in `dir` with `config` (its path is set here), checking (or, with
/// [`OpenMode::Create`] on an empty store, writing and flushing) the schema version.
pub fn open_versioned(
    config: sled::Config,
    dir: &Path,
    owner: Owner,
    mode: OpenMode,
) -> Result<Versioned, StoreError> {
    let missing = || StoreError::Missing {
        dir: dir.display().to_string(),
        program: owner.name,
    };
    // sled creates a directory on open: look first, so that a mistyped path stays an error.
    if mode == OpenMode::Existing && !dir.join("conf").exists() {
        return Err(missing());
    }
    let config = config.path(dir);
    // A store closed a moment ago is unlocked only when sled's background flusher notices
    // (within about half a second): wait a little before calling it in use.
    let started = std::time::Instant::now();
    let db = loop {
        match config.open() {
            Ok(db) => break db,
            Err(sled::Error::Io(io)) if io.to_string().contains("could not acquire lock") => {
                if started.elapsed() >= LOCK_WAIT {
                    return Err(StoreError::InUse {
                        dir: dir.display().to_string(),
                        program: owner.name,
                    });
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(e) => return Err(StoreError::Sled(e)),
        }
    };
    let meta = db.open_tree("meta")?;
    match meta.get(SCHEMA_KEY)? {
        Some(v) => {
            let found = <[u8; 4]>::try_from(v.as_ref())
                .map(u32::from_be_bytes)
                .map_err(|_| StoreError::Corrupt(SCHEMA_KEY.into()))?;
            if found != owner.version {
                return Err(StoreError::Schema {
                    found,
                    expected: owner.version,
                    program: owner.name,
                });
            }
        }
        None if mode == OpenMode::Create => {
            meta.insert(SCHEMA_KEY, &owner.version.to_be_bytes())?;
            db.flush()?;
        }
        None => return Err(missing()),
    }
    Ok(Versioned {
        db,
        meta,
        barrier: Barrier::default(),
    })
}

/// One schema migration: rewrites a store of version `from` into version `from + 1`.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// The version it reads.
    pub from: u32,
    /// What it changes, for the operator's report.
    pub describe: &'static str,
    /// The rewrite (on the open database; the version is bumped by [`migrate`] after it).
    pub run: fn(&sled::Db) -> Result<(), StoreError>,
}

/// What [`migrate`] did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Migrated {
    /// The version found.
    pub from: u32,
    /// The version now.
    pub to: u32,
    /// The steps run, in order.
    pub steps: Vec<&'static str>,
}

/// Brings the store in `dir` to `owner.version` by running `steps` in order, each step's
/// version bump flushed before the next (a crash between steps leaves a store of an
/// intermediate version that the next `migrate` continues from). A store already current is
/// left untouched; a newer one, or an older one with no path of steps, is refused.
pub fn migrate(
    config: sled::Config,
    dir: &Path,
    owner: Owner,
    steps: &[Migration],
) -> Result<Migrated, StoreError> {
    if !dir.join("conf").exists() {
        return Err(StoreError::Missing {
            dir: dir.display().to_string(),
            program: owner.name,
        });
    }
    let db = config.path(dir).open().map_err(|e| match e {
        sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => {
            StoreError::InUse {
                dir: dir.display().to_string(),
                program: owner.name,
            }
        }
        e => StoreError::Sled(e),
    })?;
    let meta = db.open_tree("meta")?;
    let from = schema_version(&meta)?.ok_or_else(|| StoreError::Missing {
        dir: dir.display().to_string(),
        program: owner.name,
    })?;
    if from > owner.version {
        return Err(StoreError::Schema {
            found: from,
            expected: owner.version,
            program: owner.name,
        });
    }
    let mut done = Vec::new();
    let mut at = from;
    while at < owner.version {
        let step = steps.iter().find(|m| m.from == at).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "no migration from schema version {at}: this release cannot read the store"
            ))
        })?;
        (step.run)(&db)?;
        at += 1;
        meta.insert(SCHEMA_KEY, &at.to_be_bytes())?;
        db.flush()?;
        done.push(step.describe);
    }
    Ok(Migrated {
        from,
        to: at,
        steps: done,
    })
}

/// The schema version recorded in a store's `meta` tree.
pub fn schema_version(meta: &sled::Tree) -> Result<Option<u32>, StoreError> {
    meta.get(SCHEMA_KEY)?
        .map(|v| {
            <[u8; 4]>::try_from(v.as_ref())
                .map(u32::from_be_bytes)
                .map_err(|_| StoreError::Corrupt(SCHEMA_KEY.into()))
        })
        .transpose()
}

/// A plain sled configuration, for tests of modules that must not name sled.
#[cfg(test)]
pub(crate) fn test_config() -> sled::Config {
    sled::Config::new()
}

/// Tags of the store dump (the `store` part of a backup).
const DUMP_END: u8 = 0;
const DUMP_TREE: u8 = 1;
const DUMP_ENTRY: u8 = 2;
/// The largest key or value a dump may carry (a bad length is refused before allocating).
const DUMP_MAX_ITEM: u32 = 512 << 20;
/// How many entries a restore writes per sled batch.
const LOAD_CHUNK: usize = 10_000;

/// A tree's name as a manifest shows it: the name when it is text, else `hex:` and its bytes
/// (the hub's batch trees end in binary epoch and member bytes), so distinct trees never share a
/// label.
pub fn tree_label(name: &[u8]) -> String {
    match std::str::from_utf8(name) {
        Ok(s) if !s.starts_with("hex:") && !s.chars().any(char::is_control) => s.to_owned(),
        _ => format!("hex:{}", hex::encode(name)),
    }
}

/// What a dump held: entries per tree (sled's default tree included when not empty).
pub type TreeCounts = std::collections::BTreeMap<String, u64>;

/// Writes a consistent copy of every tree of `store` to `out`, holding the write barrier (so no
/// write is half in it) for as long as it takes. The format: for each non-empty tree, `1`,
/// name length (u32 BE), name, then for each entry `2`, key length, key, value length, value;
/// finally `0` and the number of entries (u64 BE).
pub fn dump(store: &Versioned, out: &mut dyn std::io::Write) -> Result<TreeCounts, DumpError> {
    let _held = store.barrier.hold();
    store.db.flush()?;
    let mut counts = TreeCounts::new();
    let mut total = 0u64;
    let mut names = store.db.tree_names();
    names.sort();
    for name in names {
        let tree = store.db.open_tree(&name)?;
        let mut n = 0u64;
        for kv in tree.iter() {
            let (k, v) = kv?;
            if n == 0 {
                out.write_all(&[DUMP_TREE])?;
                write_item(out, &name)?;
            }
            out.write_all(&[DUMP_ENTRY])?;
            write_item(out, &k)?;
            write_item(out, &v)?;
            n += 1;
        }
        if n > 0 {
            counts.insert(tree_label(&name), n);
            total += n;
        }
    }
    out.write_all(&[DUMP_END])?;
    out.write_all(&total.to_be_bytes())?;
    out.flush()?;
    Ok(counts)
}

fn write_item(out: &mut dyn std::io::Write, b: &[u8]) -> Result<(), DumpError> {
    let len = u32::try_from(b.len())
        .ok()
        .filter(|l| *l <= DUMP_MAX_ITEM)
        .ok_or(DumpError::Format("a key or value is too large"))?;
    out.write_all(&len.to_be_bytes())?;
    out.write_all(b)?;
    Ok(())
}

/// Errors of [`dump`], [`read_dump`] and [`load`].
#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Reading or writing the dump failed (a truncated dump ends here).
    #[error("store dump: {0}")]
    Io(#[from] std::io::Error),
    /// The dump is not well formed.
    #[error("store dump: {0}")]
    Format(&'static str),
    /// The target directory already holds a store.
    #[error("{0} already holds a store: restore into an empty directory")]
    Exists(String),
}

impl From<sled::Error> for DumpError {
    fn from(e: sled::Error) -> Self {
        DumpError::Store(StoreError::Sled(e))
    }
}

/// One item of a dump, as [`read_dump`] passes it on.
#[derive(Debug)]
pub enum DumpItem<'a> {
    /// The entries that follow belong to this tree.
    Tree(&'a [u8]),
    /// An entry of the current tree.
    Entry(&'a [u8], &'a [u8]),
}

fn read_exact_vec(input: &mut dyn std::io::Read, buf: &mut Vec<u8>) -> Result<(), DumpError> {
    let mut len = [0u8; 4];
    input.read_exact(&mut len)?;
    let len = u32::from_be_bytes(len);
    if len > DUMP_MAX_ITEM {
        return Err(DumpError::Format("an item is longer than the maximum"));
    }
    buf.clear();
    buf.resize(len as usize, 0);
    input.read_exact(buf)?;
    Ok(())
}

/// Reads a dump from `input` to its end, passing each item to `each`; checks the structure and
/// the final count (a dump cut short or with stray bytes is an error). Returns the entries per
/// tree.
pub fn read_dump(
    input: &mut dyn std::io::Read,
    each: &mut dyn FnMut(DumpItem<'_>) -> Result<(), DumpError>,
) -> Result<TreeCounts, DumpError> {
    let mut counts = TreeCounts::new();
    let (mut k, mut v, mut name) = (Vec::new(), Vec::new(), None::<String>);
    let mut total = 0u64;
    loop {
        let mut tag = [0u8; 1];
        input.read_exact(&mut tag)?;
        match tag[0] {
            DUMP_TREE => {
                read_exact_vec(input, &mut k)?;
                let n = tree_label(&k);
                if counts.contains_key(&n) {
                    return Err(DumpError::Format("a tree appears twice"));
                }
                each(DumpItem::Tree(&k))?;
                counts.insert(n.clone(), 0);
                name = Some(n);
            }
            DUMP_ENTRY => {
                let tree = name
                    .as_ref()
                    .ok_or(DumpError::Format("an entry before any tree"))?;
                read_exact_vec(input, &mut k)?;
                read_exact_vec(input, &mut v)?;
                each(DumpItem::Entry(&k, &v))?;
                if let Some(c) = counts.get_mut(tree) {
                    *c += 1;
                }
                total += 1;
            }
            DUMP_END => {
                let mut n = [0u8; 8];
                input.read_exact(&mut n)?;
                if u64::from_be_bytes(n) != total {
                    return Err(DumpError::Format("the entry count does not match"));
                }
                return Ok(counts);
            }
            _ => return Err(DumpError::Format("unknown item tag")),
        }
    }
}

/// Writes the dump read from `input` into a new store in `dir` (which must not hold one), then
/// flushes it. The schema version is whatever the dump carries: the owner's open checks it
/// afterwards (an older one asks for `migrate`).
pub fn load(dir: &Path, input: &mut dyn std::io::Read) -> Result<TreeCounts, DumpError> {
    if dir.join("conf").exists() {
        return Err(DumpError::Exists(dir.display().to_string()));
    }
    let db = sled::Config::new().path(dir).open()?;
    let mut tree: Option<sled::Tree> = None;
    let mut batch = sled::Batch::default();
    let mut pending = 0usize;
    let counts = read_dump(input, &mut |item| {
        match item {
            DumpItem::Tree(name) => {
                if let Some(t) = tree.take() {
                    t.apply_batch(std::mem::take(&mut batch))?;
                    pending = 0;
                }
                tree = Some(db.open_tree(name)?);
            }
            DumpItem::Entry(k, v) => {
                batch.insert(k, v);
                pending += 1;
                if pending >= LOAD_CHUNK {
                    if let Some(t) = &tree {
                        t.apply_batch(std::mem::take(&mut batch))?;
                    }
                    pending = 0;
                }
            }
        }
        Ok(())
    })?;
    if let Some(t) = tree.take() {
        t.apply_batch(batch)?;
    }
    db.flush()?;
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add_tree(db: &sled::Db) -> Result<(), StoreError> {
        db.open_tree("added")?.insert("k", "v")?;
        Ok(())
    }

    #[test]
    fn migrations_run_in_order_and_refuse_what_they_cannot_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("store");
        let v1 = Owner {
            name: "node",
            version: 1,
        };
        drop(open_versioned(sled::Config::new(), &p, v1, OpenMode::Create).unwrap());
        // Current: nothing to do.
        let m = migrate(sled::Config::new(), &p, v1, &[]).unwrap();
        assert_eq!((m.from, m.to, m.steps.len()), (1, 1, 0));
        // A release reading version 3 with steps 1→2→3.
        let v3 = Owner { version: 3, ..v1 };
        let e = open_versioned(sled::Config::new(), &p, v3, OpenMode::Existing).unwrap_err();
        assert!(e.to_string().contains("siso-node migrate"), "{e}");
        let steps = [
            Migration {
                from: 2,
                describe: "second",
                run: |_| Ok(()),
            },
            Migration {
                from: 1,
                describe: "first",
                run: add_tree,
            },
        ];
        // Without the step from 1: refused, nothing changed.
        let e = migrate(sled::Config::new(), &p, v3, &steps[..1]).unwrap_err();
        assert!(
            e.to_string().contains("no migration from schema version 1"),
            "{e}"
        );
        let m = migrate(sled::Config::new(), &p, v3, &steps).unwrap();
        assert_eq!((m.from, m.to, m.steps), (1, 3, vec!["first", "second"]));
        let s = open_versioned(sled::Config::new(), &p, v3, OpenMode::Existing).unwrap();
        assert_eq!(
            s.db.open_tree("added").unwrap().get("k").unwrap().unwrap(),
            &b"v"[..]
        );
        drop(s);
        // The older release refuses the newer store, and so does its migrate.
        let e = open_versioned(sled::Config::new(), &p, v1, OpenMode::Existing).unwrap_err();
        assert!(e.to_string().contains("newer release"), "{e}");
        assert!(migrate(sled::Config::new(), &p, v1, &[]).is_err());
        // No store at all.
        assert!(matches!(
            migrate(sled::Config::new(), &dir.path().join("none"), v1, &[]),
            Err(StoreError::Missing { .. })
        ));
    }

    const V1: Owner = Owner {
        name: "node",
        version: 1,
    };

    #[test]
    fn creates_checks_and_refuses_other_versions() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("store");
        let e = open_versioned(sled::Config::new(), &p, V1, OpenMode::Existing).unwrap_err();
        assert!(matches!(e, StoreError::Missing { .. }), "{e}");
        assert!(e.to_string().contains("siso-node init"), "{e}");
        assert!(
            !p.exists(),
            "an existing-only open must not create the directory"
        );

        let s = open_versioned(sled::Config::new(), &p, V1, OpenMode::Create).unwrap();
        assert_eq!(schema_version(&s.meta).unwrap(), Some(1));
        drop(s);
        open_versioned(sled::Config::new(), &p, V1, OpenMode::Existing).unwrap();

        let v2 = Owner { version: 2, ..V1 };
        for mode in [OpenMode::Existing, OpenMode::Create] {
            let e = open_versioned(sled::Config::new(), &p, v2, mode).unwrap_err();
            assert!(
                matches!(
                    e,
                    StoreError::Schema {
                        found: 1,
                        expected: 2,
                        ..
                    }
                ),
                "{e}"
            );
        }
    }

    #[test]
    fn a_store_reopened_at_once_after_closing_opens() {
        let dir = tempfile::tempdir().unwrap();
        for _ in 0..5 {
            let s = open_versioned(sled::Config::new(), dir.path(), V1, OpenMode::Create).unwrap();
            drop(s);
        }
    }

    #[test]
    fn a_store_open_in_another_handle_is_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let _held = open_versioned(sled::Config::new(), dir.path(), V1, OpenMode::Create).unwrap();
        let e =
            open_versioned(sled::Config::new(), dir.path(), V1, OpenMode::Existing).unwrap_err();
        assert!(matches!(e, StoreError::InUse { .. }), "{e}");
        assert!(e.to_string().contains("siso-node serve"), "{e}");
    }

    #[test]
    fn a_store_without_a_version_is_missing_unless_created_and_a_bad_one_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("store");
        {
            let db = sled::Config::new().path(&p).open().unwrap();
            db.flush().unwrap();
        }
        let e = open_versioned(sled::Config::new(), &p, V1, OpenMode::Existing).unwrap_err();
        assert!(matches!(e, StoreError::Missing { .. }), "{e}");
        {
            let db = sled::Config::new().path(&p).open().unwrap();
            db.open_tree("meta")
                .unwrap()
                .insert(SCHEMA_KEY, &[1u8, 2][..])
                .unwrap();
            db.flush().unwrap();
        }
        let e = open_versioned(sled::Config::new(), &p, V1, OpenMode::Create).unwrap_err();
        assert!(matches!(e, StoreError::Corrupt(_)), "{e}");
    }
}
