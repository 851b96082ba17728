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
    plane_image_path(split_dir, image, tile_number, 1)
}

/// The TIFF of `image` of z plane `plane_number` (1-based: the file name's
/// last field, `01` for a 2-D tile) of tile `tile_number`.
pub fn plane_image_path(
    split_dir: &Path,
    image: usize,
    tile_number: usize,
    plane_number: usize,
) -> PathBuf {
    let (colour, round) = (image / ROUNDS, image % ROUNDS);
    split_dir.join(COLOUR_FOLDERS[colour]).join(format!(
        "merFISH_{:02}_{:03}_{:02}.tiff",
        round + 1,
        tile_number,
        plane_number
    ))
}

/// `(round number, tile number, plane number)` of a file named like
/// [`plane_image_path`]'s.
pub fn parse_image_name(name: &str) -> Option<(usize, usize, usize)> {
    let stem = name.strip_suffix(".tiff")?.strip_prefix("merFISH_")?;
    let mut fields = stem.split('_').map(|f| f.parse::<usize>().ok());
    let numbers = (fields.next()??, fields.next()??, fields.next()??);
    fields.next().is_none().then_some(numbers)
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
