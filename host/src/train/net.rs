//! anglerFISH in tch, built from [`ArchConfig::build`].
//!
//! Parameters are named `{weight_name}.weight` (`[cout][cin][3][3]`) and
//! `{weight_name}.bias`, exactly the checkpoint names; convolutions that
//! share a weight name share one tensor. Each convolution is a 1-pixel
//! reflect pad, a 3x3 convolution with bias and its activation (ELU, none,
//! or sigmoid on the two heads, which [`Net::forward_logits`] leaves off so
//! the loss can work on logits).

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Context, Result};
use robofish_shared::model::{ActivationKind, ArchConfig, Graph, Node, TensorId};
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

    /// Logits of the two heads for normalised input `[N, 16, H, W]` (H and
    /// W multiples of `2^depth`): position `[N, 1, H, W]`, barcode
    /// `[N, 16, H, W]`.
    pub fn forward_logits(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
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
        for node in &self.graph.nodes {
            let (out, value) = match node {
                Node::Input(input) => (
                    input.output,
                    x.narrow(1, input.first_channel as i64, input.channels as i64),
                ),
                Node::Conv(conv) => {
                    let p = &self.params[conv.param];
                    let y = get(&tensors, conv.input)?
                        .f_pad([1, 1, 1, 1], "reflect", None)?
                        .f_conv2d(&p.weight, Some(&p.bias), [1, 1], [0, 0], [1, 1], 1)?;
                    let y = match conv.activation {
                        ActivationKind::Identity => y,
                        ActivationKind::Elu => y.elu(),
                        ActivationKind::Sigmoid => {
                            let s = y.sigmoid();
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
        let output = |i: usize| -> Result<Tensor> {
            let id = self.graph.outputs[i].tensor;
            logits[id as usize]
                .as_ref()
                .map(Tensor::shallow_clone)
                .ok_or_else(|| anyhow!("output {i} does not end in a sigmoid"))
        };
        Ok((output(0)?, output(1)?))
    }

    /// Probabilities of the two heads (sigmoid of the logits).
    pub fn forward(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let (p, b) = self.forward_logits(x)?;
        Ok((p.sigmoid(), b.sigmoid()))
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
