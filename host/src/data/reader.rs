//! Reading datasets in the original's layout.
use super::layout::{codebook_path, config_path, plane_image_path, split_dir, truth_path};
use super::tiff_io::read_gray_tiff;
use super::tile_images::TileImages;
use super::truth_csv::parse_truth_csv;
use super::{io_error, ConfigFacts, DataError, DatasetConfig};
use crate::sim::{BitOrder, Split, Tile, IMAGE_COUNT};
use robofish_shared::codebook::Codebook;
use std::path::{Path, PathBuf};

/// A dataset on disk and the codebook that decodes it.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Folder holding `train/`, `val/`, `test/` and `codebook.csv`.
    pub root: PathBuf,
    /// From `--codebook`, else `<root>/codebook.csv`, else none (gene
    /// indices of the ground truth are then unknown).
    pub codebook: Option<Codebook>,
}

/// The codebook for a dataset: `override_path` when given, else
/// `<root>/codebook.csv` when it exists, else `None` (callers then use
/// their own, e.g. the model's).
pub fn find_codebook(
    root: &Path,
    override_path: Option<&Path>,
) -> Result<Option<Codebook>, DataError> {
    let path = match override_path {
        Some(path) => path.to_path_buf(),
        None => {
            let path = codebook_path(root);
            if !path.exists() {
                return Ok(None);
            }
            path
        }
    };
    let text = std::fs::read_to_string(&path).map_err(io_error(&path))?;
    Codebook::from_csv(&text)
        .map(Some)
        .map_err(|cause| DataError::Codebook { path, cause })
}

/// Like [`find_codebook`] but a codebook is required: an error says where
/// one was looked for.
pub fn resolve_codebook(root: &Path, override_path: Option<&Path>) -> Result<Codebook, DataError> {
    find_codebook(root, override_path)?.ok_or_else(|| DataError::Missing {
        path: codebook_path(root),
        what: "the dataset's codebook; pass --codebook FILE".into(),
    })
}

impl Dataset {
    /// Opens the dataset at `root`, reading its codebook (see [`find_codebook`]).
    pub fn open(root: &Path, codebook_override: Option<&Path>) -> Result<Dataset, DataError> {
        if !root.is_dir() {
            return Err(DataError::Missing {
                path: root.to_path_buf(),
                what: "the dataset folder".into(),
            });
        }
        Ok(Dataset {
            root: root.to_path_buf(),
            codebook: find_codebook(root, codebook_override)?,
        })
    }

    /// The simulator preset a split was made from, when robofish simulated
    /// it (recorded in its `config.yml`); see [`simulated_preset`].
    pub fn simulated_preset(&self) -> Option<String> {
        simulated_preset(&self.root)
    }

    /// `<root>/<split>/1`.
    pub fn split_dir(&self, split: Split) -> PathBuf {
        split_dir(&self.root, split)
    }

    /// The split's `config.yml`, `None` when it has none.
    pub fn config(&self, split: Split) -> Result<Option<DatasetConfig>, DataError> {
        let path = config_path(&self.split_dir(split));
        if path.exists() {
            DatasetConfig::read(&path).map(Some)
        } else {
            Ok(None)
        }
    }

    /// The split's bit order (blocked unless its config says otherwise).
    pub fn bit_order(&self, split: Split) -> Result<BitOrder, DataError> {
        let path = config_path(&self.split_dir(split));
        if !path.exists() {
            return Ok(BitOrder::Blocked);
        }
        Ok(ConfigFacts::read(&path)?
            .bit_order
            .unwrap_or(BitOrder::Blocked))
    }

    /// Tile numbers (1-based) of a split: those with a ground-truth CSV,
    /// ascending. Errors when there are none.
    pub fn tile_numbers(&self, split: Split) -> Result<Vec<usize>, DataError> {
        let dir = self.split_dir(split).join("groundtruths");
        let entries = std::fs::read_dir(&dir).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => DataError::Missing {
                path: dir.clone(),
                what: format!("the `{split}` split's ground truth"),
            },
            _ => DataError::Io {
                path: dir.clone(),
                source,
            },
        })?;
        let mut numbers = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_error(&dir))?;
            let name = entry.file_name();
            let number = name
                .to_str()
                .and_then(|n| n.strip_prefix("groundtruth_"))
                .and_then(|n| n.strip_suffix(".csv"))
                .and_then(|n| n.parse::<usize>().ok());
            numbers.extend(number);
        }
        if numbers.is_empty() {
            return Err(DataError::NoTiles {
                path: self.split_dir(split),
            });
        }
        numbers.sort_unstable();
        Ok(numbers)
    }

    /// Reads tile `tile_number` (1-based) of `split`.
    pub fn read_tile(&self, split: Split, tile_number: usize) -> Result<Tile, DataError> {
        read_tile(&self.split_dir(split), tile_number, self.codebook.as_ref())
    }

    /// Reads every tile of `split`, in tile-number order.
    pub fn read_split(&self, split: Split) -> Result<Vec<Tile>, DataError> {
        self.tile_numbers(split)?
            .into_iter()
            .map(|number| self.read_tile(split, number))
            .collect()
    }
}

/// The simulator preset recorded in the `config.yml` of `path` (a split
/// folder) or of any split under it (a dataset root); unreadable configs
/// count as none.
pub fn simulated_preset(path: &Path) -> Option<String> {
    let splits = Split::ALL.map(|split| config_path(&split_dir(path, split)));
    std::iter::once(config_path(path))
        .chain(splits)
        .filter(|config| config.exists())
        .find_map(|config| ConfigFacts::read(&config).ok()?.preset)
}

/// Reads tile `tile_number` (1-based) from a split folder. All 16 images
/// must exist and share one size; ground-truth pixels must lie inside it.
pub fn read_tile(
    split_dir: &Path,
    tile_number: usize,
    codebook: Option<&Codebook>,
) -> Result<Tile, DataError> {
    let mut tile = read_tile_images(split_dir, tile_number, 1)?;
    tile.truth = read_tile_truth(split_dir, tile_number, &tile, codebook)?;
    Ok(tile)
}

/// The 16 images of z plane `plane_number` (1-based) of a tile, without
/// truth.
pub(crate) fn read_tile_images(
    split_dir: &Path,
    tile_number: usize,
    plane_number: usize,
) -> Result<Tile, DataError> {
    let mut tile = TileImages::default();
    for image in 0..IMAGE_COUNT {
        let path = plane_image_path(split_dir, image, tile_number, plane_number);
        tile.push(read_gray_tiff(&path)?, &path)?;
    }
    Ok(tile.into_tile())
}

/// The ground truth of tile `tile_number`, checked against `tile`'s size.
pub(crate) fn read_tile_truth(
    split_dir: &Path,
    tile_number: usize,
    tile: &Tile,
    codebook: Option<&Codebook>,
) -> Result<Vec<crate::sim::Emitter>, DataError> {
    let path = truth_path(split_dir, tile_number);
    let text = std::fs::read_to_string(&path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => DataError::Missing {
            path: path.clone(),
            what: "the tile's ground truth".into(),
        },
        _ => DataError::Io {
            path: path.clone(),
            source,
        },
    })?;
    parse_truth_csv(&text, &path, tile.height, tile.width, codebook)
}
