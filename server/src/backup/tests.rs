//! Backup files: round trip, every flipped byte and every truncation refused, encryption, and
//! the write barrier (no write half in a dump taken while writers run).

use super::*;
use crate::store::{open_versioned, OpenMode, Owner, Versioned};

const OWNER: Owner = Owner {
    name: "node",
    version: 1,
};

fn store(dir: &Path) -> Versioned {
    let s = open_versioned(crate::store::test_config(), dir, OWNER, OpenMode::Create).unwrap();
    let t = s.db.open_tree("data").unwrap();
    for i in 0u32..500 {
        t.insert(i.to_be_bytes(), vec![i as u8; (i % 40) as usize])
            .unwrap();
    }
    s.db.open_tree("audit").unwrap().insert("a", "b").unwrap();
    s
}

fn manifest() -> Manifest {
    Manifest {
        format: 1,
        program: "node".into(),
        release: "test".into(),
        schema_version: 1,
        member: "comune:054039".into(),
        epochs: vec![2026],
        created: "2026-12-06T00:00:00Z".into(),
        online: false,
        trees: TreeCounts::new(),
        summary: Default::default(),
        references: vec!["/etc/siso/key.pem".into()],
        parts: vec![],
    }
}

/// Writes a backup of a fresh store into `dir/backup`; returns its path.
fn backup(dir: &Path, recipients: &[age::x25519::Recipient]) -> PathBuf {
    let s = store(&dir.join("store"));
    let mut staged = tempfile::tempfile().unwrap();
    let trees = crate::store::dump(&s, &mut staged).unwrap();
    assert_eq!(trees.get("data"), Some(&500));
    let path = dir.join("backup");
    let m = write(
        &path,
        Manifest {
            trees,
            ..manifest()
        },
        vec![
            (
                "node.toml".into(),
                PartData::Bytes(b"member = \"x\"\n".to_vec()),
            ),
            (STORE_PART.into(), PartData::File(staged)),
        ],
        recipients,
    )
    .unwrap();
    assert_eq!(m.parts.len(), 2);
    assert!(!partial_path(&path).exists());
    path
}

#[test]
fn a_backup_verifies_and_restores_into_an_identical_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = backup(dir.path(), &[]);
    let m = verify(&path, None, "node").unwrap();
    assert_eq!(m.member, "comune:054039");
    let e = verify(&path, None, "hub").unwrap_err();
    assert!(e.to_string().contains("not of a hub"), "{e}");

    let target = dir.path().join("restored");
    let mut seen = Vec::new();
    restore(&path, None, "node", &target, &mut |name, b| {
        seen.push(name.to_owned());
        Ok(b)
    })
    .unwrap();
    assert_eq!(seen, ["node.toml"]);
    assert_eq!(
        std::fs::read(target.join("node.toml")).unwrap(),
        b"member = \"x\"\n"
    );
    let r = open_versioned(
        crate::store::test_config(),
        &target.join(STORE_PART),
        OWNER,
        OpenMode::Existing,
    )
    .unwrap();
    let original = store(&dir.path().join("again"));
    for name in ["data", "audit"] {
        let a: Vec<_> =
            r.db.open_tree(name)
                .unwrap()
                .iter()
                .map(Result::unwrap)
                .collect();
        let b: Vec<_> = original
            .db
            .open_tree(name)
            .unwrap()
            .iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(a, b, "{name}");
    }
    // A second restore into the same (now full) directory is refused.
    let e = restore(&path, None, "node", &target, &mut |_, b| Ok(b)).unwrap_err();
    assert!(e.to_string().contains("not empty"), "{e}");
}

