//! Barcode decoding: a spot's 16 bit probabilities against a codebook, with
//! one-bit error correction.
//!
//! # Rule
//!
//! 1. Binarise each bit at probability 0.5: value `>= 128` is a 1
//!    ([`BIT_ON`]). This gives the observed word.
//! 2. Find the codewords nearest to it in Hamming distance.
//! 3. Distance 0 is an exact call, distance 1 a corrected call, provided
//!    exactly one codeword is that near. Correction needs a code of minimum
//!    distance at least 4 (MHD4, [`CORRECTING_DISTANCE`]): a one-bit error
//!    can then never land nearer another word. A weaker codebook is decoded
//!    without correction (exact calls only), so a spot one bit from a word
//!    stays unassigned rather than guess; [`Decoder::corrects`] says which.
//! 4. Anything farther is unassigned.
//!
//! # Confidence
//!
//! A call's confidence is the posterior probability of the called codeword
//! among all codewords of the codebook, assuming independent bits, a uniform
//! prior over codewords, and bit probabilities `(2v + 1) / 512` for a map
//! value `v`. That probability is never 0 or 1 (so a single wrong bit
//! cannot zero a likelihood) and is above 1/2 exactly when `v >= 128`, the
//! hard-decision rule. Likelihoods are taken relative to the observed word:
//! a codeword's relative likelihood is the product, over the bits where it
//! differs from the observed word, of `min(2v + 1, 511 - 2v) / max(...)`,
//! so each factor is at most 1 and nothing overflows. The posterior is near
//! 1 when the call is clearly better than every alternative and falls
//! towards 1/2 or below when a runner-up is about as likely; a call's
//! posterior can be low when soft evidence prefers another codeword than
//! the nearest in Hamming distance. The arithmetic is f32 in a fixed order,
//! so host and device agree bit for bit.

use core::fmt;

use serde::{Deserialize, Serialize};

#[cfg(feature = "alloc")]
use alloc::vec::Vec;

#[cfg(doc)]
use crate::codebook::CORRECTING_DISTANCE;
use crate::codebook::{corrects_single_errors, BARCODE_BITS};

/// A bit map value at or above this reads as a 1 (probability >= 0.5).
pub const BIT_ON: u8 = 128;

/// The gene index that names no codeword: a spot the decoder left
/// unassigned, or a truth emitter whose gene is unknown. Wherever gene
/// indices travel as a bare `u16` (the protocol), this value means "none".
pub const UNASSIGNED_GENE: u16 = u16::MAX;

/// Largest number of codewords a decoder accepts: every index fits in a
/// `u16` below [`UNASSIGNED_GENE`].
pub const MAX_CODEWORDS: usize = UNASSIGNED_GENE as usize;

/// Why decoding could not run.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The codeword and blank-flag slices differ in length.
    BlankFlagsMismatch {
        /// Number of codewords.
        codewords: usize,
        /// Number of blank flags.
        flags: usize,
    },
    /// The codebook has more than [`MAX_CODEWORDS`] words.
    TooManyCodewords {
        /// Number of codewords given.
        codewords: usize,
    },
    /// The bit maps' length is not `16 * height * width`.
    BitMapsSizeMismatch {
        /// Height the caller gave.
        height: usize,
        /// Width the caller gave.
        width: usize,
        /// Length of the bit-map slice.
        len: usize,
    },
    /// The pixel asked for is outside the maps.
    PixelOutOfBounds {
        /// Row asked for.
        row: usize,
        /// Column asked for.
        col: usize,
        /// Height of the maps.
        height: usize,
        /// Width of the maps.
        width: usize,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DecodeError::BlankFlagsMismatch { codewords, flags } => write!(
                f,
                "codebook has {codewords} codewords but {flags} blank flags"
            ),
            DecodeError::TooManyCodewords { codewords } => write!(
                f,
                "codebook has {codewords} codewords; at most {MAX_CODEWORDS} are supported"
            ),
            DecodeError::BitMapsSizeMismatch { height, width, len } => write!(
                f,
                "bit maps have {len} values but 16 maps of {height} x {width} need {}",
                height.saturating_mul(width).saturating_mul(BARCODE_BITS)
            ),
            DecodeError::PixelOutOfBounds {
                row,
                col,
                height,
                width,
            } => write!(
                f,
                "pixel ({row}, {col}) is outside maps of {height} x {width}"
            ),
        }
    }
}

