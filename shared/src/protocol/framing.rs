//! Messages to bytes and back: postcard inside COBS frames.
//!
//! A frame on the wire is
//!
//! ```text
//! 0x00  COBS( postcard varint u16 PROTOCOL_VERSION ++ postcard(message) )  0x00
//! ```
//!
//! Encoding uses postcard's own COBS flavour ([`postcard::to_slice_cobs`]).
//! Decoding uses [`FrameDecoder`] rather than postcard's `CobsAccumulator`
//! because the accumulator, once a frame overflows its buffer, treats the
//! overflowing frame's remaining bytes as the start of a new frame (yielding
//! a spurious error, or in the worst case a spurious message); the decoder
//! here discards everything up to the next `0x00` instead, so an oversized
//! frame costs exactly one [`ProtocolError::Oversized`] and nothing else.
//! It also decodes in place with borrowed payloads, tells a truncated frame
//! from garbage, checks the version before the body, and refuses trailing
//! bytes.

use serde::{Deserialize, Serialize};

use super::{
    check_version, DeviceMessage, HostMessage, Malformation, ProtocolError, MAX_FRAME_BYTES,
};

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::HostMessage<'_> {}
    impl Sealed for super::DeviceMessage {}
}

/// A top-level message type: [`HostMessage`] or [`DeviceMessage`]. Only
/// these travel in frames, so encoding a bare payload struct by mistake does
/// not compile.
pub trait WireMessage: Serialize + sealed::Sealed {}
impl WireMessage for HostMessage<'_> {}
impl WireMessage for DeviceMessage {}

/// Encodes `message` as one frame (leading `0x00`, COBS body, trailing
/// `0x00`) into `buffer` and returns the used part, ready to write to the
/// stream.
///
/// A buffer of [`MAX_ENCODED_FRAME_BYTES`](super::MAX_ENCODED_FRAME_BYTES)
/// always suffices. Fails with [`ProtocolError::BufferTooSmall`] when
/// `buffer` is too small, and with [`ProtocolError::Oversized`] when the
/// body would exceed [`MAX_FRAME_BYTES`] (a receiver would drop it), e.g.
/// a band whose payload is over its limit.
pub fn encode_frame<'b, M: WireMessage>(
    message: &M,
    buffer: &'b mut [u8],
) -> Result<&'b mut [u8], ProtocolError> {
    let capacity = buffer.len();
    let Some((leading, rest)) = buffer.split_first_mut() else {
        return Err(ProtocolError::BufferTooSmall { capacity });
    };
    *leading = 0;
    let encoded_len = postcard::to_slice_cobs(&(super::PROTOCOL_VERSION, message), rest)
        .map_err(|error| match error {
            postcard::Error::SerializeBufferFull => ProtocolError::BufferTooSmall { capacity },
            other => ProtocolError::Encode(other),
        })?
        .len();
    // `to_slice_cobs` appends the trailing delimiter itself.
    let body_len = encoded_len - 1;
    if body_len > MAX_FRAME_BYTES {
        return Err(ProtocolError::Oversized {
            len: body_len,
            limit: MAX_FRAME_BYTES,
        });
    }
    Ok(&mut buffer[..1 + encoded_len])
}

/// What one call of [`FrameDecoder::feed`] produced.
#[derive(Debug, PartialEq)]
pub enum Feed<'i, T> {
    /// All input was consumed without completing a frame; feed more.
    Pending,
    /// A frame completed and decoded. Feed `remaining` next.
    Message {
        /// The message (may borrow the decoder's buffer).
        message: T,
        /// Input after the frame's delimiter, not consumed yet.
        remaining: &'i [u8],
    },
    /// A frame was rejected. The stream is already resynchronised: feed
    /// `remaining` next and later frames decode normally.
    Error {
        /// Why.
        error: ProtocolError,
        /// Input not consumed yet.
        remaining: &'i [u8],
    },
}

/// Whether the decoder is inside a frame that fits or skipping the rest of
/// one that did not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DecoderState {
    Collecting,
    DiscardingOversized,
}

