//! The model file: a fixed header, then a postcard payload.
//!
//! ```text
//! offset size
//!      0    8  magic "ROBOFISH"
//!      8    2  format version, u16 little endian (3; 2 is still read:
//!              a model without its input stage, i.e. a fixed one)
//!     10    2  reserved, must be 0
//!     12    4  payload length, u32 little endian
//!     16    4  CRC-32 (IEEE) of the payload, u32 little endian
//!     20    n  payload: postcard-encoded `Model`
//! ```
//!
//! Loading checks every field, then the graph (see [`super::validate`]), so a
//! file either loads into a model the engine can run or is refused with a
//! [`ModelError`] saying why.

use alloc::vec::Vec;

use super::error::ModelError;
use super::int8::{Model, ModelV2};
use super::validate::validate;
use crate::checksum::{crc32, fnv1a64};

/// The first eight bytes of every model file.
pub const MAGIC: [u8; 8] = *b"ROBOFISH";
/// The format version this build writes (it also reads
/// [`OLDEST_READ_VERSION`] and later).
pub const FORMAT_VERSION: u16 = 3;
/// The oldest format version this build reads.
pub const OLDEST_READ_VERSION: u16 = 2;
/// Header bytes before the payload.
pub const HEADER_LEN: usize = 20;
/// Largest payload accepted (512 MiB).
pub const MAX_PAYLOAD: usize = 512 << 20;

/// Serialises and frames a model (validating it first).
pub fn encode_model(model: &Model) -> Result<Vec<u8>, ModelError> {
    validate(model)?;
    let payload = postcard::to_allocvec(model).map_err(ModelError::Encode)?;
    if payload.len() > MAX_PAYLOAD {
        return Err(ModelError::TooLarge(payload.len()));
    }
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    Ok(out)
}

fn le_u16(b: &[u8]) -> u16 {
    u16::from_le_bytes([b[0], b[1]])
}

fn le_u32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// Parses, checks and validates a model file.
pub fn decode_model(bytes: &[u8]) -> Result<Model, ModelError> {
    if bytes.len() < MAGIC.len() || bytes[..MAGIC.len()] != MAGIC {
        return Err(if MAGIC.starts_with(bytes) {
            ModelError::Truncated {
                needed: HEADER_LEN,
                found: bytes.len(),
            }
        } else {
            ModelError::BadMagic
        });
    }
    if bytes.len() < HEADER_LEN {
        return Err(ModelError::Truncated {
            needed: HEADER_LEN,
            found: bytes.len(),
        });
    }
    let version = le_u16(&bytes[8..10]);
    if !(OLDEST_READ_VERSION..=FORMAT_VERSION).contains(&version) || le_u16(&bytes[10..12]) != 0 {
        return Err(ModelError::UnsupportedVersion {
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    let payload_len = le_u32(&bytes[12..16]) as usize;
    if payload_len > MAX_PAYLOAD {
        return Err(ModelError::TooLarge(payload_len));
    }
    let total = HEADER_LEN + payload_len;
    if bytes.len() < total {
        return Err(ModelError::Truncated {
            needed: total,
            found: bytes.len(),
        });
    }
    if bytes.len() > total {
        return Err(ModelError::TrailingBytes(bytes.len() - total));
    }
    let payload = &bytes[HEADER_LEN..];
    let stored = le_u32(&bytes[16..20]);
    let computed = crc32(payload);
    if stored != computed {
        return Err(ModelError::BadChecksum { stored, computed });
    }
    let (model, rest): (Model, &[u8]) = if version == 2 {
        let (old, rest): (ModelV2, &[u8]) =
            postcard::take_from_bytes(payload).map_err(ModelError::Malformed)?;
        (old.into(), rest)
    } else {
        postcard::take_from_bytes(payload).map_err(ModelError::Malformed)?
    };
    if !rest.is_empty() {
        return Err(ModelError::Malformed(
            postcard::Error::DeserializeUnexpectedEnd,
        ));
    }
    validate(&model)?;
    Ok(model)
}

/// A 64-bit identity of a model file (FNV-1a over all its bytes), used by the
/// device protocol to say which model is loaded.
pub fn model_hash(file_bytes: &[u8]) -> u64 {
    fnv1a64(file_bytes)
}
