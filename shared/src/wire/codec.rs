//! The frame codec: `u32` big-endian length, then a bincode body.
//!
//! bincode options are chosen here and nowhere else: big-endian, fixed-width integers, and a
//! decode limit of [`MAX_FRAME`] bytes so that no length field inside a body can make the decoder
//! allocate more than the frame holds.
//!
//! **Invariant:** every decoder returns an error on bad bytes; none panics (fuzzed by
//! `fuzz/fuzz_targets/frame.rs` and the proptests in `shared/tests/codec_props.rs`).

use bincode::config::{BigEndian, Configuration, Fixint, Limit};

use super::{Message, HEADER_LEN, MAX_FRAME};

/// Codec errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The length prefix announces more than [`MAX_FRAME`] bytes.
    #[error("frame of {len} bytes exceeds the maximum of {max}")]
    TooLarge {
        /// Announced length.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// Fewer bytes than the frame needs (only from [`decode_frame`] on a complete buffer).
    #[error("truncated frame")]
    Truncated,
    /// The body is not a valid message.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// The body holds bytes after the message.
    #[error("{0} trailing bytes after the message")]
    TrailingBytes(usize),
    /// A message could not be encoded (larger than the maximum).
    #[error("cannot encode message: {0}")]
    Encode(String),
}

type Config = Configuration<BigEndian, Fixint, Limit<MAX_FRAME>>;

/// The one place bincode options are chosen.
const fn config() -> Config {
    bincode::config::standard()
        .with_big_endian()
        .with_fixed_int_encoding()
        .with_limit::<MAX_FRAME>()
}

/// Encodes a message as a complete frame (header and body).
pub fn encode(msg: &Message) -> Result<Vec<u8>, CodecError> {
    encode_frame_of(msg)
}

/// Encodes any value as a complete frame (the key service's protocol uses the same framing).
pub fn encode_frame_of<T: serde::Serialize>(msg: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = vec![0u8; HEADER_LEN];
    bincode::serde::encode_into_std_write(msg, &mut out, config())
        .map_err(|e| CodecError::Encode(e.to_string()))?;
    let body = out.len() - HEADER_LEN;
    if body > MAX_FRAME {
        return Err(CodecError::TooLarge {
            len: body,
            max: MAX_FRAME,
        });
    }
    out[..HEADER_LEN].copy_from_slice(&(body as u32).to_be_bytes());
    Ok(out)
}

/// Reads a frame header and checks the announced length against the maximum.
pub fn frame_len(header: [u8; HEADER_LEN]) -> Result<usize, CodecError> {
    let len = u32::from_be_bytes(header) as usize;
    if len > MAX_FRAME {
        return Err(CodecError::TooLarge {
            len,
            max: MAX_FRAME,
        });
    }
    Ok(len)
}

/// Decodes a frame body (without its header). The whole body must be one message.
pub fn decode_body(body: &[u8]) -> Result<Message, CodecError> {
    if body.len() > MAX_FRAME {
        return Err(CodecError::TooLarge {
            len: body.len(),
            max: MAX_FRAME,
        });
    }
    let (msg, used): (Message, usize) = bincode::serde::decode_from_slice(body, config())
        .map_err(|e| CodecError::Malformed(e.to_string()))?;
    if used != body.len() {
        return Err(CodecError::TrailingBytes(body.len() - used));
    }
    msg.validate().map_err(CodecError::Malformed)?;
    Ok(msg)
}

/// Encodes any value with the protocol's bincode options: stores use this so that the whole
/// system has one set of options.
pub fn encode_value<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, CodecError> {
    bincode::serde::encode_to_vec(v, config()).map_err(|e| CodecError::Encode(e.to_string()))
}

/// Decodes a value written by [`encode_value`]; the whole slice must be one value.
pub fn decode_value<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let (v, used): (T, usize) = bincode::serde::decode_from_slice(bytes, config())
        .map_err(|e| CodecError::Malformed(e.to_string()))?;
    if used != bytes.len() {
        return Err(CodecError::TrailingBytes(bytes.len() - used));
    }
    Ok(v)
}

/// The bytes of a `SubmitBatch` body that encode its last three fields, `(snapshot, add,
/// remove)`: exactly what [`encode_value`] makes of a value with those three fields in that
/// order (bincode writes fields in order with no framing), so a store can keep them without
/// encoding the records again. `body` must be the body `b` was decoded from. `None` if the
/// body does not end as expected.
pub fn submit_batch_tail<'a>(body: &'a [u8], b: &super::SubmitBatch) -> Option<&'a [u8]> {
    let head = encode_value(&Message::SubmitBatch(super::SubmitBatch {
        member: b.member.clone(),
        epoch: b.epoch,
        batch_id: b.batch_id,
        scheme: b.scheme,
        snapshot: b.snapshot,
        add: Vec::new(),
        remove: Vec::new(),
    }))
    .ok()?;
    let empty_tail = encode_value(&(
        b.snapshot,
        Vec::<super::HouseholdRecord>::new(),
        Vec::<crate::Fingerprint>::new(),
    ))
    .ok()?;
    let start = head.len().checked_sub(empty_tail.len())?;
    (head.get(..start)? == body.get(..start)? && *body.get(start)? == u8::from(b.snapshot))
        .then(|| body.get(start..))
        .flatten()
}

/// Decodes one frame from the start of `buf` (header and body), mini-redis style. Returns
/// `Ok(None)` if `buf` does not yet hold a whole frame, or the message and the bytes consumed.
pub fn decode_frame(buf: &[u8]) -> Result<Option<(Message, usize)>, CodecError> {
    let Some(header) = buf.get(..HEADER_LEN) else {
        return Ok(None);
    };
    let mut h = [0u8; HEADER_LEN];
    h.copy_from_slice(header);
    let len = frame_len(h)?;
    let Some(body) = buf.get(HEADER_LEN..HEADER_LEN + len) else {
        return Ok(None);
    };
    Ok(Some((decode_body(body)?, HEADER_LEN + len)))
}
