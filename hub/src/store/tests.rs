//! Tests of the hub store: batches, the ledger, snapshots, members sharing a batch tree, the
//! schema check and the migration to bounded batch trees.

use super::*;
use siso_shared::wire::RecordFlags;

fn rec(k: u8) -> HouseholdRecord {
    HouseholdRecord {
        key: Fingerprint([k; 32]),
        persons: vec![Fingerprint([k + 1; 32])],
        interventions: vec![],
        flags: RecordFlags::default(),
    }
}

/// Two Comuni whose batches share one tree.
fn same_shard() -> (MemberId, MemberId) {
    let a: MemberId = "054039".parse().unwrap();
    let name = shard_tree_name(2026, &a);
    let b = (0..100_000)
        .map(|i| format!("{:06}", 100_000 + i).parse::<MemberId>().unwrap())
        .find(|b| *b != a && shard_tree_name(2026, b) == name)
        .unwrap();
    (a, b)
}

#[test]
fn members_sharing_a_tree_stay_apart() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = same_shard();
    let s = Store::open(dir.path(), OpenMode::Create).unwrap();
    let batch = |snapshot, k| StoredBatch {
        snapshot,
        add: vec![rec(k)],
        remove: vec![],
    };
    for (m, k) in [(&a, 1), (&b, 10), (&a, 2), (&b, 11), (&b, 12)] {
        s.put_batch(2026, m, None, &batch(false, k)).unwrap();
    }
    assert_eq!(s.batch_count(2026, &a).unwrap(), 2);
    assert_eq!(s.batch_count(2026, &b).unwrap(), 3);
    // A snapshot of one member deletes its own earlier batches only.
    assert_eq!(s.put_batch(2026, &a, None, &batch(true, 3)).unwrap(), 2);
    assert_eq!(s.batch_count(2026, &a).unwrap(), 1);
    assert_eq!(s.batch_count(2026, &b).unwrap(), 3);
    // The next batch of b continues b's sequence.
    assert_eq!(s.put_batch(2026, &b, None, &batch(false, 13)).unwrap(), 3);
    let mut seen = Vec::new();
    s.replay(|e, m, bt| seen.push((e, m.clone(), bt.add[0].key.0[0])))
        .unwrap();
    let of = |m: &MemberId| -> Vec<u8> {
        seen.iter()
            .filter(|(_, x, _)| x == m)
            .map(|(_, _, k)| *k)
            .collect()
    };
    assert_eq!(of(&a), vec![3]);
    assert_eq!(of(&b), vec![10, 11, 12, 13]);
}

#[test]
fn a_schema_3_store_moves_to_bounded_trees() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = same_shard();
    let batch = |k| StoredBatch {
        snapshot: false,
        add: vec![rec(k)],
        remove: vec![],
    };
    {
        // Schema 3: one tree per member and epoch, keys `seq`.
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        for (m, ks) in [(&a, vec![1u8, 2]), (&b, vec![10])] {
            let mut name = MEMBER_TREES.to_vec();
            name.extend_from_slice(&prefix(2026, m));
            let t = db.open_tree(name).unwrap();
            for (seq, k) in ks.into_iter().enumerate() {
                t.insert((seq as u64).to_be_bytes(), encode(&batch(k)).unwrap())
                    .unwrap();
            }
        }
        db.open_tree("meta")
            .unwrap()
            .insert("schema_version", &3u32.to_be_bytes())
            .unwrap();
        db.flush().unwrap();
        // A crash half-way: one member already copied, its old tree still there.
        v3::migrate(&db).unwrap();
        let mut name = MEMBER_TREES.to_vec();
        name.extend_from_slice(&prefix(2026, &a));
        db.open_tree(name)
            .unwrap()
            .insert(0u64.to_be_bytes(), encode(&batch(1)).unwrap())
            .unwrap();
        db.flush().unwrap();
    }
    let m = Store::migrate(dir.path()).unwrap();
    assert_eq!(m.to, SCHEMA_VERSION);
    let s = Store::open(dir.path(), OpenMode::Existing).unwrap();
    assert!(!s
        .db
        .tree_names()
        .iter()
        .any(|t| t.starts_with(MEMBER_TREES)));
    assert_eq!(s.batch_count(2026, &a).unwrap(), 2);
    assert_eq!(s.batch_count(2026, &b).unwrap(), 1);
    let mut seen = Vec::new();
    s.replay(|_, m, bt| seen.push((m.clone(), bt.add[0].key.0[0])))
        .unwrap();
    seen.sort_by_key(|(_, k)| *k);
    assert_eq!(seen, vec![(a.clone(), 1), (a.clone(), 2), (b.clone(), 10)]);
    // The next batch continues the migrated sequence.
    assert_eq!(s.put_batch(2026, &a, None, &batch(3)).unwrap(), 2);
}

#[test]
fn batches_ledger_snapshot_and_schema() {
    let dir = tempfile::tempdir().unwrap();
    let m: MemberId = "054039".parse().unwrap();
    {
        let s = Store::open(dir.path(), OpenMode::Create).unwrap();
        let b = StoredBatch {
            snapshot: false,
            add: vec![rec(1)],
            remove: vec![],
        };
        let id = BatchId([1; 16]);
        s.put_batch(2026, &m, Some((&id, LedgerEntry { seq: 0, stored: 1 })), &b)
            .unwrap();
        s.put_batch(
            2026,
            &m,
            Some((&BatchId([2; 16]), LedgerEntry { seq: 0, stored: 2 })),
            &b,
        )
        .unwrap();
        assert_eq!(s.batch_count(2026, &m).unwrap(), 2);
        assert_eq!(
            s.ledger_get(2026, &m, &id).unwrap(),
            Some(LedgerEntry { seq: 0, stored: 1 })
        );
        let snap = StoredBatch {
            snapshot: true,
            add: vec![rec(3)],
            remove: vec![],
        };
        let seq = s
            .put_batch(
                2026,
                &m,
                Some((&BatchId([3; 16]), LedgerEntry { seq: 0, stored: 1 })),
                &snap,
            )
            .unwrap();
        assert_eq!(seq, 2);
        assert_eq!(s.batch_count(2026, &m).unwrap(), 1);
        // The ledger keeps the earlier batches: their retries stay duplicates.
        assert!(s.ledger_get(2026, &m, &id).unwrap().is_some());
        futures_flush(&s);
    }
    let s = Store::open(dir.path(), OpenMode::Existing).unwrap();
    let mut seen = Vec::new();
    s.replay(|e, mm, b| seen.push((e, mm.clone(), b))).unwrap();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].2.snapshot);
    drop(s);
    // A store of another schema version is refused.
    {
        let db = sled::Config::new()
            .path(dir.path())
            .cache_capacity(CACHE_CAPACITY)
            .open()
            .unwrap();
        db.open_tree("meta")
            .unwrap()
            .insert("schema_version", &99u32.to_be_bytes())
            .unwrap();
        db.flush().unwrap();
    }
    assert!(matches!(
        Store::open(dir.path(), OpenMode::Existing),
        Err(StoreError::Schema { found: 99, .. })
    ));
    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(
        Store::open(empty.path(), OpenMode::Existing),
        Err(StoreError::Missing { .. })
    ));
}

fn futures_flush(s: &Store) {
    s.db.flush().unwrap();
}
