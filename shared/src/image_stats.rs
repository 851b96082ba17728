//! Robust per-image statistics: the background level and the noise scale of
//! one camera image, measured from the image itself.
//!
//! Every camera maps photo-electrons to counts as `raw = gain * e + offset`
//! (plus read noise, then clipping to its bit depth). A statistic that moves
//! with the image the same way (`background`, in counts) and one that scales
//! with the gain (`noise`, in counts) give `z = (raw - background) / noise`,
//! which does not depend on the camera's offset, gain or bit depth and is in
//! signal-to-noise units. Both are robust to what MERFISH images hold besides
//! background: sparse bright spots, slow gradients and blobs.
//!
//! - `background` is the median of the pixel values. Spots cover a minority
//!   of the pixels of any one image, so they move it little.
//! - `noise` comes from horizontal neighbour differences `d = p[x+1] - p[x]`:
//!   a slow gradient or a blob wide against one pixel cancels in `d`, so `d`
//!   measures the pixel noise alone. Its interquartile range is `1.349 *
//!   sqrt(2) * sigma` for Gaussian noise. The steep flanks of bright spots
//!   add large differences, and where spots cover a tenth of the image or
//!   more (bright or dense data) they widen the quartiles themselves (by
//!   25-30 % on the `seed` simulator preset). So the estimate is refined:
//!   only pairs whose two pixels both lie within [`CLIP_SIGMAS`] noise
//!   sigmas of the background count, with the sigma of the previous pass,
//!   [`REFINEMENTS`] times. For pure noise this drops a few pairs in a
//!   thousand and moves the estimate by well under a per cent.
//!
//! Counts are integers, and at low gain the quartiles of `d` fall on a few
//! integer values; the raw order statistics would then jump by a whole count
//! between recordings of the same scene. Each quantile is therefore read off
//! the data treated as grouped: integer `v` stands for the interval
//! `[v - 0.5, v + 0.5)`, filled evenly, so the estimate moves continuously
//! with the data. All arithmetic is on sorted integers and `f64`, with no
//! platform-dependent steps: host and device get the same numbers.

use alloc::vec::Vec;

pub use crate::image::ImageStats;
use crate::image::InputImage;

/// Smallest noise scale reported, in counts. The rounding of counts alone
/// has a standard deviation of `1 / sqrt(12) = 0.29` counts, so a smaller
/// scale would only amplify quantisation steps.
pub const MIN_NOISE: f32 = 0.25;

/// At most this many pixels of one image are read: rows are sampled at an
/// even stride beyond it. 2^18 pixels put the quartiles within a fraction of
/// a percent, and a 2048 x 2048 FOV's 16 images are measured in milliseconds.
pub const MAX_SAMPLED_PIXELS: usize = 1 << 18;

/// Pixels farther than this many noise sigmas from the background are
/// left out of the refined noise estimate.
pub const CLIP_SIGMAS: f64 = 3.0;

/// Refining passes of the noise estimate.
pub const REFINEMENTS: usize = 2;

/// A refinement that keeps fewer than this fraction of the pairs (an image
/// that is mostly not background) keeps the previous estimate.
const MIN_KEPT_FRACTION: f64 = 0.25;

/// Gaussian interquartile range of a standard normal variable.
const GAUSSIAN_IQR: f64 = 1.348_979_500_392_163_5;

/// Measures image `channel` of `image` (rows sampled at an even stride when
/// it has more than [`MAX_SAMPLED_PIXELS`] pixels). Panics if `channel` is
/// not an image of `image`.
pub fn measure(image: &InputImage<'_>, channel: usize) -> ImageStats {
    assert!(channel < image.channels(), "channel {channel} out of range");
    let (height, width) = (image.height(), image.width());
    let stride = row_stride_for(height, width);
    let rows = (0..height).step_by(stride);
    let mut values: Vec<i32> = Vec::with_capacity(rows.len() * width);
    let mut pairs: Vec<(i32, i32)> = Vec::with_capacity(rows.len() * width.saturating_sub(1));
    for y in rows {
        let mut previous = None;
        for x in 0..width {
            let v = image.get(channel, y, x) as i32;
            values.push(v);
            if let Some(p) = previous {
                pairs.push((p, v));
            }
            previous = Some(v);
        }
    }
    let background = GroupedQuantiles::new(&mut values).at(0.5);
    let mut differences: Vec<i32> = pairs.iter().map(|&(p, v)| v - p).collect();
    let mut noise = difference_noise(&mut differences).unwrap_or(MIN_NOISE as f64);
    for _ in 0..REFINEMENTS {
        let limit = CLIP_SIGMAS * noise.max(MIN_NOISE as f64);
        let near = |v: i32| (f64::from(v) - background).abs() <= limit;
        differences.clear();
        differences.extend(
            pairs
                .iter()
                .filter(|&&(p, v)| near(p) && near(v))
                .map(|&(p, v)| v - p),
        );
        if (differences.len() as f64) < MIN_KEPT_FRACTION * pairs.len() as f64 {
            break;
        }
        noise = difference_noise(&mut differences).unwrap_or(noise);
    }
    ImageStats {
        background: background as f32,
        noise: (noise as f32).max(MIN_NOISE),
    }
}

