//! The 16 images of a stack turned into matched-filtered planes in noise
//! units, by barcode bit; the bit peaks the decoder reads from them; and
//! the subtraction of every spot it calls, so that the next round sees
//! what those spots hid.

use alloc::vec;
use alloc::vec::Vec;

use crate::codebook::{BitOrder, COLOURS, ROUNDS};
use crate::engine::InputImage;
use crate::image_stats;
use crate::post::BARCODE_BITS;

use super::filter::{self, Gaussian};
use super::math::{exp, ln, sqrt};
use super::spots::{is_peak, subpixel_offset};
use super::{ClassicalError, Params};

/// Widest spot (sigma, px) the model subtracts: wider estimates are
/// clamped, which bounds the subtraction window at 12 px.
pub(crate) const MAX_SPOT_SIGMA: f32 = 4.0;

/// Filtered planes of one stack, by barcode bit, with the spots called so
/// far subtracted, and the values the decoder reads from them.
pub(crate) struct BitPlanes {
    height: usize,
    width: usize,
    /// `BARCODE_BITS` matched-filtered planes of `height * width`, less
    /// the model of every spot subtracted so far.
    residual: Vec<f32>,
    /// Per bit and pixel: how far the subtracted models may be off there
    /// (a fraction of their height), discounted from the residual.
    doubt: Vec<f32>,
    /// The fraction of a subtracted spot's height added to `doubt`.
    error: f32,
    /// Per bit and pixel: the highest local maximum of the bit's residual
    /// (less the doubt) within the peak radius, 0 where there is none (the
    /// residual itself with a radius of 0).
    peaks: Vec<f32>,
    /// How far a bit's peak may lie from the pixel that reads it.
    radius: usize,
    /// Pixels where some bit's residual peaks at or above the spot
    /// threshold, in raster order.
    candidates: Vec<(usize, usize)>,
    /// Sigma (px) of a spot in the filtered planes, per barcode bit (its
    /// colour's).
    spot_sigma: [f32; BARCODE_BITS],
    scratch: Vec<f32>,
}

impl BitPlanes {
    /// Filters every image of `image` (16, checked by the caller), the one
    /// of bit `b` sampled `shifts[b]` = `(dy, dx)` pixels further on (its
    /// misregistration), measures the spot width per colour and finds the
    /// bit peaks.
    pub(crate) fn new(
        image: &InputImage<'_>,
        bit_order: BitOrder,
        params: &Params,
        shifts: &[(f32, f32); BARCODE_BITS],
    ) -> Result<BitPlanes, ClassicalError> {
        let (height, width) = (image.height(), image.width());
        let too_large = ClassicalError::ImageTooLarge { height, width };
        let n = height.checked_mul(width).ok_or(too_large.clone())?;
        // Two sets of 16 f32 planes must fit in the address space.
        let total = n
            .checked_mul(BARCODE_BITS)
            .filter(|&t| t <= isize::MAX as usize / 8)
            .ok_or(too_large)?;
        let mut residual = vec![0.0f32; total];
        let mut scratch = Scratch::new(n);
        for ((bit, out), &(dy, dx)) in residual.chunks_exact_mut(n).enumerate().zip(shifts) {
            let sigma = params.smoothing_sigma;
            let kernels = (&Gaussian::shifted(sigma, dy), &Gaussian::shifted(sigma, dx));
            filter_image(
                image,
                bit_order.image_of_bit(bit),
                params,
                kernels,
                out,
                &mut scratch,
            );
        }
        let mut planes = BitPlanes {
            height,
            width,
            residual,
            doubt: vec![0.0; total],
            error: params.subtraction_error,
            peaks: vec![0.0; total],
            radius: params.peak_radius,
            candidates: Vec::new(),
            spot_sigma: [0.0; BARCODE_BITS],
            scratch: scratch.residual,
        };
        let fallback = core::f32::consts::SQRT_2 * params.smoothing_sigma.max(0.5);
        for colour in 0..COLOURS {
            let bits: Vec<usize> = (0..BARCODE_BITS)
                .filter(|&b| bit_order.image_of_bit(b) / ROUNDS == colour)
                .collect();
            let sigma = planes.measure_spot_sigma(&bits).unwrap_or(fallback);
            for b in bits {
                planes.spot_sigma[b] = sigma;
            }
        }
        planes.find_peaks(params.spot_threshold);
        Ok(planes)
    }

