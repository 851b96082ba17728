//! Safetensors checkpoints, readable and writable without libtorch.
//!
//! A checkpoint holds one `{weight_name}.weight` tensor (torch layout
//! `[cout][cin][3][3]`, f32) and one `{weight_name}.bias` (`[cout]`) per
//! distinct weight name of the architecture graph (shared first-stage
//! weights are stored once), plus metadata in the safetensors header
//! (`__metadata__`, string values):
//!
//! | key | value |
//! |---|---|
//! | `format` | `pt` (what torch-based tools expect) |
//! | `robofish.arch` | [`ArchConfig`] as JSON |
//! | `robofish.normalisation` | [`Normalisation`] as JSON (raw counts) |
//! | `robofish.input_stage` | `"fixed"` or `"per-image"` ([`InputStage`]; absent: fixed) |
//! | `robofish.bit_order` | `"blocked"` or `"interleaved"` (JSON) |
//! | `robofish.epoch` | epochs trained |
//! | `robofish.val_loss` | validation loss at that epoch |
//!
//! [`FloatModel`] (the pure-Rust reference, layout `[cout][ky][kx][cin]`)
//! converts both ways, so `export` and `quantise` need no libtorch.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use robofish_shared::codebook::BitOrder;
use robofish_shared::input_stage::InputStage;
use robofish_shared::model::{ArchConfig, Normalisation};
use robofish_shared::reference::{FloatConv, FloatModel};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;

/// What can go wrong reading or writing a checkpoint.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// File system.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Not a safetensors file, or a corrupt one.
    #[error("not a valid safetensors file: {0}")]
    Format(String),
    /// Metadata key missing or unreadable.
    #[error("checkpoint metadata '{key}': {problem}")]
    Metadata {
        /// The key.
        key: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// A tensor is missing or has the wrong shape or type.
    #[error("tensor '{name}': {problem}")]
    Tensor {
        /// Tensor name.
        name: String,
        /// What is wrong.
        problem: String,
    },
}

/// Training state stored next to the weights.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckpointMeta {
    /// Architecture.
    pub arch: ArchConfig,
    /// Raw-count normalisation per input image (used by a fixed input stage).
    pub normalisation: Normalisation,
    /// How raw counts become the network's input.
    pub input_stage: InputStage,
    /// Which image carries which barcode bit in the training data.
    pub bit_order: BitOrder,
    /// Epochs trained.
    pub epoch: usize,
    /// Validation loss after the last epoch (NaN when unknown).
    pub val_loss: f64,
}

/// A named f32 tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensor {
    /// Shape.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub data: Vec<f32>,
}

/// Metadata plus tensors in name order.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    /// Metadata.
    pub meta: CheckpointMeta,
    /// Tensors by name.
    pub tensors: BTreeMap<String, NamedTensor>,
}

fn meta_err(key: &'static str, problem: impl ToString) -> CheckpointError {
    CheckpointError::Metadata {
        key,
        problem: problem.to_string(),
    }
}

/// Writes f32 tensors and string metadata as safetensors bytes.
pub fn encode_tensors(
    tensors: &BTreeMap<String, NamedTensor>,
    metadata: HashMap<String, String>,
) -> Result<Vec<u8>, CheckpointError> {
    let bytes: Vec<(&String, &NamedTensor, Vec<u8>)> = tensors
        .iter()
        .map(|(name, t)| {
            (
                name,
                t,
                t.data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            )
        })
        .collect();
    let mut views = Vec::with_capacity(bytes.len());
    for (name, t, raw) in &bytes {
        let view = TensorView::new(Dtype::F32, t.shape.clone(), raw).map_err(|e| {
            CheckpointError::Tensor {
                name: name.to_string(),
                problem: e.to_string(),
            }
        })?;
        views.push((name.as_str(), view));
    }
    safetensors::serialize(views, Some(metadata))
        .map_err(|e| CheckpointError::Format(e.to_string()))
}

/// Tensors by name and the header's string metadata.
pub type TensorsAndMetadata = (BTreeMap<String, NamedTensor>, HashMap<String, String>);

/// Reads f32 tensors and string metadata from safetensors bytes.
pub fn decode_tensors(bytes: &[u8]) -> Result<TensorsAndMetadata, CheckpointError> {
    let (_, header) =
        SafeTensors::read_metadata(bytes).map_err(|e| CheckpointError::Format(e.to_string()))?;
    let metadata = header.metadata().clone().unwrap_or_default();
    let st = SafeTensors::deserialize(bytes).map_err(|e| CheckpointError::Format(e.to_string()))?;
    let mut tensors = BTreeMap::new();
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(CheckpointError::Tensor {
                name,
                problem: format!("dtype {:?}, expected F32", view.dtype()),
            });
        }
        let data = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        tensors.insert(
            name,
            NamedTensor {
                shape: view.shape().to_vec(),
                data,
            },
        );
    }
    Ok((tensors, metadata))
}

