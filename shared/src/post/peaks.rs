//! Spot detection: local maxima of the position map with 3x3 non-maximum
//! suppression and a weighted-centroid sub-pixel position.
//!
//! Nothing here allocates: spots are handed to a caller-supplied sink as
//! they are found, so the device can run it on each row band of a field of
//! view with bounded memory.
//!
//! # Which pixels are peaks
//!
//! A pixel with value `v` is a peak when
//!
//! - `v >= threshold`, and
//! - `v` is **strictly greater** than each 8-neighbour that comes *earlier*
//!   in raster order (the three pixels of the row above and the left
//!   neighbour), and
//! - `v` is **greater than or equal to** each 8-neighbour that comes *later*
//!   (the right neighbour and the three pixels of the row below).
//!
//! Neighbours outside the map are ignored. The asymmetric comparison breaks
//! ties on plateaus deterministically: no two peaks are ever 8-neighbours
//! (if `p` precedes its neighbour `q`, `q` needs `q > p` and `p` needs
//! `p >= q`), and a filled rectangular plateau (a flat-topped blob) yields
//! exactly one peak, its top-left pixel. An irregular plateau wider than the
//! window (a V, say) can still give several peaks, each pair at least two
//! pixels apart.
//!
//! # Sub-pixel position
//!
//! The position is the centroid of the 3x3 window around the peak (the
//! in-map part of it at borders) with weights `value - background`, where
//! the background is the window's minimum. Subtracting the local minimum
//! keeps a flat pedestal from pulling every spot towards its pixel centre,
//! and the weights stay non-negative. A flat window (all weights zero) gives
//! the pixel centre. The sums are exact integers and the offset is one f32
//! division, so every platform computes the same bits.

use core::fmt;
use core::ops::Range;

use serde::{Deserialize, Serialize};

/// Largest height or width a map may have: rows and columns are reported as
/// `u16`.
pub const MAX_DIMENSION: usize = 1 << 16;

/// One local maximum of the position map.
///
/// The sub-pixel position is kept as offsets from the pixel centre rather
/// than as absolute coordinates, so that moving a band's peak into image
/// coordinates ([`Peak::offset_rows`]) is exact and a banded search gives
/// the same bits as a whole-image one.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Peak {
    /// Row of the peak pixel, in the coordinates of the map that was
    /// searched.
    pub row: u16,
    /// Column of the peak pixel.
    pub col: u16,
    /// Centroid row offset from the pixel centre, in `[-1, 1]`.
    pub row_offset: f32,
    /// Centroid column offset from the pixel centre, in `[-1, 1]`.
    pub col_offset: f32,
    /// The position map's value at the peak pixel (probability * 255).
    pub score: u8,
}

impl Peak {
    /// Sub-pixel row: `row + row_offset`.
    pub fn y(&self) -> f32 {
        f32::from(self.row) + self.row_offset
    }

    /// Sub-pixel column: `col + col_offset`.
    pub fn x(&self) -> f32 {
        f32::from(self.col) + self.col_offset
    }

    /// The same peak in the coordinates of a larger image whose row `origin`
    /// is row 0 of the searched map (a row band starting at `origin`).
    /// `None` when the shifted row does not fit in `u16`.
    pub fn offset_rows(self, origin: u16) -> Option<Peak> {
        Some(Peak {
            row: self.row.checked_add(origin)?,
            ..self
        })
    }
}

/// Why a map could not be searched.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeakError {
    /// The map's length is not `height * width`.
    MapSizeMismatch {
        /// Height the caller gave.
        height: usize,
        /// Width the caller gave.
        width: usize,
        /// Length of the map slice.
        len: usize,
    },
    /// Height or width exceeds [`MAX_DIMENSION`].
    DimensionTooLarge {
        /// Height the caller gave.
        height: usize,
        /// Width the caller gave.
        width: usize,
    },
    /// The row range to report is not inside `0..height`.
    RowRangeOutOfBounds {
        /// First row asked for.
        start: usize,
        /// One past the last row asked for.
        end: usize,
        /// Height of the map.
        height: usize,
    },
}

