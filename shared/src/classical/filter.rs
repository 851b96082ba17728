//! Separable filters on `height x width` row-major `f32` planes: the local
//! background (a masked box mean), the matched filter (a Gaussian whose
//! output is rescaled to unit noise) and the dilation of a mask.
//!
//! Every filter clips its window at the image border instead of padding:
//! a window holds only real pixels, and its weights are renormalised to
//! them, so a constant image stays constant up to the edge and nothing is
//! read outside the plane. Vertical extents are documented per function;
//! the decoder adds them up in [`super::Params::halo_rows`].

use alloc::vec;
use alloc::vec::Vec;

use super::math::{exp, sqrt};

/// Widest Gaussian half-width, in taps: a sigma of 10 px shifted by 3
/// needs 33.
const MAX_GAUSSIAN_RADIUS: usize = 34;

/// Largest shift (px) a Gaussian takes.
pub(crate) const MAX_SHIFT: f32 = 3.0;

/// A 1-D Gaussian of `2 * radius + 1` taps, centred `shift` pixels off
/// the middle tap (`radius = ceil(3 sigma + |shift|)`), not normalised:
/// each position normalises by the taps it can use. Filtering with a
/// shifted Gaussian samples the smoothed image `shift` pixels further on,
/// which is how misregistered rounds are brought into line without a
/// second interpolation.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Gaussian {
    weights: Vec<f32>,
    radius: usize,
}

impl Gaussian {
    /// The Gaussian of `sigma` pixels centred `shift` pixels (at most
    /// [`MAX_SHIFT`]) off the middle; a sigma below 0.05 is the identity,
    /// unshifted.
    pub(crate) fn shifted(sigma: f32, shift: f32) -> Gaussian {
        if sigma.is_nan() || sigma < 0.05 {
            return Gaussian {
                weights: vec![1.0],
                radius: 0,
            };
        }
        let shift = if shift.is_nan() {
            0.0
        } else {
            f64::from(shift.clamp(-MAX_SHIFT, MAX_SHIFT))
        };
        let sigma = f64::from(sigma);
        // ceil(3 sigma + |shift|) without `ceil`, which `core` lacks.
        let radius = ((3.0 * sigma + shift.abs()) as usize + 1).min(MAX_GAUSSIAN_RADIUS);
        let weights = (0..=2 * radius)
            .map(|i| {
                let k = i as f64 - radius as f64 - shift;
                exp(-k * k / (2.0 * sigma * sigma)) as f32
            })
            .collect();
        Gaussian { weights, radius }
    }

    /// Half-width in pixels: the rows above and below an output row that
    /// it reads.
    pub(crate) fn radius(&self) -> usize {
        self.radius
    }

    /// Per position of a line of `len` pixels: the factor that normalises
    /// the taps inside the line to a sum of 1, and the standard deviation
    /// that unit white noise has after that normalised filter.
    fn line_factors(&self, len: usize) -> Vec<(f32, f32)> {
        (0..len)
            .map(|p| {
                let (first, last) = self.taps(p, len);
                let used = &self.weights[first..=last];
                let sum: f64 = used.iter().map(|&w| f64::from(w)).sum();
                let squares: f64 = used.iter().map(|&w| f64::from(w) * f64::from(w)).sum();
                ((1.0 / sum) as f32, (sqrt(squares) / sum) as f32)
            })
            .collect()
    }

    /// The range of weight indices that land inside `0..len` at position
    /// `p`.
    fn taps(&self, p: usize, len: usize) -> (usize, usize) {
        let first = self.radius.saturating_sub(p);
        let last = (self.radius + (len - 1 - p)).min(2 * self.radius);
        (first, last)
    }
}

/// Filters `input` into `output`, both `height x width`, with `vertical`
/// along columns and `horizontal` along rows, and divides by the filtered
/// noise level, so unit white noise comes out with unit standard deviation
/// everywhere, borders included. `scratch` holds one plane. Reads
/// `vertical.radius()` rows above and below each output row.
pub(crate) fn smooth_to_unit_noise(
    (vertical, horizontal): (&Gaussian, &Gaussian),
    input: &[f32],
    output: &mut [f32],
    scratch: &mut [f32],
    (height, width): (usize, usize),
) {
    let rows = vertical.line_factors(height);
    let cols = horizontal.line_factors(width);
    let r = horizontal.radius as isize;
    for y in 0..height {
        let line = &input[y * width..(y + 1) * width];
        let out = &mut scratch[y * width..(y + 1) * width];
        for (x, (o, &(scale, _))) in out.iter_mut().zip(&cols).enumerate() {
            let (first, last) = horizontal.taps(x, width);
            let start = (x as isize + first as isize - r) as usize;
            let mut acc = 0.0f32;
            for (w, v) in horizontal.weights[first..=last].iter().zip(&line[start..]) {
                acc += w * v;
            }
            *o = acc * scale;
        }
    }
    let r = vertical.radius as isize;
    for (y, &(scale, noise_y)) in rows.iter().enumerate() {
        let (first, last) = vertical.taps(y, height);
        let start = (y as isize + first as isize - r) as usize;
        let out = &mut output[y * width..(y + 1) * width];
        out.fill(0.0);
        for (k, w) in vertical.weights[first..=last].iter().enumerate() {
            let line = &scratch[(start + k) * width..(start + k + 1) * width];
            for (o, v) in out.iter_mut().zip(line) {
                *o += w * v;
            }
        }
        for (o, &(_, noise_x)) in out.iter_mut().zip(&cols) {
            *o *= scale / (noise_y * noise_x);
        }
    }
}

