//! Chunks: many small entries of one kind in one sled value (no sled here, only bytes).
//!
//! A kind with a great many small entries (persons, families: a million and more in a large
//! Comune) is stored as sorted runs of entries, one sled value per run, keyed by the run's first
//! entry key. sled's cost is per key (tree nodes, page frames, log records: a million persons
//! one key each were 15 s to write in key order and 220 MB on disk; in runs of 64, 1.4 s and 120
//! MB — docs/benchmarks.md), so a run of a few kilobytes costs about what one entry did. Runs of
//! 16 KB (before compression) made the smallest store of the sizes measured.
//!
//! Format: a version byte (`1`), the entry count (u32 BE), the body's length (u32 BE), and the
//! body compressed as one LZ4 block. The body holds, per entry, the key length (u16 BE), the
//! key, the value length (u32 BE) and the value; keys are strictly increasing. Records of one
//! registry repeat their words (surnames, streets, birthplaces), so a chunk compresses about
//! threefold, which shrinks sled's writes and the store alike.
//!
//! **Invariant:** [`decode`] never panics: any byte string is either a valid chunk or an error.

/// The format's version byte.
const VERSION: u8 = 1;

/// Bytes before the compressed body.
const HEADER: usize = 9;

/// The largest body a chunk may declare (chunks are a few kilobytes; a larger declaration is
/// corrupt, not a reason to allocate it).
const MAX_BODY: usize = 64 << 20;

/// A chunk grows to about this many bytes before a new one starts (bulk writes), and is split
/// into pieces of this size when an update makes it larger than [`MAX_BYTES`].
pub(crate) const TARGET_BYTES: usize = 16 * 1024;

/// A chunk larger than this after an update is split.
pub(crate) const MAX_BYTES: usize = 2 * TARGET_BYTES;

/// A chunk that does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("chunk: {0}")]
pub struct ChunkError(&'static str);

/// An entry borrowed from a chunk's body: (key, value).
pub(crate) type Entry<'a> = (&'a [u8], &'a [u8]);

/// The bytes an entry takes in a chunk.
pub(crate) fn entry_len(k: &[u8], v: &[u8]) -> usize {
    6 + k.len() + v.len()
}

/// Encodes sorted entries (the caller keeps them sorted and distinct).
pub(crate) fn encode<'a>(entries: impl ExactSizeIterator<Item = (&'a [u8], &'a [u8])>) -> Vec<u8> {
    let count = entries.len() as u32;
    let mut body = Vec::with_capacity(TARGET_BYTES + 64);
    for (k, v) in entries {
        body.extend_from_slice(&(k.len() as u16).to_be_bytes());
        body.extend_from_slice(k);
        body.extend_from_slice(&(v.len() as u32).to_be_bytes());
        body.extend_from_slice(v);
    }
    let packed = lz4_flex::block::compress(&body);
    let mut out = Vec::with_capacity(HEADER + packed.len());
    out.push(VERSION);
    out.extend_from_slice(&count.to_be_bytes());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&packed);
    out
}

/// A chunk's body, decompressed: [`entries`] reads it.
pub(crate) fn body(b: &[u8]) -> Result<Vec<u8>, ChunkError> {
    let (&version, rest) = b.split_first().ok_or(ChunkError("empty"))?;
    if version != VERSION {
        return Err(ChunkError("unknown version"));
    }
    let (_, rest) = take_u32(rest)?;
    let (len, packed) = take_u32(rest)?;
    if len as usize > MAX_BODY {
        return Err(ChunkError("body larger than any chunk"));
    }
    let body = lz4_flex::block::decompress(packed, len as usize)
        .map_err(|_| ChunkError("body does not decompress"))?;
    if body.len() != len as usize {
        return Err(ChunkError("body of another length than declared"));
    }
    Ok(body)
}

/// The entries of a chunk's body, borrowed from it, in key order.
pub(crate) fn entries(body: &[u8]) -> Result<Vec<Entry<'_>>, ChunkError> {
    let mut rest = body;
    let mut out: Vec<Entry<'_>> = Vec::new();
    while !rest.is_empty() {
        let klen = rest
            .get(..2)
            .map(|l| u16::from_be_bytes([l[0], l[1]]) as usize)
            .ok_or(ChunkError("truncated key length"))?;
        let k = rest.get(2..2 + klen).ok_or(ChunkError("truncated key"))?;
        let (vlen, after) = take_u32(&rest[2 + klen..])?;
        let v = after
            .get(..vlen as usize)
            .ok_or(ChunkError("truncated value"))?;
        if out.last().is_some_and(|(prev, _)| *prev >= k) {
            return Err(ChunkError("keys out of order"));
        }
        out.push((k, v));
        rest = &after[vlen as usize..];
    }
    Ok(out)
}