impl fmt::Display for PeakError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PeakError::MapSizeMismatch { height, width, len } => write!(
                f,
                "position map has {len} values but {height} x {width} needs {}",
                height.saturating_mul(width)
            ),
            PeakError::DimensionTooLarge { height, width } => write!(
                f,
                "position map is {height} x {width}; at most {MAX_DIMENSION} rows and columns are supported"
            ),
            PeakError::RowRangeOutOfBounds { start, end, height } => write!(
                f,
                "row range {start}..{end} is not inside a map of {height} rows"
            ),
        }
    }
}

impl core::error::Error for PeakError {}

/// Finds every peak of a `height x width` position map with value
/// `>= threshold`, calls `sink` with each in raster order and returns how
/// many it found. See the [module docs](self) for the peak rule and the
/// sub-pixel weights.
pub fn find_spots(
    map: &[u8],
    height: usize,
    width: usize,
    threshold: u8,
    sink: impl FnMut(Peak),
) -> Result<usize, PeakError> {
    find_spots_in_rows(map, height, width, threshold, 0..height, sink)
}

/// Like [`find_spots`], but reports only peaks whose row lies in `rows`.
///
/// This is for row bands: the device passes a band together with its halo
/// rows as `map` and the band's interior as `rows`. Pixels outside `rows`
/// still take part as neighbours, so a peak in the interior is judged
/// exactly as in the whole image as long as one halo row surrounds the
/// interior, and adjacent bands with touching interiors report every peak
/// of the image exactly once. Rows and positions are relative to `map`; use
/// [`Peak::offset_rows`] to move them into image coordinates.
pub fn find_spots_in_rows(
    map: &[u8],
    height: usize,
    width: usize,
    threshold: u8,
    rows: Range<usize>,
    mut sink: impl FnMut(Peak),
) -> Result<usize, PeakError> {
    if height > MAX_DIMENSION || width > MAX_DIMENSION {
        return Err(PeakError::DimensionTooLarge { height, width });
    }
    // Both dimensions are at most 2^16, so the product fits in a 64-bit
    // usize; checked anyway for 32-bit targets.
    if height.checked_mul(width) != Some(map.len()) {
        return Err(PeakError::MapSizeMismatch {
            height,
            width,
            len: map.len(),
        });
    }
    if rows.start > rows.end || rows.end > height {
        return Err(PeakError::RowRangeOutOfBounds {
            start: rows.start,
            end: rows.end,
            height,
        });
    }
    if width == 0 {
        return Ok(0);
    }

    let mut found = 0;
    for row in rows {
        let line = |r: usize| &map[r * width..(r + 1) * width];
        let window = RowWindow {
            above: row.checked_sub(1).map(line),
            current: line(row),
            below: (row + 1 < height).then(|| line(row + 1)),
        };
        for (col, &value) in window.current.iter().enumerate() {
            if value < threshold || !window.is_peak(col, value) {
                continue;
            }
            let (row_offset, col_offset) = window.centroid_offset(col);
            sink(Peak {
                // Both fit: row < height <= 2^16 and col < width <= 2^16.
                row: row as u16,
                col: col as u16,
                row_offset,
                col_offset,
                score: value,
            });
            found += 1;
        }
    }
    Ok(found)
}

/// The row being scanned and its neighbours, where they exist.
struct RowWindow<'a> {
    above: Option<&'a [u8]>,
    current: &'a [u8],
    below: Option<&'a [u8]>,
}

/// The columns `col - 1 ..= col + 1` of `line` that exist, with their
/// offsets from `col`.
fn columns_around(line: &[u8], col: usize) -> impl Iterator<Item = (i32, u8)> + '_ {
    let first = col.saturating_sub(1);
    let last = (col + 2).min(line.len());
    let first_offset = first as i32 - col as i32;
    line[first..last]
        .iter()
        .enumerate()
        .map(move |(i, &v)| (first_offset + i as i32, v))
}

