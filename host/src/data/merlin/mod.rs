//! MERlin's raw layout: image files (`.dax` + `.inf`, or TIFFs) whose names
//! match the `imageRegExp` patterns of `dataorganization.csv`, which maps
//! each barcode bit to an image type, imaging round, colour and frame; a
//! positions CSV (stage x, y per FOV) and `microscope_parameters.json`
//! (pixel size, flips, transpose) beside them.
//!
//! File names are matched as MERlin does: the pattern must match at the
//! start of the name, and its named groups give `imageType`, `fov` and
//! `imagingRound` (-1 when the pattern has no round).
mod dataorg;
mod dax;
mod microscope;
mod write;

pub use self::write::MerlinWriter;

use self::dataorg::{read_data_organization, BitRow};
use self::dax::{read_dax_frame, read_inf};
use self::microscope::Microscope;
use super::bit_layout::{layout_bits, BitSource};
use super::fov::FovInfo;
use super::listing::{file_name, find_file, list_files, ListContext, Listing, ReadFov};
use super::tile_images::TileImages;
use super::{DataError, GrayImage, TiffPages};
use crate::sim::{Codebook, Tile, IMAGE_COUNT};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const ORGANISATION_NAMES: [&str; 2] = ["dataorganization.csv", "data_organization.csv"];

/// Whether `path` holds a data organisation or `.dax` files.
pub(super) fn looks_like(path: &Path) -> Result<bool, DataError> {
    Ok(organisation_file(path)?.is_some()
        || list_files(path)?.iter().any(|file| {
            file.extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("dax"))
        }))
}

fn organisation_file(path: &Path) -> Result<Option<PathBuf>, DataError> {
    find_file(path, &ORGANISATION_NAMES, "organization", ".csv")
}

/// Image files per (image type, imaging round, FOV).
type FileMap = BTreeMap<(String, i64, usize), PathBuf>;

/// Lists the FOVs the image files hold and checks the selected ones have a
/// file for every bit.
pub(super) fn list(path: &Path, context: &ListContext<'_>) -> Result<Listing, DataError> {
    let organisation = organisation_file(path)?.ok_or_else(|| DataError::Missing {
        path: path.join(ORGANISATION_NAMES[0]),
        what: "MERlin's data organisation: which image type, round, colour and frame holds \
               each barcode bit"
            .into(),
    })?;
    let rows = read_data_organization(&organisation)?;
    let files = map_files(path, &organisation, &rows)?;
    let mut notes = Vec::new();
    let microscope = match find_file(path, &["microscope_parameters.json"], "microscope", ".json")?
    {
        Some(file) => Microscope::read(&file)?,
        None => {
            notes.push(
                "no microscope_parameters.json: using MERlin's defaults (transpose, flip \
                 horizontally, 0.108 µm pixels)"
                    .into(),
            );
            Microscope::default()
        }
    };
    let planes = z_planes(&rows);
    let frames = plane_frames(&organisation, &rows, &planes)?;
    let ids = context.select(path, files.keys().map(|key| key.2).collect())?;
    let mut fovs = Vec::new();
    let mut fov_files = BTreeMap::new();
    for id in ids {
        let bit_files = rows
            .iter()
            .map(|row| {
                let key = (row.image_type.clone(), row.round, id);
                files.get(&key).cloned().ok_or_else(|| DataError::Missing {
                    path: path.to_path_buf(),
                    what: format!(
                        "the image of barcode bit {} of FOV {id} (image type {}, round {}): no \
                         file matches the pattern on line {} of {}",
                        row.bit + 1,
                        row.image_type,
                        row.round,
                        row.line,
                        organisation.display()
                    ),
                })
            })
            .collect::<Result<Vec<PathBuf>, DataError>>()?;
        let first = bit_files[0].clone();
        let stage_um = if is_dax(&first) {
            read_inf(&first)?.stage_um
        } else {
            None
        };
        fovs.push(FovInfo {
            id,
            stage_um,
            pixel_size_um: Some(microscope.microns_per_pixel),
            z_um: planes.clone(),
            source_path: first,
        });
        fov_files.insert(id, bit_files);
    }
    let sources: [BitSource; IMAGE_COUNT] = std::array::from_fn(|bit| BitSource {
        round: rows[bit].round,
        colour: rows[bit].colour.clone(),
    });
    let layout = layout_bits(&sources, context.options.bit_order);
    notes.extend(layout.note);
    Ok(Listing {
        dir: path.to_path_buf(),
        fovs,
        bit_order: Some(layout.order),
        has_truth: false,
        notes,
        reader: Box::new(MerlinReader {
            files: fov_files,
            frames,
            image_of_bit: layout.image_of_bit,
            microscope,
        }),
    })
}

