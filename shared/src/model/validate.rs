//! Graph validation: after this, every index is in range and every shape
//! agrees, so the planner and kernels can index without checks failing.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use super::error::ModelError;
use super::int8::{ConvOp, Int8InputStage, Model, QuantMode, QuantParams};
use super::ir::{
    ActivationKind, Concat, InputNode, Node, OutputKind, TensorId, TensorShape, Unary,
};
use crate::quant::InputQuant;

/// Most tensors a graph may have.
pub const MAX_TENSORS: usize = 4096;
/// Most channels a tensor may have.
pub const MAX_CHANNELS: u16 = 4096;
/// Largest |bias|: with at most 4096 input channels, bias plus the folded
/// zero-point correction plus 9 x 4096 products of 127 x 128 stays below 2^31.
pub const MAX_BIAS: u32 = 1 << 30;
/// Deepest resolution level.
pub const MAX_LEVEL: u8 = 8;

fn invalid(msg: String) -> ModelError {
    ModelError::Invalid(msg)
}

fn same_grid(a: QuantParams, b: QuantParams) -> bool {
    a.zero_point == b.zero_point && a.scale == b.scale
}

/// Checks that a model is internally consistent.
pub fn validate(model: &Model) -> Result<(), ModelError> {
    check_tensors(model)?;
    check_normalisation(model)?;
    check_input_stage(model)?;
    check_nodes(model)?;
    check_outputs(model)
}

/// The shape of tensor `id`, read by node `node`.
fn tensor(model: &Model, id: TensorId, node: usize) -> Result<TensorShape, ModelError> {
    model
        .graph
        .tensors
        .get(id as usize)
        .copied()
        .ok_or_else(|| {
            invalid(format!(
                "node {node} refers to tensor {id}, which does not exist"
            ))
        })
}

/// Raw channel count, tensor count, and every tensor's shape and grid.
fn check_tensors(model: &Model) -> Result<(), ModelError> {
    let graph = &model.graph;
    let tensors = &graph.tensors;
    if graph.input_channels == 0 || graph.input_channels > 256 {
        return Err(invalid(format!(
            "{} raw input channels (expected 1..=256)",
            graph.input_channels
        )));
    }
    if tensors.is_empty() || tensors.len() > MAX_TENSORS {
        return Err(invalid(format!(
            "{} tensors (expected 1..={MAX_TENSORS})",
            tensors.len()
        )));
    }
    if model.tensor_quant.len() != tensors.len() {
        return Err(invalid(format!(
            "{} tensor grids for {} tensors",
            model.tensor_quant.len(),
            tensors.len()
        )));
    }
    for (i, (shape, q)) in tensors.iter().zip(&model.tensor_quant).enumerate() {
        if shape.channels == 0 || shape.channels > MAX_CHANNELS || shape.level > MAX_LEVEL {
            return Err(invalid(format!(
                "tensor {i} has {} channels at level {} (limits {MAX_CHANNELS}, {MAX_LEVEL})",
                shape.channels, shape.level
            )));
        }
        if !(q.scale.is_finite() && q.scale > 0.0) {
            return Err(invalid(format!("tensor {i} has scale {}", q.scale)));
        }
    }
    Ok(())
}

/// A per-image model's table: full for static and QAT models, absent for
/// dynamic ones (they measure their input grid per run).
fn check_input_stage(model: &Model) -> Result<(), ModelError> {
    let Int8InputStage::PerImage { table } = &model.input_stage else {
        return Ok(());
    };
    let expected = match model.metadata.mode {
        QuantMode::Dynamic => 0,
        _ => crate::input_stage::TABLE_LEN,
    };
    if table.len() != expected {
        return Err(invalid(format!(
            "the per-image input table has {} entries where a {} model needs {expected}",
            table.len(),
            model.metadata.mode.name()
        )));
    }
    Ok(())
}

/// One finite mean and one positive finite std per raw input channel.
fn check_normalisation(model: &Model) -> Result<(), ModelError> {
    let norm = &model.metadata.normalisation;
    let channels = model.graph.input_channels as usize;
    if norm.mean.len() != channels || norm.std.len() != channels {
        return Err(invalid(format!(
            "normalisation has {} means and {} stds for {channels} input channels",
            norm.mean.len(),
            norm.std.len()
        )));
    }
    if norm.mean.iter().any(|m| !m.is_finite())
        || norm.std.iter().any(|s| !(s.is_finite() && *s > 0.0))
    {
        return Err(invalid(
            "normalisation has a non-finite mean or a std <= 0".into(),
        ));
    }
    Ok(())
}

