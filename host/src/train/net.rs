//! anglerFISH in tch, built from [`ArchConfig::build`].
//!
//! Parameters are named `{weight_name}.weight` (`[cout][cin][3][3]`) and
//! `{weight_name}.bias`, exactly the checkpoint names; convolutions that
//! share a weight name share one tensor. Each convolution is a 1-pixel
//! reflect pad, a 3x3 convolution with bias and its activation (ELU, none,
//! or sigmoid on the two heads, which [`Net::forward_logits`] leaves off so
//! the loss can work on logits).
//!
//! With [`Net::fake_quant`] set (QAT), the same walk rounds every tensor
//! to the int8 grid the engine will use: inputs and each tensor on its
//! per-tensor grid, weights per output channel (`max|w| / 127`, codes in
//! [-127, 127]), biases to the accumulator grid, and each lookup-table
//! activation as the engine evaluates it: the pre-activation is rounded to
//! its own grid, the activation applied, and the result rounded to the
//! output grid. Gradients pass straight through the rounding (and are cut
//! where a value is clipped), libtorch's `fake_quantize_*` semantics.

use std::cell::Cell;
use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Context, Result};
use robofish_shared::model::arch::ConvSpec;
use robofish_shared::model::{ActivationKind, ArchConfig, Graph, Node, QuantParams, TensorId};
use robofish_shared::ptq::ActivationGrids;
use tch::{Device, Kind, Tensor};

use crate::checkpoint::NamedTensor;

/// One distinct set of convolution parameters.
#[derive(Debug)]
pub struct Param {
    /// Weight name (`stage1_647.down0.conv1`).
    pub name: String,
    /// `[cout][cin][3][3]`.
    pub weight: Tensor,
    /// `[cout]`.
    pub bias: Tensor,
    /// Batch normalisation after the convolution, training only: it is
    /// folded into `weight` and `bias` in every checkpoint (so the int8
    /// engine, the exporters and QAT never see it).
    pub batch_norm: Option<BatchNorm>,
}

/// A batch normalisation's parameters and running statistics, all `[cout]`.
#[derive(Debug)]
pub struct BatchNorm {
    /// Scale (trainable).
    pub gamma: Tensor,
    /// Shift (trainable).
    pub beta: Tensor,
    /// Running mean of the convolution's output (no gradient).
    pub mean: Tensor,
    /// Running variance of it (no gradient).
    pub var: Tensor,
}

/// PyTorch's defaults.
const BN_MOMENTUM: f64 = 0.1;
const BN_EPS: f64 = 1e-5;

impl BatchNorm {
    fn new(cout: i64, device: Device) -> BatchNorm {
        let opts = (Kind::Float, device);
        BatchNorm {
            gamma: Tensor::ones([cout], opts).set_requires_grad(true),
            beta: Tensor::zeros([cout], opts).set_requires_grad(true),
            mean: Tensor::zeros([cout], opts),
            var: Tensor::ones([cout], opts),
        }
    }

    /// `weight` and `bias` with this normalisation (running statistics)
    /// folded in: `s = gamma / sqrt(var + eps)`, `w' = s w`, `b' = s (b -
    /// mean) + beta`.
    fn fold(&self, weight: &Tensor, bias: &Tensor) -> (Tensor, Tensor) {
        let s = &self.gamma / (&self.var + BN_EPS).sqrt();
        let w = weight * s.view([-1, 1, 1, 1]);
        let b = (bias - &self.mean) * &s + &self.beta;
        (w, b)
    }
}

/// One head's output.
#[derive(Debug)]
pub struct HeadOutput {
    /// Before the sigmoid.
    pub logits: Tensor,
    /// After it.
    pub probabilities: Tensor,
}

/// How a new network's weights are drawn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WeightInit {
    /// PyTorch's default `Conv2d` init, the original's: weights and biases
    /// uniform in `+-1/sqrt(9 cin)`. Each convolution then keeps only about
    /// a third of its input's variance, so after the ~14 convolutions from
    /// input to head the signal is ~2,000 times weaker than the biases and
    /// the first epochs are spent rescaling.
    #[default]
    Uniform,
    /// Variance-preserving: normal weights with std `gain / sqrt(9 cin)`
    /// (gain sqrt 2 before an ELU, He et al. 2015; 1 before an identity or
    /// sigmoid), zero biases, except the two sigmoid heads, whose biases
    /// start at the log-odds of how rare their positives are (position
    /// -4, p = 0.018; bits -2, p = 0.12) so the first steps are not spent
    /// learning that most pixels are background (Lin et al. 2017).
    He,
}

