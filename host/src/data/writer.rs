//! Writing tiles, configs and codebooks in the original's layout.
use super::layout::{
    codebook_path, config_path, frequency_path, image_path, truth_path, COLOUR_FOLDERS,
};
use super::tiff_io::write_gray_tiff;
use super::truth_csv::truth_csv;
use super::{io_error, DataError, DatasetConfig};
use crate::sim::{Tile, IMAGE_COUNT};
use robofish_shared::codebook::Codebook;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

/// Creates the folders of a split (`split_dir` from [`super::split_dir`]).
pub fn create_split_dirs(split_dir: &Path) -> Result<(), DataError> {
    for folder in COLOUR_FOLDERS.iter().chain(&["groundtruths"]) {
        let path = split_dir.join(folder);
        std::fs::create_dir_all(&path).map_err(io_error(&path))?;
    }
    Ok(())
}

/// Writes tile `tile_number` (1-based): 16 TIFFs of `bits` bits, the ground
/// truth and the per-tile gene counts. Creates the folders when needed.
pub fn write_tile(
    split_dir: &Path,
    tile_number: usize,
    tile: &Tile,
    codebook: &Codebook,
    bits: u8,
) -> Result<(), DataError> {
    create_split_dirs(split_dir)?;
    for image in 0..IMAGE_COUNT {
        let path = image_path(split_dir, image, tile_number);
        write_gray_tiff(&path, tile.height, tile.width, tile.image(image), bits)?;
    }
    let path = truth_path(split_dir, tile_number);
    std::fs::write(&path, truth_csv(&tile.truth, codebook)).map_err(io_error(&path))?;
    let path = frequency_path(split_dir, tile_number);
    std::fs::write(&path, frequency_csv(tile, codebook)).map_err(io_error(&path))
}

/// `gene,count`: how many emitters of each gene the tile holds, in codebook
/// order (the original's per-tile frequency file; nothing reads it).
fn frequency_csv(tile: &Tile, codebook: &Codebook) -> String {
    let mut counts = BTreeMap::new();
    for emitter in &tile.truth {
        *counts.entry(emitter.gene).or_insert(0usize) += 1;
    }
    let mut out = String::from("gene,count\n");
    for (gene, count) in counts {
        let _ = writeln!(out, "{},{count}", codebook.name(gene).unwrap_or(""));
    }
    out
}

/// Writes `config.yml` of a split.
pub fn write_split_config(split_dir: &Path, config: &DatasetConfig) -> Result<(), DataError> {
    std::fs::create_dir_all(split_dir).map_err(io_error(split_dir))?;
    let path = config_path(split_dir);
    let text = config.to_yaml().map_err(|err| DataError::Config {
        path: path.clone(),
        message: err.to_string(),
    })?;
    std::fs::write(&path, text).map_err(io_error(&path))
}

/// Writes `codebook.csv` at the dataset root.
pub fn write_codebook(root: &Path, codebook: &Codebook) -> Result<(), DataError> {
    std::fs::create_dir_all(root).map_err(io_error(root))?;
    let path = codebook_path(root);
    std::fs::write(&path, codebook.to_csv()).map_err(io_error(&path))
}