impl CheckpointMeta {
    fn to_map(&self) -> Result<HashMap<String, String>, CheckpointError> {
        let json =
            |key: &'static str, v: serde_json::Result<String>| v.map_err(|e| meta_err(key, e));
        Ok(HashMap::from([
            ("format".into(), "pt".into()),
            (
                "robofish.arch".into(),
                json("robofish.arch", serde_json::to_string(&self.arch))?,
            ),
            (
                "robofish.normalisation".into(),
                json(
                    "robofish.normalisation",
                    serde_json::to_string(&self.normalisation),
                )?,
            ),
            (
                "robofish.bit_order".into(),
                json("robofish.bit_order", serde_json::to_string(&self.bit_order))?,
            ),
            (
                "robofish.input_stage".into(),
                self.input_stage.name().to_string(),
            ),
            ("robofish.epoch".into(), self.epoch.to_string()),
            ("robofish.val_loss".into(), self.val_loss.to_string()),
        ]))
    }

    fn from_map(map: &HashMap<String, String>) -> Result<CheckpointMeta, CheckpointError> {
        fn get<'m>(
            map: &'m HashMap<String, String>,
            key: &'static str,
        ) -> Result<&'m str, CheckpointError> {
            map.get(key).map(String::as_str).ok_or_else(|| {
                meta_err(
                    key,
                    "missing (was this checkpoint written by `robofish train`?)",
                )
            })
        }
        let arch: ArchConfig = serde_json::from_str(get(map, "robofish.arch")?)
            .map_err(|e| meta_err("robofish.arch", e))?;
        arch.check().map_err(|e| meta_err("robofish.arch", e))?;
        let normalisation: Normalisation =
            serde_json::from_str(get(map, "robofish.normalisation")?)
                .map_err(|e| meta_err("robofish.normalisation", e))?;
        let channels = arch.input_channels() as usize;
        if normalisation.mean.len() != channels
            || normalisation.std.len() != channels
            || normalisation
                .std
                .iter()
                .any(|s| !(*s > 0.0 && s.is_finite()))
            || normalisation.mean.iter().any(|m| !m.is_finite())
        {
            return Err(meta_err(
                "robofish.normalisation",
                format!("needs {channels} finite means and positive standard deviations"),
            ));
        }
        let bit_order = match map.get("robofish.bit_order") {
            Some(text) => {
                serde_json::from_str(text).map_err(|e| meta_err("robofish.bit_order", e))?
            }
            None => BitOrder::default(),
        };
        let input_stage = match map.get("robofish.input_stage").map(String::as_str) {
            None | Some("fixed") => InputStage::Fixed,
            Some("per-image") => InputStage::PerImage,
            Some(other) => {
                return Err(meta_err(
                    "robofish.input_stage",
                    format!("`{other}`: expected fixed or per-image"),
                ))
            }
        };
        let epoch = match map.get("robofish.epoch") {
            Some(text) => text.parse().map_err(|e| meta_err("robofish.epoch", e))?,
            None => 0,
        };
        let val_loss = match map.get("robofish.val_loss") {
            Some(text) => text.parse().map_err(|e| meta_err("robofish.val_loss", e))?,
            None => f64::NAN,
        };
        Ok(CheckpointMeta {
            arch,
            normalisation,
            input_stage,
            bit_order,
            epoch,
            val_loss,
        })
    }
}

