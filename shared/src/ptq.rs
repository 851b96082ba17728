//! Post-training quantisation (PTQ) of a [`FloatModel`] into an int8 [`Model`].
//!
//! - Activation grids: per tensor, asymmetric, from calibrated ranges
//!   (always containing 0). Tensors joined by max-pool, upsample or concat
//!   share one grid (their ranges are merged), so those ops stay pure int8.
//!   Graph outputs use the probability grid `(q + 128) / 255`.
//! - Weights: per output channel, symmetric, `max|w| / 127`, clamped to
//!   `[-127, 127]`. Bias: i32 at `input_scale * weight_scale`.
//! - Activations: exact 256-entry lookup tables from the pre-activation grid
//!   (calibrated separately) to the output grid.

use core::fmt;
use std::string::String;
use std::vec;
use std::vec::Vec;

use crate::input_stage::InputStage;
use crate::model::{
    ActivationKind, BitOrder, ConvOp, Graph, InputNode, Int8InputStage, Metadata, Model,
    ModelError, Node, Provenance, QuantMode, QuantParams, WeightBlob,
};
use crate::quant::{round_half_away, InputQuant, QuantError, Requant};
use crate::reference::{Activations, FloatConv, FloatModel};

/// Why a float model could not be quantised.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum PtqError {
    /// [`ActivationGrids::calibrated`] with a calibrator that saw no tiles.
    NoCalibrationTiles,
    /// The calibrator was made for a graph of another shape.
    CalibratorMismatch,
    /// [`ActivationGrids::of_model`] of a dynamic model.
    DynamicModel,
    /// The activation grids do not cover the graph.
    GridsMismatch {
        /// Tensors the grids cover.
        grid_tensors: usize,
        /// Nodes the grids cover.
        grid_nodes: usize,
        /// Tensors of the graph.
        tensors: usize,
        /// Nodes of the graph.
        nodes: usize,
    },
    /// A raw input channel's normalisation does not fit the input grid.
    InputChannel {
        /// Raw image channel.
        channel: usize,
        /// Why.
        error: QuantError,
    },
    /// A convolution with a lookup-table activation has no pre-activation grid.
    NoPreActivationGrid {
        /// The convolution.
        conv: String,
    },
    /// An output channel's accumulator-to-grid multiplier is not representable.
    Multiplier {
        /// The convolution.
        conv: String,
        /// Output channel.
        channel: usize,
        /// Why.
        error: QuantError,
    },
    /// A per-image model without an input node.
    NoInputNode,
    /// A per-image model whose input tensors are on different grids (one
    /// input table serves them all).
    InputGridsDiffer,
    /// The quantised model fails validation (a quantiser bug or a float
    /// model whose graph is inconsistent).
    Invalid(ModelError),
}

impl fmt::Display for PtqError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PtqError::NoCalibrationTiles => f.write_str("calibration saw no tiles"),
            PtqError::CalibratorMismatch => {
                f.write_str("the calibrator was made for a different graph")
            }
            PtqError::DynamicModel => f.write_str("a dynamic model has no activation grids"),
            PtqError::GridsMismatch {
                grid_tensors,
                grid_nodes,
                tensors,
                nodes,
            } => write!(
                f,
                "the activation grids cover {grid_tensors} tensors and {grid_nodes} nodes; \
                 the model has {tensors} and {nodes}"
            ),
            PtqError::InputChannel { channel, error } => {
                write!(f, "input channel {channel}: {error}")
            }
            PtqError::NoPreActivationGrid { conv } => write!(f, "{conv}: no pre-activation grid"),
            PtqError::Multiplier {
                conv,
                channel,
                error,
            } => write!(f, "{conv}: channel {channel}: {error}"),
            PtqError::NoInputNode => f.write_str("the model has no input node"),
            PtqError::InputGridsDiffer => f.write_str(
                "the input tensors of a per-image model must share one grid (the input stage's)",
            ),
            PtqError::Invalid(e) => write!(f, "{e}"),
        }
    }
}

// Each message includes its cause's, so no `source`: a printed chain
// would repeat them.
impl core::error::Error for PtqError {}

