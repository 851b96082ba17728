//! The generalisation benchmark: every model and the classical decoder on
//! `seed` and on each held-out preset ([`crate::sim::HELD_OUT`]), in one
//! table.
//!
//! The held-out presets are never trained on or tuned on; each is always
//! simulated with its own fixed seed, so every run of the benchmark sees the
//! same tiles. Each preset's row also records what its tiles are, measured
//! from the pixels ([`TileStats`]): median peak SNR and emitters per pixel.

use anyhow::{Context, Result};
use serde::Serialize;

use super::classical::evaluate_classical;
use super::engines::Engine;
use super::model::EvalModel;
use super::run::{evaluate_engine, EvalSettings};
use super::spots::DecodeBook;
use super::tables::EvalRow;
use crate::sim::stats::TileStats;
use crate::sim::{preset, simulation_seed, Codebook, Simulator, Split, Tile, HELD_OUT};
use robofish_shared::classical::Params as ClassicalParams;

/// The benchmark's presets: `seed` (the training preset of the shipped
/// models before the per-image stage), then every held-out one.
pub fn presets() -> Vec<&'static str> {
    std::iter::once("seed")
        .chain(HELD_OUT.iter().map(|(name, _)| *name))
        .collect()
}

/// One preset's tiles and what they are.
pub struct PresetTiles {
    /// Preset name.
    pub name: &'static str,
    /// The seed it was simulated with.
    pub seed: u64,
    /// Test-split tiles.
    pub tiles: Vec<Tile>,
    /// The codebook the truth's genes index.
    pub codebook: Codebook,
    /// Median peak-pixel SNR measured on the tiles.
    pub median_snr: f64,
    /// Mean emitters per pixel.
    pub density: f64,
    /// Tile size.
    pub size: (usize, usize),
}

/// Simulates the test split of `name`: `tiles` tiles of 40 x 40 pixels or
/// the equivalent pixel count of a larger tile size (at least 2 tiles).
pub fn simulate(name: &'static str, tiles: usize) -> Result<PresetTiles> {
    let config = preset(name).with_context(|| format!("unknown preset `{name}`"))?;
    let seed = simulation_seed(name, None).map_err(anyhow::Error::msg)?;
    let pixels = config.height * config.width;
    let count = (tiles * 1600).div_ceil(pixels).max(2);
    let codebook = Codebook::mhd4(config.real_genes);
    let sim = Simulator::new(config, codebook.clone(), seed)?;
    let tiles: Vec<Tile> = (0..count).map(|i| sim.tile(Split::Test, i)).collect();
    let stats = tiles
        .iter()
        .enumerate()
        .map(|(i, t)| TileStats::measure(t, &sim.tile_config(Split::Test, i)))
        .fold(TileStats::default(), TileStats::merge);
    let (_, median_snr) = stats.snr_mean_median();
    let size = (sim.config().height, sim.config().width);
    Ok(PresetTiles {
        name,
        seed,
        density: stats.emitters_per_tile() / (size.0 * size.1) as f64,
        tiles,
        codebook,
        median_snr,
        size,
    })
}

/// One method on one preset.
#[derive(Clone, Debug, Serialize)]
pub struct BenchmarkRow {
    /// Preset.
    pub preset: String,
    /// Seed the preset was simulated with.
    pub seed: u64,
    /// Tile size `HxW`.
    pub tile: String,
    /// Tiles evaluated.
    pub tiles: usize,
    /// Median peak SNR of the tiles.
    pub median_snr: f64,
    /// Emitters per pixel.
    pub density: f64,
    /// `classical`, or the model's file name and engine.
    pub method: String,
    /// Spot F1.
    pub spot_f1: f64,
    /// Gene-aware F1.
    pub gene_f1: Option<f64>,
    /// Blank-based misidentification rate.
    pub misid_rate: Option<f64>,
    /// Spot F1 minus the classical decoder's on the same preset.
    pub spot_f1_vs_classical: Option<f64>,
    /// Gene F1 minus the classical decoder's on the same preset.
    pub gene_f1_vs_classical: Option<f64>,
}

