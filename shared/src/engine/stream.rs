//! Row streaming: whole-image results in one pass, holding only the rows
//! each layer still needs.
//!
//! Every tensor lives in a ring of `K` rows; the ordinary kernels run on 1-3
//! row views, which are slices of the ring when they do not wrap and are
//! gathered into a small scratch buffer when they do. Input rows are pushed as the camera delivers them; an
//! output row is computed as soon as every row it depends on exists, pulling
//! rows through the graph. Reflect padding at the image's top and bottom
//! falls out of the row views (a 2-row view at an edge reflects exactly as
//! the whole image does), so the results equal whole-image inference bit for
//! bit with no halo recomputation. Ring sizes come from a dry run of the same
//! schedule; the U-Net skips are the long rings.

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use super::network::Network;
use super::plan::CHANNEL_ALIGN;
use super::tile::{check_tile_size, Extent};
use super::EngineError;
use crate::image::InputImage;
use crate::kernels::{scalar, Dims};
use crate::model::{Node, QuantMode, TensorId};

/// Receives output row `y` as one `[channel][width]` u8 row per graph output.
pub type RowSink<'a> = &'a mut dyn FnMut(usize, &[Vec<u8>]);

#[derive(Clone, Copy, Debug)]
struct Ring {
    offset: usize,
    capacity: usize,
    height: usize,
    width: usize,
    channels: usize,
    stride: usize,
}

impl Ring {
    fn row_bytes(&self) -> usize {
        self.width * self.stride
    }

    /// Byte range of rows `first..first + count` when they do not wrap
    /// around the ring's end.
    fn window(&self, first: usize, count: usize) -> Option<(usize, usize)> {
        let slot = first % self.capacity;
        (slot + count <= self.capacity).then(|| {
            (
                self.offset + slot * self.row_bytes(),
                count * self.row_bytes(),
            )
        })
    }

    /// Byte range of row `y` (always contiguous).
    fn row(&self, y: usize) -> (usize, usize) {
        (
            self.offset + (y % self.capacity) * self.row_bytes(),
            self.row_bytes(),
        )
    }

    fn dims(&self, rows: usize) -> Dims {
        Dims {
            height: rows,
            width: self.width,
            channels: self.channels,
            pixel_stride: self.stride,
        }
    }
}

/// Consumer relations used to know which rows are still needed.
#[derive(Clone, Copy, Debug)]
enum Need {
    /// Conv: producing row p needs rows >= p - 1.
    Conv(usize),
    /// Max-pool: row p needs rows >= 2p.
    Pool(usize),
    /// Upsample: row p needs rows >= p / 2.
    Up(usize),
    /// Concat: row p needs row p.
    Same(usize),
}

/// Streams one image (or one column strip of it) row by row.
pub struct RowStreamer {
    network: Arc<Network>,
    height: usize,
    rings: Vec<Ring>,
    storage: Vec<i8>,
    producer: Vec<usize>,
    consumers: Vec<Vec<Need>>,
    produced: Vec<usize>,
    outputs: Vec<TensorId>,
    pushed: usize,
    emitted: usize,
    maps: Vec<Vec<u8>>,
    /// Input rows of a view that wraps around its ring, gathered.
    gathered: Vec<i8>,
}

fn split_two(
    storage: &mut [i8],
    read: (usize, usize),
    write: (usize, usize),
) -> Result<(&[i8], &mut [i8]), EngineError> {
    let (r0, rl) = read;
    let (w0, wl) = write;
    if r0 + rl <= w0 {
        let (a, b) = storage.split_at_mut(w0);
        Ok((&a[r0..r0 + rl], &mut b[..wl]))
    } else if w0 + wl <= r0 {
        let (a, b) = storage.split_at_mut(r0);
        Ok((&b[..rl], &mut a[w0..w0 + wl]))
    } else {
        Err(EngineError::Internal("stream rings overlap"))
    }
}

impl RowStreamer {
    /// A streamer for `height x width` images (static or QAT models only:
    /// a dynamic model's grids depend on the whole tile).
    pub fn new(
        network: Arc<Network>,
        height: usize,
        width: usize,
    ) -> Result<RowStreamer, EngineError> {
        let mut streamer = Self::unallocated(network, height, width)?;
        streamer.size_rings()?;
        Ok(streamer)
    }

