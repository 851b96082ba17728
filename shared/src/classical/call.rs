//! One spot's 16 bit values to a codeword call: bit calls relative to the
//! spot's own brightness, the codeword of best correlation, one-bit error
//! correction and the posterior confidence.
//!
//! Values are in units of the matched-filtered image's noise (see the
//! [module docs](super)). With `a` the spot's amplitude (the mean of its
//! four brightest bits) a bit is on when its value reaches
//! `t = max(bit_fraction * a, bit_floor)`. The spot's correlation with a
//! codeword `c` is `sum over the bits of c of (v_b - t)`; the best codeword
//! is called when the observed word lies within one bit of it and of no
//! other codeword.
//!
//! # Confidence
//!
//! Each bit is modelled as on (mean `a`) or off (mean 0) with Gaussian
//! noise of variance `1 + (bit_spread * a)^2`: the unit noise of the image
//! plus the round-to-round spread of a spot's brightness. Decided at the
//! threshold `t`, the bit's log-likelihood ratio of on against off is
//! `a * (v_b - t) / (1 + (bit_spread * a)^2)`, and a codeword's log
//! likelihood is the sum over its on-bits (the off-bit terms are the same
//! for every codeword). The confidence is the called codeword's posterior
//! under a uniform prior over the codebook: near 1 when no other codeword
//! comes close, towards 1/2 when a runner-up is as likely.

use crate::post::{Call, Decoded, BARCODE_BITS};

use super::math::exp;
use super::Params;

/// The four largest values, mean of.
pub(crate) fn top4_mean(values: &[f32; BARCODE_BITS]) -> f32 {
    let mut top = [f32::NEG_INFINITY; 4];
    for &v in values {
        if v > top[3] {
            let mut i = 3;
            while i > 0 && v > top[i - 1] {
                top[i] = top[i - 1];
                i -= 1;
            }
            top[i] = v;
        }
    }
    (top[0] + top[1] + top[2] + top[3]) * 0.25
}

/// Decodes the bit values `values` (index = barcode bit) of a spot of
/// amplitude `amplitude` against `codewords` and their `blank` flags.
pub(crate) fn call(
    values: &[f32; BARCODE_BITS],
    amplitude: f32,
    (codewords, blank): (&[u16], &[bool]),
    params: &Params,
) -> Decoded {
    let threshold = (params.bit_fraction * amplitude).max(params.bit_floor);
    let word = values
        .iter()
        .enumerate()
        .fold(0u16, |w, (bit, &v)| w | (u16::from(v >= threshold) << bit));
    let excess: [f32; BARCODE_BITS] = core::array::from_fn(|b| values[b] - threshold);
    let correlation = |codeword: u16| -> f32 {
        let mut bits = codeword;
        let mut sum = 0.0f32;
        while bits != 0 {
            sum += excess[bits.trailing_zeros() as usize];
            bits &= bits - 1;
        }
        sum
    };

    let mut best = None::<(usize, f32)>;
    let (mut nearest_distance, mut nearest_index, mut nearest_count) =
        (BARCODE_BITS as u32 + 1, 0, 0);
    for (index, &codeword) in codewords.iter().enumerate() {
        let score = correlation(codeword);
        if best.is_none_or(|(_, s)| score > s) {
            best = Some((index, score));
        }
        let distance = (codeword ^ word).count_ones();
        if distance < nearest_distance {
            (nearest_distance, nearest_index, nearest_count) = (distance, index, 1);
        } else if distance == nearest_distance {
            nearest_count += 1;
        }
    }
    let call = best.and_then(|(index, best_score)| {
        let agreed = nearest_distance <= 1 && nearest_count == 1 && nearest_index == index;
        if !agreed {
            return None;
        }
        let confidence = posterior(codewords, &correlation, best_score, amplitude, params);
        (confidence >= params.min_confidence).then_some(Call {
            // The decoder refuses codebooks of more than 2^16 words.
            codeword: index as u16,
            distance: nearest_distance as u8,
            blank: blank[index],
            confidence,
        })
    });
    Decoded {
        word,
        nearest_distance: nearest_distance as u8,
        call,
    }
}

/// The posterior of the codeword of correlation `best` (the largest); see
/// the [module docs](self).
fn posterior(
    codewords: &[u16],
    correlation: &impl Fn(u16) -> f32,
    best: f32,
    amplitude: f32,
    params: &Params,
) -> f32 {
    let a = f64::from(amplitude.max(0.0));
    let spread = f64::from(params.bit_spread) * a;
    let slope = a / (1.0 + spread * spread);
    // Every term is exp(<= 0) and the best codeword's is 1, so the sum is
    // at least 1 and at most the codebook size.
    let total: f64 = codewords
        .iter()
        .map(|&c| exp(slope * f64::from(correlation(c) - best)))
        .sum();
    (1.0 / total) as f32
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use crate::codebook::mhd4_words;

    fn values_of(word: u16, on: f32, off: f32) -> [f32; BARCODE_BITS] {
        core::array::from_fn(|b| if word & (1 << b) != 0 { on } else { off })
    }

    #[test]
    fn top4_mean_takes_the_four_largest() {
        let mut v = [0.0f32; 16];
        v[3] = 4.0;
        v[9] = 8.0;
        v[0] = 2.0;
        v[15] = 6.0;
        v[7] = 1.0;
        assert_eq!(top4_mean(&v), 5.0);
    }

    #[test]
    fn exact_corrected_and_rejected_words() {
        let words = mhd4_words();
        let blank = [false; 140];
        let params = Params::default();
        let book = (&words[..], &blank[..]);

        let exact = call(&values_of(words[5], 10.0, 0.0), 10.0, book, &params);
        let c = exact.call.unwrap();
        assert_eq!((c.codeword, c.distance), (5, 0));
        assert!(c.confidence > 0.99 && c.confidence <= 1.0);

        let low = words[5].trailing_zeros();
        let dropped = call(
            &values_of(words[5] & !(1 << low), 10.0, 0.0),
            7.5,
            book,
            &params,
        );
        assert_eq!(dropped.call.map(|c| (c.codeword, c.distance)), Some((5, 1)));

        let off_bit = (0..16).find(|b| words[5] & (1 << b) == 0).unwrap();
        let two_off = words[5] & !(1 << low) | (1 << off_bit);
        let rejected = call(&values_of(two_off, 10.0, 0.0), 10.0, book, &params);
        assert_eq!(rejected.call, None);
        assert!(rejected.nearest_distance >= 2);
    }

    #[test]
    fn confidence_falls_when_two_codewords_are_alike() {
        let words = mhd4_words();
        let blank = [false; 140];
        let params = Params::default();
        let book = (&words[..], &blank[..]);
        let sure = call(&values_of(words[9], 12.0, 0.0), 12.0, book, &params);
        // A fifth bit nearly as bright as the others makes the words that
        // share three bits with it plausible.
        let mut unsure_values = values_of(words[9], 4.0, 0.0);
        let extra = (0..16).find(|b| words[9] & (1 << b) == 0).unwrap();
        unsure_values[extra] = 3.9;
        let unsure = call(&unsure_values, 4.0, book, &params);
        let (sure, unsure) = (sure.call.unwrap(), unsure.call.unwrap());
        assert_eq!((sure.codeword, unsure.codeword), (9, 9));
        assert!(unsure.confidence < sure.confidence);
    }
}