impl core::error::Error for DecodeError {}

/// A spot assigned to a codeword.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Call {
    /// Index of the codeword in the codebook.
    pub codeword: u16,
    /// Hamming distance from the observed word: 0 (exact) or 1 (corrected,
    /// only in codebooks that [correct](Decoder::corrects)).
    pub distance: u8,
    /// Whether the codeword is a blank (never carried by a real molecule).
    pub blank: bool,
    /// Posterior probability of the codeword; see the [module docs](self).
    pub confidence: f32,
}

/// What decoding one spot gave.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Decoded {
    /// The 16 bits binarised at [`BIT_ON`].
    pub word: u16,
    /// Hamming distance from `word` to the nearest codeword (17 for an empty
    /// codebook).
    pub nearest_distance: u8,
    /// The call, or `None` when the spot is unassigned: no codeword within
    /// distance 1 (distance 0 in a codebook that does not
    /// [correct](Decoder::corrects)), or more than one at the nearest
    /// distance.
    pub call: Option<Call>,
}

/// A codebook to decode against, borrowed: building one allocates nothing
/// and only checks whether the code corrects one-bit errors.
#[derive(Clone, Copy, Debug)]
pub struct Decoder<'a> {
    codewords: &'a [u16],
    blank: &'a [bool],
    corrects: bool,
}

impl<'a> Decoder<'a> {
    /// A decoder over `codewords`, where `blank[i]` says whether codeword
    /// `i` is a blank. Compares the codewords pairwise once (about 10,000
    /// comparisons for MHD4) to decide whether to correct.
    pub fn new(codewords: &'a [u16], blank: &'a [bool]) -> Result<Self, DecodeError> {
        if codewords.len() != blank.len() {
            return Err(DecodeError::BlankFlagsMismatch {
                codewords: codewords.len(),
                flags: blank.len(),
            });
        }
        if codewords.len() > MAX_CODEWORDS {
            return Err(DecodeError::TooManyCodewords {
                codewords: codewords.len(),
            });
        }
        Ok(Decoder {
            codewords,
            blank,
            corrects: corrects_single_errors(codewords),
        })
    }

