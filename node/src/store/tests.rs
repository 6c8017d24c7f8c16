//! Tests of the node store: atomic audited writes, the journal of large commits, chunked kinds.

#![allow(clippy::unwrap_used)]
use super::*;

fn big_tx(n: usize, tag: u8) -> Tx {
    let mut tx = Tx::default();
    for i in 0..n {
        tx.put(
            Kind::Reddito,
            format!("P{i:07}").as_bytes(),
            &(i as u64, tag),
        )
        .unwrap();
    }
    tx.delete(Kind::Reddito, b"P0000000");
    tx
}

fn audit_record(seq: u64) -> AuditRecord {
    AuditRecord {
        seq,
        time: 0,
        user: "u".into(),
        role: "r".into(),
        action: "registrazione".into(),
        persons: Vec::new(),
        detail: String::new(),
        addr: String::new(),
        prev: [0; 32],
    }
}

#[test]
fn an_audited_write_checks_what_it_read_and_lands_with_its_record_or_not_at_all() {
    let d = tempfile::tempdir().unwrap();
    let s = Store::open(&d.path().join("s"), OpenMode::Create).unwrap();
    let mut tx = Tx::default();
    tx.put(Kind::Caso, b"k", &1u32).unwrap();
    s.apply_audited(&tx, &audit_record(0)).unwrap();
    // Someone read 1 and writes 2; someone else, who also read 1, then writes 3: refused.
    let mut first = Tx::default();
    first.expect(Kind::Caso, b"k", Some(&1u32)).unwrap();
    first.put(Kind::Caso, b"k", &2u32).unwrap();
    let mut second = Tx::default();
    second.expect(Kind::Caso, b"k", Some(&1u32)).unwrap();
    second.put(Kind::Caso, b"k", &3u32).unwrap();
    second.put(Kind::Attivita, b"other", &9u32).unwrap();
    s.apply_audited(&first, &audit_record(1)).unwrap();
    assert!(matches!(
        s.apply_audited(&second, &audit_record(2)),
        Err(StoreError::Changed)
    ));
    assert_eq!(s.get::<u32>(Kind::Caso, b"k").unwrap(), Some(2));
    assert_eq!(s.get::<u32>(Kind::Attivita, b"other").unwrap(), None);
    assert_eq!(
        s.audit_iter().count(),
        2,
        "the refused write's record is not kept"
    );
    // An absent key expected absent.
    let mut once = Tx::default();
    once.expect::<u32>(Kind::Idempotency, b"key", None).unwrap();
    once.put(Kind::Idempotency, b"key", &7u32).unwrap();
    s.apply_audited(&once, &audit_record(2)).unwrap();
    assert!(matches!(
        s.apply_audited(&once, &audit_record(3)),
        Err(StoreError::Changed)
    ));
}

#[test]
fn a_large_commit_goes_through_the_journal_and_leaves_it_empty() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), OpenMode::Create).unwrap();
    let n = DIRECT_COMMIT * 2 + 17;
    s.commit(big_tx(n, 1)).unwrap();
    // The later delete of the first key won; everything else is there.
    assert_eq!(s.count(Kind::Reddito).unwrap(), n - 1);
    assert_eq!(
        s.get::<(u64, u8)>(Kind::Reddito, format!("P{:07}", n - 1).as_bytes())
            .unwrap(),
        Some(((n - 1) as u64, 1))
    );
    assert!(s.db.open_tree(JOURNAL).unwrap().is_empty());
    assert!(s.meta.get(JOURNAL_COMMIT).unwrap().is_none());
}

/// Stages a journal as `commit` does, optionally marks it committed, and "crashes".
fn stage(dir: &Path, n: usize, committed: bool) {
    let s = Store::open(dir, OpenMode::Create).unwrap();
    let tx = big_tx(n, 2);
    let mut b = sled::Batch::default();
    for (i, (k, v)) in tx.iter().enumerate() {
        b.insert(&(i as u64).to_be_bytes(), encode_write(k, v));
    }
    s.db.open_tree(JOURNAL).unwrap().apply_batch(b).unwrap();
    if committed {
        s.meta.insert(JOURNAL_COMMIT, &[1u8]).unwrap();
    }
    s.db.flush().unwrap();
}

