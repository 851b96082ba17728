//! One multi-page TIFF (or OME-TIFF) per FOV, holding its 16 images for
//! every z plane. The pages' order comes from `--planes`, else the OME-XML
//! (or ImageJ hyperstack keys) of the first page; channels are colours and
//! time points are imaging rounds, so plane `(c, t)` becomes tile image
//! `c * SizeT + t` (`colour * 8 + round` for 2 colours x 8 rounds).
//!
//! A file's FOV id is the last number in its name (`fov_012.ome.tif` is
//! FOV 12), or its place in name order when names do not number the FOVs
//! uniquely.
mod metadata;

use self::metadata::{parse_imagej, parse_ome, StackMetadata};
use super::fov::FovInfo;
use super::listing::{file_name, list_files, ListContext, Listing, ReadFov};
use super::planes::{PlaneOrder, PlaneSizes};
use super::tile_images::TileImages;
use super::{DataError, TiffPages};
use crate::sim::{Codebook, Tile, IMAGE_COUNT};
use robofish_shared::codebook::{COLOURS, ROUNDS};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Whether `path` holds TIFF files.
pub(super) fn looks_like(path: &Path) -> Result<bool, DataError> {
    Ok(list_files(path)?.iter().any(|file| is_tiff(file)))
}

fn is_tiff(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("tif") || e.eq_ignore_ascii_case("tiff"))
}

/// Lists one FOV per TIFF file and reads the selected files' metadata.
pub(super) fn list(path: &Path, context: &ListContext<'_>) -> Result<Listing, DataError> {
    let files: Vec<PathBuf> = list_files(path)?
        .into_iter()
        .filter(|file| is_tiff(file))
        .collect();
    if files.is_empty() {
        return Err(DataError::NoImages {
            path: path.to_path_buf(),
            expected: "one multi-page .tif / .ome.tif per FOV".into(),
        });
    }
    let mut notes = Vec::new();
    let numbers: Option<Vec<usize>> = files.iter().map(|f| name_number(&file_name(f))).collect();
    let unique = numbers.as_ref().is_some_and(|numbers| {
        let mut sorted = numbers.clone();
        sorted.sort_unstable();
        sorted.dedup();
        sorted.len() == numbers.len()
    });
    let ids = match numbers {
        Some(numbers) if unique => numbers,
        _ => {
            notes.push("file names do not number the FOVs: FOV ids follow name order".into());
            (0..files.len()).collect()
        }
    };
    let by_id: BTreeMap<usize, PathBuf> = ids.iter().copied().zip(files).collect();

    let mut fovs = Vec::new();
    let mut layouts = BTreeMap::new();
    for id in context.select(path, ids)? {
        let file = by_id[&id].clone();
        let mut pages = TiffPages::open(&file, "a FOV's images")?;
        let description = pages.description()?;
        let (meta, layout) = page_layout(&file, description.as_deref(), pages.count()?, context)?;
        fovs.push(FovInfo {
            id,
            stage_um: meta.as_ref().and_then(|m| m.stage_um),
            pixel_size_um: meta.as_ref().and_then(|m| m.pixel_size_um),
            z_um: (0..layout.sizes.z)
                .map(|z| meta.as_ref().and_then(|m| m.z_um.get(&z).copied()))
                .collect(),
            source_path: file.clone(),
        });
        layouts.insert(id, (file, layout));
    }
    Ok(Listing {
        dir: path.to_path_buf(),
        fovs,
        bit_order: None,
        has_truth: false,
        notes,
        reader: Box::new(StackReader { layouts }),
    })
}

/// The last run of digits in a file name without its TIFF extensions.
fn name_number(name: &str) -> Option<usize> {
    let lower = name.to_ascii_lowercase();
    let stem = [".ome.tiff", ".ome.tif", ".tiff", ".tif"]
        .iter()
        .find_map(|ext| lower.strip_suffix(ext))
        .unwrap_or(&lower);
    let end = stem.rfind(|c: char| c.is_ascii_digit())? + 1;
    let start = stem[..end]
        .rfind(|c: char| !c.is_ascii_digit())
        .map_or(0, |i| i + 1);
    stem[start..end].parse().ok()
}

/// Which page holds each plane of a file.
#[derive(Debug, Clone)]
struct PageLayout {
    sizes: PlaneSizes,
    /// Page of plane `(z, c, t)` at `(z * c_size + c) * t_size + t`.
    pages: Vec<usize>,
}

impl PageLayout {
    fn page(&self, z: usize, c: usize, t: usize) -> usize {
        self.pages[(z * self.sizes.c + c) * self.sizes.t + t]
    }
}

