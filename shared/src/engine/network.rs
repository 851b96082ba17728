//! A model prepared for one kernel path, and the allocation-free `run`.

use alloc::vec::Vec;
use core::ops::Range;
use core::sync::atomic::{AtomicUsize, Ordering};

use super::input;
use super::plan::Plan;
use super::EngineError;
use crate::image::InputImage;
use crate::kernels::{self, scalar, ConvParams, KernelPath};
use crate::model::{Model, Node};

static NEXT_NETWORK_ID: AtomicUsize = AtomicUsize::new(1);

/// A convolution ready for its kernel path.
#[derive(Clone, Debug)]
struct PreparedConv {
    weights: Vec<i8>,
    bias: Vec<i32>,
    lut: Option<[i8; 256]>,
}

/// A validated model prepared for one kernel path.
#[derive(Debug)]
pub struct Network {
    id: usize,
    model: Model,
    path: KernelPath,
    /// Indexed by node; `Some` for convolutions.
    convs: Vec<Option<PreparedConv>>,
}

impl Network {
    /// Prepares `model` (validated when it was decoded or built) for `path`.
    pub fn new(model: Model, path: KernelPath) -> Result<Network, EngineError> {
        if !path.is_supported() {
            return Err(EngineError::Kernel(
                crate::kernels::KernelPathError::Unsupported(path),
            ));
        }
        crate::model::validate::validate(&model).map_err(EngineError::InvalidModel)?;
        let convs = model
            .graph
            .nodes
            .iter()
            .map(|node| {
                let Node::Conv(conv) = node else { return None };
                let blob = &model.weights[conv.weights as usize];
                let cin = blob.in_channels as usize * 9;
                let input_zp = model.tensor_quant[conv.input as usize].zero_point as i64;
                let bias: Vec<i32> = conv
                    .bias
                    .iter()
                    .zip(blob.data.chunks_exact(cin))
                    .map(|(&b, w)| {
                        let sum: i64 = w.iter().map(|&v| v as i64).sum();
                        // Reflect padding reads real pixels at every tap, so
                        // sum(w * (x - zp)) = sum(w * x) - zp * sum(w) exactly.
                        (b as i64 - input_zp * sum) as i32
                    })
                    .collect();
                let lut = (conv.lut.len() == 256).then(|| {
                    let mut table = [0i8; 256];
                    table.copy_from_slice(&conv.lut);
                    table
                });
                let (weights, bias) = path.pack_conv(
                    blob.in_channels as usize,
                    conv.bias.len(),
                    &blob.data,
                    &bias,
                    &conv.requant,
                );
                Some(PreparedConv { weights, bias, lut })
            })
            .collect();
        Ok(Network {
            id: NEXT_NETWORK_ID.fetch_add(1, Ordering::Relaxed),
            model,
            path,
            convs,
        })
    }

    /// The model this network runs.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The kernel path in use.
    pub fn kernel_path(&self) -> KernelPath {
        self.path
    }

    /// Plans this network for `height x width` tiles.
    pub fn plan(&self, height: usize, width: usize) -> Result<Plan, EngineError> {
        Plan::new(&self.model, self.id, height, width)
    }

    /// Runs the network on one tile. `outputs[i]` receives graph output `i`
    /// as planar u8 probability maps (`[channel][y][x]`, probability =
    /// value / 255). Allocates nothing.
    pub fn run(
        &self,
        plan: &Plan,
        arena: &mut [u8],
        input: &InputImage<'_>,
        outputs: &mut [&mut [u8]],
    ) -> Result<(), EngineError> {
        self.check_run(plan, arena, input, outputs)?;
        let graph = &self.model.graph;
        let arena: &mut [i8] = if let Some(scratch) = plan.dynamic {
            self.run_dynamic(plan, arena, input)?;
            bytemuck::cast_slice_mut(&mut arena[..scratch.grids])
        } else {
            let arena: &mut [i8] = bytemuck::cast_slice_mut(arena);
            for step in 0..graph.nodes.len() {
                let rows = 0..plan.placement(graph.nodes[step].output()).dims.height;
                self.run_node(plan, arena, input, step, rows)?;
            }
            arena
        };
        for (out, spec) in outputs.iter_mut().zip(&graph.outputs) {
            let place = plan.placement(spec.tensor);
            let span = place.offset..place.offset + place.dims.span();
            scalar::to_probability_maps(&arena[span], place.dims, out, 0..place.dims.height);
        }
        Ok(())
    }

