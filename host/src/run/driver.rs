//! The loop over FOVs: skip those already written (resume), read, decode,
//! keep what each FOV owns, write its part; a FOV that fails is reported,
//! recorded and skipped, and the others go on.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};

use super::assemble::FovAssembly;
use super::decode::Backend;
use super::ownership::Layout;
use super::parts::{is_done, write_failure, write_part, FovFailure, FovPart, RunIdentity};
use super::source::FovSource;
use super::transcript::Transcript;
use crate::sim::Codebook;

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
    let mut assembly = FovAssembly::new(job.source, job.identity, job.codebook, layout, fov)?;
    for plane in assembly.planes() {
        let tile = job
            .source
            .read(fov, plane.index)
            .with_context(|| format!("cannot read z plane {} of the FOV", plane.index))?;
        let detections = backend.decode(fov, &tile)?;
        assembly.add_plane(plane, &tile, &detections)?;
    }
    assembly.finish(started.elapsed().as_secs_f64())
}
