//! Fixed-point quantisation arithmetic: the one rounding rule every kernel
//! on every ISA reproduces bit for bit.
//!
//! # The rule
//!
//! A real multiplier `r > 0` is stored as a Q31 mantissa `multiplier` in
//! `[2^30, 2^31)` and a right shift `shift` in `1..=62`, so that
//! `r = multiplier / 2^shift` to 31 significant bits. An `i32` accumulator is
//! rescaled by
//!
//! ```text
//! rescale(acc) = (acc * multiplier + 2^(shift - 1)) >> shift      (in i64)
//! ```
//!
//! that is, **one** rounding, half-way cases rounded towards +infinity
//! (`>>` is an arithmetic shift, i.e. floor). No intermediate rounding, no
//! saturation: `|acc| < 2^31` and `multiplier < 2^31` make the product fit in
//! 62 bits, and adding the rounding term cannot overflow `i64`. The int8
//! result is then `clamp(zero_point + rescale(acc), -128, 127)`.
//!
//! Why this rule: it is exact in 64-bit integer arithmetic, which every
//! target has (x86: `vpmuldq` + a 64-bit shift; NEON: `smull` + `srshl`), and
//! it has no double rounding, so the scalar code below is short enough to be
//! the specification. Multipliers too small to represent (`r < 2^-32`) become
//! `multiplier = 0`, which rescales everything to zero.

use core::fmt;

/// Smallest allowed right shift.
pub const MIN_SHIFT: u8 = 1;
/// Largest allowed right shift.
pub const MAX_SHIFT: u8 = 62;

/// A real multiplier in fixed point: `multiplier / 2^shift`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Requant {
    /// Q31 mantissa in `[2^30, 2^31)`, or 0 for a zero multiplier.
    pub multiplier: i32,
    /// Right shift in `MIN_SHIFT..=MAX_SHIFT`.
    pub shift: u8,
}

/// Why a real number cannot be turned into a [`Requant`].
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum QuantError {
    /// The multiplier is negative, zero where not allowed, NaN or infinite.
    NotPositiveFinite(f64),
    /// The multiplier is too large for the fixed-point form (>= 2^30).
    TooLarge(f64),
}

impl fmt::Display for QuantError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QuantError::NotPositiveFinite(r) => {
                write!(
                    f,
                    "requantisation multiplier {r} is not a positive finite number"
                )
            }
            QuantError::TooLarge(r) => write!(
                f,
                "requantisation multiplier {r} is too large (must be below 2^30); \
                 the scales of this layer are inconsistent"
            ),
        }
    }
}

impl core::error::Error for QuantError {}

/// Splits a positive finite `x` into `(m, e)` with `x = m * 2^e`, `m` in `[0.5, 1)`.
fn frexp(x: f64) -> (f64, i32) {
    let bits = x.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i32;
    if exponent == 0 {
        // Subnormal: scale into the normal range first.
        let (m, e) = frexp(x * f64::from_bits(0x4350_0000_0000_0000)); // 2^54
        return (m, e - 54);
    }
    let mantissa_bits = (bits & !(0x7ff << 52)) | (1022 << 52);
    (f64::from_bits(mantissa_bits), exponent - 1022)
}

/// Rounds half away from zero without `std` (`f64::round` needs libm).
pub fn round_half_away(x: f64) -> f64 {
    let t = x as i64 as f64; // truncates towards zero; exact for |x| < 2^63
    let frac = x - t;
    if frac >= 0.5 {
        t + 1.0
    } else if frac <= -0.5 {
        t - 1.0
    } else {
        t
    }
}

impl Requant {
    /// The identity multiplier (1.0).
    pub const ONE: Requant = Requant {
        multiplier: 1 << 30,
        shift: 30,
    };

    /// Converts a real multiplier to fixed point (31 significant bits).
    pub fn from_real(real: f64) -> Result<Requant, QuantError> {
        if !real.is_finite() || real <= 0.0 {
            return Err(QuantError::NotPositiveFinite(real));
        }
        let (mantissa, exponent) = frexp(real);
        let mut multiplier = round_half_away(mantissa * (1u64 << 31) as f64) as i64;
        let mut exponent = exponent;
        if multiplier == 1 << 31 {
            multiplier = 1 << 30;
            exponent += 1;
        }
        let shift = 31 - exponent;
        if shift < MIN_SHIFT as i32 {
            return Err(QuantError::TooLarge(real));
        }
        if shift > MAX_SHIFT as i32 {
            // Below 2^-32 every |acc| < 2^31 rescales to 0 or to the rounding
            // boundary; store it as an exact zero instead.
            return Ok(Requant {
                multiplier: 0,
                shift: MIN_SHIFT,
            });
        }
        Ok(Requant {
            multiplier: multiplier as i32,
            shift: shift as u8,
        })
    }