/// A chunk's entries, owned: its body and their positions in it.
#[cfg(test)]
#[allow(clippy::type_complexity)]
pub(crate) fn decode(b: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>, ChunkError> {
    let body = body(b)?;
    let e = entries(&body)?;
    if e.len() != count(b)? {
        return Err(ChunkError("count differs from the entries"));
    }
    Ok(e.into_iter()
        .map(|(k, v)| (k.to_vec(), v.to_vec()))
        .collect())
}

/// The number of entries of a chunk, read from its header.
pub(crate) fn count(b: &[u8]) -> Result<usize, ChunkError> {
    match b.split_first() {
        Some((&VERSION, rest)) => Ok(take_u32(rest)?.0 as usize),
        Some(_) => Err(ChunkError("unknown version")),
        None => Err(ChunkError("empty")),
    }
}

fn take_u32(b: &[u8]) -> Result<(u32, &[u8]), ChunkError> {
    let n = b
        .get(..4)
        .and_then(|l| <[u8; 4]>::try_from(l).ok())
        .map(u32::from_be_bytes)
        .ok_or(ChunkError("truncated length"))?;
    Ok((n, &b[4..]))
}

/// Cuts sorted entries into chunks of about [`TARGET_BYTES`] each: (first key, encoded chunk).
pub(crate) fn pack(entries: &[(&[u8], &[u8])]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, (k, v)) in entries.iter().enumerate() {
        bytes += entry_len(k, v);
        if bytes >= TARGET_BYTES || i + 1 == entries.len() {
            let run = &entries[start..=i];
            out.push((run[0].0.to_vec(), encode(run.iter().copied())));
            start = i + 1;
            bytes = 0;
        }
    }
    out
}

/// Size of sorted entries as one chunk's body (before compression).
pub(crate) fn size(entries: &[(&[u8], &[u8])]) -> usize {
    entries.iter().map(|(k, v)| entry_len(k, v)).sum::<usize>()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn sorted(mut e: Vec<(Vec<u8>, Vec<u8>)>) -> Vec<(Vec<u8>, Vec<u8>)> {
        e.sort();
        e.dedup_by(|a, b| a.0 == b.0);
        e
    }

    proptest! {
        #[test]
        fn chunks_round_trip(e in prop::collection::vec(
            (prop::collection::vec(any::<u8>(), 0..20), prop::collection::vec(any::<u8>(), 0..300)),
            0..200,
        )) {
            let e = sorted(e);
            let refs: Vec<(&[u8], &[u8])> = e.iter().map(|(k, v)| (k.as_slice(), v.as_slice())).collect();
            let b = encode(refs.iter().copied());
            prop_assert_eq!(body(&b).unwrap().len(), size(&refs));
            prop_assert_eq!(decode(&b).unwrap(), e.clone());
            prop_assert_eq!(count(&b).unwrap(), refs.len());
            // Packed pieces hold every entry once, in order, each piece keyed by its first.
            let mut back = Vec::new();
            for (first, piece) in pack(&refs) {
                let d = decode(&piece).unwrap();
                prop_assert_eq!(&first, &d[0].0);
                prop_assert!(size(&d.iter().map(|(k, v)| (k.as_slice(), v.as_slice())).collect::<Vec<_>>()) < TARGET_BYTES + 400);
                back.extend(d);
            }
            prop_assert_eq!(back, e);
        }

        #[test]
        fn any_bytes_decode_or_fail_without_panicking(b in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(&b);
            let _ = count(&b);
        }
    }

    #[test]
    fn every_truncation_and_a_bad_order_are_refused() {
        let e: Vec<(&[u8], &[u8])> = vec![(b"a", b"1"), (b"b", b"22"), (b"c", b"")];
        let b = encode(e.iter().copied());
        for n in 0..b.len() {
            assert!(decode(&b[..n]).is_err(), "truncated at {n}");
        }
        let mut longer = b.clone();
        longer.push(0);
        assert!(decode(&longer).is_err());
        let swapped: Vec<(&[u8], &[u8])> = vec![(b"b", b"1"), (b"a", b"2")];
        assert!(decode(&encode(swapped.into_iter())).is_err());
        let dup: Vec<(&[u8], &[u8])> = vec![(b"a", b"1"), (b"a", b"2")];
        assert!(decode(&encode(dup.into_iter())).is_err());
    }
}
