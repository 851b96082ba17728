//! The host <-> device wire protocol.
//!
//! One `no_std` module holds everything both ends must agree on, in the
//! manner of postcard-rpc's ICD crates:
//!
//! - [`messages`]: the message types ([`HostMessage`], [`DeviceMessage`]),
//!   the size limits of their payloads and the byte layout of a
//!   [`RowBand`]'s pixels;
//! - [`framing`]: how a message becomes bytes on a stream and back
//!   ([`encode_frame`], [`FrameDecoder`]);
//! - [`tracker`]: the receiving side's checks of one FOV's sequence of
//!   messages ([`FrameTracker`]);
//! - [`chunks`](mod@chunks): how a FOV's spots and truth are split into numbered
//!   [`Spots`] and [`GroundTruth`] messages;
//! - [`codebook`]: the experiment's codebook ([`CodebookChunk`]) and the
//!   receiving side's checks of it ([`CodebookTracker`]);
//! - [`quality`]: each FOV's accuracy without truth ([`Quality`]);
//! - [`auth`]: who may flash or stop a device ([`Access`], [`auth_tag`]);
//! - [`ProtocolError`]: every way the above can fail, each mapping to the
//!   [`ErrorKind`] the device reports.
//!
//! # Wire format in one paragraph
//!
//! A frame on the wire is `0x00, COBS(postcard(version: u16, message)), 0x00`.
//! `version` is [`PROTOCOL_VERSION`] as a postcard varint and is the only part
//! of the format promised never to change, so a peer of any version can tell
//! a version mismatch ([`ProtocolError::UnknownVersion`]) from garbage. The
//! leading `0x00` is redundant for a well-behaved sender (empty frames are
//! skipped) but lets a receiver resynchronise when a sender died mid-frame
//! and a new one started: the partial frame is reported as `Truncated` and
//! the new frame decodes intact.

pub mod auth;
pub mod chunks;
pub mod codebook;
pub mod framing;
pub mod messages;
pub mod quality;
pub mod tracker;

#[cfg(all(test, feature = "std"))]
mod tests;

pub use auth::{
    auth_tag, parse_token, verify_tag, Access, Challenge, TokenError, CHALLENGE_BYTES,
    MIN_TOKEN_BYTES, TAG_BYTES,
};
pub use chunks::{chunks, Chunk};
pub use codebook::{
    codebook_checksum, CodebookChunk, CodebookFault, CodebookInfo, CodebookSource, CodebookTracker,
    CodebookWord, MAX_CODEBOOK_WORDS, MAX_CODEBOOK_WORDS_PER_CHUNK, MAX_GENE_NAME_BYTES,
};
pub use framing::{encode_frame, Feed, FrameDecoder, WireMessage};
pub use messages::*;
pub use quality::{CallQuality, Quality};
pub use tracker::FrameTracker;

/// Version of the wire format; bumped on any change to [`messages`] or
/// [`framing`].
pub const PROTOCOL_VERSION: u16 = 4;

/// Largest postcard encoding of a versioned message (`version` + message),
/// in bytes: a full [`RowBand`] plus 64 bytes for its header (version,
/// variant, frame id, rows, length — at most 22 bytes as varints). Every
/// message fits (tested).
pub const MAX_MESSAGE_BYTES: usize = MAX_ROW_BAND_BYTES + 64;

/// Largest COBS-encoded frame body (without its `0x00` delimiters), in
/// bytes: the capacity a [`FrameDecoder`] needs to accept every message.
/// COBS adds one byte per 254 bytes of payload plus one.
pub const MAX_FRAME_BYTES: usize = MAX_MESSAGE_BYTES + MAX_MESSAGE_BYTES / 254 + 1;

/// Size of a buffer that [`encode_frame`] can encode any message into:
/// [`MAX_FRAME_BYTES`] plus the leading and trailing delimiters.
pub const MAX_ENCODED_FRAME_BYTES: usize = MAX_FRAME_BYTES + 2;

/// Checks a peer's protocol version; the error names both versions so each
/// side can tell the user what to upgrade.
pub fn check_version(received: u16) -> Result<(), ProtocolError> {
    if received == PROTOCOL_VERSION {
        Ok(())
    } else {
        Err(ProtocolError::UnknownVersion {
            received,
            supported: PROTOCOL_VERSION,
        })
    }
}

/// Why a frame could not be encoded or decoded, or why a message does not
/// fit the conversation. [`ProtocolError::kind`] gives the category the
/// device reports in [`ErrorReport`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The bytes of a frame are not a valid message.
    Malformed(Malformation),
    /// A frame ended before its message did (the sender stopped mid-frame,
    /// or the stream ended with a partial frame buffered).
    Truncated,
    /// A FOV ended (`FrameEnd`) before all its rows arrived.
    MissingRows {
        /// The FOV.
        frame_id: u32,
        /// Rows received.
        received: u16,
        /// Rows announced.
        height: u16,
    },
    /// A FOV announced with ground truth ended before its last truth chunk.
    MissingTruth {
        /// The FOV.
        frame_id: u32,
    },
    /// A frame or payload exceeds its limit; the frame was dropped and the
    /// stream resynchronised at the next delimiter.
    Oversized {
        /// Bytes seen (for a frame, at least this many).
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A FOV's ground truth holds more than
    /// [`MAX_TRUTH_SPOTS_PER_FOV`] spots.
    TooMuchTruth {
        /// The FOV.
        frame_id: u32,
        /// The limit.
        limit: usize,
    },
    /// The peer speaks another protocol version.
    UnknownVersion {
        /// The peer's version.
        received: u16,
        /// Ours, [`PROTOCOL_VERSION`].
        supported: u16,
    },
    /// A checksum does not match.
    BadChecksum {
        /// The FOV, `None` for model uploads.
        frame_id: Option<u32>,
        /// The checksum the sender announced.
        expected: u32,
        /// The checksum of the bytes received.
        computed: u32,
    },
    /// A FOV's dimensions are invalid or disagree with a band.
    WrongDimensions {
        /// The FOV.
        frame_id: u32,
        /// What is wrong.
        reason: &'static str,
    },
    /// A message arrived out of sequence.
    OutOfOrder {
        /// The FOV the message named.
        frame_id: u32,
        /// What was expected.
        reason: &'static str,
    },
    /// [`encode_frame`] was given a buffer too small for the message.
    BufferTooSmall {
        /// Bytes available.
        capacity: usize,
    },
    /// postcard could not serialise the message.
    Encode(postcard::Error),
    /// A codebook upload is inconsistent or holds a bad entry.
    Codebook(CodebookFault),
}

