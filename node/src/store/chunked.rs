//! Reads and writes of chunked kinds (persons, families) in sled, and the migration that moved
//! them into chunks (schema 1 → 2).
//!
//! A chunk of kind `K` is the sled value at `K ‖ first key`, holding the entries from its first
//! key up to (not including) the next chunk's first key ([`super::chunk`] has the format).
//!
//! **Invariant:** the chunks of a kind are disjoint and sorted: an entry with key `k` is in the
//! chunk with the greatest first key ≤ `k`, and a chunk is never empty.
//!
//! **Invariant:** every writer of a chunked kind holds `Store::chunk_lock` from reading the
//! chunks its writes land in to applying the rewritten chunks, so no write is lost to another
//! writer's older copy of the same chunk.

use std::ops::Bound;

use super::{chunk, chunked_key, key, last_per_key, Kind, Store, StoreError, Tx, Write};

fn corrupt(e: chunk::ChunkError) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// The longest key a chunk entry can have.
const MAX_KEY: usize = u16::MAX as usize;

impl Store {
    /// The chunk that holds (or would hold) the full key `full`: the one with the greatest
    /// first key ≤ it. `None` if `full` sorts before every chunk of its kind.
    fn chunk_at(&self, full: &[u8]) -> Result<Option<(sled::IVec, sled::IVec)>, StoreError> {
        let lo: &[u8] = &full[..1];
        Ok(self.data.range(lo..=full).next_back().transpose()?)
    }

    /// One entry of a chunked kind, passed to `f` if present.
    pub(super) fn chunk_get<T>(
        &self,
        kind: Kind,
        k: &[u8],
        f: impl FnOnce(&[u8]) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let Some((_, v)) = self.chunk_at(&key(kind, k))? else {
            return Ok(None);
        };
        let body = chunk::body(&v).map_err(corrupt)?;
        let entries = chunk::entries(&body).map_err(corrupt)?;
        match entries.binary_search_by(|(ek, _)| (*ek).cmp(k)) {
            Ok(i) => f(entries[i].1).map(Some),
            Err(_) => Ok(None),
        }
    }

