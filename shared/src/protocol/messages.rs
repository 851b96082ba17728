//! The messages host and device exchange, and the byte layout of their
//! payloads.
//!
//! Every message is one variant of [`HostMessage`] (host -> device) or
//! [`DeviceMessage`] (device -> host). On the wire each travels in its own
//! COBS frame behind the protocol version (see [`super::framing`]). The
//! postcard encoding of these types *is* the wire format: reordering fields
//! or variants, or changing a field's type, is a protocol change and needs a
//! new [`PROTOCOL_VERSION`](super::PROTOCOL_VERSION). The golden-byte
//! tests pin it.
//!
//! # Conversation
//!
//! ```text
//! host                                   device
//! Hello                 ─────────────▶
//!                       ◀─────────────   HelloAck (or Error UnknownVersion):
//!                                        its Access, a fresh challenge, and
//!                                        why a stored model failed, if it did
//! Authenticate (HMAC of the challenge) ▶ (only to a device with a token)
//!                       ◀─────────────   Authenticated (or Error
//!                                        Unauthorized, and the session ends)
//! ModelBegin, ModelChunk*, ModelEnd ──▶  (optional: replace the model)
//!                       ◀─────────────   ModelAccepted (or Error)
//! CodebookChunk* (last = true ends it) ▶ (optional: the experiment's codebook)
//!                       ◀─────────────   CodebookAccepted (or one Error)
//! FrameStart            ─────────────▶   one field of view (FOV) ...
//! RowBand*  (rows 0.., in order)      ─▶ processed as they arrive
//! GroundTruth* (only if has_truth; any point between FrameStart and FrameEnd)
//! FrameEnd (CRC-32 of all pixel bytes) ▶
//!                       ◀─────────────   Spots* (last = true on the final chunk,
//!                                        one empty chunk when nothing was found),
//!                                        Metrics (only if truth was sent),
//!                                        Quality (always: the calls' blank
//!                                        rate, confidence, corrections),
//!                                        FrameTiming (always the last message
//!                                        for a FOV that succeeded)
//!                       ◀─────────────   or Error { frame_id: Some(id), .. }
//! ReportRequest         ─────────────▶
//!                       ◀─────────────   Report
//! Shutdown              ─────────────▶
//!                       ◀─────────────   ShutdownAck, then the session ends
//!                                        (a stdio or serial device exits; a
//!                                        TCP device serves the next host)
//! StopDevice            ─────────────▶   (authenticated hosts only)
//!                       ◀─────────────   Stopping, then the device exits
//! ```
//!
//! A message that needs authentication the session lacks (see
//! [`Access`](super::Access)) is answered once with `Error Unauthorized`:
//! a refused upload's remaining chunks, and a refused FOV's bands, are then
//! dropped without further replies.
//!
//! Every FOV is answered by either its `FrameTiming` or an `Error` naming its
//! id; nothing is dropped silently. A codebook upload is answered once, on
//! its last chunk (or on the first chunk that fails; the rest of that
//! upload is then dropped quietly); see [`super::codebook`] for why the
//! codebook is a message of its own and how long it lasts. [`FrameTracker`](super::FrameTracker)
//! implements the receiving side's checks of the FOV sub-sequence.
//!
//! # Borrowed payloads
//!
//! The two bulk payloads, [`RowBand::data`] and [`ModelChunk::bytes`], are
//! `&'a [u8]` borrowed from the receive buffer (postcard deserialises byte
//! slices without copying). A device therefore needs exactly one frame
//! buffer ([`MAX_FRAME_BYTES`](super::MAX_FRAME_BYTES)) and no second copy of
//! a 64 KiB band; the price is that a decoded [`HostMessage`] must be handled
//! before the next frame is fed to the decoder. Device messages are small
//! and fully owned (`heapless` containers), so a host can keep them.

use heapless::{String, Vec};

use crate::image::ImageStats;
use serde::{Deserialize, Serialize};