/// How a frame's bytes failed to decode.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Malformation {
    /// Invalid COBS encoding.
    Cobs,
    /// Valid COBS, but postcard rejected the message.
    Postcard(postcard::Error),
    /// The message decoded but bytes were left over.
    TrailingBytes {
        /// How many.
        count: usize,
    },
}

impl ProtocolError {
    /// The category reported on the wire.
    pub const fn kind(&self) -> ErrorKind {
        match self {
            ProtocolError::Malformed(_) => ErrorKind::Malformed,
            ProtocolError::Truncated
            | ProtocolError::MissingRows { .. }
            | ProtocolError::MissingTruth { .. } => ErrorKind::Truncated,
            ProtocolError::Oversized { .. } | ProtocolError::TooMuchTruth { .. } => {
                ErrorKind::Oversized
            }
            ProtocolError::UnknownVersion { .. } => ErrorKind::UnknownVersion,
            ProtocolError::BadChecksum { .. } => ErrorKind::BadChecksum,
            ProtocolError::WrongDimensions { .. } => ErrorKind::WrongDimensions,
            ProtocolError::OutOfOrder { .. } => ErrorKind::OutOfOrder,
            ProtocolError::BufferTooSmall { .. } | ProtocolError::Encode(_) => ErrorKind::Internal,
            ProtocolError::Codebook(fault) => fault.kind(),
        }
    }

    /// The FOV the error is about, if any.
    pub const fn frame_id(&self) -> Option<u32> {
        match self {
            ProtocolError::MissingRows { frame_id, .. }
            | ProtocolError::MissingTruth { frame_id }
            | ProtocolError::TooMuchTruth { frame_id, .. }
            | ProtocolError::WrongDimensions { frame_id, .. }
            | ProtocolError::OutOfOrder { frame_id, .. } => Some(*frame_id),
            ProtocolError::BadChecksum { frame_id, .. } => *frame_id,
            _ => None,
        }
    }

    /// Maps a postcard decoding error: running out of bytes means the frame
    /// was cut short, anything else that it is garbage.
    pub(crate) fn from_decode(error: postcard::Error) -> Self {
        match error {
            postcard::Error::DeserializeUnexpectedEnd => ProtocolError::Truncated,
            other => ProtocolError::Malformed(Malformation::Postcard(other)),
        }
    }
}

impl core::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ProtocolError::Malformed(Malformation::Cobs) => {
                f.write_str("malformed frame: invalid COBS encoding")
            }
            ProtocolError::Malformed(Malformation::Postcard(error)) => {
                write!(f, "malformed frame: {error}")
            }
            ProtocolError::Malformed(Malformation::TrailingBytes { count }) => {
                write!(
                    f,
                    "malformed frame: {count} bytes after the end of the message"
                )
            }
            ProtocolError::Truncated => {
                f.write_str("truncated frame: it ended before the message did")
            }
            ProtocolError::MissingRows {
                frame_id,
                received,
                height,
            } => write!(
                f,
                "frame {frame_id} ended after {received} of its {height} rows"
            ),
            ProtocolError::MissingTruth { frame_id } => write!(
                f,
                "frame {frame_id} ended before its last ground-truth chunk"
            ),
            ProtocolError::Oversized { len, limit } => write!(
                f,
                "oversized: {len} bytes exceed the limit of {limit}; dropped"
            ),
            ProtocolError::TooMuchTruth { frame_id, limit } => write!(
                f,
                "frame {frame_id}: more than {limit} ground-truth spots; the rest are refused"
            ),
            ProtocolError::UnknownVersion {
                received,
                supported,
            } => write!(
                f,
                "peer speaks protocol version {received}, this side speaks version {supported}; \
                 update the older of host and device"
            ),
            ProtocolError::BadChecksum {
                frame_id,
                expected,
                computed,
            } => {
                match frame_id {
                    Some(id) => write!(f, "bad checksum on frame {id}")?,
                    None => f.write_str("bad checksum on model data")?,
                }
                write!(
                    f,
                    ": sender said {expected:#010x}, received bytes give {computed:#010x}"
                )
            }
            ProtocolError::WrongDimensions { frame_id, reason } => {
                write!(f, "wrong dimensions on frame {frame_id}: {reason}")
            }
            ProtocolError::OutOfOrder { frame_id, reason } => {
                write!(f, "out of order on frame {frame_id}: {reason}")
            }
            ProtocolError::BufferTooSmall { capacity } => write!(
                f,
                "encode buffer of {capacity} bytes is too small for the message \
                 (MAX_ENCODED_FRAME_BYTES always suffices)"
            ),
            ProtocolError::Encode(error) => write!(f, "could not encode message: {error}"),
            ProtocolError::Codebook(fault) => fault.fmt(f),
        }
    }
}

impl core::error::Error for ProtocolError {}