    /// Bytes a streamer for `height x width` images would hold (rings,
    /// gather buffer and output rows), computed without allocating them,
    /// so a device can refuse a FOV too large for its memory first.
    pub fn planned_bytes(
        network: Arc<Network>,
        height: usize,
        width: usize,
    ) -> Result<usize, EngineError> {
        let mut streamer = Self::unallocated(network, height, width)?;
        let rings = streamer.plan_rings()?;
        let maps: usize = streamer.maps.iter().map(Vec::len).sum();
        Ok(rings + 3 * streamer.widest_row() + maps)
    }

    /// A streamer whose rings are not sized yet.
    fn unallocated(
        network: Arc<Network>,
        height: usize,
        width: usize,
    ) -> Result<RowStreamer, EngineError> {
        check_tile_size(&network.model().graph, height, width, Extent::Rows)?;
        if network.model().metadata.mode == QuantMode::Dynamic {
            return Err(EngineError::BadInput(
                "dynamic models cannot be row-streamed; use whole tiles",
            ));
        }
        let graph = &network.model().graph;
        let n = graph.tensors.len();
        let mut producer = vec![usize::MAX; n];
        let mut consumers: Vec<Vec<Need>> = vec![Vec::new(); n];
        for (step, node) in graph.nodes.iter().enumerate() {
            producer[node.output() as usize] = step;
            let c = node.output() as usize;
            match node {
                Node::Input(_) => {}
                Node::Conv(conv) => consumers[conv.input as usize].push(Need::Conv(c)),
                Node::MaxPool(u) => consumers[u.input as usize].push(Need::Pool(c)),
                Node::Upsample(u) => consumers[u.input as usize].push(Need::Up(c)),
                Node::Concat(cat) => cat
                    .inputs
                    .iter()
                    .for_each(|&t| consumers[t as usize].push(Need::Same(c))),
            }
        }
        let rings = graph
            .tensors
            .iter()
            .map(|t| Ring {
                offset: 0,
                capacity: 3,
                height: height >> t.level,
                width: width >> t.level,
                channels: t.channels as usize,
                stride: (t.channels as usize).div_ceil(CHANNEL_ALIGN) * CHANNEL_ALIGN,
            })
            .collect();
        let outputs: Vec<TensorId> = graph.outputs.iter().map(|o| o.tensor).collect();
        let maps = outputs
            .iter()
            .map(|&t| vec![0u8; graph.tensors[t as usize].channels as usize * width])
            .collect();
        Ok(RowStreamer {
            network,
            height,
            rings,
            storage: Vec::new(),
            producer,
            consumers,
            produced: vec![0; n],
            outputs,
            pushed: 0,
            emitted: 0,
            maps,
            gathered: Vec::new(),
        })
    }

    /// Bytes held by the rings.
    pub fn memory_bytes(&self) -> usize {
        self.storage.len() + self.gathered.len()
    }

    /// Forgets the current image so the next one can be streamed (keeps
    /// the rings).
    pub fn reset(&mut self) {
        self.produced.iter_mut().for_each(|p| *p = 0);
        self.pushed = 0;
        self.emitted = 0;
    }

    /// Per tensor: rows held and bytes, in tensor order.
    pub fn ring_sizes(&self) -> Vec<(usize, usize)> {
        self.rings
            .iter()
            .map(|r| (r.capacity, r.capacity * r.row_bytes()))
            .collect()
    }

    /// Input rows pushed so far.
    pub fn rows_pushed(&self) -> usize {
        self.pushed
    }

    /// Output rows emitted so far.
    pub fn rows_emitted(&self) -> usize {
        self.emitted
    }

    fn low_water(&self, t: usize) -> usize {
        let mut low = if self.outputs.contains(&(t as TensorId)) {
            self.emitted
        } else {
            usize::MAX
        };
        for need in &self.consumers[t] {
            let row = match *need {
                Need::Conv(c) => self.produced[c].saturating_sub(1),
                Need::Pool(c) => 2 * self.produced[c],
                Need::Up(c) => self.produced[c] / 2,
                Need::Same(c) => self.produced[c],
            };
            low = low.min(row);
        }
        if low == usize::MAX {
            self.produced[t]
        } else {
            low
        }
    }