    /// Every entry of a chunked kind under `prefix`, in key order, until `f` returns `false`.
    pub(super) fn chunk_walk(
        &self,
        kind: Kind,
        prefix: &[u8],
        mut f: impl FnMut(&[u8], &[u8]) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        let start = match self.chunk_at(&key(kind, prefix))? {
            Some((k, _)) => k.to_vec(),
            None => vec![kind as u8],
        };
        for kv in self.data.range(start..) {
            let (k, v) = kv?;
            if k.first() != Some(&(kind as u8)) {
                break;
            }
            let first = &k[1..];
            if first > prefix && !first.starts_with(prefix) {
                break;
            }
            let body = chunk::body(&v).map_err(corrupt)?;
            for (ek, ev) in chunk::entries(&body).map_err(corrupt)? {
                if ek.starts_with(prefix) {
                    if !f(ek, ev)? {
                        return Ok(());
                    }
                } else if ek > prefix {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Entries of a chunked kind (read from the chunks' headers).
    pub(super) fn chunk_count(&self, kind: Kind) -> Result<usize, StoreError> {
        let mut n = 0;
        for v in self.data.scan_prefix([kind as u8]).values() {
            n += chunk::count(&v?).map_err(corrupt)?;
        }
        Ok(n)
    }

    /// The writes of `tx` as they are to be applied: those to chunked kinds become writes of
    /// whole chunks (each chunk a write lands in is read, changed, and written back — split if
    /// it grew past [`chunk::MAX_BYTES`], re-keyed if its first entry changed, deleted if
    /// empty), the others are as they were. Also returns, if `want_expect`, the chunks' values
    /// as read (for a transaction to check). The caller holds the chunk lock until the writes
    /// are applied.
    pub(super) fn resolve(
        &self,
        tx: &Tx,
        want_expect: bool,
    ) -> Result<(Vec<Write>, Vec<Write>), StoreError> {
        let mut out: Vec<Write> = Vec::new();
        let mut chunked: Vec<(&[u8], Option<&[u8]>)> = Vec::new();
        for (k, v) in tx.iter() {
            if chunked_key(k) {
                if k.len() - 1 > MAX_KEY {
                    return Err(StoreError::Corrupt(format!(
                        "a key of {} bytes is too long for a chunk",
                        k.len() - 1
                    )));
                }
                chunked.push((k, v));
            } else {
                out.push((k.to_vec(), v.map(<[u8]>::to_vec)));
            }
        }
        // The last write of each key wins, as in a batch.
        last_per_key(&mut chunked, |w| w.0);
        let mut expect = Vec::new();
        let mut i = 0;
        while i < chunked.len() {
            let kind = chunked[i].0[0];
            // The chunk the write lands in; a key before every chunk goes into the first.
            let found = match self.chunk_at(chunked[i].0)? {
                Some(kv) => Some(kv),
                None => self.data.scan_prefix([kind]).next().transpose()?,
            };
            // The writes up to the next chunk's first key land in this one.
            let next = match &found {
                Some((k, _)) => self
                    .data
                    .range::<&[u8], _>((Bound::Excluded(k.as_ref()), Bound::Unbounded))
                    .next()
                    .transpose()?
                    .map(|(k, _)| k)
                    .filter(|k| k.first() == Some(&kind)),
                None => None,
            };
            let mut j = i;
            while j < chunked.len()
                && chunked[j].0[0] == kind
                && next.as_ref().is_none_or(|n| chunked[j].0 < n.as_ref())
            {
                j += 1;
            }
            let old_body = match &found {
                Some((_, v)) => chunk::body(v).map_err(corrupt)?,
                None => Vec::new(),
            };
            let old = chunk::entries(&old_body).map_err(corrupt)?;
            let mut merged: Vec<(&[u8], &[u8])> = Vec::with_capacity(old.len() + (j - i));
            let mut old = old.into_iter().peekable();
            for (k, v) in &chunked[i..j] {
                let sub = &k[1..];
                while let Some(&(ok, ov)) = old.peek() {
                    if ok >= sub {
                        break;
                    }
                    merged.push((ok, ov));
                    old.next();
                }
                if old.peek().is_some_and(|(ok, _)| *ok == sub) {
                    old.next();
                }
                if let Some(v) = v {
                    merged.push((sub, v));
                }
            }
            merged.extend(old);
            if let Some((k, v)) = &found {
                if want_expect {
                    expect.push((k.to_vec(), Some(v.to_vec())));
                }
                out.push((k.to_vec(), None));
            }
            let pieces = if merged.is_empty() {
                Vec::new()
            } else if chunk::size(&merged) <= chunk::MAX_BYTES {
                vec![(merged[0].0.to_vec(), chunk::encode(merged.iter().copied()))]
            } else {
                chunk::pack(&merged)
            };
            for (first, bytes) in pieces {
                let mut k = Vec::with_capacity(1 + first.len());
                k.push(kind);
                k.extend_from_slice(&first);
                out.push((k, Some(bytes)));
            }
            i = j;
        }
        Ok((out, expect))
    }
}

/// Schema 1 → 2: persons (`P ‖ cf`) and families (`F ‖ id`), one key each, into chunks under
/// `p` and `f`. Each chunk is written, and its entries' old keys removed, in one atomic batch,
/// in key order, so a migration interrupted at any point resumes where it stopped: the chunks
/// already written all sort before the entries still to move.
pub(super) fn migrate_v1(db: &sled::Db) -> Result<(), StoreError> {
    let data = db.open_tree("data")?;
    let meta = db.open_tree("meta")?;
    // A journal left by version 1 holds writes in its layout: finish or discard it first.
    super::recover(db, &data, &meta)?;
    for (old, new) in [(b'P', Kind::Person), (b'F', Kind::Family)] {
        let mut moved = 0usize;
        loop {
            let mut entries = Vec::new();
            let mut bytes = 0;
            for kv in data.scan_prefix([old]) {
                let (k, v) = kv?;
                if k.len() - 1 > MAX_KEY {
                    return Err(StoreError::Corrupt(format!(
                        "a key of {} bytes is too long for a chunk",
                        k.len() - 1
                    )));
                }
                bytes += chunk::entry_len(&k[1..], &v);
                entries.push((k, v));
                if bytes >= chunk::TARGET_BYTES {
                    break;
                }
            }
            let Some((first, _)) = entries.first() else {
                break;
            };
            let refs: Vec<(&[u8], &[u8])> =
                entries.iter().map(|(k, v)| (&k[1..], v.as_ref())).collect();
            let mut b = sled::Batch::default();
            b.insert(key(new, &first[1..]), chunk::encode(refs.iter().copied()));
            for (k, _) in &entries {
                b.remove(k);
            }
            data.apply_batch(b)?;
            moved += 1;
            if moved.is_multiple_of(256) {
                db.flush()?;
            }
        }
    }
    db.flush()?;
    Ok(())
}