/// Opens after a "crash" (sled releases its file lock when its background thread lets go).
fn reopen(dir: &Path) -> Store {
    for _ in 0..100 {
        match Store::open(dir, OpenMode::Existing) {
            Ok(s) => return s,
            Err(StoreError::Sled(sled::Error::Io(_))) => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            Err(e) => panic!("{e}"),
        }
    }
    panic!("the store stayed locked")
}

#[test]
fn a_committed_journal_is_finished_at_open_and_an_uncommitted_one_discarded() {
    let n = DIRECT_COMMIT + 5;
    let dir = tempfile::tempdir().unwrap();
    stage(dir.path(), n, true);
    let s = reopen(dir.path());
    assert_eq!(s.count(Kind::Reddito).unwrap(), n - 1);
    assert!(s.db.open_tree(JOURNAL).unwrap().is_empty());
    assert!(s.meta.get(JOURNAL_COMMIT).unwrap().is_none());
    drop(s);

    let dir = tempfile::tempdir().unwrap();
    stage(dir.path(), n, false);
    let s = reopen(dir.path());
    assert_eq!(s.count(Kind::Reddito).unwrap(), 0);
    assert!(s.db.open_tree(JOURNAL).unwrap().is_empty());
}

/// Checks the chunk invariants of `kind` and returns its entries.
fn chunk_entries(s: &Store, kind: Kind) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for kv in s.data.scan_prefix([kind as u8]) {
        let (k, v) = kv.unwrap();
        let entries = chunk::decode(&v).unwrap();
        assert!(!entries.is_empty(), "an empty chunk");
        assert_eq!(
            entries[0].0,
            &k[1..],
            "a chunk keyed by other than its first entry"
        );
        if let Some((last, _)) = out.last() {
            assert!(last < &entries[0].0, "chunks overlap");
        }
        out.extend(entries);
    }
    out
}

#[derive(Debug, Clone)]
enum Op {
    Put(Vec<u8>, usize),
    Delete(Vec<u8>),
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    // Keys from a small alphabet, so that prefixes and chunks are shared; values up to 3 KB,
    // so that chunks split.
    let k = prop::collection::vec(prop::sample::select(b"ABCD".to_vec()), 1..6);
    prop_oneof![
        3 => (k.clone(), 0usize..3000).prop_map(|(k, n)| Op::Put(k, n)),
        1 => k.prop_map(Op::Delete),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(40))]
    /// Chunked persons behave as one entry per key: any sequence of transactions (committed
    /// or applied with an audit record) reads back as a map would, by key, prefix and count.
    #[test]
    fn chunked_kinds_read_back_as_a_map(
        txs in proptest::collection::vec(proptest::collection::vec(op(), 1..40), 1..8),
        prefixes in proptest::collection::vec(proptest::collection::vec(proptest::sample::select(b"ABCD".to_vec()), 0..3), 4),
    ) {
        use std::collections::BTreeMap;
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path(), OpenMode::Create).unwrap();
        let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        for (n, ops) in txs.iter().enumerate() {
            let mut tx = Tx::default();
            for op in ops {
                match op {
                    Op::Put(k, len) => {
                        let v: Vec<u8> = (0..*len).map(|i| (i + n) as u8).collect();
                        tx.put(Kind::Person, k, &v).unwrap();
                        model.insert(k.clone(), v);
                    }
                    Op::Delete(k) => {
                        tx.delete(Kind::Person, k);
                        model.remove(k);
                    }
                }
            }
            if n % 2 == 0 {
                s.commit(tx).unwrap();
            } else {
                s.apply_audited(&tx, &audit_record(n as u64)).unwrap();
            }
            let stored: Vec<(Vec<u8>, Vec<u8>)> = chunk_entries(&s, Kind::Person)
                .into_iter()
                .map(|(k, v)| (k, dec::<Vec<u8>>(&v).unwrap()))
                .collect();
            let expected: Vec<(Vec<u8>, Vec<u8>)> = model.clone().into_iter().collect();
            proptest::prop_assert_eq!(&stored, &expected);
        }
        proptest::prop_assert_eq!(s.count(Kind::Person).unwrap(), model.len());
        for k in model.keys().take(20) {
            let got = s.get::<Vec<u8>>(Kind::Person, k).unwrap();
            proptest::prop_assert_eq!(got.as_ref(), model.get(k));
        }
        proptest::prop_assert_eq!(s.get::<Vec<u8>>(Kind::Person, b"ABCDABCD").unwrap(), None);
        for p in &prefixes {
            let want: Vec<Vec<u8>> = model.keys().filter(|k| k.starts_with(p)).cloned().collect();
            let got: Vec<Vec<u8>> = s.scan::<Vec<u8>>(Kind::Person, p).unwrap().into_iter().map(|(k, _)| k).collect();
            proptest::prop_assert_eq!(&got, &want);
            let limited = s.keys_under(Kind::Person, p, 3).unwrap();
            proptest::prop_assert_eq!(&limited[..], &want[..want.len().min(3)]);
        }
        // Other kinds are untouched by chunks of persons, and families are a kind of their own.
        proptest::prop_assert_eq!(s.count(Kind::Family).unwrap(), 0);
    }
}

