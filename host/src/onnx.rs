//! fp32 ONNX export of a [`FloatModel`] (no libtorch) and a tract runner.
//!
//! The exported graph (opset 17, IR version 8):
//!
//! - input `raw_counts`: float `[N, 16, H, W]`, raw camera counts (N, H and W
//!   are symbolic; H and W must be multiples of `2^depth`, 4 for anglerFISH);
//! - `Sub` / `Div` by the model's per-image mean and std (so the file is
//!   self-contained: feed it what the camera gives);
//! - per colour a `Slice` of its 8 images, then for every convolution a
//!   `Pad` (mode `reflect`, 1 pixel) and a `Conv` (3x3, bias) followed by
//!   `Elu` (alpha 1), `Sigmoid` or nothing; `MaxPool` 2x2 stride 2;
//!   `Resize` (nearest, asymmetric, floor, scales `[1, 1, 2, 2]`); `Concat`
//!   on channels;
//! - outputs `position` `[N, 1, H, W]` and `barcode` `[N, 16, H, W]`,
//!   probabilities in `[0, 1]`.
//!
//! Weights are initialisers named `{weight_name}.weight` / `.bias` like the
//! checkpoint tensors; shared weights are stored once.

use std::collections::HashSet;

use prost::Message;
use robofish_shared::image::ImageStats;
use robofish_shared::input_stage::InputStage;
use robofish_shared::model::{ActivationKind, Node, OutputKind, TensorId};
use robofish_shared::reference::FloatModel;
use tract_onnx::pb::{
    attribute_proto::AttributeType, tensor_proto::DataType, tensor_shape_proto, type_proto,
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto,
};
use tract_onnx::prelude::*;

/// ONNX operator set written.
pub const OPSET: i64 = 17;

/// Name of the graph input.
pub const INPUT_NAME: &str = "raw_counts";

/// Per-image models' second input: each image's background `[N, 16, 1, 1]`.
pub const BACKGROUND_NAME: &str = "background";

/// Per-image models' third input: each image's noise scale `[N, 16, 1, 1]`.
pub const NOISE_NAME: &str = "noise";

fn tensor_name(id: TensorId) -> String {
    format!("t{id}")
}

fn attr_ints(name: &str, ints: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Ints as i32,
        ints: ints.to_vec(),
        ..Default::default()
    }
}

fn attr_int(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Int as i32,
        i,
        ..Default::default()
    }
}

fn attr_float(name: &str, f: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Float as i32,
        f,
        ..Default::default()
    }
}

fn attr_string(name: &str, s: &str) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::String as i32,
        s: s.as_bytes().to_vec(),
        ..Default::default()
    }
}

