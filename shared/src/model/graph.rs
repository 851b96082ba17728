//! The graph IR shared by the float reference and the int8 model.
//!
//! A graph is a list of nodes in execution order over numbered tensors. Every
//! tensor is NHWC at a *level*: level `l` has `H >> l` rows and `W >> l`
//! columns for an input tile of `H x W`. Node kinds are exactly what
//! anglerFISH needs: input quantisation, 3x3 reflect-padded convolution with a
//! fused activation, 2x2 max-pool, nearest 2x upsample and channel concat.

use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use super::arch::ArchConfig;
use crate::quant::{InputQuant, Requant};

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

/// Affine int8 grid: `real = scale * (q - zero_point)`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuantParams {
    /// Step between neighbouring int8 values.
    pub scale: f32,
    /// The int8 value that stands for real 0.
    pub zero_point: i8,
}

impl QuantParams {
    /// The output grid of probability maps: `p = (q + 128) / 255`.
    pub const PROBABILITY: QuantParams = QuantParams {
        scale: 1.0 / 255.0,
        zero_point: -128,
    };

    /// The real value an int8 code stands for.
    pub fn dequantise(self, q: i8) -> f32 {
        self.scale * (q as i32 - self.zero_point as i32) as f32
    }
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

/// An int8 convolution as stored in a model file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConvOp {
    /// Tensor read.
    pub input: TensorId,
    /// Tensor written.
    pub output: TensorId,
    /// Index into [`Model::weights`]; two convs may share one blob.
    pub weights: u32,
    /// Per-output-channel bias at scale `input.scale * weight_scale[c]`.
    pub bias: Vec<i32>,
    /// Per-output-channel requantisation from the accumulator to the
    /// pre-activation grid.
    pub requant: Vec<Requant>,
    /// Pre-activation grid (equals the output grid without a lookup table).
    pub pre_activation: QuantParams,
    /// The activation the lookup table implements.
    pub activation: ActivationKind,
    /// `lut[q + 128]` maps the pre-activation grid to the output grid; empty
    /// for identity, exactly 256 entries otherwise (static and QAT models).
    pub lut: Vec<i8>,
    /// Dynamic models only: the float bias per output channel (the input
    /// scale is known only at run time, so the bias cannot be an integer).
    pub float_bias: Vec<f32>,
}

impl ConvTopology for ConvOp {
    fn input(&self) -> TensorId {
        self.input
    }
    fn output(&self) -> TensorId {
        self.output
    }
}

/// Per-output-channel symmetric int8 weights, layout `[cout][ky][kx][cin]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WeightBlob {
    /// Output channels.
    pub out_channels: u16,
    /// Input channels.
    pub in_channels: u16,
    /// Per-output-channel scale (metadata; the engine uses `requant`).
    pub scales: Vec<f32>,
    /// `out_channels * 9 * in_channels` values in `[-127, 127]`.
    pub data: Vec<i8>,
}

/// How the int8 model was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum QuantMode {
    /// Activation ranges calibrated once over many tiles.
    Static,
    /// Activation scales measured at run time per tensor.
    Dynamic,
    /// Quantisation-aware training, then export.
    Qat,
}

impl QuantMode {
    /// Lower-case name for reports and JSON.
    pub fn name(self) -> &'static str {
        match self {
            QuantMode::Static => "static",
            QuantMode::Dynamic => "dynamic",
            QuantMode::Qat => "qat",
        }
    }
}

/// Input normalisation applied to raw counts: `(raw - mean[c]) / std[c]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Normalisation {
    /// Per raw channel mean (camera counts).
    pub mean: Vec<f32>,
    /// Per raw channel standard deviation (camera counts), > 0.
    pub std: Vec<f32>,
}

impl Normalisation {
    /// The same mean and std for `channels` channels.
    pub fn uniform(channels: usize, mean: f32, std: f32) -> Normalisation {
        Normalisation {
            mean: alloc::vec![mean; channels],
            std: alloc::vec![std; channels],
        }
    }
}

pub use crate::codebook::BitOrder;

/// One codebook word carried in a model file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodebookEntry {
    /// Gene name ("Blank-..." for blank words).
    pub name: String,
    /// Barcode: bit i set = barcode bit i on.
    pub word: u16,
}

/// Where a model came from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// Tool and version that wrote the file.
    pub tool: String,
    /// The command line that made it.
    pub command: String,
    /// Training data (preset, seed, path).
    pub data: String,
    /// Free text.
    pub notes: String,
}

/// Everything in a model file besides the graph.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    /// Short model name.
    pub name: String,
    /// The architecture the graph was built from, if it came from one.
    pub arch: Option<ArchConfig>,
    /// Quantisation mode.
    pub mode: QuantMode,
    /// Input normalisation (raw counts), one entry per raw channel.
    pub normalisation: Normalisation,
    /// Barcode bit order the network was trained with.
    pub bit_order: BitOrder,
    /// Codebook the model was trained with, if any.
    pub codebook: Option<Vec<CodebookEntry>>,
    /// How it was made.
    pub provenance: Provenance,
}

/// An int8 anglerFISH-style model: graph, quantisation and metadata.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// Metadata.
    pub metadata: Metadata,
    /// The graph; input nodes carry per-channel fused normalisation.
    pub graph: Graph<Vec<InputQuant>, ConvOp>,
    /// Per-tensor int8 grid, parallel to `graph.tensors`.
    pub tensor_quant: Vec<QuantParams>,
    /// Weight blobs referenced by convolutions.
    pub weights: Vec<WeightBlob>,
}

impl Model {
    /// Number of distinct int8 weights plus biases.
    pub fn parameter_count(&self) -> usize {
        let weights: usize = self.weights.iter().map(|w| w.data.len()).sum();
        let biases: usize = self
            .graph
            .nodes
            .iter()
            .map(|n| match n {
                Node::Conv(c) => c.bias.len(),
                _ => 0,
            })
            .sum();
        weights + biases
    }
}
