//! One model on one engine over a split: latency on the first tile, then
//! accuracy (and plots) over every tile.

use std::path::PathBuf;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};

use super::accuracy::AccuracyTally;
use super::engines::Engine;
use super::latency::{measure_latency, Timing};
use super::model::EvalModel;
use super::plots::{file_stem, write_tile_plots};
use super::spots::DecodeBook;
use super::tables::EvalRow;
use crate::sim::Tile;

/// How to evaluate.
#[derive(Clone, Debug)]
pub struct EvalSettings {
    /// Latency runs.
    pub timing: Timing,
    /// Threads for the "all threads" latency and the accuracy pass.
    pub all_threads: usize,
    /// Where to write pictures of the first `plot_tiles` tiles, if anywhere.
    pub plots: Option<PathBuf>,
    /// How many tiles to draw.
    pub plot_tiles: usize,
}

fn bar(len: usize, what: String, unit: &str) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    if let Ok(style) = ProgressStyle::with_template(&format!(
        "{{prefix}} [{{bar:30}}] {{pos}}/{{len}} {unit} {{elapsed}}<{{eta}}"
    )) {
        bar.set_style(style);
    }
    bar.set_prefix(what);
    bar
}

/// Measures `engine` running `model` on `tiles` and returns its row
/// (reductions still to be set) and the paths of any pictures written.
pub fn evaluate_engine(
    model: &EvalModel,
    engine: &mut dyn Engine,
    tiles: &[Tile],
    book: Option<&DecodeBook>,
    settings: &EvalSettings,
) -> Result<(EvalRow, Vec<PathBuf>)> {
    let label = format!("{} on {}", model.name, engine.name());
    let first = tiles.first().context("no tiles to evaluate")?;
    let timing = settings.timing;

    let latency_bar = bar(
        2 * (timing.warmup + timing.runs),
        format!("timing {label}"),
        "runs",
    );
    let one_thread = measure_latency(engine, first, 1, timing, || latency_bar.inc(1))
        .with_context(|| format!("timing {label} on one thread"))?;
    let all_threads = measure_latency(engine, first, settings.all_threads, timing, || {
        latency_bar.inc(1)
    })
    .with_context(|| format!("timing {label} on {} threads", settings.all_threads))?;
    latency_bar.finish_and_clear();

    let stem = file_stem(&format!("{}-{}", model.name, engine.name()));
    let mut pictures = Vec::new();
    let mut tally = AccuracyTally::default();
    let tiles_bar = bar(tiles.len(), label.clone(), "tiles");
    for (index, tile) in tiles.iter().enumerate() {
        engine.load(tile)?;
        engine
            .forward()
            .with_context(|| format!("{label}: tile {index} failed"))?;
        let maps = engine.maps()?;
        let detections = tally
            .add(tile, &maps, book)
            .with_context(|| format!("{label}: cannot score tile {index}"))?;
        if let Some(dir) = &settings.plots {
            if index < settings.plot_tiles {
                pictures.extend(write_tile_plots(
                    dir,
                    &stem,
                    index,
                    tile,
                    &maps,
                    &detections,
                )?);
            }
        }
        tiles_bar.inc(1);
    }
    tiles_bar.finish_and_clear();
    let accuracy = tally.summary(book)?;
    let row = EvalRow::new(
        model,
        engine.name(),
        timing,
        (one_thread, all_threads),
        &accuracy,
        book.map(|b| b.source.clone()),
        engine.kernel_path(),
    );
    Ok((row, pictures))
}