use super::{CallQuality, CodebookChunk, CodebookInfo, ProtocolError, Quality};
use crate::post::metrics::{SpotCounts, SpotEvaluation};

/// The post-processing types the wire carries as they are: one definition
/// for host, device and `eval`.
pub use crate::post::decode::UNASSIGNED_GENE;
pub use crate::post::metrics::TruthSpot;

/// Largest [`RowBand::data`] payload, in bytes (64 KiB): one row of a
/// 2048-wide FOV of sixteen `u16` images, or several rows of narrower ones.
/// A FOV whose single row is larger than this cannot be streamed
/// ([`FrameStart::validate`] refuses it).
pub const MAX_ROW_BAND_BYTES: usize = 64 * 1024;

/// Largest [`ModelChunk::bytes`] payload, in bytes (16 KiB).
pub const MAX_MODEL_CHUNK_BYTES: usize = 16 * 1024;

/// Most spots in one [`Spots`] message.
pub const MAX_SPOTS_PER_CHUNK: usize = 256;

/// Most ground-truth spots in one [`GroundTruth`] message.
pub const MAX_TRUTH_SPOTS_PER_CHUNK: usize = 256;

/// Most ground-truth spots of one FOV (262,144, about 3 MiB on the device):
/// six times a dense 2048x2048 FOV (0.01 emitters/px², 41,900 emitters) and
/// 0.06/px², the densest the simulator draws. More is refused as
/// `Oversized`, so what a host sends cannot grow the device's memory
/// without bound.
pub const MAX_TRUTH_SPOTS_PER_FOV: usize = 1 << 18;

/// Longest [`ErrorReport::message`], in UTF-8 bytes.
pub const MAX_ERROR_MESSAGE_BYTES: usize = 128;

/// Longest [`Hello::client`] name, in UTF-8 bytes.
pub const MAX_CLIENT_NAME_BYTES: usize = 32;

/// Longest [`HelloAck::kernel_path`] name, in UTF-8 bytes.
pub const MAX_KERNEL_PATH_BYTES: usize = 16;

/// Longest [`ModelInfo::name`], in UTF-8 bytes.
pub const MAX_MODEL_NAME_BYTES: usize = 32;

// ---------------------------------------------------------------------------
// Host -> device
// ---------------------------------------------------------------------------

/// Everything the host sends to the device.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[allow(
    clippy::large_enum_variant,
    reason = "no_std without a heap cannot box; one message (about 4 KiB) is alive at a time"
)]
pub enum HostMessage<'a> {
    /// Opens a session; the device answers [`DeviceMessage::HelloAck`].
    Hello(Hello),
    /// Announces a model upload.
    ModelBegin(ModelBegin),
    /// One piece of the model file.
    #[serde(borrow)]
    ModelChunk(ModelChunk<'a>),
    /// Ends a model upload; the device verifies, stores and loads it.
    ModelEnd(ModelEnd),
    /// Announces one field of view.
    FrameStart(FrameStart),
    /// Consecutive rows of all images of the current FOV.
    #[serde(borrow)]
    RowBand(RowBand<'a>),
    /// Part of the ground truth for the current FOV.
    GroundTruth(GroundTruth),
    /// Ends the current FOV; the device answers with its results.
    FrameEnd(FrameEnd),
    /// Asks for the cumulative [`DeviceMessage::Report`].
    ReportRequest,
    /// Ends the session (not the device: a TCP device serves the next
    /// host; a stdio or serial device, which has only this host, exits).
    Shutdown,
    /// Part of the experiment's codebook; the last chunk is answered with
    /// [`DeviceMessage::CodebookAccepted`].
    CodebookChunk(CodebookChunk),
    /// Answers the challenge of [`HelloAck::challenge`]; the device replies
    /// [`DeviceMessage::Authenticated`], or `Error Unauthorized` and ends
    /// the session.
    Authenticate(Authenticate),
    /// Stops the device process (authenticated sessions only); answered
    /// with [`DeviceMessage::Stopping`].
    StopDevice,
}

/// A host's proof that it holds the device's token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authenticate {
    /// [`auth_tag`](super::auth_tag)`(token, challenge)`.
    pub tag: [u8; super::TAG_BYTES],
}