/// Every node in order: it reads only tensors written before, writes a
/// tensor nobody else writes, and fits its kind's rules; every tensor is
/// written.
fn check_nodes(model: &Model) -> Result<(), ModelError> {
    let graph = &model.graph;
    let mut produced = vec![false; graph.tensors.len()];
    for (n, node) in graph.nodes.iter().enumerate() {
        let mut read_error = None;
        node.for_each_input(|t| {
            if read_error.is_none() && !produced.get(t as usize).copied().unwrap_or(false) {
                read_error = Some(invalid(format!(
                    "node {n} ({}) reads tensor {t} before any node writes it",
                    node.kind_name()
                )));
            }
        });
        if let Some(e) = read_error {
            return Err(e);
        }
        let out_id = node.output();
        let out = tensor(model, out_id, n)?;
        if produced[out_id as usize] {
            return Err(invalid(format!(
                "tensor {out_id} is written twice (node {n})"
            )));
        }
        let out_q = model.tensor_quant[out_id as usize];
        match node {
            Node::Input(input) => check_input(model, n, input, out)?,
            Node::Conv(conv) => check_conv(model, n, conv, out, out_q)?,
            Node::MaxPool(u) | Node::Upsample(u) => check_resample(model, n, node, u, out, out_q)?,
            Node::Concat(c) => check_concat(model, n, c, out, out_q)?,
        }
        produced[out_id as usize] = true;
    }
    if let Some(t) = produced.iter().position(|p| !p) {
        return Err(invalid(format!("tensor {t} is never written")));
    }
    Ok(())
}

/// Input node `n`: raw channels that exist into a level-0 tensor, with
/// valid per-channel quantisation.
fn check_input(
    model: &Model,
    n: usize,
    input: &InputNode<Vec<InputQuant>>,
    out: TensorShape,
) -> Result<(), ModelError> {
    let channels = model.graph.input_channels as usize;
    let end = input.first_channel as usize + input.channels as usize;
    if out.level != 0 || out.channels != input.channels || end > channels {
        return Err(invalid(format!(
            "input node {n} reads raw channels {}..{end} of {channels} into a \
             {}-channel tensor at level {}",
            input.first_channel, out.channels, out.level
        )));
    }
    if matches!(model.input_stage, Int8InputStage::PerImage { .. }) {
        if !input.quant.is_empty() {
            return Err(invalid(format!(
                "input node {n} of a per-image model carries fixed quantisation"
            )));
        }
        return Ok(());
    }
    if input.quant.len() != input.channels as usize
        || input
            .quant
            .iter()
            .any(|q| !q.requant.is_valid() || q.offset.abs() >= crate::quant::MAX_INPUT_OFFSET)
    {
        return Err(invalid(format!(
            "input node {n} has bad per-channel quantisation"
        )));
    }
    Ok(())
}

/// Convolution node `n`: its weights, biases and multipliers match its
/// tensors and keep the accumulator within `i32`.
fn check_conv(
    model: &Model,
    n: usize,
    conv: &ConvOp,
    out: TensorShape,
    out_q: QuantParams,
) -> Result<(), ModelError> {
    let inp = tensor(model, conv.input, n)?;
    let blob = model.weights.get(conv.weights as usize).ok_or_else(|| {
        invalid(format!(
            "conv node {n} uses weight blob {}, which does not exist",
            conv.weights
        ))
    })?;
    let cout = out.channels as usize;
    if inp.level != out.level
        || blob.in_channels != inp.channels
        || blob.out_channels != out.channels
    {
        return Err(invalid(format!(
            "conv node {n}: weights are {}->{} channels but tensors are {}->{} \
             (levels {} and {})",
            blob.in_channels, blob.out_channels, inp.channels, out.channels, inp.level, out.level
        )));
    }
    let expected = cout * 9 * inp.channels as usize;
    if blob.data.len() != expected || blob.scales.len() != cout {
        return Err(invalid(format!(
            "weight blob {} has {} values and {} scales, expected {expected} and {cout}",
            conv.weights,
            blob.data.len(),
            blob.scales.len()
        )));
    }
    if blob.scales.iter().any(|s| !(s.is_finite() && *s > 0.0))
        || !(conv.pre_activation.scale.is_finite() && conv.pre_activation.scale > 0.0)
    {
        return Err(invalid(format!(
            "conv node {n} has a weight or pre-activation scale that is not positive and finite"
        )));
    }
    if blob.data.contains(&i8::MIN) {
        return Err(invalid(format!(
            "weight blob {} contains -128; weights are clamped to [-127, 127]",
            conv.weights
        )));
    }
    if conv.bias.len() != cout || conv.requant.len() != cout {
        return Err(invalid(format!(
            "conv node {n} has {} biases and {} multipliers for {cout} output channels",
            conv.bias.len(),
            conv.requant.len()
        )));
    }
    if conv.bias.iter().any(|b| b.unsigned_abs() > MAX_BIAS) {
        return Err(invalid(format!(
            "conv node {n} has a bias beyond +-2^30 (the accumulator could overflow)"
        )));
    }
    if let Some(bad) = conv.requant.iter().find(|r| !r.is_valid()) {
        return Err(invalid(format!(
            "conv node {n} has an invalid multiplier {bad:?}"
        )));
    }
    check_activation(model, n, conv, cout, out_q)
}