    /// The real number this multiplier stands for.
    pub fn to_real(self) -> f64 {
        self.multiplier as f64 / (1u64 << self.shift) as f64
    }

    /// True when the fields are in their documented ranges.
    pub fn is_valid(self) -> bool {
        (MIN_SHIFT..=MAX_SHIFT).contains(&self.shift)
            && (self.multiplier == 0 || (1 << 30..=i32::MAX).contains(&self.multiplier))
    }

    /// `(acc * multiplier + 2^(shift-1)) >> shift`: the rounding rule.
    #[inline(always)]
    pub fn rescale(self, acc: i32) -> i32 {
        let product = acc as i64 * self.multiplier as i64;
        let rounded = (product + (1i64 << (self.shift - 1))) >> self.shift;
        // |acc| < 2^31 and multiplier/2^shift < 2^30 keep this in i32 range
        // only for sane scales; saturate so that hostile models cannot wrap.
        rounded.clamp(i32::MIN as i64, i32::MAX as i64) as i32
    }

    /// Accumulator bounds `(lo, hi)` outside which [`Requant::to_int8`]
    /// saturates for **every** zero point: clamping `acc` to `lo..=hi` never
    /// changes the int8 result, and inside the bounds `rescale` stays within
    /// `±(2^30 + 512)`.
    ///
    /// SIMD epilogues clamp first so that the rest of the requantisation can
    /// run on 32-bit lanes (no 64-bit saturation, which AVX2 lacks).
    pub fn saturating_bounds(self) -> (i32, i32) {
        // rescale is monotone (multiplier >= 0). Past rescale >= 255 every
        // zero point in [-128, 127] lands on >= 127; below -256 on -128.
        let lo = last_where(|acc| self.rescale(acc) <= -256).unwrap_or(i32::MIN);
        let hi = first_where(|acc| self.rescale(acc) >= 255).unwrap_or(i32::MAX);
        (lo, hi)
    }

    /// Rescales and moves onto an int8 grid: `clamp(zp + rescale(acc))`.
    #[inline(always)]
    pub fn to_int8(self, acc: i32, zero_point: i8) -> i8 {
        (zero_point as i32)
            .saturating_add(self.rescale(acc))
            .clamp(-128, 127) as i8
    }
}

/// The smallest `acc` where the monotone predicate `holds` becomes true.
fn first_where(holds: impl Fn(i32) -> bool) -> Option<i32> {
    if !holds(i32::MAX) {
        return None;
    }
    if holds(i32::MIN) {
        return Some(i32::MIN);
    }
    // Invariant: !holds(lo) and holds(hi).
    let (mut lo, mut hi) = (i32::MIN as i64, i32::MAX as i64);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if holds(mid as i32) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi as i32)
}

/// The largest `acc` where the monotone predicate `holds` (true on a prefix
/// of the `i32` range) is still true.
fn last_where(holds: impl Fn(i32) -> bool) -> Option<i32> {
    if !holds(i32::MIN) {
        return None;
    }
    // holds(i32::MIN), so the first false value (if any) is above i32::MIN.
    Some(first_where(|acc| !holds(acc)).map_or(i32::MAX, |first_false| first_false - 1))
}

/// Quantises one raw camera count onto the input grid.
///
/// `q = clamp(zp + ((raw * multiplier + offset + 2^(shift-1)) >> shift))`,
/// where `multiplier / 2^shift = 1 / (std * scale)` and
/// `offset = round(-mean * multiplier)`: the model's input normalisation
/// `(raw - mean) / std` fused with quantisation to the grid `(scale, zp)`,
/// in integers only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InputQuant {
    /// `1 / (std * scale)` as a fixed-point multiplier.
    pub requant: Requant,
    /// `round(-mean * multiplier)`.
    pub offset: i64,
}

/// Largest |offset| a valid [`InputQuant`] may carry (keeps the i64 sum exact).
pub const MAX_INPUT_OFFSET: i64 = 1 << 60;

impl InputQuant {
    /// Builds the fused normalisation + quantisation for one channel.
    pub fn new(mean: f64, std: f64, scale: f64) -> Result<InputQuant, QuantError> {
        let requant = Requant::from_real(1.0 / (std * scale))?;
        let offset = round_half_away(-mean * requant.multiplier as f64);
        if !offset.is_finite() || offset.abs() >= MAX_INPUT_OFFSET as f64 {
            return Err(QuantError::TooLarge(mean));
        }
        Ok(InputQuant {
            requant,
            offset: offset as i64,
        })
    }

    /// Quantises a raw count (u8 or u16 widened) onto the grid with `zero_point`.
    #[inline(always)]
    pub fn quantise(self, raw: u16, zero_point: i8) -> i8 {
        (zero_point as i64 + self.rescale(raw)).clamp(-128, 127) as i8
    }