    /// Dry run of the schedule over the whole image to find every ring's size.
    fn size_rings(&mut self) -> Result<(), EngineError> {
        let total = self.plan_rings()?;
        self.storage = vec![0i8; total];
        self.gathered = vec![0i8; 3 * self.widest_row()];
        Ok(())
    }

    /// Bytes of the widest ring row.
    fn widest_row(&self) -> usize {
        self.rings.iter().map(|r| r.row_bytes()).max().unwrap_or(0)
    }

    /// Runs the schedule symbolically to find how many rows each ring must
    /// hold, lays the rings out and returns their total bytes (nothing is
    /// allocated but the per-tensor counters).
    fn plan_rings(&mut self) -> Result<usize, EngineError> {
        let mut capacity = vec![3usize; self.rings.len()];
        for _ in 0..self.height {
            self.push_symbolic(&mut capacity);
            while self.step_rows(None, &mut capacity)? {}
        }
        if self.emitted != self.height {
            return Err(EngineError::Internal("stream schedule did not finish"));
        }
        let mut offset = 0;
        for (ring, &k) in self.rings.iter_mut().zip(&capacity) {
            ring.capacity = k.max(3).min(ring.height.max(3));
            ring.offset = offset;
            offset += ring.capacity * ring.row_bytes();
        }
        self.produced.iter_mut().for_each(|p| *p = 0);
        self.pushed = 0;
        self.emitted = 0;
        Ok(offset)
    }

    fn note(&self, t: usize, capacity: &mut [usize]) {
        let span = self.produced[t] - self.low_water(t).min(self.produced[t]);
        capacity[t] = capacity[t].max(span);
    }

    fn push_symbolic(&mut self, capacity: &mut [usize]) {
        let graph = &self.network.model().graph;
        for node in &graph.nodes {
            if let Node::Input(input) = node {
                let t = input.output as usize;
                self.produced[t] += 1;
                self.note(t, capacity);
            }
        }
        self.pushed += 1;
    }

    /// Pushes the next input row (`row` is a 1-row image view of all
    /// channels) and emits every output row that became computable:
    /// `sink(y, maps)` gets output row `y` as one `[channel][width]` u8 row
    /// per graph output.
    pub fn push_row(&mut self, row: &InputImage<'_>, sink: RowSink<'_>) -> Result<(), EngineError> {
        if self.pushed >= self.height {
            return Err(EngineError::BadInput("more rows pushed than the image has"));
        }
        if row.height() != 1 || row.width() != self.width() {
            return Err(EngineError::BadInput(
                "push_row takes one row of the streamer's width",
            ));
        }
        let network = self.network.clone();
        let model = network.model();
        super::input::check_stats(model, row)?;
        let y = self.pushed;
        for node in &model.graph.nodes {
            if let Node::Input(input) = node {
                let ring = self.rings[input.output as usize];
                let (start, len) = ring.row(y);
                let out = &mut self.storage[start..start + len];
                super::input::quantise_rows(model, input, row, out, ring.dims(1), 0..1)?;
                self.produced[input.output as usize] += 1;
            }
        }
        self.pushed += 1;
        let mut unused = Vec::new();
        while self.step_rows(Some(sink), &mut unused)? {}
        Ok(())
    }

    fn width(&self) -> usize {
        let graph = &self.network.model().graph;
        self.rings
            .iter()
            .zip(&graph.tensors)
            .find(|(_, t)| t.level == 0)
            .map_or(0, |(r, _)| r.width)
    }

    /// Rows `first..first + count` of ring `t` as one slice: in place when
    /// they do not wrap, else gathered into the scratch buffer.
    fn source(&mut self, t: usize, first: usize, count: usize) -> (bool, (usize, usize)) {
        let ring = self.rings[t];
        match ring.window(first, count) {
            Some(range) => (false, range),
            None => {
                let row = ring.row_bytes();
                for i in 0..count {
                    let (start, len) = ring.row(first + i);
                    self.gathered[i * row..(i + 1) * row]
                        .copy_from_slice(&self.storage[start..start + len]);
                }
                (true, (0, count * row))
            }
        }
    }

