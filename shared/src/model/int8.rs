//! The int8 model: the [graph IR](super::ir) with int8 payloads, the
//! per-tensor grids, the weight blobs and the metadata a model file carries.

use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use super::arch::ArchConfig;
use super::ir::{ActivationKind, ConvTopology, Graph, Node, TensorId};
use crate::quant::{InputQuant, Requant};

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

/// The entries of `codebook` as a model file stores them (name and word).
pub fn codebook_entries(codebook: &crate::codebook::Codebook) -> Vec<CodebookEntry> {
    codebook
        .entries()
        .iter()
        .map(|e| CodebookEntry {
            name: e.name.clone(),
            word: e.word,
        })
        .collect()
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

/// How an int8 model turns raw counts into its input grid (see
/// [`crate::input_stage`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Int8InputStage {
    /// The input nodes' per-channel `quant`: the fixed normalisation fused
    /// with quantisation.
    Fixed,
    /// Per image, from each frame's statistics: fixed-point `z`, then
    /// `table` (entry `t - T_MIN`: `compress(t / STEPS_PER_UNIT)` on the
    /// input grid; [`crate::input_stage::TABLE_LEN`] entries). Dynamic models
    /// measure their input grid per run and store no table. The input nodes'
    /// `quant` is empty.
    PerImage {
        /// The input table.
        table: Vec<i8>,
    },
}

impl Int8InputStage {
    /// The float-side stage this corresponds to.
    pub fn kind(&self) -> crate::input_stage::InputStage {
        match self {
            Int8InputStage::Fixed => crate::input_stage::InputStage::Fixed,
            Int8InputStage::PerImage { .. } => crate::input_stage::InputStage::PerImage,
        }
    }
}

/// An int8 anglerFISH-style model: graph, quantisation and metadata.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// Metadata.
    pub metadata: Metadata,
    /// The graph; input nodes carry per-channel fused normalisation (fixed
    /// input stage).
    pub graph: Graph<Vec<InputQuant>, ConvOp>,
    /// Per-tensor int8 grid, parallel to `graph.tensors`.
    pub tensor_quant: Vec<QuantParams>,
    /// Weight blobs referenced by convolutions.
    pub weights: Vec<WeightBlob>,
    /// How raw counts reach the input grid (format 3; format 2 files are
    /// read as [`Int8InputStage::Fixed`]).
    pub input_stage: Int8InputStage,
}

/// A format-2 model: a [`Model`] without `input_stage`.
#[derive(Deserialize)]
pub(crate) struct ModelV2 {
    metadata: Metadata,
    graph: Graph<Vec<InputQuant>, ConvOp>,
    tensor_quant: Vec<QuantParams>,
    weights: Vec<WeightBlob>,
}

impl From<ModelV2> for Model {
    fn from(old: ModelV2) -> Model {
        Model {
            metadata: old.metadata,
            graph: old.graph,
            tensor_quant: old.tensor_quant,
            weights: old.weights,
            input_stage: Int8InputStage::Fixed,
        }
    }
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