    /// The normalised, rescaled count before the zero point and clamping:
    /// `round((raw - mean) / (std * scale))`, rounding half up.
    #[inline(always)]
    pub fn rescale(self, raw: u16) -> i64 {
        let shift = self.requant.shift;
        let value = raw as i64 * self.requant.multiplier as i64 + self.offset;
        (value + (1i64 << (shift - 1))) >> shift
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_real_round_trips_to_31_bits() {
        for &r in &[1.0, 0.5, 0.75, 1e-3, 3.3e-5, 123.456, 0.999_999_9, 2.0e-9] {
            let q = Requant::from_real(r).unwrap();
            assert!(q.is_valid(), "{r}: {q:?}");
            let rel = (q.to_real() - r).abs() / r;
            assert!(rel < 1e-9, "{r}: {}", q.to_real());
        }
    }

    #[test]
    fn rejects_bad_multipliers() {
        assert!(Requant::from_real(0.0).is_err());
        assert!(Requant::from_real(-1.0).is_err());
        assert!(Requant::from_real(f64::NAN).is_err());
        assert!(Requant::from_real(f64::INFINITY).is_err());
        assert!(matches!(
            Requant::from_real(2f64.powi(31)),
            Err(QuantError::TooLarge(_))
        ));
        assert_eq!(Requant::from_real(1e-12).unwrap().multiplier, 0);
    }

    #[test]
    fn saturating_bounds_never_change_the_int8_result() {
        let mut rng = crate::rng::SplitMix64::new(7);
        let mut requants = alloc::vec![
            Requant::ONE,
            Requant {
                multiplier: 0,
                shift: 1
            }
        ];
        for shift in [MIN_SHIFT, 2, 13, 31, 40, 61, MAX_SHIFT] {
            requants.push(Requant {
                multiplier: i32::MAX,
                shift,
            });
            requants.push(Requant {
                multiplier: 1 << 30,
                shift,
            });
        }
        for _ in 0..200 {
            requants.push(Requant {
                multiplier: (1 << 30) + (rng.next_u64() % (1 << 30)) as i32,
                shift: MIN_SHIFT + (rng.next_u64() % MAX_SHIFT as u64) as u8,
            });
        }
        for rq in requants {
            let (lo, hi) = rq.saturating_bounds();
            assert!(lo < hi, "{rq:?}: {lo} {hi}");
            assert!(rq.rescale(lo).abs() <= (1 << 30) + 512, "{rq:?}");
            assert!(rq.rescale(hi).abs() <= (1 << 30) + 512, "{rq:?}");
            let mut accs = alloc::vec![i32::MIN, i32::MIN + 1, -1, 0, 1, i32::MAX - 1, i32::MAX];
            for edge in [lo, hi] {
                accs.extend((-3..=3).map(|d| edge.saturating_add(d)));
            }
            accs.extend((0..50).map(|_| rng.next_u64() as i32));
            accs.extend((0..50).map(|_| (rng.next_u64() as i32) >> 12));
            for acc in accs {
                for zp in [-128i8, -3, 0, 5, 127] {
                    assert_eq!(
                        rq.to_int8(acc.clamp(lo, hi), zp),
                        rq.to_int8(acc, zp),
                        "{rq:?} acc {acc} zp {zp}"
                    );
                }
            }
        }
    }

    #[test]
    fn rounding_is_half_up() {
        let half = Requant::from_real(0.5).unwrap();
        assert_eq!(half.rescale(1), 1); // 0.5 -> 1
        assert_eq!(half.rescale(-1), 0); // -0.5 -> 0
        assert_eq!(half.rescale(3), 2); // 1.5 -> 2
        assert_eq!(half.rescale(-3), -1); // -1.5 -> -1
        assert_eq!(Requant::ONE.rescale(-7), -7);
    }

    #[test]
    fn int8_saturates() {
        assert_eq!(Requant::ONE.to_int8(1000, 0), 127);
        assert_eq!(Requant::ONE.to_int8(-1000, 0), -128);
        assert_eq!(Requant::ONE.to_int8(5, -3), 2);
        assert_eq!(Requant::ONE.to_int8(i32::MAX, 127), 127);
    }

    #[test]
    fn input_quant_matches_float() {
        let (mean, std, scale) = (100.0, 50.0, 0.05);
        let iq = InputQuant::new(mean, std, scale).unwrap();
        for raw in [0u16, 37, 100, 101, 250, 4000, 65535] {
            let real = ((raw as f64 - mean) / std / scale + 3.0)
                .round()
                .clamp(-128.0, 127.0);
            assert_eq!(iq.quantise(raw, 3) as f64, real, "raw {raw}");
        }
    }

    #[test]
    fn frexp_handles_subnormals() {
        let x = f64::from_bits(1);
        let (m, e) = frexp(x);
        assert!((0.5..1.0).contains(&m));
        assert_eq!(m * 2f64.powi(e + 100), x * 2f64.powi(100));
    }
}
