//! The 16 images of a tile in a 4 x 4 grid with the ground truth on top.
//!
//! Panel `p` is image `p` (`colour * 8 + round`): the top two rows are
//! 647 nm rounds 1-8, the bottom two 750 nm rounds 1-8. Each panel is
//! contrast-stretched on its own (0.5th to 99.8th percentile) and labelled
//! with wavelength, round and the barcode bit it carries. Emitters whose
//! word has that bit on get a green ring; the others a small red cross, so
//! a missing spot under a ring (dropout) or a spot under a cross (spurious
//! signal) stands out.
use super::font::{text_pixels, text_width};
use crate::sim::{BitOrder, Tile, IMAGE_COUNT};
use anyhow::Context;
use robofish_shared::codebook::ROUNDS;
use std::path::Path;

const GRID: usize = 4;
const GAP: usize = 4;
const GAP_COLOUR: [u8; 3] = [40, 40, 48];
const ON_COLOUR: [u8; 3] = [40, 230, 60];
const OFF_COLOUR: [u8; 3] = [230, 40, 40];
const LABEL_COLOUR: [u8; 3] = [255, 220, 60];

/// An 8-bit RGB picture, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// `[r, g, b]` per pixel.
    pub pixels: Vec<[u8; 3]>,
}

impl RgbImage {
    /// A picture filled with one colour.
    pub fn new(width: usize, height: usize, fill: [u8; 3]) -> RgbImage {
        RgbImage {
            width,
            height,
            pixels: vec![fill; width * height],
        }
    }

    /// Sets one pixel; outside the picture does nothing.
    pub fn put(&mut self, x: isize, y: isize, colour: [u8; 3]) {
        self.put_within(x, y, colour, (0, 0, self.width, self.height));
    }

    /// Sets a pixel inside `(left, top, width, height)` only, so markers
    /// of emitters on a panel's edge do not spill into the next panel.
    fn put_within(&mut self, x: isize, y: isize, colour: [u8; 3], clip: Clip) {
        let (left, top, w, h) = clip;
        let inside =
            |v: isize, start: usize, len: usize| v >= start as isize && v < (start + len) as isize;
        if inside(x, left, w.min(self.width)) && inside(y, top, h.min(self.height)) {
            self.pixels[y as usize * self.width + x as usize] = colour;
        }
    }
}

/// Draws `tile` with `scale` output pixels per camera pixel.
pub fn render_tile_grid(tile: &Tile, bit_order: BitOrder, scale: usize) -> RgbImage {
    let scale = scale.max(1);
    let (panel_h, panel_w) = (tile.height * scale, tile.width * scale);
    let width = GRID * panel_w + (GRID + 1) * GAP;
    let height = GRID * panel_h + (GRID + 1) * GAP;
    let mut picture = RgbImage::new(width, height, GAP_COLOUR);
    for image in 0..IMAGE_COUNT {
        let left = GAP + (image % GRID) * (panel_w + GAP);
        let top = GAP + (image / GRID) * (panel_h + GAP);
        draw_panel(&mut picture, tile, image, left, top, scale);
        let bit = bit_order.bit_of_image(image);
        for emitter in &tile.truth {
            let cx = left as f64 + emitter.x as f64 * scale as f64;
            let cy = top as f64 + emitter.y as f64 * scale as f64;
            let clip = (left, top, panel_w, panel_h);
            if emitter.word & (1 << bit) != 0 {
                draw_ring(&mut picture, cx, cy, (1.6 * scale as f64).max(4.0), clip);
            } else {
                draw_cross(&mut picture, cx, cy, (scale / 4).max(1) as isize, clip);
            }
        }
        let wavelength = if image / ROUNDS == 0 { "647" } else { "750" };
        let label = format!("{wavelength}nm R{} b{bit}", image % ROUNDS + 1);
        draw_label(
            &mut picture,
            &label,
            left + 2,
            top + 2,
            if panel_w >= 200 { 2 } else { 1 },
            panel_w,
        );
    }
    picture
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

type Clip = (usize, usize, usize, usize);

fn draw_ring(picture: &mut RgbImage, cx: f64, cy: f64, radius: f64, clip: Clip) {
    let steps = (radius * 8.0).ceil() as usize;
    for step in 0..steps {
        let angle = step as f64 / steps as f64 * std::f64::consts::TAU;
        let (x, y) = (
            (cx + radius * angle.cos()).round() as isize,
            (cy + radius * angle.sin()).round() as isize,
        );
        picture.put_within(x, y, ON_COLOUR, clip);
    }
}

fn draw_cross(picture: &mut RgbImage, cx: f64, cy: f64, arm: isize, clip: Clip) {
    let (x, y) = (cx.round() as isize, cy.round() as isize);
    for d in -arm..=arm {
        picture.put_within(x + d, y + d, OFF_COLOUR, clip);
        picture.put_within(x + d, y - d, OFF_COLOUR, clip);
    }
}

/// A label on a black box, skipped when wider than the panel.
fn draw_label(
    picture: &mut RgbImage,
    text: &str,
    left: usize,
    top: usize,
    scale: usize,
    panel_w: usize,
) {
    let width = text_width(text, scale);
    if width + 4 > panel_w {
        return;
    }
    for dy in 0..5 * scale + 2 {
        for dx in 0..width + 2 {
            picture.put((left + dx) as isize - 1, (top + dy) as isize - 1, [0, 0, 0]);
        }
    }
    for (dx, dy) in text_pixels(text, scale) {
        picture.put((left + dx) as isize, (top + dy) as isize, LABEL_COLOUR);
    }
}

/// Writes `picture` as an 8-bit RGB PNG.
pub fn write_png(path: &Path, picture: &RgbImage) -> anyhow::Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut encoder = png::Encoder::new(
        std::io::BufWriter::new(file),
        picture.width as u32,
        picture.height as u32,
    );
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let bytes: Vec<u8> = picture.pixels.iter().flatten().copied().collect();
    let mut writer = encoder
        .write_header()
        .with_context(|| format!("writing {}", path.display()))?;
    writer
        .write_image_data(&bytes)
        .with_context(|| format!("writing {}", path.display()))?;
    writer
        .finish()
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
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
        let picture = render_tile_grid(&tile, BitOrder::Blocked, 4);
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
        render_tile_grid(&empty, BitOrder::Blocked, 4);
    }
}
