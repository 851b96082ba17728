//! Band streaming: whole-image results from bounded memory.
//!
//! A FOV arrives as rows. [`RowWindow`] keeps only the rows the next band
//! needs; [`BandRunner`] computes a band of output rows tile by tile, each
//! tile padded by the network's receptive halo (see
//! [`robofish_shared::engine::receptive_halo`]: 67 pixels for anglerFISH)
//! and aligned to its pooling grid, so the kept outputs equal whole-image
//! inference bit for bit. Memory is bounded by the window (width x (band +
//! 2 x halo) x images) plus one arena per thread for one tile.

use std::ops::Range;
use std::sync::Arc;

use anyhow::{bail, Result};
use robofish_shared::engine::{receptive_halo, InputImage, Network, Pixels, Plan};

/// Raw pixels of consecutive rows of all images, row-interleaved
/// (`[row][image][column]`, as the wire carries them), widened to u16.
#[derive(Debug)]
pub struct RowWindow {
    width: usize,
    images: usize,
    first_row: usize,
    data: Vec<u16>,
}

impl RowWindow {
    /// An empty window for rows of `images` images of `width` pixels.
    pub fn new(width: usize, images: usize) -> RowWindow {
        RowWindow {
            width,
            images,
            first_row: 0,
            data: Vec::new(),
        }
    }

    /// First row held.
    pub fn first_row(&self) -> usize {
        self.first_row
    }

    /// One past the last row held.
    pub fn end_row(&self) -> usize {
        self.first_row + self.data.len() / self.row_len()
    }

    fn row_len(&self) -> usize {
        self.width * self.images
    }

    /// Appends rows in wire layout (little-endian u16 or u8 pixels).
    pub fn push_wire_rows(&mut self, bytes: &[u8], bytes_per_pixel: usize) {
        match bytes_per_pixel {
            1 => self.data.extend(bytes.iter().map(|&b| b as u16)),
            _ => self.data.extend(
                bytes
                    .chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]])),
            ),
        }
    }

    /// Appends rows already in `[row][image][column]` u16 layout.
    pub fn push_rows(&mut self, rows: &[u16]) {
        self.data.extend_from_slice(rows);
    }

    /// Forgets rows before `row` (keeps the allocation).
    pub fn discard_before(&mut self, row: usize) {
        let keep_from = row.clamp(self.first_row, self.end_row());
        self.data
            .drain(..(keep_from - self.first_row) * self.row_len());
        self.first_row = keep_from;
    }

    /// A view of rows `rows` and columns `cols` as an engine input.
    pub fn image(&self, rows: Range<usize>, cols: Range<usize>) -> Result<InputImage<'_>> {
        if rows.start < self.first_row || rows.end > self.end_row() || cols.end > self.width {
            bail!(
                "rows {rows:?} x cols {cols:?} are not in the window (rows {}..{})",
                self.first_row,
                self.end_row()
            );
        }
        let start = (rows.start - self.first_row) * self.row_len() + cols.start;
        Ok(InputImage::strided(
            Pixels::U16(&self.data[start..]),
            self.images,
            rows.len(),
            cols.len(),
            [self.width, self.row_len(), 1],
        )?)
    }
}

/// Output maps of a band of rows: planar `[channel][row][column]` u8.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BandMaps {
    /// Image rows covered.
    pub rows: Range<usize>,
    /// Columns (the whole width).
    pub width: usize,
    /// One planar buffer per graph output.
    pub maps: Vec<Vec<u8>>,
}

/// A finished tile: kept columns, input columns, output maps.
type TileOutput = (Range<usize>, Range<usize>, Vec<Vec<u8>>);

/// Splits rows/columns into tiles and runs them, in parallel, into bands.
pub struct BandRunner {
    network: Arc<Network>,
    halo: usize,
    align: usize,
    height: usize,
    width: usize,
    tile_cols: usize,
    threads: usize,
    plans: Vec<Plan>,
    arenas: Vec<Vec<u8>>,
}

fn floor_to(x: usize, to: usize) -> usize {
    x / to * to
}

fn ceil_to(x: usize, to: usize) -> usize {
    x.div_ceil(to) * to
}

impl BandRunner {
    /// A runner for `height x width` images with column tiles of
    /// `tile_cols` kept columns, on `threads` threads.
    pub fn new(
        network: Arc<Network>,
        height: usize,
        width: usize,
        tile_cols: usize,
        threads: usize,
    ) -> Result<BandRunner> {
        let align = 1usize << network.model().graph.max_level();
        if !height.is_multiple_of(align)
            || !width.is_multiple_of(align)
            || height < 2 * align
            || width < 2 * align
        {
            bail!(
                "image {height}x{width} cannot run: height and width must be multiples of {align} and at least {}",
                2 * align
            );
        }
        let halo = receptive_halo(&network.model().graph);
        Ok(BandRunner {
            network,
            halo,
            align,
            height,
            width,
            tile_cols: ceil_to(tile_cols.max(align), align),
            threads: threads.max(1),
            plans: Vec::new(),
            arenas: Vec::new(),
        })
    }

