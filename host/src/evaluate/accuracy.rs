//! Accuracy of one model over a split: the original's pixel metrics plus
//! spot detection, localisation, gene calls and the blank
//! misidentification rate, all from the shared post-processing.

use anyhow::{Context, Result};
use robofish_shared::post::metrics::{evaluate_spots, SpotEvaluation};
use robofish_shared::post::DecodeCounts;
use serde::Serialize;

use super::maps::ProbabilityMaps;
use super::spots::{detect_spots, truth_spots, DecodeBook, Detection, MATCH_RADIUS};
use crate::sim::Tile;
use crate::targets::{PixelScores, PixelSummary};

/// Running totals over tiles.
#[derive(Clone, Debug, Default)]
pub struct AccuracyTally {
    pixels: PixelScores,
    spots: SpotEvaluation,
    decoding: DecodeCounts,
    tiles: usize,
    truth_spots: u64,
    detected_spots: u64,
}

/// The numbers of one model on one split.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AccuracySummary {
    /// The original's four pixel metrics (per-tile means).
    pub pixels: PixelSummary,
    /// Detected spots matched to truth within [`MATCH_RADIUS`] / detected.
    pub spot_precision: f64,
    /// Matched / truth spots.
    pub spot_recall: f64,
    /// Harmonic mean of the two (pooled over tiles).
    pub spot_f1: f64,
    /// RMSE of matched spot positions in pixels; `None` with no match.
    pub rmse: Option<f64>,
    /// F1 where a detection counts only when its decoded gene equals the
    /// truth's gene; `None` without a codebook.
    pub gene_f1: Option<f64>,
    /// Blank misidentification rate of the calls; `None` without a codebook
    /// or when it has no blank (or no coding) words.
    pub misid_rate: Option<f64>,
    /// Tiles evaluated.
    pub tiles: usize,
    /// Ground-truth emitters.
    pub truth_spots: u64,
    /// Detected spots.
    pub detected_spots: u64,
    /// Decoding outcomes of the detected spots.
    pub decoding: DecodeCounts,
}

impl AccuracyTally {
    /// Adds one tile's maps; returns its detections (for plots).
    pub fn add(
        &mut self,
        tile: &Tile,
        maps: &ProbabilityMaps,
        book: Option<&DecodeBook>,
    ) -> Result<Vec<Detection>> {
        self.pixels.add(tile, &maps.position, &maps.barcode);
        let (position, barcode) = maps.to_u8();
        let decoder = book.map(DecodeBook::decoder).transpose()?;
        let detections = detect_spots(
            &position,
            &barcode,
            maps.height,
            maps.width,
            decoder.as_ref(),
        )?;
        for decoded in detections.iter().filter_map(|d| d.decoded.as_ref()) {
            self.decoding.record(decoded);
        }
        let predicted: Vec<_> = detections.iter().map(Detection::predicted_spot).collect();
        let truth = truth_spots(tile, book);
        let tile_counts = evaluate_spots(&truth, &predicted, MATCH_RADIUS)
            .context("cannot match spots to the ground truth")?;
        self.spots.merge(&tile_counts);
        self.tiles += 1;
        self.truth_spots += truth.len() as u64;
        self.detected_spots += predicted.len() as u64;
        Ok(detections)
    }