/// Session opener.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The host's [`PROTOCOL_VERSION`](super::PROTOCOL_VERSION). The frame header carries it too;
    /// repeating it here makes the handshake self-describing in logs.
    pub version: u16,
    /// Free-form host name and version, e.g. `robofish 0.1.0`.
    pub client: String<MAX_CLIENT_NAME_BYTES>,
}

/// Start of a model upload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelBegin {
    /// Size of the whole model file in bytes.
    pub total_len: u32,
    /// The model's identity hash as defined by the model file format; the
    /// device checks the loaded model against it (else `ModelHashMismatch`)
    /// and reports it in [`ModelInfo::hash`].
    pub hash: u64,
}

/// One piece of a model upload. Chunks are sent in order, without gaps:
/// the first at offset 0, each next at `offset + bytes.len()` of the last.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelChunk<'a> {
    /// Byte offset of `bytes` in the model file.
    pub offset: u32,
    /// At most [`MAX_MODEL_CHUNK_BYTES`] bytes of the file.
    #[serde(borrow)]
    pub bytes: &'a [u8],
    /// [`crc32`](crate::checksum::crc32) of `bytes`.
    pub crc32: u32,
}

impl ModelChunk<'_> {
    /// Checks the payload bound and the chunk checksum.
    pub fn validate(&self) -> Result<(), ProtocolError> {
        if self.bytes.len() > MAX_MODEL_CHUNK_BYTES {
            return Err(ProtocolError::Oversized {
                len: self.bytes.len(),
                limit: MAX_MODEL_CHUNK_BYTES,
            });
        }
        let computed = crate::checksum::crc32(self.bytes);
        if computed != self.crc32 {
            return Err(ProtocolError::BadChecksum {
                frame_id: None,
                expected: self.crc32,
                computed,
            });
        }
        Ok(())
    }
}

/// End of a model upload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelEnd {
    /// [`crc32`](crate::checksum::crc32) of the whole model file, checked
    /// before the device even tries to load it.
    pub crc32: u32,
}

/// Storage type of every pixel of a FOV.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PixelType {
    /// One byte per pixel.
    U8,
    /// Two bytes per pixel, little-endian.
    U16,
}

impl PixelType {
    /// Bytes one pixel takes in [`RowBand::data`].
    pub const fn bytes_per_pixel(self) -> usize {
        match self {
            PixelType::U8 => 1,
            PixelType::U16 => 2,
        }
    }
}

/// Most images a FOV's [`FrameStart::stats`] can describe.
pub const MAX_FRAME_IMAGES: usize = 64;

/// Announces one field of view: `rounds x colours` images of
/// `height x width` pixels each.
///
/// The pixels follow in [`RowBand`]s; see [`RowBand::data`] for the layout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FrameStart {
    /// Host-chosen id, echoed in every message about this FOV.
    pub frame_id: u32,
    /// Pixels per image row.
    pub width: u16,
    /// Rows per image.
    pub height: u16,
    /// Imaging rounds (8 for the standard MERFISH codebook).
    pub rounds: u8,
    /// Colour channels per round (2 for the standard set-up).
    pub colours: u8,
    /// Pixel storage type.
    pub pixel: PixelType,
    /// Whether [`GroundTruth`] chunks follow for this FOV.
    pub has_truth: bool,
    /// Each image's background and noise over the whole FOV
    /// ([`crate::image_stats::measure`]), in image order; empty when the
    /// host sends none. A per-image model needs them before its first row,
    /// and only the whole FOV gives the same statistics to every band.
    pub stats: Vec<ImageStats, MAX_FRAME_IMAGES>,
}

