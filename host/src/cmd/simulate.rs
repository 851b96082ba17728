//! `robofish simulate`: write a simulated dataset in the original's layout.
use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use robofish_host::data::{self, DatasetConfig, MerlinWriter};
use robofish_host::sim::stats::TileStats;
use robofish_host::sim::{
    is_held_out, parse_bit_order, preset, simulation_seed, BitOrder, Codebook, SimConfig,
    Simulator, Split, PRESET_NAMES,
};
use std::io::{self, Write};
use std::path::PathBuf;

/// Simulate MERFISH tiles (8 rounds x 2 colours) with ground truth.
#[derive(clap::Args, Debug)]
pub struct Cmd {
    /// Parameter preset.
    #[arg(long, default_value = "seed", value_parser = clap::builder::PossibleValuesParser::new(PRESET_NAMES))]
    preset: String,
    /// Dataset root to create (gets train/, val/, test/ and codebook.csv).
    #[arg(long)]
    out: PathBuf,
    /// Training tiles.
    #[arg(long, default_value_t = 500)]
    train: usize,
    /// Validation tiles.
    #[arg(long, default_value_t = 50)]
    val: usize,
    /// Test tiles.
    #[arg(long, default_value_t = 50)]
    test: usize,
    /// Random seed; the same seed gives byte-identical files. Default 1;
    /// a held-out preset always uses its own fixed seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Write into an output folder that already holds a split.
    #[arg(long)]
    force: bool,
    /// Measure and print photons per spot, SNR and background from the pixels.
    #[arg(long)]
    stats: bool,
    /// Codebook CSV (MERlin style) to draw genes from, instead of MHD4.
    #[arg(long)]
    codebook: Option<PathBuf>,
    /// How to write the images. `seed`: the original project's layout,
    /// TIFFs with ground truth (what train, quantise and eval --truth read).
    /// `merlin`: each split as a MERlin raw acquisition in OUT/<split>/ --
    /// per FOV and round a 2-frame `.dax` + `.inf`, dataorganization.csv,
    /// codebook.csv, positions.csv, microscope_parameters.json -- with the
    /// tiles as FOVs on a square stage grid and no ground truth, as a lab's
    /// folder would be (for `robofish run --data OUT/test`).
    #[arg(long, default_value = "seed", value_parser = ["seed", "merlin"])]
    layout: String,
    /// Pixel size in µm written to the MERlin layout's microscope
    /// parameters (MERlin's default 0.108).
    #[arg(long, default_value_t = 0.108)]
    pixel_size: f64,
    #[command(flatten)]
    overrides: Overrides,
}

/// Changes to the preset.
#[derive(clap::Args, Debug)]
struct Overrides {
    /// Tile height in pixels.
    #[arg(long)]
    height: Option<usize>,
    /// Tile width in pixels.
    #[arg(long)]
    width: Option<usize>,
    /// Emitters per pixel.
    #[arg(long)]
    density: Option<f64>,
    /// Mean integrated photons per on-bit spot (647 nm).
    #[arg(long)]
    photons: Option<f64>,
    /// Background photons per pixel in 647 nm (750 nm scales along).
    #[arg(long)]
    background: Option<f64>,
    /// Probability that an on-bit shows no signal.
    #[arg(long)]
    dropout: Option<f64>,
    /// Probability that an off-bit shows a spurious spot.
    #[arg(long)]
    spurious: Option<f64>,
    /// Standard deviation of per-round registration shifts, pixels.
    #[arg(long)]
    registration: Option<f64>,
    /// Real genes in the MHD4 codebook (the rest of 140 are blanks).
    #[arg(long)]
    real_genes: Option<usize>,
    /// Bits per pixel of the TIFFs.
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(["8", "12", "16"]))]
    bits: Option<String>,
    /// Which image carries which barcode bit.
    #[arg(long, value_parser = parse_bit_order)]
    bit_order: Option<BitOrder>,
}

impl Overrides {
    /// Whether any override is given.
    fn any(&self) -> bool {
        self.height.is_some()
            || self.width.is_some()
            || self.density.is_some()
            || self.photons.is_some()
            || self.background.is_some()
            || self.dropout.is_some()
            || self.spurious.is_some()
            || self.registration.is_some()
            || self.real_genes.is_some()
            || self.bits.is_some()
            || self.bit_order.is_some()
    }

    fn apply(&self, mut config: SimConfig) -> anyhow::Result<SimConfig> {
        config.height = self.height.unwrap_or(config.height);
        config.width = self.width.unwrap_or(config.width);
        config.density = self.density.unwrap_or(config.density);
        config.spot_photons = self.photons.unwrap_or(config.spot_photons);
        if let Some(background) = self.background {
            let ratio = if config.background[0] > 0.0 {
                config.background[1] / config.background[0]
            } else {
                1.0
            };
            config.background = [background, background * ratio];
        }
        config.bit_dropout = self.dropout.unwrap_or(config.bit_dropout);
        config.spurious_rate = self.spurious.unwrap_or(config.spurious_rate);
        config.registration_sigma = self.registration.unwrap_or(config.registration_sigma);
        config.real_genes = self.real_genes.unwrap_or(config.real_genes);
        if let Some(bits) = &self.bits {
            config.camera = config.camera.with_bits(bits.parse().context("--bits")?);
        }
        config.bit_order = self.bit_order.unwrap_or(config.bit_order);
        config.validate()?;
        Ok(config)
    }
}

