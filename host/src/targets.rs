//! Training and evaluation targets from ground truth, and the original's
//! pixel metrics on float probability maps.
//!
//! Position map: 1 at each emitter's pixel `(floor(y), floor(x))`. Barcode
//! maps: bit `b` set at the emitter's pixel when its word has bit `b` on
//! (output channel `b` = barcode bit `b`; which image carries the bit is
//! the dataset's [`BitOrder`](crate::sim::BitOrder)). The original also set
//! bit 0 for every emitter; that bug is not reproduced.

use robofish_shared::codebook::BARCODE_BITS;
use robofish_shared::post::metrics::{
    PixelCounts, PixelMetrics, BIT_PIXEL_THRESHOLD, POSITION_PIXEL_THRESHOLD,
};
use serde::Serialize;

use crate::sim::Tile;

/// The position (`[H][W]`) and barcode (`[16][H][W]`) truth maps, 0 or 1.
pub fn truth_maps(tile: &Tile) -> (Vec<u8>, Vec<u8>) {
    let plane = tile.height * tile.width;
    let mut position = vec![0u8; plane];
    let mut barcode = vec![0u8; BARCODE_BITS * plane];
    for emitter in &tile.truth {
        let (y, x) = emitter.pixel();
        if y >= tile.height || x >= tile.width {
            continue;
        }
        let p = y * tile.width + x;
        position[p] = 1;
        for bit in 0..BARCODE_BITS {
            if emitter.word & (1 << bit) != 0 {
                barcode[bit * plane + p] = 1;
            }
        }
    }
    (position, barcode)
}

/// Counts of `predicted > threshold` against a 0/1 truth map, on float
/// probabilities (exact at the threshold, unlike a u8 map).
pub fn pixel_counts(predicted: &[f32], truth: &[u8], threshold: f32) -> PixelCounts {
    let mut counts = PixelCounts::default();
    for (&p, &t) in predicted.iter().zip(truth) {
        let (p, t) = (p > threshold, t != 0);
        counts.intersection += u64::from(p && t);
        counts.predicted += u64::from(p);
        counts.truth += u64::from(t);
    }
    counts
}

/// The original's pixel metrics, accumulated over tiles.
#[derive(Clone, Copy, Debug, Default)]
pub struct PixelScores {
    /// Position map at 0.5.
    pub position: PixelMetrics,
    /// The 16 bit maps together at 0.9.
    pub barcode: PixelMetrics,
}

/// Per-tile means of the original's four numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct PixelSummary {
    /// Position recall ("accuracy") at 0.5.
    pub position_recall: f64,
    /// Position Jaccard at 0.5.
    pub position_jaccard: f64,
    /// Barcode recall at 0.9.
    pub barcode_recall: f64,
    /// Barcode Jaccard at 0.9.
    pub barcode_jaccard: f64,
}

impl PixelScores {
    /// Adds one tile: planar probability maps `[H][W]` and `[16][H][W]`.
    pub fn add(&mut self, tile: &Tile, position: &[f32], barcode: &[f32]) {
        let (pos_truth, bc_truth) = truth_maps(tile);
        self.position.add_counts(&pixel_counts(
            position,
            &pos_truth,
            POSITION_PIXEL_THRESHOLD,
        ));
        self.barcode
            .add_counts(&pixel_counts(barcode, &bc_truth, BIT_PIXEL_THRESHOLD));
    }

    /// The four numbers.
    pub fn summary(&self) -> PixelSummary {
        PixelSummary {
            position_recall: self.position.recall(),
            position_jaccard: self.position.jaccard(),
            barcode_recall: self.barcode.recall(),
            barcode_jaccard: self.barcode.jaccard(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::Emitter;

    #[test]
    fn maps_mark_emitter_pixels_and_bits() {
        let tile = Tile {
            height: 4,
            width: 5,
            images: vec![0; 16 * 20],
            truth: vec![Emitter {
                y: 2.7,
                x: 1.2,
                gene: 0,
                word: 0b1000_0000_0000_0110,
                brightness: 1.0,
            }],
        };
        let (pos, bc) = truth_maps(&tile);
        assert_eq!(pos.iter().map(|&v| v as usize).sum::<usize>(), 1);
        assert_eq!(pos[2 * 5 + 1], 1);
        let set: Vec<usize> = (0..16).filter(|b| bc[b * 20 + 11] == 1).collect();
        assert_eq!(set, vec![1, 2, 15]);
        assert_eq!(bc.iter().map(|&v| v as usize).sum::<usize>(), 3);
        let mut scores = PixelScores::default();
        let probs: Vec<f32> = pos.iter().map(|&v| v as f32).collect();
        let bprobs: Vec<f32> = bc.iter().map(|&v| v as f32 * 0.95).collect();
        scores.add(&tile, &probs, &bprobs);
        let s = scores.summary();
        assert_eq!(s.position_recall, 1.0);
        assert_eq!(s.barcode_jaccard, 1.0);
    }
}