/// Runs `models` (on their engines) and the classical decoder on every
/// benchmark preset with `tiles` tiles each (scaled for large tiles).
pub fn run(
    models: &mut [(EvalModel, Vec<Box<dyn Engine>>)],
    tiles: usize,
    settings: &EvalSettings,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<BenchmarkRow>> {
    let mut rows = Vec::new();
    for name in presets() {
        progress(name);
        let set = simulate(name, tiles)?;
        let book = DecodeBook::from_codebook(&set.codebook, "the preset's codebook");
        let row = |method: String, eval: &EvalRow| BenchmarkRow {
            preset: name.to_string(),
            seed: set.seed,
            tile: format!("{}x{}", set.size.0, set.size.1),
            tiles: set.tiles.len(),
            median_snr: set.median_snr,
            density: set.density,
            method,
            spot_f1: eval.spot_f1,
            gene_f1: eval.gene_f1,
            misid_rate: eval.misid_rate,
            spot_f1_vs_classical: None,
            gene_f1_vs_classical: None,
        };
        let classical = evaluate_classical(
            &set.tiles,
            crate::sim::BitOrder::Blocked,
            Some(&set.codebook),
            ClassicalParams::default(),
            settings.timing,
        )
        .with_context(|| format!("classical decoder on {name}"))?;
        let base = row("classical".into(), &classical);
        rows.push(base.clone());
        for (model, engines) in models.iter_mut() {
            model
                .check_data(set.size.0, set.size.1)
                .with_context(|| format!("{} on {name}", model.name))?;
            for engine in engines.iter_mut() {
                let (eval, _) =
                    evaluate_engine(model, engine.as_mut(), &set.tiles, Some(&book), settings)
                        .with_context(|| format!("{} on {name}", model.name))?;
                let mut r = row(format!("{} ({})", model.name, engine.name()), &eval);
                r.spot_f1_vs_classical = Some(r.spot_f1 - base.spot_f1);
                r.gene_f1_vs_classical = r.gene_f1.zip(base.gene_f1).map(|(a, b)| a - b);
                rows.push(r);
            }
        }
    }
    Ok(rows)
}

/// The benchmark as a Markdown table, one row per preset and method.
pub fn markdown(rows: &[BenchmarkRow], machine: &str) -> String {
    let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
    let delta = |v: Option<f64>| v.map_or("".to_string(), |v| format!("{v:+.3}"));
    let mut out = String::from(
        "# Generalisation benchmark\n\n\
         `seed` and the held-out presets (never trained or tuned on; each always \
         simulated with its own seed), test split. SNR: median peak-pixel SNR \
         measured on the tiles; density: emitters per pixel. Spots matched within \
         1.5 px; gene F1 counts a spot only when its gene is right; misid: the \
         blank-based misidentification estimate. Δ: the method minus the \
         classical decoder on the same tiles.\n\n",
    );
    out += &format!("Machine: {machine}\n\n");
    out += "| preset | tile | tiles | SNR | density | method | spot F1 | gene F1 | misid | Δ spot F1 | Δ gene F1 |\n";
    out += "|---|---|---|---|---|---|---|---|---|---|---|\n";
    for r in rows {
        out += &format!(
            "| {} | {} | {} | {:.1} | {:.4} | {} | {:.3} | {} | {} | {} | {} |\n",
            r.preset,
            r.tile,
            r.tiles,
            r.median_snr,
            r.density,
            r.method,
            r.spot_f1,
            opt(r.gene_f1),
            opt(r.misid_rate),
            delta(r.spot_f1_vs_classical),
            delta(r.gene_f1_vs_classical),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_seed_then_every_held_out_one() {
        let names = presets();
        assert_eq!(names[0], "seed");
        assert_eq!(names.len(), 1 + HELD_OUT.len());
        assert!(names[1..].iter().all(|n| crate::sim::is_held_out(n)));
    }

    #[test]
    fn large_tiles_keep_the_pixel_count() {
        let set = simulate("heldout-large", 64).unwrap();
        assert_eq!(set.size, (256, 256));
        assert_eq!(set.tiles.len(), 2);
        assert_eq!(
            set.seed,
            crate::sim::held_out_seed("heldout-large").unwrap()
        );
        assert!(set.median_snr > 3.0 && set.density > 0.01);
    }
}