/// Turns a byte stream, fed in chunks of any size, into messages.
///
/// `N` is the largest frame body it accepts, in bytes (the decoder holds an
/// `[u8; N]`); the default, [`MAX_FRAME_BYTES`], accepts every message. A
/// frame that does not fit yields one [`ProtocolError::Oversized`] and is
/// skipped up to its delimiter; a frame that does not decode yields
/// `Malformed`, `Truncated` or `UnknownVersion`. Neither affects the frames
/// after it. No byte sequence makes it panic.
///
/// Decoded messages may borrow the decoder's buffer (zero-copy
/// [`RowBand`](super::RowBand) data), so handle each before feeding more:
///
/// ```
/// use robofish_shared::protocol::{encode_frame, Feed, FrameDecoder, HostMessage};
///
/// let mut out = [0u8; 64];
/// let bytes = encode_frame(&HostMessage::ReportRequest, &mut out).unwrap();
///
/// let mut decoder: FrameDecoder<256> = FrameDecoder::new();
/// let mut window: &[u8] = bytes; // e.g. what one read() returned
/// while !window.is_empty() {
///     window = match decoder.feed::<HostMessage>(window) {
///         Feed::Pending => break,
///         Feed::Message { message, remaining } => {
///             assert_eq!(message, HostMessage::ReportRequest);
///             remaining
///         }
///         Feed::Error { error, remaining } => {
///             eprintln!("{error}"); // the device would send an Error message
///             remaining
///         }
///     };
/// }
/// ```
#[derive(Clone, Debug)]
pub struct FrameDecoder<const N: usize = MAX_FRAME_BYTES> {
    buffer: [u8; N],
    len: usize,
    state: DecoderState,
}

impl<const N: usize> Default for FrameDecoder<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> FrameDecoder<N> {
    /// An empty decoder, at a frame boundary.
    pub const fn new() -> Self {
        Self {
            buffer: [0; N],
            len: 0,
            state: DecoderState::Collecting,
        }
    }

    /// Largest frame body accepted, `N`.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Whether part of a frame is buffered (or an oversized frame is being
    /// skipped): the stream is mid-frame.
    pub const fn is_mid_frame(&self) -> bool {
        self.len != 0 || matches!(self.state, DecoderState::DiscardingOversized)
    }

    /// Call at end of stream: reports [`ProtocolError::Truncated`] if a
    /// partial frame was buffered (the peer disconnected mid-frame) and
    /// resets the decoder for the next stream. A skipped oversized frame
    /// was already reported and gives `None`.
    pub fn finish(&mut self) -> Option<ProtocolError> {
        let truncated = self.len != 0;
        self.reset();
        truncated.then_some(ProtocolError::Truncated)
    }

    /// Forgets any partial frame.
    pub fn reset(&mut self) {
        self.len = 0;
        self.state = DecoderState::Collecting;
    }

    /// Consumes `input` up to and including the end of the first frame that
    /// completes in it, and returns that frame's message or error with the
    /// unconsumed rest; or [`Feed::Pending`] when no frame completes.
    pub fn feed<'d, 'i, T>(&'d mut self, input: &'i [u8]) -> Feed<'i, T>
    where
        T: WireMessage + Deserialize<'d>,
    {
        let mut input = input;
        loop {
            if input.is_empty() {
                return Feed::Pending;
            }
            let delimiter = input.iter().position(|&byte| byte == 0);
            if self.state == DecoderState::DiscardingOversized {
                match delimiter {
                    Some(at) => {
                        self.state = DecoderState::Collecting;
                        input = &input[at + 1..];
                        continue;
                    }
                    None => return Feed::Pending,
                }
            }
            let (body, remaining) = match delimiter {
                Some(at) => (&input[..at], &input[at + 1..]),
                None => (input, &input[input.len()..]),
            };
            let new_len = self.len + body.len();
            if new_len > N {
                self.len = 0;
                if delimiter.is_none() {
                    self.state = DecoderState::DiscardingOversized;
                }
                return Feed::Error {
                    error: ProtocolError::Oversized {
                        len: new_len,
                        limit: N,
                    },
                    remaining,
                };
            }
            self.buffer[self.len..new_len].copy_from_slice(body);
            self.len = new_len;
            if delimiter.is_none() {
                return Feed::Pending;
            }
            let frame_len = self.len;
            self.len = 0;
            if frame_len == 0 {
                // Empty frame: the leading delimiter of the next frame.
                input = remaining;
                continue;
            }
            return match decode_frame(&mut self.buffer[..frame_len]) {
                Ok(message) => Feed::Message { message, remaining },
                Err(error) => Feed::Error { error, remaining },
            };
        }
    }
}

