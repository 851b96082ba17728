//! The original project's layout as an acquisition: FOVs are the tiles of
//! one split folder, found from their images, so ground truth and
//! `config.yml` are optional.
use super::fov::FovInfo;
use super::layout::{parse_image_name, split_dir, COLOUR_FOLDERS};
use super::listing::{file_name, list_files, ListContext, Listing, ReadFov};
use super::reader::{read_tile_images, read_tile_truth};
use super::DataError;
use crate::sim::{Codebook, Split, Tile};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The split folder of `path`: `path` itself when it holds the colour
/// folders, else `path/<split>/1`.
fn split_folder(path: &Path, split: Split) -> PathBuf {
    if path.join(COLOUR_FOLDERS[0]).is_dir() {
        path.to_path_buf()
    } else {
        split_dir(path, split)
    }
}

/// Whether `path` is a split folder or a dataset root of some split.
pub(super) fn looks_like(path: &Path, split: Split) -> bool {
    path.join(COLOUR_FOLDERS[0]).is_dir()
        || split_dir(path, split).is_dir()
        || Split::ALL.iter().any(|&s| split_dir(path, s).is_dir())
}

/// Lists the tiles of the split, from the 647 nm round-1 images.
pub(super) fn list(path: &Path, context: &ListContext<'_>) -> Result<Listing, DataError> {
    let dir = split_folder(path, context.split);
    let images = dir.join(COLOUR_FOLDERS[0]);
    if !images.is_dir() {
        return Err(DataError::Missing {
            path: images,
            what: format!(
                "the images of the `{}` split (or pass the folder of another)",
                context.split
            ),
        });
    }
    // Plane numbers of each tile number.
    let mut tiles: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for file in list_files(&images)? {
        if let Some((1, tile, plane)) = parse_image_name(&file_name(&file)) {
            if tile > 0 {
                tiles.entry(tile).or_default().push(plane);
            }
        }
    }
    if tiles.is_empty() {
        return Err(DataError::NoImages {
            path: images,
            expected: "merFISH_01_<tile>_01.tiff images".into(),
        });
    }
    let ids = context.select(&dir, tiles.keys().map(|&n| n - 1).collect())?;
    let mut fovs = Vec::new();
    let mut planes = BTreeMap::new();
    for id in ids {
        let mut numbers = tiles.remove(&(id + 1)).unwrap_or_default();
        numbers.sort_unstable();
        fovs.push(FovInfo {
            id,
            stage_um: None,
            pixel_size_um: None,
            z_um: vec![None; numbers.len()],
            source_path: dir.clone(),
        });
        planes.insert(id, numbers);
    }
    let has_truth = dir.join("groundtruths").is_dir();
    Ok(Listing {
        dir: dir.clone(),
        fovs,
        bit_order: None,
        has_truth,
        notes: Vec::new(),
        reader: Box::new(SeedReader {
            dir,
            planes,
            has_truth,
        }),
    })
}

/// Reads tiles of one split folder.
struct SeedReader {
    dir: PathBuf,
    /// Plane numbers (the file names' last field) of each FOV id.
    planes: BTreeMap<usize, Vec<usize>>,
    /// Every tile must then have its truth file.
    has_truth: bool,
}

impl ReadFov for SeedReader {
    fn read(
        &self,
        fov: &FovInfo,
        plane: usize,
        codebook: Option<&Codebook>,
    ) -> Result<Tile, DataError> {
        let tile_number = fov.id + 1;
        let plane_number = self
            .planes
            .get(&fov.id)
            .and_then(|numbers| numbers.get(plane))
            .copied()
            .ok_or_else(|| DataError::NoSuchPlane {
                path: self.dir.clone(),
                fov: fov.id,
                plane,
                planes: fov.z_um.len(),
            })?;
        let mut tile = read_tile_images(&self.dir, tile_number, plane_number)?;
        if self.has_truth {
            tile.truth = read_tile_truth(&self.dir, tile_number, &tile, codebook)?;
        }
        Ok(tile)
    }
}
