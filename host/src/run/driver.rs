//! The loop over FOVs: skip those already written (resume), read, decode,
//! keep what each FOV owns, write its part; a FOV that fails is reported,
//! recorded and skipped, and the others go on.

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use robofish_shared::post::metrics::{evaluate_spots, PredictedSpot};
use robofish_shared::post::MATCH_RADIUS;

use super::decode::{Backend, Detection};
use super::ownership::Layout;
use super::parts::{is_done, write_failure, write_part, FovFailure, FovPart, RunIdentity};
use super::source::FovSource;
use super::transcript::Transcript;
use crate::evaluate::spots::{truth_spots, DecodeBook};
use crate::sim::{Codebook, Tile, IMAGE_COUNT};

/// What to run.
pub struct RunJob<'a> {
    /// The parts folder (`OUT/fovs`).
    pub parts: &'a Path,
    /// The experiment.
    pub source: &'a dyn FovSource,
    /// FOV ids to decode, in order.
    pub selected: &'a [u32],
    /// What decodes them.
    pub identity: &'a RunIdentity,
    /// The codebook the calls index.
    pub codebook: &'a Codebook,
    /// Show a progress bar (FOVs/s, ETA).
    pub progress: bool,
}

/// What a run did.
#[derive(Debug, Default)]
pub struct RunOutcome {
    /// FOVs decoded now.
    pub decoded: Vec<u32>,
    /// FOVs skipped because their part was already written.
    pub resumed: Vec<u32>,
    /// FOVs that failed now.
    pub failed: Vec<FovFailure>,
}

/// Decodes `job.selected` with `backend`, writing a part per FOV.
pub fn run_fovs(job: &RunJob<'_>, backend: &mut Backend) -> Result<RunOutcome> {
    std::fs::create_dir_all(job.parts)
        .with_context(|| format!("cannot create {}", job.parts.display()))?;
    let layout = Layout::new(job.source.placements());
    let bar = if job.progress {
        ProgressBar::new(job.selected.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} FOVs  {per_sec}  ETA {eta}  {msg}")
            .expect("valid template"),
    );
    let say = |line: String| {
        // suspend: a visible bar would overwrite the line; stderr closed
        // early is not worth failing the run for.
        bar.suspend(|| {
            let _ = writeln!(std::io::stderr(), "{line}");
        })
    };
    let mut outcome = RunOutcome::default();
    for &fov in job.selected {
        if is_done(job.parts, fov, job.identity) {
            outcome.resumed.push(fov);
            bar.inc(1);
            continue;
        }
        let started = Instant::now();
        match decode_fov(job, &layout, backend, fov, started) {
            Ok((part, transcripts)) => {
                write_part(job.parts, &part, &transcripts)?;
                say(format!(
                    "fov {fov}: decoded, {} transcripts",
                    part.transcripts
                ));
                outcome.decoded.push(fov);
            }
            Err(err) => {
                let failure = FovFailure {
                    fov,
                    error: format!("{err:#}"),
                };
                say(format!("fov {fov}: failed, skipped: {}", failure.error));
                write_failure(job.parts, &failure)?;
                outcome.failed.push(failure);
            }
        }
        bar.inc(1);
        bar.set_message(format!("{} failed", outcome.failed.len()));
    }
    bar.finish_and_clear();
    Ok(outcome)
}

fn decode_fov(
    job: &RunJob<'_>,
    layout: &Layout,
    backend: &mut Backend,
    fov: u32,
    started: Instant,
) -> Result<(FovPart, Vec<Transcript>)> {
    let placement = job
        .source
        .placements()
        .iter()
        .find(|p| p.fov == fov)
        .with_context(|| format!("the data has no FOV {fov}"))?
        .clone();
    let mut part: Option<FovPart> = None;
    let mut transcripts = Vec::new();
    let mut ids = HashSet::new();
    let several = placement.planes.len() > 1;
    for plane in &placement.planes {
        let tile = job
            .source
            .read(fov, plane.index)
            .with_context(|| format!("cannot read z plane {} of the FOV", plane.index))?;
        let detections = backend.decode(fov, &tile)?;
        let truth = truth_scores(&tile, &detections, job.codebook)?;
        let part = part.get_or_insert_with(|| FovPart {
            fov,
            identity: job.identity.clone(),
            height: tile.height,
            width: tile.width,
            spots: 0,
            unassigned: 0,
            dropped_in_overlap: 0,
            transcripts: 0,
            truth: None,
            seconds: 0.0,
            placement: placement.clone(),
        });
        if (tile.height, tile.width) != (part.height, part.width) {
            bail!(
                "z plane {} is {} x {} but plane {} is {} x {}",
                plane.index,
                tile.height,
                tile.width,
                placement.planes[0].index,
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
        let size = (tile.height, tile.width);
        for d in &detections {
            let (x, y) = (f64::from(d.x) + 0.5, f64::from(d.y) + 0.5);
            let global = layout.to_global(fov, x, y);
            if !layout.owns(fov, global, size) {
                part.dropped_in_overlap += 1;
                continue;
            }
            let Some((gene, distance)) = d.call else {
                part.unassigned += 1;
                continue;
            };
            let word = job.codebook.word(usize::from(gene)).with_context(|| {
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
            while !ids.insert(transcript_id.clone()) {
                n += 1;
                transcript_id = format!("{stem}-{n}");
            }
            transcripts.push(Transcript {
                barcode_id: u32::from(gene),
                global_x: global.0,
                global_y: global.1,
                global_z: plane.z,
                x,
                y,
                fov,
                gene: job
                    .codebook
                    .name(usize::from(gene))
                    .unwrap_or_default()
                    .to_string(),
                transcript_id,
                confidence: d.confidence,
                hamming_distance: distance,
                intensity: intensity(&tile, job.source, word, pixel),
            });
        }
    }
    let mut part = part.with_context(|| format!("FOV {fov} has no z plane to decode"))?;
    part.transcripts = transcripts.len() as u64;
    part.seconds = started.elapsed().as_secs_f64();
    Ok((part, transcripts))
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
