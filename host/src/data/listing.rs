//! What the format readers share: the options a command line adds, the
//! listing a reader returns, the pixel-reader trait, and file helpers. Kept
//! apart from [`super::acquisition`], which dispatches to the readers, so
//! the readers do not import their dispatcher.
use super::fov::FovInfo;
use super::io_error;
use super::planes::PlaneOrder;
use super::select::FovSelection;
use super::DataError;
use crate::sim::{BitOrder, Codebook, Split, Tile};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The folder layouts robofish reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The original project's layout (`647nm, Raw/merFISH_RR_TTT_ZZ.tiff`,
    /// ...), as a dataset root with `train/1`, `val/1`, `test/1` or one
    /// such folder; ground truth and `config.yml` optional.
    Seed,
    /// MERlin's raw layout: `.dax` + `.inf` files (or TIFFs) named by the
    /// `dataorganization.csv` patterns.
    Merlin,
    /// One multi-page TIFF or OME-TIFF per FOV holding all its images.
    TiffStack,
}

impl Format {
    /// Every format, in the order autodetection tries them.
    pub const ALL: [Format; 3] = [Format::Merlin, Format::Seed, Format::TiffStack];

    /// The `--format` name.
    pub fn name(self) -> &'static str {
        match self {
            Format::Seed => "seed",
            Format::Merlin => "merlin",
            Format::TiffStack => "tiff-stack",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(text: &str) -> Result<Format, String> {
        match text {
            "ome-tiff" | "tiff" => Ok(Format::TiffStack),
            _ => Format::ALL
                .into_iter()
                .find(|format| format.name() == text)
                .ok_or_else(|| {
                    format!("unknown format `{text}`: expected seed, merlin or tiff-stack")
                }),
        }
    }
}

/// How to read an acquisition: what the command line adds to the files.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Read as this format instead of detecting it.
    pub format: Option<Format>,
    /// Only these FOVs (all when `None`).
    pub fovs: Option<FovSelection>,
    /// Only this z plane (index into [`FovInfo::z_um`]) of every FOV.
    pub z: Option<usize>,
    /// The bit order, over what the data says.
    pub bit_order: Option<BitOrder>,
    /// µm per pixel, over what the metadata says.
    pub pixel_size_um: Option<f64>,
    /// Plane order of multi-page TIFFs, over their OME-XML.
    pub planes: Option<PlaneOrder>,
    /// The codebook CSV, instead of the one found in the folder.
    pub codebook: Option<PathBuf>,
}

/// What a format's reader found: the selected FOVs and how to read them.
pub(super) struct Listing {
    /// The folder the layout lives in (a seed root resolves to its split).
    pub dir: PathBuf,
    /// Selected FOVs, ascending id.
    pub fovs: Vec<FovInfo>,
    /// The bit order the format's own metadata gives, if any.
    pub bit_order: Option<BitOrder>,
    /// Whether FOVs come with ground truth.
    pub has_truth: bool,
    /// What was assumed.
    pub notes: Vec<String>,
    /// Reads the pixels.
    pub reader: Box<dyn ReadFov>,
}

/// A format's pixel reader.
pub(super) trait ReadFov: Send + Sync {
    /// Plane `plane` of `fov` as a tile; truth decoded with `codebook`.
    fn read(
        &self,
        fov: &FovInfo,
        plane: usize,
        codebook: Option<&Codebook>,
    ) -> Result<Tile, DataError>;
}

/// The options a format's reader needs while listing.
pub(super) struct ListContext<'a> {
    /// The command line's additions.
    pub options: &'a OpenOptions,
    /// The split of a seed dataset root.
    pub split: Split,
}

impl ListContext<'_> {
    /// The ids of `all` that `--fov` selects, ascending; an error when it
    /// selects none of them.
    pub fn select(&self, path: &Path, mut all: Vec<usize>) -> Result<Vec<usize>, DataError> {
        all.sort_unstable();
        all.dedup();
        let Some(selection) = &self.options.fovs else {
            return Ok(all);
        };
        let chosen: Vec<usize> = all
            .iter()
            .copied()
            .filter(|&id| selection.contains(id))
            .collect();
        if chosen.is_empty() {
            return Err(DataError::NoSuchFov {
                path: path.to_path_buf(),
                selection: selection.to_string(),
                available: id_ranges(&all),
            });
        }
        Ok(chosen)
    }
}

/// The file in `dir` named one of `names`, else the only one whose
/// lower-case name contains `part` and ends with `extension`; several such
/// are an error (say which one).
pub(super) fn find_file(
    dir: &Path,
    names: &[&str],
    part: &str,
    extension: &str,
) -> Result<Option<PathBuf>, DataError> {
    if let Some(name) = names.iter().find(|name| dir.join(name).is_file()) {
        return Ok(Some(dir.join(name)));
    }
    let candidates: Vec<PathBuf> = list_files(dir)?
        .into_iter()
        .filter(|path| {
            let name = file_name(path).to_ascii_lowercase();
            name.contains(part) && name.ends_with(extension)
        })
        .collect();
    match candidates.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one.clone())),
        several => Err(DataError::Ambiguous {
            path: dir.to_path_buf(),
            what: format!("`{}` file", names.first().copied().unwrap_or(part)),
            candidates: several.iter().map(|p| file_name(p)).collect(),
        }),
    }
}

/// The plain files of `dir`, sorted by name.
pub(super) fn list_files(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_error(dir))? {
        let entry = entry.map_err(io_error(dir))?;
        if entry.file_type().map_err(io_error(dir))?.is_file() {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

/// A path's file name as text (lossy).
pub(super) fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `0-3, 7, 9-12`: sorted ids as ranges.
pub(super) fn id_ranges(ids: &[usize]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut iter = ids.iter().copied().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end += 1;
            iter.next();
        }
        parts.push(if end == start {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
    }
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}