impl Cmd {
    /// Simulates every requested split and writes it.
    pub fn run(self) -> anyhow::Result<()> {
        let base =
            preset(&self.preset).with_context(|| format!("unknown preset `{}`", self.preset))?;
        let seed = simulation_seed(&self.preset, self.seed).map_err(anyhow::Error::msg)?;
        if is_held_out(&self.preset) && self.overrides.any() {
            bail!(
                "held-out preset `{}` is fixed: it cannot be changed with overrides",
                self.preset
            );
        }
        let config = self.overrides.apply(base)?;
        let codebook = match &self.codebook {
            Some(path) => data::resolve_codebook(&self.out, Some(path))?,
            None => Codebook::mhd4(config.real_genes),
        };
        let simulator = Simulator::new(config, codebook, seed)?;
        let splits = [
            (Split::Train, self.train),
            (Split::Val, self.val),
            (Split::Test, self.test),
        ];
        let splits: Vec<(Split, usize)> =
            splits.into_iter().filter(|(_, count)| *count > 0).collect();
        if splits.is_empty() {
            bail!("nothing to simulate: --train, --val and --test are all 0");
        }
        let merlin = self.layout == "merlin";
        if merlin && !(self.pixel_size.is_finite() && self.pixel_size > 0.0) {
            bail!(
                "--pixel-size {} is not a positive size in µm",
                self.pixel_size
            );
        }
        let split_dir = |split: Split| {
            if merlin {
                self.out.join(split.name())
            } else {
                data::split_dir(&self.out, split)
            }
        };
        for (split, _) in &splits {
            let dir = split_dir(*split);
            if !self.force && dir.exists() {
                bail!(
                    "{} already exists; pass --force to write into it",
                    dir.display()
                );
            }
        }
        data::write_codebook(&self.out, simulator.codebook())?;

        let total_tiles: usize = splits.iter().map(|(_, count)| count).sum();
        let progress = progress_bar(total_tiles as u64);
        let mut all_stats = TileStats::default();
        for (split, count) in splits {
            let dir = split_dir(split);
            let config = simulator.config();
            let size = (config.height, config.width);
            let stage = |index: usize| stage_position(index, count, size, self.pixel_size);
            let writer = if merlin {
                Some(MerlinWriter::create(
                    &dir,
                    config.bit_order,
                    self.pixel_size,
                )?)
            } else {
                data::create_split_dirs(&dir)?;
                data::write_split_config(
                    &dir,
                    &DatasetConfig::for_simulation(config, count, seed),
                )?;
                None
            };
            let stats = (0..count)
                .into_par_iter()
                .map(|index| -> anyhow::Result<TileStats> {
                    let tile = simulator.tile(split, index);
                    match &writer {
                        Some(writer) => writer.write_fov(index, &tile, stage(index))?,
                        None => {
                            let bits = simulator.config().file_bits();
                            data::write_tile(&dir, index + 1, &tile, simulator.codebook(), bits)?
                        }
                    }
                    progress.inc(1);
                    Ok(if self.stats {
                        TileStats::measure(&tile, &simulator.tile_config(split, index))
                    } else {
                        TileStats {
                            tiles: 1,
                            emitters: tile.truth.len(),
                            ..TileStats::default()
                        }
                    })
                })
                .try_reduce(TileStats::default, |a, b| Ok(a.merge(b)))
                .with_context(|| format!("simulating the `{split}` split"))?;
            if let Some(writer) = &writer {
                let positions: Vec<(f64, f64)> = (0..count).map(stage).collect();
                writer.finish(simulator.codebook(), &positions, size)?;
            }
            all_stats = all_stats.merge(stats);
        }
        progress.finish_and_clear();

        let config = simulator.config();
        writeln!(
            io::stdout(),
            "wrote {} tiles of {} x {} ({} preset, seed {}, {}-bit, {} bit order) to {}; {:.1} emitters per tile",
            all_stats.tiles,
            config.height,
            config.width,
            config.preset,
            seed,
            if config.domain.is_some() {
                "mixed".to_string()
            } else {
                config.camera.bits.to_string()
            },
            config.bit_order.name(),
            self.out.display(),
            all_stats.emitters_per_tile()
        )?;
        if merlin {
            writeln!(
                io::stdout(),
                "MERlin raw layout (.dax), one acquisition per split, no ground truth: \
                 `robofish run --data {} --out OUT`",
                self.out.join(Split::Test.name()).display()
            )?;
        }
        if self.stats {
            writeln!(io::stdout(), "{all_stats}")?;
        }
        Ok(())
    }
}

/// Stage position (x, y) in µm of FOV `index` of `count` on a square grid,
/// row by row, FOVs abutting: simulated tiles are independent scenes, so
/// they must not overlap.
fn stage_position(
    index: usize,
    count: usize,
    (height, width): (usize, usize),
    pixel_size_um: f64,
) -> (f64, f64) {
    let columns = (1..=count).find(|c| c * c >= count).unwrap_or(1);
    let (row, column) = (index / columns, index % columns);
    (
        (column * width) as f64 * pixel_size_um,
        (row * height) as f64 * pixel_size_um,
    )
}

/// A progress bar on stderr; indicatif draws nothing when stderr is not a
/// terminal, so tests and pipes stay clean.
fn progress_bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} simulating [{bar:40}] {pos}/{len} tiles, {eta} left",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}