    /// The summary; `book` must be the codebook the tiles were added with.
    pub fn summary(&self, book: Option<&DecodeBook>) -> Result<AccuracySummary> {
        let detection = &self.spots.detection;
        let (gene_f1, misid_rate) = match book {
            Some(book) => (
                Some(self.spots.genes.f1()),
                self.decoding.misidentification_rate(&book.decoder()?),
            ),
            None => (None, None),
        };
        Ok(AccuracySummary {
            pixels: self.pixels.summary(),
            spot_precision: detection.precision(),
            spot_recall: detection.recall(),
            spot_f1: detection.f1(),
            rmse: self.spots.localisation.rmse(),
            gene_f1,
            misid_rate,
            tiles: self.tiles,
            truth_spots: self.truth_spots,
            detected_spots: self.detected_spots,
            decoding: self.decoding,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::Emitter;
    use robofish_shared::codebook::Codebook;

    const H: usize = 10;
    const W: usize = 10;

    /// Paints a peak at pixel `(row, col)` with `score`, and the bits of
    /// `word` there at probability 0.95 (0.05 for the off bits).
    fn paint(
        position: &mut [f32],
        barcode: &mut [f32],
        row: usize,
        col: usize,
        score: f32,
        word: u16,
    ) {
        position[row * W + col] = score;
        for bit in 0..16 {
            barcode[bit * H * W + row * W + col] = if word >> bit & 1 == 1 { 0.95 } else { 0.05 };
        }
    }

    fn emitter(row: usize, col: usize, word: u16) -> Emitter {
        // Simulator coordinates: pixel centres at row + 0.5.
        Emitter {
            y: row as f32 + 0.5,
            x: col as f32 + 0.5,
            gene: 0,
            word,
            brightness: 1.0,
        }
    }

    /// Three detections against three emitters, worked out by hand:
    ///
    /// - A at (2, 2): gene g0, on an emitter of g0: a detection and a gene hit.
    /// - B at (6, 6): g1 with one bit flipped (a corrected call), on an
    ///   emitter of g2: a detection hit, a gene miss.
    /// - C at (2, 7): a blank word, on no emitter: a false detection.
    /// - An emitter at (8, 1) has no detection.
    ///
    /// Detection: TP 2, FP 1, FN 1 -> F1 = 4 / 6. Genes: the three calls are
    /// considered, only A matches -> TP 1, FP 2, FN 2 -> F1 = 2 / 6.
    /// Misidentification: 1 blank and 2 coding calls with 10 blank and 130
    /// coding words -> 1 / 10 * 130 / 2.
    #[test]
    fn hand_made_tile_gives_the_worked_out_numbers() {
        let codebook = Codebook::mhd4(130);
        let book = DecodeBook::from_codebook(&codebook, "test");
        let genes = codebook.real_indices();
        let blank = (0..codebook.len()).find(|&i| codebook.is_blank(i)).unwrap();
        let word = |i: usize| codebook.word(i).unwrap();
        let (g0, g1, g2) = (word(genes[0]), word(genes[1]), word(genes[2]));
        let one_bit_off = g1 ^ (1 << g1.trailing_zeros());

        let mut position = vec![0.0f32; H * W];
        let mut barcode = vec![0.0f32; 16 * H * W];
        paint(&mut position, &mut barcode, 2, 2, 0.95, g0);
        paint(&mut position, &mut barcode, 6, 6, 0.7, one_bit_off);
        paint(&mut position, &mut barcode, 2, 7, 0.55, word(blank));
        let tile = Tile {
            height: H,
            width: W,
            images: vec![0; 16 * H * W],
            truth: vec![emitter(2, 2, g0), emitter(6, 6, g2), emitter(8, 1, g0)],
        };
        let maps = ProbabilityMaps::new(H, W, position, barcode).unwrap();

        let mut tally = AccuracyTally::default();
        let detections = tally.add(&tile, &maps, Some(&book)).unwrap();
        assert_eq!(detections.len(), 3);
        let s = tally.summary(Some(&book)).unwrap();
        assert!((s.spot_f1 - 4.0 / 6.0).abs() < 1e-12, "{s:?}");
        assert!((s.gene_f1.unwrap() - 2.0 / 6.0).abs() < 1e-12, "{s:?}");
        assert!((s.misid_rate.unwrap() - 6.5).abs() < 1e-12, "{s:?}");
        // Single-pixel peaks sit exactly on their pixel centres.
        assert_eq!(s.rmse, Some(0.0));
        assert_eq!(
            (s.decoding.exact, s.decoding.corrected, s.decoding.blank),
            (2, 1, 1)
        );
        assert_eq!((s.truth_spots, s.detected_spots, s.tiles), (3, 3, 1));
        // Pixel metrics: 2 of 3 emitter pixels above 0.5 (C's pixel is a
        // false positive) -> recall 2/3, Jaccard 2/4.
        assert!((s.pixels.position_recall - 2.0 / 3.0).abs() < 1e-12);
        assert!((s.pixels.position_jaccard - 0.5).abs() < 1e-12);

        let mut no_codebook = AccuracyTally::default();
        no_codebook.add(&tile, &maps, None).unwrap();
        let s = no_codebook.summary(None).unwrap();
        assert_eq!((s.gene_f1, s.misid_rate), (None, None));
        assert!((s.spot_f1 - 4.0 / 6.0).abs() < 1e-12);
    }
}
