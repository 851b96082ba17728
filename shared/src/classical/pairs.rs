//! Two molecules closer than the peak radius: their bits meet at one
//! pixel, and the observed word is the union of two codewords, which no
//! single codeword is within one bit of.
//!
//! Bits alone cannot split such a word: two disjoint MHD4 codewords make a
//! weight-8 codeword of the extended Hamming code, whose support holds
//! seven pairs of codewords. The bits' peak positions can: each molecule's
//! bits peak at its own position. Among the pairs of codewords whose union
//! is within one bit of the observed word, the one whose two groups of bit
//! peaks are tightest is taken, if clearly tighter than the runner-up, and
//! its brighter member is called as if the other's bits were off. The
//! other is found in the next round, once this one is subtracted.

use alloc::vec::Vec;

use crate::post::BARCODE_BITS;

/// Largest mean squared distance (px^2) of a codeword's bit peaks from
/// their centre for the group to be one molecule.
const MAX_SPREAD: f32 = 0.5;

/// The best split must be this much tighter than the runner-up.
const CLEAR_MARGIN: f32 = 0.5;

/// The codeword (index) to call from the observed `word`, given each bit's
/// value and peak position (`None` without a peak), and the bits of the
/// partner molecule to treat as off; `None` when no pair explains the
/// word clearly.
pub(crate) fn split(
    word: u16,
    values: &[f32; BARCODE_BITS],
    positions: &[Option<(f32, f32)>; BARCODE_BITS],
    codewords: &[u16],
) -> Option<(usize, u16)> {
    if word.count_ones() < 6 {
        return None;
    }
    let members: Vec<usize> = (0..codewords.len())
        .filter(|&i| (codewords[i] & word).count_ones() >= 3)
        .collect();
    let (mut best, mut runner_up) = (None::<(f32, usize, usize)>, f32::INFINITY);
    for (k, &a) in members.iter().enumerate() {
        for &b in &members[k + 1..] {
            if (word ^ (codewords[a] | codewords[b])).count_ones() > 1 {
                continue;
            }
            let (Some(sa), Some(sb)) = (
                spread(codewords[a] & word, positions),
                spread(codewords[b] & word, positions),
            ) else {
                continue;
            };
            let cost = sa.max(sb);
            match best {
                Some((c, ..)) if cost >= c => runner_up = runner_up.min(cost),
                _ => {
                    if let Some((c, ..)) = best {
                        runner_up = runner_up.min(c);
                    }
                    best = Some((cost, a, b));
                }
            }
        }
    }
    let (cost, a, b) = best?;
    if !(cost <= MAX_SPREAD && cost < CLEAR_MARGIN * runner_up) {
        return None;
    }
    let brightness = |i: usize| -> f32 {
        let bits = codewords[i] & word;
        (0..BARCODE_BITS)
            .filter(|&bit| bits & (1 << bit) != 0)
            .map(|bit| values[bit])
            .sum::<f32>()
            / bits.count_ones() as f32
    };
    let (called, partner) = if brightness(a) >= brightness(b) {
        (a, b)
    } else {
        (b, a)
    };
    Some((called, codewords[partner] & !codewords[called]))
}

/// Mean squared distance of the peaks of `bits` from their centre; `None`
/// when fewer than three have a peak.
fn spread(bits: u16, positions: &[Option<(f32, f32)>; BARCODE_BITS]) -> Option<f32> {
    let points: Vec<(f32, f32)> = (0..BARCODE_BITS)
        .filter(|&b| bits & (1 << b) != 0)
        .filter_map(|b| positions[b])
        .collect();
    if points.len() < 3 {
        return None;
    }
    let n = points.len() as f32;
    let (cy, cx) = points
        .iter()
        .fold((0.0, 0.0), |(sy, sx), &(y, x)| (sy + y, sx + x));
    let (cy, cx) = (cy / n, cx / n);
    Some(
        points
            .iter()
            .map(|&(y, x)| (y - cy) * (y - cy) + (x - cx) * (x - cx))
            .sum::<f32>()
            / n,
    )
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use crate::codebook::mhd4_words;

    #[test]
    fn two_disjoint_molecules_split_by_their_peak_positions() {
        let words = mhd4_words();
        let a = 0;
        let b = (1..words.len())
            .find(|&i| words[i] & words[a] == 0)
            .unwrap();
        let word = words[a] | words[b];
        let mut values = [0.0f32; BARCODE_BITS];
        let mut positions = [None; BARCODE_BITS];
        for bit in 0..BARCODE_BITS {
            if words[a] & (1 << bit) != 0 {
                values[bit] = 20.0;
                positions[bit] = Some((10.0, 10.0 + 0.05 * bit as f32));
            } else if words[b] & (1 << bit) != 0 {
                values[bit] = 12.0;
                positions[bit] = Some((11.0, 11.0));
            }
        }
        assert_eq!(
            split(word, &values, &positions, &words),
            Some((a, words[b]))
        );
        // One place for all eight bits: nothing tells the seven splits apart.
        let together = positions.map(|p| p.map(|_| (10.0, 10.0)));
        assert_eq!(split(word, &values, &together, &words), None);
        assert_eq!(split(words[a], &values, &positions, &words), None);
    }
}