    /// Checks the arguments of a run against the plan and the model.
    fn check_run(
        &self,
        plan: &Plan,
        arena: &[u8],
        input: &InputImage<'_>,
        outputs: &[&mut [u8]],
    ) -> Result<(), EngineError> {
        let graph = &self.model.graph;
        if plan.network_id != self.id {
            return Err(EngineError::PlanMismatch);
        }
        if arena.len() < plan.arena_bytes() {
            return Err(EngineError::ArenaTooSmall {
                needed: plan.arena_bytes(),
                given: arena.len(),
            });
        }
        if input.height() != plan.height() || input.width() != plan.width() {
            return Err(EngineError::BadInput(
                "image size differs from the plan's tile size",
            ));
        }
        if input.channels() < graph.input_channels as usize {
            return Err(EngineError::BadInput(
                "fewer images than the model's input channels",
            ));
        }
        input::check_stats(&self.model, input)?;
        if outputs.len() != graph.outputs.len() {
            return Err(EngineError::BadOutputs {
                index: outputs.len(),
                expected: graph.outputs.len(),
                given: outputs.len(),
            });
        }
        for (i, (out, spec)) in outputs.iter().zip(&graph.outputs).enumerate() {
            let expected = plan.placement(spec.tensor).dims.channels * plan.height() * plan.width();
            if out.len() != expected {
                return Err(EngineError::BadOutputs {
                    index: i,
                    expected,
                    given: out.len(),
                });
            }
        }
        Ok(())
    }

