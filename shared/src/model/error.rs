//! Why a model file was refused.

use alloc::string::String;
use core::fmt;

/// Every way a model file can be bad, each with its own variant so callers
/// (and tests) can tell them apart.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ModelError {
    /// Fewer bytes than the header or the declared payload needs.
    Truncated {
        /// Bytes needed.
        needed: usize,
        /// Bytes present.
        found: usize,
    },
    /// Bytes after the declared payload.
    TrailingBytes(usize),
    /// The file does not start with the robofish magic number.
    BadMagic,
    /// A format version this build cannot read.
    UnsupportedVersion {
        /// Version in the file.
        found: u16,
        /// Version this build reads.
        supported: u16,
    },
    /// The payload's CRC-32 does not match the header.
    BadChecksum {
        /// CRC in the header.
        stored: u32,
        /// CRC of the payload as read.
        computed: u32,
    },
    /// The declared payload is larger than any sane model.
    TooLarge(usize),
    /// The payload is not a valid postcard-encoded model.
    Malformed(postcard::Error),
    /// The payload decodes but the graph is inconsistent.
    Invalid(String),
    /// Encoding failed (only when writing).
    Encode(postcard::Error),
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelError::Truncated { needed, found } => write!(
                f,
                "model file is truncated: needs {needed} bytes, has {found} (incomplete copy or upload?)"
            ),
            ModelError::TrailingBytes(n) => write!(
                f,
                "model file has {n} unexpected bytes after its payload (concatenated or corrupted file?)"
            ),
            ModelError::BadMagic => write!(
                f,
                "not a robofish model file (missing the ROBOFISH magic number)"
            ),
            ModelError::UnsupportedVersion { found, supported } => write!(
                f,
                "model file format version {found} is not supported (this build reads version {supported}); \
                 re-export the model with a matching robofish"
            ),
            ModelError::BadChecksum { stored, computed } => write!(
                f,
                "model file is corrupted: payload CRC-32 is {computed:#010x}, header says {stored:#010x}"
            ),
            ModelError::TooLarge(n) => {
                write!(f, "model payload of {n} bytes exceeds the 512 MiB limit")
            }
            ModelError::Malformed(e) => write!(f, "model payload does not decode: {e}"),
            ModelError::Invalid(why) => write!(f, "model graph is inconsistent: {why}"),
            ModelError::Encode(e) => write!(f, "could not encode model: {e}"),
        }
    }
}

impl core::error::Error for ModelError {}
