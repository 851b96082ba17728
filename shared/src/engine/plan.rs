//! Arena planning: where every tensor lives for one tile size.
//!
//! Each tensor is a *view* into a *buffer*. A concat's inputs are normally
//! views into the concat's own buffer (each at its channel offset), so their
//! producers write in place and the concat costs nothing; a buffer is alive
//! from the first write into any of its views to the last read of any of
//! them, which keeps U-Net skips alive across the bottleneck. Buffers whose
//! lifetimes overlap get disjoint byte ranges (greedy first fit, largest
//! first); the arena is the highest end.

use alloc::vec;
use alloc::vec::Vec;

use super::tile::{check_tile_size, Extent};
use super::EngineError;
use crate::kernels::Dims;
use crate::model::{ConvOp, Graph, Model, Node, QuantMode, TensorId};
use crate::quant::InputQuant;

/// Pixel strides are padded to this many channels, so SIMD kernels can
/// process whole vectors of channels without masking.
pub const CHANNEL_ALIGN: usize = 16;
/// Every buffer starts at a multiple of this many bytes.
pub const ARENA_ALIGN: usize = 64;
/// Slack after each buffer so vector loads near its end stay inside.
const BUFFER_SLACK: usize = 64;

fn round_up(x: usize, to: usize) -> usize {
    x.div_ceil(to) * to
}

/// Where one tensor lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TensorPlacement {
    /// Byte offset of pixel (0, 0), channel 0 in the arena.
    pub offset: usize,
    /// Geometry of the view.
    pub dims: Dims,
    /// True when this tensor is a channel slice of a concat's buffer.
    pub in_concat: bool,
}

/// Where the scratch of a dynamic model (whose grids are measured per
/// tile) lives, after the tensors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DynamicScratch {
    /// Byte offset of the per-tensor run-time grids (8 bytes each).
    pub(crate) grids: usize,
    /// Byte offset of the float scratch (before `f32` alignment).
    pub(crate) floats: usize,
    /// Floats in the scratch: the largest tensor's element count.
    pub(crate) float_count: usize,
}

/// The fixed part of running one network on one tile size.
#[derive(Clone, Debug)]
pub struct Plan {
    pub(crate) network_id: usize,
    /// Dynamic models only.
    pub(crate) dynamic: Option<DynamicScratch>,
    height: usize,
    width: usize,
    placements: Vec<TensorPlacement>,
    arena_bytes: usize,
}

/// Which buffer a tensor is a view of: its own, or the buffer of a concat
/// it is written into, at a channel offset.
#[derive(Clone, Copy, Debug)]
struct View {
    /// The tensor owning the buffer.
    buffer: TensorId,
    /// First channel of the view in that buffer.
    channel: usize,
}

struct Buffer {
    bytes: usize,
    first_step: usize,
    last_step: usize,
    offset: usize,
}

type ModelGraph = Graph<Vec<InputQuant>, ConvOp>;

impl Plan {
    /// Plans `model`'s graph for `height x width` tiles, for the network
    /// numbered `network_id` ([`super::Network::plan`]).
    pub(crate) fn new(
        model: &Model,
        network_id: usize,
        height: usize,
        width: usize,
    ) -> Result<Plan, EngineError> {
        let graph = &model.graph;
        check_tile_size(graph, height, width, Extent::Tile)?;
        let views = concat_views(graph);
        let mut buffers = buffer_lifetimes(graph, &views, height, width);
        let arena_bytes = first_fit(&mut buffers)?;
        let placements = place_tensors(graph, &views, &buffers, height, width);
        let mut plan = Plan {
            network_id,
            dynamic: None,
            height,
            width,
            placements,
            arena_bytes: round_up(arena_bytes, ARENA_ALIGN),
        };
        if model.metadata.mode == QuantMode::Dynamic {
            plan.add_dynamic_scratch();
        }
        Ok(plan)
    }

    /// Room after the tensors for each tensor's run-time grid and one float
    /// tensor.
    fn add_dynamic_scratch(&mut self) {
        let grids = self.arena_bytes;
        let floats = round_up(grids + 8 * self.placements.len(), ARENA_ALIGN);
        let float_count = self
            .placements
            .iter()
            .map(|p| p.dims.height * p.dims.width * p.dims.channels)
            .max()
            .unwrap_or(0);
        self.dynamic = Some(DynamicScratch {
            grids,
            floats,
            float_count,
        });
        // + 4 bytes so an f32-aligned window always fits.
        self.arena_bytes = round_up(floats + 4 * float_count + 4, ARENA_ALIGN);
    }

    /// Tile height.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Tile width.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Bytes of arena `run` needs.
    pub fn arena_bytes(&self) -> usize {
        self.arena_bytes
    }

    /// Where tensor `t` lives.
    pub fn placement(&self, t: TensorId) -> TensorPlacement {
        self.placements[t as usize]
    }

    /// Every tensor's placement.
    pub fn placements(&self) -> &[TensorPlacement] {
        &self.placements
    }
}