impl Checkpoint {
    /// Safetensors bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, CheckpointError> {
        encode_tensors(&self.tensors, self.meta.to_map()?)
    }

    /// Parses safetensors bytes written by [`Checkpoint::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Checkpoint, CheckpointError> {
        let (tensors, map) = decode_tensors(bytes)?;
        let meta = CheckpointMeta::from_map(&map)?;
        Ok(Checkpoint { meta, tensors })
    }

    /// Reads a checkpoint file.
    pub fn read(path: &Path) -> Result<Checkpoint, CheckpointError> {
        let bytes = std::fs::read(path).map_err(|source| CheckpointError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Checkpoint::from_bytes(&bytes)
    }

    /// Writes a checkpoint file (through a temporary file and a rename, so a
    /// crash never leaves half a checkpoint).
    pub fn write(&self, path: &Path) -> Result<(), CheckpointError> {
        write_atomic(path, &self.to_bytes()?)
    }

    /// The float reference model, weights transposed to `[cout][ky][kx][cin]`.
    pub fn to_float_model(&self) -> Result<FloatModel, CheckpointError> {
        let mut problem = None;
        let graph = self
            .meta
            .arch
            .build(|spec| {
                let mut conv = FloatConv::zeros(spec);
                if problem.is_none() {
                    if let Err(e) = self.fill_conv(&mut conv) {
                        problem = Some(e);
                    }
                }
                conv
            })
            .map_err(|e| meta_err("robofish.arch", e))?;
        if let Some(e) = problem {
            return Err(e);
        }
        Ok(FloatModel {
            arch: Some(self.meta.arch.clone()),
            graph,
            normalisation: self.meta.normalisation.clone(),
            input_stage: self.meta.input_stage,
        })
    }

    fn fill_conv(&self, conv: &mut FloatConv) -> Result<(), CheckpointError> {
        let (cin, cout) = (conv.in_channels, conv.out_channels);
        let weight = self.tensor(&format!("{}.weight", conv.weight_name), &[cout, cin, 3, 3])?;
        let bias = self.tensor(&format!("{}.bias", conv.weight_name), &[cout])?;
        for co in 0..cout {
            for ci in 0..cin {
                for k in 0..9 {
                    conv.weights[(co * 9 + k) * cin + ci] = weight[(co * cin + ci) * 9 + k];
                }
            }
        }
        conv.bias.copy_from_slice(bias);
        Ok(())
    }

    fn tensor(&self, name: &str, shape: &[usize]) -> Result<&[f32], CheckpointError> {
        let t = self
            .tensors
            .get(name)
            .ok_or_else(|| CheckpointError::Tensor {
                name: name.into(),
                problem: "missing (checkpoint does not match its architecture)".into(),
            })?;
        if t.shape != shape || t.data.len() != shape.iter().product::<usize>() {
            return Err(CheckpointError::Tensor {
                name: name.into(),
                problem: format!("shape {:?}, expected {shape:?}", t.shape),
            });
        }
        Ok(&t.data)
    }

    /// A checkpoint of a float model (its architecture must be known).
    pub fn from_float_model(
        model: &FloatModel,
        bit_order: BitOrder,
        epoch: usize,
        val_loss: f64,
    ) -> Result<Checkpoint, CheckpointError> {
        let arch = model.arch.clone().ok_or_else(|| {
            meta_err(
                "robofish.arch",
                "the float model has no architecture config",
            )
        })?;
        let mut tensors = BTreeMap::new();
        for node in &model.graph.nodes {
            let robofish_shared::model::Node::Conv(conv) = node else {
                continue;
            };
            let (cin, cout) = (conv.in_channels, conv.out_channels);
            let mut weight = vec![0f32; cout * cin * 9];
            for co in 0..cout {
                for ci in 0..cin {
                    for k in 0..9 {
                        weight[(co * cin + ci) * 9 + k] = conv.weights[(co * 9 + k) * cin + ci];
                    }
                }
            }
            tensors.insert(
                format!("{}.weight", conv.weight_name),
                NamedTensor {
                    shape: vec![cout, cin, 3, 3],
                    data: weight,
                },
            );
            tensors.insert(
                format!("{}.bias", conv.weight_name),
                NamedTensor {
                    shape: vec![cout],
                    data: conv.bias.clone(),
                },
            );
        }
        Ok(Checkpoint {
            meta: CheckpointMeta {
                arch,
                normalisation: model.normalisation.clone(),
                input_stage: model.input_stage,
                bit_order,
                epoch,
                val_loss,
            },
            tensors,
        })
    }
}

/// Writes `bytes` to `path` through `path.tmp` and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let io = |source| CheckpointError::Io {
        path: path.display().to_string(),
        source,
    };
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(shared: bool) -> FloatModel {
        let mut arch = ArchConfig::seed().scaled(0.125);
        arch.shared_first_stage = shared;
        let norm = Normalisation {
            mean: (0..16).map(|i| 100.0 + i as f32).collect(),
            std: (0..16).map(|i| 3.0 + i as f32 * 0.5).collect(),
        };
        FloatModel::random(&arch, norm, 7).unwrap()
    }

    #[test]
    fn float_model_round_trip_is_exact() {
        for shared in [false, true] {
            let m = model(shared);
            let ckpt = Checkpoint::from_float_model(&m, BitOrder::Interleaved, 3, 0.25).unwrap();
            let bytes = ckpt.to_bytes().unwrap();
            let back = Checkpoint::from_bytes(&bytes).unwrap();
            assert_eq!(back, ckpt);
            assert_eq!(back.meta.bit_order, BitOrder::Interleaved);
            assert_eq!(back.to_float_model().unwrap(), m);
            // Shared first stage: 15 fewer weight tensors.
            let convs = m
                .graph
                .nodes
                .iter()
                .filter(|n| matches!(n, robofish_shared::model::Node::Conv(_)))
                .count();
            let expected = if shared { convs - 15 } else { convs };
            assert_eq!(back.tensors.len(), 2 * expected);
        }
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(Checkpoint::from_bytes(b"not a checkpoint").is_err());
        let m = model(false);
        let mut ckpt = Checkpoint::from_float_model(&m, BitOrder::Blocked, 0, 0.0).unwrap();
        ckpt.tensors.remove("head_pos.conv2.bias");
        let err = Checkpoint::from_bytes(&ckpt.to_bytes().unwrap())
            .unwrap()
            .to_float_model()
            .unwrap_err();
        assert!(err.to_string().contains("head_pos.conv2.bias"), "{err}");
        let bare = encode_tensors(&ckpt.tensors, HashMap::new()).unwrap();
        let err = Checkpoint::from_bytes(&bare).unwrap_err();
        assert!(err.to_string().contains("robofish.arch"), "{err}");
    }
}
