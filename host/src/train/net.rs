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

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Context, Result};
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
}

/// One head's output.
#[derive(Debug)]
pub struct HeadOutput {
    /// Before the sigmoid.
    pub logits: Tensor,
    /// After it.
    pub probabilities: Tensor,
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
    /// A freshly initialised network, PyTorch's default `Conv2d` init:
    /// weights and biases uniform in `+-1/sqrt(9 cin)`, from `seed`.
    pub fn new(arch: &ArchConfig, device: Device, seed: u64) -> Result<Net> {
        tch::manual_seed(seed as i64);
        let mut params: Vec<Param> = Vec::new();
        let graph = arch
            .build(|spec| {
                let param = match params.iter().position(|p| p.name == spec.weight_name) {
                    Some(i) => i,
                    None => {
                        let (cin, cout) = (spec.in_channels as i64, spec.out_channels as i64);
                        let bound = 1.0 / ((9 * cin) as f64).sqrt();
                        let uniform = |shape: &[i64]| {
                            (Tensor::rand(shape, (Kind::Float, device)) * (2.0 * bound) - bound)
                                .set_requires_grad(true)
                        };
                        params.push(Param {
                            name: spec.weight_name.clone(),
                            weight: uniform(&[cout, cin, 3, 3]),
                            bias: uniform(&[cout]),
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
        })
    }

    /// Every trainable tensor (weights and biases).
    pub fn trainable(&self) -> Vec<&Tensor> {
        self.params
            .iter()
            .flat_map(|p| [&p.weight, &p.bias])
            .collect()
    }

    /// Parameter names matching [`Net::trainable`].
    pub fn trainable_names(&self) -> Vec<String> {
        self.params
            .iter()
            .flat_map(|p| [format!("{}.weight", p.name), format!("{}.bias", p.name)])
            .collect()
    }

    /// Parameter count (shared weights once).
    pub fn parameter_count(&self) -> i64 {
        self.trainable().iter().map(|t| t.numel() as i64).sum()
    }

    /// The parameters as checkpoint tensors (exact f32 copies).
    pub fn to_tensors(&self) -> Result<BTreeMap<String, NamedTensor>> {
        let mut out = BTreeMap::new();
        for (name, t) in self.trainable_names().into_iter().zip(self.trainable()) {
            out.insert(name, tensor_to_named(t)?);
        }
        Ok(out)
    }

    /// Overwrites the parameters from checkpoint tensors (shapes must match).
    pub fn load_tensors(&mut self, tensors: &BTreeMap<String, NamedTensor>) -> Result<()> {
        let names = self.trainable_names();
        let _guard = tch::no_grad_guard();
        for (name, t) in names.iter().zip(self.trainable()) {
            let src = tensors
                .get(name)
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
                    let y = get(&tensors, conv.input)?
                        .f_pad([1, 1, 1, 1], "reflect", None)?
                        .f_conv2d(&weight, Some(&bias), [1, 1], [0, 0], [1, 1], 1)?;
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
