//! `config.yml`: the original's `simulation:` section plus our full
//! parameters under `simulation.robofish`, which the original ignores.
//!
//! Commands that only read images take from it just what they need
//! ([`ConfigFacts`]), so files written by other tools (other keys, floats
//! where we write integers) are fine; [`DatasetConfig`] is the whole file as
//! robofish writes it.
use super::{io_error, DataError};
use crate::sim::{BitOrder, SimConfig};
use serde::{Deserialize, Deserializer, Serialize};
use serde_yaml::Value;
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
    #[serde(deserialize_with = "whole_number")]
    pub tile_count: usize,
    /// Emitters per tile (the mean when counts are Poisson).
    #[serde(deserialize_with = "whole_number")]
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

/// A count written as an integer or as an integer-valued float (`15.0`,
/// as Python tools write).
fn whole_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<usize, D::Error> {
    let value = f64::deserialize(deserializer)?;
    if value >= 0.0 && value.fract() == 0.0 && value <= u32::MAX as f64 {
        Ok(value as usize)
    } else {
        Err(serde::de::Error::custom(format!(
            "{value} is not a whole number >= 0"
        )))
    }
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

/// What the image readers take from a `config.yml`: each is `None` when the
/// file does not say. Other keys and their types are ignored; a value that
/// is there but unusable is an error naming its key and the file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfigFacts {
    /// `bit_order`, at the top level or under `simulation` or
    /// `simulation.robofish` (the first found).
    pub bit_order: Option<BitOrder>,
    /// `simulation.robofish.preset`: the simulator preset robofish used.
    pub preset: Option<String>,
    /// `pixel_size_um` or `microns_per_pixel`, at the top level or under
    /// `simulation`.
    pub pixel_size_um: Option<f64>,
}

/// Which [`ConfigFacts`] a reader needs; the others are not looked at, so
/// an unusable value there is no error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wanted {
    /// `bit_order`.
    pub bit_order: bool,
    /// `simulation.robofish.preset`.
    pub preset: bool,
    /// The pixel size.
    pub pixel_size: bool,
}

impl Wanted {
    /// Every fact.
    pub const ALL: Wanted = Wanted {
        bit_order: true,
        preset: true,
        pixel_size: true,
    };
}

impl ConfigFacts {
    /// Reads every fact of `path`; only unreadable YAML or an unusable
    /// value fails.
    pub fn read(path: &Path) -> Result<ConfigFacts, DataError> {
        ConfigFacts::read_wanted(path, Wanted::ALL)
    }

    /// Reads the `wanted` facts of `path`.
    pub fn read_wanted(path: &Path, wanted: Wanted) -> Result<ConfigFacts, DataError> {
        let text = std::fs::read_to_string(path).map_err(io_error(path))?;
        let root: Value = serde_yaml::from_str(&text).map_err(|err| DataError::Config {
            path: path.to_path_buf(),
            message: err.to_string(),
        })?;
        let unusable = |key: &str, value: &Value, expected: &str| DataError::Config {
            path: path.to_path_buf(),
            message: format!(
                "`{key}` is {}; expected {expected}",
                serde_yaml::to_string(value).map_or_else(|_| "?".into(), |s| s.trim().to_string())
            ),
        };
        let mut facts = ConfigFacts::default();
        let bit_order_keys = [
            "bit_order",
            "simulation.bit_order",
            "simulation.robofish.bit_order",
        ];
        if let Some((key, value)) = first_key(&root, &bit_order_keys).filter(|_| wanted.bit_order) {
            let order = value
                .as_str()
                .and_then(|name| crate::sim::parse_bit_order(&name.to_ascii_lowercase()).ok())
                .ok_or_else(|| unusable(key, value, "blocked or interleaved"))?;
            facts.bit_order = Some(order);
        }
        let preset_keys = ["simulation.robofish.preset"];
        if let Some((key, value)) = first_key(&root, &preset_keys).filter(|_| wanted.preset) {
            let name = value
                .as_str()
                .ok_or_else(|| unusable(key, value, "a preset name"))?;
            facts.preset = Some(name.to_string());
        }
        let pixel_keys = [
            "pixel_size_um",
            "microns_per_pixel",
            "simulation.pixel_size_um",
            "simulation.microns_per_pixel",
        ];
        if let Some((key, value)) = first_key(&root, &pixel_keys).filter(|_| wanted.pixel_size) {
            let size = value
                .as_f64()
                .filter(|size| size.is_finite() && *size > 0.0)
                .ok_or_else(|| unusable(key, value, "a pixel size in µm > 0"))?;
            facts.pixel_size_um = Some(size);
        }
        Ok(facts)
    }
}

/// The first of the dotted `keys` present in `root`, with its value.
fn first_key<'a, 'k>(root: &'a Value, keys: &[&'k str]) -> Option<(&'k str, &'a Value)> {
    keys.iter().find_map(|&key| {
        key.split('.')
            .try_fold(root, |node, part| node.get(part))
            .filter(|value| !value.is_null())
            .map(|value| (key, value))
    })
}
