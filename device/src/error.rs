//! The device library's errors: one enum for the session, the strip
//! runner, the client and the transports.
//!
//! A variant's message never repeats its cause: the cause is its
//! [`source`](std::error::Error::source), and whoever prints the error
//! prints the chain (`{:#}` of an `anyhow::Error` in the binaries,
//! [`Error::reply`] on the wire). Errors the device answers a host with
//! carry the [`ErrorKind`] they are reported as ([`Error::kind`]).

use robofish_shared::engine::EngineError;
use robofish_shared::image::ImageError;
use robofish_shared::model::ModelError;
use robofish_shared::post::{DecodeError, PeakError};
use robofish_shared::protocol::{DeviceMessage, ErrorKind, ErrorReport, ProtocolError};

/// `Result` with the device library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the device library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // --- shared code -----------------------------------------------------
    /// A message broke the protocol (see [`ProtocolError`]).
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// The model file does not decode or validate.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The engine refused the model or an input.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// Peak finding refused its maps.
    #[error(transparent)]
    Peaks(#[from] PeakError),
    /// Decoding refused its codebook or maps.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A file or stream failed.
    #[error("{what}")]
    Io {
        /// What was being done, e.g. "reading from the host".
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },

    // --- the model -------------------------------------------------------
    /// Dynamic-mode models measure their grids over whole tensors, so no
    /// output row exists before the whole FOV has run. (Kept short: error
    /// messages on the wire hold 128 bytes.)
    #[error("dynamic models cannot stream (grids span whole images); flash static or qat")]
    DynamicModel,
    /// The model has no position output to find spots in.
    #[error("model has no position output")]
    NoPositionOutput,

    // --- model upload ----------------------------------------------------
    /// `ModelBegin` announced an empty or oversized model.
    #[error("model size must be 1 byte .. 32 MiB")]
    ModelSize,
    /// A `ModelChunk` arrived without a `ModelBegin`.
    #[error("model chunk without ModelBegin")]
    ChunkWithoutBegin,
    /// A `ModelChunk` does not continue the upload.
    #[error("model chunk at the wrong offset or past the announced size")]
    ChunkMisplaced,
    /// A `ModelEnd` arrived without a `ModelBegin`.
    #[error("ModelEnd without ModelBegin")]
    EndWithoutBegin,
    /// The upload ended short of its announced size.
    #[error("model upload ended before all bytes arrived; old model kept")]
    UploadIncomplete,
    /// The upload's bytes do not match its CRC-32.
    #[error("model upload CRC-32 mismatch; old model kept")]
    UploadChecksum,
    /// The upload's bytes do not match the announced model hash.
    #[error("uploaded model's hash differs from the announced one; old model kept")]
    UploadHash,
    /// The uploaded model cannot run here.
    #[error("model refused, old model kept")]
    ModelRefused(#[source] Box<Error>),
    /// The uploaded model could not be stored.
    #[error("model not stored, old model kept")]
    ModelNotStored(#[source] Box<Error>),

    // --- authentication ----------------------------------------------------
    /// The session may not do this (see `Access`); the text says how to
    /// get access (at most 128 bytes: it goes on the wire).
    #[error("{0}")]
    Unauthorized(&'static str),
    /// `Authenticate` to a device without a token.
    #[error("this device has no --token-file: there is nothing to authenticate")]
    NothingToAuthenticate,
    /// `Authenticate` before `Hello` drew a challenge.
    #[error("Authenticate before Hello: no challenge was issued")]
    AuthenticateBeforeHello,
    /// A token file's contents are unusable.
    #[error(transparent)]
    Token(robofish_shared::protocol::TokenError),
    /// A token file is unusable.
    #[error("token file {path}")]
    TokenFile {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: Box<Error>,
    },

    // --- one FOV -----------------------------------------------------------
    /// A FOV arrived before any model.
    #[error("no model is loaded; flash one first")]
    NoModel,
    /// A FOV arrived while the stored model could not be loaded.
    #[error("no model, flash one: {0}")]
    StoredModelFault(String),
    /// The FOV needs more memory than `--max-memory` allows.
    #[error(
        "this FOV needs {} MiB on the device, more than its --max-memory of {} MiB",
        needs.div_ceil(1 << 20),
        limit / (1 << 20)
    )]
    FovTooLarge {
        /// Bytes the FOV's plan needs.
        needs: u64,
        /// The limit.
        limit: u64,
    },
    /// The FOV's image count differs from the model's input channels.
    #[error("frame has {images} images, the model expects {expected}")]
    ImageCount {
        /// Images per FOV announced.
        images: usize,
        /// Input channels of the model.
        expected: usize,
    },
    /// The FOV's size cannot be streamed through the model; reported as
    /// [`ErrorKind::WrongDimensions`] whatever the cause.
    #[error(transparent)]
    Unstreamable(Box<Error>),
    /// A new `FrameStart` ended the FOV before its `FrameEnd`.
    #[error("a new FrameStart arrived before this frame's FrameEnd")]
    FrameInterrupted,
    /// A `RowBand` arrived outside a FOV.
    #[error("row band outside a frame")]
    BandOutsideFrame,
    /// A `GroundTruth` arrived outside a FOV.
    #[error("ground truth outside a frame")]
    TruthOutsideFrame,
    /// A `FrameEnd` arrived outside a FOV.
    #[error("FrameEnd without FrameStart")]
    EndWithoutStart,
    /// Running the network or post-processing on the FOV failed.
    #[error("inference failed")]
    Inference(#[source] Box<Error>),

    // --- the strip runner ------------------------------------------------
    /// The FOV's height or width does not fit the network's pooling grid
    /// (the engine's tile-size rule says which).
    #[error("this FOV size cannot be streamed: {0}")]
    FovSize(#[source] EngineError),
    /// The model normalises each image by its own statistics, and the
    /// host's `FrameStart` carried none.
    #[error(
        "the loaded model normalises each image by its statistics, but this FOV's FrameStart \
         has none: update the host (robofish 0.1 sends them with protocol version 2)"
    )]
    NoImageStats,
    /// A strip of a band could not be viewed as an image.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// Rows pushed were not whole rows.
    #[error("pushed {values} values, not a whole number of {row_len}-value rows")]
    PartialRows {
        /// Values pushed.
        values: usize,
        /// Values per row.
        row_len: usize,
    },
    /// More rows were pushed than the FOV has.
    #[error("more rows than the FOV's {height} were pushed")]
    TooManyRows {
        /// Rows of the FOV.
        height: usize,
    },
    /// A worker thread panicked.
    #[error("a strip thread panicked")]
    StripPanicked,
    /// The strips finished different rows (a bug).
    #[error("strips out of step")]
    StripsOutOfStep,

    // --- the host's client -------------------------------------------------
    /// A message could not be encoded.
    #[error("cannot encode a message for the device")]
    Encode(#[source] ProtocolError),
    /// The device's bytes did not decode.
    #[error("garbled reply from the device")]
    Garbled(#[source] ProtocolError),
    /// The device closed the connection.
    #[error("the device closed the connection")]
    Closed,
    /// The device sent nothing within the host's read timeout.
    #[error(
        "timed out waiting for {waiting_for}: the device sent nothing within the read timeout"
    )]
    TimedOut {
        /// What was awaited, e.g. "frame 3's results".
        waiting_for: String,
    },
    /// The device lets only authenticated hosts in and no token was given.
    #[error(
        "the device accepts authenticated hosts only: pass --token-file FILE holding its token"
    )]
    NeedsToken,
    /// The device speaks another protocol version.
    #[error("device speaks protocol {device}, this host {host}")]
    VersionMismatch {
        /// The device's version.
        device: u16,
        /// Ours.
        host: u16,
    },
    /// The device answered with an error.
    #[error("{0}")]
    Device(Box<ErrorReport>),
    /// The device sent something else than the conversation expects.
    #[error("unexpected message {context}: {reply:?}")]
    Unexpected {
        /// What was awaited, e.g. "in reply to Hello".
        context: String,
        /// What came.
        reply: Box<DeviceMessage>,
    },
    /// A FOV's pixel buffer does not match its dimensions.
    #[error("FOV buffer holds {len} pixels, expected {images} x {height} x {width}")]
    FovBuffer {
        /// Pixels given.
        len: usize,
        /// Images of the FOV.
        images: usize,
        /// Rows.
        height: usize,
        /// Columns.
        width: usize,
    },
    /// Something does not fit the protocol's field sizes.
    #[error("{0}")]
    TooLarge(&'static str),
    /// A codebook has more words than the protocol carries.
    #[error(
        "the codebook has {words} words; the device protocol carries at most {}",
        robofish_shared::protocol::MAX_CODEBOOK_WORDS
    )]
    CodebookTooLarge {
        /// Words in the codebook.
        words: usize,
    },
    /// A gene name is longer than the protocol carries.
    #[error(
        "gene name '{name}' is {} bytes; the device protocol carries at most {}: shorten it in the codebook",
        name.len(),
        robofish_shared::protocol::MAX_GENE_NAME_BYTES
    )]
    GeneNameTooLong {
        /// The name.
        name: String,
    },
    /// The device's codebook differs from the one sent.
    #[error("the device holds another codebook than the one sent (checksum {device:#010x}, sent {sent:#010x})")]
    CodebookChecksum {
        /// Checksum of the codebook sent.
        sent: u32,
        /// Checksum the device reported.
        device: u32,
    },

    // --- transports ------------------------------------------------------
    /// A device SPEC of none of the known forms.
    #[error(
        "'{0}' is not a device SPEC: use exec:COMMAND, tcp:HOST:PORT, serial:PATH[@BAUD], stdio or local"
    )]
    BadSpec(String),
    /// The baud rate of `PATH@BAUD` is not a number.
    #[error("bad baud rate '{text}'")]
    BadBaud {
        /// What was given.
        text: String,
        /// Why it does not parse.
        #[source]
        source: std::num::ParseIntError,
    },
    /// `stty` could not put a serial port in raw mode (a pty or a pipe
    /// ignores that; a real port then runs at whatever speed it had).
    #[error("stty could not configure {path} ({detail}); using it as is")]
    Stty {
        /// The port.
        path: String,
        /// What stty said or why it did not run.
        detail: String,
    },
}

