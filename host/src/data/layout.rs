//! File names of the original's layout.
use crate::sim::Split;
use robofish_shared::codebook::ROUNDS;
use std::path::{Path, PathBuf};

/// Folder names of the two colour channels, in colour order.
pub const COLOUR_FOLDERS: [&str; 2] = ["647nm, Raw", "750nm, Raw"];

/// `<root>/<split>/1`: the folder of one split.
pub fn split_dir(root: &Path, split: Split) -> PathBuf {
    root.join(split.name()).join("1")
}

/// The TIFF of `image` (`colour * 8 + round`) of tile `tile_number` (1-based).
pub fn image_path(split_dir: &Path, image: usize, tile_number: usize) -> PathBuf {
    let (colour, round) = (image / ROUNDS, image % ROUNDS);
    split_dir.join(COLOUR_FOLDERS[colour]).join(format!(
        "merFISH_{:02}_{:03}_01.tiff",
        round + 1,
        tile_number
    ))
}

/// `groundtruths/groundtruth_<T>.csv`.
pub fn truth_path(split_dir: &Path, tile_number: usize) -> PathBuf {
    split_dir
        .join("groundtruths")
        .join(format!("groundtruth_{tile_number}.csv"))
}

/// `groundtruths/frequency_<T>.csv`.
pub fn frequency_path(split_dir: &Path, tile_number: usize) -> PathBuf {
    split_dir
        .join("groundtruths")
        .join(format!("frequency_{tile_number}.csv"))
}

/// `config.yml` of a split.
pub fn config_path(split_dir: &Path) -> PathBuf {
    split_dir.join("config.yml")
}

/// `codebook.csv` at the dataset root.
pub fn codebook_path(root: &Path) -> PathBuf {
    root.join("codebook.csv")
}