    /// [`Network::run`] with each node's output rows split across
    /// `threads` threads (this one and `threads - 1` scoped workers), a
    /// barrier between nodes. The result is the same bytes as `run`.
    ///
    /// Allocates no buffers: the only heap use is what `std` needs to start
    /// the workers, once per call. Dynamic models (whose grids are measured
    /// on the whole tensor) and `threads <= 1` run single-threaded.
    #[cfg(feature = "std")]
    pub fn run_threaded(
        &self,
        plan: &Plan,
        arena: &mut [u8],
        input: &InputImage<'_>,
        outputs: &mut [&mut [u8]],
        threads: usize,
    ) -> Result<(), EngineError> {
        if threads <= 1 || plan.dynamic.is_some() {
            return self.run(plan, arena, input, outputs);
        }
        self.check_run(plan, arena, input, outputs)?;
        let graph = &self.model.graph;
        let tensors: &mut [i8] = bytemuck::cast_slice_mut(arena);
        let shared = Shared {
            ptr: tensors.as_mut_ptr(),
            len: tensors.len(),
            _arena: core::marker::PhantomData,
        };
        let barrier = SpinBarrier::new(threads);
        let failure = std::sync::Mutex::new(None);
        let work = |worker: usize| {
            // A panicking worker poisons the barrier, so the others panic
            // too instead of waiting for it forever (the scope re-raises).
            let _guard = PoisonOnPanic(&barrier);
            let mut arena = shared;
            let mut failed = false;
            for (step, node) in graph.nodes.iter().enumerate() {
                let height = plan.placement(node.output()).dims.height;
                let rows = height * worker / threads..height * (worker + 1) / threads;
                if !failed {
                    // SAFETY: at this node every worker borrows its own
                    // rows of the node's output (disjoint bands) and reads
                    // tensors that no node writes until the barrier.
                    let result = unsafe { self.run_node_in(plan, &mut arena, input, step, rows) };
                    if let Err(e) = result {
                        failed = true;
                        failure
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .get_or_insert(e);
                    }
                }
                // Even after a failure: the others count on this thread.
                barrier.wait();
            }
        };
        std::thread::scope(|scope| {
            for worker in 1..threads {
                let work = &work;
                scope.spawn(move || work(worker));
            }
            work(0);
        });
        if let Some(e) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
            return Err(e);
        }
        let tensors: &[i8] = bytemuck::cast_slice(arena);
        for (out, spec) in outputs.iter_mut().zip(&graph.outputs) {
            let place = plan.placement(spec.tensor);
            let span = place.offset..place.offset + place.dims.span();
            scalar::to_probability_maps(&tensors[span], place.dims, out, 0..place.dims.height);
        }
        Ok(())
    }

    /// Runs a dynamic model: every activation grid measured on this tile.
    #[cfg(feature = "std")]
    fn run_dynamic(
        &self,
        plan: &Plan,
        arena: &mut [u8],
        image: &InputImage<'_>,
    ) -> Result<(), EngineError> {
        use super::dynamic::{self, Grids};
        use crate::model::QuantParams;
        let scratch = plan.dynamic.ok_or(EngineError::Internal("dynamic plan"))?;
        let (grids_at, floats_at, float_len) = (scratch.grids, scratch.floats, scratch.float_count);
        let (tensor_bytes, rest) = arena.split_at_mut(grids_at);
        let (grid_bytes, float_bytes) = rest.split_at_mut(floats_at - grids_at);
        let mut grids = Grids(grid_bytes);
        let (_, floats, _) = bytemuck::pod_align_to_mut::<u8, f32>(float_bytes);
        let floats = floats
            .get_mut(..float_len)
            .ok_or(EngineError::Internal("float scratch"))?;
        let arena: &mut [i8] = bytemuck::cast_slice_mut(tensor_bytes);
        let model = &self.model;
        let graph = &model.graph;
        for (step, node) in graph.nodes.iter().enumerate() {
            let t = node.output();
            let out = plan.placement(t);
            let out_range = out.offset..out.offset + out.dims.span();
            let fixed = graph
                .outputs
                .iter()
                .any(|o| o.tensor == t)
                .then_some(QuantParams::PROBABILITY);
            let grid = match node {
                Node::Input(input) => dynamic::input(
                    model,
                    image,
                    input.first_channel as usize,
                    floats,
                    &mut arena[out_range],
                    out.dims,
                ),
                Node::Conv(conv) => {
                    let inp = plan.placement(conv.input);
                    let in_grid = grids.get(conv.input as usize);
                    let (input, output) =
                        split_io(arena, inp.offset..inp.offset + inp.dims.span(), out_range)?;
                    dynamic::conv(
                        model, step, input, inp.dims, in_grid, floats, output, out.dims, fixed,
                    )?
                }
                Node::MaxPool(u) | Node::Upsample(u) => {
                    self.run_node(plan, arena, image, step, 0..out.dims.height)?;
                    grids.get(u.input as usize)
                }
                Node::Concat(concat) => {
                    self.run_node(plan, arena, image, step, 0..out.dims.height)?;
                    let mut parts = alloc::vec::Vec::new();
                    let mut channel = 0;
                    for &p in &concat.inputs {
                        let dims = crate::kernels::Dims {
                            channels: plan.placement(p).dims.channels,
                            ..out.dims
                        };
                        let start = out.offset + channel;
                        parts.push((start..start + dims.span(), dims, grids.get(p as usize)));
                        channel += dims.channels;
                    }
                    let grid = dynamic::unify_concat(&parts, arena);
                    for &p in &concat.inputs {
                        grids.set(p as usize, grid);
                    }
                    grid
                }
            };
            grids.set(t as usize, grid);
        }
        Ok(())
    }

    #[cfg(not(feature = "std"))]
    fn run_dynamic(&self, _: &Plan, _: &mut [u8], _: &InputImage<'_>) -> Result<(), EngineError> {
        Err(EngineError::Internal("dynamic models need the std feature"))
    }

    /// Runs convolution node `step` on views, output rows `rows`, with this
    /// network's kernel path.
    pub(crate) fn conv_view(
        &self,
        step: usize,
        input: &[i8],
        in_dims: crate::kernels::Dims,
        output: &mut [i8],
        out_dims: crate::kernels::Dims,
        rows: Range<usize>,
    ) -> Result<(), EngineError> {
        let Node::Conv(conv) = &self.model.graph.nodes[step] else {
            return Err(EngineError::Internal("conv_view on a non-conv node"));
        };
        let prepared = self.convs[step]
            .as_ref()
            .ok_or(EngineError::Internal("conv not prepared"))?;
        let params = ConvParams {
            in_channels: in_dims.channels,
            out_channels: out_dims.channels,
            weights: &prepared.weights,
            bias: &prepared.bias,
            requant: &conv.requant,
            pre_zero_point: conv.pre_activation.zero_point,
            lut: prepared.lut.as_ref(),
        };
        kernels::conv3x3(self.path, input, in_dims, &params, output, out_dims, rows);
        Ok(())
    }

    /// Runs only the first `steps` nodes (no output maps), so tools can read
    /// intermediate tensors from the arena at [`Plan::placement`] for
    /// layer-by-layer error analysis. Allocates nothing.
    pub fn run_prefix(
        &self,
        plan: &Plan,
        arena: &mut [u8],
        input: &InputImage<'_>,
        steps: usize,
    ) -> Result<(), EngineError> {
        let graph = &self.model.graph;
        if plan.network_id != self.id {
            return Err(EngineError::PlanMismatch);
        }
        if plan.dynamic.is_some() {
            return Err(EngineError::BadInput(
                "run_prefix does not support dynamic models",
            ));
        }
        if arena.len() < plan.arena_bytes() {
            return Err(EngineError::ArenaTooSmall {
                needed: plan.arena_bytes(),
                given: arena.len(),
            });
        }
        if input.height() != plan.height()
            || input.width() != plan.width()
            || input.channels() < graph.input_channels as usize
        {
            return Err(EngineError::BadInput(
                "image does not match the plan and model",
            ));
        }
        let arena: &mut [i8] = bytemuck::cast_slice_mut(arena);
        for step in 0..steps.min(graph.nodes.len()) {
            let rows = 0..plan.placement(graph.nodes[step].output()).dims.height;
            self.run_node(plan, arena, input, step, rows)?;
        }
        Ok(())
    }

    /// Runs node `step` for output rows `rows`.
    fn run_node(
        &self,
        plan: &Plan,
        arena: &mut [i8],
        image: &InputImage<'_>,
        step: usize,
        rows: Range<usize>,
    ) -> Result<(), EngineError> {
        // SAFETY: an exclusive slice has no concurrent users.
        unsafe { self.run_node_in(plan, &mut Exclusive(arena), image, step, rows) }
    }

    /// Runs node `step` for output rows `rows`, borrowing its input and
    /// output regions through `arena`. Output slices start at row
    /// `rows.start` (the kernels' contract), so only those rows' bytes are
    /// borrowed mutably.
    ///
    /// # Safety
    ///
    /// As [`ArenaAccess::io`] for `arena`: while this runs, nobody else may
    /// access the bytes of rows `rows` of the node's output, nor write the
    /// tensors it reads.
    unsafe fn run_node_in<A: ArenaAccess>(
        &self,
        plan: &Plan,
        arena: &mut A,
        image: &InputImage<'_>,
        step: usize,
        rows: Range<usize>,
    ) -> Result<(), EngineError> {
        if rows.is_empty() {
            return Ok(());
        }
        let model = &self.model;
        let node = &model.graph.nodes[step];
        let out = plan.placement(node.output());
        // Bytes of rows `rows` of a tensor view starting at `offset`.
        let (first_row, row_count) = (rows.start, rows.len());
        let band = |offset: usize, dims: crate::kernels::Dims| {
            let start = offset + first_row * dims.width * dims.pixel_stride;
            start..start + (row_count * dims.width - 1) * dims.pixel_stride + dims.channels
        };
        let read = |t: crate::model::TensorId| {
            let p = plan.placement(t);
            p.offset..p.offset + p.dims.span()
        };
        match node {
            Node::Input(input) => {
                // SAFETY: forwarded contract; the write range is rows `rows`
                // of this node's output.
                let output = unsafe { arena.output(band(out.offset, out.dims)) }?;
                input::quantise_rows(model, input, image, output, out.dims, rows)?;
            }
            Node::Conv(conv) => {
                let inp = plan.placement(conv.input);
                // SAFETY: forwarded contract; the write range is rows `rows`
                // of this node's output.
                let (input, output) =
                    unsafe { arena.io(read(conv.input), band(out.offset, out.dims)) }?;
                self.conv_view(step, input, inp.dims, output, out.dims, rows)?;
            }
            Node::MaxPool(u) | Node::Upsample(u) => {
                let inp = plan.placement(u.input);
                // SAFETY: forwarded contract; the write range is rows `rows`
                // of this node's output.
                let (input, output) =
                    unsafe { arena.io(read(u.input), band(out.offset, out.dims)) }?;
                if matches!(node, Node::MaxPool(_)) {
                    scalar::maxpool2(input, inp.dims, output, out.dims, rows);
                } else {
                    scalar::upsample2(input, inp.dims, output, out.dims, rows);
                }
            }
            Node::Concat(concat) => {
                let mut channel = 0;
                for &t in &concat.inputs {
                    let part = plan.placement(t);
                    if !part.in_concat || part.offset != out.offset + channel {
                        let dims = crate::kernels::Dims {
                            channels: part.dims.channels,
                            ..out.dims
                        };
                        // SAFETY: forwarded contract; the write range is rows
                        // `rows` of this node's output, channels of part `t`.
                        let (input, output) =
                            unsafe { arena.io(read(t), band(out.offset + channel, dims)) }?;
                        scalar::copy_channels(input, part.dims, output, out.dims, rows.clone());
                    }
                    channel += part.dims.channels;
                }
            }
        }
        Ok(())
    }
}

