//! Dataset I/O in the original project's layout ("Data/50"):
//!
//! ```text
//! <root>/codebook.csv                          MERlin-style codebook (ours)
//! <root>/<split>/1/config.yml                  simulation parameters
//! <root>/<split>/1/647nm, Raw/merFISH_<RR>_<TTT>_01.tiff   RR = round 01..08
//! <root>/<split>/1/750nm, Raw/merFISH_<RR>_<TTT>_01.tiff   TTT = tile 001..N
//! <root>/<split>/1/groundtruths/groundtruth_<T>.csv        T = 1..N
//! <root>/<split>/1/groundtruths/frequency_<T>.csv
//! ```
//!
//! Tiles are numbered from 1 on disk (`tile_number`); the simulator's
//! `index` is `tile_number - 1`. The ground-truth CSV has the original's
//! `row, column, barcode` columns (`barcode` = `[b0 b1 ... b15]` without
//! spaces, character `i` = barcode bit `i`) followed by ours: sub-pixel `y`,
//! `x`, `gene` (codebook name) and `brightness`. Images are written as
//! 16-bit (or 8-bit) grayscale TIFFs; 8-bit RGB(A) TIFFs, as the original
//! wrote, are read through channel 0.
mod config_file;
mod layout;
mod reader;
mod tiff_io;
mod truth_csv;
mod writer;

pub use config_file::{DatasetConfig, ImageSize, SimulationSection};
pub use layout::{codebook_path, config_path, frequency_path, image_path, split_dir, truth_path};
pub use reader::read_tile;
pub use reader::{find_codebook, resolve_codebook, Dataset};
pub use tiff_io::{decode_gray_tiff, read_gray_tiff, write_gray_tiff, GrayImage};
pub use truth_csv::{format_barcode, parse_barcode, parse_truth_csv, truth_csv};
pub use writer::{create_split_dirs, write_codebook, write_split_config, write_tile};

use std::path::PathBuf;

/// What went wrong reading or writing a dataset; every variant names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// The file system refused.
    #[error("{path}: {source}")]
    Io {
        /// File or folder.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A file the layout requires is not there.
    #[error("{path}: missing ({what})")]
    Missing {
        /// Expected file.
        path: PathBuf,
        /// What it should hold.
        what: String,
    },
    /// The TIFF could not be decoded or encoded.
    #[error("{path}: TIFF error: {source}")]
    Tiff {
        /// Image file.
        path: PathBuf,
        /// Cause.
        source: tiff::TiffError,
    },
    /// The TIFF is valid but not a kind we read.
    #[error(
        "{path}: unsupported TIFF colour type {found}; expected 8- or 16-bit grayscale or RGB(A)"
    )]
    UnsupportedTiff {
        /// Image file.
        path: PathBuf,
        /// What it is.
        found: String,
    },
    /// An image's size differs from the tile's.
    #[error("{path}: image is {found_height} x {found_width} pixels, expected {height} x {width} like the rest of the tile")]
    WrongSize {
        /// Image file.
        path: PathBuf,
        /// Expected rows.
        height: usize,
        /// Expected columns.
        width: usize,
        /// Found rows.
        found_height: usize,
        /// Found columns.
        found_width: usize,
    },
    /// A CSV row or header is malformed.
    #[error("{path}, line {line}: {message}")]
    Csv {
        /// CSV file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// `config.yml` could not be parsed or written.
    #[error("{path}: {message}")]
    Config {
        /// Config file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The codebook CSV is malformed.
    #[error("{path}: {cause}")]
    Codebook {
        /// Codebook file.
        path: PathBuf,
        /// What is wrong, with its line. Shown in this message and not
        /// chained as a source, so a printed chain names the line once.
        cause: robofish_shared::codebook::CodebookError,
    },
    /// A split folder holds no tiles.
    #[error("{path}: no tiles (no groundtruths/groundtruth_<T>.csv files)")]
    NoTiles {
        /// Split folder.
        path: PathBuf,
    },
}

/// Shorthand for I/O errors with their path.
pub(crate) fn io_error(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> DataError + '_ {
    move |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests;
