//! Dataset I/O: the original project's layout ("Data/50"), which robofish
//! writes, and the acquisition formats labs have, which it reads
//! ([`Acquisition`]).
//!
//! The original's layout:
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
//!
//! Reading images for inference goes through [`Acquisition`]: that layout
//! with truth and `config.yml` optional (the last file-name field is the z
//! plane), MERlin's raw layout ([`Format::Merlin`]) and one multi-page
//! (OME-)TIFF per FOV ([`Format::TiffStack`]). Training and calibration
//! read labelled splits through [`Dataset`].
mod acquisition;
mod bit_layout;
mod config_file;
mod fov;
mod layout;
mod listing;
mod merlin;
mod planes;
mod positions;
mod reader;
mod seed_layout;
mod select;
mod stack;
mod tiff_io;
mod tile_images;
mod truth_csv;
mod writer;

pub use acquisition::{detect, Acquisition, Format, Frame};
pub use bit_layout::{layout_bits, BitLayout, BitSource};
pub use config_file::{ConfigFacts, DatasetConfig, ImageSize, SimulationSection, Wanted};
pub use fov::{global_to_pixel, pixel_to_global, FovInfo};
pub use layout::{
    codebook_path, config_path, frequency_path, image_path, plane_image_path, split_dir,
    truth_path, COLOUR_FOLDERS,
};
pub use listing::OpenOptions;
pub use merlin::MerlinWriter;
pub use planes::{Axis, PlaneOrder, PlaneSizes};
pub use positions::{read_positions, Positions};
pub use reader::read_tile;
pub use reader::{find_codebook, resolve_codebook, simulated_preset, Dataset};
pub use select::FovSelection;
pub use tiff_io::{decode_gray_tiff, read_gray_tiff, write_gray_tiff, GrayImage, TiffPages};
pub use truth_csv::{format_barcode, parse_barcode, parse_truth_csv, truth_csv};
pub use writer::{create_split_dirs, write_codebook, write_split_config, write_tile};

use crate::sim::Codebook;
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
    /// A folder holds none of the images its format needs.
    #[error("{path}: no images ({expected})")]
    NoImages {
        /// Folder.
        path: PathBuf,
        /// What was looked for.
        expected: String,
    },
    /// The folder is in no format robofish reads.
    #[error(
        "{path}: not a format robofish reads: no dataorganization.csv or .dax files (MERlin raw), \
         no `647nm, Raw` folder or train/val/test splits (seed layout), no .tif files (one stack \
         per FOV); pass --format if it is one of these"
    )]
    UnknownFormat {
        /// Folder.
        path: PathBuf,
    },
    /// Several files could be the one a format needs.
    #[error("{path}: several files could be the {what}: {}; keep one", candidates.join(", "))]
    Ambiguous {
        /// Folder.
        path: PathBuf,
        /// Which file.
        what: String,
        /// Their names.
        candidates: Vec<String>,
    },
    /// `--fov` selects none of the FOVs there are.
    #[error("{path}: --fov {selection} selects none of its FOVs (FOVs: {available})")]
    NoSuchFov {
        /// Folder.
        path: PathBuf,
        /// The selection.
        selection: String,
        /// The FOV ids there are.
        available: String,
    },
    /// A z plane a FOV does not have.
    #[error(
        "{path}: FOV {fov} has {planes} z plane(s), so plane {plane} (--z, 0-based) is not one"
    )]
    NoSuchPlane {
        /// File or folder of the FOV.
        path: PathBuf,
        /// FOV id.
        fov: usize,
        /// Plane asked for.
        plane: usize,
        /// Planes it has.
        planes: usize,
    },
    /// A metadata file (or an image's metadata) is there but unusable.
    #[error("{path}: {message}")]
    BadFile {
        /// File.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A raw image file is shorter than its header says.
    #[error("{path}: {found} bytes, shorter than the {expected} bytes {header} describes (truncated copy?)")]
    ShortFile {
        /// Image file.
        path: PathBuf,
        /// Bytes the header promises.
        expected: u64,
        /// Bytes there are.
        found: u64,
        /// The header.
        header: PathBuf,
    },
    /// A frame the data organisation asks for is not in its file.
    #[error("{path}: frame {frame} (0-based) is asked for, but the file has {frames} frames")]
    MissingFrame {
        /// Image file.
        path: PathBuf,
        /// Frame asked for.
        frame: usize,
        /// Frames there are.
        frames: usize,
    },
    /// A multi-page TIFF has fewer pages than its planes need.
    #[error("{path}: {found} pages, but its planes ({sizes}) need {expected}")]
    TooFewPlanes {
        /// TIFF file.
        path: PathBuf,
        /// Pages needed.
        expected: usize,
        /// Pages there are.
        found: usize,
        /// The plane counts.
        sizes: String,
    },
}

/// Reads a codebook CSV; errors name the file and line.
pub fn read_codebook(path: &std::path::Path) -> Result<Codebook, DataError> {
    let text = std::fs::read_to_string(path).map_err(io_error(path))?;
    Codebook::from_csv(&text).map_err(|cause| DataError::Codebook {
        path: path.to_path_buf(),
        cause,
    })
}

/// The codebook of an acquisition in `dir` (given as `path`): `codebook.csv`
/// there or at a seed dataset's root (`dir` = `<root>/<split>/1`), else the
/// one CSV in `dir` whose name says codebook.
fn find_codebook_file(
    dir: &std::path::Path,
    path: &std::path::Path,
) -> Result<Option<PathBuf>, DataError> {
    let is_split = |d: &std::path::Path| {
        let name = |p: &std::path::Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
        name(d).as_deref() == Some("1")
            && d.parent()
                .and_then(name)
                .is_some_and(|split| split.parse::<crate::sim::Split>().is_ok())
    };
    let root = dir
        .parent()
        .and_then(std::path::Path::parent)
        .filter(|_| is_split(dir));
    let exact = [Some(dir), Some(path), root]
        .into_iter()
        .flatten()
        .map(codebook_path)
        .find(|file| file.is_file());
    match exact {
        Some(file) => Ok(Some(file)),
        None => listing::find_file(dir, &["codebook.csv"], "codebook", ".csv"),
    }
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