impl FrameStart {
    /// Number of images, `rounds x colours`.
    pub const fn images(&self) -> usize {
        self.rounds as usize * self.colours as usize
    }

    /// Index of the image of `round` in `colour` within one row of a band:
    /// `colour x rounds + round`.
    pub const fn image_index(&self, round: u8, colour: u8) -> usize {
        colour as usize * self.rounds as usize + round as usize
    }

    /// Bytes of one image row: `width x bytes per pixel`.
    pub const fn image_row_bytes(&self) -> usize {
        self.width as usize * self.pixel.bytes_per_pixel()
    }

    /// Bytes of one band row, all images: `images x width x bytes per pixel`.
    pub const fn row_bytes(&self) -> usize {
        self.images() * self.image_row_bytes()
    }

    /// Bytes of all pixels of the FOV, `height x row_bytes`.
    pub const fn total_bytes(&self) -> u64 {
        self.height as u64 * self.row_bytes() as u64
    }

    /// Most rows one [`RowBand`] may carry when its payload is limited to
    /// `payload_limit` bytes (use [`MAX_ROW_BAND_BYTES`], or a device's
    /// smaller [`HelloAck::max_row_band_bytes`]); 0 if not even one row fits.
    pub const fn rows_per_band(&self, payload_limit: usize) -> u16 {
        let row = self.row_bytes();
        if row == 0 {
            return 0;
        }
        let rows = payload_limit / row;
        if rows > self.height as usize {
            self.height
        } else {
            rows as u16
        }
    }

    /// Checks that the FOV is non-empty and that one row of it fits a band
    /// of [`MAX_ROW_BAND_BYTES`].
    pub fn validate(&self) -> Result<(), ProtocolError> {
        let wrong = |reason| ProtocolError::WrongDimensions {
            frame_id: self.frame_id,
            reason,
        };
        if self.width == 0 || self.height == 0 {
            return Err(wrong("width and height must be at least 1"));
        }
        if self.rounds == 0 || self.colours == 0 {
            return Err(wrong("rounds and colours must be at least 1"));
        }
        if self.row_bytes() > MAX_ROW_BAND_BYTES {
            return Err(wrong(
                "one row of all images exceeds MAX_ROW_BAND_BYTES (64 KiB)",
            ));
        }
        if !self.stats.is_empty() && self.stats.len() != self.images() {
            return Err(wrong(
                "image statistics must be absent or one per image (rounds x colours)",
            ));
        }
        if self.stats.iter().any(|s| !s.is_usable()) {
            return Err(wrong(
                "an image's statistics are unusable: background must be finite within 1e7, \
                 noise within 1e-3..1e7",
            ));
        }
        Ok(())
    }
}

/// Consecutive rows `first_row .. first_row + row_count` of every image of
/// a FOV.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowBand<'a> {
    /// The FOV this band belongs to.
    pub frame_id: u32,
    /// First image row in this band. Bands arrive in order and without gaps:
    /// the first starts at row 0, each next where the last ended.
    pub first_row: u16,
    /// Rows in this band, at least 1.
    pub row_count: u16,
    /// The pixels, row-major over (band row, image, column):
    ///
    /// ```text
    /// for row in first_row .. first_row + row_count:
    ///     for image in 0 .. rounds * colours:      // image = colour * rounds + round
    ///         for column in 0 .. width:
    ///             pixel, little-endian, bytes_per_pixel bytes
    /// ```
    ///
    /// so `data.len() == row_count x rounds x colours x width x
    /// bytes_per_pixel` and at most [`MAX_ROW_BAND_BYTES`]. The
    /// concatenation of all bands of a FOV is exactly the byte stream that
    /// [`FrameEnd::checksum`] covers.
    #[serde(borrow)]
    pub data: &'a [u8],
}