/// The file's metadata (when it has any) and page layout.
fn page_layout(
    file: &Path,
    description: Option<&str>,
    page_count: usize,
    context: &ListContext<'_>,
) -> Result<(Option<StackMetadata>, PageLayout), DataError> {
    let bad = |message: String| DataError::BadFile {
        path: file.to_path_buf(),
        message,
    };
    let meta = match description {
        Some(text) if text.contains("<OME") => Some(parse_ome(text).map_err(bad)?),
        Some(text) => parse_imagej(text),
        None => None,
    };
    let forced = context.options.planes;
    let usable = |m: &&StackMetadata| m.sizes.c * m.sizes.t == IMAGE_COUNT;
    let (sizes, order, tiff_data) = match (forced, &meta) {
        (Some(order), Some(m)) if usable(&m) => (m.sizes, order, Vec::new()),
        (Some(order), _) => {
            if !page_count.is_multiple_of(IMAGE_COUNT) {
                return Err(bad(format!(
                    "{page_count} pages are not whole z planes of {IMAGE_COUNT} images \
                     ({ROUNDS} rounds x {COLOURS} colours)"
                )));
            }
            let sizes = PlaneSizes {
                z: page_count / IMAGE_COUNT,
                c: COLOURS,
                t: ROUNDS,
            };
            (sizes, order, Vec::new())
        }
        (None, Some(m)) => (m.sizes, m.order, m.tiff_data.clone()),
        (None, None) => {
            return Err(bad(
                "no OME-XML or ImageJ metadata says which page is which image: pass --planes \
                 (e.g. --planes zct: z fastest, then colour, then round)"
                    .into(),
            ))
        }
    };
    if sizes.c * sizes.t != IMAGE_COUNT {
        return Err(bad(format!(
            "SizeC {} x SizeT {} = {} images per z plane; robofish needs {IMAGE_COUNT} \
             ({COLOURS} colours x {ROUNDS} rounds)",
            sizes.c,
            sizes.t,
            sizes.c * sizes.t
        )));
    }
    let pages = assign_pages(sizes, order, &tiff_data).map_err(bad)?;
    let needed = pages.iter().max().map_or(0, |&p| p + 1);
    if needed > page_count {
        return Err(DataError::TooFewPlanes {
            path: file.to_path_buf(),
            expected: needed,
            found: page_count,
            sizes: format!("SizeZ {} x SizeC {} x SizeT {}", sizes.z, sizes.c, sizes.t),
        });
    }
    Ok((meta, PageLayout { sizes, pages }))
}

/// The page of every plane: OME's `TiffData` blocks when given, else the
/// planes in `order` one page each.
fn assign_pages(
    sizes: PlaneSizes,
    order: PlaneOrder,
    tiff_data: &[metadata::TiffData],
) -> Result<Vec<usize>, String> {
    let slot = |(z, c, t): (usize, usize, usize)| (z * sizes.c + c) * sizes.t + t;
    let mut pages: Vec<Option<usize>> = vec![None; sizes.pages()];
    if tiff_data.is_empty() {
        for index in 0..sizes.pages() {
            pages[slot(order.plane(sizes, (0, 0, 0), index))] = Some(index);
        }
    }
    for block in tiff_data {
        let count = match block.count {
            Some(count) => count,
            None if tiff_data.len() == 1 && !block.has_ifd => sizes.pages(),
            None => 1,
        };
        let start = order.page(sizes, block.first.0, block.first.1, block.first.2);
        if start + count > sizes.pages() {
            return Err(format!(
                "a TiffData element covers planes {start}..{} of {}",
                start + count,
                sizes.pages()
            ));
        }
        for index in 0..count {
            pages[slot(order.plane(sizes, block.first, index))] = Some(block.ifd + index);
        }
    }
    pages
        .iter()
        .enumerate()
        .map(|(i, page)| {
            page.ok_or_else(|| {
                let (z, c, t) = (
                    i / (sizes.c * sizes.t),
                    (i / sizes.t) % sizes.c,
                    i % sizes.t,
                );
                format!("no TiffData gives the page of plane TheZ={z} TheC={c} TheT={t}")
            })
        })
        .collect()
}

/// Reads planes of the stack files.
struct StackReader {
    layouts: BTreeMap<usize, (PathBuf, PageLayout)>,
}

impl ReadFov for StackReader {
    fn read(&self, fov: &FovInfo, plane: usize, _: Option<&Codebook>) -> Result<Tile, DataError> {
        let (file, layout) = &self.layouts[&fov.id];
        if plane >= layout.sizes.z {
            return Err(DataError::NoSuchPlane {
                path: file.clone(),
                fov: fov.id,
                plane,
                planes: layout.sizes.z,
            });
        }
        let mut pages = TiffPages::open(file, "a FOV's images")?;
        let mut tile = TileImages::default();
        for c in 0..layout.sizes.c {
            for t in 0..layout.sizes.t {
                tile.push(pages.read(layout.page(plane, c, t))?, file)?;
            }
        }
        Ok(tile.into_tile())
    }
}

#[cfg(test)]
mod tests {
    use super::metadata::TiffData;
    use super::*;

    #[test]
    fn fov_numbers_come_from_the_end_of_names() {
        assert_eq!(name_number("fov_012.ome.tif"), Some(12));
        assert_eq!(name_number("run2_Stack7.TIFF"), Some(7));
        assert_eq!(name_number("stack.tif"), None);
    }

    #[test]
    fn tiff_data_blocks_place_planes() {
        let sizes = PlaneSizes { z: 1, c: 2, t: 8 };
        let order: PlaneOrder = "ctz".parse().unwrap();
        let linear = assign_pages(sizes, order, &[]).unwrap();
        // c fastest: (c=1, t=0) is page 1; stored at slot c * 8 + t = 8.
        assert_eq!(linear[8], 1);
        // The same planes in two blocks, the second from page 100.
        let blocks = [
            TiffData {
                ifd: 0,
                first: (0, 0, 0),
                count: Some(8),
                has_ifd: true,
            },
            TiffData {
                ifd: 100,
                first: (0, 0, 4),
                count: Some(8),
                has_ifd: true,
            },
        ];
        let split = assign_pages(sizes, order, &blocks).unwrap();
        assert_eq!(split[4], 100);
        assert_eq!(split[8 + 7], 107);
        let err = assign_pages(sizes, order, &blocks[..1]).unwrap_err();
        assert!(err.contains("TheZ=0 TheC=0 TheT=4"), "{err}");
    }
}