/// Makes each concat input a view into the concat's buffer where that is
/// safe: channel-aligned, produced by a node that is not a concat and does
/// not read that buffer, not a graph output, not already a view, and not
/// concatenated twice.
fn concat_views(graph: &ModelGraph) -> Vec<View> {
    let tensors = &graph.tensors;
    let mut views: Vec<View> = (0..tensors.len())
        .map(|t| View {
            buffer: t as TensorId,
            channel: 0,
        })
        .collect();
    let outputs: Vec<TensorId> = graph.outputs.iter().map(|o| o.tensor).collect();
    let mut producer = vec![usize::MAX; tensors.len()];
    for (step, node) in graph.nodes.iter().enumerate() {
        producer[node.output() as usize] = step;
    }
    for node in &graph.nodes {
        let Node::Concat(concat) = node else { continue };
        let mut channel = 0usize;
        for (i, &t) in concat.inputs.iter().enumerate() {
            let channels = tensors[t as usize].channels as usize;
            let last = i + 1 == concat.inputs.len();
            let aligned = channel.is_multiple_of(CHANNEL_ALIGN)
                && (last || channels.is_multiple_of(CHANNEL_ALIGN));
            let producer_node = &graph.nodes[producer[t as usize]];
            let mut reads_target = false;
            producer_node.for_each_input(|r| {
                reads_target |= views[r as usize].buffer == concat.output;
            });
            let free = views[t as usize].buffer == t
                && !matches!(producer_node, Node::Concat(_))
                && !outputs.contains(&t)
                && !concat.inputs[..i].contains(&t)
                && !reads_target;
            if aligned && free {
                views[t as usize] = View {
                    buffer: concat.output,
                    channel,
                };
            }
            channel += channels;
        }
    }
    views
}

/// Each buffer's size and lifetime in node steps (graph outputs live to
/// the end); `None` for tensors that are views into another's buffer.
fn buffer_lifetimes(
    graph: &ModelGraph,
    views: &[View],
    height: usize,
    width: usize,
) -> Vec<Option<Buffer>> {
    let tensors = &graph.tensors;
    let mut buffers: Vec<Option<Buffer>> = (0..tensors.len()).map(|_| None).collect();
    let mut touch = |t: TensorId, step: usize| {
        let root = views[t as usize].buffer as usize;
        let shape = tensors[root];
        let pixels = (height >> shape.level) * (width >> shape.level);
        let bytes = pixels * round_up(shape.channels as usize, CHANNEL_ALIGN) + BUFFER_SLACK;
        let b = buffers[root].get_or_insert(Buffer {
            bytes,
            first_step: step,
            last_step: step,
            offset: 0,
        });
        b.first_step = b.first_step.min(step);
        b.last_step = b.last_step.max(step);
    };
    for (step, node) in graph.nodes.iter().enumerate() {
        touch(node.output(), step);
        node.for_each_input(|t| touch(t, step));
    }
    for output in &graph.outputs {
        touch(output.tensor, graph.nodes.len());
    }
    buffers
}

/// Gives every buffer an offset, greedy first fit, largest buffers first,
/// so that buffers alive at the same step never overlap; returns the end
/// of the highest.
fn first_fit(buffers: &mut [Option<Buffer>]) -> Result<usize, EngineError> {
    let mut order: Vec<usize> = (0..buffers.len())
        .filter(|&b| buffers[b].is_some())
        .collect();
    order.sort_by_key(|&b| core::cmp::Reverse(buffers[b].as_ref().map_or(0, |b| b.bytes)));
    let mut placed: Vec<usize> = Vec::with_capacity(order.len());
    let mut arena_bytes = 0usize;
    for &b in &order {
        let (first, last, bytes) = {
            let buf = buffers[b]
                .as_ref()
                .ok_or(EngineError::Internal("unplaced buffer"))?;
            (buf.first_step, buf.last_step, buf.bytes)
        };
        let mut busy: Vec<(usize, usize)> = placed
            .iter()
            .filter_map(|&p| buffers[p].as_ref())
            .filter(|o| o.first_step <= last && first <= o.last_step)
            .map(|o| (o.offset, o.offset + o.bytes))
            .collect();
        busy.sort_unstable();
        let mut offset = 0usize;
        for (start, end) in busy {
            if offset + bytes <= start {
                break;
            }
            offset = offset.max(round_up(end, ARENA_ALIGN));
        }
        if let Some(buf) = buffers[b].as_mut() {
            buf.offset = offset;
        }
        arena_bytes = arena_bytes.max(offset + bytes);
        placed.push(b);
    }
    Ok(arena_bytes)
}

/// Every tensor's placement: its buffer's offset plus its channel offset,
/// with the buffer's (padded) pixel stride.
fn place_tensors(
    graph: &ModelGraph,
    views: &[View],
    buffers: &[Option<Buffer>],
    height: usize,
    width: usize,
) -> Vec<TensorPlacement> {
    let tensors = &graph.tensors;
    views
        .iter()
        .enumerate()
        .map(|(t, view)| {
            let root = view.buffer as usize;
            let root_shape = tensors[root];
            let shape = tensors[t];
            let offset = buffers[root].as_ref().map_or(0, |b| b.offset) + view.channel;
            TensorPlacement {
                offset,
                dims: Dims {
                    height: height >> shape.level,
                    width: width >> shape.level,
                    channels: shape.channels as usize,
                    pixel_stride: round_up(root_shape.channels as usize, CHANNEL_ALIGN),
                },
                in_concat: root != t,
            }
        })
        .collect()
}