fn f32_tensor(name: &str, dims: &[i64], data: &[f32]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: DataType::Float as i32,
        raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

fn i64_tensor(name: &str, data: &[i64]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: vec![data.len() as i64],
        data_type: DataType::Int64 as i32,
        raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

fn node(op: &str, name: &str, inputs: &[&str], outputs: &[&str]) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        name: name.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

fn value_info(name: &str, dims: &[Result<i64, &str>]) -> ValueInfoProto {
    use tensor_shape_proto::dimension::Value;
    let dim = dims
        .iter()
        .map(|d| tensor_shape_proto::Dimension {
            value: Some(match d {
                Ok(v) => Value::DimValue(*v),
                Err(p) => Value::DimParam(p.to_string()),
            }),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: DataType::Float as i32,
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The model as an ONNX `ModelProto`.
pub fn to_onnx(model: &FloatModel, doc: &str) -> ModelProto {
    let graph = &model.graph;
    let channels = graph.input_channels as usize;
    let mut nodes = Vec::new();
    let mut init = Vec::new();
    init.push(i64_tensor("const.pad1", &[0, 0, 1, 1, 0, 0, 1, 1]));
    init.push(f32_tensor("const.scales2", &[4], &[1.0, 1.0, 2.0, 2.0]));
    init.push(i64_tensor("const.axis1", &[1]));
    let (centre, scale) = match model.input_stage {
        InputStage::Fixed => {
            let shape = [1, channels as i64, 1, 1];
            init.push(f32_tensor("norm.mean", &shape, &model.normalisation.mean));
            init.push(f32_tensor("norm.std", &shape, &model.normalisation.std));
            ("norm.mean", "norm.std")
        }
        InputStage::PerImage => (BACKGROUND_NAME, NOISE_NAME),
    };
    nodes.push(node(
        "Sub",
        "normalise.sub",
        &[INPUT_NAME, centre],
        &["centred"],
    ));
    match model.input_stage {
        InputStage::Fixed => nodes.push(node(
            "Div",
            "normalise.div",
            &["centred", scale],
            &["normalised"],
        )),
        InputStage::PerImage => push_compressed_z(&mut nodes, &mut init),
    }
    let mut weights_done = HashSet::new();
    for (i, n) in graph.nodes.iter().enumerate() {
        match n {
            Node::Input(input) => {
                let (start, end) = (format!("const.start{i}"), format!("const.end{i}"));
                init.push(i64_tensor(&start, &[input.first_channel as i64]));
                init.push(i64_tensor(
                    &end,
                    &[(input.first_channel + input.channels) as i64],
                ));
                nodes.push(node(
                    "Slice",
                    &format!("input{i}"),
                    &["normalised", &start, &end, "const.axis1"],
                    &[&tensor_name(input.output)],
                ));
            }
            Node::Conv(conv) => {
                let (w, b) = (
                    format!("{}.weight", conv.weight_name),
                    format!("{}.bias", conv.weight_name),
                );
                if weights_done.insert(conv.weight_name.clone()) {
                    let (cin, cout) = (conv.in_channels, conv.out_channels);
                    let mut torch = vec![0f32; cout * cin * 9];
                    for co in 0..cout {
                        for ci in 0..cin {
                            for k in 0..9 {
                                torch[(co * cin + ci) * 9 + k] =
                                    conv.weights[(co * 9 + k) * cin + ci];
                            }
                        }
                    }
                    init.push(f32_tensor(&w, &[cout as i64, cin as i64, 3, 3], &torch));
                    init.push(f32_tensor(&b, &[cout as i64], &conv.bias));
                }
                let padded = format!("{}.padded", conv.name);
                let mut pad = node(
                    "Pad",
                    &format!("{}.pad", conv.name),
                    &[&tensor_name(conv.input), "const.pad1"],
                    &[&padded],
                );
                pad.attribute.push(attr_string("mode", "reflect"));
                nodes.push(pad);
                let out = tensor_name(conv.output);
                let conv_out = if conv.activation == ActivationKind::Identity {
                    out.clone()
                } else {
                    format!("{}.pre", conv.name)
                };
                let mut c = node("Conv", &conv.name, &[&padded, &w, &b], &[&conv_out]);
                c.attribute.push(attr_ints("kernel_shape", &[3, 3]));
                c.attribute.push(attr_ints("pads", &[0, 0, 0, 0]));
                c.attribute.push(attr_ints("strides", &[1, 1]));
                nodes.push(c);
                match conv.activation {
                    ActivationKind::Identity => {}
                    ActivationKind::Elu => {
                        let mut e =
                            node("Elu", &format!("{}.elu", conv.name), &[&conv_out], &[&out]);
                        e.attribute.push(attr_float("alpha", 1.0));
                        nodes.push(e);
                    }
                    ActivationKind::Sigmoid => nodes.push(node(
                        "Sigmoid",
                        &format!("{}.sigmoid", conv.name),
                        &[&conv_out],
                        &[&out],
                    )),
                }
            }
            Node::MaxPool(u) => {
                let mut p = node(
                    "MaxPool",
                    &format!("pool{i}"),
                    &[&tensor_name(u.input)],
                    &[&tensor_name(u.output)],
                );
                p.attribute.push(attr_ints("kernel_shape", &[2, 2]));
                p.attribute.push(attr_ints("strides", &[2, 2]));
                nodes.push(p);
            }
            Node::Upsample(u) => {
                let mut r = node(
                    "Resize",
                    &format!("upsample{i}"),
                    &[&tensor_name(u.input), "", "const.scales2"],
                    &[&tensor_name(u.output)],
                );
                r.attribute.push(attr_string("mode", "nearest"));
                r.attribute
                    .push(attr_string("coordinate_transformation_mode", "asymmetric"));
                r.attribute.push(attr_string("nearest_mode", "floor"));
                nodes.push(r);
            }
            Node::Concat(c) => {
                let inputs: Vec<String> = c.inputs.iter().map(|&t| tensor_name(t)).collect();
                let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
                let mut n = node(
                    "Concat",
                    &format!("concat{i}"),
                    &inputs,
                    &[&tensor_name(c.output)],
                );
                n.attribute.push(attr_int("axis", 1));
                nodes.push(n);
            }
        }
    }
    let mut outputs = Vec::new();
    for out in &graph.outputs {
        let name = match out.kind {
            OutputKind::Position => "position",
            OutputKind::Barcode => "barcode",
        };
        let c = graph.tensors[out.tensor as usize].channels as i64;
        nodes.push(node(
            "Identity",
            &format!("{name}.out"),
            &[&tensor_name(out.tensor)],
            &[name],
        ));
        outputs.push(value_info(name, &[Err("N"), Ok(c), Err("H"), Err("W")]));
    }
    ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
        producer_name: "robofish".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: doc.into(),
        graph: Some(GraphProto {
            name: "anglerfish".into(),
            node: nodes,
            initializer: init,
            input: graph_inputs(model.input_stage, channels as i64),
            output: outputs,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The graph inputs: raw counts, and for a per-image model each image's
/// background and noise (`robofish_shared::image_stats`).
fn graph_inputs(stage: InputStage, channels: i64) -> Vec<ValueInfoProto> {
    let mut inputs = vec![value_info(
        INPUT_NAME,
        &[Err("N"), Ok(channels), Err("H"), Err("W")],
    )];
    if stage == InputStage::PerImage {
        for name in [BACKGROUND_NAME, NOISE_NAME] {
            inputs.push(value_info(name, &[Err("N"), Ok(channels), Ok(1), Ok(1)]));
        }
    }
    inputs
}

/// `normalised = compress(clip(centred / noise))` (see
/// `robofish_shared::input_stage`), as `min(z, knee) + knee * ln(max(z,
/// knee) / knee)`: the identity below the knee, logarithmic above, without
/// a branch.
fn push_compressed_z(nodes: &mut Vec<NodeProto>, init: &mut Vec<TensorProto>) {
    use robofish_shared::input_stage::{KNEE, Z_CEILING, Z_FLOOR};
    init.push(f32_tensor("stage.floor", &[], &[Z_FLOOR]));
    init.push(f32_tensor("stage.ceiling", &[], &[Z_CEILING]));
    init.push(f32_tensor("stage.knee", &[], &[KNEE]));
    let steps: [(&str, &[&str], &str); 8] = [
        ("Div", &["centred", NOISE_NAME], "stage.z"),
        (
            "Clip",
            &["stage.z", "stage.floor", "stage.ceiling"],
            "stage.clipped",
        ),
        ("Min", &["stage.clipped", "stage.knee"], "stage.linear"),
        ("Max", &["stage.clipped", "stage.knee"], "stage.high"),
        ("Div", &["stage.high", "stage.knee"], "stage.ratio"),
        ("Log", &["stage.ratio"], "stage.log"),
        ("Mul", &["stage.log", "stage.knee"], "stage.compressed"),
        ("Add", &["stage.linear", "stage.compressed"], "normalised"),
    ];
    for (i, (op, inputs, output)) in steps.into_iter().enumerate() {
        nodes.push(node(op, &format!("stage{i}"), inputs, &[output]));
    }
}

/// The model as ONNX bytes.
pub fn onnx_bytes(model: &FloatModel, doc: &str) -> Vec<u8> {
    to_onnx(model, doc).encode_to_vec()
}

/// An exported model loaded by tract, optimised for one batch x tile size.
pub struct TractModel {
    plan: Arc<TypedRunnableModel>,
    batch: usize,
    channels: usize,
    height: usize,
    width: usize,
    per_image: bool,
}

impl TractModel {
    /// Loads ONNX bytes and optimises them for `[batch, 16, height, width]`.
    pub fn load(onnx: &[u8], batch: usize, height: usize, width: usize) -> TractResult<TractModel> {
        let channels = 16;
        let mut model = tract_onnx::onnx()
            .model_for_read(&mut std::io::Cursor::new(onnx))?
            .with_input_fact(
                0,
                InferenceFact::dt_shape(f32::datum_type(), [batch, channels, height, width]),
            )?;
        let per_image = model.inputs.len() == 3;
        if per_image {
            for input in 1..3 {
                model = model.with_input_fact(
                    input,
                    InferenceFact::dt_shape(f32::datum_type(), [batch, channels, 1, 1]),
                )?;
            }
        }
        let plan = model.into_optimized()?.into_runnable()?;
        Ok(TractModel {
            plan,
            batch,
            channels,
            height,
            width,
            per_image,
        })
    }

    /// Whether the model takes each image's statistics.
    pub fn per_image(&self) -> bool {
        self.per_image
    }

    /// Runs raw counts `[batch][16][H][W]` (as f32), with each image's
    /// statistics (`[batch][16]`) for a per-image model; returns planar
    /// position `[batch][1][H][W]` and barcode `[batch][16][H][W]` maps.
    pub fn run(
        &self,
        raw: &[f32],
        stats: Option<&[ImageStats]>,
    ) -> TractResult<(Vec<f32>, Vec<f32>)> {
        let shape = [self.batch, self.channels, self.height, self.width];
        let mut inputs = tvec!(Tensor::from_shape(&shape, raw)?.into_tvalue());
        if self.per_image {
            let stats = stats.ok_or_else(|| {
                anyhow::anyhow!("this model normalises per image: pass each image's statistics")
            })?;
            let each = [self.batch, self.channels, 1, 1];
            let background: Vec<f32> = stats.iter().map(|s| s.background).collect();
            let noise: Vec<f32> = stats.iter().map(|s| s.noise).collect();
            inputs.push(Tensor::from_shape(&each, &background)?.into_tvalue());
            inputs.push(Tensor::from_shape(&each, &noise)?.into_tvalue());
        }
        let out = self.plan.run(inputs)?;
        if out.len() != 2 {
            anyhow::bail!("exported model has {} outputs, expected 2", out.len());
        }
        let flat = |t: &TValue| -> TractResult<Vec<f32>> {
            Ok(t.to_plain_array_view::<f32>()?.iter().copied().collect())
        };
        Ok((flat(&out[0])?, flat(&out[1])?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use robofish_shared::image::{InputImage, Pixels};
    use robofish_shared::model::{ArchConfig, Normalisation};

    #[test]
    fn tract_runs_the_export_like_the_float_reference() {
        let mut arch = ArchConfig::seed().scaled(0.125);
        arch.shared_first_stage = true;
        let norm = Normalisation {
            mean: (0..16).map(|i| 100.0 + i as f32).collect(),
            std: (0..16).map(|i| 20.0 + i as f32).collect(),
        };
        let model = FloatModel::random(&arch, norm, 3).unwrap();
        let bytes = onnx_bytes(&model, "test");
        let (h, w) = (12, 16);
        let mut rng = robofish_shared::rng::SplitMix64::new(5);
        let raw: Vec<u16> = (0..16 * h * w)
            .map(|_| (100.0 + 60.0 * rng.normal().abs()) as u16)
            .collect();
        let tract = TractModel::load(&bytes, 1, h, w).unwrap();
        let raw_f: Vec<f32> = raw.iter().map(|&v| v as f32).collect();
        let (pos, bc) = tract.run(&raw_f, None).unwrap();
        let image = InputImage::planar(Pixels::U16(&raw), 16, h, w).unwrap();
        let acts = model.forward(&image);
        let want_pos = model.output_maps(&acts, 0);
        let want_bc = model.output_maps(&acts, 1);
        let max_diff = |a: &[f32], b: &[f32]| {
            assert_eq!(a.len(), b.len());
            a.iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .fold(0f32, f32::max)
        };
        assert!(
            max_diff(&pos, &want_pos) < 1e-4,
            "{}",
            max_diff(&pos, &want_pos)
        );
        assert!(
            max_diff(&bc, &want_bc) < 1e-4,
            "{}",
            max_diff(&bc, &want_bc)
        );
    }
}