/// Matches every image file against the rows' patterns.
fn map_files(dir: &Path, organisation: &Path, rows: &[BitRow]) -> Result<FileMap, DataError> {
    let images: Vec<PathBuf> = list_files(dir)?
        .into_iter()
        .filter(|file| is_dax(file) || is_tiff(file))
        .collect();
    let mut map = FileMap::new();
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for row in rows {
        if seen.contains(&(&row.image_type, &row.pattern)) {
            continue;
        }
        seen.push((&row.image_type, &row.pattern));
        let bad_row = |message: String| DataError::Csv {
            path: organisation.to_path_buf(),
            line: row.line,
            message,
        };
        let pattern = regex::Regex::new(&format!("^(?:{})", row.pattern)).map_err(|err| {
            bad_row(format!(
                "imageRegExp `{}` does not compile: {err}",
                row.pattern
            ))
        })?;
        if pattern.capture_names().flatten().all(|name| name != "fov") {
            return Err(bad_row(format!(
                "imageRegExp `{}` has no (?P<fov>...) group",
                row.pattern
            )));
        }
        let mut matched = false;
        for file in &images {
            let name = file_name(file);
            let Some(groups) = pattern.captures(&name) else {
                continue;
            };
            let group = |key: &str| groups.name(key).map(|m| m.as_str());
            if group("imageType").is_some_and(|t| t != row.image_type) {
                continue;
            }
            let Some(fov) = group("fov").and_then(|f| f.parse::<usize>().ok()) else {
                continue;
            };
            let round = group("imagingRound").map_or(Ok(-1), str::parse::<i64>);
            let Ok(round) = round else { continue };
            map.insert((row.image_type.clone(), round, fov), file.clone());
            matched = true;
        }
        if !matched {
            return Err(DataError::NoImages {
                path: dir.to_path_buf(),
                expected: format!(
                    "image files (.dax or .tif) of image type `{}` matching `{}` ({}, line {})",
                    row.image_type,
                    row.pattern,
                    organisation.display(),
                    row.line
                ),
            });
        }
    }
    Ok(map)
}

/// The z positions of the bits' frames, ascending; one unknown plane when
/// the organisation gives none.
fn z_planes(rows: &[BitRow]) -> Vec<Option<f64>> {
    let mut z: Vec<f64> = rows.iter().flat_map(|row| row.z.iter().copied()).collect();
    z.sort_by(f64::total_cmp);
    z.dedup();
    if z.is_empty() {
        vec![None]
    } else {
        z.into_iter().map(Some).collect()
    }
}

/// The frame of every bit in every plane (`[bit][plane]`).
fn plane_frames(
    organisation: &Path,
    rows: &[BitRow],
    planes: &[Option<f64>],
) -> Result<Vec<Vec<usize>>, DataError> {
    rows.iter()
        .map(|row| {
            planes
                .iter()
                .map(|plane| {
                    let Some(z) = plane else {
                        return Ok(row.frames[0]);
                    };
                    let index = row.z.iter().position(|v| v == z);
                    match index {
                        Some(i) => Ok(row.frames.get(i).copied().unwrap_or(row.frames[0])),
                        None => Err(DataError::Csv {
                            path: organisation.to_path_buf(),
                            line: row.line,
                            message: format!(
                                "barcode bit {} has no frame at z = {z} (other bits have one)",
                                row.bit + 1
                            ),
                        }),
                    }
                })
                .collect()
        })
        .collect()
}

fn is_dax(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("dax"))
}

fn is_tiff(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("tif") || e.eq_ignore_ascii_case("tiff"))
}

/// Reads the 16 bits' frames of a FOV into a tile.
struct MerlinReader {
    /// Each FOV's file per bit.
    files: BTreeMap<usize, Vec<PathBuf>>,
    /// `[bit][plane]` frame index in the bit's file.
    frames: Vec<Vec<usize>>,
    image_of_bit: [usize; IMAGE_COUNT],
    microscope: Microscope,
}

impl MerlinReader {
    fn frame(&self, path: &Path, frame: usize) -> Result<GrayImage, DataError> {
        if is_dax(path) {
            read_dax_frame(path, &read_inf(path)?, frame)
        } else {
            let mut pages = TiffPages::open(path, "a MERlin image file")?;
            let count = pages.count()?;
            if frame >= count {
                return Err(DataError::MissingFrame {
                    path: path.to_path_buf(),
                    frame,
                    frames: count,
                });
            }
            pages.read(frame)
        }
    }
}

impl ReadFov for MerlinReader {
    fn read(&self, fov: &FovInfo, plane: usize, _: Option<&Codebook>) -> Result<Tile, DataError> {
        let files = self
            .files
            .get(&fov.id)
            .ok_or_else(|| DataError::NoSuchPlane {
                path: fov.source_path.clone(),
                fov: fov.id,
                plane,
                planes: 0,
            })?;
        let mut planes: Vec<Option<(GrayImage, &PathBuf)>> = vec![None; IMAGE_COUNT];
        for (bit, path) in files.iter().enumerate() {
            let frame =
                self.frames[bit]
                    .get(plane)
                    .copied()
                    .ok_or_else(|| DataError::NoSuchPlane {
                        path: path.clone(),
                        fov: fov.id,
                        plane,
                        planes: self.frames[bit].len(),
                    })?;
            let image = self.microscope.orient(self.frame(path, frame)?);
            planes[self.image_of_bit[bit]] = Some((image, path));
        }
        let mut tile = TileImages::default();
        // `image_of_bit` is a permutation, so every image is there.
        for (image, path) in planes.into_iter().flatten() {
            tile.push(image, path)?;
        }
        Ok(tile.into_tile())
    }
}
