//! `robofish render`: a PNG of one tile with its ground truth.
use anyhow::Context;
use robofish_host::data::Dataset;
use robofish_host::report::{render_tile_figure, write_png};
use robofish_host::sim::{parse_bit_order, BitOrder, Split};
use std::io::{self, Write};
use std::path::PathBuf;

/// Draw a tile's 16 images in a 4 x 4 grid with the ground-truth emitters.
#[derive(clap::Args, Debug)]
pub struct Cmd {
    /// Dataset root (holds train/, val/, test/).
    #[arg(long)]
    data: PathBuf,
    /// Split to read.
    #[arg(long, default_value = "test")]
    split: Split,
    /// Tile number as on disk (1-based).
    #[arg(long, default_value_t = 1)]
    tile: usize,
    /// PNG to write.
    #[arg(long)]
    out: PathBuf,
    /// Output pixels per camera pixel (default: panels about 320 pixels wide).
    #[arg(long)]
    scale: Option<usize>,
    /// Bit order; default: the one in the split's config.yml, else blocked.
    #[arg(long, value_parser = parse_bit_order)]
    bit_order: Option<BitOrder>,
}

impl Cmd {
    /// Reads the tile and writes the PNG.
    pub fn run(self) -> anyhow::Result<()> {
        let dataset = Dataset::open(&self.data, None)?;
        let tile = dataset
            .read_tile(self.split, self.tile)
            .with_context(|| format!("reading tile {} of the `{}` split", self.tile, self.split))?;
        let bit_order = match self.bit_order {
            Some(order) => order,
            None => dataset.bit_order(self.split)?,
        };
        let scale = self
            .scale
            .unwrap_or_else(|| (320 / tile.height.max(tile.width).max(1)).clamp(1, 16));
        let title = format!(
            "{}: tile {} of the {} split, {} emitters",
            self.data.display(),
            self.tile,
            self.split,
            tile.truth.len()
        );
        let picture = render_tile_figure(&tile, bit_order, scale, &title)?;
        write_png(&self.out, &picture)?;
        writeln!(
            io::stdout(),
            "wrote {} ({} x {} pixels, {} emitters, {} bit order)",
            self.out.display(),
            picture.width,
            picture.height,
            tile.truth.len(),
            bit_order.name()
        )?;
        Ok(())
    }
}
