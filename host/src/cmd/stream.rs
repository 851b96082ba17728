//! `robofish stream`: fields of view through a device, live, with a report.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use robofish_device::DeviceConfig;
use robofish_host::args::{ReadArgs, TileSize};
use robofish_host::link::{Link, LinkArgs};
use robofish_host::sim::{preset, BitOrder, Codebook, Simulator, Split, Tile, PRESET_NAMES};
use robofish_host::streaming::{print_summary, stream_tiles, StreamJob};
use robofish_shared::model::decode_model;

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
    /// The FOVs to stream: --data DIR and how to read it.
    #[command(flatten)]
    pub read: ReadArgs,
    /// Split of a seed dataset root given as --data.
    #[arg(long, default_value = "test")]
    pub split: Split,
    /// Simulate FOVs of this preset instead of reading --data.
    #[arg(long, conflicts_with = "data", value_parser = clap::builder::PossibleValuesParser::new(PRESET_NAMES))]
    pub simulate: Option<String>,
    /// How many FOVs: with --simulate, how many to simulate (default 10);
    /// with --data, the first N of those --fov selects (default: all). Use
    /// --fov to choose FOVs by id.
    #[arg(long)]
    pub fovs: Option<usize>,
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
    /// Exit 0 even when the device failed on some FOVs (they are reported
    /// either way).
    #[arg(long)]
    pub allow_failed_fovs: bool,
    #[command(flatten)]
    pub link: LinkArgs,
}

impl Cmd {
    pub fn run(self) -> Result<()> {
        let Fovs {
            tiles,
            codebook,
            has_truth,
            bit_order,
        } = self.load_tiles()?;
        if self.truth && !has_truth {
            eprintln!(
                "warning: --truth: the data has no ground truth, so accuracy is not measured"
            );
        }
        if let Some(path) = &self.model {
            warn_on_bit_order(path, bit_order);
        }
        let mut config = DeviceConfig::default();
        if let Some(t) = self.threads {
            config.threads = t.max(1);
        }
        let mut link = Link::open(&self.device, config, &self.link.options()?)?;
        let summary = stream_tiles(
            &mut link,
            &StreamJob {
                model: self.model.as_deref(),
                tiles: &tiles,
                codebook: codebook.as_ref(),
                truth: self.truth && has_truth,
                spots_out: self.spots_out.as_deref(),
                progress: true,
            },
        )?;
        link.close()?;
        print_summary(&mut std::io::stdout().lock(), &self.device, &summary)?;
        if summary.failed > 0 && !self.allow_failed_fovs {
            bail!(
                "the device failed on {} of {} FOVs (reasons above); pass --allow-failed-fovs \
                 to exit 0 anyway",
                summary.failed,
                summary.failed + summary.fovs
            );
        }
        Ok(())
    }

    /// The FOVs to stream.
    fn load_tiles(&self) -> Result<Fovs> {
        match (&self.read.data, &self.simulate) {
            (Some(dir), None) => {
                let acquisition = self.read.open(dir, self.split)?;
                let limit = self.fovs.unwrap_or(usize::MAX);
                let tiles = acquisition
                    .frames()
                    .into_iter()
                    .filter(|frame| frame.fov < limit)
                    .map(|frame| acquisition.read(frame))
                    .collect::<Result<Vec<_>, _>>()
                    .with_context(|| format!("cannot read {}", dir.display()))?;
                if tiles.is_empty() {
                    bail!("{}: no FOVs to stream", dir.display());
                }
                Ok(Fovs {
                    tiles,
                    codebook: acquisition.codebook,
                    has_truth: acquisition.has_truth,
                    bit_order: acquisition.bit_order,
                })
            }
            (None, Some(name)) => {
                let mut config = preset(name).context("unknown preset")?;
                if let Some(size) = self.size {
                    config.height = size.height;
                    config.width = size.width;
                }
                let codebook = match &self.read.codebook {
                    Some(path) => read_codebook(path)?,
                    None => Codebook::mhd4(config.real_genes),
                };
                let bit_order = config.bit_order;
                let simulator = Simulator::new(config, codebook.clone(), self.seed)?;
                let tiles = (0..self.fovs.unwrap_or(10))
                    .map(|i| simulator.tile(Split::Test, i))
                    .collect();
                Ok(Fovs {
                    tiles,
                    codebook: Some(codebook),
                    has_truth: true,
                    bit_order,
                })
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

/// The tiles to stream and what is known about them.
struct Fovs {
    tiles: Vec<Tile>,
    /// The codebook their truth genes index.
    codebook: Option<Codebook>,
    has_truth: bool,
    bit_order: BitOrder,
}

/// Warns when the model reads barcodes in another bit order than the
/// data's (an unreadable model is left to the flash to report).
fn warn_on_bit_order(model: &std::path::Path, data: BitOrder) {
    let Ok(bytes) = std::fs::read(model) else {
        return;
    };
    if let Ok(decoded) = decode_model(&bytes) {
        let own = decoded.metadata.bit_order;
        if own != data {
            eprintln!(
                "warning: {} reads {} bit order but the data is {}; its barcodes will not line up",
                model.display(),
                own.name(),
                data.name()
            );
        }
    }
}