/// How [`Network::run_node_in`] borrows regions of the arena.
trait ArenaAccess {
    /// Borrows a read region and a disjoint write region.
    ///
    /// # Safety
    ///
    /// While the borrows live, no other thread may access `write` or write
    /// `read` (trivially true for [`Exclusive`]).
    unsafe fn io(
        &mut self,
        read: Range<usize>,
        write: Range<usize>,
    ) -> Result<(&[i8], &mut [i8]), EngineError>;

    /// Borrows a write region.
    ///
    /// # Safety
    ///
    /// As [`ArenaAccess::io`].
    unsafe fn output(&mut self, write: Range<usize>) -> Result<&mut [i8], EngineError>;
}

/// The arena borrowed by one thread.
struct Exclusive<'a>(&'a mut [i8]);

impl ArenaAccess for Exclusive<'_> {
    /// # Safety
    ///
    /// As [`ArenaAccess::io`].
    unsafe fn io(
        &mut self,
        read: Range<usize>,
        write: Range<usize>,
    ) -> Result<(&[i8], &mut [i8]), EngineError> {
        split_io(self.0, read, write)
    }

    /// # Safety
    ///
    /// As [`ArenaAccess::io`].
    unsafe fn output(&mut self, write: Range<usize>) -> Result<&mut [i8], EngineError> {
        self.0
            .get_mut(write)
            .ok_or(EngineError::Internal("planned region outside the arena"))
    }
}