/// The noise sigma that the neighbour differences `differences` imply
/// (reordered in place); `None` when there are none.
fn difference_noise(differences: &mut [i32]) -> Option<f64> {
    if differences.is_empty() {
        return None;
    }
    let quantiles = GroupedQuantiles::new(differences);
    let iqr = quantiles.at(0.75) - quantiles.at(0.25);
    Some(iqr / (GAUSSIAN_IQR * core::f64::consts::SQRT_2))
}

/// Measures every image of `image`.
pub fn measure_all(image: &InputImage<'_>) -> Vec<ImageStats> {
    (0..image.channels()).map(|c| measure(image, c)).collect()
}

/// Row stride that keeps the sample at or below [`MAX_SAMPLED_PIXELS`].
fn row_stride_for(height: usize, width: usize) -> usize {
    let per_row = width.max(1);
    let rows_allowed = (MAX_SAMPLED_PIXELS / per_row).max(1);
    height.div_ceil(rows_allowed).max(1)
}

/// Samples up to this many are sorted; larger ones are counted in a
/// histogram over their range (the same quantiles, found in linear time).
const SORT_LIMIT: usize = 1 << 15;

/// Grouped quantiles of integer data: each integer `v` is spread evenly over
/// `[v - 0.5, v + 0.5)`.
enum GroupedQuantiles<'a> {
    /// Sorted data.
    Sorted(&'a [i32]),
    /// `counts[v - min]` occurrences of each value `v`, `n` in all.
    Counted {
        min: i32,
        counts: Vec<u32>,
        n: usize,
    },
}

