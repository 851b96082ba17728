//! The 16 images of a tile in a 4 x 4 grid with the ground truth on top.
//!
//! Panel `p` is image `p` (`colour * 8 + round`): the top two rows are
//! 647 nm rounds 1-8, the bottom two 750 nm rounds 1-8. Each panel is
//! contrast-stretched on its own (0.5th to 99.8th percentile) and labelled
//! with wavelength, round and the barcode bit it carries. Emitters whose
//! word has that bit on get a green ring; the others a small red cross, so
//! a missing spot under a ring (dropout) or a spot under a cross (spurious
//! signal) stands out.
use anyhow::Result;
use robofish_shared::codebook::ROUNDS;

use super::figure::{frame, Figure, LegendEntry, Symbol};
use super::image::RgbImage;
use super::panels::{grid_canvas, label_panel, panel_rect};
use crate::sim::{BitOrder, Tile, IMAGE_COUNT};

const ON_COLOUR: [u8; 3] = [40, 230, 60];
const OFF_COLOUR: [u8; 3] = [230, 40, 40];

/// [`render_tile_grid`] as a figure: `title` above, under it how the
/// panels are laid out and scaled, and a legend of the markers below.
pub fn render_tile_figure(
    tile: &Tile,
    bit_order: BitOrder,
    scale: usize,
    title: &str,
) -> Result<RgbImage> {
    let grid = render_tile_grid(tile, bit_order, scale)?;
    let figure = Figure {
        title: title.to_string(),
        note: Some(
            "rows 1-2: 647 nm rounds 1-8, rows 3-4: 750 nm rounds 1-8; \
             each panel stretched to its 0.5-99.8th percentile"
                .into(),
        ),
        legend: vec![
            LegendEntry::new(
                Symbol::Ring(ON_COLOUR),
                "emitter whose barcode has this image's bit on",
            ),
            LegendEntry::new(Symbol::Cross(OFF_COLOUR), "emitter whose bit is off here"),
        ],
    };
    frame(&grid, &figure)
}

/// Draws `tile` with `scale` output pixels per camera pixel.
pub fn render_tile_grid(tile: &Tile, bit_order: BitOrder, scale: usize) -> Result<RgbImage> {
    let scale = scale.max(1);
    let (panel_h, panel_w) = (tile.height * scale, tile.width * scale);
    let mut picture = grid_canvas(panel_w, panel_h);
    for image in 0..IMAGE_COUNT {
        let panel = panel_rect(image, panel_w, panel_h);
        draw_panel(&mut picture, tile, image, panel.left, panel.top, scale);
        let bit = bit_order.bit_of_image(image);
        for emitter in &tile.truth {
            let cx = panel.left as f64 + emitter.x as f64 * scale as f64;
            let cy = panel.top as f64 + emitter.y as f64 * scale as f64;
            if emitter.word & (1 << bit) != 0 {
                let radius = (1.6 * scale as f64).max(4.0);
                picture.ring(cx, cy, radius, ON_COLOUR, panel);
            } else {
                let centre = (cx.round(), cy.round());
                picture.cross(centre, (scale / 4).max(1), 1, OFF_COLOUR, panel);
            }
        }
        let wavelength = if image / ROUNDS == 0 { "647" } else { "750" };
        let label = format!("{wavelength} nm R{} \u{b7} bit {bit}", image % ROUNDS + 1);
        label_panel(&mut picture, &label, panel)?;
    }
    Ok(picture)
}

fn draw_panel(
    picture: &mut RgbImage,
    tile: &Tile,
    image: usize,
    left: usize,
    top: usize,
    scale: usize,
) {
    let values = tile.image(image);
    let (lo, hi) = percentile_range(values);
    for row in 0..tile.height * scale {
        for col in 0..tile.width * scale {
            let value = values[(row / scale) * tile.width + col / scale] as f64;
            let level = (((value - lo) / (hi - lo)).clamp(0.0, 1.0) * 255.0).round() as u8;
            picture.pixels[(top + row) * picture.width + left + col] = [level; 3];
        }
    }
}

/// The 0.5th and 99.8th percentiles, at least 1 apart.
fn percentile_range(values: &[u16]) -> (f64, f64) {
    if values.is_empty() {
        return (0.0, 1.0);
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize] as f64;
    let (lo, hi) = (at(0.005), at(0.998));
    (lo, hi.max(lo + 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::panels::GAP;
    use crate::sim::Emitter;

    #[test]
    fn grid_size_and_markers() {
        let images = (0..16 * 10 * 10).map(|i| (i % 97) as u16).collect();
        let emitter = Emitter {
            y: 5.0,
            x: 5.0,
            gene: 0,
            word: 0b1,
            brightness: 1.0,
        };
        let tile = Tile {
            height: 10,
            width: 10,
            images,
            truth: vec![emitter],
        };
        let picture = render_tile_grid(&tile, BitOrder::Blocked, 4).unwrap();
        assert_eq!(
            (picture.width, picture.height),
            (4 * 40 + 5 * GAP, 4 * 40 + 5 * GAP)
        );
        assert!(picture.pixels.contains(&ON_COLOUR));
        assert!(picture.pixels.contains(&OFF_COLOUR));
        let empty = Tile {
            height: 0,
            width: 0,
            images: vec![],
            truth: vec![],
        };
        render_tile_grid(&empty, BitOrder::Blocked, 4).unwrap();
        let figure = render_tile_figure(&tile, BitOrder::Blocked, 4, "tile").unwrap();
        assert!(figure.width > picture.width && figure.height > picture.height);
    }
}