/// The mean of the pixels of `values` that `excluded` does not mark within
/// `radius` pixels (a square window, clipped at the border), written to
/// `background`; where a window has no usable pixel, `background` keeps
/// its value. Reads `radius` rows above and below each output row.
/// `sums` and `counts` are scratch planes.
pub(crate) fn masked_box_mean(
    values: &[f32],
    excluded: &[bool],
    background: &mut [f32],
    (sums, counts): (&mut [f32], &mut [f32]),
    (height, width): (usize, usize),
    radius: usize,
) {
    // Horizontal running sums, then vertical ones over them. The sums are
    // f64 so that a window slid along a 2048-pixel line drifts by no more
    // than rounding in the last place.
    for y in 0..height {
        let row = y * width..(y + 1) * width;
        let (line, mask) = (&values[row.clone()], &excluded[row.clone()]);
        let kept = |x: usize| {
            if mask[x] {
                (0.0, 0.0)
            } else {
                (f64::from(line[x]), 1.0)
            }
        };
        let (mut sum, mut count) = (0.0f64, 0.0f64);
        for x in 0..radius.min(width) {
            let (v, c) = kept(x);
            sum += v;
            count += c;
        }
        for x in 0..width {
            if x + radius < width {
                let (v, c) = kept(x + radius);
                sum += v;
                count += c;
            }
            if x > radius {
                let (v, c) = kept(x - radius - 1);
                sum -= v;
                count -= c;
            }
            sums[y * width + x] = sum as f32;
            counts[y * width + x] = count as f32;
        }
    }
    let mut column_sum = vec![0.0f64; width];
    let mut column_count = vec![0.0f64; width];
    let add_row = |y: usize, sign: f64, sum: &mut [f64], count: &mut [f64]| {
        let row = y * width..(y + 1) * width;
        for ((s, c), (&v, &n)) in sum
            .iter_mut()
            .zip(count.iter_mut())
            .zip(sums[row.clone()].iter().zip(&counts[row]))
        {
            *s += sign * f64::from(v);
            *c += sign * f64::from(n);
        }
    };
    for y in 0..radius.min(height) {
        add_row(y, 1.0, &mut column_sum, &mut column_count);
    }
    for y in 0..height {
        if y + radius < height {
            add_row(y + radius, 1.0, &mut column_sum, &mut column_count);
        }
        if y > radius {
            add_row(y - radius - 1, -1.0, &mut column_sum, &mut column_count);
        }
        let out = &mut background[y * width..(y + 1) * width];
        for ((b, &s), &c) in out.iter_mut().zip(&column_sum).zip(&column_count) {
            // Counts are whole numbers, exact in f64; 0.5 guards rounding.
            if c > 0.5 {
                *b = (s / c) as f32;
            }
        }
    }
}

/// Marks every pixel within `radius` (a square) of a marked pixel.
/// `scratch` holds one plane. Reads `radius` rows above and below.
pub(crate) fn dilate(
    mask: &mut [bool],
    scratch: &mut [bool],
    height: usize,
    width: usize,
    radius: usize,
) {
    if radius == 0 {
        return;
    }
    window_reduce(mask, scratch, height, width, radius, false, |a, b| a | b);
}