    /// The codewords.
    pub fn codewords(&self) -> &'a [u16] {
        self.codewords
    }

    /// Whether one-bit errors are corrected: the code's minimum distance is
    /// at least [`CORRECTING_DISTANCE`].
    pub fn corrects(&self) -> bool {
        self.corrects
    }

    /// Number of blank codewords.
    pub fn blank_codewords(&self) -> usize {
        self.blank.iter().filter(|&&b| b).count()
    }

    /// Number of coding (non-blank) codewords.
    pub fn coding_codewords(&self) -> usize {
        self.codewords.len() - self.blank_codewords()
    }

    /// Decodes one spot's 16 bit-map values (index `i` is barcode bit `i`).
    pub fn decode(&self, bit_values: &[u8; BARCODE_BITS]) -> Decoded {
        let word = binarise(bit_values);
        let mut nearest_distance = (BARCODE_BITS + 1) as u32;
        let mut nearest_index = 0usize;
        let mut nearest_count = 0usize;
        for (index, &codeword) in self.codewords.iter().enumerate() {
            let distance = (codeword ^ word).count_ones();
            if distance < nearest_distance {
                nearest_distance = distance;
                nearest_index = index;
                nearest_count = 1;
            } else if distance == nearest_distance {
                nearest_count += 1;
            }
        }
        let callable = u32::from(self.corrects);
        let call = (nearest_distance <= callable && nearest_count == 1).then(|| Call {
            // The constructor caps the codebook below UNASSIGNED_GENE words.
            codeword: nearest_index as u16,
            distance: nearest_distance as u8,
            blank: self.blank[nearest_index],
            confidence: self.posterior(bit_values, word, nearest_index),
        });
        Decoded {
            word,
            nearest_distance: nearest_distance as u8,
            call,
        }
    }

    /// Decodes the spot at pixel `(row, col)` of the planar bit maps
    /// (`bits[b * height * width + row * width + col]`).
    pub fn decode_at(
        &self,
        bits: &[u8],
        height: usize,
        width: usize,
        row: usize,
        col: usize,
    ) -> Result<Decoded, DecodeError> {
        Ok(self.decode(&gather_bits(bits, height, width, row, col)?))
    }

    fn posterior(&self, bit_values: &[u8; BARCODE_BITS], word: u16, called: usize) -> f32 {
        let mut odds_against_flip = [0f32; BARCODE_BITS];
        for (ratio, &v) in odds_against_flip.iter_mut().zip(bit_values) {
            let (one, zero) = (2 * u32::from(v) + 1, 511 - 2 * u32::from(v));
            *ratio = one.min(zero) as f32 / one.max(zero) as f32;
        }
        let relative_likelihood = |codeword: u16| {
            let mut differing = codeword ^ word;
            let mut product = 1f32;
            while differing != 0 {
                product *= odds_against_flip[differing.trailing_zeros() as usize];
                differing &= differing - 1;
            }
            product
        };
        let total: f32 = self.codewords.iter().map(|&c| relative_likelihood(c)).sum();
        let called_likelihood = relative_likelihood(self.codewords[called]);
        // A call is within one bit, so called_likelihood >= 1/511 and total
        // is at least that: the guard never fires, it only rules out NaN.
        if total > 0.0 {
            called_likelihood / total
        } else {
            0.0
        }
    }
}

/// A codebook to decode against, owned and checked once: for a decoder
/// that lives as long as a loaded model, where [`Decoder`] only borrows.
#[cfg(feature = "alloc")]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DecodeTable {
    codewords: Vec<u16>,
    blank: Vec<bool>,
    corrects: bool,
}

#[cfg(feature = "alloc")]
impl DecodeTable {
    /// A table of `codewords` with `blank[i]` saying whether codeword `i`
    /// is a blank; refused for the reasons [`Decoder::new`] gives.
    pub fn new(codewords: Vec<u16>, blank: Vec<bool>) -> Result<Self, DecodeError> {
        let corrects = Decoder::new(&codewords, &blank)?.corrects;
        Ok(DecodeTable {
            codewords,
            blank,
            corrects,
        })
    }

    /// A decoder over this table; free, since the table was checked.
    pub fn decoder(&self) -> Decoder<'_> {
        Decoder {
            codewords: &self.codewords,
            blank: &self.blank,
            corrects: self.corrects,
        }
    }

    /// The codewords.
    pub fn codewords(&self) -> &[u16] {
        &self.codewords
    }

    /// Whether codeword `i` is a blank, for every codeword.
    pub fn blank_flags(&self) -> &[bool] {
        &self.blank
    }

    /// Whether the table holds no codewords.
    pub fn is_empty(&self) -> bool {
        self.codewords.is_empty()
    }
}

/// The 16 bit-map values at pixel `(row, col)` of planar bit maps.
pub fn gather_bits(
    bits: &[u8],
    height: usize,
    width: usize,
    row: usize,
    col: usize,
) -> Result<[u8; BARCODE_BITS], DecodeError> {
    let plane = height.checked_mul(width);
    if plane.and_then(|p| p.checked_mul(BARCODE_BITS)) != Some(bits.len()) {
        return Err(DecodeError::BitMapsSizeMismatch {
            height,
            width,
            len: bits.len(),
        });
    }
    if row >= height || col >= width {
        return Err(DecodeError::PixelOutOfBounds {
            row,
            col,
            height,
            width,
        });
    }
    let plane = height * width;
    let offset = row * width + col;
    let mut values = [0u8; BARCODE_BITS];
    for (bit, value) in values.iter_mut().enumerate() {
        *value = bits[bit * plane + offset];
    }
    Ok(values)
}

