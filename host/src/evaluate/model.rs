//! Models to evaluate: fp32 checkpoints and int8 model files, told apart by
//! extension and checked against the data before any long work starts.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use robofish_shared::engine::EngineError;
use robofish_shared::kernels::KernelPath;
use robofish_shared::model::{decode_model, Model, OutputKind, QuantMode};
use robofish_shared::post::BARCODE_BITS;
use robofish_shared::reference::FloatModel;

use super::engines::{Engine, FloatEngine, Int8Engine, ReferenceEngine, TchEngine, TractEngine};
use super::spots::DecodeBook;
use crate::checkpoint::Checkpoint;
use crate::sim::{BitOrder, IMAGE_COUNT};

/// How a model's numbers are represented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    /// fp32 checkpoint.
    Fp32,
    /// int8, activation grids calibrated once.
    Static,
    /// int8, activation grids measured per tile.
    Dynamic,
    /// int8 after quantisation-aware training.
    Qat,
}

impl Precision {
    /// `fp32`, `static`, `dynamic` or `qat` (the JSON `mode`).
    pub fn name(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Static => "static",
            Precision::Dynamic => "dynamic",
            Precision::Qat => "qat",
        }
    }
}

/// What was loaded.
pub enum Weights {
    /// A safetensors checkpoint and its float model.
    Fp32 {
        /// The checkpoint (tch needs it as is).
        checkpoint: Box<Checkpoint>,
        /// The float graph (tract and the reference run it).
        float: Box<FloatModel>,
    },
    /// An int8 model file.
    Int8(Box<Model>),
}

/// A model file ready to evaluate.
pub struct EvalModel {
    /// The path given.
    pub path: PathBuf,
    /// File name, for tables.
    pub name: String,
    /// Bytes of the file on disk: the "size" of the tables, as the
    /// original's size was that of its saved state dict.
    pub file_bytes: u64,
    /// The model.
    pub weights: Weights,
}

const FP32_EXTENSION: &str = "safetensors";
const INT8_EXTENSION: &str = "rfm";

