//! The siso wire protocol (docs/PROTOCOL.md): message types and the frame codec.
//!
//! One request per bidirectional QUIC stream: the client writes one frame and finishes its send
//! side; the hub answers with one frame and finishes. A frame is a `u32` big-endian body length
//! followed by a bincode body (options chosen in [`codec`] only). This module does no I/O: the
//! hub and node read at most [`MAX_FRAME`] bytes and hand them to [`codec::decode_body`].

pub mod codec;
pub mod messages;

pub use codec::{
    decode_body, decode_frame, decode_value, encode, encode_frame_of, encode_value, frame_len,
    submit_batch_tail, CodecError,
};
pub use messages::*;

/// ALPN protocol id negotiated in the TLS handshake.
pub const ALPN: &[u8] = b"siso/1";
/// Protocol version carried in `Hello`/`HelloAck`. Version 2 added `SubmitBatch::scheme`; version 3
/// `OverlapsReply::held`; version 4 the measures `HouseholdsInNeed`, `WaitingRequests`,
/// `Interventions`, `ActivityMinutes` and `SocialWorkers`.
pub const PROTOCOL_VERSION: u16 = 4;
/// Hard maximum of a frame body, checked before any allocation.
pub const MAX_FRAME: usize = 16 * 1024 * 1024;
/// Length of the frame header.
pub const HEADER_LEN: usize = 4;