/// How a tensor's calibrated range is chosen from the observed values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Observer {
    /// Smallest and largest value seen.
    MinMax,
    /// The given two-sided percentile (e.g. 99.99) of all values seen,
    /// estimated from a histogram over the min/max range.
    Percentile(f64),
}

const HISTOGRAM_BINS: usize = 2048;

#[derive(Clone, Debug)]
struct RangeStat {
    min: f32,
    max: f32,
    /// Values kept for the percentile observer (subsampled).
    samples: Vec<f32>,
}

impl RangeStat {
    fn new() -> RangeStat {
        RangeStat {
            min: f32::INFINITY,
            max: f32::NEG_INFINITY,
            samples: Vec::new(),
        }
    }

    fn observe(&mut self, values: &[f32], keep_samples: bool) {
        for &v in values {
            if v.is_finite() {
                self.min = self.min.min(v);
                self.max = self.max.max(v);
            }
        }
        if keep_samples {
            let step = (values.len() / 4096).max(1);
            self.samples
                .extend(values.iter().step_by(step).filter(|v| v.is_finite()));
        }
    }

    fn range(&self, observer: Observer) -> (f32, f32) {
        if self.min > self.max {
            return (0.0, 0.0);
        }
        match observer {
            Observer::MinMax => (self.min, self.max),
            Observer::Percentile(p) => {
                let mut hist = vec![0u64; HISTOGRAM_BINS];
                let width = (self.max - self.min).max(f32::MIN_POSITIVE);
                for &v in &self.samples {
                    let bin = (((v - self.min) / width) * (HISTOGRAM_BINS as f32 - 1.0)) as usize;
                    hist[bin.min(HISTOGRAM_BINS - 1)] += 1;
                }
                let total: u64 = hist.iter().sum();
                let tail = ((1.0 - p / 100.0) * total as f64 / 2.0) as u64;
                let bin_value =
                    |b: usize| self.min + width * b as f32 / (HISTOGRAM_BINS as f32 - 1.0);
                let (mut lo, mut seen) = (0, 0);
                while lo < HISTOGRAM_BINS - 1 && seen + hist[lo] <= tail {
                    seen += hist[lo];
                    lo += 1;
                }
                let (mut hi, mut seen) = (HISTOGRAM_BINS - 1, 0);
                while hi > 0 && seen + hist[hi] <= tail {
                    seen += hist[hi];
                    hi -= 1;
                }
                (bin_value(lo), bin_value(hi))
            }
        }
    }
}

/// Collects activation ranges over calibration tiles.
#[derive(Clone, Debug)]
pub struct Calibrator {
    observer: Observer,
    tensors: Vec<RangeStat>,
    pre_activations: Vec<Option<RangeStat>>,
    tiles: usize,
}

impl Calibrator {
    /// A calibrator for `model` using `observer`.
    pub fn new(model: &FloatModel, observer: Observer) -> Calibrator {
        Calibrator {
            observer,
            tensors: vec![RangeStat::new(); model.graph.tensors.len()],
            pre_activations: model
                .graph
                .nodes
                .iter()
                .map(|n| match n {
                    Node::Conv(c) if c.activation != ActivationKind::Identity => {
                        Some(RangeStat::new())
                    }
                    _ => None,
                })
                .collect(),
            tiles: 0,
        }
    }

    /// Records one forward pass.
    pub fn observe(&mut self, acts: &Activations) {
        let keep = matches!(self.observer, Observer::Percentile(_));
        for (stat, values) in self.tensors.iter_mut().zip(&acts.tensors) {
            stat.observe(values, keep);
        }
        for (stat, values) in self.pre_activations.iter_mut().zip(&acts.pre_activations) {
            if let (Some(stat), Some(values)) = (stat, values) {
                stat.observe(values, keep);
            }
        }
        self.tiles += 1;
    }

    /// Tiles observed so far.
    pub fn tiles(&self) -> usize {
        self.tiles
    }
}

