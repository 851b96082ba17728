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
pub use super::listing::Format;
use super::listing::{find_file, id_ranges, ListContext, Listing, ReadFov};
use super::{find_codebook_file, merlin, positions, seed_layout, stack};
use super::{ConfigFacts, DataError, OpenOptions, Wanted};
use crate::sim::{BitOrder, Codebook, Split, Tile};
use std::path::{Path, PathBuf};

/// One tile to read: plane `plane` of FOV `fovs[fov]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// Index into [`Acquisition::fovs`].
    pub fov: usize,
    /// Index into that FOV's [`FovInfo::z_um`].
    pub plane: usize,
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
