//! `robofish quantise`: an fp32 checkpoint to an int8 model file.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use robofish_host::checkpoint::Checkpoint;
use robofish_host::data::{find_codebook, Dataset};
use robofish_host::sim::{preset, Codebook, Simulator, Split, Tile, PRESET_NAMES};
use robofish_shared::engine::{InputImage, Pixels};
use robofish_shared::model::{encode_model, CodebookEntry, Provenance, QuantMode};
use robofish_shared::quantize::{quantise, quantise_dynamic, Calibrator, QuantiseOptions};

use super::init::parse_observer;

/// Quantisation mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Activation grids calibrated once over many tiles (no float at run time).
    Static,
    /// Activation grids measured per tile at run time (int8 weights and convs).
    Dynamic,
}

/// Quantise a trained fp32 checkpoint (safetensors, from `robofish train`)
/// into an int8 robofish model: per-channel int8 weights clamped to
/// [-127, 127], per-tensor int8 activations, fixed-point requantisation and
/// exact activation lookup tables folded into the file.
#[derive(Args, Debug)]
pub struct Quantise {
    /// Quantisation mode.
    #[arg(long, value_enum)]
    pub mode: Mode,
    /// fp32 checkpoint (safetensors).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Output model file.
    #[arg(long)]
    pub out: PathBuf,
    /// Calibration data (a dataset folder); default: simulate --preset.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Split of --data used for calibration.
    #[arg(long, default_value = "train")]
    pub split: Split,
    /// Simulator preset for calibration tiles when no --data is given.
    #[arg(long, default_value = "seed", value_parser = clap::builder::PossibleValuesParser::new(PRESET_NAMES))]
    pub preset: String,
    /// Calibration tiles (static mode).
    #[arg(long, default_value_t = 64)]
    pub calib_tiles: usize,
    /// Activation range observer: minmax, or a two-sided percentile such as 99.99.
    #[arg(long, default_value = "minmax")]
    pub observer: String,
    /// Codebook to embed (default: the dataset's codebook.csv, else MHD4 with 130 genes).
    #[arg(long)]
    pub codebook: Option<PathBuf>,
    /// Model name stored in the file (default: from the output file name).
    #[arg(long)]
    pub name: Option<String>,
}

impl Quantise {
    pub fn run(self) -> Result<()> {
        let checkpoint = Checkpoint::read(&self.checkpoint)
            .with_context(|| format!("cannot read checkpoint {}", self.checkpoint.display()))?;
        let float = checkpoint.to_float_model()?;
        let codebook = match &self.data {
            Some(dir) => find_codebook(dir, self.codebook.as_deref())?,
            None => match &self.codebook {
                Some(path) => Some(
                    Codebook::from_csv(
                        &std::fs::read_to_string(path)
                            .with_context(|| format!("cannot read {}", path.display()))?,
                    )
                    .with_context(|| format!("bad codebook {}", path.display()))?,
                ),
                None => None,
            },
        }
        .unwrap_or_else(|| Codebook::mhd4(130));
        let name = self.name.clone().unwrap_or_else(|| {
            self.out
                .file_stem()
                .map_or("anglerfish".into(), |s| s.to_string_lossy().into_owned())
        });
        let mut options = QuantiseOptions {
            name,
            mode: QuantMode::Static,
            bit_order: checkpoint.meta.bit_order,
            codebook: Some(
                codebook
                    .entries()
                    .iter()
                    .map(|e| CodebookEntry {
                        name: e.name.clone(),
                        word: e.word,
                    })
                    .collect(),
            ),
            provenance: Provenance {
                tool: format!("robofish {}", env!("CARGO_PKG_VERSION")),
                command: std::env::args().collect::<Vec<_>>().join(" "),
                data: String::new(),
                notes: format!("from checkpoint {}", self.checkpoint.display()),
            },
        };
        let model = match self.mode {
            Mode::Dynamic => {
                options.mode = QuantMode::Dynamic;
                options.provenance.data = "none (dynamic: grids measured at run time)".into();
                quantise_dynamic(&float, &options).map_err(anyhow::Error::msg)?
            }
            Mode::Static => {
                if self.calib_tiles == 0 {
                    bail!("--calib-tiles must be at least 1");
                }
                let observer = parse_observer(&self.observer)?;
                let (tiles, source) = self.calibration_tiles()?;
                options.provenance.data = source;
                let mut calib = Calibrator::new(&float, observer);
                let bar = ProgressBar::new(tiles.len() as u64);
                bar.set_style(
                    ProgressStyle::with_template("calibrating {bar:30} {pos}/{len} tiles")
                        .expect("valid template"),
                );
                // Forward passes in parallel, a few tiles at a time (each keeps every tensor).
                for batch in tiles.chunks(4) {
                    let acts: Vec<_> = batch
                        .par_iter()
                        .map(|tile| {
                            let image = InputImage::planar(
                                Pixels::U16(&tile.images),
                                16,
                                tile.height,
                                tile.width,
                            )?;
                            Ok(float.forward(&image))
                        })
                        .collect::<Result<Vec<_>>>()?;
                    for a in &acts {
                        calib.observe(a);
                    }
                    bar.inc(batch.len() as u64);
                }
                bar.finish_and_clear();
                quantise(&float, &calib, &options).map_err(anyhow::Error::msg)?
            }
        };
        let bytes = encode_model(&model)?;
        std::fs::write(&self.out, &bytes)
            .with_context(|| format!("cannot write {}", self.out.display()))?;
        println!(
            "wrote {} ({} mode, {} bytes, {} parameters)",
            self.out.display(),
            model.metadata.mode.name(),
            bytes.len(),
            model.parameter_count()
        );
        Ok(())
    }

    fn calibration_tiles(&self) -> Result<(Vec<Tile>, String)> {
        match &self.data {
            Some(dir) => {
                let dataset = Dataset::open(dir, self.codebook.as_deref())?;
                let numbers = dataset.tile_numbers(self.split)?;
                let tiles = numbers
                    .iter()
                    .take(self.calib_tiles)
                    .map(|&n| dataset.read_tile(self.split, n))
                    .collect::<Result<Vec<_>, _>>()?;
                if tiles.is_empty() {
                    bail!(
                        "{} has no {:?} tiles to calibrate on",
                        dir.display(),
                        self.split
                    );
                }
                let source = format!(
                    "{} {:?} tiles of {}",
                    tiles.len(),
                    self.split,
                    dir.display()
                );
                Ok((tiles, source))
            }
            None => {
                let config = preset(&self.preset).context("unknown preset")?;
                let simulator =
                    Simulator::new(config.clone(), Codebook::mhd4(config.real_genes), 12345)?;
                let tiles = (0..self.calib_tiles)
                    .map(|i| simulator.tile(Split::Train, i))
                    .collect();
                Ok((
                    tiles,
                    format!(
                        "{} simulated '{}' tiles, seed 12345",
                        self.calib_tiles, self.preset
                    ),
                ))
            }
        }
    }
}
