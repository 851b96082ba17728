//! The float reference: the same graph in f32, so quantisation error can be
//! measured without libtorch, and calibration ranges collected in Rust.

use core::fmt;
use std::string::String;
use std::vec;
use std::vec::Vec;

use crate::image::InputImage;
use crate::input_stage::{float_input, InputStage};
use crate::model::arch::{ArchConfig, ArchError, ConvSpec};
use crate::model::{ActivationKind, ConvTopology, Graph, Node, Normalisation, TensorId};
use crate::rng::SplitMix64;

/// Why a float model could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReferenceError {
    /// The architecture does not make a network.
    Arch(ArchError),
    /// The normalisation does not have one entry per raw input channel.
    Normalisation {
        /// Raw input channels of the architecture.
        channels: usize,
        /// Means given.
        means: usize,
        /// Standard deviations given.
        stds: usize,
    },
}

impl fmt::Display for ReferenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReferenceError::Arch(e) => write!(f, "{e}"),
            ReferenceError::Normalisation {
                channels,
                means,
                stds,
            } => write!(
                f,
                "normalisation must have one entry per input channel: {means} means and \
                 {stds} stds for {channels} channels"
            ),
        }
    }
}

// Each message includes its cause's, so no `source`: a printed chain
// would repeat them.
impl core::error::Error for ReferenceError {}

/// A float 3x3 convolution with reflect padding and a fused activation.
#[derive(Clone, Debug, PartialEq)]
pub struct FloatConv {
    /// Unique name.
    pub name: String,
    /// Name of its parameters (shared weights have equal names).
    pub weight_name: String,
    /// Tensor read.
    pub input: TensorId,
    /// Tensor written.
    pub output: TensorId,
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// `[cout][ky][kx][cin]`.
    pub weights: Vec<f32>,
    /// Per output channel.
    pub bias: Vec<f32>,
    /// Activation applied after the bias.
    pub activation: ActivationKind,
}

impl ConvTopology for FloatConv {
    fn input(&self) -> TensorId {
        self.input
    }
    fn output(&self) -> TensorId {
        self.output
    }
}

impl FloatConv {
    /// A convolution of the given spec with zero parameters.
    pub fn zeros(spec: &ConvSpec) -> FloatConv {
        let (cin, cout) = (spec.in_channels as usize, spec.out_channels as usize);
        FloatConv {
            name: spec.name.clone(),
            weight_name: spec.weight_name.clone(),
            input: spec.input,
            output: spec.output,
            in_channels: cin,
            out_channels: cout,
            weights: vec![0.0; cout * 9 * cin],
            bias: vec![0.0; cout],
            activation: spec.activation,
        }
    }
}

/// A float network: graph, normalisation and (optionally) its architecture.
#[derive(Clone, Debug, PartialEq)]
pub struct FloatModel {
    /// The architecture it was built from.
    pub arch: Option<ArchConfig>,
    /// Graph with float convolutions.
    pub graph: Graph<(), FloatConv>,
    /// Raw-count normalisation per input channel (fixed input stage).
    pub normalisation: Normalisation,
    /// How raw counts become the network's input.
    pub input_stage: InputStage,
}

/// Every tensor of one forward pass (NHWC, dense channels) plus the
/// pre-activation output of every convolution.
#[derive(Clone, Debug)]
pub struct Activations {
    /// Tile height.
    pub height: usize,
    /// Tile width.
    pub width: usize,
    /// Indexed by tensor id.
    pub tensors: Vec<Vec<f32>>,
    /// Indexed by node; `Some` for convolutions with an activation.
    pub pre_activations: Vec<Option<Vec<f32>>>,
}

impl FloatModel {
    /// An architecture with He-initialised random weights and small random
    /// biases (deterministic from `seed`); shared weight names share values.
    pub fn random(
        arch: &ArchConfig,
        normalisation: Normalisation,
        seed: u64,
    ) -> Result<FloatModel, ReferenceError> {
        let mut rng = SplitMix64::new(seed);
        let mut by_name: Vec<(String, Vec<f32>, Vec<f32>)> = Vec::new();
        let graph = arch
            .build(|spec| {
                let mut conv = FloatConv::zeros(spec);
                if let Some((_, w, b)) = by_name.iter().find(|(n, _, _)| *n == spec.weight_name) {
                    conv.weights = w.clone();
                    conv.bias = b.clone();
                } else {
                    let std = (1.0 / (9.0 * conv.in_channels as f64)).sqrt();
                    conv.weights
                        .iter_mut()
                        .for_each(|w| *w = (rng.normal() * std) as f32);
                    conv.bias
                        .iter_mut()
                        .for_each(|b| *b = (rng.normal() * 0.05) as f32);
                    by_name.push((
                        spec.weight_name.clone(),
                        conv.weights.clone(),
                        conv.bias.clone(),
                    ));
                }
                conv
            })
            .map_err(ReferenceError::Arch)?;
        let channels = graph.input_channels as usize;
        if normalisation.mean.len() != channels || normalisation.std.len() != channels {
            return Err(ReferenceError::Normalisation {
                channels,
                means: normalisation.mean.len(),
                stds: normalisation.std.len(),
            });
        }
        Ok(FloatModel {
            arch: Some(arch.clone()),
            graph,
            normalisation,
            input_stage: InputStage::Fixed,
        })
    }

