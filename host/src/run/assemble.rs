//! One FOV's part assembled from its planes' detections: the transcripts
//! it owns in the overlaps, their ids, genes and intensities, and its
//! accuracy against the truth. `run` feeds it the planes it decodes,
//! `fleet` the planes its boards decoded.

use std::collections::HashSet;

use anyhow::{bail, Context, Result};
use robofish_shared::post::metrics::{evaluate_spots, PredictedSpot};
use robofish_shared::post::MATCH_RADIUS;

use super::decode::Detection;
use super::ownership::Layout;
use super::parts::{FovPart, RunIdentity};
use super::source::{FovPlacement, FovSource, Plane};
use super::transcript::Transcript;
use crate::evaluate::spots::{truth_spots, DecodeBook};
use crate::sim::{Codebook, Tile, IMAGE_COUNT};

/// One FOV's part built plane by plane from its detections: what it owns
/// of the overlaps, its transcripts (ids, genes, intensities) and its
/// accuracy against the truth. `run` decodes the planes itself; `fleet`
/// gets them from boards.
pub struct FovAssembly<'j> {
    source: &'j dyn FovSource,
    identity: &'j RunIdentity,
    codebook: &'j Codebook,
    layout: &'j Layout,
    placement: FovPlacement,
    part: Option<FovPart>,
    transcripts: Vec<Transcript>,
    ids: HashSet<String>,
}

impl<'j> FovAssembly<'j> {
    /// An empty part of FOV `fov` of `source`, decoded by `identity` with
    /// calls indexing `codebook`.
    pub fn new(
        source: &'j dyn FovSource,
        identity: &'j RunIdentity,
        codebook: &'j Codebook,
        layout: &'j Layout,
        fov: u32,
    ) -> Result<Self> {
        let placement = source
            .placements()
            .iter()
            .find(|p| p.fov == fov)
            .with_context(|| format!("the data has no FOV {fov}"))?
            .clone();
        Ok(FovAssembly {
            source,
            identity,
            codebook,
            layout,
            placement,
            part: None,
            transcripts: Vec::new(),
            ids: HashSet::new(),
        })
    }

    /// The FOV's z planes to decode, in order.
    pub fn planes(&self) -> Vec<Plane> {
        self.placement.planes.clone()
    }

    /// Adds z plane `plane`'s `detections` in `tile`.
    pub fn add_plane(&mut self, plane: Plane, tile: &Tile, detections: &[Detection]) -> Result<()> {
        let fov = self.placement.fov;
        let truth = truth_scores(tile, detections, self.codebook)?;
        let part = self.part.get_or_insert_with(|| FovPart {
            fov,
            identity: self.identity.clone(),
            height: tile.height,
            width: tile.width,
            spots: 0,
            unassigned: 0,
            dropped_in_overlap: 0,
            transcripts: 0,
            truth: None,
            seconds: 0.0,
            placement: self.placement.clone(),
        });
        if (tile.height, tile.width) != (part.height, part.width) {
            bail!(
                "z plane {} is {} x {} but plane {} is {} x {}",
                plane.index,
                tile.height,
                tile.width,
                self.placement.planes[0].index,
                part.height,
                part.width
            );
        }
        part.spots += detections.len() as u64;
        match (&mut part.truth, truth) {
            (Some(all), Some(this)) => all.merge(&this),
            (all @ None, this) => *all = this,
            (Some(_), None) => {}
        }
        let several = self.placement.planes.len() > 1;
        let size = (tile.height, tile.width);
        for d in detections {
            let (x, y) = (f64::from(d.x) + 0.5, f64::from(d.y) + 0.5);
            let global = self.layout.to_global(fov, x, y);
            if !self.layout.owns(fov, global, size) {
                part.dropped_in_overlap += 1;
                continue;
            }
            let Some((gene, distance)) = d.call else {
                part.unassigned += 1;
                continue;
            };
            let word = self.codebook.word(usize::from(gene)).with_context(|| {
                format!("the decoder called word {gene}, which the codebook lacks")
            })?;
            let pixel = (pixel_of(y, tile.height), pixel_of(x, tile.width));
            let stem = if several {
                format!("{fov}-z{}-{}-{}", plane.index, pixel.0, pixel.1)
            } else {
                format!("{fov}-{}-{}", pixel.0, pixel.1)
            };
            let mut transcript_id = stem.clone();
            // Two spots on one pixel (possible for the classical decoder).
            let mut n = 1;
            while !self.ids.insert(transcript_id.clone()) {
                n += 1;
                transcript_id = format!("{stem}-{n}");
            }
            self.transcripts.push(Transcript {
                barcode_id: u32::from(gene),
                global_x: global.0,
                global_y: global.1,
                global_z: plane.z,
                x,
                y,
                fov,
                gene: self
                    .codebook
                    .name(usize::from(gene))
                    .unwrap_or_default()
                    .to_string(),
                transcript_id,
                confidence: d.confidence,
                hamming_distance: distance,
                intensity: intensity(tile, self.source, word, pixel),
            });
        }
        Ok(())
    }

    /// The part and its transcripts; `seconds` is the FOV's decoding time.
    pub fn finish(self, seconds: f64) -> Result<(FovPart, Vec<Transcript>)> {
        let fov = self.placement.fov;
        let mut part = self
            .part
            .with_context(|| format!("FOV {fov} has no z plane to decode"))?;
        part.transcripts = self.transcripts.len() as u64;
        part.seconds = seconds;
        Ok((part, self.transcripts))
    }
}

/// The pixel a coordinate (pixel centres at +0.5) falls in, kept inside.
fn pixel_of(v: f64, len: usize) -> usize {
    (v.floor().max(0.0) as usize).min(len.saturating_sub(1))
}

/// Mean of `word`'s on-bit images at `pixel` minus the mean of its off-bit
/// images (camera counts).
fn intensity(tile: &Tile, source: &dyn FovSource, word: u16, (row, col): (usize, usize)) -> f32 {
    let order = source.bit_order();
    let (mut on, mut off) = ((0.0, 0u32), (0.0, 0u32));
    for bit in 0..IMAGE_COUNT {
        let value = f64::from(tile.bit_image(bit, order)[row * tile.width + col]);
        let sum = if word >> bit & 1 == 1 {
            &mut on
        } else {
            &mut off
        };
        sum.0 += value;
        sum.1 += 1;
    }
    let mean = |(sum, n): (f64, u32)| if n == 0 { 0.0 } else { sum / f64::from(n) };
    (mean(on) - mean(off)) as f32
}

/// Spot and gene accuracy of all the FOV's detections against its truth,
/// when it has truth.
fn truth_scores(
    tile: &Tile,
    detections: &[Detection],
    codebook: &Codebook,
) -> Result<Option<robofish_shared::post::metrics::SpotEvaluation>> {
    if tile.truth.is_empty() {
        return Ok(None);
    }
    // By word, so the truth's genes are the calls' whichever codebook
    // the truth was written with.
    let truth = truth_spots(
        tile,
        Some(&DecodeBook::from_codebook(codebook, "experiment")),
    );
    let predicted: Vec<PredictedSpot> = detections
        .iter()
        .map(|d| PredictedSpot {
            y: d.y,
            x: d.x,
            gene: d.call.map(|c| c.0),
            blank: d.call.is_some_and(|c| codebook.is_blank(usize::from(c.0))),
        })
        .collect();
    Ok(Some(
        evaluate_spots(&truth, &predicted, MATCH_RADIUS)
            .context("cannot match spots to the ground truth")?,
    ))
}
