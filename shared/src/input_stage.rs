//! The network's camera-invariant input stage.
//!
//! Models made before format 3 normalise raw counts with one fixed
//! `(mean, std)` per image index, measured on their training tiles: right for
//! that camera only. A [`InputStage::PerImage`] model instead measures each
//! image's own background and noise ([`crate::image_stats`]) and sees
//!
//! ```text
//! z = clamp((raw - background) / noise, Z_FLOOR, Z_CEILING)      (SNR units)
//! x = compress(z)
//! ```
//!
//! `z` does not depend on the camera's offset, gain or bit depth.
//! [`compress`] is the identity up to [`KNEE`] noise units, where detection
//! decisions are made, and logarithmic above, so a very bright on-bit, its
//! dimmer spurious neighbour and a hot pixel stay distinguishable inside the
//! 8-bit input grid instead of all clipping to one value.
//!
//! In the int8 engine the same stage is exact integer arithmetic: the raw
//! count goes to `z` in fixed point with [`STEPS_PER_UNIT`] steps per noise
//! unit (one fused multiply, add and shift, built from the statistics per
//! frame), then a table of `compress` quantised to the input grid, computed
//! once at export and stored in the model file (so no platform's `ln`
//! enters the device's arithmetic).

use serde::{Deserialize, Serialize};

use crate::image::{ImageStats, InputImage};
use crate::quant::{InputQuant, QuantError};

/// How a model normalises raw camera counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum InputStage {
    /// `(raw - mean[c]) / std[c]` with the model's stored normalisation.
    #[default]
    Fixed,
    /// `compress(z)` with `z` from each image's own statistics.
    PerImage,
}

impl InputStage {
    /// Name for reports and command lines.
    pub fn name(self) -> &'static str {
        match self {
            InputStage::Fixed => "fixed",
            InputStage::PerImage => "per-image",
        }
    }
}

/// Lowest `z` kept: darker pixels are only noise below the background.
pub const Z_FLOOR: f32 = -8.0;
/// Highest `z` kept (hot pixels and saturated spots beyond it look alike).
pub const Z_CEILING: f32 = 256.0;
/// `compress` is the identity below this many noise units.
pub const KNEE: f32 = 8.0;
/// Fixed-point steps of `z` per noise unit in the int8 engine.
pub const STEPS_PER_UNIT: i32 = 16;

/// Lowest fixed-point `z` of the int8 engine (`Z_FLOOR * STEPS_PER_UNIT`).
pub const T_MIN: i32 = -128;
/// Highest fixed-point `z` of the int8 engine (`Z_CEILING * STEPS_PER_UNIT`).
pub const T_MAX: i32 = 4096;
/// Entries of the int8 model's input table: one per fixed-point `z`.
pub const TABLE_LEN: usize = (T_MAX - T_MIN + 1) as usize;

/// The identity below [`KNEE`], `KNEE * (1 + ln(z / KNEE))` above: continuous
/// with a continuous slope, and `compress(Z_CEILING)` = 35.7.
pub fn compress(z: f32) -> f32 {
    if z <= KNEE {
        z
    } else {
        KNEE * (1.0 + libm_ln(z / KNEE))
    }
}

/// The range of `compress` over `[Z_FLOOR, Z_CEILING]`: the float values the
/// network's first layer sees.
pub fn compressed_range() -> [f32; 2] {
    [compress(Z_FLOOR), compress(Z_CEILING)]
}

/// The network input for one raw count of an image with `stats`.
pub fn normalise(raw: f32, stats: ImageStats) -> f32 {
    let z = (raw - stats.background) / stats.noise;
    compress(z.clamp(Z_FLOOR, Z_CEILING))
}

/// The float input of image `c` at `(y, x)` for a model with `stage`: the
/// stored normalisation `(mean, std)` of `c` for a fixed stage, or the
/// image's own statistics (which `image` must carry) for a per-image one.
///
/// # Panics
/// For a per-image stage when `image` carries no statistics (callers
/// attach them with [`InputImage::with_stats`]).
pub fn float_input(
    stage: InputStage,
    fixed: (f32, f32),
    image: &InputImage<'_>,
    c: usize,
    y: usize,
    x: usize,
) -> f32 {
    let raw = image.get(c, y, x) as f32;
    match stage {
        InputStage::Fixed => (raw - fixed.0) / fixed.1,
        InputStage::PerImage => {
            let stats = image
                .stats()
                .expect("a per-image input stage needs the images' statistics");
            normalise(raw, stats[c])
        }
    }
}

/// The fixed-point quantiser of one image for the int8 engine: `raw ->
/// round((raw - background) / noise * STEPS_PER_UNIT)` (clamp it to
/// `T_MIN..=T_MAX`, then look it up in the model's table). Integer-only once
/// built; built from the statistics with IEEE arithmetic alone, so every
/// platform builds the same one.
pub fn step_quant(stats: ImageStats) -> Result<InputQuant, QuantError> {
    InputQuant::new(
        stats.background as f64,
        stats.noise as f64,
        1.0 / STEPS_PER_UNIT as f64,
    )
}