/// The observed word: bit `i` set when `bit_values[i] >= BIT_ON`.
pub fn binarise(bit_values: &[u8; BARCODE_BITS]) -> u16 {
    bit_values.iter().enumerate().fold(0u16, |word, (bit, &v)| {
        word | (u16::from(v >= BIT_ON) << bit)
    })
}

/// Running totals of decoding outcomes; merge the counts of tiles or bands
/// with [`DecodeCounts::merge`]. They travel on the wire inside
/// [`CallQuality`](crate::protocol::CallQuality), so their fields and
/// field order are part of the protocol.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecodeCounts {
    /// Calls with distance 0.
    pub exact: u64,
    /// Calls with distance 1.
    pub corrected: u64,
    /// Calls (exact or corrected) to blank codewords.
    pub blank: u64,
    /// Spots with no call.
    pub unassigned: u64,
}

impl DecodeCounts {
    /// Counts one decoded spot.
    pub fn record(&mut self, decoded: &Decoded) {
        match decoded.call {
            None => self.unassigned += 1,
            Some(call) => {
                if call.distance == 0 {
                    self.exact += 1;
                } else {
                    self.corrected += 1;
                }
                if call.blank {
                    self.blank += 1;
                }
            }
        }
    }

    /// Adds another set of counts to this one.
    pub fn merge(&mut self, other: &DecodeCounts) {
        self.exact += other.exact;
        self.corrected += other.corrected;
        self.blank += other.blank;
        self.unassigned += other.unassigned;
    }

    /// All calls, blank or not.
    pub fn calls(&self) -> u64 {
        self.exact + self.corrected
    }

    /// Calls to coding (non-blank) codewords.
    pub fn coding_calls(&self) -> u64 {
        self.calls().saturating_sub(self.blank)
    }

    /// All decoded spots, called or not.
    pub fn spots(&self) -> u64 {
        self.calls() + self.unassigned
    }

    /// The blank misidentification rate of these calls against `decoder`'s
    /// codebook; see [`misidentification_rate`].
    pub fn misidentification_rate(&self, decoder: &Decoder<'_>) -> Option<f64> {
        misidentification_rate(
            self.blank,
            self.coding_calls(),
            decoder.blank_codewords(),
            decoder.coding_codewords(),
        )
    }
}

/// The blank misidentification rate, estimated the way MERFISH papers and
/// MERlin do: a wrong call lands on any word alike, so coding words collect
/// about as many false calls per word as blank words do. With `B` blank
/// calls on `b` blank words and `C` coding calls on `c` coding words, the
/// false coding calls are about `(B / b) * c`, and the rate is their share
/// of the coding calls (a false discovery rate):
///
/// ```text
/// rate = (B / b) * c / C
/// ```
///
/// `Some(0.0)` with no calls at all; `None` when it cannot be measured: the
/// codebook has no blank or no coding words, or blank calls came without
/// any coding call. The estimate can exceed 1 when blank calls dominate,
/// which says the decoder is guessing.
pub fn misidentification_rate(
    blank_calls: u64,
    coding_calls: u64,
    blank_codewords: usize,
    coding_codewords: usize,
) -> Option<f64> {
    if blank_codewords == 0 || coding_codewords == 0 {
        return None;
    }
    if blank_calls == 0 {
        return Some(0.0);
    }
    if coding_calls == 0 {
        return None;
    }
    Some(
        blank_calls as f64 / blank_codewords as f64 * coding_codewords as f64 / coding_calls as f64,
    )
}

