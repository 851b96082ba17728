//! `robofish export`: a checkpoint as fp32 ONNX (no libtorch needed).
use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use robofish_host::checkpoint::Checkpoint;
use robofish_host::onnx::{onnx_bytes, TractModel, OPSET};

/// Export a safetensors checkpoint as fp32 ONNX (opset 17, dynamic N/H/W).
///
/// Input `raw_counts` [N,16,H,W] float = raw camera counts (the model's
/// normalisation is inside the graph as Sub/Div); outputs `position`
/// [N,1,H,W] and `barcode` [N,16,H,W] probabilities. H and W must be
/// multiples of 4. The file is loaded back with tract as a check.
#[derive(Args, Debug)]
pub struct Cmd {
    /// Checkpoint written by `robofish train` (e.g. RUN_DIR/best.safetensors).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// ONNX file to write.
    #[arg(long)]
    pub onnx: PathBuf,
}

impl Cmd {
    pub fn run(self) -> Result<()> {
        let ckpt = Checkpoint::read(&self.checkpoint)
            .with_context(|| format!("cannot load {}", self.checkpoint.display()))?;
        let model = ckpt.to_float_model()?;
        let inputs = match ckpt.meta.input_stage {
            robofish_shared::input_stage::InputStage::Fixed => "input raw counts",
            robofish_shared::input_stage::InputStage::PerImage => {
                "inputs raw counts and each image's background and noise \
                 (robofish_shared::image_stats)"
            }
        };
        let doc = format!(
            "anglerFISH fp32 from {} (epoch {}, val loss {:.4}); {inputs}, bit order {}",
            self.checkpoint.display(),
            ckpt.meta.epoch,
            ckpt.meta.val_loss,
            ckpt.meta.bit_order.name()
        );
        let bytes = onnx_bytes(&model, &doc);
        TractModel::load(&bytes, 1, 40, 40)
            .map_err(|e| anyhow::anyhow!("{e:?}"))
            .context("tract cannot load the exported model (a robofish bug)")?;
        std::fs::write(&self.onnx, &bytes)
            .with_context(|| format!("cannot write {}", self.onnx.display()))?;
        writeln!(
            io::stdout(),
            "wrote {} ({} bytes, opset {OPSET}, checked with tract)",
            self.onnx.display(),
            bytes.len()
        )?;
        Ok(())
    }
}
