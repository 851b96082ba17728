//! An fp32 checkpoint in tract, through the ONNX export.

use anyhow::{anyhow, bail, Context, Result};

use super::{Engine, ProbabilityMaps};
use crate::onnx::{onnx_bytes, TractModel};
use crate::sim::Tile;
use robofish_shared::reference::FloatModel;

/// The exported model, optimised by tract for the loaded tile size.
pub struct TractEngine {
    onnx: Vec<u8>,
    model: Option<((usize, usize), TractModel)>,
    input: Vec<f32>,
    stats: Vec<robofish_shared::image::ImageStats>,
    outputs: Option<(Vec<f32>, Vec<f32>)>,
}

impl TractEngine {
    /// Exports `model` to ONNX in memory.
    pub fn new(model: &FloatModel) -> TractEngine {
        TractEngine {
            onnx: onnx_bytes(model, "robofish eval"),
            model: None,
            input: Vec::new(),
            stats: Vec::new(),
            outputs: None,
        }
    }
}

impl Engine for TractEngine {
    fn name(&self) -> &'static str {
        "tract"
    }

    fn set_threads(&mut self, _threads: usize) -> usize {
        // tract threads its matrix products only with its `multithread-mm`
        // feature, which this build does not enable.
        1
    }

    fn load(&mut self, tile: &Tile) -> Result<()> {
        let size = (tile.height, tile.width);
        if self.model.as_ref().map(|(s, _)| *s) != Some(size) {
            let model = TractModel::load(&self.onnx, 1, size.0, size.1)
                .map_err(|e| anyhow!("{e:?}"))
                .with_context(|| {
                    format!(
                        "tract cannot load the model for {}x{} tiles",
                        size.0, size.1
                    )
                })?;
            self.model = Some((size, model));
        }
        // The export normalises inside the graph: it takes raw counts (and
        // a per-image model each image's statistics).
        self.input.clear();
        self.input.extend(tile.images.iter().map(|&v| f32::from(v)));
        self.stats = crate::norm::tile_stats(tile);
        Ok(())
    }

    fn forward(&mut self) -> Result<()> {
        let Some((_, model)) = &self.model else {
            bail!("no tile loaded");
        };
        let outputs = model
            .run(&self.input, Some(&self.stats))
            .map_err(|e| anyhow!("{e:?}"))
            .context("tract failed to run the model")?;
        self.outputs = Some(outputs);
        Ok(())
    }

    fn maps(&self) -> Result<ProbabilityMaps> {
        let (Some(((height, width), _)), Some((position, barcode))) = (&self.model, &self.outputs)
        else {
            bail!("no forward pass yet");
        };
        ProbabilityMaps::new(*height, *width, position.clone(), barcode.clone())
    }
}
