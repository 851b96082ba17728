//! The graph IR shared by the float reference and the int8 model.
//!
//! A graph is a list of nodes in execution order over numbered tensors. Every
//! tensor is NHWC at a *level*: level `l` has `H >> l` rows and `W >> l`
//! columns for an input tile of `H x W`. Node kinds are exactly what
//! anglerFISH needs: input quantisation, 3x3 reflect-padded convolution with a
//! fused activation, 2x2 max-pool, nearest 2x upsample and channel concat.
//! The payloads (what an input node and a convolution carry) are type
//! parameters: nothing for the float reference's inputs, per-channel
//! quantisation for the int8 model's, float or int8 convolutions.

use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

/// Index of a tensor in [`Graph::tensors`].
pub type TensorId = u16;

/// Shape of a tensor relative to the input tile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorShape {
    /// Number of channels.
    pub channels: u16,
    /// Resolution level: the tensor has `H >> level` x `W >> level` pixels.
    pub level: u8,
}

/// Activation fused into a convolution's epilogue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ActivationKind {
    /// No activation.
    Identity,
    /// `x` for `x > 0`, `exp(x) - 1` otherwise.
    Elu,
    /// `1 / (1 + exp(-x))`.
    Sigmoid,
}

impl ActivationKind {
    /// Evaluates the activation in f64 (used to build lookup tables).
    #[cfg(feature = "std")]
    pub fn eval(self, x: f64) -> f64 {
        match self {
            ActivationKind::Identity => x,
            ActivationKind::Elu => {
                if x > 0.0 {
                    x
                } else {
                    x.exp_m1()
                }
            }
            ActivationKind::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        }
    }

    /// Lower-case name for reports.
    pub fn name(self) -> &'static str {
        match self {
            ActivationKind::Identity => "identity",
            ActivationKind::Elu => "elu",
            ActivationKind::Sigmoid => "sigmoid",
        }
    }
}

/// A node reading one tensor and writing another (pool, upsample).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unary {
    /// Tensor read.
    pub input: TensorId,
    /// Tensor written.
    pub output: TensorId,
}

/// Channel concatenation, in the order given.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Concat {
    /// Tensors concatenated along channels, first to last.
    pub inputs: Vec<TensorId>,
    /// The concatenated tensor.
    pub output: TensorId,
}

/// Reads `channels` consecutive raw image channels starting at
/// `first_channel` into a level-0 tensor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputNode<Q> {
    /// Tensor written.
    pub output: TensorId,
    /// First raw image channel read (image index = colour * rounds + round).
    pub first_channel: u16,
    /// Number of raw channels read.
    pub channels: u16,
    /// Per-channel quantisation (int8 model) or nothing (float graph).
    pub quant: Q,
}

/// One step of a graph.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Node<Q, C> {
    /// Raw camera counts -> normalised (and quantised) tensor.
    Input(InputNode<Q>),
    /// 3x3 convolution, reflect padding, fused activation.
    Conv(C),
    /// 2x2 max-pool, stride 2.
    MaxPool(Unary),
    /// Nearest-neighbour 2x upsample.
    Upsample(Unary),
    /// Channel concatenation.
    Concat(Concat),
}

/// What a graph output means.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OutputKind {
    /// Emitter position probability (1 channel).
    Position,
    /// Barcode bit probabilities (one channel per bit).
    Barcode,
}

/// A graph output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Output {
    /// What the output means.
    pub kind: OutputKind,
    /// Tensor holding it (level 0).
    pub tensor: TensorId,
}

/// Topology accessors common to float and int8 convolutions.
pub trait ConvTopology {
    /// Tensor read.
    fn input(&self) -> TensorId;
    /// Tensor written.
    fn output(&self) -> TensorId;
}

/// A graph with input payload `Q` and convolution payload `C`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Graph<Q, C> {
    /// Number of raw image channels (rounds x colours).
    pub input_channels: u16,
    /// Every tensor's shape.
    pub tensors: Vec<TensorShape>,
    /// Nodes in execution order.
    pub nodes: Vec<Node<Q, C>>,
    /// Graph outputs.
    pub outputs: Vec<Output>,
}

impl<Q, C: ConvTopology> Node<Q, C> {
    /// Calls `f` with every tensor this node reads.
    pub fn for_each_input(&self, mut f: impl FnMut(TensorId)) {
        match self {
            Node::Input(_) => {}
            Node::Conv(c) => f(c.input()),
            Node::MaxPool(u) | Node::Upsample(u) => f(u.input),
            Node::Concat(c) => c.inputs.iter().for_each(|&t| f(t)),
        }
    }

    /// The tensor this node writes.
    pub fn output(&self) -> TensorId {
        match self {
            Node::Input(i) => i.output,
            Node::Conv(c) => c.output(),
            Node::MaxPool(u) | Node::Upsample(u) => u.output,
            Node::Concat(c) => c.output,
        }
    }

    /// Short name of the node kind.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Node::Input(_) => "input",
            Node::Conv(_) => "conv3x3",
            Node::MaxPool(_) => "maxpool2",
            Node::Upsample(_) => "upsample2",
            Node::Concat(_) => "concat",
        }
    }
}

impl<Q, C: ConvTopology> Graph<Q, C> {
    /// Multiply-accumulates per input pixel (convolutions only).
    pub fn macs_per_pixel(&self) -> f64 {
        self.nodes
            .iter()
            .map(|node| match node {
                Node::Conv(c) => {
                    let input = self.tensors[c.input() as usize];
                    let output = self.tensors[c.output() as usize];
                    let per_output_pixel = 9.0 * input.channels as f64 * output.channels as f64;
                    per_output_pixel / (1u64 << (2 * output.level as u32)) as f64
                }
                _ => 0.0,
            })
            .sum()
    }

    /// Deepest resolution level in the graph.
    pub fn max_level(&self) -> u8 {
        self.tensors.iter().map(|t| t.level).max().unwrap_or(0)
    }
}
