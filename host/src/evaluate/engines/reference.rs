//! robofish's float reference forward pass: slow and single-threaded, but
//! independent of tract and libtorch, so it cross-checks both.

use anyhow::{bail, Result};
use robofish_shared::engine::{InputImage, Pixels};
use robofish_shared::reference::FloatModel;

use super::{Engine, ProbabilityMaps};
use crate::sim::{Tile, IMAGE_COUNT};

/// The float model and the last tile's maps.
pub struct ReferenceEngine {
    model: FloatModel,
    tile: Option<Tile>,
    stats: Vec<robofish_shared::image::ImageStats>,
    maps: Option<ProbabilityMaps>,
}

impl ReferenceEngine {
    /// Wraps `model`.
    pub fn new(model: FloatModel) -> ReferenceEngine {
        ReferenceEngine {
            model,
            tile: None,
            stats: Vec::new(),
            maps: None,
        }
    }
}

impl Engine for ReferenceEngine {
    fn name(&self) -> &'static str {
        "reference"
    }

    fn set_threads(&mut self, _threads: usize) -> usize {
        1
    }

    fn load(&mut self, tile: &Tile) -> Result<()> {
        self.tile = Some(tile.clone());
        self.stats = crate::norm::tile_stats(tile);
        Ok(())
    }

    fn forward(&mut self) -> Result<()> {
        let Some(tile) = &self.tile else {
            bail!("no tile loaded");
        };
        let image = InputImage::planar(
            Pixels::U16(&tile.images),
            IMAGE_COUNT,
            tile.height,
            tile.width,
        )?
        .with_stats(&self.stats)?;
        let activations = self.model.forward(&image);
        self.maps = Some(ProbabilityMaps::new(
            tile.height,
            tile.width,
            self.model.output_maps(&activations, 0),
            self.model.output_maps(&activations, 1),
        )?);
        Ok(())
    }

    fn maps(&self) -> Result<ProbabilityMaps> {
        match &self.maps {
            Some(maps) => Ok(maps.clone()),
            None => bail!("no forward pass yet"),
        }
    }
}
