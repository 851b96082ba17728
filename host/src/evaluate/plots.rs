//! Pictures of a model's output on a few test tiles, like the original's
//! test images: the position map with truth and detections, and the 16
//! barcode-bit maps.
//!
//! Colours: ground-truth emitters are green rings; detections are crosses,
//! red when the peak is >= 0.9, orange when >= 0.6, blue below that (down
//! to the spot threshold). On the bit maps a green ring marks an emitter
//! whose barcode has that bit on, a small red cross one whose bit is off.
//! Each picture has a title and a legend that says so.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::maps::ProbabilityMaps;
use super::spots::Detection;
use crate::report::{
    frame, render_map_grid, render_probability_map, render_tile_figure, write_png, Figure,
    LegendEntry, Marker, MarkerShape, Symbol,
};
use crate::sim::{BitOrder, Tile};

/// Output pixels per map pixel: the position picture (a 40 x 40 tile
/// becomes 480 x 480), and each bit-map panel of the grid.
const SCALE: usize = 12;
const GRID_SCALE: usize = 4;
const TRUTH: [u8; 3] = [40, 210, 60];
const HIGH: [u8; 3] = [235, 30, 30];
const MID: [u8; 3] = [255, 150, 0];
const LOW: [u8; 3] = [60, 120, 255];
const BIT_OFF: [u8; 3] = [230, 40, 40];
/// Peak scores (u8 probability scale) of the high and mid classes.
const HIGH_SCORE: u8 = 230; // 0.9 x 255, rounded up
const MID_SCORE: u8 = 153; // 0.6 x 255

/// `label` made safe for a file name.
pub fn file_stem(label: &str) -> String {
    label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn truth_rings(tile: &Tile) -> Vec<Marker> {
    tile.truth
        .iter()
        .map(|e| Marker {
            // Simulator pixel centres are at +0.5, the pictures' at integers.
            y: e.y - 0.5,
            x: e.x - 0.5,
            shape: MarkerShape::Ring,
            colour: TRUTH,
        })
        .collect()
}

fn detection_crosses(detections: &[Detection]) -> Vec<Marker> {
    detections
        .iter()
        .map(|d| Marker {
            y: d.peak.y(),
            x: d.peak.x(),
            shape: MarkerShape::Cross(SCALE / 2),
            colour: match d.peak.score {
                s if s >= HIGH_SCORE => HIGH,
                s if s >= MID_SCORE => MID,
                _ => LOW,
            },
        })
        .collect()
}

/// Writes `<dir>/<stem>-tileNN-position.png` and `-bits.png` for tile
/// `index`; returns the paths.
pub fn write_tile_plots(
    dir: &Path,
    stem: &str,
    index: usize,
    tile: &Tile,
    maps: &ProbabilityMaps,
    detections: &[Detection],
) -> Result<Vec<PathBuf>> {
    let (h, w) = (maps.height, maps.width);
    let mut markers = truth_rings(tile);
    markers.extend(detection_crosses(detections));
    let position = frame(
        &render_probability_map(&maps.position, h, w, SCALE, &markers),
        &Figure {
            title: format!("{stem}: position map, tile {index:02}"),
            note: Some("probability that an emitter sits in the pixel".into()),
            legend: vec![
                LegendEntry::new(Symbol::Ring(TRUTH), "true emitter"),
                LegendEntry::new(Symbol::Cross(HIGH), "detection, peak \u{2265} 0.9"),
                LegendEntry::new(Symbol::Cross(MID), "detection, 0.6 \u{2264} peak < 0.9"),
                LegendEntry::new(Symbol::Cross(LOW), "detection, peak < 0.6"),
                LegendEntry::new(Symbol::GrayRamp, "probability 0 to 1"),
            ],
        },
    )?;
    let labels: Vec<String> = (0..16).map(|bit| format!("bit {bit}")).collect();
    let grid = render_map_grid(&maps.barcode, h, w, GRID_SCALE, &labels, |bit| {
        tile.truth
            .iter()
            .map(|e| {
                let on = e.word >> bit & 1 == 1;
                Marker {
                    y: e.y - 0.5,
                    x: e.x - 0.5,
                    shape: if on {
                        MarkerShape::Ring
                    } else {
                        MarkerShape::Cross(1)
                    },
                    colour: if on { TRUTH } else { BIT_OFF },
                }
            })
            .collect()
    })?;
    let bits = frame(
        &grid,
        &Figure {
            title: format!("{stem}: barcode-bit maps, tile {index:02}"),
            note: Some("probability that the emitter's barcode has the bit on".into()),
            legend: vec![
                LegendEntry::new(Symbol::Ring(TRUTH), "true emitter, bit on"),
                LegendEntry::new(Symbol::Cross(BIT_OFF), "true emitter, bit off"),
                LegendEntry::new(Symbol::GrayRamp, "probability 0 to 1"),
            ],
        },
    )?;
    let mut written = Vec::new();
    for (suffix, picture) in [("position", position), ("bits", bits)] {
        let path = dir.join(format!("{stem}-tile{index:02}-{suffix}.png"));
        write_png(&path, &picture).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// Writes `<dir>/tileNN-input.png`: the tile's 16 images with the truth.
pub fn write_input_plot(dir: &Path, index: usize, tile: &Tile, order: BitOrder) -> Result<PathBuf> {
    let path = dir.join(format!("tile{index:02}-input.png"));
    let title = format!("Input tile {index:02}: 16 images with the ground truth");
    write_png(&path, &render_tile_figure(tile, order, GRID_SCALE, &title)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_are_file_name_safe() {
        assert_eq!(
            file_stem("best.safetensors-tract"),
            "best.safetensors-tract"
        );
        assert_eq!(file_stem("a b/c:d"), "a_b_c_d");
    }
}