/// Separable reduction of each pixel's square window of `radius`, in
/// place: along rows into `scratch`, then along columns back.
fn window_reduce<T: Copy>(
    plane: &mut [T],
    scratch: &mut [T],
    height: usize,
    width: usize,
    radius: usize,
    identity: T,
    reduce: impl Fn(T, T) -> T,
) {
    for y in 0..height {
        let line = &plane[y * width..(y + 1) * width];
        for x in 0..width {
            let (first, last) = (x.saturating_sub(radius), (x + radius).min(width - 1));
            scratch[y * width + x] = line[first..=last]
                .iter()
                .fold(identity, |a, &b| reduce(a, b));
        }
    }
    for y in 0..height {
        let (first, last) = (y.saturating_sub(radius), (y + radius).min(height - 1));
        for x in 0..width {
            plane[y * width + x] =
                (first..=last).fold(identity, |a, r| reduce(a, scratch[r * width + x]));
        }
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    #[test]
    fn smoothing_keeps_a_constant_and_makes_noise_unit() {
        let (h, w) = (64, 64);
        let gaussian = Gaussian::shifted(1.3, 0.0);
        let flat = vec![2.5f32; h * w];
        let mut out = vec![0.0; h * w];
        let mut scratch = vec![0.0; h * w];
        smooth_to_unit_noise(
            (&gaussian, &gaussian),
            &flat,
            &mut out,
            &mut scratch,
            (h, w),
        );
        // A constant c comes out as c / noise factor; the ratio to the
        // centre value shows the border normalisation.
        let centre = out[32 * w + 32];
        assert!(
            centre > 2.5,
            "gain of a smoothing filter on a constant: {centre}"
        );

        // Unit noise stays unit noise, inside and along the border, over
        // 20 images.
        let mut rng = SplitMix64::new(4);
        let (mut inside, mut border) = ((0.0f64, 0usize), (0.0f64, 0usize));
        for _ in 0..20 {
            let noise: Vec<f32> = (0..h * w).map(|_| rng.normal() as f32).collect();
            smooth_to_unit_noise(
                (&gaussian, &gaussian),
                &noise,
                &mut out,
                &mut scratch,
                (h, w),
            );
            for (i, &v) in out.iter().enumerate() {
                let (y, x) = (i / w, i % w);
                let sum = if y == 0 || x == 0 || y == h - 1 || x == w - 1 {
                    &mut border
                } else if (8..56).contains(&y) && (8..56).contains(&x) {
                    &mut inside
                } else {
                    continue;
                };
                sum.0 += f64::from(v) * f64::from(v);
                sum.1 += 1;
            }
        }
        for (name, (squares, n)) in [("inside", inside), ("border", border)] {
            let variance = squares / n as f64;
            assert!((variance - 1.0).abs() < 0.1, "{name}: variance {variance}");
        }
    }

    #[test]
    fn a_shifted_gaussian_samples_further_on() {
        // A ramp smoothed by a symmetric kernel stays the ramp inside; a
        // kernel shifted by 0.4 px samples it 0.4 px further on.
        let (h, w) = (1, 40);
        let ramp: Vec<f32> = (0..w).map(|x| x as f32).collect();
        let (mut centred, mut shifted) = (vec![0.0; w], vec![0.0; w]);
        let mut scratch = vec![0.0; w];
        let none = Gaussian::shifted(0.0, 0.0);
        let g = Gaussian::shifted(1.0, 0.0);
        smooth_to_unit_noise((&none, &g), &ramp, &mut centred, &mut scratch, (h, w));
        let s = Gaussian::shifted(1.0, 0.4);
        smooth_to_unit_noise((&none, &s), &ramp, &mut shifted, &mut scratch, (h, w));
        // Both carry the same noise factor, so compare the ratio.
        for x in 10..30 {
            let factor = centred[x] / x as f32;
            assert!((shifted[x] / factor - (x as f32 + 0.4)).abs() < 0.02, "{x}");
        }
    }

    #[test]
    fn identity_gaussian_leaves_the_plane() {
        let gaussian = Gaussian::shifted(0.0, 0.0);
        let input = [1.0, -2.0, 3.0, 4.0];
        let mut out = [0.0; 4];
        let mut scratch = [0.0; 4];
        smooth_to_unit_noise(
            (&gaussian, &gaussian),
            &input,
            &mut out,
            &mut scratch,
            (2, 2),
        );
        assert_eq!(out, input);
    }

    #[test]
    fn masked_mean_skips_excluded_pixels_and_keeps_a_gradient() {
        let (h, w) = (20, 30);
        let values: Vec<f32> = (0..h * w).map(|i| (i % w) as f32 * 0.5).collect();
        let mut excluded = vec![false; h * w];
        let mut spiked = values.clone();
        spiked[10 * w + 15] = 1000.0;
        excluded[10 * w + 15] = true;
        let mut background = vec![-7.0; h * w];
        let (mut sums, mut counts) = (vec![0.0; h * w], vec![0.0; h * w]);
        masked_box_mean(
            &spiked,
            &excluded,
            &mut background,
            (&mut sums, &mut counts),
            (h, w),
            4,
        );
        // Away from the hole, a symmetric window reproduces a linear
        // gradient exactly; at the hole, the spike does not leak in.
        for x in 4..w - 4 {
            assert!((background[2 * w + x] - values[2 * w + x]).abs() < 1e-4);
        }
        assert!((background[10 * w + 15] - values[10 * w + 15]).abs() < 0.05);
        // A fully excluded plane keeps what it had.
        let all = vec![true; h * w];
        masked_box_mean(
            &spiked,
            &all,
            &mut background,
            (&mut sums, &mut counts),
            (h, w),
            4,
        );
        assert!((background[10 * w + 10] - values[10 * w + 10]).abs() < 1e-4);
    }

    #[test]
    fn dilation_reaches_radius_pixels() {
        let (h, w) = (5, 6);
        let mut mask = vec![false; h * w];
        mask[2 * w + 3] = true;
        let mut scratch = vec![false; h * w];
        dilate(&mut mask, &mut scratch, h, w, 1);
        let lit: Vec<usize> = (0..h * w).filter(|&i| mask[i]).collect();
        assert_eq!(lit, [8, 9, 10, 14, 15, 16, 20, 21, 22]);
        let mut corner = vec![false; h * w];
        corner[0] = true;
        dilate(&mut corner, &mut scratch, h, w, 2);
        assert_eq!(corner.iter().filter(|&&m| m).count(), 9);
    }
}
