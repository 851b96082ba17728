//! Streaming a FOV through the network in column strips, row by row.
//!
//! Each worker thread owns a vertical strip of the FOV, widened by the
//! network's receptive halo (see [`robofish_shared::engine::receptive_halo`]:
//! 67 pixels for anglerFISH) on each inner side and aligned to the pooling
//! grid, and runs a [`RowStreamer`] over it: rows are pushed as they arrive
//! and output rows come out as soon as they are computable. The kept
//! columns of every strip equal whole-image inference bit for bit. Memory
//! is the strips' row rings (about 19 MB per strip for a 2048-wide FOV at
//! full width; `robofish inspect` prints the figure for a model and width)
//! and never the whole FOV.

use std::ops::Range;
use std::sync::Arc;

use robofish_shared::engine::{
    check_tile_size, receptive_halo, Extent, InputImage, Network, Pixels, RowStreamer,
};
use robofish_shared::image::ImageStats;

use crate::error::{Error, Result};

/// One finished output row: `maps[i]` is graph output `i` as `[channel][width]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputRow {
    /// Image row.
    pub y: usize,
    /// One `[channel][width]` buffer per graph output.
    pub maps: Vec<Vec<u8>>,
}

struct Strip {
    input_cols: Range<usize>,
    keep: Range<usize>,
    streamer: RowStreamer,
}

/// Column strips of one FOV size, streamed in parallel.
pub struct StripRunner {
    height: usize,
    width: usize,
    images: usize,
    channels: Vec<usize>,
    strips: Vec<Strip>,
    pushed: usize,
    /// The FOV's per-image statistics (empty: none sent), attached to every
    /// row so a per-image model sees the whole FOV's numbers.
    stats: Vec<ImageStats>,
}

fn floor_to(x: usize, to: usize) -> usize {
    x / to * to
}

fn ceil_to(x: usize, to: usize) -> usize {
    x.div_ceil(to) * to
}

/// The strips of a `height x width` FOV on (up to) `threads` threads:
/// each strip's input columns (kept columns plus halo, grid-aligned) and
/// the columns it keeps.
fn strip_layout(
    network: &Network,
    height: usize,
    width: usize,
    threads: usize,
) -> Result<Vec<(Range<usize>, Range<usize>)>> {
    let graph = &network.model().graph;
    check_tile_size(graph, height, width, Extent::Strips).map_err(Error::FovSize)?;
    let align = 1usize << graph.max_level();
    let halo = receptive_halo(graph);
    // A strip narrower than its halo wastes more than it gains.
    let count = threads.clamp(1, (width / halo.max(align)).max(1));
    let step = ceil_to(width.div_ceil(count), align);
    Ok((0..width)
        .step_by(step)
        .map(|start| {
            let keep = start..(start + step).min(width);
            let input_cols = floor_to(keep.start.saturating_sub(halo), align)
                ..ceil_to(keep.end + halo, align).min(width);
            (input_cols, keep)
        })
        .collect())
}

impl StripRunner {
    /// Bytes the strips of a `height x width` FOV on `threads` threads
    /// would hold, without allocating them.
    pub fn planned_bytes(
        network: &Arc<Network>,
        height: usize,
        width: usize,
        threads: usize,
    ) -> Result<usize> {
        let mut total = 0;
        for (input_cols, _) in strip_layout(network, height, width, threads)? {
            total += RowStreamer::planned_bytes(network.clone(), height, input_cols.len())?;
        }
        Ok(total)
    }

    /// A runner for `height x width` FOVs on (up to) `threads` strips.
    pub fn new(
        network: Arc<Network>,
        height: usize,
        width: usize,
        threads: usize,
    ) -> Result<StripRunner> {
        let mut strips = Vec::new();
        for (input_cols, keep) in strip_layout(&network, height, width, threads)? {
            let streamer = RowStreamer::new(network.clone(), height, input_cols.len())?;
            strips.push(Strip {
                input_cols,
                keep,
                streamer,
            });
        }
        let graph = &network.model().graph;
        let channels = graph
            .outputs
            .iter()
            .map(|o| graph.tensors[o.tensor as usize].channels as usize)
            .collect();
        Ok(StripRunner {
            height,
            width,
            images: graph.input_channels as usize,
            channels,
            strips,
            pushed: 0,
            stats: Vec::new(),
        })
    }