/// Descriptive fields of the produced model.
#[derive(Clone, Debug)]
pub struct QuantiseOptions {
    /// Model name.
    pub name: String,
    /// Mode recorded in the file.
    pub mode: QuantMode,
    /// Barcode bit order of the training data.
    pub bit_order: BitOrder,
    /// Codebook to embed.
    pub codebook: Option<Vec<crate::model::CodebookEntry>>,
    /// Provenance to embed.
    pub provenance: Provenance,
}

impl Default for QuantiseOptions {
    fn default() -> Self {
        QuantiseOptions {
            name: "anglerfish".into(),
            mode: QuantMode::Static,
            bit_order: BitOrder::Blocked,
            codebook: None,
            provenance: Provenance::default(),
        }
    }
}

/// The asymmetric int8 grid covering `[lo, hi]` (widened to contain 0).
pub fn grid_for_range(lo: f32, hi: f32) -> QuantParams {
    let lo = lo.min(0.0) as f64;
    let hi = hi.max(0.0) as f64;
    let scale = ((hi - lo) / 255.0).max(1e-8);
    let zero_point = round_half_away(-128.0 - lo / scale).clamp(-128.0, 127.0) as i8;
    QuantParams {
        scale: scale as f32,
        zero_point,
    }
}

fn find(parent: &mut [usize], mut x: usize) -> usize {
    while parent[x] != x {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    x
}

/// Logit beyond which a sigmoid output on the probability grid (steps of
/// 1/255) no longer changes: `sigmoid(6.3) > 1 - 0.5/255`. Calibrated logit
/// ranges are clipped to it, so the 256 pre-activation codes are spent where
/// the probability moves (a head's logits often span -40..15, which would
/// put ~0.2 logit per code, 5 % of probability per code around 0.5, right
/// at the detection threshold).
pub const SIGMOID_SATURATION: f32 = 6.3;

/// The activation grids of a static (or QAT) model: one per tensor, plus
/// the pre-activation grid of every convolution with a lookup-table
/// activation. QAT trains on exactly these grids and exports with them, so
/// the fake-quantised graph and the int8 model agree.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ActivationGrids {
    /// Grid of each graph tensor (`graph.tensors` order).
    pub tensors: Vec<QuantParams>,
    /// Per graph node: the pre-activation grid of a convolution whose
    /// activation is not the identity, else `None`.
    pub pre_activations: Vec<Option<QuantParams>>,
}

impl ActivationGrids {
    /// Grids from the ranges collected by `calib`: tensors joined by
    /// max-pool, upsample or concat share the union of their ranges; graph
    /// outputs use the probability grid.
    pub fn calibrated(float: &FloatModel, calib: &Calibrator) -> Result<ActivationGrids, PtqError> {
        if calib.tiles == 0 {
            return Err(PtqError::NoCalibrationTiles);
        }
        let graph = &float.graph;
        let n = graph.tensors.len();
        if calib.tensors.len() != n || calib.pre_activations.len() != graph.nodes.len() {
            return Err(PtqError::CalibratorMismatch);
        }
        // Tensors on one grid: union-find over pool / upsample / concat.
        let mut parent: Vec<usize> = (0..n).collect();
        let union = |a: usize, b: usize, parent: &mut Vec<usize>| {
            let (ra, rb) = (find(parent, a), find(parent, b));
            parent[ra] = rb;
        };
        for node in &graph.nodes {
            match node {
                Node::MaxPool(u) | Node::Upsample(u) => {
                    union(u.input as usize, u.output as usize, &mut parent)
                }
                Node::Concat(c) => {
                    for &t in &c.inputs {
                        union(t as usize, c.output as usize, &mut parent);
                    }
                }
                _ => {}
            }
        }
        let mut group_range: Vec<(f32, f32)> = vec![(0.0, 0.0); n];
        for t in 0..n {
            let root = find(&mut parent, t);
            let (lo, hi) = calib.tensors[t].range(calib.observer);
            let r = &mut group_range[root];
            *r = (r.0.min(lo), r.1.max(hi));
        }
        let outputs: Vec<usize> = graph
            .outputs
            .iter()
            .map(|o| find(&mut parent, o.tensor as usize))
            .collect();
        // A per-image model's inputs sit on the input stage's fixed grid.
        let inputs: Vec<usize> = match float.input_stage {
            InputStage::Fixed => Vec::new(),
            InputStage::PerImage => graph
                .nodes
                .iter()
                .filter_map(|node| match node {
                    Node::Input(input) => Some(find(&mut parent, input.output as usize)),
                    _ => None,
                })
                .collect(),
        };
        let (input_scale, input_zero_point) = crate::input_stage::input_grid();
        let tensors = (0..n)
            .map(|t| {
                let root = find(&mut parent, t);
                if outputs.contains(&root) {
                    QuantParams::PROBABILITY
                } else if inputs.contains(&root) {
                    QuantParams {
                        scale: input_scale,
                        zero_point: input_zero_point,
                    }
                } else {
                    let (lo, hi) = group_range[root];
                    grid_for_range(lo, hi)
                }
            })
            .collect();
        let pre_activations = calib
            .pre_activations
            .iter()
            .zip(&graph.nodes)
            .map(|(stat, node)| {
                stat.as_ref().map(|stat| {
                    let (lo, hi) = stat.range(calib.observer);
                    match node {
                        Node::Conv(c) if c.activation == ActivationKind::Sigmoid => {
                            grid_for_range(lo.max(-SIGMOID_SATURATION), hi.min(SIGMOID_SATURATION))
                        }
                        _ => grid_for_range(lo, hi),
                    }
                })
            })
            .collect();
        Ok(ActivationGrids {
            tensors,
            pre_activations,
        })
    }