impl<'a> RowBand<'a> {
    /// The bytes of one image row: band row `row_in_band` (0-based within
    /// the band) of image `image` (see [`FrameStart::image_index`]); `None`
    /// when out of range or when `data` is shorter than `frame` implies.
    pub fn image_row(
        &self,
        frame: &FrameStart,
        row_in_band: u16,
        image: usize,
    ) -> Option<&'a [u8]> {
        if row_in_band >= self.row_count || image >= frame.images() {
            return None;
        }
        let image_row = frame.image_row_bytes();
        let start = usize::from(row_in_band) * frame.row_bytes() + image * image_row;
        self.data.get(start..start + image_row)
    }
}

/// Part of the ground truth of a FOV announced with `has_truth`.
/// Chunks are numbered from 0; the last one has `last = true` (send one
/// empty last chunk when the FOV holds no emitters).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroundTruth {
    /// The FOV this truth belongs to.
    pub frame_id: u32,
    /// 0, 1, 2, ... within the FOV.
    pub chunk_index: u16,
    /// Whether this is the final chunk.
    pub last: bool,
    /// The emitters of this chunk.
    pub spots: Vec<TruthSpot, MAX_TRUTH_SPOTS_PER_CHUNK>,
}

/// Ends a FOV.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameEnd {
    /// The FOV that ends.
    pub frame_id: u32,
    /// [`crc32`](crate::checksum::crc32) of every pixel byte of the FOV in
    /// wire order, i.e. of the concatenated [`RowBand::data`] of all its
    /// bands.
    pub checksum: u32,
}

// ---------------------------------------------------------------------------
// Device -> host
// ---------------------------------------------------------------------------

/// Everything the device sends to the host.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[allow(
    clippy::large_enum_variant,
    reason = "no_std without a heap cannot box; one message (about 4 KiB) is alive at a time"
)]
pub enum DeviceMessage {
    /// Answer to [`HostMessage::Hello`].
    HelloAck(HelloAck),
    /// A model upload was verified, stored and loaded.
    ModelAccepted(ModelInfo),
    /// Detected spots of a FOV, in chunks.
    Spots(Spots),
    /// Accuracy of a FOV that came with ground truth.
    Metrics(Metrics),
    /// Timing of a FOV; the last message about a FOV that succeeded.
    FrameTiming(FrameTiming),
    /// Something went wrong; see [`ErrorReport`].
    Error(ErrorReport),
    /// Cumulative statistics, answer to [`HostMessage::ReportRequest`].
    Report(Report),
    /// Answer to [`HostMessage::Shutdown`]; the device closes afterwards.
    ShutdownAck,
    /// A codebook upload was checked; later FOVs decode with it.
    CodebookAccepted(CodebookInfo),
    /// How a FOV's spots decoded, without truth.
    Quality(Quality),
    /// The host's [`Authenticate`] tag was right: the session may now do
    /// what [`HelloAck::access`] withholds from anonymous hosts.
    Authenticated,
    /// Answer to [`HostMessage::StopDevice`]; the device exits afterwards.
    Stopping,
}

/// The model a device runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// The model's identity hash (as in [`ModelBegin::hash`]).
    pub hash: u64,
    /// The model's name from its file.
    pub name: String<MAX_MODEL_NAME_BYTES>,
    /// Bytes of the engine's activation arena for this model.
    pub arena_bytes: u32,
}