impl WeightInit {
    /// Name on the command line and in `config.json`.
    pub fn name(self) -> &'static str {
        match self {
            WeightInit::Uniform => "uniform",
            WeightInit::He => "he",
        }
    }

    /// The rule called `name`.
    pub fn parse(name: &str) -> Result<Self> {
        [WeightInit::Uniform, WeightInit::He]
            .into_iter()
            .find(|r| r.name() == name)
            .ok_or_else(|| anyhow!("unknown weight init {name:?}: use he or uniform"))
    }

    /// Weight `[cout, cin, 3, 3]` and bias `[cout]` of one convolution.
    fn draw(self, spec: &ConvSpec, device: Device) -> (Tensor, Tensor) {
        let (cin, cout) = (spec.in_channels as i64, spec.out_channels as i64);
        let fan_in = (9 * cin) as f64;
        let opts = (Kind::Float, device);
        match self {
            WeightInit::Uniform => {
                let bound = 1.0 / fan_in.sqrt();
                let uniform = |shape: &[i64]| Tensor::rand(shape, opts) * (2.0 * bound) - bound;
                (uniform(&[cout, cin, 3, 3]), uniform(&[cout]))
            }
            WeightInit::He => {
                let gain = match spec.activation {
                    ActivationKind::Elu => std::f64::consts::SQRT_2,
                    ActivationKind::Identity | ActivationKind::Sigmoid => 1.0,
                };
                let weight = Tensor::randn([cout, cin, 3, 3], opts) * (gain / fan_in.sqrt());
                let bias = match spec.activation {
                    ActivationKind::Sigmoid if cout == 1 => Tensor::full([cout], -4.0, opts),
                    ActivationKind::Sigmoid => Tensor::full([cout], -2.0, opts),
                    _ => Tensor::zeros([cout], opts),
                };
                (weight, bias)
            }
        }
    }
}

/// A convolution of the graph pointing at its parameters.
#[derive(Debug, Clone)]
pub struct ConvRef {
    /// Unique convolution name.
    pub name: String,
    /// Index in [`Net::params`].
    pub param: usize,
    /// Tensor read.
    pub input: TensorId,
    /// Tensor written.
    pub output: TensorId,
    /// Activation after the bias.
    pub activation: ActivationKind,
}

impl robofish_shared::model::ConvTopology for ConvRef {
    fn input(&self) -> TensorId {
        self.input
    }
    fn output(&self) -> TensorId {
        self.output
    }
}

/// The network.
#[derive(Debug)]
pub struct Net {
    /// Architecture.
    pub arch: ArchConfig,
    /// The graph walked by `forward`.
    pub graph: Graph<(), ConvRef>,
    /// Distinct parameters, in first-use order.
    pub params: Vec<Param>,
    /// Where the parameters live.
    pub device: Device,
    /// QAT: round every tensor to these grids in the forward pass.
    pub fake_quant: Option<ActivationGrids>,
    /// Batch normalisations use (and update the running averages from)
    /// the batch's own statistics: set while training, clear to evaluate.
    pub batch_statistics: Cell<bool>,
}

/// Rounds `x` to `grid` (int8 codes [-128, 127]) with a straight-through gradient.
fn fake_quant(x: &Tensor, grid: QuantParams) -> Result<Tensor> {
    if x.kind() == Kind::Double {
        let scale = Tensor::from(grid.scale as f64).to_device(x.device());
        let zero = Tensor::from(grid.zero_point as f64).to_device(x.device());
        return exact_fake_quant(x, &scale, &zero, -128, 127);
    }
    Ok(x.f_fake_quantize_per_tensor_affine(grid.scale as f64, grid.zero_point as i64, -128, 127)?)
}

/// Fake quantisation by true division, for f64 analysis and parity
/// checks: libtorch's fused kernels multiply by a reciprocal rounded to
/// f32, whose error moves values near a rounding boundary to the other
/// side far more often than the engine's exact integer arithmetic does.
/// Same semantics otherwise: round half to even, clamp, gradient passed
/// straight through inside the range and cut outside it.
fn exact_fake_quant(x: &Tensor, scale: &Tensor, zero: &Tensor, lo: i64, hi: i64) -> Result<Tensor> {
    let codes = (x / scale).f_round()? + zero;
    let inside = codes.ge(lo as f64).logical_and(&codes.le(hi as f64));
    let rounded = (codes.clamp(lo as f64, hi as f64) - zero) * scale;
    let through = x + (&rounded - x).detach();
    Ok(through.where_self(&inside, &rounded.detach()))
}