#[test]
fn concurrent_writers_of_one_chunk_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), OpenMode::Create).unwrap();
    let mut seed = Tx::default();
    for i in 0..50u32 {
        seed.put(Kind::Person, format!("K{i:04}").as_bytes(), &i)
            .unwrap();
    }
    s.commit(seed).unwrap();
    // Eight threads add persons that all land in the same few chunks, half through commit,
    // half through audited writes.
    std::thread::scope(|scope| {
        for t in 0..8u32 {
            let s = s.clone();
            scope.spawn(move || {
                for i in 0..40u32 {
                    let mut tx = Tx::default();
                    tx.put(
                        Kind::Person,
                        format!("K{:04}-{t}", i).as_bytes(),
                        &(t * 1000 + i),
                    )
                    .unwrap();
                    if t % 2 == 0 {
                        s.commit(tx).unwrap();
                    } else {
                        s.apply_audited(&tx, &audit_record(u64::from(t * 1000 + i)))
                            .unwrap();
                    }
                }
            });
        }
    });
    assert_eq!(s.count(Kind::Person).unwrap(), 50 + 8 * 40);
    for t in 0..8u32 {
        for i in 0..40u32 {
            assert_eq!(
                s.get::<u32>(Kind::Person, format!("K{:04}-{t}", i).as_bytes())
                    .unwrap(),
                Some(t * 1000 + i)
            );
        }
    }
    chunk_entries(&s, Kind::Person);
}