/// The arena shared by the workers of [`Network::run_threaded`]: each
/// borrows, per node, only the output rows it computes.
#[cfg(feature = "std")]
#[derive(Clone, Copy)]
struct Shared<'a> {
    ptr: *mut i8,
    len: usize,
    _arena: core::marker::PhantomData<&'a mut [i8]>,
}

// SAFETY: a raw view of an arena borrowed for 'a; every borrow made through
// it follows `ArenaAccess::io`'s contract (disjoint writes within a node, a
// barrier between nodes), so sharing it between threads races on nothing.
#[cfg(feature = "std")]
unsafe impl Send for Shared<'_> {}
// SAFETY: as for `Send`.
#[cfg(feature = "std")]
unsafe impl Sync for Shared<'_> {}

#[cfg(feature = "std")]
impl ArenaAccess for Shared<'_> {
    /// # Safety
    ///
    /// As [`ArenaAccess::io`].
    unsafe fn io(
        &mut self,
        read: Range<usize>,
        write: Range<usize>,
    ) -> Result<(&[i8], &mut [i8]), EngineError> {
        let inside = |r: &Range<usize>| r.start <= r.end && r.end <= self.len;
        if !inside(&read) || !inside(&write) {
            return Err(EngineError::Internal("planned region outside the arena"));
        }
        if read.end > write.start && write.end > read.start {
            return Err(EngineError::Internal(
                "planned read and write regions overlap",
            ));
        }
        // SAFETY: both ranges lie in the arena (checked) and are disjoint;
        // by the caller's contract no other thread writes `read` or touches
        // `write` while these borrows live.
        unsafe {
            Ok((
                core::slice::from_raw_parts(self.ptr.add(read.start), read.len()),
                core::slice::from_raw_parts_mut(self.ptr.add(write.start), write.len()),
            ))
        }
    }

    /// # Safety
    ///
    /// As [`ArenaAccess::io`].
    unsafe fn output(&mut self, write: Range<usize>) -> Result<&mut [i8], EngineError> {
        if write.start > write.end || write.end > self.len {
            return Err(EngineError::Internal("planned region outside the arena"));
        }
        // SAFETY: inside the arena (checked); exclusive by the caller's
        // contract.
        unsafe {
            Ok(core::slice::from_raw_parts_mut(
                self.ptr.add(write.start),
                write.len(),
            ))
        }
    }
}

