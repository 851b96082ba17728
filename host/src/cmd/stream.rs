//! `robofish stream`: fields of view through a device, live, with a report.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use robofish_device::DeviceConfig;
use robofish_host::args::TileSize;
use robofish_host::data::Dataset;
use robofish_host::link::Link;
use robofish_host::sim::{preset, Codebook, Simulator, Split, Tile, PRESET_NAMES};
use robofish_host::streaming::{print_summary, stream_tiles, StreamJob};

/// Stream fields of view to a device and report spots, latency, throughput,
/// the calls' quality (blank-based misidentification, confidence,
/// corrections) and (with --truth) accuracy.
#[derive(Args, Debug)]
pub struct Cmd {
    /// Device: exec:COMMAND (spawn, talk over stdio), tcp:HOST:PORT,
    /// serial:PATH[@BAUD] or local (in-process).
    #[arg(long, default_value = "local")]
    pub device: String,
    /// Flash this model first (required for a fresh local device).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Dataset folder (original layout) to stream.
    #[arg(long, conflicts_with = "simulate")]
    pub data: Option<PathBuf>,
    /// Split of --data to stream.
    #[arg(long, default_value = "test")]
    pub split: Split,
    /// The experiment's codebook (MERlin CSV: name, id, bit1..bit16): the
    /// device decodes and names genes with it. Default: the dataset's
    /// codebook.csv; without either, the model's stored codebook. With
    /// --simulate, the simulated genes are drawn from it.
    #[arg(long, value_name = "FILE")]
    pub codebook: Option<PathBuf>,
    /// Simulate FOVs of this preset instead of reading --data.
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(PRESET_NAMES))]
    pub simulate: Option<String>,
    /// Simulated FOVs to stream.
    #[arg(long, default_value_t = 10)]
    pub fovs: usize,
    /// Simulated FOV size (default: the preset's).
    #[arg(long)]
    pub size: Option<TileSize>,
    /// Simulation seed.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Send ground truth so the device reports accuracy.
    #[arg(long)]
    pub truth: bool,
    /// Write every spot as CSV (frame,row,col,dy,dx,gene,distance,confidence;
    /// gene by name, empty when unassigned).
    #[arg(long)]
    pub spots_out: Option<PathBuf>,
    /// Threads of a local device.
    #[arg(long)]
    pub threads: Option<usize>,
}

impl Cmd {
    pub fn run(self) -> Result<()> {
        let (tiles, codebook) = self.load_tiles()?;
        let mut config = DeviceConfig::default();
        if let Some(t) = self.threads {
            config.threads = t.max(1);
        }
        let mut link = Link::connect(&self.device, config)?;
        let summary = stream_tiles(
            &mut link,
            &StreamJob {
                model: self.model.as_deref(),
                tiles: &tiles,
                codebook: codebook.as_ref(),
                truth: self.truth,
                spots_out: self.spots_out.as_deref(),
                progress: true,
            },
        )?;
        link.close()?;
        print_summary(&mut std::io::stdout().lock(), &self.device, &summary)?;
        Ok(())
    }

    /// The tiles to stream and the experiment's codebook, which their truth
    /// genes index.
    fn load_tiles(&self) -> Result<(Vec<Tile>, Option<Codebook>)> {
        match (&self.data, &self.simulate) {
            (Some(dir), None) => {
                let dataset = Dataset::open(dir, self.codebook.as_deref())?;
                let tiles = dataset.read_split(self.split)?;
                if tiles.is_empty() {
                    bail!("{} has no {:?} tiles", dir.display(), self.split);
                }
                Ok((tiles, dataset.codebook))
            }
            (None, Some(name)) => {
                let mut config = preset(name).context("unknown preset")?;
                if let Some(size) = self.size {
                    config.height = size.height;
                    config.width = size.width;
                }
                let codebook = match &self.codebook {
                    Some(path) => read_codebook(path)?,
                    None => Codebook::mhd4(config.real_genes),
                };
                let simulator = Simulator::new(config.clone(), codebook.clone(), self.seed)?;
                let tiles = (0..self.fovs)
                    .map(|i| simulator.tile(Split::Test, i))
                    .collect();
                Ok((tiles, Some(codebook)))
            }
            _ => bail!("give either --data DIR or --simulate PRESET"),
        }
    }
}

/// The codebook CSV at `path`.
fn read_codebook(path: &Path) -> Result<Codebook> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read codebook {}", path.display()))?;
    Codebook::from_csv(&text).with_context(|| format!("codebook {}", path.display()))
}