    /// Whether this runner serves `height x width` FOVs.
    pub fn fits(&self, height: usize, width: usize) -> bool {
        self.height == height && self.width == width
    }

    /// Starts a new FOV of the same size.
    pub fn reset(&mut self) {
        for strip in &mut self.strips {
            strip.streamer.reset();
        }
        self.pushed = 0;
        self.stats.clear();
    }

    /// The current FOV's per-image statistics (one per image, or none).
    pub fn set_stats(&mut self, stats: &[ImageStats]) {
        self.stats.clear();
        self.stats.extend_from_slice(stats);
    }

    /// Bytes of row rings over all strips.
    pub fn memory_bytes(&self) -> usize {
        self.strips.iter().map(|s| s.streamer.memory_bytes()).sum()
    }

    /// Number of strips (worker threads).
    pub fn strips(&self) -> usize {
        self.strips.len()
    }

    /// Pushes `rows` (row-interleaved `[row][image][column]` u16 counts,
    /// whole rows) and returns the output rows that became complete, in order.
    pub fn push_rows(&mut self, rows: &[u16]) -> Result<Vec<OutputRow>> {
        let row_len = self.images * self.width;
        if rows.is_empty() || !rows.len().is_multiple_of(row_len) {
            return Err(Error::PartialRows {
                values: rows.len(),
                row_len,
            });
        }
        let count = rows.len() / row_len;
        if self.pushed + count > self.height {
            return Err(Error::TooManyRows {
                height: self.height,
            });
        }
        let (images, width) = (self.images, self.width);
        let stats = &self.stats;
        let results: Vec<Result<Vec<OutputRow>>> = std::thread::scope(|scope| {
            let handles: Vec<_> = self
                .strips
                .iter_mut()
                .map(|strip| {
                    scope.spawn(move || {
                        let mut out = Vec::new();
                        for r in 0..count {
                            let row = &rows[r * row_len..(r + 1) * row_len];
                            let mut image = InputImage::strided(
                                Pixels::U16(&row[strip.input_cols.start..]),
                                images,
                                1,
                                strip.input_cols.len(),
                                [width, row_len, 1],
                            )?;
                            if !stats.is_empty() {
                                image = image.with_stats(stats)?;
                            }
                            strip.streamer.push_row(&image, &mut |y, maps| {
                                out.push(OutputRow {
                                    y,
                                    maps: maps.to_vec(),
                                });
                            })?;
                        }
                        Ok(out)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or(Err(Error::StripPanicked)))
                .collect()
        });
        self.pushed += count;
        let mut per_strip = Vec::with_capacity(results.len());
        for r in results {
            per_strip.push(r?);
        }
        // Every strip follows the same schedule, so they finish the same rows.
        let finished = per_strip.first().map_or(0, |rows| rows.len());
        let mut out = Vec::with_capacity(finished);
        for i in 0..finished {
            let y = per_strip[0][i].y;
            let mut maps: Vec<Vec<u8>> = self
                .channels
                .iter()
                .map(|c| vec![0u8; c * self.width])
                .collect();
            for (strip, rows) in self.strips.iter().zip(&per_strip) {
                let row = rows
                    .get(i)
                    .filter(|r| r.y == y)
                    .ok_or(Error::StripsOutOfStep)?;
                let strip_w = strip.input_cols.len();
                let from = strip.keep.start - strip.input_cols.start;
                for ((full, part), &c) in maps.iter_mut().zip(&row.maps).zip(&self.channels) {
                    for ch in 0..c {
                        full[ch * self.width + strip.keep.start..ch * self.width + strip.keep.end]
                            .copy_from_slice(
                                &part[ch * strip_w + from..ch * strip_w + from + strip.keep.len()],
                            );
                    }
                }
            }
            out.push(OutputRow { y, maps });
        }
        Ok(out)
    }
}