/// The table index of raw count `raw` under `quant` (from [`step_quant`]).
#[inline(always)]
pub fn table_index(quant: InputQuant, raw: u16) -> usize {
    (quant.rescale(raw).clamp(T_MIN as i64, T_MAX as i64) - T_MIN as i64) as usize
}

/// The int8 grid of a per-image model's input tensor: exactly the range of
/// [`compress`] over `[Z_FLOOR, Z_CEILING]`, fixed by design (calibration
/// would only rediscover it), so the stored table depends on nothing else.
/// Returns `(scale, zero_point)`.
pub fn input_grid() -> (f32, i8) {
    let [lo, hi] = compressed_range();
    let (lo, hi) = (lo as f64, hi as f64);
    let scale = (hi - lo) / 255.0;
    let zero_point = crate::quant::round_half_away(-128.0 - lo / scale).clamp(-128.0, 127.0);
    (scale as f32, zero_point as i8)
}

/// The int8 model's input table on the grid `(scale, zero_point)`: entry
/// `t - T_MIN` is `compress(t / STEPS_PER_UNIT)` quantised to the grid.
/// Computed on the host at export and stored in the model file.
#[cfg(feature = "std")]
pub fn build_table(scale: f32, zero_point: i8) -> alloc::vec::Vec<i8> {
    (T_MIN..=T_MAX)
        .map(|t| {
            let x = compress(t as f32 / STEPS_PER_UNIT as f32) as f64;
            let q = crate::quant::round_half_away(x / scale as f64) + zero_point as f64;
            q.clamp(-128.0, 127.0) as i8
        })
        .collect()
}

/// Natural logarithm for the float side (training, reference, export). The
/// int8 engine never calls it: its table is computed once on the host.
#[cfg(feature = "std")]
fn libm_ln(x: f32) -> f32 {
    x.ln()
}

/// Natural logarithm without `std`: `ln(x) = 2 atanh((x - 1) / (x + 1))`
/// after scaling `x` into `[1, 2)` by powers of two; accurate to a few ulp,
/// enough for the float side's purposes.
#[cfg(not(feature = "std"))]
fn libm_ln(x: f32) -> f32 {
    if x.is_nan() || x <= 0.0 {
        return f32::NEG_INFINITY;
    }
    let mut m = x as f64;
    let mut exponent = 0i32;
    while m >= 2.0 {
        m /= 2.0;
        exponent += 1;
    }
    while m < 1.0 {
        m *= 2.0;
        exponent -= 1;
    }
    let t = (m - 1.0) / (m + 1.0);
    let t2 = t * t;
    let mut term = t;
    let mut sum = 0.0;
    let mut k = 1.0;
    while k < 40.0 {
        sum += term / k;
        term *= t2;
        k += 2.0;
    }
    (2.0 * sum + exponent as f64 * core::f64::consts::LN_2) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compress_is_the_identity_below_the_knee_and_continuous_at_it() {
        for z in [-8.0, -1.0, 0.0, 3.5, 8.0] {
            assert_eq!(compress(z), z);
        }
        let above = compress(KNEE + 1e-3);
        assert!((above - KNEE).abs() < 2e-3, "{above}");
        let [lo, hi] = compressed_range();
        assert_eq!(lo, -8.0);
        assert!((hi - 35.726).abs() < 1e-2, "{hi}");
        assert!(compress(100.0) < compress(101.0));
    }

    #[test]
    fn the_table_follows_compress_on_the_grid() {
        let (scale, zp) = input_grid();
        let table = build_table(scale, zp);
        assert_eq!(table.len(), TABLE_LEN);
        assert_eq!(table[0], -128);
        assert_eq!(*table.last().unwrap(), 127);
        assert!(table.windows(2).all(|w| w[0] <= w[1]), "monotone");
        // z = 0 maps to the zero point.
        assert_eq!(table[(-T_MIN) as usize], zp);
    }

    #[test]
    fn fixed_point_z_matches_the_float_z() {
        let stats = ImageStats {
            background: 103.7,
            noise: 2.9,
        };
        let quant = step_quant(stats).unwrap();
        for raw in [0u16, 90, 103, 104, 120, 500, 65535] {
            let z = ((raw as f32 - 103.7) / 2.9).clamp(Z_FLOOR, Z_CEILING);
            let t = table_index(quant, raw) as i32 + T_MIN;
            let expected = (z * STEPS_PER_UNIT as f32).round() as i32;
            assert!((t - expected).abs() <= 1, "{raw}: {t} vs {expected}");
        }
    }

    #[test]
    fn normalise_cancels_offset_and_gain() {
        let stats = ImageStats {
            background: 100.0,
            noise: 4.0,
        };
        let scaled = ImageStats {
            background: 1000.0 + 8.0 * 100.0,
            noise: 32.0,
        };
        for raw in [90.0f32, 100.0, 112.0, 400.0, 5000.0] {
            let a = normalise(raw, stats);
            let b = normalise(1000.0 + 8.0 * raw, scaled);
            assert!((a - b).abs() < 1e-4, "{raw}: {a} vs {b}");
        }
        assert_eq!(normalise(0.0, stats), Z_FLOOR);
    }
}