#[test]
fn two_hundred_thousand_entries_commit_as_few_chunks_through_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), OpenMode::Create).unwrap();
    let mut tx = Tx::default();
    for i in 0..200_000u32 {
        tx.put(Kind::Person, format!("{i:08}").as_bytes(), &[i; 20])
            .unwrap();
    }
    s.commit(tx).unwrap();
    // About TARGET_BYTES of entries (8-byte key, 80-byte value, 6 bytes of lengths) per chunk.
    let chunks = s.data.scan_prefix([Kind::Person as u8]).count();
    let expected = 200_000 * 94 / chunk::TARGET_BYTES;
    assert!(
        (expected / 2..expected * 2).contains(&chunks),
        "{chunks} chunks, about {expected} expected"
    );
    assert_eq!(s.count(Kind::Person).unwrap(), 200_000);
    assert_eq!(
        s.get::<[u32; 20]>(Kind::Person, b"00123456").unwrap(),
        Some([123_456; 20])
    );
    // A second import replacing every entry and deleting a tenth of them.
    let mut tx = Tx::default();
    for i in 0..200_000u32 {
        if i % 10 == 0 {
            tx.delete(Kind::Person, format!("{i:08}").as_bytes());
        } else {
            tx.put(Kind::Person, format!("{i:08}").as_bytes(), &[i + 1; 20])
                .unwrap();
        }
    }
    s.commit(tx).unwrap();
    assert_eq!(s.count(Kind::Person).unwrap(), 180_000);
    assert_eq!(s.get::<[u32; 20]>(Kind::Person, b"00000010").unwrap(), None);
    assert_eq!(
        s.get::<[u32; 20]>(Kind::Person, b"00000011").unwrap(),
        Some([12; 20])
    );
    chunk_entries(&s, Kind::Person);
    assert!(s.db.open_tree(JOURNAL).unwrap().is_empty());
}

/// Writes persons and families one key each under `P` and `F`, as schema 1 did.
fn v1_layout(data: &sled::Tree, n: u32) {
    for i in 0..n {
        data.insert(key_v1(b'P', &format!("CF{i:06}")), enc(&i).unwrap())
            .unwrap();
        if i % 3 == 0 {
            data.insert(key_v1(b'F', &format!("{i}")), enc(&vec![i]).unwrap())
                .unwrap();
        }
    }
}

fn key_v1(kind: u8, k: &str) -> Vec<u8> {
    let mut out = vec![kind];
    out.extend_from_slice(k.as_bytes());
    out
}

#[test]
fn the_migration_to_chunks_moves_everything_and_resumes_after_an_interruption() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = Store::open(dir.path(), OpenMode::Create).unwrap();
        v1_layout(&s.data, 5_000);
        s.data
            .insert(key(Kind::Reddito, b"x"), enc(&7u8).unwrap())
            .unwrap();
        // An interruption after the first two chunks: what migrate_v1 writes, step by step.
        let mut b = sled::Batch::default();
        let first: Vec<(sled::IVec, sled::IVec)> = s
            .data
            .scan_prefix([b'P'])
            .take(300)
            .map(Result::unwrap)
            .collect();
        for piece in first.chunks(150) {
            let refs: Vec<(&[u8], &[u8])> =
                piece.iter().map(|(k, v)| (&k[1..], v.as_ref())).collect();
            b.insert(
                key(Kind::Person, refs[0].0),
                chunk::encode(refs.iter().copied()),
            );
            for (k, _) in piece {
                b.remove(k);
            }
        }
        s.data.apply_batch(b).unwrap();
        migrate_v1_twice(&s.db);
        assert_eq!(s.count(Kind::Person).unwrap(), 5_000);
        assert_eq!(s.count(Kind::Family).unwrap(), 1_667);
        assert_eq!(s.data.scan_prefix([b'P']).count(), 0);
        assert_eq!(s.data.scan_prefix([b'F']).count(), 0);
        assert_eq!(s.get::<u32>(Kind::Person, b"CF004321").unwrap(), Some(4321));
        assert_eq!(
            s.get::<Vec<u32>>(Kind::Family, b"4320").unwrap(),
            Some(vec![4320])
        );
        assert_eq!(s.get::<u8>(Kind::Reddito, b"x").unwrap(), Some(7));
        let keys: Vec<Vec<u8>> = chunk_entries(&s, Kind::Person)
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        let want: Vec<Vec<u8>> = (0..5_000)
            .map(|i| format!("CF{i:06}").into_bytes())
            .collect();
        assert_eq!(keys, want);
    }
}

fn migrate_v1_twice(db: &sled::Db) {
    chunked::migrate_v1(db).unwrap();
    chunked::migrate_v1(db).unwrap();
}