/// The device introduces itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelloAck {
    /// The device's [`PROTOCOL_VERSION`](super::PROTOCOL_VERSION).
    pub version: u16,
    /// The kernel path the engine chose, e.g. `neon-dotprod`, `avx2`, `scalar`.
    pub kernel_path: String<MAX_KERNEL_PATH_BYTES>,
    /// The loaded model, `None` when the device has none yet (a FOV then
    /// gets `Error NoModel`).
    pub model: Option<ModelInfo>,
    /// Worker threads the device uses.
    pub threads: u16,
    /// Free memory of the device in bytes, as far as it can tell.
    pub free_memory: u64,
    /// Largest [`RowBand::data`] the device accepts (at most
    /// [`MAX_ROW_BAND_BYTES`]); the host sizes its bands with
    /// [`FrameStart::rows_per_band`].
    pub max_row_band_bytes: u32,
    /// What an unauthenticated host may do.
    pub access: super::Access,
    /// A fresh random value for [`HostMessage::Authenticate`]; all zeros
    /// from a device without a token ([`Access::Open`](super::Access::Open)).
    pub challenge: super::Challenge,
    /// Why the device has no model although one was stored (e.g. the
    /// stored file is corrupt); `None` otherwise. Flashing a model clears it.
    pub model_fault: Option<String<MAX_ERROR_MESSAGE_BYTES>>,
}

/// One detected spot.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct WireSpot {
    /// Pixel row of the detection peak.
    pub row: u16,
    /// Pixel column of the detection peak.
    pub col: u16,
    /// Sub-pixel offset of the emitter from the pixel centre along rows,
    /// in pixels (typically within -0.5 ..= 0.5). Sent as `f32` so the host
    /// receives exactly what the device computed.
    pub dy: f32,
    /// Sub-pixel offset along columns, in pixels.
    pub dx: f32,
    /// Index of the called gene in the device's active codebook (the
    /// experiment's, in the order the host sent it, else the model's), or
    /// [`UNASSIGNED_GENE`].
    pub gene: u16,
    /// Hamming distance from the spot's observed word to the nearest
    /// codeword: for a call, 0 (exact) or 1 (error-corrected); an
    /// unassigned spot says how far off it was; [`NOT_DECODED`] when there
    /// was no codebook to decode against.
    pub distance: u8,
    /// The call's confidence, 0 (none) ..= 255 (certain); for a spot that
    /// was not decoded, its detection score.
    pub confidence: u8,
}

/// [`WireSpot::distance`] of a spot that was not decoded (no codebook, or a
/// model without barcode outputs).
pub const NOT_DECODED: u8 = u8::MAX;

impl WireSpot {
    /// Sub-pixel row coordinate, `row + dy`.
    pub fn y(&self) -> f32 {
        f32::from(self.row) + self.dy
    }

    /// Sub-pixel column coordinate, `col + dx`.
    pub fn x(&self) -> f32 {
        f32::from(self.col) + self.dx
    }

    /// Whether the decoder assigned a gene.
    pub const fn is_assigned(&self) -> bool {
        self.gene != UNASSIGNED_GENE
    }
}

/// Part of the detected spots of a FOV. Chunks are numbered from 0; the
/// final one has `last = true` (a FOV without spots gets one empty last
/// chunk).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Spots {
    /// The FOV.
    pub frame_id: u32,
    /// 0, 1, 2, ... within the FOV.
    pub chunk_index: u16,
    /// Whether this is the final chunk.
    pub last: bool,
    /// The spots, in the device's output order.
    pub spots: Vec<WireSpot, MAX_SPOTS_PER_CHUNK>,
}

/// Where the time for one FOV went, in microseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameTiming {
    /// The FOV.
    pub frame_id: u32,
    /// From `FrameStart` to `FrameEnd` received (includes compute that
    /// overlapped the transfer).
    pub receive_us: u32,
    /// Network inference, including any that overlapped the transfer.
    pub compute_us: u32,
    /// Peak finding and gene decoding.
    pub decode_us: u32,
    /// From `FrameStart` received to this message sent.
    pub total_us: u32,
}

