//! Misregistration of each image, measured from the spots themselves.
//!
//! A molecule lights four images; in each, its peak sits where the
//! molecule is plus that image's shift (registration between rounds,
//! chromatic offset between colours). The bright exact calls of a first
//! pass give, per image, many such peaks: alternately, each spot's position
//! is the mean of its peaks less their images' shifts, and each image's
//! shift is the median offset of its peaks from their spots. Shifts are
//! then taken relative to the first round (the mean of its images, one per
//! colour), the frame the positions are reported in. Only misregistration
//! within about the peak radius can be seen this way: a bit farther off
//! does not meet its spot.

use alloc::vec::Vec;

use crate::codebook::{BitOrder, ROUNDS};
use crate::post::BARCODE_BITS;

use super::filter::MAX_SHIFT;
use super::planes::BitPlanes;

/// Fewer spots than this tell nothing reliable: no correction.
const MIN_SPOTS: usize = 6;

/// An image with fewer peaks than this keeps the mean frame.
const MIN_PEAKS: usize = 3;

/// Alternations of the spot and image estimates; the shifts settle in a
/// few.
const ITERATIONS: usize = 4;

/// The shift `(dy, dx)` of each bit's image, in pixels, from the peaks of
/// `spots` (each the codeword's word and the pixel it was read at); `None`
/// with too few spots.
pub(crate) fn estimate(
    planes: &BitPlanes,
    spots: &[(u16, (usize, usize))],
    bit_order: BitOrder,
) -> Option<[(f32, f32); BARCODE_BITS]> {
    // Per spot: the peak position of each of its bits.
    let peaks: Vec<Vec<(usize, (f32, f32))>> = spots
        .iter()
        .filter_map(|&(word, (row, col))| {
            let bits: Vec<(usize, (f32, f32))> = (0..BARCODE_BITS)
                .filter(|b| word & (1 << b) != 0)
                .map(|b| planes.bit_peak(b, row, col).map(|(y, x, _)| (b, (y, x))))
                .collect::<Option<_>>()?;
            (bits.len() >= 2).then_some(bits)
        })
        .collect();
    if peaks.len() < MIN_SPOTS {
        return None;
    }
    let mut shifts = [(0.0f32, 0.0f32); BARCODE_BITS];
    let mut offsets: [Vec<(f32, f32)>; BARCODE_BITS] = core::array::from_fn(|_| Vec::new());
    for _ in 0..ITERATIONS {
        for list in offsets.iter_mut() {
            list.clear();
        }
        for spot in &peaks {
            let n = spot.len() as f32;
            let (cy, cx) = spot.iter().fold((0.0, 0.0), |(sy, sx), &(b, (y, x))| {
                (sy + y - shifts[b].0, sx + x - shifts[b].1)
            });
            let (cy, cx) = (cy / n, cx / n);
            for &(b, (y, x)) in spot {
                offsets[b].push((y - cy, x - cx));
            }
        }
        for (shift, list) in shifts.iter_mut().zip(offsets.iter_mut()) {
            *shift = if list.len() >= MIN_PEAKS {
                median_pair(list)
            } else {
                (0.0, 0.0)
            };
        }
    }
    let reference: Vec<(f32, f32)> = (0..BARCODE_BITS)
        .filter(|&b| {
            bit_order.image_of_bit(b).is_multiple_of(ROUNDS) && offsets[b].len() >= MIN_PEAKS
        })
        .map(|b| shifts[b])
        .collect();
    let n = reference.len().max(1) as f32;
    let (gy, gx) = reference
        .iter()
        .fold((0.0, 0.0), |(sy, sx), &(y, x)| (sy + y, sx + x));
    Some(shifts.map(|(y, x)| {
        let clamp = |v: f32| v.clamp(-MAX_SHIFT, MAX_SHIFT);
        (clamp(y - gy / n), clamp(x - gx / n))
    }))
}

/// The medians of both coordinates of a non-empty list (reordered).
fn median_pair(list: &mut [(f32, f32)]) -> (f32, f32) {
    let mid = list.len() / 2;
    list.sort_by(|a, b| a.0.total_cmp(&b.0));
    let y = list[mid].0;
    list.sort_by(|a, b| a.1.total_cmp(&b.1));
    (y, list[mid].1)
}