    /// Runs the float network on one tile. A per-image model uses the
    /// statistics `image` carries, or measures them on `image` itself when
    /// it carries none.
    pub fn forward(&self, image: &InputImage<'_>) -> Activations {
        let measured;
        let mut image = *image;
        if self.input_stage == InputStage::PerImage && image.stats().is_none() {
            measured = crate::image_stats::measure_all(&image);
            // Measured statistics are always usable (noise >= MIN_NOISE).
            image = image.with_stats(&measured).unwrap_or(image);
        }
        let image = &image;
        let (h, w) = (image.height(), image.width());
        let graph = &self.graph;
        let mut tensors: Vec<Vec<f32>> = vec![Vec::new(); graph.tensors.len()];
        let mut pre_activations = vec![None; graph.nodes.len()];
        for (step, node) in graph.nodes.iter().enumerate() {
            let out_shape = graph.tensors[node.output() as usize];
            let (oh, ow) = (h >> out_shape.level, w >> out_shape.level);
            let oc = out_shape.channels as usize;
            let mut out = vec![0.0f32; oh * ow * oc];
            match node {
                Node::Input(input) => {
                    for y in 0..oh {
                        for x in 0..ow {
                            for c in 0..oc {
                                let raw = input.first_channel as usize + c;
                                let fixed =
                                    (self.normalisation.mean[raw], self.normalisation.std[raw]);
                                out[(y * ow + x) * oc + c] =
                                    float_input(self.input_stage, fixed, image, raw, y, x);
                            }
                        }
                    }
                }
                Node::Conv(conv) => {
                    conv3x3(&tensors[conv.input as usize], oh, ow, conv, &mut out);
                    if conv.activation != ActivationKind::Identity {
                        pre_activations[step] = Some(out.clone());
                        for v in out.iter_mut() {
                            *v = conv.activation.eval(*v as f64) as f32;
                        }
                    }
                }
                Node::MaxPool(u) => {
                    let inp = &tensors[u.input as usize];
                    let iw = ow * 2;
                    for y in 0..oh {
                        for x in 0..ow {
                            for c in 0..oc {
                                let at = |yy: usize, xx: usize| inp[(yy * iw + xx) * oc + c];
                                out[(y * ow + x) * oc + c] = at(2 * y, 2 * x)
                                    .max(at(2 * y, 2 * x + 1))
                                    .max(at(2 * y + 1, 2 * x))
                                    .max(at(2 * y + 1, 2 * x + 1));
                            }
                        }
                    }
                }
                Node::Upsample(u) => {
                    let inp = &tensors[u.input as usize];
                    let iw = ow / 2;
                    for y in 0..oh {
                        for x in 0..ow {
                            let src = ((y / 2) * iw + x / 2) * oc;
                            out[(y * ow + x) * oc..][..oc].copy_from_slice(&inp[src..src + oc]);
                        }
                    }
                }
                Node::Concat(concat) => {
                    let mut offset = 0;
                    for &t in &concat.inputs {
                        let c = graph.tensors[t as usize].channels as usize;
                        let inp = &tensors[t as usize];
                        for p in 0..oh * ow {
                            out[p * oc + offset..][..c].copy_from_slice(&inp[p * c..(p + 1) * c]);
                        }
                        offset += c;
                    }
                }
            }
            tensors[node.output() as usize] = out;
        }
        Activations {
            height: h,
            width: w,
            tensors,
            pre_activations,
        }
    }

    /// Output `i` as planar probability maps `[c][y][x]` in `[0, 1]`.
    pub fn output_maps(&self, acts: &Activations, i: usize) -> Vec<f32> {
        let t = self.graph.outputs[i].tensor;
        let c = self.graph.tensors[t as usize].channels as usize;
        let plane = acts.height * acts.width;
        let data = &acts.tensors[t as usize];
        let mut maps = vec![0.0; c * plane];
        for p in 0..plane {
            for ch in 0..c {
                maps[ch * plane + p] = data[p * c + ch];
            }
        }
        maps
    }
}

fn reflect(i: isize, n: usize) -> usize {
    crate::kernels::scalar::reflect(i, n)
}

fn conv3x3(input: &[f32], h: usize, w: usize, conv: &FloatConv, out: &mut [f32]) {
    let (cin, cout) = (conv.in_channels, conv.out_channels);
    for y in 0..h {
        for x in 0..w {
            let o = (y * w + x) * cout;
            out[o..o + cout].copy_from_slice(&conv.bias);
            for ky in 0..3 {
                let sy = reflect(y as isize + ky as isize - 1, h);
                for kx in 0..3 {
                    let sx = reflect(x as isize + kx as isize - 1, w);
                    let px = &input[(sy * w + sx) * cin..][..cin];
                    for co in 0..cout {
                        let wt = &conv.weights[(co * 9 + ky * 3 + kx) * cin..][..cin];
                        let dot: f32 = px.iter().zip(wt).map(|(a, b)| a * b).sum();
                        out[o + co] += dot;
                    }
                }
            }
        }
    }
}