/// Decodes one frame body (COBS, no delimiters) in place.
fn decode_frame<'d, T: Deserialize<'d>>(frame: &'d mut [u8]) -> Result<T, ProtocolError> {
    let decoded_len = cobs_decode_in_place(frame)?;
    let decoded: &'d [u8] = &frame[..decoded_len];
    let (version, body) =
        postcard::take_from_bytes::<u16>(decoded).map_err(ProtocolError::from_decode)?;
    check_version(version)?;
    let (message, trailing) =
        postcard::take_from_bytes::<T>(body).map_err(ProtocolError::from_decode)?;
    if !trailing.is_empty() {
        return Err(ProtocolError::Malformed(Malformation::TrailingBytes {
            count: trailing.len(),
        }));
    }
    Ok(message)
}

/// Reverses COBS on a frame body without delimiters, in place; returns the
/// decoded length. A block that runs past the end means the frame was cut
/// short ([`ProtocolError::Truncated`]); a zero byte (impossible after
/// splitting at delimiters) is [`Malformation::Cobs`].
fn cobs_decode_in_place(frame: &mut [u8]) -> Result<usize, ProtocolError> {
    let mut read = 0;
    let mut write = 0;
    while read < frame.len() {
        let code = usize::from(frame[read]);
        if code == 0 {
            return Err(ProtocolError::Malformed(Malformation::Cobs));
        }
        read += 1;
        let block_end = read + code - 1;
        if block_end > frame.len() {
            return Err(ProtocolError::Truncated);
        }
        frame.copy_within(read..block_end, write);
        write += code - 1;
        read = block_end;
        // Every block but a full one (code 0xFF) and the last stands for a
        // zero byte after its data.
        if code != 0xFF && read < frame.len() {
            frame[write] = 0;
            write += 1;
        }
    }
    Ok(write)
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    proptest! {
        /// Our in-place decoder inverts postcard's COBS encoder on any bytes.
        #[test]
        fn cobs_decode_inverts_postcard_encoder(plain in proptest::collection::vec(any::<u8>(), 0..1200)) {
            let mut cobs = cobs_encode_with_postcard(&plain);
            prop_assert_eq!(cobs.pop(), Some(0));
            prop_assert!(!cobs.contains(&0));
            let decoded = cobs_decode_in_place(&mut cobs).unwrap();
            prop_assert_eq!(&cobs[..decoded], &plain[..]);
        }
    }

    /// COBS-encodes `plain` with postcard's flavour (as a fixed-size tuple,
    /// so postcard adds no length prefix); includes the trailing `0x00`.
    fn cobs_encode_with_postcard(plain: &[u8]) -> Vec<u8> {
        struct Raw<'a>(&'a [u8]);
        impl serde::Serialize for Raw<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeTuple;
                let mut t = s.serialize_tuple(self.0.len())?;
                for b in self.0 {
                    t.serialize_element(b)?;
                }
                t.end()
            }
        }
        let mut out = std::vec![0u8; plain.len() + plain.len() / 254 + 8];
        let n = postcard::to_slice_cobs(&Raw(plain), &mut out)
            .unwrap()
            .len();
        out.truncate(n);
        out
    }

    #[test]
    fn cobs_block_past_end_is_truncated() {
        // Code 5 promises four data bytes; only two follow.
        let mut frame = [5u8, 1, 2];
        assert_eq!(
            cobs_decode_in_place(&mut frame),
            Err(ProtocolError::Truncated)
        );
    }
}
