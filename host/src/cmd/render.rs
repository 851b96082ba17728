//! `robofish render`: a PNG of one tile with its ground truth.
use anyhow::Context;
use robofish_host::args::ReadArgs;
use robofish_host::data::{Format, FovSelection};
use robofish_host::report::{render_tile_figure, write_png};
use robofish_host::sim::Split;
use std::io::{self, Write};
use std::path::PathBuf;

/// Draw a tile's 16 images in a 4 x 4 grid with the ground-truth emitters.
#[derive(clap::Args, Debug)]
pub struct Cmd {
    /// The tile: --data DIR (required) and how to read it; the first FOV
    /// --fov selects and its first z plane (or --z).
    #[command(flatten)]
    read: ReadArgs,
    /// Split of a seed dataset root given as --data.
    #[arg(long, default_value = "test")]
    split: Split,
    /// Tile number as on disk (1-based) of the seed layout: the same as
    /// --fov N-1. Default: the first FOV.
    #[arg(long, conflicts_with = "fov")]
    tile: Option<usize>,
    /// PNG to write.
    #[arg(long)]
    out: PathBuf,
    /// Output pixels per camera pixel (default: panels about 320 pixels wide).
    #[arg(long)]
    scale: Option<usize>,
}

impl Cmd {
    /// Reads the tile and writes the PNG.
    pub fn run(self) -> anyhow::Result<()> {
        let data = self.read.data.clone().context("--data DIR is required")?;
        let mut read = self.read.clone();
        if let Some(number) = self.tile {
            let id = number
                .checked_sub(1)
                .context("--tile counts from 1, as the file names do")?;
            read.fov = Some(FovSelection::single(id));
        }
        let acquisition = read.open(&data, self.split)?;
        let frame = *acquisition.frames().first().context("no FOV to draw")?;
        let fov = acquisition.fovs[frame.fov].id;
        let tile = acquisition
            .read(frame)
            .with_context(|| match acquisition.format {
                Format::Seed => format!("reading tile {} of the `{}` split", fov + 1, self.split),
                _ => format!("reading FOV {fov}"),
            })?;
        let bit_order = acquisition.bit_order;
        let scale = self
            .scale
            .unwrap_or_else(|| (320 / tile.height.max(tile.width).max(1)).clamp(1, 16));
        let what = match acquisition.format {
            Format::Seed => format!("tile {} of the {} split", fov + 1, self.split),
            _ => format!("FOV {fov}, z plane {}", frame.plane),
        };
        let title = format!("{}: {what}, {} emitters", data.display(), tile.truth.len());
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
