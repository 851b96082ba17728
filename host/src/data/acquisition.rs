//! An acquisition: a folder of images in one of the formats labs have, read
//! as robofish's 16-image tiles, one FOV (and z plane) at a time.
//!
//! [`Acquisition::open`] detects the format (or takes `--format`), lists the
//! FOVs, keeps those `--fov` selects and reads only their metadata; pixels
//! are read by [`Acquisition::read`]. Every reader hands back a
//! [`Tile`] (planar `[16][H][W]`, image `colour * 8 + round`, truth when the
//! folder has it) and the acquisition's [`BitOrder`], so the pipelines
//! downstream work unchanged.
use super::fov::FovInfo;
use super::planes::PlaneOrder;
use super::select::FovSelection;
use super::{find_codebook_file, io_error, merlin, positions, seed_layout, stack};
use super::{ConfigFacts, DataError, Wanted};
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

/// One tile to read: plane `plane` of FOV `fovs[fov]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// Index into [`Acquisition::fovs`].
    pub fov: usize,
    /// Index into that FOV's [`FovInfo::z_um`].
    pub plane: usize,
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

/// An opened acquisition. `fovs` are the selected ones only.
pub struct Acquisition {
    /// The format it was read as.
    pub format: Format,
    /// The folder given.
    pub path: PathBuf,
    /// The selected FOVs, ascending id.
    pub fovs: Vec<FovInfo>,
    /// Which tile image carries which barcode bit.
    pub bit_order: BitOrder,
    /// The barcodes of the experiment, when the folder or `--codebook` has them.
    pub codebook: Option<Codebook>,
    /// Whether tiles come with ground truth (metrics can be computed).
    pub has_truth: bool,
    /// What was assumed for lack of metadata; commands print these.
    pub notes: Vec<String>,
    z: Option<usize>,
    reader: Box<dyn ReadFov>,
}

impl Acquisition {
    /// Opens the acquisition at `path` (`split` picks the split of a seed
    /// dataset root; other formats have none).
    pub fn open(
        path: &Path,
        split: Split,
        options: &OpenOptions,
    ) -> Result<Acquisition, DataError> {
        if !path.is_dir() {
            return Err(DataError::Missing {
                path: path.to_path_buf(),
                what: "the folder of images".into(),
            });
        }
        let format = match options.format {
            Some(format) => format,
            None => detect(path, split)?,
        };
        let context = ListContext { options, split };
        let listing = match format {
            Format::Seed => seed_layout::list(path, &context)?,
            Format::Merlin => merlin::list(path, &context)?,
            Format::TiffStack => stack::list(path, &context)?,
        };
        let Listing {
            dir,
            mut fovs,
            bit_order,
            has_truth,
            mut notes,
            reader,
        } = listing;
        let config = dir.join("config.yml");
        let wanted = Wanted {
            bit_order: options.bit_order.is_none() && bit_order.is_none(),
            preset: false,
            pixel_size: options.pixel_size_um.is_none()
                && fovs.iter().any(|fov| fov.pixel_size_um.is_none()),
        };
        let facts = if config.is_file() && (wanted.bit_order || wanted.pixel_size) {
            ConfigFacts::read_wanted(&config, wanted)?
        } else {
            ConfigFacts::default()
        };
        let bit_order = options
            .bit_order
            .or(bit_order)
            .or(facts.bit_order)
            .unwrap_or_default();
        if let Some(path) = positions_file(&dir, path)? {
            let positions = positions::read_positions(&path)?;
            for fov in &mut fovs {
                fov.stage_um = positions.get(&fov.id).copied().or(fov.stage_um);
            }
        }
        for fov in &mut fovs {
            fov.pixel_size_um = options
                .pixel_size_um
                .or(fov.pixel_size_um)
                .or(facts.pixel_size_um);
        }
        if let Some(z) = options.z {
            if let Some(fov) = fovs.iter().find(|fov| z >= fov.z_um.len()) {
                return Err(DataError::NoSuchPlane {
                    path: fov.source_path.clone(),
                    fov: fov.id,
                    plane: z,
                    planes: fov.z_um.len(),
                });
            }
        }
        let codebook_path = match &options.codebook {
            Some(path) => Some(path.clone()),
            None => find_codebook_file(&dir, path)?,
        };
        let codebook = codebook_path
            .map(|path| super::read_codebook(&path))
            .transpose()?;
        if fovs.iter().all(|fov| fov.stage_um.is_none()) && fovs.len() > 1 {
            notes.push("no stage positions: global coordinates are unknown".into());
        }
        Ok(Acquisition {
            format,
            path: path.to_path_buf(),
            fovs,
            bit_order,
            codebook,
            has_truth,
            notes,
            z: options.z,
            reader,
        })
    }