/// Per-output-channel symmetric weights as the exporter rounds them, and
/// the bias rounded to the accumulator grid `input_scale * weight_scale`.
fn fake_quant_params(p: &Param, input: QuantParams) -> Result<(Tensor, Tensor)> {
    let cout = p.weight.size()[0];
    let max = p.weight.detach().abs().f_amax([1, 2, 3], false)?;
    // An all-zero channel: the exporter uses scale 1 (any scale gives zeros).
    // f32 like the exporter's scales (libtorch also insists on it).
    let scale = (&max / 127.0)
        .where_self(&max.gt(0.0), &max.ones_like())
        .to_kind(Kind::Float);
    let weight = if p.weight.kind() == Kind::Double {
        let per_channel = |t: &Tensor| t.to_kind(Kind::Double).view([cout, 1, 1, 1]);
        let zero = Tensor::zeros([cout, 1, 1, 1], (Kind::Double, p.weight.device()));
        exact_fake_quant(&p.weight, &per_channel(&scale), &zero, -127, 127)?
    } else {
        let zero = Tensor::zeros([cout], (Kind::Int, p.weight.device()));
        p.weight
            .f_fake_quantize_per_channel_affine(&scale, &zero, 0, -127, 127)?
    };
    let acc = scale.to_kind(p.bias.kind()) * input.scale as f64;
    let rounded = (p.bias.detach() / &acc).round() * &acc;
    let bias = &p.bias + (rounded - p.bias.detach());
    Ok((weight, bias))
}

impl Net {
    /// A freshly initialised network (see [`WeightInit`]), from `seed`.
    pub fn new(arch: &ArchConfig, device: Device, seed: u64, init: WeightInit) -> Result<Net> {
        tch::manual_seed(seed as i64);
        let mut params: Vec<Param> = Vec::new();
        let graph = arch
            .build(|spec| {
                let param = match params.iter().position(|p| p.name == spec.weight_name) {
                    Some(i) => i,
                    None => {
                        let (weight, bias) = init.draw(spec, device);
                        params.push(Param {
                            name: spec.weight_name.clone(),
                            weight: weight.set_requires_grad(true),
                            bias: bias.set_requires_grad(true),
                            batch_norm: None,
                        });
                        params.len() - 1
                    }
                };
                ConvRef {
                    name: spec.name.clone(),
                    param,
                    input: spec.input,
                    output: spec.output,
                    activation: spec.activation,
                }
            })
            .map_err(|e| anyhow!("architecture: {e}"))?;
        Ok(Net {
            arch: arch.clone(),
            graph,
            params,
            device,
            fake_quant: None,
            batch_statistics: Cell::new(false),
        })
    }

    /// Adds a batch normalisation after every convolution but the two
    /// heads' last (their logits must stay free to reach any value).
    /// Without normalisation or residual paths, the ~14 convolutions from
    /// input to head train slowly from scratch: the constant-prediction
    /// plateau lasts hundreds of steps.
    pub fn with_batch_norm(mut self) -> Net {
        let mut wanted = vec![false; self.params.len()];
        for node in &self.graph.nodes {
            if let Node::Conv(c) = node {
                wanted[c.param] |= c.activation != ActivationKind::Sigmoid;
            }
        }
        for (p, want) in self.params.iter_mut().zip(wanted) {
            if want && p.batch_norm.is_none() {
                p.batch_norm = Some(BatchNorm::new(p.weight.size()[0], self.device));
            }
        }
        self
    }

    /// Whether any convolution has a batch normalisation.
    pub fn has_batch_norm(&self) -> bool {
        self.params.iter().any(|p| p.batch_norm.is_some())
    }

    /// Every trainable tensor (weights, biases, batch-norm scales and shifts).
    pub fn trainable(&self) -> Vec<&Tensor> {
        let mut out = Vec::new();
        for p in &self.params {
            out.extend([&p.weight, &p.bias]);
            if let Some(bn) = &p.batch_norm {
                out.extend([&bn.gamma, &bn.beta]);
            }
        }
        out
    }

    /// Parameter names matching [`Net::trainable`].
    pub fn trainable_names(&self) -> Vec<String> {
        let mut out = Vec::new();
        for p in &self.params {
            out.extend([format!("{}.weight", p.name), format!("{}.bias", p.name)]);
            if p.batch_norm.is_some() {
                out.extend([
                    format!("{}.bn.weight", p.name),
                    format!("{}.bn.bias", p.name),
                ]);
            }
        }
        out
    }

    /// Parameter count of the network as exported (shared weights once;
    /// batch normalisations fold away).
    pub fn parameter_count(&self) -> i64 {
        self.params
            .iter()
            .map(|p| (p.weight.numel() + p.bias.numel()) as i64)
            .sum()
    }