/// Detection and decoding counts against ground truth. Per FOV in
/// [`Metrics`], summed over the session in [`Report::cumulative`].
///
/// The detection counts are the shared [`SpotCounts`], so precision,
/// recall and F1 come from there, with its empty-case rule. (postcard
/// writes a nested struct as its fields in order, so the wire form is the
/// seven counts in the order they are declared here.)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetectionCounts {
    /// Ground-truth emitters.
    pub truth_spots: u64,
    /// Spots the device reported.
    pub called_spots: u64,
    /// Reported spots matched one to one to truth emitters by position.
    pub detection: SpotCounts,
    /// Matches that hold when a spot must also carry its truth's gene (the
    /// gene-aware true positives).
    pub gene_correct: u64,
    /// Reported spots decoded to a blank (control) barcode.
    pub blank_calls: u64,
}

impl DetectionCounts {
    /// The wire counts of one evaluated FOV with `blank_calls` blank calls.
    pub fn new(evaluation: &SpotEvaluation, blank_calls: u64) -> Self {
        let detection = evaluation.detection;
        DetectionCounts {
            truth_spots: detection.true_positives + detection.false_negatives,
            called_spots: detection.true_positives + detection.false_positives,
            detection,
            gene_correct: evaluation.genes.true_positives,
            blank_calls,
        }
    }

    /// Adds `other` to `self` field by field (saturating).
    pub fn accumulate(&mut self, other: &DetectionCounts) {
        self.truth_spots = self.truth_spots.saturating_add(other.truth_spots);
        self.called_spots = self.called_spots.saturating_add(other.called_spots);
        self.detection.merge(&other.detection);
        self.gene_correct = self.gene_correct.saturating_add(other.gene_correct);
        self.blank_calls = self.blank_calls.saturating_add(other.blank_calls);
    }

    /// Fraction of the position matches whose gene also matched; 1 without
    /// any match, by [`SpotCounts`]' rule that a ratio over nothing is 1.
    pub fn gene_accuracy(&self) -> f64 {
        let matched = self.detection.true_positives;
        if matched == 0 {
            1.0
        } else {
            self.gene_correct as f64 / matched as f64
        }
    }
}

/// Accuracy of one FOV against its ground truth.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metrics {
    /// The FOV.
    pub frame_id: u32,
    /// The counts.
    pub counts: DetectionCounts,
}

/// What went wrong, as a category both sides can act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorKind {
    /// Bytes that are not a valid frame or message.
    Malformed,
    /// A frame, FOV or upload ended before all its parts arrived.
    Truncated,
    /// A checksum did not match the data.
    BadChecksum,
    /// A FOV's dimensions are invalid, unsupported by the model, or
    /// inconsistent with a band's size.
    WrongDimensions,
    /// The uploaded model's hash differs from the announced one.
    ModelHashMismatch,
    /// The peer speaks another protocol version.
    UnknownVersion,
    /// A frame or payload exceeds its size limit.
    Oversized,
    /// A FOV arrived but no model is loaded.
    NoModel,
    /// A message arrived out of sequence (band gap, wrong frame id, ...).
    OutOfOrder,
    /// The device failed on its own (I/O, engine error, ...).
    Internal,
    /// The device is serving another host; the message says which and
    /// for how long. Try again later.
    Busy,
    /// A well-formed request the device does not serve (e.g. a dynamic
    /// model, which cannot stream).
    Unsupported,
    /// The request needs an authenticated session (see
    /// [`HelloAck::access`]), or the authentication tag was wrong.
    Unauthorized,
}

impl ErrorKind {
    /// A short lower-case name, e.g. `bad checksum`.
    pub const fn name(self) -> &'static str {
        match self {
            ErrorKind::Malformed => "malformed",
            ErrorKind::Truncated => "truncated",
            ErrorKind::BadChecksum => "bad checksum",
            ErrorKind::WrongDimensions => "wrong dimensions",
            ErrorKind::ModelHashMismatch => "model hash mismatch",
            ErrorKind::UnknownVersion => "unknown version",
            ErrorKind::Oversized => "oversized",
            ErrorKind::NoModel => "no model",
            ErrorKind::OutOfOrder => "out of order",
            ErrorKind::Internal => "internal error",
            ErrorKind::Busy => "busy",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Unauthorized => "unauthorized",
        }
    }
}