    /// The grids stored in a static or QAT model.
    pub fn of_model(model: &Model) -> Result<ActivationGrids, PtqError> {
        if model.metadata.mode == QuantMode::Dynamic {
            return Err(PtqError::DynamicModel);
        }
        let pre_activations = model
            .graph
            .nodes
            .iter()
            .map(|node| match node {
                Node::Conv(c) if c.activation != ActivationKind::Identity => Some(c.pre_activation),
                _ => None,
            })
            .collect();
        Ok(ActivationGrids {
            tensors: model.tensor_quant.clone(),
            pre_activations,
        })
    }
}

/// Quantises `float` with the ranges collected by `calib`.
pub fn quantise(
    float: &FloatModel,
    calib: &Calibrator,
    opts: &QuantiseOptions,
) -> Result<Model, PtqError> {
    let grids = ActivationGrids::calibrated(float, calib)?;
    quantise_on_grids(float, &grids, opts)
}

/// Quantises `float`'s weights and folds them with the given activation
/// grids (from calibration, or the frozen grids of a QAT run).
pub fn quantise_on_grids(
    float: &FloatModel,
    grids: &ActivationGrids,
    opts: &QuantiseOptions,
) -> Result<Model, PtqError> {
    let graph = &float.graph;
    if grids.tensors.len() != graph.tensors.len()
        || grids.pre_activations.len() != graph.nodes.len()
    {
        return Err(PtqError::GridsMismatch {
            grid_tensors: grids.tensors.len(),
            grid_nodes: grids.pre_activations.len(),
            tensors: graph.tensors.len(),
            nodes: graph.nodes.len(),
        });
    }
    let tensor_quant = grids.tensors.clone();
    let mut blobs = Blobs::default();
    let mut nodes = Vec::with_capacity(graph.nodes.len());
    for (step, node) in graph.nodes.iter().enumerate() {
        nodes.push(match node {
            Node::Input(input) if float.input_stage == InputStage::PerImage => {
                Node::Input(InputNode {
                    output: input.output,
                    first_channel: input.first_channel,
                    channels: input.channels,
                    quant: Vec::new(),
                })
            }
            Node::Input(input) => {
                let grid = tensor_quant[input.output as usize];
                let quant = (0..input.channels as usize)
                    .map(|c| {
                        let raw = input.first_channel as usize + c;
                        InputQuant::new(
                            float.normalisation.mean[raw] as f64,
                            float.normalisation.std[raw] as f64,
                            grid.scale as f64,
                        )
                        .map_err(|error| PtqError::InputChannel {
                            channel: raw,
                            error,
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Node::Input(InputNode {
                    output: input.output,
                    first_channel: input.first_channel,
                    channels: input.channels,
                    quant,
                })
            }
            Node::Conv(conv) => {
                let blob_index = blobs.index_of(conv);
                let blob = &blobs.weights[blob_index];
                let input_grid = tensor_quant[conv.input as usize];
                let output_grid = tensor_quant[conv.output as usize];
                let pre_grid = match conv.activation {
                    ActivationKind::Identity => output_grid,
                    _ => grids.pre_activations[step].ok_or_else(|| {
                        PtqError::NoPreActivationGrid {
                            conv: conv.name.clone(),
                        }
                    })?,
                };
                let mut bias = Vec::with_capacity(conv.out_channels);
                let mut requant = Vec::with_capacity(conv.out_channels);
                for (c, &b) in conv.bias.iter().enumerate() {
                    let acc_scale = input_grid.scale as f64 * blob.scales[c] as f64;
                    let q = round_half_away(b as f64 / acc_scale);
                    let limit = crate::model::validate::MAX_BIAS as f64;
                    bias.push(q.clamp(-limit, limit) as i32);
                    requant.push(
                        Requant::from_real(acc_scale / pre_grid.scale as f64).map_err(|error| {
                            PtqError::Multiplier {
                                conv: conv.name.clone(),
                                channel: c,
                                error,
                            }
                        })?,
                    );
                }
                let lut = match conv.activation {
                    ActivationKind::Identity => Vec::new(),
                    act => build_lut(act, pre_grid, output_grid),
                };
                Node::Conv(ConvOp {
                    input: conv.input,
                    output: conv.output,
                    weights: blob_index as u32,
                    bias,
                    requant,
                    pre_activation: pre_grid,
                    activation: conv.activation,
                    lut,
                    float_bias: Vec::new(),
                })
            }
            Node::MaxPool(u) => Node::MaxPool(*u),
            Node::Upsample(u) => Node::Upsample(*u),
            Node::Concat(c) => Node::Concat(c.clone()),
        });
    }
    assemble(float, opts, opts.mode, nodes, tensor_quant, blobs)
}

/// Weight blobs by weight name: convolutions sharing a name (the shared
/// first stage) share one blob.
#[derive(Default)]
struct Blobs {
    weights: Vec<WeightBlob>,
    names: Vec<String>,
}

impl Blobs {
    /// The blob of `conv`'s weight name, quantised the first time it is seen.
    fn index_of(&mut self, conv: &FloatConv) -> usize {
        if let Some(i) = self.names.iter().position(|n| *n == conv.weight_name) {
            return i;
        }
        self.weights.push(quantise_weights(
            &conv.weights,
            conv.in_channels,
            conv.out_channels,
        ));
        self.names.push(conv.weight_name.clone());
        self.weights.len() - 1
    }
}

/// The int8 input stage of `float` quantised in `mode` with the tensor grids
/// `tensor_quant`: a per-image model's table on its input grid, which every
/// input node must share (one table serves them all).
fn int8_input_stage(
    float: &FloatModel,
    mode: QuantMode,
    tensor_quant: &[QuantParams],
) -> Result<Int8InputStage, PtqError> {
    if float.input_stage == InputStage::Fixed {
        return Ok(Int8InputStage::Fixed);
    }
    if mode == QuantMode::Dynamic {
        return Ok(Int8InputStage::PerImage { table: Vec::new() });
    }
    let mut grids = float.graph.nodes.iter().filter_map(|node| match node {
        Node::Input(input) => Some(tensor_quant[input.output as usize]),
        _ => None,
    });
    let grid = grids.next().ok_or(PtqError::NoInputNode)?;
    if grids.any(|g| g != grid) {
        return Err(PtqError::InputGridsDiffer);
    }
    Ok(Int8InputStage::PerImage {
        table: crate::input_stage::build_table(grid.scale, grid.zero_point),
    })
}

/// The model of `nodes` on `float`'s tensors and outputs, validated.
fn assemble(
    float: &FloatModel,
    opts: &QuantiseOptions,
    mode: QuantMode,
    nodes: Vec<Node<Vec<InputQuant>, ConvOp>>,
    tensor_quant: Vec<QuantParams>,
    blobs: Blobs,
) -> Result<Model, PtqError> {
    let graph = &float.graph;
    let model = Model {
        metadata: Metadata {
            name: opts.name.clone(),
            arch: float.arch.clone(),
            mode,
            normalisation: float.normalisation.clone(),
            bit_order: opts.bit_order,
            codebook: opts.codebook.clone(),
            provenance: opts.provenance.clone(),
        },
        graph: Graph {
            input_channels: graph.input_channels,
            tensors: graph.tensors.clone(),
            nodes,
            outputs: graph.outputs.clone(),
        },
        input_stage: int8_input_stage(float, mode, &tensor_quant)?,
        tensor_quant,
        weights: blobs.weights,
    };
    crate::model::validate::validate(&model).map_err(PtqError::Invalid)?;
    Ok(model)
}

/// Per-output-channel symmetric int8 weights.
pub fn quantise_weights(weights: &[f32], in_channels: usize, out_channels: usize) -> WeightBlob {
    let per_channel = 9 * in_channels;
    let mut scales = Vec::with_capacity(out_channels);
    let mut data = Vec::with_capacity(weights.len());
    for chunk in weights.chunks_exact(per_channel) {
        let max = chunk.iter().fold(0.0f32, |m, w| m.max(w.abs()));
        let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
        scales.push(scale);
        data.extend(
            chunk
                .iter()
                .map(|&w| round_half_away((w / scale) as f64).clamp(-127.0, 127.0) as i8),
        );
    }
    WeightBlob {
        out_channels: out_channels as u16,
        in_channels: in_channels as u16,
        scales,
        data,
    }
}

/// `lut[q + 128]`: the activation from the pre-activation grid to the output grid.
pub fn build_lut(act: ActivationKind, pre: QuantParams, out: QuantParams) -> Vec<i8> {
    (-128i32..=127)
        .map(|q| {
            let real = act.eval(pre.dequantise(q as i8) as f64);
            let code = round_half_away(real / out.scale as f64) + out.zero_point as f64;
            code.clamp(-128.0, 127.0) as i8
        })
        .collect()
}

/// Dynamic quantisation: int8 per-channel weights, float biases, and no
/// activation grids at all; the engine measures each tensor's range at run
/// time and quantises it then. Needs no calibration data.
pub fn quantise_dynamic(float: &FloatModel, opts: &QuantiseOptions) -> Result<Model, PtqError> {
    let graph = &float.graph;
    // Placeholder grids: the engine replaces them per tile. Outputs keep the
    // probability grid, which is what the u8 maps mean.
    let mut tensor_quant = vec![
        QuantParams {
            scale: 1.0,
            zero_point: 0,
        };
        graph.tensors.len()
    ];
    for out in &graph.outputs {
        tensor_quant[out.tensor as usize] = QuantParams::PROBABILITY;
    }
    let mut blobs = Blobs::default();
    let nodes = graph
        .nodes
        .iter()
        .map(|node| match node {
            Node::Input(input) => Node::Input(InputNode {
                output: input.output,
                first_channel: input.first_channel,
                channels: input.channels,
                quant: match float.input_stage {
                    InputStage::Fixed => vec![
                        InputQuant {
                            requant: Requant::ONE,
                            offset: 0
                        };
                        input.channels as usize
                    ],
                    InputStage::PerImage => Vec::new(),
                },
            }),
            Node::Conv(conv) => {
                let blob_index = blobs.index_of(conv);
                Node::Conv(ConvOp {
                    input: conv.input,
                    output: conv.output,
                    weights: blob_index as u32,
                    bias: vec![0; conv.out_channels],
                    requant: vec![Requant::ONE; conv.out_channels],
                    pre_activation: tensor_quant[conv.output as usize],
                    activation: conv.activation,
                    lut: Vec::new(),
                    float_bias: conv.bias.clone(),
                })
            }
            Node::MaxPool(u) => Node::MaxPool(*u),
            Node::Upsample(u) => Node::Upsample(*u),
            Node::Concat(c) => Node::Concat(c.clone()),
        })
        .collect();
    assemble(float, opts, QuantMode::Dynamic, nodes, tensor_quant, blobs)
}