#[cfg(all(test, feature = "std"))]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    /// The 140 codewords of the MHD4 code: the weight-4 words of the
    /// extended Hamming [16, 11, 4] code, in increasing order.
    pub(crate) fn mhd4_codebook() -> Vec<u16> {
        // Hamming [15, 11]: position p (1..=15) of a codeword contributes p
        // to an XOR syndrome that must be 0; bit 15 is the overall parity,
        // which weight 4 makes even already.
        let is_extended_hamming = |word: u16| {
            let syndrome = (0..15)
                .filter(|&i| word & (1 << i) != 0)
                .fold(0u32, |s, i| s ^ (i + 1));
            syndrome == 0
        };
        (0..=u16::MAX)
            .filter(|w| w.count_ones() == 4 && is_extended_hamming(*w))
            .collect()
    }

    /// Bit-map values for a word: `on` where set, `off` elsewhere.
    pub(crate) fn values_of(word: u16, on: u8, off: u8) -> [u8; BARCODE_BITS] {
        core::array::from_fn(|bit| if word & (1 << bit) != 0 { on } else { off })
    }

    #[test]
    fn mhd4_codebook_has_140_words_at_distance_at_least_4() {
        let book = mhd4_codebook();
        assert_eq!(book.len(), 140);
        for (i, a) in book.iter().enumerate() {
            assert_eq!(a.count_ones(), 4);
            for b in &book[i + 1..] {
                assert!((a ^ b).count_ones() >= 4);
            }
        }
    }

    fn decoder_with_last_blanks(book: &[u16], blank: &mut Vec<bool>, blanks: usize) {
        blank.clear();
        blank.extend((0..book.len()).map(|i| i + blanks >= book.len()));
    }

    #[test]
    fn exact_corrected_and_unassigned() {
        let book = mhd4_codebook();
        let mut blank = Vec::new();
        decoder_with_last_blanks(&book, &mut blank, 10);
        let decoder = Decoder::new(&book, &blank).unwrap();

        let exact = decoder.decode(&values_of(book[3], 230, 20));
        let call = exact.call.unwrap();
        assert_eq!((call.codeword, call.distance, call.blank), (3, 0, false));
        assert_eq!(exact.nearest_distance, 0);
        assert!(call.confidence > 0.99);

        let corrected = decoder.decode(&values_of(book[139] ^ 0b1000, 230, 20));
        let call = corrected.call.unwrap();
        assert_eq!((call.codeword, call.distance, call.blank), (139, 1, true));

        // Two flipped bits from a codeword: distance 2, never corrected.
        let word = book[0] ^ (1 << 15) ^ (1 << 14);
        let two_off = decoder.decode(&values_of(word, 230, 20));
        assert_eq!(two_off.call, None);
        assert_eq!(two_off.word, word);
        assert!(two_off.nearest_distance >= 2);
    }

    #[test]
    fn binarisation_threshold_is_128() {
        let mut values = [127u8; BARCODE_BITS];
        assert_eq!(binarise(&values), 0);
        values[5] = 128;
        assert_eq!(binarise(&values), 1 << 5);
    }

    #[test]
    fn ambiguous_nearest_word_is_unassigned() {
        // Distance 2 apart: 0b01 is distance 1 from both (and the code does
        // not correct); a word listed twice ties at distance 0.
        let book = [0b00u16, 0b11];
        let decoder = Decoder::new(&book, &[false, false]).unwrap();
        let decoded = decoder.decode(&values_of(0b01, 255, 0));
        assert_eq!((decoded.call, decoded.nearest_distance), (None, 1));
        let twice = [0b1111u16, 0b1111];
        let decoder = Decoder::new(&twice, &[false, false]).unwrap();
        let decoded = decoder.decode(&values_of(0b1111, 255, 0));
        assert_eq!((decoded.call, decoded.nearest_distance), (None, 0));
    }

    #[test]
    fn a_code_closer_than_four_is_decoded_without_correction() {
        // Weight-4 words two apart: one flipped bit is as near to others.
        let book = [0b0000_1111u16, 0b0001_1110, 0b1111_0000_0000];
        let decoder = Decoder::new(&book, &[false; 3]).unwrap();
        assert!(!decoder.corrects());
        let exact = decoder.decode(&values_of(book[1], 230, 20)).call.unwrap();
        assert_eq!((exact.codeword, exact.distance), (1, 0));
        // One bit off the third word, which no other word is near: still
        // unassigned, since correction is off for the whole code.
        let one_off = decoder.decode(&values_of(book[2] ^ 1 << 15, 230, 20));
        assert_eq!((one_off.call, one_off.nearest_distance), (None, 1));
        assert!(Decoder::new(&mhd4_codebook(), &[false; 140])
            .unwrap()
            .corrects());
        let table = DecodeTable::new(book.to_vec(), std::vec![false; 3]).unwrap();
        assert!(!table.decoder().corrects());
        assert_eq!(table.codewords(), book);
    }

    #[test]
    fn empty_codebook_leaves_everything_unassigned() {
        let decoder = Decoder::new(&[], &[]).unwrap();
        let decoded = decoder.decode(&[255; BARCODE_BITS]);
        assert_eq!((decoded.call, decoded.nearest_distance), (None, 17));
    }

    #[test]
    fn confidence_is_the_codebook_posterior() {
        // Two codewords differing only in bit 0. Bit 0 at v = 128 gives
        // probability 257/512 for a 1, so the posterior of codeword 1 is
        // 257/512 and of codeword 0 (which it is not called) 255/512.
        let book = [0b10u16, 0b11];
        let decoder = Decoder::new(&book, &[false, false]).unwrap();
        let mut values = values_of(0b10, 255, 0);
        values[0] = 128;
        let call = decoder.decode(&values).call.unwrap();
        assert_eq!(call.codeword, 1);
        assert!((call.confidence - 257.0 / 512.0).abs() < 1e-6);
    }

    #[test]
    fn confidence_drops_when_bits_are_unsure() {
        let book = mhd4_codebook();
        let blank = std::vec![false; book.len()];
        let decoder = Decoder::new(&book, &blank).unwrap();
        let sure = decoder.decode(&values_of(book[7], 250, 5)).call.unwrap();
        let unsure = decoder.decode(&values_of(book[7], 140, 115)).call.unwrap();
        assert_eq!((sure.codeword, unsure.codeword), (7, 7));
        assert!(sure.confidence > unsure.confidence);
        assert!(unsure.confidence > 0.0 && sure.confidence <= 1.0);
    }

    #[test]
    fn constructor_and_lookup_errors() {
        assert_eq!(
            Decoder::new(&[1, 2], &[false]).unwrap_err(),
            DecodeError::BlankFlagsMismatch {
                codewords: 2,
                flags: 1
            }
        );
        let decoder = Decoder::new(&[1], &[false]).unwrap();
        let maps = [0u8; 16 * 6];
        assert!(decoder.decode_at(&maps, 2, 3, 1, 2).is_ok());
        assert!(matches!(
            decoder.decode_at(&maps, 2, 3, 2, 0),
            Err(DecodeError::PixelOutOfBounds { .. })
        ));
        assert!(matches!(
            decoder.decode_at(&maps, 3, 3, 0, 0),
            Err(DecodeError::BitMapsSizeMismatch { .. })
        ));
        assert!(decoder.decode_at(&maps, usize::MAX, 3, 0, 0).is_err());
    }

    #[test]
    fn gather_reads_planar_bits() {
        let (height, width) = (2, 3);
        let maps: Vec<u8> = (0..16 * height * width).map(|i| i as u8).collect();
        let values = gather_bits(&maps, height, width, 1, 2).unwrap();
        let expected: [u8; 16] = core::array::from_fn(|b| (b * 6 + 5) as u8);
        assert_eq!(values, expected);
    }

    #[test]
    fn counts_and_misidentification_rate() {
        let book = mhd4_codebook();
        let mut blank = Vec::new();
        decoder_with_last_blanks(&book, &mut blank, 10);
        let decoder = Decoder::new(&book, &blank).unwrap();
        let mut counts = DecodeCounts::default();
        for word in [book[0], book[1] ^ 1, book[135], 0] {
            counts.record(&decoder.decode(&values_of(word, 230, 20)));
        }
        assert_eq!(
            counts,
            DecodeCounts {
                exact: 2,
                corrected: 1,
                blank: 1,
                unassigned: 1
            }
        );
        assert_eq!(
            (counts.calls(), counts.coding_calls(), counts.spots()),
            (3, 2, 4)
        );
        // 1 blank call / 10 blank words x 130 coding words / 2 coding calls.
        let rate = counts.misidentification_rate(&decoder).unwrap();
        assert!((rate - 6.5).abs() < 1e-12);
        let mut merged = counts;
        merged.merge(&counts);
        assert_eq!(merged.spots(), 8);
    }

    #[test]
    fn misidentification_rate_the_merlin_way() {
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        // 3 blank calls / 10 blank words x 130 coding words / 260 coding calls.
        assert!(close(
            misidentification_rate(3, 260, 10, 130).unwrap(),
            39.0 / 260.0
        ));
        assert_eq!(misidentification_rate(0, 0, 10, 130), Some(0.0));
        assert_eq!(misidentification_rate(0, 7, 10, 130), Some(0.0));
        assert_eq!(misidentification_rate(2, 0, 10, 130), None);
        assert!(close(
            misidentification_rate(20, 13, 10, 130).unwrap(),
            20.0
        ));
        assert_eq!(misidentification_rate(0, 5, 0, 140), None);
        assert_eq!(misidentification_rate(0, 5, 140, 0), None);
    }

    #[test]
    fn a_decode_table_is_checked_once_and_decodes_like_a_decoder() {
        let book = mhd4_codebook();
        let blank: Vec<bool> = (0..book.len()).map(|i| i >= 130).collect();
        let table = DecodeTable::new(book.clone(), blank.clone()).unwrap();
        let decoder = Decoder::new(&book, &blank).unwrap();
        let values = values_of(book[135] ^ 1, 230, 20);
        assert_eq!(table.decoder().decode(&values), decoder.decode(&values));
        assert!(!table.is_empty() && DecodeTable::default().is_empty());
        assert_eq!(
            DecodeTable::new(std::vec![1, 2], std::vec![false]),
            Err(DecodeError::BlankFlagsMismatch {
                codewords: 2,
                flags: 1
            })
        );
    }

    proptest! {
        #[test]
        fn any_single_bit_flip_decodes_to_the_codeword(
            index in 0usize..140,
            bit in 0usize..16,
            on in 128u8..=255,
            off in 0u8..128,
        ) {
            let book = mhd4_codebook();
            let blank = std::vec![false; book.len()];
            let decoder = Decoder::new(&book, &blank).unwrap();
            let decoded = decoder.decode(&values_of(book[index] ^ (1 << bit), on, off));
            let call = decoded.call.unwrap();
            prop_assert_eq!(call.codeword as usize, index);
            prop_assert_eq!(call.distance, 1);
            prop_assert!(call.confidence > 0.0 && call.confidence <= 1.0);
        }

        #[test]
        fn decoding_never_panics_and_confidence_is_a_probability(
            values in proptest::array::uniform16(any::<u8>()),
        ) {
            let book = mhd4_codebook();
            let blank = std::vec![false; book.len()];
            let decoder = Decoder::new(&book, &blank).unwrap();
            let decoded = decoder.decode(&values);
            if let Some(call) = decoded.call {
                prop_assert!(call.distance <= 1);
                prop_assert!((0.0..=1.0).contains(&call.confidence));
                prop_assert_eq!(
                    (book[call.codeword as usize] ^ decoded.word).count_ones(),
                    u32::from(call.distance)
                );
            } else {
                prop_assert!(decoded.nearest_distance >= 2);
            }
        }
    }
}
