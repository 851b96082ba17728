//! What a list of barcode words is as a code: how many words of each
//! weight, its minimum Hamming distance, and what that means for decoding.
//!
//! MERFISH decoding assumes an MHD4 code (every word of weight 4, any two
//! at distance 4 or more). A real experiment's codebook may be another
//! code; it is still decoded, but one-bit error correction is only
//! trusted at [`CORRECTING_DISTANCE`], and the user hears what differs
//! through [`CodeProfile::warnings`].

use core::fmt;

use super::BARCODE_BITS;

/// The minimum Hamming distance at which one-bit error correction is used:
/// at distance 4 a corrected word can never be confused with another, and
/// a two-bit error is detected rather than miscorrected. Below it,
/// decoding calls exact matches only.
pub const CORRECTING_DISTANCE: u32 = 4;

/// The MERFISH word weight (bits on per word) that codebooks are expected
/// to use: it balances brightness across words.
pub const MERFISH_WEIGHT: u32 = 4;

/// Most words a 16-bit code of minimum distance 4 can hold: the extended
/// Hamming code \[16, 11, 4\] has 2^11 and none is larger, so any longer
/// list has a pair closer than 4.
const LARGEST_DISTANCE_4_CODE: usize = 2048;

/// Smallest Hamming distance between two entries of `words` (0 when a word
/// repeats), `None` with fewer than two words.
///
/// Up to 2048 words every pair is compared (at most about two million
/// comparisons); longer lists must have a pair within distance 3, found by
/// looking up each word's few hundred neighbours in a 64 Kibit table
/// instead, so no list is slow.
pub fn min_distance(words: &[u16]) -> Option<u32> {
    if words.len() < 2 {
        return None;
    }
    if words.len() > LARGEST_DISTANCE_4_CODE {
        return Some(close_min_distance(words));
    }
    let mut best = u32::MAX;
    for (i, &a) in words.iter().enumerate() {
        for &b in &words[i + 1..] {
            best = best.min((a ^ b).count_ones());
        }
        if best == 0 {
            break;
        }
    }
    Some(best)
}

/// Whether decoding against `words` may correct one-bit errors: its
/// minimum distance is at least [`CORRECTING_DISTANCE`] (or it has fewer
/// than two words). Stops at the first pair that is too close.
pub fn corrects_single_errors(words: &[u16]) -> bool {
    if words.len() > LARGEST_DISTANCE_4_CODE {
        return false;
    }
    words.iter().enumerate().all(|(i, &a)| {
        words[i + 1..]
            .iter()
            .all(|&b| (a ^ b).count_ones() >= CORRECTING_DISTANCE)
    })
}

/// The minimum distance of a list that has a pair within distance 3.
fn close_min_distance(words: &[u16]) -> u32 {
    let mut present = [0u64; 1 << 10];
    let has =
        |table: &[u64; 1 << 10], word: u16| table[usize::from(word >> 6)] & (1 << (word & 63)) != 0;
    for &word in words {
        if has(&present, word) {
            return 0;
        }
        present[usize::from(word >> 6)] |= 1 << (word & 63);
    }
    (1..CORRECTING_DISTANCE)
        .find(|&distance| {
            words
                .iter()
                .any(|&word| flip_masks(distance).any(|mask| has(&present, word ^ mask)))
        })
        // Unreachable: a list this long has a pair within distance 3.
        .unwrap_or(CORRECTING_DISTANCE)
}

/// Every 16-bit mask with `weight` bits set, ascending (Gosper's hack).
fn flip_masks(weight: u32) -> impl Iterator<Item = u16> {
    let first = (1u32 << weight) - 1;
    core::iter::successors(Some(first), |&mask| {
        let low = mask & mask.wrapping_neg();
        let ripple = mask + low;
        Some((((ripple ^ mask) >> 2) / low) | ripple)
    })
    .take_while(|&mask| mask < 1 << BARCODE_BITS)
    .map(|mask| mask as u16)
}

/// A codebook's shape as a code: sizes, weights and minimum distance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodeProfile {
    words: usize,
    blank_words: usize,
    weights: [u32; BARCODE_BITS + 1],
    min_distance: Option<u32>,
}