impl Error {
    /// A file or stream error, with what was being done.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let what = what.into();
        move |source| Error::Io { what, source }
    }

    /// The category the device reports this error as.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Protocol(e) => e.kind(),
            Error::Device(report) => report.kind,
            Error::ModelSize => ErrorKind::Oversized,
            Error::ChunkWithoutBegin
            | Error::ChunkMisplaced
            | Error::EndWithoutBegin
            | Error::BandOutsideFrame
            | Error::TruthOutsideFrame
            | Error::EndWithoutStart => ErrorKind::OutOfOrder,
            Error::UploadIncomplete | Error::FrameInterrupted => ErrorKind::Truncated,
            Error::UploadChecksum => ErrorKind::BadChecksum,
            Error::UploadHash => ErrorKind::ModelHashMismatch,
            Error::Model(_) => ErrorKind::Malformed,
            Error::DynamicModel | Error::NoPositionOutput => ErrorKind::Unsupported,
            // The kind of what made the device refuse it.
            Error::ModelRefused(cause) => cause.kind(),
            Error::NoModel | Error::StoredModelFault(_) => ErrorKind::NoModel,
            Error::Unauthorized(_) => ErrorKind::Unauthorized,
            Error::NothingToAuthenticate => ErrorKind::Unsupported,
            Error::AuthenticateBeforeHello => ErrorKind::OutOfOrder,
            Error::FovTooLarge { .. } => ErrorKind::Oversized,
            Error::NoImageStats => ErrorKind::Malformed,
            Error::ImageCount { .. } | Error::Unstreamable(_) | Error::FovSize(_) => {
                ErrorKind::WrongDimensions
            }
            _ => ErrorKind::Internal,
        }
    }

    /// The error message the device sends: its kind, the FOV it is about
    /// (a protocol error that names its own FOV keeps it) and the whole
    /// chain of messages, cut to fit the wire.
    pub fn reply(&self, frame_id: Option<u32>) -> DeviceMessage {
        let mut report = match self {
            Error::Protocol(e) => ErrorReport::from_error(e),
            _ => ErrorReport::new(None, self.kind(), &chain(self)),
        };
        if report.frame_id.is_none() {
            report.frame_id = frame_id;
        }
        DeviceMessage::Error(report)
    }
}