/// A barrier that spins briefly, then yields: node steps are short (tens of
/// microseconds on small tiles), too short to sleep on a futex.
#[cfg(feature = "std")]
struct SpinBarrier {
    threads: usize,
    arrived: AtomicUsize,
    generation: AtomicUsize,
    poisoned: core::sync::atomic::AtomicBool,
}

/// Poisons a [`SpinBarrier`] when dropped during a panic.
#[cfg(feature = "std")]
struct PoisonOnPanic<'a>(&'a SpinBarrier);

#[cfg(feature = "std")]
impl Drop for PoisonOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.poisoned.store(true, Ordering::Release);
        }
    }
}

#[cfg(feature = "std")]
impl SpinBarrier {
    fn new(threads: usize) -> SpinBarrier {
        SpinBarrier {
            threads,
            arrived: AtomicUsize::new(0),
            generation: AtomicUsize::new(0),
            poisoned: core::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Returns once all `threads` threads have called `wait` for this
    /// generation; everything each wrote before is visible to all after.
    fn wait(&self) {
        let generation = self.generation.load(Ordering::Acquire);
        // AcqRel: the last arriver acquires every earlier arriver's writes
        // (the RMWs form one release sequence) and releases them below.
        if self.arrived.fetch_add(1, Ordering::AcqRel) + 1 == self.threads {
            self.arrived.store(0, Ordering::Relaxed);
            self.generation.fetch_add(1, Ordering::Release);
            return;
        }
        let mut spins = 0u32;
        while self.generation.load(Ordering::Acquire) == generation {
            if self.poisoned.load(Ordering::Acquire) {
                panic!("another engine worker panicked");
            }
            if spins < 2000 {
                core::hint::spin_loop();
                spins += 1;
            } else {
                std::thread::yield_now();
            }
        }
    }
}

/// Borrows a read region and a disjoint write region of the arena.
fn split_io(
    arena: &mut [i8],
    read: Range<usize>,
    write: Range<usize>,
) -> Result<(&[i8], &mut [i8]), EngineError> {
    if read.end <= write.start {
        let (a, b) = arena.split_at_mut(write.start);
        Ok((&a[read], &mut b[..write.len()]))
    } else if write.end <= read.start {
        let (a, b) = arena.split_at_mut(read.start);
        Ok((&b[..read.len()], &mut a[write]))
    } else {
        Err(EngineError::Internal(
            "planned read and write regions overlap",
        ))
    }
}