    /// The median width of the bright peaks of `bits`' planes, from the
    /// curvature of their logarithm (exact for a sampled Gaussian); `None`
    /// with too few peaks to tell.
    fn measure_spot_sigma(&self, bits: &[usize]) -> Option<f32> {
        let n = self.height * self.width;
        let (h, w) = (self.height, self.width);
        let mut inverse_variances = Vec::new();
        for &bit in bits {
            let plane = &self.residual[bit * n..(bit + 1) * n];
            for y in 1..h.saturating_sub(1) {
                for x in 1..w - 1 {
                    let centre = plane[y * w + x];
                    if centre < BRIGHT_PEAK || !is_peak(plane, (h, w), y, x) {
                        continue;
                    }
                    let around = [
                        plane[(y - 1) * w + x],
                        plane[(y + 1) * w + x],
                        plane[y * w + x - 1],
                        plane[y * w + x + 1],
                    ];
                    if around.iter().any(|&v| !(v > 0.0)) {
                        continue;
                    }
                    let l = |v: f32| ln(f64::from(v));
                    // ln f(-1) + ln f(1) - 2 ln f(0) = -1 / sigma^2 per axis.
                    let curvature = 4.0 * l(centre) - around.iter().map(|&v| l(v)).sum::<f64>();
                    inverse_variances.push(curvature / 2.0);
                }
            }
        }
        if inverse_variances.len() < MIN_WIDTH_PEAKS {
            return None;
        }
        inverse_variances.sort_by(f64::total_cmp);
        let median = inverse_variances[inverse_variances.len() / 2];
        (median > 0.0).then(|| (sqrt(1.0 / median) as f32).clamp(0.5, MAX_SPOT_SIGMA))
    }

    /// Recomputes the peak values and the candidates from the residual.
    pub(crate) fn find_peaks(&mut self, threshold: f32) {
        let (height, width) = (self.height, self.width);
        let n = height * width;
        let mut is_candidate = vec![false; n];
        let planes = self
            .residual
            .chunks_exact(n)
            .zip(self.doubt.chunks_exact(n));
        for ((plane, doubt), out) in planes.zip(self.peaks.chunks_exact_mut(n)) {
            for (i, (o, c)) in out.iter_mut().zip(is_candidate.iter_mut()).enumerate() {
                let peak = is_peak(plane, (height, width), i / width, i % width);
                let value = plane[i] - doubt[i];
                *c |= peak && value >= threshold;
                *o = if self.radius == 0 || peak {
                    value
                } else {
                    f32::NEG_INFINITY
                };
            }
            if self.radius > 0 {
                filter::max_filter(out, &mut self.scratch, height, width, self.radius);
                for o in out.iter_mut().filter(|o| **o == f32::NEG_INFINITY) {
                    *o = 0.0;
                }
            }
        }
        self.candidates = (0..n)
            .filter(|&i| is_candidate[i])
            .map(|i| (i / width, i % width))
            .collect();
    }

    /// Pixels worth decoding, in raster order.
    pub(crate) fn candidates(&self) -> &[(usize, usize)] {
        &self.candidates
    }

    /// The value of every bit at `(row, col)`: its highest peak within the
    /// peak radius.
    pub(crate) fn values_at(&self, row: usize, col: usize) -> [f32; BARCODE_BITS] {
        let n = self.height * self.width;
        let i = row * self.width + col;
        core::array::from_fn(|b| self.peaks[b * n + i])
    }

    /// The mean sub-pixel position of the peaks of `word`'s bits that read
    /// at `(row, col)`: each bit's highest local maximum within the peak
    /// radius, refined by a parabola. `(row, col)` itself when no bit has a
    /// peak there.
    pub(crate) fn position(&self, word: u16, row: usize, col: usize) -> (f32, f32) {
        let (mut sum_y, mut sum_x, mut count) = (0.0f32, 0.0f32, 0u32);
        for bit in (0..BARCODE_BITS).filter(|b| word & (1 << b) != 0) {
            if let Some((y, x, _)) = self.bit_peak(bit, row, col) {
                sum_y += y;
                sum_x += x;
                count += 1;
            }
        }
        if count == 0 {
            return (row as f32, col as f32);
        }
        (sum_y / count as f32, sum_x / count as f32)
    }

    /// Subtracts a spot of `codeword` at `(y, x)` found at pixel `(row,
    /// col)` from the residual: per bit, a Gaussian of the bit's colour's
    /// width at the bit's own peak (its height there, its sub-pixel
    /// position), or, for a bit without a peak, the residual's positive
    /// value at the spot.
    pub(crate) fn subtract(
        &mut self,
        codeword: u16,
        (y, x): (f32, f32),
        (row, col): (usize, usize),
    ) {
        let n = self.height * self.width;
        for bit in (0..BARCODE_BITS).filter(|b| codeword & (1 << b) != 0) {
            let (py, px, height) = match self.bit_peak(bit, row, col) {
                Some(peak) => peak,
                None => (
                    y,
                    x,
                    self.residual[bit * n + row * self.width + col].max(0.0),
                ),
            };
            let sigma = self.spot_sigma[bit];
            let size = (self.height, self.width);
            let plane = &mut self.residual[bit * n..(bit + 1) * n];
            add_gaussian(plane, size, (py, px), -height, sigma);
            let doubt = &mut self.doubt[bit * n..(bit + 1) * n];
            add_gaussian(doubt, size, (py, px), self.error * height, sigma);
        }
    }

