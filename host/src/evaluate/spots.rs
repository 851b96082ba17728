//! Spots of one tile as the device sees them: peaks of the u8 position map
//! decoded against a codebook with the shared post-processing, and the
//! ground truth in the same coordinates.

use anyhow::{Context, Result};
use robofish_shared::codebook::{Codebook, CodebookEntry as TableEntry};
use robofish_shared::model::CodebookEntry;
use robofish_shared::post::metrics::{PredictedSpot, TruthSpot};
use robofish_shared::post::{find_spots, Decoded, Decoder, Peak};

pub use robofish_shared::post::{MATCH_RADIUS, SPOT_THRESHOLD};

use crate::sim::Tile;

/// A codebook to decode against, owned (a [`Decoder`] only borrows one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeBook {
    codewords: Vec<u16>,
    blank: Vec<bool>,
    /// Where it came from, for reports.
    pub source: String,
}

impl DecodeBook {
    /// The words and blank flags of a dataset or simulator codebook.
    pub fn from_codebook(codebook: &Codebook, source: impl Into<String>) -> DecodeBook {
        DecodeBook {
            codewords: codebook.words(),
            blank: codebook.blank_flags(),
            source: source.into(),
        }
    }

    /// The codebook stored in a model file. Blanks are marked by the same
    /// rule as everywhere else ([`Codebook::is_blank`]: the name starts
    /// with "blank"), so eval and the device count the same calls as blank.
    pub fn from_model(entries: &[CodebookEntry], source: impl Into<String>) -> Result<DecodeBook> {
        let table = entries
            .iter()
            .map(|e| TableEntry {
                name: e.name.clone(),
                id: e.name.clone(),
                word: e.word,
            })
            .collect();
        let codebook = Codebook::from_entries(table).context("the model's codebook is unusable")?;
        Ok(DecodeBook::from_codebook(&codebook, source))
    }

    /// A decoder over these words.
    pub fn decoder(&self) -> Result<Decoder<'_>> {
        Decoder::new(&self.codewords, &self.blank).context("cannot decode with this codebook")
    }

    /// Index of `word` among the codewords, as gene calls report it.
    pub fn index_of_word(&self, word: u16) -> Option<u16> {
        let index = self.codewords.iter().position(|&w| w == word)?;
        u16::try_from(index).ok()
    }

    /// Whether both hold the same words in the same order (so gene indices
    /// mean the same thing).
    pub fn same_words(&self, other: &DecodeBook) -> bool {
        self.codewords == other.codewords
    }

    /// The codewords.
    pub fn codewords(&self) -> &[u16] {
        &self.codewords
    }
}

/// One detected spot: a peak of the position map and, with a codebook, its
/// decoded barcode.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Detection {
    /// The peak (pixel, sub-pixel offsets, u8 score).
    pub peak: Peak,
    /// The decoding, when a codebook was given.
    pub decoded: Option<Decoded>,
}

impl Detection {
    /// The spot for matching: its gene is the called codeword's index.
    pub fn predicted_spot(&self) -> PredictedSpot {
        let call = self.decoded.and_then(|d| d.call);
        PredictedSpot {
            y: self.peak.y(),
            x: self.peak.x(),
            gene: call.map(|c| c.codeword),
            blank: call.is_some_and(|c| c.blank),
        }
    }
}

/// Peaks of `position` at or above [`SPOT_THRESHOLD`] (the device's
/// threshold), each decoded from the 16 planar bit maps `barcode` when a
/// decoder is given: the same shared functions the device runs.
pub fn detect_spots(
    position: &[u8],
    barcode: &[u8],
    height: usize,
    width: usize,
    decoder: Option<&Decoder<'_>>,
) -> Result<Vec<Detection>> {
    let mut peaks = Vec::new();
    find_spots(position, height, width, SPOT_THRESHOLD, |peak| {
        peaks.push(peak)
    })
    .context("cannot find peaks in the position map")?;
    peaks
        .into_iter()
        .map(|peak| {
            let decoded = decoder
                .map(|d| d.decode_at(barcode, height, width, peak.row.into(), peak.col.into()))
                .transpose()
                .context("cannot decode a spot")?;
            Ok(Detection { peak, decoded })
        })
        .collect()
}

/// The tile's emitters in post-processing coordinates (the simulator puts
/// pixel centres at `row + 0.5`, post-processing at integers), each with
/// its gene as an index into `book` found by barcode word: truth and calls
/// then agree on what a gene is even when the model's codebook lists the
/// genes in another order than the data's. Without a codebook, or for a
/// word it lacks, the gene is unknown and no call can match it.
pub fn truth_spots(tile: &Tile, book: Option<&DecodeBook>) -> Vec<TruthSpot> {
    tile.truth
        .iter()
        .map(|e| TruthSpot {
            y: e.y - 0.5,
            x: e.x - 0.5,
            gene: book.and_then(|b| b.index_of_word(e.word)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::Emitter;

    #[test]
    fn model_codebook_marks_blanks_like_the_dataset_codebook() {
        let codebook = Codebook::mhd4(130);
        let entries = robofish_shared::model::codebook_entries(&codebook);
        let from_model = DecodeBook::from_model(&entries, "model").unwrap();
        let from_data = DecodeBook::from_codebook(&codebook, "data");
        assert!(from_model.same_words(&from_data));
        assert_eq!(from_model.blank, from_data.blank);
        assert_eq!(from_data.blank.iter().filter(|&&b| b).count(), 10);
        assert!(DecodeBook::from_model(&[], "empty").is_err());
    }

    #[test]
    fn truth_moves_to_integer_pixel_centres_and_finds_genes_by_word() {
        let book = DecodeBook::from_codebook(&Codebook::mhd4(130), "data");
        let word = book.codewords()[7];
        let emitter = |word| Emitter {
            y: 3.5,
            x: 1.25,
            gene: 0,
            word,
            brightness: 1.0,
        };
        let tile = Tile {
            height: 8,
            width: 8,
            images: vec![0; 16 * 64],
            truth: vec![emitter(word), emitter(0xffff)],
        };
        let spots = truth_spots(&tile, Some(&book));
        assert_eq!(
            (spots[0].y, spots[0].x, spots[0].gene),
            (3.0, 0.75, Some(7))
        );
        assert_eq!(spots[1].gene, None, "a word outside the codebook");
        assert_eq!(truth_spots(&tile, None)[0].gene, None);
    }
}