    /// The parameters as checkpoint tensors (exact f32 copies), batch
    /// normalisations folded in: what every consumer of a checkpoint reads.
    pub fn to_tensors(&self) -> Result<BTreeMap<String, NamedTensor>> {
        let _guard = tch::no_grad_guard();
        let mut out = BTreeMap::new();
        for p in &self.params {
            let (w, b) = match &p.batch_norm {
                Some(bn) => bn.fold(&p.weight, &p.bias),
                None => (p.weight.shallow_clone(), p.bias.shallow_clone()),
            };
            out.insert(format!("{}.weight", p.name), tensor_to_named(&w)?);
            out.insert(format!("{}.bias", p.name), tensor_to_named(&b)?);
        }
        Ok(out)
    }

    /// Every tensor as trained, unfolded, with the batch normalisations'
    /// running statistics: what `--resume` needs.
    pub fn to_training_tensors(&self) -> Result<BTreeMap<String, NamedTensor>> {
        let mut out = BTreeMap::new();
        for (name, t) in self.training_state() {
            out.insert(name, tensor_to_named(t)?);
        }
        Ok(out)
    }

    fn training_state(&self) -> Vec<(String, &Tensor)> {
        let mut out: Vec<(String, &Tensor)> = self
            .trainable_names()
            .into_iter()
            .zip(self.trainable())
            .collect();
        for p in &self.params {
            if let Some(bn) = &p.batch_norm {
                out.push((format!("{}.bn.running_mean", p.name), &bn.mean));
                out.push((format!("{}.bn.running_var", p.name), &bn.var));
            }
        }
        out
    }

    /// Overwrites the parameters from checkpoint tensors (shapes must
    /// match): a checkpoint's folded ones into a network without batch
    /// normalisation, or [`Net::to_training_tensors`]'s into one with it.
    pub fn load_tensors(&mut self, tensors: &BTreeMap<String, NamedTensor>) -> Result<()> {
        let _guard = tch::no_grad_guard();
        for (name, t) in self.training_state() {
            let src = tensors
                .get(&name)
                .with_context(|| format!("checkpoint has no tensor '{name}'"))?;
            let want: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
            if src.shape != want {
                bail!("tensor '{name}': shape {:?}, expected {want:?}", src.shape);
            }
            let value = named_to_tensor(src, self.device)?;
            let mut dst = t.shallow_clone();
            dst.copy_(&value);
        }
        Ok(())
    }

    /// Both heads (position, barcode) for normalised input `[N, 16, H, W]`.
    pub fn forward_heads(&self, x: &Tensor) -> Result<[HeadOutput; 2]> {
        let (tensors, logits) = self.forward_all(x)?;
        let output = |i: usize| -> Result<HeadOutput> {
            let id = self.graph.outputs[i].tensor as usize;
            match (&logits[id], &tensors[id]) {
                (Some(l), Some(p)) => Ok(HeadOutput {
                    logits: l.shallow_clone(),
                    probabilities: p.shallow_clone(),
                }),
                _ => Err(anyhow!("output {i} does not end in a sigmoid")),
            }
        };
        Ok([output(0)?, output(1)?])
    }

