//! Spots of a streamed FOV: peaks of the position map row by row, decoded
//! against the model's codebook, and scored against the truth.

use robofish_shared::codebook::is_blank_name;
use robofish_shared::model::{Model, OutputKind};
use robofish_shared::post::decode::DecodeTable;
use robofish_shared::post::metrics::{evaluate_spots, PredictedSpot};
use robofish_shared::post::{find_spots_in_rows, MATCH_RADIUS, SPOT_THRESHOLD};
use robofish_shared::protocol::{DetectionCounts, TruthSpot, WireSpot, UNASSIGNED_GENE};

use crate::error::{Error, Result};
use crate::tiling::OutputRow;

/// Which outputs hold the position map and the barcode bits, and the
/// codebook to decode against: fixed per model, so found once per load.
#[derive(Debug)]
pub struct SpotDecoder {
    position: usize,
    barcode: Option<usize>,
    /// `None` when the model has no codebook or no barcode output: spots
    /// are then unassigned and their confidence is the peak's score.
    table: Option<DecodeTable>,
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
    /// The decoder of `model`'s outputs and codebook.
    pub fn new(model: &Model) -> Result<SpotDecoder> {
        let outputs = &model.graph.outputs;
        let position = outputs
            .iter()
            .position(|o| o.kind == OutputKind::Position)
            .ok_or(Error::NoPositionOutput)?;
        let barcode = outputs.iter().position(|o| o.kind == OutputKind::Barcode);
        let codebook = model.metadata.codebook.as_deref().unwrap_or_default();
        let table = match barcode {
            Some(_) if !codebook.is_empty() => Some(DecodeTable::new(
                codebook.iter().map(|e| e.word).collect(),
                codebook.iter().map(|e| is_blank_name(&e.name)).collect(),
            )?),
            _ => None,
        };
        Ok(SpotDecoder {
            position,
            barcode,
            table,
        })
    }

    /// Finds and decodes the spots of image row `p`, given the finished
    /// output rows around it (`rows`, in order, covering `p - 1 ..= p + 1`
    /// clipped at the image edges), and hands each to `found`.
    pub fn row_spots(
        &self,
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
        let decoding = self.table.as_ref().zip(self.barcode);
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
        for peak in peaks {
            let (gene, confidence, blank) = match decoding {
                Some((table, _)) => {
                    let decoded = table.decoder().decode_at(
                        &bits,
                        n,
                        width,
                        peak.row as usize,
                        peak.col as usize,
                    )?;
                    match decoded.call {
                        Some(call) => (
                            call.codeword,
                            (call.confidence * 255.0).round() as u8,
                            call.blank,
                        ),
                        None => (UNASSIGNED_GENE, 0, false),
                    }
                }
                None => (UNASSIGNED_GENE, peak.score, false),
            };
            found(FoundSpot {
                spot: WireSpot {
                    row: peak.row + first as u16,
                    col: peak.col,
                    dy: peak.row_offset,
                    dx: peak.col_offset,
                    gene,
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