impl core::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// An error the device reports to the host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReport {
    /// The FOV the error is about, `None` for session-level errors.
    pub frame_id: Option<u32>,
    /// Category.
    pub kind: ErrorKind,
    /// Human-readable detail, truncated to [`MAX_ERROR_MESSAGE_BYTES`].
    pub message: String<MAX_ERROR_MESSAGE_BYTES>,
}

impl ErrorReport {
    /// A report with `message` cut (at a character boundary) to
    /// [`MAX_ERROR_MESSAGE_BYTES`].
    pub fn new(frame_id: Option<u32>, kind: ErrorKind, message: &str) -> Self {
        let mut report = Self {
            frame_id,
            kind,
            message: String::new(),
        };
        let mut writer = TruncatingWriter(&mut report.message);
        // A truncating writer never fails.
        let _ = core::fmt::Write::write_str(&mut writer, message);
        report
    }

    /// The report for `error`: its kind, the FOV it names, and its
    /// [`Display`](core::fmt::Display) text (truncated).
    pub fn from_error(error: &ProtocolError) -> Self {
        let mut report = Self {
            frame_id: error.frame_id(),
            kind: error.kind(),
            message: String::new(),
        };
        let mut writer = TruncatingWriter(&mut report.message);
        let _ = core::fmt::Write::write_fmt(&mut writer, format_args!("{error}"));
        report
    }
}

impl core::fmt::Display for ErrorReport {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.frame_id {
            Some(id) => write!(
                f,
                "device error ({}) on frame {id}: {}",
                self.kind, self.message
            ),
            None => write!(f, "device error ({}): {}", self.kind, self.message),
        }
    }
}

/// Writes into a bounded string, silently dropping what does not fit
/// (never splitting a character).
struct TruncatingWriter<'s, const N: usize>(&'s mut String<N>);

impl<const N: usize> core::fmt::Write for TruncatingWriter<'_, N> {
    fn write_str(&mut self, text: &str) -> core::fmt::Result {
        for character in text.chars() {
            if self.0.push(character).is_err() {
                break;
            }
        }
        Ok(())
    }
}

/// Cumulative statistics of the session.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// FOVs answered with results.
    pub frames: u32,
    /// FOVs answered with an error.
    pub failed_frames: u32,
    /// Spots reported over all FOVs.
    pub spots: u64,
    /// Pixels received over all FOVs (per image, i.e. `width x height x
    /// images` per FOV).
    pub pixels: u64,
    /// Median [`FrameTiming::total_us`].
    pub latency_p50_us: u32,
    /// 99th percentile of [`FrameTiming::total_us`].
    pub latency_p99_us: u32,
    /// Pixels per second over the time spent on FOVs.
    pub throughput_pixels_per_s: f64,
    /// Summed [`Metrics`], `None` when no FOV came with truth.
    pub cumulative: Option<DetectionCounts>,
    /// Summed [`Quality`] of every FOV answered with results, `None` before
    /// the first.
    pub quality: Option<CallQuality>,
}

impl Report {
    /// The `q`-quantile (`0 <= q <= 1`) of ascending `sorted` latencies,
    /// as [`Report::latency_p50_us`] and [`Report::latency_p99_us`] take
    /// it: the element at index `round((len - 1) * q)` (half away from
    /// zero), 0 for no latencies.
    pub fn latency_percentile(sorted: &[u32], q: f64) -> u32 {
        let Some(last) = sorted.len().checked_sub(1) else {
            return 0;
        };
        let position = last as f64 * q.clamp(0.0, 1.0);
        // `f64::round` needs std; for 0 <= position < 2^52 the fraction
        // below is exact, so this rounds the same way.
        let whole = position as usize;
        let index = if position - whole as f64 >= 0.5 {
            whole + 1
        } else {
            whole
        };
        sorted[index.min(last)]
    }
}