impl EvalModel {
    /// Loads `path`: `*.safetensors` as an fp32 checkpoint, `*.rfm` as an
    /// int8 model file.
    pub fn load(path: &Path) -> Result<EvalModel> {
        let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        let is_checkpoint = match extension {
            FP32_EXTENSION => true,
            INT8_EXTENSION => false,
            other => bail!(
                "{}: unknown model file extension '{other}'; expected .{FP32_EXTENSION} \
                 (fp32 checkpoint from `robofish train`) or .{INT8_EXTENSION} (int8 model \
                 from `robofish quantise` or `robofish init`)",
                path.display()
            ),
        };
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let weights = if is_checkpoint {
            let checkpoint = Checkpoint::from_bytes(&bytes)
                .with_context(|| format!("{} is not a robofish fp32 checkpoint", path.display()))?;
            let float = checkpoint
                .to_float_model()
                .with_context(|| format!("{} does not match its architecture", path.display()))?;
            Weights::Fp32 {
                checkpoint: Box::new(checkpoint),
                float: Box::new(float),
            }
        } else {
            let model = decode_model(&bytes).with_context(|| {
                format!("{} is not a usable robofish model file", path.display())
            })?;
            Weights::Int8(Box::new(model))
        };
        let model = EvalModel {
            path: path.to_path_buf(),
            name: path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into(),
            ),
            file_bytes: bytes.len() as u64,
            weights,
        };
        model.check_outputs()?;
        Ok(model)
    }

    /// fp32, or the int8 file's recorded mode.
    pub fn precision(&self) -> Precision {
        match &self.weights {
            Weights::Fp32 { .. } => Precision::Fp32,
            Weights::Int8(model) => match model.metadata.mode {
                QuantMode::Static => Precision::Static,
                QuantMode::Dynamic => Precision::Dynamic,
                QuantMode::Qat => Precision::Qat,
            },
        }
    }

    /// Weights and biases (tensor elements of a checkpoint, distinct int8
    /// values of a model file).
    pub fn parameters(&self) -> usize {
        match &self.weights {
            Weights::Fp32 { checkpoint, .. } => {
                checkpoint.tensors.values().map(|t| t.data.len()).sum()
            }
            Weights::Int8(model) => model.parameter_count(),
        }
    }

    /// Raw images the model reads.
    pub fn input_channels(&self) -> usize {
        match &self.weights {
            Weights::Fp32 { float, .. } => float.graph.input_channels as usize,
            Weights::Int8(model) => model.graph.input_channels as usize,
        }
    }

    /// Barcode bit order it was trained with.
    pub fn bit_order(&self) -> BitOrder {
        match &self.weights {
            Weights::Fp32 { checkpoint, .. } => checkpoint.meta.bit_order,
            Weights::Int8(model) => model.metadata.bit_order,
        }
    }

    /// The codebook stored in the model (int8 files may carry one).
    pub fn codebook(&self) -> Result<Option<DecodeBook>> {
        match &self.weights {
            Weights::Int8(model) => model
                .metadata
                .codebook
                .as_deref()
                .map(|entries| DecodeBook::from_model(entries, format!("{}'s codebook", self.name)))
                .transpose(),
            Weights::Fp32 { .. } => Ok(None),
        }
    }

    /// One position map and one barcode map per barcode bit.
    fn check_outputs(&self) -> Result<()> {
        let model = match &self.weights {
            Weights::Int8(model) => model,
            Weights::Fp32 { checkpoint, .. } => {
                let bits = checkpoint.meta.arch.barcode_bits as usize;
                if bits != BARCODE_BITS {
                    bail!(
                        "{}: its barcode head has {bits} maps; eval needs {BARCODE_BITS}",
                        self.path.display()
                    );
                }
                return Ok(());
            }
        };
        let graph = &model.graph;
        for kind in [OutputKind::Position, OutputKind::Barcode] {
            let Some(output) = graph.outputs.iter().find(|o| o.kind == kind) else {
                bail!("{}: the model has no {kind:?} output", self.path.display());
            };
            let channels = graph.tensors[output.tensor as usize].channels as usize;
            let expected = if kind == OutputKind::Position {
                1
            } else {
                BARCODE_BITS
            };
            if channels != expected {
                bail!(
                    "{}: its {kind:?} output has {channels} maps; eval needs {expected}",
                    self.path.display()
                );
            }
        }
        Ok(())
    }

    /// Checks that the model can run on the data: the same number of input
    /// images, and a tile size its pooling depth allows.
    pub fn check_data(&self, height: usize, width: usize) -> Result<()> {
        if self.input_channels() != IMAGE_COUNT {
            bail!(
                "{} reads {} images per tile but the data has {IMAGE_COUNT} \
                 (8 rounds x 2 colours)",
                self.path.display(),
                self.input_channels()
            );
        }
        let levels = match &self.weights {
            Weights::Fp32 { float, .. } => float.graph.max_level(),
            Weights::Int8(model) => model.graph.max_level(),
        };
        check_tile_size(levels.into(), height, width)
            .with_context(|| format!("{} cannot run on this data", self.path.display()))
    }

    /// The engines this model runs on: the robofish engine for int8 files,
    /// the requested fp32 engines for checkpoints.
    pub fn engines(
        &self,
        fp32_engines: &[FloatEngine],
        tch_device: &str,
    ) -> Result<Vec<Box<dyn Engine>>> {
        match &self.weights {
            Weights::Int8(model) => {
                let kernels = KernelPath::from_env()?;
                Ok(vec![Box::new(Int8Engine::new((**model).clone(), kernels)?)])
            }
            Weights::Fp32 { checkpoint, float } => fp32_engines
                .iter()
                .map(|&kind| -> Result<Box<dyn Engine>> {
                    Ok(match kind {
                        FloatEngine::Tract => Box::new(TractEngine::new(float)),
                        FloatEngine::Tch => Box::new(TchEngine::new(checkpoint, tch_device)?),
                        FloatEngine::Reference => Box::new(ReferenceEngine::new((**float).clone())),
                    })
                })
                .collect(),
        }
    }
}

/// The engine's tile-size rule (sides multiples of `2^levels`, at least
/// twice that), for every engine: tract and libtorch would fail later and
/// less clearly on the same tiles.
pub fn check_tile_size(levels: u32, height: usize, width: usize) -> Result<()> {
    let multiple = 1usize << levels;
    let minimum = 2 * multiple;
    let fits = |side: usize| side.is_multiple_of(multiple) && side >= minimum;
    if fits(height) && fits(width) {
        Ok(())
    } else {
        Err(EngineError::BadTileSize {
            height,
            width,
            multiple,
            minimum,
        }
        .into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_sizes_follow_the_engine_rule() {
        assert!(check_tile_size(2, 40, 40).is_ok());
        assert!(check_tile_size(2, 8, 12).is_ok());
        let error = check_tile_size(2, 42, 40).unwrap_err().to_string();
        assert!(error.contains("multiples of 4"), "{error}");
        assert!(check_tile_size(2, 4, 40).is_err());
    }

    #[test]
    fn unknown_extensions_and_missing_files_say_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let odd = dir.path().join("model.onnx");
        std::fs::write(&odd, b"x").unwrap();
        let error = format!("{:#}", EvalModel::load(&odd).err().unwrap());
        assert!(
            error.contains("unknown model file extension 'onnx'"),
            "{error}"
        );
        let missing = dir.path().join("missing.rfm");
        let error = format!("{:#}", EvalModel::load(&missing).err().unwrap());
        assert!(error.contains("cannot read"), "{error}");
        let junk = dir.path().join("junk.rfm");
        std::fs::write(&junk, b"not a model").unwrap();
        let error = format!("{:#}", EvalModel::load(&junk).err().unwrap());
        assert!(
            error.contains("not a usable robofish model file"),
            "{error}"
        );
    }
}