/// The activation of convolution node `n`: a dynamic model's float biases
/// and no table; otherwise a 256-entry table, or none for the identity on
/// the output grid.
fn check_activation(
    model: &Model,
    n: usize,
    conv: &ConvOp,
    cout: usize,
    out_q: QuantParams,
) -> Result<(), ModelError> {
    let dynamic = model.metadata.mode == QuantMode::Dynamic;
    if dynamic && (conv.float_bias.len() != cout || conv.float_bias.iter().any(|b| !b.is_finite()))
    {
        return Err(invalid(format!(
            "conv node {n}: a dynamic model needs {cout} finite float biases, found {}",
            conv.float_bias.len()
        )));
    }
    let lut_ok = match conv.activation {
        _ if dynamic => conv.lut.is_empty(),
        ActivationKind::Identity => {
            conv.lut.is_empty() && conv.pre_activation.zero_point == out_q.zero_point
        }
        _ => conv.lut.len() == 256,
    };
    if !lut_ok {
        return Err(invalid(format!(
            "conv node {n}: {} activation with a {}-entry lookup table \
             (identity needs none and the output grid; others need 256)",
            conv.activation.name(),
            conv.lut.len()
        )));
    }
    Ok(())
}

/// Max-pool or upsample node `n`: one level down or up, the same channels
/// and the same grid.
fn check_resample(
    model: &Model,
    n: usize,
    node: &Node<Vec<InputQuant>, ConvOp>,
    u: &Unary,
    out: TensorShape,
    out_q: QuantParams,
) -> Result<(), ModelError> {
    let inp = tensor(model, u.input, n)?;
    let level_ok = if matches!(node, Node::MaxPool(_)) {
        out.level == inp.level + 1
    } else {
        inp.level >= 1 && out.level + 1 == inp.level
    };
    if !level_ok || inp.channels != out.channels {
        return Err(invalid(format!(
            "{} node {n} maps level {} ({} ch) to level {} ({} ch)",
            node.kind_name(),
            inp.level,
            inp.channels,
            out.level,
            out.channels
        )));
    }
    if !same_grid(model.tensor_quant[u.input as usize], out_q) {
        return Err(invalid(format!(
            "{} node {n} changes the int8 grid; it must keep its input's",
            node.kind_name()
        )));
    }
    Ok(())
}

/// Concat node `n`: inputs at its level and on its grid whose channels
/// add up to its own.
fn check_concat(
    model: &Model,
    n: usize,
    c: &Concat,
    out: TensorShape,
    out_q: QuantParams,
) -> Result<(), ModelError> {
    if c.inputs.is_empty() {
        return Err(invalid(format!("concat node {n} has no inputs")));
    }
    let mut sum = 0u32;
    for &t in &c.inputs {
        let shape = tensor(model, t, n)?;
        sum += shape.channels as u32;
        if shape.level != out.level {
            return Err(invalid(format!(
                "concat node {n} joins level {} with level {}",
                shape.level, out.level
            )));
        }
        if !same_grid(model.tensor_quant[t as usize], out_q) {
            return Err(invalid(format!(
                "concat node {n}: input tensor {t} is on another int8 grid; \
                 concat inputs must share one scale"
            )));
        }
    }
    if sum != out.channels as u32 {
        return Err(invalid(format!(
            "concat node {n} joins {sum} channels into a {}-channel tensor",
            out.channels
        )));
    }
    Ok(())
}

/// Graph outputs: at least one, each a full-resolution probability map,
/// the position map with one channel.
fn check_outputs(model: &Model) -> Result<(), ModelError> {
    let graph = &model.graph;
    if graph.outputs.is_empty() {
        return Err(invalid("graph has no outputs".into()));
    }
    for out in &graph.outputs {
        let shape = tensor(model, out.tensor, graph.nodes.len())?;
        let q = model.tensor_quant[out.tensor as usize];
        if shape.level != 0 || q.zero_point != QuantParams::PROBABILITY.zero_point {
            return Err(invalid(format!(
                "output tensor {} must be a full-resolution probability map (level 0, zero point -128)",
                out.tensor
            )));
        }
        if out.kind == OutputKind::Position && shape.channels != 1 {
            return Err(invalid(format!(
                "position output has {} channels, expected 1",
                shape.channels
            )));
        }
    }
    Ok(())
}