impl<'a> GroupedQuantiles<'a> {
    /// Prepares non-empty `data` (reordered in place when sorted).
    fn new(data: &'a mut [i32]) -> GroupedQuantiles<'a> {
        if data.len() <= SORT_LIMIT {
            data.sort_unstable();
            return GroupedQuantiles::Sorted(data);
        }
        let min = data.iter().copied().min().unwrap_or(0);
        let max = data.iter().copied().max().unwrap_or(0);
        let mut counts = alloc::vec![0u32; (max - min) as usize + 1];
        for &v in data.iter() {
            counts[(v - min) as usize] += 1;
        }
        GroupedQuantiles::Counted {
            min,
            counts,
            n: data.len(),
        }
    }

    /// Quantile `q` in `[0, 1]`.
    fn at(&self, q: f64) -> f64 {
        let n = match self {
            GroupedQuantiles::Sorted(sorted) => sorted.len(),
            GroupedQuantiles::Counted { n, .. } => *n,
        };
        let rank = q * n as f64;
        // The value whose interval holds the rank: the element at
        // floor(rank) in sorted order, the last one when rank reaches n.
        let at = (rank as usize).min(n - 1);
        let (v, below, equal) = match self {
            GroupedQuantiles::Sorted(sorted) => {
                let v = sorted[at];
                let below = sorted.partition_point(|&x| x < v);
                let equal = sorted[below..].partition_point(|&x| x == v);
                (v, below, equal)
            }
            GroupedQuantiles::Counted { min, counts, .. } => {
                let mut below = 0usize;
                let mut found = (*min, 0, 1);
                for (offset, &count) in counts.iter().enumerate() {
                    let count = count as usize;
                    if below + count > at {
                        found = (*min + offset as i32, below, count);
                        break;
                    }
                    below += count;
                }
                found
            }
        };
        v as f64 - 0.5 + (rank - below as f64) / equal as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::Pixels;
    use crate::rng::SplitMix64;
    use alloc::vec;

    /// A 16-bit image of `background` photons with Poisson-like Gaussian
    /// noise, a gradient, and `spots` bright pixels, recorded with `gain`
    /// and `offset`.
    fn recording(seed: u64, gain: f64, offset: f64, spots: usize) -> Vec<u16> {
        let (h, w) = (96, 96);
        let mut rng = SplitMix64::new(seed);
        let mut photons: Vec<f64> = (0..h * w)
            .map(|i| {
                let x = (i % w) as f64;
                let level = 40.0 * (1.0 + 0.3 * x / w as f64);
                level + level.sqrt() * rng.normal()
            })
            .collect();
        for _ in 0..spots {
            let i = rng.below((h * w) as u64) as usize;
            photons[i] += 400.0;
        }
        photons
            .iter()
            .map(|p| (gain * p + offset).round().clamp(0.0, 65535.0) as u16)
            .collect()
    }

    fn stats_of(pixels: &[u16]) -> ImageStats {
        let image = InputImage::planar(Pixels::U16(pixels), 1, 96, 96).unwrap();
        measure(&image, 0)
    }

    #[test]
    fn noise_of_gaussian_data_is_its_sigma() {
        let stats = stats_of(&recording(1, 4.0, 0.0, 0));
        // sigma = 4 * sqrt(40..52) = 25.3..28.8 counts.
        assert!((24.0..30.5).contains(&stats.noise), "{stats:?}");
        assert!((170.0..200.0).contains(&stats.background), "{stats:?}");
    }

    #[test]
    fn offset_and_gain_move_the_statistics_with_the_counts() {
        let reference = stats_of(&recording(2, 1.0, 0.0, 40));
        for (gain, offset) in [(0.5, 100.0), (2.0, 1000.0), (8.0, 0.0), (0.25, 10.0)] {
            let stats = stats_of(&recording(2, gain, offset, 40));
            let background = (stats.background as f64 - offset) / gain;
            let noise = stats.noise as f64 / gain;
            let rel_b = (background - reference.background as f64).abs() / reference.noise as f64;
            let rel_n = (noise / reference.noise as f64 - 1.0).abs();
            // Within a few per cent of a noise sigma, whatever the camera.
            assert!(
                rel_b < 0.1,
                "gain {gain}: background {background} vs {reference:?}"
            );
            assert!(rel_n < 0.1, "gain {gain}: noise {noise} vs {reference:?}");
        }
    }

    #[test]
    fn spots_barely_move_the_statistics() {
        // One bright pixel in ten: each lifts two neighbour differences;
        // the refinement leaves them out.
        let clean = stats_of(&recording(3, 1.0, 100.0, 0));
        let spotted = stats_of(&recording(3, 1.0, 100.0, 900));
        assert!((spotted.background - clean.background).abs() < 0.2 * clean.noise);
        let growth = spotted.noise / clean.noise - 1.0;
        assert!(growth.abs() < 0.05, "{growth}");
    }

    #[test]
    fn constant_and_tiny_images_stay_finite() {
        let flat = vec![500u16; 96 * 96];
        let stats = stats_of(&flat);
        assert_eq!(stats.background, 500.0);
        assert_eq!(stats.noise, MIN_NOISE.max(stats.noise));
        assert!(stats.noise.is_finite() && stats.noise >= MIN_NOISE);
        let one = [7u8];
        let image = InputImage::planar(Pixels::U8(&one), 1, 1, 1).unwrap();
        let stats = measure(&image, 0);
        assert_eq!(stats.background, 7.0);
        assert_eq!(stats.noise, MIN_NOISE);
    }

    fn grouped_quantile(data: &[i32], q: f64) -> f64 {
        let mut data = data.to_vec();
        GroupedQuantiles::new(&mut data).at(q)
    }

    #[test]
    fn grouped_quantiles_interpolate_within_an_integer() {
        assert_eq!(grouped_quantile(&[5, 5, 5, 5], 0.5), 5.0);
        assert_eq!(grouped_quantile(&[5, 5, 5, 5], 0.25), 4.75);
        assert_eq!(grouped_quantile(&[1, 2, 3, 4], 0.5), 2.5);
        assert_eq!(grouped_quantile(&[0, 0, 0, 10], 1.0), 10.5);
    }

    #[test]
    fn counting_and_sorting_give_the_same_quantiles() {
        let mut rng = SplitMix64::new(11);
        let data: Vec<i32> = (0..3 * SORT_LIMIT)
            .map(|_| (rng.normal() * 40.0).round() as i32 + rng.below(3) as i32 * 500)
            .collect();
        let mut sorted = data.clone();
        sorted.sort_unstable();
        let mut copy = data.clone();
        let counted = GroupedQuantiles::new(&mut copy);
        assert!(matches!(counted, GroupedQuantiles::Counted { .. }));
        for q in [0.0, 0.1, 0.25, 0.5, 0.75, 0.999, 1.0] {
            assert_eq!(
                counted.at(q),
                GroupedQuantiles::Sorted(&sorted).at(q),
                "q {q}"
            );
        }
    }

    #[test]
    fn large_images_are_sampled_by_rows() {
        assert_eq!(row_stride_for(2048, 2048), 16);
        assert_eq!(row_stride_for(40, 40), 1);
        assert_eq!(row_stride_for(1, 1 << 20), 1);
    }
}
