//! Command-line arguments that several `robofish` commands share: tile
//! sizes, how to read a folder of images, and where a command's tiles come
//! from (a folder or the simulator).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::Context;

use crate::data::{simulated_preset, Acquisition, Format, FovSelection, OpenOptions, PlaneOrder};
use crate::sim::{
    is_held_out, parse_bit_order, preset, simulation_seed, BitOrder, Codebook, Simulator, Split,
    Tile, PRESET_NAMES,
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

/// How to read a folder of images (`--data`): every command that reads
/// images flattens these in.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ReadArgs {
    /// Folder of images: the seed layout (a dataset root with train/1,
    /// val/1, test/1 from `robofish simulate`, or one such folder; ground
    /// truth and config.yml optional), MERlin's raw layout (.dax + .inf,
    /// dataorganization.csv, positions, microscope_parameters.json) or one
    /// multi-page TIFF / OME-TIFF per FOV. The format is detected.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Read --data as this format instead of detecting it: seed, merlin or
    /// tiff-stack (alias ome-tiff).
    #[arg(long, value_parser = Format::from_str)]
    pub format: Option<Format>,
    /// Only these FOVs of --data, by id: `12`, `0-99`, `1,3,5-7` (ids as
    /// the files number them; the seed layout's tile number - 1). FOVs not
    /// selected are never read.
    #[arg(long, value_parser = FovSelection::from_str)]
    pub fov: Option<FovSelection>,
    /// Only this z plane (0-based) of each FOV; default every plane, each
    /// read as its own tile.
    #[arg(long)]
    pub z: Option<usize>,
    /// Bit order of --data (which image carries which barcode bit), over
    /// what the data says (its config.yml `bit_order`, MERlin's data
    /// organisation; default blocked).
    #[arg(long, value_parser = parse_bit_order)]
    pub bit_order: Option<BitOrder>,
    /// µm per pixel, over what the metadata says (for global coordinates).
    #[arg(long)]
    pub pixel_size: Option<f64>,
    /// Page order of multi-page TIFFs, over their OME-XML: z, c (colour)
    /// and t (round), fastest first, as OME's DimensionOrder without XY
    /// (`zct` = XYZCT). Without OME-XML: 2 colours x 8 rounds per z plane.
    #[arg(long, value_parser = PlaneOrder::from_str)]
    pub planes: Option<PlaneOrder>,
    /// The experiment's codebook (MERlin CSV: name, id, bit1..bit16),
    /// instead of the codebook.csv found with the images. The device
    /// decodes and names genes with it; without either, the model's stored
    /// codebook. With --simulate, the simulated genes are drawn from it.
    #[arg(long)]
    pub codebook: Option<PathBuf>,
}

impl ReadArgs {
    /// The options these arguments give.
    pub fn options(&self) -> anyhow::Result<OpenOptions> {
        if let Some(size) = self.pixel_size.filter(|s| !(s.is_finite() && *s > 0.0)) {
            anyhow::bail!("--pixel-size {size}: expected µm per pixel > 0");
        }
        Ok(OpenOptions {
            format: self.format,
            fovs: self.fov.clone(),
            z: self.z,
            bit_order: self.bit_order,
            pixel_size_um: self.pixel_size,
            planes: self.planes,
            codebook: self.codebook.clone(),
        })
    }

    /// Opens `dir` (`split` picks a seed dataset root's split) and prints
    /// what was found, and what was assumed, to stderr.
    pub fn open(&self, dir: &Path, split: Split) -> anyhow::Result<Acquisition> {
        let acquisition = Acquisition::open(dir, split, &self.options()?)
            .with_context(|| format!("cannot read {}", dir.display()))?;
        eprintln!("reading {}", acquisition.summary());
        for note in &acquisition.notes {
            eprintln!("note: {note}");
        }
        Ok(acquisition)
    }
}

/// Where tiles come from: a folder of images, or the simulator in memory.
#[derive(clap::Args, Debug, Clone)]
pub struct DataArgs {
    #[command(flatten)]
    pub read: ReadArgs,
    /// Simulate this many tiles per split in memory instead of reading
    /// --data (validation and test get a tenth, at least 4).
    #[arg(long, requires = "preset", conflicts_with = "data")]
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
    /// Whether the tiles carry ground truth (else their truth is empty and
    /// no accuracy can be measured).
    pub has_truth: bool,
}

impl LoadedSplit {
    /// Refuses tiles without ground truth for `purpose` (training, tuning).
    pub fn require_truth(self, purpose: &str) -> anyhow::Result<LoadedSplit> {
        if !self.has_truth {
            anyhow::bail!(
                "{} has no ground truth, which {purpose} needs (a groundtruths/ folder of \
                 the seed layout)",
                self.source
            );
        }
        Ok(self)
    }
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
        if let Some(root) = &self.read.data {
            if let Some(name) = simulated_preset(root).filter(|n| is_held_out(n)) {
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
        match (&self.read.data, self.simulate) {
            (Some(root), _) => {
                let acquisition = self.read.open(root, split)?;
                let tiles = acquisition
                    .read_all()
                    .with_context(|| format!("cannot read {}", root.display()))?;
                let part = match acquisition.format {
                    Format::Seed => format!("{split}, "),
                    _ => String::new(),
                };
                Ok(LoadedSplit {
                    source: format!("{} ({part}{} tiles)", root.display(), tiles.len()),
                    bit_order: acquisition.bit_order,
                    codebook: acquisition.codebook,
                    has_truth: acquisition.has_truth,
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
                    has_truth: true,
                })
            }
            (None, None) => anyhow::bail!(
                "say where the tiles come from: --data DIR, or --preset NAME --simulate N"
            ),
        }
    }
}