impl RowWindow<'_> {
    fn is_peak(&self, col: usize, value: u8) -> bool {
        let earlier_row = self
            .above
            .is_none_or(|line| columns_around(line, col).all(|(_, v)| v < value));
        let left = col == 0 || self.current[col - 1] < value;
        let right = self.current.get(col + 1).is_none_or(|&v| v <= value);
        let later_row = self
            .below
            .is_none_or(|line| columns_around(line, col).all(|(_, v)| v <= value));
        earlier_row && left && right && later_row
    }

    /// The rows of the 3x3 window that exist, with their offsets.
    fn lines(&self) -> impl Iterator<Item = (i32, &[u8])> + '_ {
        [(-1, self.above), (0, Some(self.current)), (1, self.below)]
            .into_iter()
            .filter_map(|(dy, line)| line.map(|l| (dy, l)))
    }

    fn centroid_offset(&self, col: usize) -> (f32, f32) {
        let background = self
            .lines()
            .flat_map(|(_, line)| columns_around(line, col))
            .map(|(_, v)| v)
            .min()
            .unwrap_or(0);
        let (mut total, mut moment_y, mut moment_x) = (0i32, 0i32, 0i32);
        for (dy, line) in self.lines() {
            for (dx, v) in columns_around(line, col) {
                let weight = i32::from(v - background);
                total += weight;
                moment_y += dy * weight;
                moment_x += dx * weight;
            }
        }
        if total == 0 {
            return (0.0, 0.0);
        }
        // |moment| <= total <= 9 * 255, exactly representable in f32.
        (
            moment_y as f32 / total as f32,
            moment_x as f32 / total as f32,
        )
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn peaks(map: &[u8], height: usize, width: usize, threshold: u8) -> Vec<Peak> {
        let mut out = Vec::new();
        let n = find_spots(map, height, width, threshold, |p| out.push(p)).unwrap();
        assert_eq!(n, out.len());
        out
    }

    fn cells(peaks: &[Peak]) -> Vec<(u16, u16)> {
        peaks.iter().map(|p| (p.row, p.col)).collect()
    }

    #[test]
    fn isolated_maximum_is_found_at_its_pixel_centre() {
        #[rustfmt::skip]
        let map = [
            0, 0, 0, 0,
            0, 9, 0, 0,
            0, 0, 0, 0,
        ];
        let found = peaks(&map, 3, 4, 5);
        assert_eq!(
            found,
            [Peak {
                row: 1,
                col: 1,
                row_offset: 0.0,
                col_offset: 0.0,
                score: 9
            }]
        );
    }

    #[test]
    fn threshold_is_inclusive() {
        let map = [0, 5, 0];
        assert_eq!(cells(&peaks(&map, 1, 3, 5)), [(0, 1)]);
        assert!(peaks(&map, 1, 3, 6).is_empty());
    }

    #[test]
    fn plateau_yields_its_first_pixel_in_raster_order() {
        #[rustfmt::skip]
        let map = [
            0, 0, 0, 0, 0,
            0, 7, 7, 7, 0,
            0, 7, 7, 7, 0,
            0, 0, 0, 0, 0,
        ];
        let found = peaks(&map, 4, 5, 1);
        assert_eq!(cells(&found), [(1, 1)]);
        // The centroid moves to the middle of the 2 x 2 part of the plateau
        // inside the window: rows 1-2 and columns 0-2 of which 1-2 are 7.
        assert_eq!((found[0].y(), found[0].x()), (1.5, 1.5));
    }

    #[test]
    fn diagonal_tie_keeps_only_the_earlier_pixel() {
        #[rustfmt::skip]
        let map = [
            0, 0, 4,
            0, 4, 0,
            0, 0, 0,
        ];
        // (0, 2) precedes (1, 1) and they touch diagonally.
        assert_eq!(cells(&peaks(&map, 3, 3, 1)), [(0, 2)]);
    }

    #[test]
    fn plateau_wider_than_the_window_can_give_non_adjacent_peaks() {
        // A V-shaped plateau: (0, 4) has no earlier equal neighbour.
        #[rustfmt::skip]
        let map = [
            5, 0, 0, 0, 5,
            0, 5, 0, 5, 0,
            0, 0, 5, 0, 0,
        ];
        assert_eq!(cells(&peaks(&map, 3, 5, 1)), [(0, 0), (0, 4)]);
    }

    #[test]
    fn peaks_on_every_border_and_corner() {
        #[rustfmt::skip]
        let map = [
            9, 0, 0, 8,
            0, 0, 0, 0,
            0, 0, 0, 7,
            6, 0, 0, 0,
        ];
        assert_eq!(
            cells(&peaks(&map, 4, 4, 1)),
            [(0, 0), (0, 3), (2, 3), (3, 0)]
        );
    }

    #[test]
    fn border_centroid_uses_only_in_map_pixels() {
        // Window of (0, 0) is rows 0-1, cols 0-1; min 0, weights 8 and 8.
        let map = [8, 8, 0, 0, 0, 0];
        let found = peaks(&map, 2, 3, 1);
        assert_eq!(cells(&found), [(0, 0)]);
        assert_eq!((found[0].y(), found[0].x()), (0.0, 0.5));
    }

    #[test]
    fn single_row_and_single_column_maps() {
        assert_eq!(cells(&peaks(&[1, 3, 2, 3], 1, 4, 1)), [(0, 1), (0, 3)]);
        assert_eq!(cells(&peaks(&[1, 3, 2, 3], 4, 1, 1)), [(1, 0), (3, 0)]);
    }

    #[test]
    fn empty_maps_have_no_peaks() {
        assert!(peaks(&[], 0, 0, 0).is_empty());
        assert!(peaks(&[], 0, 7, 0).is_empty());
        assert!(peaks(&[], 7, 0, 0).is_empty());
    }

    #[test]
    fn flat_map_at_threshold_zero_gives_one_peak() {
        let found = peaks(&[0; 12], 3, 4, 0);
        assert_eq!(cells(&found), [(0, 0)]);
        assert_eq!((found[0].y(), found[0].x()), (0.0, 0.0));
    }

    #[test]
    fn wrong_map_length_is_an_error() {
        let err = find_spots(&[0; 5], 2, 3, 1, |_| {}).unwrap_err();
        assert_eq!(
            err,
            PeakError::MapSizeMismatch {
                height: 2,
                width: 3,
                len: 5
            }
        );
        assert!(find_spots(&[0; 5], usize::MAX, 2, 1, |_| {}).is_err());
        assert!(find_spots(&[], MAX_DIMENSION + 1, 0, 1, |_| {}).is_err());
    }

    #[test]
    fn bad_row_range_is_an_error() {
        let map = [0; 6];
        #[allow(clippy::reversed_empty_ranges)]
        let reversed = 2..1;
        assert!(find_spots_in_rows(&map, 2, 3, 1, reversed, |_| {}).is_err());
        assert!(find_spots_in_rows(&map, 2, 3, 1, 0..3, |_| {}).is_err());
        assert_eq!(find_spots_in_rows(&map, 2, 3, 1, 2..2, |_| {}), Ok(0));
    }

    #[test]
    fn row_band_reports_only_its_interior_but_uses_halo_neighbours() {
        #[rustfmt::skip]
        let map = [
            0, 9, 0,
            0, 8, 0, // suppressed by the 9 above, which is outside the band
            0, 0, 0,
            6, 0, 7, // two peaks in the band
            0, 0, 0,
            0, 5, 0, // outside the band
        ];
        let mut found = Vec::new();
        let n = find_spots_in_rows(&map, 6, 3, 1, 1..5, |p| found.push(p)).unwrap();
        assert_eq!(n, 2);
        assert_eq!(cells(&found), [(3, 0), (3, 2)]);
    }

    #[test]
    fn touching_bands_report_each_peak_once() {
        // Deterministic pseudo-random map with many plateaus and ties.
        let (height, width) = (23, 17);
        let mut state = 0x2545_f491u32;
        let map: Vec<u8> = (0..height * width)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state % 6) as u8 * 40
            })
            .collect();
        let whole = peaks(&map, height, width, 40);
        let mut banded = Vec::new();
        for start in (0..height).step_by(5) {
            let end = (start + 5).min(height);
            // Band with one halo row each side, cut out of the image.
            let halo_start = start.saturating_sub(1);
            let halo_end = (end + 1).min(height);
            let band = &map[halo_start * width..halo_end * width];
            find_spots_in_rows(
                band,
                halo_end - halo_start,
                width,
                40,
                start - halo_start..end - halo_start,
                |p| banded.push(p.offset_rows(halo_start as u16).unwrap()),
            )
            .unwrap();
        }
        assert_eq!(whole, banded);
    }

    #[test]
    fn offset_rows_reports_overflow() {
        let peak = Peak {
            row: 65_000,
            col: 0,
            row_offset: 0.25,
            col_offset: 0.0,
            score: 1,
        };
        assert_eq!(peak.offset_rows(600), None);
        let moved = peak.offset_rows(10).unwrap();
        assert_eq!((moved.row, moved.y()), (65_010, 65_010.25));
    }

    #[test]
    fn centroid_of_a_symmetric_blob_offset_by_half_a_pixel() {
        // Blob symmetric about (2.5, 2): two equal centre pixels in column 2;
        // inside the window of (2, 2) its first row is at background level.
        #[rustfmt::skip]
        let map = [
            0,  0,   0,  0, 0,
            0, 10,  10, 10, 0,
            0, 60, 200, 60, 0,
            0, 60, 200, 60, 0,
            0, 10,  10, 10, 0,
            0,  0,   0,  0, 0,
        ];
        let found = peaks(&map, 6, 5, 100);
        assert_eq!(cells(&found), [(2, 2)]);
        assert_eq!((found[0].y(), found[0].x()), (2.5, 2.0));
    }

    #[test]
    fn centroid_is_exact_when_the_blob_fits_the_window() {
        // Blob symmetric about (1.5, 1.5) whose pixels outside the 3 x 3
        // window of (1, 1) are background: weights 100 on a 2 x 2 square.
        #[rustfmt::skip]
        let map = [
            0,   0,   0, 0,
            0, 100, 100, 0,
            0, 100, 100, 0,
            0,   0,   0, 0,
        ];
        let found = peaks(&map, 4, 4, 50);
        assert_eq!(cells(&found), [(1, 1)]);
        assert_eq!((found[0].y(), found[0].x()), (1.5, 1.5));
    }

    #[test]
    fn centroid_follows_a_gaussian_blob_offset_by_a_known_amount() {
        for &(oy, ox) in &[(0.0f32, 0.0f32), (0.3, -0.2), (-0.4, 0.45), (0.1, 0.1)] {
            let (height, width) = (9usize, 9usize);
            let (cy, cx) = (4.0 + oy, 4.0 + ox);
            let map: Vec<u8> = (0..height * width)
                .map(|i| {
                    let (y, x) = ((i / width) as f32, (i % width) as f32);
                    let r2 = (y - cy) * (y - cy) + (x - cx) * (x - cx);
                    (255.0 * (-r2 / (2.0 * 0.8 * 0.8)).exp()).round() as u8
                })
                .collect();
            let found = peaks(&map, height, width, 128);
            assert_eq!(cells(&found), [(4, 4)], "offset ({oy}, {ox})");
            let (py, px) = (found[0].y(), found[0].x());
            // A 3 x 3 centroid is biased towards the pixel centre but keeps
            // the sign and most of the size of the offset.
            assert!((py - cy).abs() < 0.12, "y {py} vs {cy}");
            assert!((px - cx).abs() < 0.12, "x {px} vs {cx}");
            assert!((py - 4.0) * oy >= 0.0 && (px - 4.0) * ox >= 0.0);
        }
    }
}