    /// The tiles to read, FOV by FOV: every z plane, or the one `--z` chose.
    pub fn frames(&self) -> Vec<Frame> {
        let mut frames = Vec::new();
        for (index, fov) in self.fovs.iter().enumerate() {
            let planes = match self.z {
                Some(z) => z..z + 1,
                None => 0..fov.z_um.len(),
            };
            frames.extend(planes.map(|plane| Frame { fov: index, plane }));
        }
        frames
    }

    /// Reads one frame.
    pub fn read(&self, frame: Frame) -> Result<Tile, DataError> {
        let fov = self
            .fovs
            .get(frame.fov)
            .ok_or_else(|| DataError::NoSuchFov {
                path: self.path.clone(),
                selection: format!("index {}", frame.fov),
                available: id_ranges(&self.fovs.iter().map(|f| f.id).collect::<Vec<_>>()),
            })?;
        self.reader.read(fov, frame.plane, self.codebook.as_ref())
    }

    /// Reads every frame of [`Acquisition::frames`], in order.
    pub fn read_all(&self) -> Result<Vec<Tile>, DataError> {
        self.frames()
            .into_iter()
            .map(|frame| self.read(frame))
            .collect()
    }

    /// One line: format, FOVs, planes, bit order, pixel size.
    pub fn summary(&self) -> String {
        let planes = self.frames().len();
        let pixel = match self.fovs.first().and_then(|f| f.pixel_size_um) {
            Some(size) => format!("{size} µm pixels"),
            None => "pixel size unknown".into(),
        };
        format!(
            "{} as {}: {} FOV{} ({}), {planes} tile{}, {} bit order, {pixel}{}",
            self.path.display(),
            self.format,
            self.fovs.len(),
            if self.fovs.len() == 1 { "" } else { "s" },
            id_ranges(&self.fovs.iter().map(|f| f.id).collect::<Vec<_>>()),
            if planes == 1 { "" } else { "s" },
            self.bit_order.name(),
            if self.has_truth {
                ", with ground truth"
            } else {
                ""
            }
        )
    }
}

/// The format of the folder at `path`: MERlin when it holds a data
/// organisation or `.dax` files, the seed layout when it holds colour
/// folders or splits, a TIFF stack when it holds TIFF files.
pub fn detect(path: &Path, split: Split) -> Result<Format, DataError> {
    if merlin::looks_like(path)? {
        return Ok(Format::Merlin);
    }
    if seed_layout::looks_like(path, split) {
        return Ok(Format::Seed);
    }
    if stack::looks_like(path)? {
        return Ok(Format::TiffStack);
    }
    Err(DataError::UnknownFormat {
        path: path.to_path_buf(),
    })
}

/// `positions.csv` in `dir` or `path`, else the one CSV there whose name
/// says positions.
fn positions_file(dir: &Path, path: &Path) -> Result<Option<PathBuf>, DataError> {
    for folder in [dir, path] {
        if let Some(found) = find_file(folder, &["positions.csv"], "position", ".csv")? {
            return Ok(Some(found));
        }
    }
    Ok(None)
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
fn id_ranges(ids: &[usize]) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_ranges_compress_runs() {
        assert_eq!(id_ranges(&[0, 1, 2, 3, 7, 9, 10]), "0-3, 7, 9-10");
        assert_eq!(id_ranges(&[]), "none");
    }

    #[test]
    fn format_names_round_trip() {
        for format in Format::ALL {
            assert_eq!(format.name().parse::<Format>(), Ok(format));
        }
        assert_eq!("ome-tiff".parse::<Format>(), Ok(Format::TiffStack));
        assert!("zarr".parse::<Format>().is_err());
    }
}