    /// Every graph tensor (`[N, C, H, W]`, indexed by tensor id) and, for
    /// tensors made by a sigmoid, its logits; for layer-by-layer analysis.
    #[allow(clippy::type_complexity)]
    pub fn forward_all(&self, x: &Tensor) -> Result<(Vec<Option<Tensor>>, Vec<Option<Tensor>>)> {
        let (_, c, h, w) = x.size4().context("input must be [N, C, H, W]")?;
        let step = 1i64 << self.arch.depth();
        if c != self.graph.input_channels as i64 || h % step != 0 || w % step != 0 || h < 2 * step {
            bail!(
                "input is {c} x {h} x {w}; the network needs {} channels and H, W multiples of {step} (at least {})",
                self.graph.input_channels,
                2 * step
            );
        }
        let mut tensors: Vec<Option<Tensor>> =
            (0..self.graph.tensors.len()).map(|_| None).collect();
        let mut logits: Vec<Option<Tensor>> = (0..self.graph.tensors.len()).map(|_| None).collect();
        let get = |tensors: &[Option<Tensor>], id: TensorId| -> Result<Tensor> {
            tensors[id as usize]
                .as_ref()
                .map(Tensor::shallow_clone)
                .ok_or_else(|| anyhow!("graph reads tensor {id} before it is written"))
        };
        let grids = self.fake_quant.as_ref();
        if let Some(g) = grids {
            if g.tensors.len() != self.graph.tensors.len()
                || g.pre_activations.len() != self.graph.nodes.len()
            {
                bail!("the fake-quantisation grids were made for a different architecture");
            }
        }
        let grid_of = |id: TensorId| grids.map(|g| g.tensors[id as usize]);
        let round_to = |t: Tensor, grid: Option<QuantParams>| -> Result<Tensor> {
            match grid {
                Some(grid) => fake_quant(&t, grid),
                None => Ok(t),
            }
        };
        for (step, node) in self.graph.nodes.iter().enumerate() {
            let (out, value) = match node {
                Node::Input(input) => (
                    input.output,
                    round_to(
                        x.narrow(1, input.first_channel as i64, input.channels as i64),
                        grid_of(input.output),
                    )?,
                ),
                Node::Conv(conv) => {
                    let p = &self.params[conv.param];
                    let (weight, bias) = match grid_of(conv.input) {
                        Some(input_grid) => fake_quant_params(p, input_grid)?,
                        None => (p.weight.shallow_clone(), p.bias.shallow_clone()),
                    };
                    let mut y = get(&tensors, conv.input)?
                        .f_pad([1, 1, 1, 1], "reflect", None)?
                        .f_conv2d(&weight, Some(&bias), [1, 1], [0, 0], [1, 1], 1)?;
                    if let Some(bn) = &p.batch_norm {
                        if grids.is_some() {
                            bail!("fake quantisation needs the batch normalisations folded");
                        }
                        y = y.f_batch_norm(
                            Some(&bn.gamma),
                            Some(&bn.beta),
                            Some(&bn.mean),
                            Some(&bn.var),
                            self.batch_statistics.get(),
                            BN_MOMENTUM,
                            BN_EPS,
                            false,
                        )?;
                    }
                    let pre_grid = grids.and_then(|g| g.pre_activations[step]);
                    let y = match conv.activation {
                        ActivationKind::Identity => round_to(y, grid_of(conv.output))?,
                        ActivationKind::Elu => {
                            round_to(round_to(y, pre_grid)?.elu(), grid_of(conv.output))?
                        }
                        ActivationKind::Sigmoid => {
                            let y = round_to(y, pre_grid)?;
                            let s = round_to(y.sigmoid(), grid_of(conv.output))?;
                            logits[conv.output as usize] = Some(y);
                            s
                        }
                    };
                    (conv.output, y)
                }
                Node::MaxPool(u) => (
                    u.output,
                    get(&tensors, u.input)?.f_max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false)?,
                ),
                Node::Upsample(u) => {
                    let t = get(&tensors, u.input)?;
                    let (_, _, h, w) = t.size4()?;
                    (u.output, t.f_upsample_nearest2d([2 * h, 2 * w], 2.0, 2.0)?)
                }
                Node::Concat(c) => {
                    let parts = c
                        .inputs
                        .iter()
                        .map(|&t| get(&tensors, t))
                        .collect::<Result<Vec<_>>>()?;
                    (c.output, Tensor::f_cat(&parts, 1)?)
                }
            };
            tensors[out as usize] = Some(value);
        }
        Ok((tensors, logits))
    }

    /// Logits of the two heads for normalised input `[N, 16, H, W]` (H and
    /// W multiples of `2^depth`): position `[N, 1, H, W]`, barcode
    /// `[N, 16, H, W]`. Under fake quantisation, the logits on their
    /// pre-activation grids.
    pub fn forward_logits(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let [p, b] = self.forward_heads(x)?;
        Ok((p.logits, b.logits))
    }

    /// Probabilities of the two heads: the sigmoid of the logits, rounded
    /// to the output grid (steps of 1/255) under fake quantisation.
    pub fn forward(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let [p, b] = self.forward_heads(x)?;
        Ok((p.probabilities, b.probabilities))
    }
}

/// A tensor as a checkpoint tensor (f32, on the CPU, row-major).
pub fn tensor_to_named(t: &Tensor) -> Result<NamedTensor> {
    let shape: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
    let flat = t
        .detach()
        .to_device(Device::Cpu)
        .to_kind(Kind::Float)
        .contiguous()
        .view([-1]);
    let data = Vec::<f32>::try_from(&flat)?;
    Ok(NamedTensor { shape, data })
}

/// A checkpoint tensor on `device`.
pub fn named_to_tensor(t: &NamedTensor, device: Device) -> Result<Tensor> {
    let shape: Vec<i64> = t.shape.iter().map(|&d| d as i64).collect();
    Ok(Tensor::from_slice(&t.data)
        .f_view(shape.as_slice())?
        .to_device(device))
}