    /// Whether this runner serves `height x width` images.
    pub fn fits(&self, height: usize, width: usize) -> bool {
        self.height == height && self.width == width
    }

    /// The network's receptive halo in pixels.
    pub fn halo(&self) -> usize {
        self.halo
    }

    /// Input rows needed to compute output rows `rows` exactly.
    pub fn input_rows(&self, rows: &Range<usize>) -> Range<usize> {
        floor_to(rows.start.saturating_sub(self.halo), self.align)
            ..ceil_to(rows.end + self.halo, self.align).min(self.height)
    }

    fn input_cols(&self, cols: &Range<usize>) -> Range<usize> {
        floor_to(cols.start.saturating_sub(self.halo), self.align)
            ..ceil_to(cols.end + self.halo, self.align).min(self.width)
    }

    fn plan_index(&mut self, height: usize, width: usize) -> Result<usize> {
        if let Some(i) = self
            .plans
            .iter()
            .position(|p| p.height() == height && p.width() == width)
        {
            return Ok(i);
        }
        self.plans.push(self.network.plan(height, width)?);
        Ok(self.plans.len() - 1)
    }

    /// Largest arena any tile of this runner needs (bytes, per thread).
    pub fn arena_bytes(&self) -> usize {
        self.plans
            .iter()
            .map(|p| p.arena_bytes())
            .max()
            .unwrap_or(0)
    }

    /// Computes output rows `rows` (all columns) from `window`, which must
    /// hold [`BandRunner::input_rows`] of them.
    pub fn run(&mut self, window: &RowWindow, rows: Range<usize>) -> Result<BandMaps> {
        let in_rows = self.input_rows(&rows);
        let col_blocks: Vec<Range<usize>> = (0..self.width)
            .step_by(self.tile_cols)
            .map(|c| c..(c + self.tile_cols).min(self.width))
            .collect();
        let mut jobs = Vec::with_capacity(col_blocks.len());
        for cols in col_blocks {
            let in_cols = self.input_cols(&cols);
            let plan = self.plan_index(in_rows.len(), in_cols.len())?;
            jobs.push((cols, in_cols, plan));
        }
        let needed = self.arena_bytes();
        self.arenas.resize_with(self.threads, Vec::new);
        for arena in &mut self.arenas {
            if arena.len() < needed {
                arena.resize(needed, 0);
            }
        }
        let graph = &self.network.model().graph;
        let channels: Vec<usize> = graph
            .outputs
            .iter()
            .map(|o| graph.tensors[o.tensor as usize].channels as usize)
            .collect();
        let mut band = BandMaps {
            rows: rows.clone(),
            width: self.width,
            maps: channels
                .iter()
                .map(|c| vec![0u8; c * rows.len() * self.width])
                .collect(),
        };
        let network = &self.network;
        let plans = &self.plans;
        let per_thread = jobs.len().div_ceil(self.threads);
        let results: Vec<Result<Vec<TileOutput>>> = std::thread::scope(|scope| {
            let handles: Vec<_> = jobs
                .chunks(per_thread.max(1))
                .zip(self.arenas.iter_mut())
                .map(|(chunk, arena)| {
                    let in_rows = in_rows.clone();
                    let channels = &channels;
                    scope.spawn(move || {
                        let mut done = Vec::with_capacity(chunk.len());
                        for (cols, in_cols, plan) in chunk {
                            let plan = &plans[*plan];
                            let image = window.image(in_rows.clone(), in_cols.clone())?;
                            let pixels = plan.height() * plan.width();
                            let mut outs: Vec<Vec<u8>> =
                                channels.iter().map(|c| vec![0u8; c * pixels]).collect();
                            let mut refs: Vec<&mut [u8]> =
                                outs.iter_mut().map(|o| o.as_mut_slice()).collect();
                            network.run(plan, arena, &image, &mut refs)?;
                            done.push((cols.clone(), in_cols.clone(), outs));
                        }
                        Ok(done)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("a tile thread panicked")))
                })
                .collect()
        });
        for result in results {
            for (cols, in_cols, outs) in result? {
                let tile_w = in_cols.len();
                let tile_h = in_rows.len();
                for ((out, tile), &c) in band.maps.iter_mut().zip(&outs).zip(&channels) {
                    for ch in 0..c {
                        for (r, y) in rows.clone().enumerate() {
                            let src = ch * tile_h * tile_w
                                + (y - in_rows.start) * tile_w
                                + (cols.start - in_cols.start);
                            let dst = ch * rows.len() * self.width + r * self.width + cols.start;
                            out[dst..dst + cols.len()]
                                .copy_from_slice(&tile[src..src + cols.len()]);
                        }
                    }
                }
            }
        }
        Ok(band)
    }
}
