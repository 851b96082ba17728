//! `config.yml`: the original's `simulation:` section plus our full
//! parameters under `simulation.robofish`, which the original ignores.
use super::{io_error, DataError};
use crate::sim::{BitOrder, SimConfig};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The whole file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetConfig {
    /// The original's section.
    pub simulation: SimulationSection,
}

/// `simulation:`; unknown keys from other writers are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimulationSection {
    /// Tile size: one number for square tiles, as the original, else `[h, w]`.
    pub image_size: ImageSize,
    /// Tiles in the split.
    pub tile_count: usize,
    /// Emitters per tile (the mean when counts are Poisson).
    pub emitter_count: usize,
    /// Seed the split was simulated from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Bits per pixel of the TIFFs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bit_depth: Option<u8>,
    /// Every simulation parameter (robofish datasets only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub robofish: Option<SimConfig>,
}

/// Square or rectangular tile size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ImageSize {
    /// `height = width`.
    Square(usize),
    /// `[height, width]`.
    Rect([usize; 2]),
}

impl ImageSize {
    /// The compact form of `height x width`.
    pub fn new(height: usize, width: usize) -> ImageSize {
        if height == width {
            ImageSize::Square(height)
        } else {
            ImageSize::Rect([height, width])
        }
    }

    /// `(height, width)`.
    pub fn height_width(self) -> (usize, usize) {
        match self {
            ImageSize::Square(side) => (side, side),
            ImageSize::Rect([height, width]) => (height, width),
        }
    }
}

impl DatasetConfig {
    /// The configuration of a split of `tile_count` tiles simulated with `config`.
    pub fn for_simulation(config: &SimConfig, tile_count: usize, seed: u64) -> DatasetConfig {
        DatasetConfig {
            simulation: SimulationSection {
                image_size: ImageSize::new(config.height, config.width),
                tile_count,
                emitter_count: config.mean_emitters().round() as usize,
                seed: Some(seed),
                bit_depth: Some(config.file_bits()),
                robofish: Some(config.clone()),
            },
        }
    }

    /// The bit order recorded by robofish, blocked when none is recorded.
    pub fn bit_order(&self) -> BitOrder {
        self.simulation
            .robofish
            .as_ref()
            .map_or(BitOrder::Blocked, |c| c.bit_order)
    }

    /// Reads `path`.
    pub fn read(path: &Path) -> Result<DatasetConfig, DataError> {
        let text = std::fs::read_to_string(path).map_err(io_error(path))?;
        serde_yaml::from_str(&text).map_err(|err| DataError::Config {
            path: path.to_path_buf(),
            message: err.to_string(),
        })
    }

    /// The YAML text.
    pub fn to_yaml(&self) -> Result<String, serde_yaml::Error> {
        serde_yaml::to_string(self)
    }
}
