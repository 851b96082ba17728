//! Command-line arguments that several `robofish` commands share: tile
//! sizes, and where a command's tiles come from (a dataset folder or the
//! simulator).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::Context;

use crate::data::Dataset;
use crate::sim::{
    is_held_out, preset, simulation_seed, BitOrder, Codebook, Simulator, Split, Tile, PRESET_NAMES,
};

/// A tile size given as `HxW` (e.g. `40x40`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TileSize {
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
}

impl FromStr for TileSize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (h, w) = s
            .split_once(['x', 'X'])
            .ok_or_else(|| format!("tile size '{s}' must look like HxW, e.g. 40x40"))?;
        let parse = |v: &str| {
            v.trim()
                .parse::<usize>()
                .map_err(|_| format!("tile size '{s}': '{v}' is not a whole number"))
        };
        Ok(TileSize {
            height: parse(h)?,
            width: parse(w)?,
        })
    }
}

impl fmt::Display for TileSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.height, self.width)
    }
}

/// Where tiles come from: a dataset folder, or the simulator in memory.
#[derive(clap::Args, Debug, Clone)]
pub struct DataArgs {
    /// Dataset root in the original's layout (`train/1`, `val/1`, `test/1`),
    /// e.g. from `robofish simulate`.
    #[arg(long, conflicts_with = "simulate")]
    pub data: Option<PathBuf>,
    /// Simulate this many tiles per split in memory instead of reading
    /// --data (validation and test get a tenth, at least 4).
    #[arg(long, requires = "preset")]
    pub simulate: Option<usize>,
    /// Simulator preset for --simulate.
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(PRESET_NAMES))]
    pub preset: Option<String>,
    /// Seed of the simulated tiles (--simulate); default 1, and for a
    /// held-out preset always its own fixed seed.
    #[arg(long)]
    pub data_seed: Option<u64>,
}

/// Tiles of one split plus where they came from and their bit order.
pub struct LoadedSplit {
    /// The tiles.
    pub tiles: Vec<Tile>,
    /// Description for config files and reports.
    pub source: String,
    /// Which image carries which bit.
    pub bit_order: BitOrder,
    /// The codebook of the ground truth's genes, when known.
    pub codebook: Option<Codebook>,
}

impl DataArgs {
    /// Refuses held-out presets (and datasets simulated from one): they are
    /// for evaluation only, never for training, calibration or tuning.
    pub fn refuse_held_out(&self, purpose: &str) -> anyhow::Result<()> {
        if let Some(name) = self.preset.as_deref().filter(|n| is_held_out(n)) {
            anyhow::bail!(
                "preset `{name}` is held out for evaluation: it must never be used for {purpose}; \
                 train on `wide-domain` (or seed/easy/hard) instead"
            );
        }
        if let Some(root) = &self.data {
            let dataset = Dataset::open(root, None)
                .with_context(|| format!("cannot open dataset {}", root.display()))?;
            if let Some(name) = dataset.simulated_preset().filter(|n| is_held_out(n)) {
                anyhow::bail!(
                    "{} was simulated from the held-out preset `{name}`: it must never be used for {purpose}",
                    root.display()
                );
            }
        }
        Ok(())
    }

    /// Reads or simulates `split`.
    pub fn load(&self, split: Split) -> anyhow::Result<LoadedSplit> {
        match (&self.data, self.simulate) {
            (Some(root), _) => {
                let dataset = Dataset::open(root, None)
                    .with_context(|| format!("cannot open dataset {}", root.display()))?;
                let tiles = dataset.read_split(split).with_context(|| {
                    format!("cannot read the {split} split of {}", root.display())
                })?;
                Ok(LoadedSplit {
                    source: format!("{} ({split}, {} tiles)", root.display(), tiles.len()),
                    bit_order: dataset.bit_order(split)?,
                    codebook: dataset.codebook,
                    tiles,
                })
            }
            (None, Some(count)) => {
                let name = self.preset.as_deref().unwrap_or("seed");
                let config = preset(name).with_context(|| format!("unknown preset '{name}'"))?;
                let bit_order = config.bit_order;
                let codebook = Codebook::mhd4(config.real_genes);
                let seed = simulation_seed(name, self.data_seed).map_err(anyhow::Error::msg)?;
                let sim = Simulator::new(config, codebook.clone(), seed)?;
                let count = if split == Split::Train {
                    count
                } else {
                    (count / 10).max(4)
                };
                let tiles = (0..count).map(|i| sim.tile(split, i)).collect();
                Ok(LoadedSplit {
                    tiles,
                    source: format!(
                        "simulated preset '{name}' seed {seed} ({split}, {count} tiles)"
                    ),
                    bit_order,
                    codebook: Some(codebook),
                })
            }
            (None, None) => anyhow::bail!(
                "say where the tiles come from: --data DIR, or --preset NAME --simulate N"
            ),
        }
    }
}