    /// Emits the next output row if it can be computed. Returns whether it did.
    fn step_rows(
        &mut self,
        mut sink: Option<RowSink<'_>>,
        capacity: &mut Vec<usize>,
    ) -> Result<bool, EngineError> {
        if self.emitted >= self.height {
            return Ok(false);
        }
        let y = self.emitted;
        let compute = sink.is_some();
        for i in 0..self.outputs.len() {
            let t = self.outputs[i] as usize;
            if !self.ensure(t, y, compute, capacity)? {
                return Ok(false);
            }
        }
        if let Some(sink) = sink.as_mut() {
            for (i, &t) in self.outputs.iter().enumerate() {
                let ring = self.rings[t as usize];
                let (start, len) = ring.row(y);
                scalar::to_probability_maps(
                    &self.storage[start..start + len],
                    ring.dims(1),
                    &mut self.maps[i],
                    0..1,
                );
            }
            sink(y, &self.maps);
        }
        self.emitted += 1;
        Ok(true)
    }

    /// Makes row `r` of tensor `t` exist (computing it and what it needs).
    fn ensure(
        &mut self,
        t: usize,
        r: usize,
        compute: bool,
        capacity: &mut Vec<usize>,
    ) -> Result<bool, EngineError> {
        while self.produced[t] <= r {
            let y = self.produced[t];
            let step = self.producer[t];
            let network = self.network.clone();
            let node = &network.model().graph.nodes[step];
            match node {
                Node::Input(_) => return Ok(false),
                Node::Conv(conv) => {
                    let input = conv.input as usize;
                    let h = self.rings[input].height;
                    if !self.ensure(input, (y + 1).min(h - 1), compute, capacity)? {
                        return Ok(false);
                    }
                    if compute {
                        let (a, b) = (y.saturating_sub(1), (y + 2).min(h));
                        let off = y - a;
                        let (ri, ro) = (self.rings[input], self.rings[t]);
                        let n = b - a;
                        let (gathered, read) = self.source(input, a, n);
                        // Same-height views (the kernels require it); only
                        // row `off` of the output view is written, and the
                        // output slice starts at that row (one ring row,
                        // never wrapped).
                        let write = ro.row(y);
                        let (src, dst) = if gathered {
                            (
                                &self.gathered[..read.1],
                                &mut self.storage[write.0..write.0 + write.1],
                            )
                        } else {
                            split_two(&mut self.storage, read, write)?
                        };
                        network.conv_view(step, src, ri.dims(n), dst, ro.dims(n), off..off + 1)?;
                    }
                }
                Node::MaxPool(u) | Node::Upsample(u) => {
                    let input = u.input as usize;
                    let pool = matches!(node, Node::MaxPool(_));
                    let (first, count) = if pool { (2 * y, 2) } else { (y / 2, 1) };
                    if !self.ensure(input, first + count - 1, compute, capacity)? {
                        return Ok(false);
                    }
                    if compute {
                        let (ri, ro) = (self.rings[input], self.rings[t]);
                        let (gathered, read) = self.source(input, first, count);
                        let write = ro.row(y);
                        let (src, dst) = if gathered {
                            (
                                &self.gathered[..read.1],
                                &mut self.storage[write.0..write.0 + write.1],
                            )
                        } else {
                            split_two(&mut self.storage, read, write)?
                        };
                        if pool {
                            scalar::maxpool2(src, ri.dims(count), dst, ro.dims(1), 0..1);
                        } else {
                            scalar::upsample2(src, ri.dims(count), dst, ro.dims(1), 0..1);
                        }
                    }
                }
                Node::Concat(cat) => {
                    for &part in &cat.inputs {
                        if !self.ensure(part as usize, y, compute, capacity)? {
                            return Ok(false);
                        }
                    }
                    if compute {
                        let ro = self.rings[t];
                        let write = ro.row(y);
                        let mut channel = 0;
                        for &part in &cat.inputs {
                            let ri = self.rings[part as usize];
                            let read = ri.row(y);
                            let dest = (write.0 + channel, write.1 - channel);
                            let (src, dst) = split_two(&mut self.storage, read, dest)?;
                            scalar::copy_channels(src, ri.dims(1), dst, ro.dims(1), 0..1);
                            channel += ri.channels;
                        }
                    }
                }
            }
            self.produced[t] += 1;
            if !compute {
                self.note(t, capacity);
            }
        }
        Ok(true)
    }
}
