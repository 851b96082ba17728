//! The 16 images of a stack turned into matched-filtered planes in noise
//! units, by barcode bit; the bit peaks the decoder reads from them; and
//! the subtraction of every spot it calls, so that the next round sees
//! what those spots hid.

use alloc::vec;
use alloc::vec::Vec;

use crate::codebook::{BitOrder, COLOURS, ROUNDS};
use crate::post::BARCODE_BITS;

use super::filter::{self, Gaussian};
use super::math::{exp, ln, sqrt};
use super::prepare::Residuals;
use super::spots::{is_peak, peak_row, subpixel_offset};
use super::Params;

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
    /// How far from a subtracted spot a suppressed call may lie (the merge
    /// radius, rounded up): it is marked changed so that it is decided
    /// again.
    merge_reach: usize,
    /// Per pixel: some bit's residual peaks there at or above the spot
    /// threshold.
    is_candidate: Vec<bool>,
    /// Per pixel: the residual changed since the last peak search.
    changed: Vec<bool>,
    /// Per pixel: the last peak search recomputed its values.
    affected: Vec<bool>,
    /// The affected candidates, in raster order.
    candidates: Vec<(usize, usize)>,
    /// Sigma (px) of a spot in the filtered planes, per barcode bit (its
    /// colour's).
    spot_sigma: [f32; BARCODE_BITS],
    scratch: Vec<f32>,
}

impl BitPlanes {
    /// Matched-filters every plane of `residuals`, the one of bit `b`
    /// sampled `shifts[b]` = `(dy, dx)` pixels further on (its
    /// misregistration), measures the spot width per colour and finds the
    /// bit peaks.
    pub(crate) fn new(
        residuals: &Residuals,
        bit_order: BitOrder,
        params: &Params,
        shifts: &[(f32, f32); BARCODE_BITS],
    ) -> BitPlanes {
        let (height, width) = residuals.size();
        let n = height * width;
        let total = n * BARCODE_BITS;
        let mut filtered = vec![0.0f32; total];
        let mut scratch = vec![0.0f32; n];
        for ((bit, out), &(dy, dx)) in filtered.chunks_exact_mut(n).enumerate().zip(shifts) {
            let sigma = params.smoothing_sigma;
            let kernels = (&Gaussian::shifted(sigma, dy), &Gaussian::shifted(sigma, dx));
            let input = residuals.plane(bit);
            filter::smooth_to_unit_noise(kernels, input, out, &mut scratch, (height, width));
        }
        let mut planes = BitPlanes {
            height,
            width,
            residual: filtered,
            doubt: vec![0.0; total],
            error: params.subtraction_error,
            peaks: vec![0.0; total],
            radius: params.peak_radius,
            merge_reach: params.merge_radius as usize + 1,
            is_candidate: vec![false; n],
            changed: vec![true; n],
            affected: vec![true; n],
            candidates: Vec::new(),
            spot_sigma: [0.0; BARCODE_BITS],
            scratch,
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
        planes
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
                    if around.iter().any(|&v| v.is_nan() || v <= 0.0) {
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

    /// Recomputes the peak values and the candidates where the residual
    /// changed since the last time, and around it as far as a bit value
    /// reads (the peak test and the peak radius). Elsewhere the values,
    /// and so every decision taken on them, stay as they were.
    pub(crate) fn find_peaks(&mut self, threshold: f32) {
        let (height, width) = (self.height, self.width);
        let n = height * width;
        let r = self.radius;
        // A pixel's values read the peak tests within the radius, each of
        // which reads its 3x3: the tests are redone one radius further out,
        // in whole rows.
        let mut bool_scratch = vec![false; n];
        self.affected.copy_from_slice(&self.changed);
        filter::dilate(&mut self.affected, &mut bool_scratch, height, width, r + 1);
        self.changed.fill(false);
        let affected_rows: Vec<bool> = self
            .affected
            .chunks_exact(width)
            .map(|row| row.contains(&true))
            .collect();
        let rows: Vec<bool> = (0..height)
            .map(|y| affected_rows[y.saturating_sub(r)..=(y + r).min(height - 1)].contains(&true))
            .collect();
        let mut flags = vec![false; width];
        for bit in 0..BARCODE_BITS {
            let plane = &self.residual[bit * n..(bit + 1) * n];
            let doubt = &self.doubt[bit * n..(bit + 1) * n];
            for y in (0..height).filter(|&y| rows[y]) {
                peak_row(plane, (height, width), y, &mut flags);
                let line = y * width..(y + 1) * width;
                let candidates = &mut self.is_candidate[line.clone()];
                let values = self.scratch[line.clone()].iter_mut();
                let inputs = plane[line.clone()].iter().zip(&doubt[line]);
                for (((c, out), (&v, &d)), &peak) in
                    candidates.iter_mut().zip(values).zip(inputs).zip(&flags)
                {
                    let value = v - d;
                    *c = (bit > 0 && *c) || (peak && value >= threshold);
                    *out = if r == 0 || peak {
                        value
                    } else {
                        f32::NEG_INFINITY
                    };
                }
            }
            let peaks = &mut self.peaks[bit * n..(bit + 1) * n];
            for i in (0..n).filter(|&i| self.affected[i]) {
                let (y, x) = (i / width, i % width);
                let mut best = f32::NEG_INFINITY;
                for wy in y.saturating_sub(r)..=(y + r).min(height - 1) {
                    let line = &self.scratch[wy * width..(wy + 1) * width];
                    for &v in &line[x.saturating_sub(r)..=(x + r).min(width - 1)] {
                        best = best.max(v);
                    }
                }
                peaks[i] = if best == f32::NEG_INFINITY { 0.0 } else { best };
            }
        }
        self.collect_candidates();
    }

    /// The candidates among the affected pixels, in raster order.
    fn collect_candidates(&mut self) {
        let width = self.width;
        self.candidates.clear();
        let flagged =
            (0..self.height * width).filter(|&i| self.affected[i] && self.is_candidate[i]);
        self.candidates
            .extend(flagged.map(|i| (i / width, i % width)));
    }

    /// Whether the values at pixel `(row, col)` were recomputed by the last
    /// peak search.
    pub(crate) fn affected(&self, (row, col): (usize, usize)) -> bool {
        self.affected[row * self.width + col]
    }

    /// Pixels worth decoding, in raster order: the candidates whose values
    /// the last peak search recomputed.
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
            self.mark_changed((py, px), gaussian_reach(sigma));
        }
        self.mark_changed((y, x), self.merge_reach);
    }

    /// Marks the pixels within `reach` (a square) of `(y, x)` changed.
    fn mark_changed(&mut self, (y, x): (f32, f32), reach: usize) {
        let (cy, cx) = (y.max(0.0) as usize, x.max(0.0) as usize);
        let rows = cy.saturating_sub(reach)..(cy + reach + 1).min(self.height);
        for row in rows {
            let cols = cx.saturating_sub(reach).min(self.width)..(cx + reach + 1).min(self.width);
            self.changed[row * self.width..][cols].fill(true);
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

/// How far (px) from its centre a spot model of `sigma` is drawn.
fn gaussian_reach(sigma: f32) -> usize {
    (3.0 * sigma) as usize + 1
}

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
    let reach = gaussian_reach(sigma) as isize;
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