impl CodeProfile {
    /// The profile of `words`, of which `blank_words` are blank controls.
    pub fn of(words: &[u16], blank_words: usize) -> CodeProfile {
        let mut weights = [0u32; BARCODE_BITS + 1];
        for word in words {
            weights[word.count_ones() as usize] += 1;
        }
        CodeProfile {
            words: words.len(),
            blank_words: blank_words.min(words.len()),
            weights,
            min_distance: min_distance(words),
        }
    }

    /// Number of words.
    pub fn words(&self) -> usize {
        self.words
    }

    /// Number of blank words.
    pub fn blank_words(&self) -> usize {
        self.blank_words
    }

    /// Number of coding (non-blank) words.
    pub fn coding_words(&self) -> usize {
        self.words - self.blank_words
    }

    /// How many words have `weight` bits on (0 for `weight > 16`).
    pub fn weight_count(&self, weight: u32) -> u32 {
        self.weights.get(weight as usize).copied().unwrap_or(0)
    }

    /// The minimum Hamming distance, `None` with fewer than two words.
    pub fn min_distance(&self) -> Option<u32> {
        self.min_distance
    }

    /// Whether decoding corrects one-bit errors
    /// ([`corrects_single_errors`]).
    pub fn corrects(&self) -> bool {
        self.min_distance
            .is_none_or(|distance| distance >= CORRECTING_DISTANCE)
    }

    /// Everything about the code a user should hear before decoding with
    /// it; nothing for an MHD4 codebook with blanks.
    pub fn warnings(&self) -> impl Iterator<Item = CodeWarning> + '_ {
        let off_weight = self.weight_count(MERFISH_WEIGHT) as usize != self.words;
        [
            (self.weights[0] > 0).then_some(CodeWarning::ZeroWord),
            off_weight.then_some(CodeWarning::Weights {
                weights: self.weights,
            }),
            self.min_distance
                .filter(|&distance| distance < CORRECTING_DISTANCE)
                .map(|distance| CodeWarning::LowDistance { distance }),
            (self.words > 0 && self.blank_words == 0).then_some(CodeWarning::NoBlanks),
            (self.words > 0 && self.coding_words() == 0).then_some(CodeWarning::NoCodingWords),
        ]
        .into_iter()
        .flatten()
    }
}

/// Something about a codebook that makes decoding against it weaker or
/// meaningless; [`Display`](fmt::Display) says what and what follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodeWarning {
    /// A word has no bit on: it matches every spot whose bits are all off.
    ZeroWord,
    /// Not every word has weight [`MERFISH_WEIGHT`].
    Weights {
        /// Words per weight, index = weight.
        weights: [u32; BARCODE_BITS + 1],
    },
    /// The minimum distance is below [`CORRECTING_DISTANCE`]: error
    /// correction is off.
    LowDistance {
        /// The minimum distance.
        distance: u32,
    },
    /// No blank words: the misidentification rate cannot be estimated.
    NoBlanks,
    /// Only blank words: no gene can be called.
    NoCodingWords,
}