#[test]
fn every_flipped_byte_and_every_truncation_is_refused_and_nothing_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let path = backup(dir.path(), &[]);
    let good = std::fs::read(&path).unwrap();
    let bad = dir.path().join("bad");
    let target = dir.path().join("target");
    // Every byte of the head and the tail, and a stride through the store.
    let positions = (0..200)
        .chain((200..good.len()).step_by(97))
        .chain(good.len() - 40..good.len());
    for at in positions {
        let mut b = good.clone();
        b[at] ^= 0x20;
        std::fs::write(&bad, &b).unwrap();
        assert!(verify(&bad, None, "node").is_err(), "flipped byte {at}");
        assert!(
            restore(&bad, None, "node", &target, &mut |_, b| Ok(b)).is_err(),
            "flipped byte {at}"
        );
        assert!(
            !target.exists(),
            "a refused restore left {}",
            target.display()
        );
    }
    for len in (0..good.len())
        .step_by(251)
        .chain(good.len() - 33..good.len())
    {
        std::fs::write(&bad, &good[..len]).unwrap();
        let e = verify(&bad, None, "node").unwrap_err();
        assert!(
            matches!(e, BackupError::Truncated | BackupError::NotABackup),
            "cut at {len}: {e}"
        );
    }
    let mut longer = good.clone();
    longer.push(0);
    std::fs::write(&bad, &longer).unwrap();
    assert!(verify(&bad, None, "node").is_err());
    std::fs::write(&bad, b"hello world, a text file").unwrap();
    assert!(matches!(
        verify(&bad, None, "node"),
        Err(BackupError::NotABackup)
    ));
}

#[test]
fn an_encrypted_backup_opens_only_with_a_recipients_identity() {
    use age::secrecy::ExposeSecret;
    let dir = tempfile::tempdir().unwrap();
    let id = age::x25519::Identity::generate();
    let other = age::x25519::Identity::generate();
    let id_file = dir.path().join("id.txt");
    std::fs::write(&id_file, id.to_string().expose_secret()).unwrap();
    let other_file = dir.path().join("other.txt");
    std::fs::write(&other_file, other.to_string().expose_secret()).unwrap();
    let recipients = recipients(&[id.to_public().to_string()]).unwrap();
    let path = backup(dir.path(), &recipients);
    let raw = std::fs::read(&path).unwrap();
    assert!(raw.starts_with(AGE_MAGIC));
    assert!(
        !raw.windows(7).any(|w| w == b"comune:"),
        "the manifest is readable in an encrypted backup"
    );

    assert!(matches!(
        verify(&path, None, "node"),
        Err(BackupError::NeedsIdentity)
    ));
    let e = verify(&path, Some(&other_file), "node").unwrap_err();
    assert!(e.to_string().contains("not the identity"), "{e}");
    verify(&path, Some(&id_file), "node").unwrap();
    let target = dir.path().join("t");
    restore(&path, Some(&id_file), "node", &target, &mut |_, b| Ok(b)).unwrap();
    assert!(target.join("store/conf").exists());

    let bad = dir.path().join("bad");
    for at in [raw.len() / 2, raw.len() - 5] {
        let mut b = raw.clone();
        b[at] ^= 1;
        std::fs::write(&bad, &b).unwrap();
        assert!(
            verify(&bad, Some(&id_file), "node").is_err(),
            "flipped {at}"
        );
    }
    std::fs::write(&bad, &raw[..raw.len() - 100]).unwrap();
    assert!(verify(&bad, Some(&id_file), "node").is_err());
    assert!(recipients_err("age1notakey"));
}

fn recipients_err(r: &str) -> bool {
    recipients(&[r.to_owned()]).is_err()
}

#[test]
fn a_dump_taken_while_writers_run_holds_whole_writes_only() {
    let dir = tempfile::tempdir().unwrap();
    let s = open_versioned(
        crate::store::test_config(),
        dir.path(),
        OWNER,
        OpenMode::Create,
    )
    .unwrap();
    let a = s.db.open_tree("a").unwrap();
    let b = s.db.open_tree("b").unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..3u8)
        .map(|w| {
            let (s, a, b, stop) = (s.clone(), a.clone(), b.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut i = 0u32;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    // One logical write in two trees, inside the barrier.
                    let _w = s.barrier.enter();
                    let k = [&[w][..], &i.to_be_bytes()].concat();
                    a.insert(&k, &[1]).unwrap();
                    std::thread::yield_now();
                    b.insert(&k, &[2]).unwrap();
                    i += 1;
                }
            })
        })
        .collect();
    for _ in 0..20 {
        let mut out = Vec::new();
        let counts = crate::store::dump(&s, &mut out).unwrap();
        assert_eq!(
            counts.get("a"),
            counts.get("b"),
            "a dump holds half of a write"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
}
