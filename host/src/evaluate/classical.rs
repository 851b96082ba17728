//! The classical decoder ([`robofish_shared::classical`]) as an `eval`
//! method: no model, the same tiles, the same truth, the same one-to-one
//! matching within [`MATCH_RADIUS`] and the same gene and misidentification
//! metrics as the networks, in a row of the same tables. The original's
//! pixel metrics score probability maps, which it has none of: they are
//! left empty (NaN, `-` in Markdown, `null` in JSON).

use std::time::Instant;

use anyhow::{Context, Result};
use rayon::prelude::*;
use robofish_shared::classical::{ClassicalDecoder, ClassicalSpot, Params};
use robofish_shared::codebook::mhd4_words;
use robofish_shared::engine::{InputImage, Pixels};
use robofish_shared::post::metrics::{evaluate_spots, PredictedSpot, SpotEvaluation};
use robofish_shared::post::{DecodeCounts, Decoder};

use super::accuracy::AccuracySummary;
use super::latency::{median, Latency, Timing};
use super::spots::{truth_spots, DecodeBook, MATCH_RADIUS};
use super::tables::EvalRow;
use crate::sim::{BitOrder, Codebook, Tile, IMAGE_COUNT};
use crate::targets::PixelSummary;

/// Name, mode and engine of the classical row.
pub const CLASSICAL: &str = "classical";

/// The codebook the classical decoder calls spots against: the data's,
/// else the 140 MHD4 words (none blank) so that spots are still found;
/// genes are then not scored.
struct CallBook {
    codewords: Vec<u16>,
    blank: Vec<bool>,
    /// The data's codebook, for the truth's genes and the tables.
    scored: Option<DecodeBook>,
}

impl CallBook {
    fn new(codebook: Option<&Codebook>) -> CallBook {
        match codebook {
            Some(c) => CallBook {
                codewords: c.words(),
                blank: c.blank_flags(),
                scored: Some(DecodeBook::from_codebook(c, "the data's codebook")),
            },
            None => {
                let codewords = mhd4_words().to_vec();
                CallBook {
                    blank: vec![false; codewords.len()],
                    codewords,
                    scored: None,
                }
            }
        }
    }
}

/// The classical decoder's spots in one tile.
fn decode_tile(decoder: &ClassicalDecoder<'_>, tile: &Tile) -> Result<Vec<ClassicalSpot>> {
    let pixels = Pixels::U16(&tile.images);
    let image = InputImage::planar(pixels, IMAGE_COUNT, tile.height, tile.width)?;
    Ok(decoder.decode(&image)?)
}

/// A classical spot for matching: its gene is the called codeword's index.
pub fn predicted_spot(spot: &ClassicalSpot) -> PredictedSpot {
    let call = spot.call();
    PredictedSpot {
        y: spot.y,
        x: spot.x,
        gene: call.map(|c| c.codeword),
        blank: call.is_some_and(|c| c.blank),
    }
}

/// One tile's matching counts and decoding outcomes.
fn score_tile(
    decoder: &ClassicalDecoder<'_>,
    tile: &Tile,
    book: Option<&DecodeBook>,
) -> Result<(SpotEvaluation, DecodeCounts, usize)> {
    let spots = decode_tile(decoder, tile)?;
    let mut counts = DecodeCounts::default();
    let predicted: Vec<PredictedSpot> = spots
        .iter()
        .map(|s| {
            counts.record(&s.decoded);
            predicted_spot(s)
        })
        .collect();
    let truth = truth_spots(tile, book);
    let evaluation = evaluate_spots(&truth, &predicted, MATCH_RADIUS)
        .context("cannot match spots to the ground truth")?;
    Ok((evaluation, counts, predicted.len()))
}

/// Median and fastest of `timing.runs` decodes of `tile` after
/// `timing.warmup` untimed ones, on one thread.
fn time_decoder(decoder: &ClassicalDecoder<'_>, tile: &Tile, timing: Timing) -> Result<Latency> {
    let mut times = Vec::with_capacity(timing.runs);
    for run in 0..timing.warmup + timing.runs {
        let start = Instant::now();
        decode_tile(decoder, tile)?;
        if run >= timing.warmup {
            times.push(start.elapsed().as_secs_f64() * 1e3);
        }
    }
    Ok(Latency {
        median_ms: median(&mut times),
        min_ms: times.iter().copied().fold(f64::INFINITY, f64::min),
        threads: 1,
        runs: timing.runs,
    })
}