impl fmt::Display for CodeWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodeWarning::ZeroWord => f.write_str(
                "a word has no bit on: it is called for every spot whose bits are all off, \
                 so its calls mean nothing",
            ),
            CodeWarning::Weights { weights } => {
                f.write_str("words are not all of weight 4 (")?;
                let mut first = true;
                for (weight, &count) in weights.iter().enumerate().filter(|(_, &c)| c > 0) {
                    let separator = if first { "" } else { ", " };
                    write!(f, "{separator}{count} of weight {weight}")?;
                    first = false;
                }
                f.write_str(
                    "); they are decoded as given, but a MERFISH code keeps one weight \
                     so that every word is about as bright",
                )
            }
            CodeWarning::LowDistance { distance } => write!(
                f,
                "minimum Hamming distance is {distance}, below {CORRECTING_DISTANCE}: \
                 one-bit error correction is off, only exact matches are called"
            ),
            CodeWarning::NoBlanks => f.write_str(
                "no blank words (names starting with \"Blank\"): \
                 the misidentification rate cannot be estimated",
            ),
            CodeWarning::NoCodingWords => {
                f.write_str("every word is a blank: no gene can be called")
            }
        }
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use crate::codebook::mhd4_words;
    use std::vec::Vec;

    fn brute_min_distance(words: &[u16]) -> Option<u32> {
        let pairs = (0..words.len()).flat_map(|i| (i + 1..words.len()).map(move |j| (i, j)));
        pairs.map(|(i, j)| (words[i] ^ words[j]).count_ones()).min()
    }

    #[test]
    fn flip_masks_are_every_mask_of_that_weight() {
        for weight in 1..=3 {
            let masks: Vec<u16> = flip_masks(weight).collect();
            let want: Vec<u16> = (1..=u16::MAX)
                .filter(|m| m.count_ones() == weight)
                .collect();
            assert_eq!(masks, want, "weight {weight}");
        }
    }

    #[test]
    fn min_distance_of_short_and_long_lists() {
        assert_eq!(min_distance(&[]), None);
        assert_eq!(min_distance(&[5]), None);
        assert_eq!(min_distance(&mhd4_words()), Some(4));
        assert_eq!(min_distance(&[0b1111, 0b1111_0000, 0b1111]), Some(0));
        // Every weight-4 word: neighbours at distance 2.
        let weight4: Vec<u16> = (0..=u16::MAX).filter(|w| w.count_ones() == 4).collect();
        assert_eq!(weight4.len(), 1820);
        assert_eq!(min_distance(&weight4), Some(2));
        // Past 2048 words the table search runs; it agrees with brute force.
        for (count, step) in [(2049usize, 31u16), (3000, 21), (5000, 13)] {
            let words: Vec<u16> = (0..count as u16)
                .map(|i| i.wrapping_mul(step) ^ 0x5A5A)
                .collect();
            assert_eq!(min_distance(&words), brute_min_distance(&words), "{count}");
        }
        let mut long: Vec<u16> = (0..3000).map(|i| i * 7).collect();
        long.push(14);
        assert_eq!(min_distance(&long), Some(0));
    }

    #[test]
    fn correction_needs_distance_four() {
        assert!(corrects_single_errors(&mhd4_words()));
        assert!(corrects_single_errors(&[]));
        assert!(corrects_single_errors(&[1]));
        assert!(!corrects_single_errors(&[0b0111, 0b1110]));
        assert!(!corrects_single_errors(&(0..3000).collect::<Vec<u16>>()));
    }

    #[test]
    fn an_mhd4_codebook_with_blanks_raises_no_warning() {
        let profile = CodeProfile::of(&mhd4_words(), 10);
        assert_eq!(profile.warnings().count(), 0);
        assert!(profile.corrects());
        assert_eq!((profile.words(), profile.coding_words()), (140, 130));
        assert_eq!(profile.weight_count(4), 140);
        assert_eq!(profile.weight_count(99), 0);
    }

    #[test]
    fn odd_codes_are_summarised() {
        let words = [0b1111, 0b111_1111_0000, 0, 0b1011_0000_0000_0000];
        let profile = CodeProfile::of(&words, 0);
        let warnings: Vec<CodeWarning> = profile.warnings().collect();
        assert_eq!(warnings.len(), 4, "{warnings:?}");
        assert_eq!(warnings[0], CodeWarning::ZeroWord);
        let text = std::format!("{}", warnings[1]);
        assert!(
            text.contains("1 of weight 0, 1 of weight 3, 1 of weight 4, 1 of weight 7"),
            "{text}"
        );
        assert_eq!(warnings[2], CodeWarning::LowDistance { distance: 3 });
        assert!(std::format!("{}", warnings[2]).contains("correction is off"));
        assert_eq!(warnings[3], CodeWarning::NoBlanks);
        assert!(!profile.corrects());
        let all_blank = CodeProfile::of(&mhd4_words()[..3], 3);
        assert_eq!(
            all_blank.warnings().collect::<Vec<_>>(),
            [CodeWarning::NoCodingWords]
        );
    }
}
