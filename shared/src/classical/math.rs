//! The transcendental functions the decoder needs, since `core` has no
//! `exp`, `ln` or `sqrt`: plain `f64` arithmetic in a fixed order, so every
//! platform computes the same bits.

pub(crate) use crate::post::metrics::sqrt;

/// `e^x`, to within a few units in the last place of `f64`; 0 below -700
/// (where the result would be subnormal), infinite above 700, NaN for NaN.
pub(crate) fn exp(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    if x < -700.0 {
        return 0.0;
    }
    if x > 700.0 {
        return f64::INFINITY;
    }
    // x = k ln 2 + r with |r| <= ln 2 / 2, so e^x = 2^k e^r; the Taylor
    // series of e^r has converged to f64 precision by its 14th term.
    let half = if x < 0.0 { -0.5 } else { 0.5 };
    let k = (x * core::f64::consts::LOG2_E + half) as i64;
    // ln 2 in two parts (fdlibm's): k * LN2_HI is exact for |k| < 2^20,
    // so r keeps its precision even for large k.
    const LN2_HI: f64 = 6.931_471_803_691_238e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    let r = (x - k as f64 * LN2_HI) - k as f64 * LN2_LO;
    let (mut term, mut sum) = (1.0f64, 1.0f64);
    for i in 1..=14 {
        term *= r / f64::from(i);
        sum += term;
    }
    // |k| <= 1010, so 2^k is a normal f64.
    sum * f64::from_bits(((k + 1023) as u64) << 52)
}

/// The natural logarithm, to within a few units in the last place of
/// `f64`, for positive normal `x`; NaN for anything else (0, negative,
/// subnormal, infinite, NaN), which no caller passes.
pub(crate) fn ln(x: f64) -> f64 {
    if !(f64::MIN_POSITIVE..f64::INFINITY).contains(&x) {
        return f64::NAN;
    }
    // x = 2^e m with m in [sqrt(1/2), sqrt(2)); ln m = 2 atanh(s) with
    // s = (m - 1) / (m + 1), |s| < 0.172, whose odd series has converged
    // to f64 precision by s^25.
    let bits = x.to_bits();
    let mut exponent = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut m = f64::from_bits((bits & ((1u64 << 52) - 1)) | (1023u64 << 52));
    if m > core::f64::consts::SQRT_2 {
        m *= 0.5;
        exponent += 1;
    }
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let (mut power, mut series) = (s, 0.0f64);
    for k in 0..13 {
        series += power / f64::from(2 * k + 1);
        power *= s2;
    }
    exponent as f64 * core::f64::consts::LN_2 + 2.0 * series
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_std() {
        for x in [
            -699.0, -30.5, -1.0, -0.3, 0.0, 1e-9, 0.5, 1.0, 2.0, 10.0, 88.0, 699.0,
        ] {
            let (ours, std) = (exp(x), x.exp());
            assert!(
                (ours / std - 1.0).abs() < 1e-14,
                "exp({x}) = {ours}, std {std}"
            );
        }
        assert_eq!(exp(-800.0), 0.0);
        assert_eq!(exp(800.0), f64::INFINITY);
        assert!(exp(f64::NAN).is_nan());
    }

    #[test]
    fn ln_matches_std() {
        for x in [
            1e-300, 1e-9, 0.1, 0.5, 0.7, 1.0, 1.4143, 2.0, 10.0, 12345.678, 1e300,
        ] {
            let (ours, std) = (ln(x), x.ln());
            assert!(
                (ours - std).abs() <= 1e-15 * std.abs().max(1.0),
                "ln({x}) = {ours}, std {std}"
            );
        }
        assert!(ln(0.0).is_nan() && ln(-1.0).is_nan() && ln(f64::INFINITY).is_nan());
    }
}
