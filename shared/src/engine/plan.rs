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

use super::network::Network;
use super::EngineError;
use crate::kernels::Dims;
use crate::model::{Node, TensorId};

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

/// The fixed part of running one network on one tile size.
#[derive(Clone, Debug)]
pub struct Plan {
    pub(crate) network_id: usize,
    /// Dynamic models: (grid table offset, float scratch offset, floats).
    pub(crate) dynamic: Option<(usize, usize, usize)>,
    height: usize,
    width: usize,
    placements: Vec<TensorPlacement>,
    arena_bytes: usize,
}

struct Buffer {
    bytes: usize,
    first_step: usize,
    last_step: usize,
    offset: usize,
}

impl Plan {
    /// Plans `network` for `height x width` tiles.
    pub fn new(network: &Network, height: usize, width: usize) -> Result<Plan, EngineError> {
        let graph = &network.model().graph;
        let levels = graph.max_level() as u32;
        let multiple = 1usize << levels;
        // Reflect padding needs at least 2 pixels at the deepest level.
        let minimum = 2 * multiple;
        if !height.is_multiple_of(multiple)
            || !width.is_multiple_of(multiple)
            || height < minimum
            || width < minimum
            || height > 1 << 15
            || width > 1 << 15
        {
            return Err(EngineError::BadTileSize {
                height,
                width,
                multiple,
                minimum,
            });
        }
        let tensors = &graph.tensors;
        // owner[t] = (buffer tensor, channel offset): which buffer t is a view of.
        let mut owner: Vec<(TensorId, usize)> =
            (0..tensors.len()).map(|t| (t as TensorId, 0)).collect();
        let output_tensors: Vec<TensorId> = graph.outputs.iter().map(|o| o.tensor).collect();
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
                    reads_target |= owner[r as usize].0 == concat.output;
                });
                let free = owner[t as usize].0 == t
                    && !matches!(producer_node, Node::Concat(_))
                    && !output_tensors.contains(&t)
                    && !concat.inputs[..i].contains(&t)
                    && !reads_target;
                if aligned && free {
                    owner[t as usize] = (concat.output, channel);
                }
                channel += channels;
            }
        }

        // Buffer sizes and lifetimes (in node steps; outputs live to the end).
        let steps = graph.nodes.len();
        let mut buffers: Vec<Option<Buffer>> = (0..tensors.len()).map(|_| None).collect();
        let touch = |t: TensorId, step: usize, buffers: &mut Vec<Option<Buffer>>| {
            let root = owner[t as usize].0 as usize;
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
            touch(node.output(), step, &mut buffers);
            node.for_each_input(|t| touch(t, step, &mut buffers));
        }
        for &t in &output_tensors {
            touch(t, steps, &mut buffers);
        }

        // Greedy first fit, largest buffers first.
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

        let placements = (0..tensors.len())
            .map(|t| {
                let (root, channel) = owner[t];
                let root_shape = tensors[root as usize];
                let shape = tensors[t];
                let offset = buffers[root as usize].as_ref().map_or(0, |b| b.offset) + channel;
                TensorPlacement {
                    offset,
                    dims: Dims {
                        height: height >> shape.level,
                        width: width >> shape.level,
                        channels: shape.channels as usize,
                        pixel_stride: round_up(root_shape.channels as usize, CHANNEL_ALIGN),
                    },
                    in_concat: root as usize != t,
                }
            })
            .collect();
        let mut plan = Plan {
            network_id: network.id(),
            dynamic: None,
            height,
            width,
            placements,
            arena_bytes: round_up(arena_bytes, ARENA_ALIGN),
        };
        if network.model().metadata.mode == crate::model::QuantMode::Dynamic {
            // Room for each tensor's run-time grid and one float tensor.
            let grids = plan.arena_bytes;
            let floats = round_up(grids + 8 * tensors.len(), ARENA_ALIGN);
            let count = plan
                .placements
                .iter()
                .map(|p| p.dims.height * p.dims.width * p.dims.channels)
                .max()
                .unwrap_or(0);
            plan.dynamic = Some((grids, floats, count));
            // + 4 bytes so an f32-aligned window always fits.
            plan.arena_bytes = round_up(floats + 4 * count + 4, ARENA_ALIGN);
        }
        Ok(plan)
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
