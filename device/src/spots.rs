//! Spots of a streamed FOV: peaks of the position map row by row, decoded
//! against the FOV's codebook, and scored against the truth or, without
//! it, by their calls alone.

use robofish_shared::model::{Model, OutputKind};
use robofish_shared::post::decode::DecodeTable;
use robofish_shared::post::metrics::{evaluate_spots, PredictedSpot};
use robofish_shared::post::{find_spots_in_rows, MATCH_RADIUS, SPOT_THRESHOLD};
use robofish_shared::protocol::{
    CallQuality, DetectionCounts, TruthSpot, WireSpot, NOT_DECODED, UNASSIGNED_GENE,
};

use crate::error::{Error, Result};
use crate::tiling::OutputRow;

/// Which outputs hold the position map and the barcode bits: fixed per
/// model, so found once per load.
#[derive(Debug)]
pub struct SpotDecoder {
    position: usize,
    /// `None` when the model has no barcode output: spots are then
    /// unassigned and their confidence is the peak's score.
    barcode: Option<usize>,
}

/// One spot as the device reports it, and whether its call is a blank.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FoundSpot {
    /// The spot on the wire.
    pub spot: WireSpot,
    /// Whether its gene is a blank codeword.
    pub blank: bool,
}

impl SpotDecoder {
    /// The decoder of `model`'s outputs.
    pub fn new(model: &Model) -> Result<SpotDecoder> {
        let outputs = &model.graph.outputs;
        let position = outputs
            .iter()
            .position(|o| o.kind == OutputKind::Position)
            .ok_or(Error::NoPositionOutput)?;
        let barcode = outputs.iter().position(|o| o.kind == OutputKind::Barcode);
        Ok(SpotDecoder { position, barcode })
    }

    /// Whether the model reads barcodes, so a codebook can decode them.
    pub fn reads_barcodes(&self) -> bool {
        self.barcode.is_some()
    }

    /// Finds the spots of image row `p`, given the finished output rows
    /// around it (`rows`, in order, covering `p - 1 ..= p + 1` clipped at
    /// the image edges), decodes them against `codebook` (when given and
    /// the model reads barcodes) and hands each to `found`.
    pub fn row_spots(
        &self,
        codebook: Option<&DecodeTable>,
        rows: &[&OutputRow],
        p: usize,
        width: usize,
        mut found: impl FnMut(FoundSpot),
    ) -> Result<()> {
        let first = rows.first().map_or(p, |r| r.y);
        let n = rows.len();
        let mut pos = Vec::with_capacity(n * width);
        for r in rows {
            pos.extend_from_slice(&r.maps[self.position]);
        }
        let decoding = codebook.zip(self.barcode);
        let bits = match decoding {
            Some((_, b)) => planar_bits(rows, b, width),
            None => Vec::new(),
        };
        let mut peaks = Vec::new();
        find_spots_in_rows(
            &pos,
            n,
            width,
            SPOT_THRESHOLD,
            p - first..p - first + 1,
            |peak| peaks.push(peak),
        )?;
        let decoder = decoding.map(|(table, _)| table.decoder());
        for peak in peaks {
            let (gene, distance, confidence, blank) = match &decoder {
                Some(decoder) => {
                    let decoded =
                        decoder.decode_at(&bits, n, width, peak.row as usize, peak.col as usize)?;
                    match decoded.call {
                        Some(call) => (
                            call.codeword,
                            call.distance,
                            (call.confidence * 255.0).round() as u8,
                            call.blank,
                        ),
                        None => (UNASSIGNED_GENE, decoded.nearest_distance, 0, false),
                    }
                }
                None => (UNASSIGNED_GENE, NOT_DECODED, peak.score, false),
            };
            found(FoundSpot {
                spot: WireSpot {
                    row: peak.row + first as u16,
                    col: peak.col,
                    dy: peak.row_offset,
                    dx: peak.col_offset,
                    gene,
                    distance,
                    confidence,
                },
                blank,
            });
        }
        Ok(())
    }
}

/// The barcode output of `rows` as planar bit maps
/// (`bits[c * n * width + i * width + x]`), the layout decoding reads.
fn planar_bits(rows: &[&OutputRow], barcode: usize, width: usize) -> Vec<u8> {
    let n = rows.len();
    let channels = rows.first().map_or(0, |r| r.maps[barcode].len() / width);
    let mut bits = vec![0u8; channels * n * width];
    for (i, r) in rows.iter().enumerate() {
        for c in 0..channels {
            bits[c * n * width + i * width..][..width]
                .copy_from_slice(&r.maps[barcode][c * width..][..width]);
        }
    }
    bits
}

/// The accuracy of `found` spots against `truth`, as the wire reports it.
pub fn detection_counts(found: &[FoundSpot], truth: &[TruthSpot]) -> DetectionCounts {
    let predicted: Vec<PredictedSpot> = found
        .iter()
        .map(|f| PredictedSpot {
            y: f.spot.y(),
            x: f.spot.x(),
            gene: f.spot.is_assigned().then_some(f.spot.gene),
            blank: f.blank,
        })
        .collect();
    let blank_calls = found.iter().filter(|f| f.blank).count() as u64;
    // MATCH_RADIUS is a valid radius, so matching cannot fail.
    let evaluation = evaluate_spots(truth, &predicted, MATCH_RADIUS).unwrap_or_default();
    DetectionCounts::new(&evaluation, blank_calls)
}

/// How `found` spots decoded, tallied into `quality` (an empty tally
/// against the FOV's codebook).
pub fn call_quality(found: &[FoundSpot], mut quality: CallQuality) -> CallQuality {
    for f in found {
        quality.record(&f.spot, f.blank);
    }
    quality
}