/// Scores the classical decoder with `params` on `tiles` (images laid out
/// by `bit_order`, genes from `codebook`): latency on the first tile, spot
/// and gene metrics over all of them (decoded in parallel, merged in tile
/// order).
pub fn evaluate_classical(
    tiles: &[Tile],
    bit_order: BitOrder,
    codebook: Option<&Codebook>,
    params: Params,
    timing: Timing,
) -> Result<EvalRow> {
    let first = tiles.first().context("no tiles to evaluate")?;
    let book = CallBook::new(codebook);
    let decoder = ClassicalDecoder::new(params, &book.codewords, &book.blank, bit_order)
        .context("cannot set up the classical decoder")?;
    let latency = time_decoder(&decoder, first, timing).context("timing the classical decoder")?;

    let per_tile = tiles
        .par_iter()
        .enumerate()
        .map(|(index, tile)| {
            score_tile(&decoder, tile, book.scored.as_ref())
                .with_context(|| format!("classical decoder: tile {index} failed"))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut spots = SpotEvaluation::default();
    let mut decoding = DecodeCounts::default();
    let mut detected = 0u64;
    for (evaluation, counts, found) in &per_tile {
        spots.merge(evaluation);
        decoding.merge(counts);
        detected += *found as u64;
    }
    let misid_rate = match &book.scored {
        Some(_) => decoding.misidentification_rate(&Decoder::new(&book.codewords, &book.blank)?),
        None => None,
    };
    let detection = &spots.detection;
    let accuracy = AccuracySummary {
        pixels: PixelSummary {
            position_recall: f64::NAN,
            position_jaccard: f64::NAN,
            barcode_recall: f64::NAN,
            barcode_jaccard: f64::NAN,
        },
        spot_precision: detection.precision(),
        spot_recall: detection.recall(),
        spot_f1: detection.f1(),
        rmse: spots.localisation.rmse(),
        gene_f1: book.scored.as_ref().map(|_| spots.genes.f1()),
        misid_rate,
        tiles: tiles.len(),
        truth_spots: tiles.iter().map(|t| t.truth.len() as u64).sum(),
        detected_spots: detected,
        decoding,
    };
    Ok(row(
        &accuracy,
        latency,
        timing,
        book.scored.map(|b| b.source),
    ))
}

/// The table row: no file, no parameters, no size reduction, one thread.
fn row(
    accuracy: &AccuracySummary,
    latency: Latency,
    timing: Timing,
    codebook: Option<String>,
) -> EvalRow {
    EvalRow {
        name: CLASSICAL.into(),
        mode: CLASSICAL,
        reduction_vs: "nothing (the classical decoder has no model file)".into(),
        ..EvalRow::measured(
            CLASSICAL,
            timing,
            (latency, latency),
            accuracy,
            codebook,
            None,
        )
    }
}

/// What the classical row means, for under the tables.
pub fn notes(params: &Params) -> String {
    format!(
        "Classical: robofish's classical decoder, no model (one thread: both latencies \
         are the same; no file: no size). Per image: robust normalisation, local \
         background (masked box mean, radius {} px), Gaussian matched filter (sigma {} \
         px); bit values from each image's local maxima within {} px; candidates scoring \
         >= {} noise sigmas (mean of the 4 brightest bits) called by codeword \
         correlation with 1-bit correction; registration {}; {} rounds of subtracting \
         the calls and looking again; undecodable spots reported from {} sigmas. No \
         pixel metrics (it makes no probability maps).\n",
        params.background_radius,
        params.smoothing_sigma,
        params.peak_radius,
        params.spot_threshold,
        if params.register {
            "measured from the spots"
        } else {
            "off"
        },
        params.rounds,
        params.unassigned_threshold
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{preset, Simulator, Split};

    #[test]
    fn seed_tiles_give_a_scored_row() {
        let config = preset("seed").unwrap();
        let codebook = Codebook::mhd4(config.real_genes);
        let sim = Simulator::new(config, codebook.clone(), 11).unwrap();
        let tiles: Vec<Tile> = (0..4).map(|i| sim.tile(Split::Test, i)).collect();
        let timing = Timing { warmup: 0, runs: 1 };
        let row = evaluate_classical(
            &tiles,
            BitOrder::Blocked,
            Some(&codebook),
            Params::default(),
            timing,
        )
        .unwrap();
        assert_eq!((row.tiles, row.truth_spots), (4, 200));
        assert!(row.spot_f1 > 0.6, "{row:?}");
        assert!(row.gene_f1.unwrap() > 0.5, "{row:?}");
        assert!(row.pos_recall.is_nan() && row.reduction.is_nan());

        let unscored =
            evaluate_classical(&tiles, BitOrder::Blocked, None, Params::default(), timing).unwrap();
        assert_eq!(
            (unscored.gene_f1, unscored.misid_rate, unscored.codebook),
            (None, None, None)
        );
        assert!(unscored.spot_f1 > 0.6);
    }
}
