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

pub mod decode;
pub mod metrics;
pub mod peaks;

pub use decode::{Call, DecodeCounts, DecodeError, Decoded, Decoder, BARCODE_BITS};
pub use peaks::{find_spots, find_spots_in_rows, Peak, PeakError};
