//! Where `run` takes its FOVs from: one small seam, [`FovSource`].
//!
//! [`DatasetSource`] implements it over the acquisition readers
//! ([`Acquisition`]: the seed layout, images-only folders, MERlin `.dax`,
//! multi-page and OME-TIFF) or tiles simulated in memory. Stage positions and
//! the pixel size come from the acquisition (a positions CSV beside the
//! images, the metadata, or `--pixel-size`).

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::args::DataArgs;
use crate::data::{Acquisition, FovInfo, Frame};
use crate::sim::{BitOrder, Codebook, Split, Tile};

/// Where one FOV sits. See the [module docs](super) for the convention.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FovPlacement {
    /// The FOV's id (MERlin numbering: 0-based).
    pub fov: u32,
    /// Stage position (µm) of the outer corner of pixel (0, 0), when the
    /// FOV's stage position and pixel size are both known: the stage
    /// position (the centre of pixel (0, 0), as MERlin has it) minus half
    /// a pixel.
    pub origin_um: Option<(f64, f64)>,
    /// Pixel size in µm per pixel, when known.
    pub pixel_size_um: Option<f64>,
    /// The z planes decoded, in order.
    pub planes: Vec<Plane>,
}

/// One z plane of a FOV.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plane {
    /// Its index among the FOV's planes (0-based).
    pub index: usize,
    /// Its z: µm when known, else the plane index.
    pub z: f64,
}

impl FovPlacement {
    /// The placement of `fov` with the planes `only` picks (every plane
    /// without it).
    fn of(fov: &FovInfo, only: Option<usize>) -> Result<FovPlacement> {
        let origin_um = match (fov.stage_um, fov.pixel_size_um) {
            (Some((x, y)), Some(size)) => Some((x - 0.5 * size, y - 0.5 * size)),
            _ => None,
        };
        Ok(FovPlacement {
            fov: u32::try_from(fov.id).context("more FOVs than ids")?,
            origin_um,
            pixel_size_um: fov.pixel_size_um,
            planes: match only {
                Some(index) => vec![index],
                None => (0..fov.z_um.len().max(1)).collect(),
            }
            .into_iter()
            .map(|index| Plane {
                index,
                z: fov
                    .z_um
                    .get(index)
                    .copied()
                    .flatten()
                    .unwrap_or(index as f64),
            })
            .collect(),
        })
    }
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
    /// The 16 images (and ground truth, when there is some) of z plane
    /// `plane` of FOV `fov`.
    fn read(&self, fov: u32, plane: usize) -> Result<Tile>;
    /// What the FOVs are, for messages.
    fn describe(&self) -> String;
}

/// The acquisition readers (or the simulator) as a [`FovSource`].
pub struct DatasetSource {
    tiles: Tiles,
    placements: Vec<FovPlacement>,
    /// The FOVs `--fov` selects (all without it), ascending.
    selected: Vec<u32>,
    bit_order: BitOrder,
    codebook: Option<Codebook>,
    description: String,
}

enum Tiles {
    /// Read one at a time, so a broken FOV fails alone: every FOV of the
    /// acquisition (for the positions of those not selected).
    Acquisition(Acquisition),
    /// Simulated in memory.
    Memory(Vec<Tile>),
}

impl DatasetSource {
    /// The FOVs of `data` (a folder, or `--simulate`'s `split`).
    pub fn open(data: &DataArgs, split: Split) -> Result<DatasetSource> {
        if let Some(dir) = &data.read.data {
            let chosen = data.read.open(dir, split)?;
            let mut options = data.read.options()?;
            options.fovs = None;
            let all = Acquisition::open(dir, split, &options)
                .with_context(|| format!("cannot read {}", dir.display()))?;
            let placements = all
                .fovs
                .iter()
                .map(|fov| FovPlacement::of(fov, data.read.z))
                .collect::<Result<Vec<_>>>()?;
            let selected = chosen
                .fovs
                .iter()
                .map(|f| u32::try_from(f.id).context("more FOVs than ids"))
                .collect::<Result<Vec<_>>>()?;
            return Ok(DatasetSource {
                bit_order: all.bit_order,
                codebook: all.codebook.clone(),
                description: all.summary(),
                placements,
                selected,
                tiles: Tiles::Acquisition(all),
            });
        }
        let loaded = data.load(split)?;
        let placements = (0..loaded.tiles.len())
            .map(|i| {
                Ok(FovPlacement {
                    fov: u32::try_from(i).context("more FOVs than ids")?,
                    origin_um: None,
                    pixel_size_um: None,
                    planes: vec![Plane { index: 0, z: 0.0 }],
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let selected = placements
            .iter()
            .map(|p| p.fov)
            .filter(|&id| {
                data.read
                    .fov
                    .as_ref()
                    .is_none_or(|s| s.contains(id as usize))
            })
            .collect::<Vec<_>>();
        if selected.is_empty() {
            bail!(
                "--fov selects none of the {} simulated FOVs (ids 0..{})",
                placements.len(),
                placements.len()
            );
        }
        Ok(DatasetSource {
            placements,
            selected,
            bit_order: loaded.bit_order,
            codebook: loaded.codebook,
            description: loaded.source,
            tiles: Tiles::Memory(loaded.tiles),
        })
    }

    /// The FOVs to decode (`--fov`, else all), ascending id.
    pub fn selected(&self) -> &[u32] {
        &self.selected
    }
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

    fn read(&self, fov: u32, plane: usize) -> Result<Tile> {
        match &self.tiles {
            Tiles::Acquisition(all) => {
                let index = all
                    .fovs
                    .iter()
                    .position(|f| f.id == fov as usize)
                    .with_context(|| format!("no FOV {fov}"))?;
                Ok(all.read(Frame { fov: index, plane })?)
            }
            Tiles::Memory(tiles) => tiles
                .get(fov as usize)
                .filter(|_| plane == 0)
                .cloned()
                .with_context(|| format!("no FOV {fov}")),
        }
    }

    fn describe(&self) -> String {
        self.description.clone()
    }
}
