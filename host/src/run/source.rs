//! Where `run` takes its FOVs from: one small seam, [`FovSource`], so the
//! acquisition readers (MERlin `.dax`, OME-TIFF, images-only folders) can
//! be put behind it without touching the rest of `run`.
//!
//! [`DatasetSource`] implements it over today's readers: a folder in the
//! original's layout (each tile of the chosen split a FOV, FOV id = tile
//! number - 1) or tiles simulated in memory, with stage positions from a
//! MERlin-style positions file.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::args::DataArgs;
use crate::data::Dataset;
use crate::sim::{BitOrder, Codebook, Split, Tile};

/// Where one FOV sits. See the [module docs](super) for the convention.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FovPlacement {
    /// The FOV's id (MERlin numbering: 0-based).
    pub fov: u32,
    /// Stage position (µm) of the outer corner of pixel (0, 0), when known.
    pub origin_um: Option<(f64, f64)>,
    /// Pixel size in µm per pixel, when known.
    pub pixel_size_um: Option<f64>,
    /// The plane's z: µm when known, else the plane index.
    pub z: f64,
}

/// The FOVs of an experiment and how to read each.
pub trait FovSource {
    /// Every FOV of the experiment, selected or not: ownership of the
    /// overlaps needs all their positions.
    fn placements(&self) -> &[FovPlacement];
    /// Which image carries which barcode bit.
    fn bit_order(&self) -> BitOrder;
    /// The experiment's codebook, which the truth's genes index, when known.
    fn codebook(&self) -> Option<&Codebook>;
    /// The 16 images (and ground truth, when there is some) of FOV `fov`.
    fn read(&self, fov: u32) -> Result<Tile>;
    /// What the FOVs are, for messages.
    fn describe(&self) -> String;
}

/// Today's readers as a [`FovSource`].
pub struct DatasetSource {
    tiles: Tiles,
    placements: Vec<FovPlacement>,
    bit_order: BitOrder,
    codebook: Option<Codebook>,
    description: String,
}

enum Tiles {
    /// Read one at a time, so a broken tile fails alone.
    Folder { dataset: Dataset, split: Split },
    /// Simulated in memory.
    Memory(Vec<Tile>),
}

impl DatasetSource {
    /// The `split` of `data` (a folder, or `--simulate`), decoded against
    /// `codebook` (else the dataset's `codebook.csv`).
    pub fn open(data: &DataArgs, split: Split, codebook: Option<&Path>) -> Result<DatasetSource> {
        if let Some(root) = &data.data {
            let dataset = Dataset::open(root, codebook)
                .with_context(|| format!("cannot open dataset {}", root.display()))?;
            let numbers = dataset.tile_numbers(split)?;
            let ids = numbers
                .iter()
                .map(|&n| fov_id(n - 1))
                .collect::<Result<Vec<_>>>()?;
            return Ok(DatasetSource {
                bit_order: dataset.bit_order(split)?,
                codebook: dataset.codebook.clone(),
                description: format!("{} ({split}, {} FOVs)", root.display(), ids.len()),
                placements: unplaced(&ids),
                tiles: Tiles::Folder { dataset, split },
            });
        }
        if codebook.is_some() {
            bail!("--codebook applies to --data; simulate the data with `robofish simulate --codebook FILE` first");
        }
        let loaded = data.load(split)?;
        let ids = (0..loaded.tiles.len())
            .map(fov_id)
            .collect::<Result<Vec<_>>>()?;
        Ok(DatasetSource {
            placements: unplaced(&ids),
            bit_order: loaded.bit_order,
            codebook: loaded.codebook,
            description: loaded.source,
            tiles: Tiles::Memory(loaded.tiles),
        })
    }

    /// Places FOV `i` at `positions[i]` (µm) with `pixel_size_um`.
    pub fn place(
        &mut self,
        positions: Option<&[(f64, f64)]>,
        pixel_size_um: Option<f64>,
    ) -> Result<()> {
        if let Some(size) = pixel_size_um.filter(|s| !(s.is_finite() && *s > 0.0)) {
            bail!("--pixel-size {size}: must be a positive number of µm per pixel");
        }
        for placement in &mut self.placements {
            placement.pixel_size_um = pixel_size_um;
            if let Some(positions) = positions {
                let origin = positions.get(placement.fov as usize).with_context(|| {
                    format!(
                        "the positions file has {} lines but the data has FOV {}: one `x,y` line per FOV, in FOV order",
                        positions.len(),
                        placement.fov
                    )
                })?;
                placement.origin_um = Some(*origin);
            }
        }
        Ok(())
    }
}

fn fov_id(index: usize) -> Result<u32> {
    u32::try_from(index).context("more FOVs than ids")
}

fn unplaced(ids: &[u32]) -> Vec<FovPlacement> {
    ids.iter()
        .map(|&fov| FovPlacement {
            fov,
            origin_um: None,
            pixel_size_um: None,
            z: 0.0,
        })
        .collect()
}

impl FovSource for DatasetSource {
    fn placements(&self) -> &[FovPlacement] {
        &self.placements
    }

    fn bit_order(&self) -> BitOrder {
        self.bit_order
    }

    fn codebook(&self) -> Option<&Codebook> {
        self.codebook.as_ref()
    }

    fn read(&self, fov: u32) -> Result<Tile> {
        match &self.tiles {
            Tiles::Folder { dataset, split } => Ok(dataset.read_tile(*split, fov as usize + 1)?),
            Tiles::Memory(tiles) => tiles
                .get(fov as usize)
                .cloned()
                .with_context(|| format!("no FOV {fov}")),
        }
    }

    fn describe(&self) -> String {
        self.description.clone()
    }
}