/// `error` and its causes, joined by ": " (what `{:#}` of an
/// `anyhow::Error` prints).
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cause = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_their_cause_once() {
        let cause = Error::Inference(Box::new(Error::TooManyRows { height: 16 }));
        let refused = Error::ModelRefused(Box::new(cause));
        let text = chain(&refused);
        assert_eq!(
            text,
            "model refused, old model kept: inference failed: \
             more rows than the FOV's 16 were pushed"
        );
        assert_eq!(text.matches("16").count(), 1);
        assert_eq!(
            Error::ModelRefused(Box::new(Error::DynamicModel)).kind(),
            ErrorKind::Unsupported
        );
        assert_eq!(
            Error::ModelRefused(Box::new(Error::UploadHash)).kind(),
            ErrorKind::ModelHashMismatch
        );
    }

    #[test]
    fn replies_carry_kind_frame_and_chain() {
        let e = Error::Unstreamable(Box::new(Error::FovSize(EngineError::BadTileSize {
            height: 18,
            width: 16,
            multiple: 4,
            minimum: 8,
        })));
        let DeviceMessage::Error(report) = e.reply(Some(3)) else {
            panic!("not an error reply");
        };
        assert_eq!(report.kind, ErrorKind::WrongDimensions);
        assert_eq!(report.frame_id, Some(3));
        assert!(report.message.contains("18x16"), "{}", report.message);
        // A protocol error naming another FOV keeps its own id.
        let other = Error::Protocol(ProtocolError::OutOfOrder {
            frame_id: 9,
            reason: "x",
        });
        let DeviceMessage::Error(report) = other.reply(Some(3)) else {
            panic!("not an error reply");
        };
        assert_eq!(
            (report.frame_id, report.kind),
            (Some(9), ErrorKind::OutOfOrder)
        );
    }
}