    /// Sub-pixel position and height of the highest local maximum of
    /// `bit`'s residual within the peak radius of `(row, col)` (of the
    /// pixel itself with a radius of 0).
    pub(crate) fn bit_peak(&self, bit: usize, row: usize, col: usize) -> Option<(f32, f32, f32)> {
        let size = (self.height, self.width);
        let n = self.height * self.width;
        let plane = &self.residual[bit * n..(bit + 1) * n];
        let r = self.radius;
        let mut best: Option<(usize, usize)> = None;
        for y in row.saturating_sub(r)..=(row + r).min(self.height - 1) {
            for x in col.saturating_sub(r)..=(col + r).min(self.width - 1) {
                let higher = best
                    .is_none_or(|(by, bx)| plane[y * self.width + x] > plane[by * self.width + bx]);
                if higher && (r == 0 || is_peak(plane, size, y, x)) {
                    best = Some((y, x));
                }
            }
        }
        best.map(|(y, x)| {
            let (dy, dx) = subpixel_offset(plane, self.height, self.width, y, x);
            let value = plane[y * self.width + x].max(0.0);
            // The sampled pixel sits (dy, dx) off the vertex: scale up.
            let sigma = f64::from(self.spot_sigma[bit]);
            let d2 = f64::from(dy * dy + dx * dx);
            let height = f64::from(value) * exp(d2 / (2.0 * sigma * sigma));
            (y as f32 + dy, x as f32 + dx, height as f32)
        })
    }
}

/// Peaks at least this bright (filtered noise sigmas) measure the spot
/// width: dimmer ones are too noisy in their logarithm.
const BRIGHT_PEAK: f32 = 10.0;

/// Fewer bright peaks than this leave the width at its fallback.
const MIN_WIDTH_PEAKS: usize = 8;

/// Adds `height * exp(-r^2 / (2 sigma^2))` centred at `(y, x)` to
/// `plane`, within `3 sigma`.
fn add_gaussian(
    plane: &mut [f32],
    (h, w): (usize, usize),
    (y, x): (f32, f32),
    height: f32,
    sigma: f32,
) {
    if height == 0.0 || !height.is_finite() {
        return;
    }
    let reach = (3.0 * sigma) as isize + 1;
    let (cy, cx) = (y as isize, x as isize);
    let inverse = 1.0 / (2.0 * f64::from(sigma) * f64::from(sigma));
    let weights = |centre: f32, from: isize, to: isize| -> Vec<f32> {
        (from..=to)
            .map(|p| {
                let d = f64::from(p as f32 - centre);
                exp(-d * d * inverse) as f32
            })
            .collect()
    };
    let (y0, y1) = ((cy - reach).max(0), (cy + reach).min(h as isize - 1));
    let (x0, x1) = ((cx - reach).max(0), (cx + reach).min(w as isize - 1));
    if y0 > y1 || x0 > x1 {
        return;
    }
    let (wy, wx) = (weights(y, y0, y1), weights(x, x0, x1));
    for (r, fy) in (y0..=y1).zip(&wy) {
        let line = &mut plane[r as usize * w..][x0 as usize..=x1 as usize];
        for (v, fx) in line.iter_mut().zip(&wx) {
            *v += height * fy * fx;
        }
    }
}

/// Normalises, removes the local background of and matched-filters image
/// `channel` of `image` into `out`.
fn filter_image(
    image: &InputImage<'_>,
    channel: usize,
    p: &Params,
    kernels: (&Gaussian, &Gaussian),
    out: &mut [f32],
    s: &mut Scratch,
) {
    let (height, width) = (image.height(), image.width());
    let stats = image_stats::measure(image, channel);
    let inverse_noise = 1.0 / stats.noise;
    for y in 0..height {
        for x in 0..width {
            s.z[y * width + x] =
                (f32::from(image.get(channel, y, x)) - stats.background) * inverse_noise;
        }
    }
    s.background.fill(0.0);
    for _ in 0..p.background_passes {
        for ((e, &z), &b) in s.excluded.iter_mut().zip(&s.z).zip(&s.background) {
            *e = z - b > p.background_clip;
        }
        filter::dilate(
            &mut s.excluded,
            &mut s.excluded_scratch,
            height,
            width,
            p.background_dilation,
        );
        filter::masked_box_mean(
            &s.z,
            &s.excluded,
            &mut s.background,
            (&mut s.sums, &mut s.counts),
            (height, width),
            p.background_radius,
        );
    }
    for ((r, &z), &b) in s.residual.iter_mut().zip(&s.z).zip(&s.background) {
        *r = z - b;
    }
    filter::smooth_to_unit_noise(kernels, &s.residual, out, &mut s.sums, (height, width));
}

/// Planes reused across the 16 images.
struct Scratch {
    z: Vec<f32>,
    background: Vec<f32>,
    residual: Vec<f32>,
    sums: Vec<f32>,
    counts: Vec<f32>,
    excluded: Vec<bool>,
    excluded_scratch: Vec<bool>,
}

impl Scratch {
    fn new(n: usize) -> Scratch {
        Scratch {
            z: vec![0.0; n],
            background: vec![0.0; n],
            residual: vec![0.0; n],
            sums: vec![0.0; n],
            counts: vec![0.0; n],
            excluded: vec![false; n],
            excluded_scratch: vec![false; n],
        }
    }
}
