//! Probability maps as pictures: one map with markers on it, or a 4 x 4
//! grid of the 16 barcode-bit maps, for `robofish eval --plots`.
//!
//! Maps are drawn in grayscale (probability 0 = black, 1 = white) on a
//! fixed scale, not stretched per map, so two models' pictures compare
//! directly. Marker positions use the post-processing convention (pixel
//! centres at integer coordinates, see `robofish_shared::post`).

use anyhow::Result;

use super::image::{Rect, RgbImage};
use super::panels::{grid_canvas, label_panel, panel_rect, GRID};

/// How a marker is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarkerShape {
    /// A circle around the position (ground truth).
    Ring,
    /// A diagonal cross of the given arm length in output pixels
    /// (detections).
    Cross(usize),
}

/// Something to draw on a map.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Marker {
    /// Row in map pixels (pixel centres at integers).
    pub y: f32,
    /// Column in map pixels.
    pub x: f32,
    /// Shape.
    pub shape: MarkerShape,
    /// Colour.
    pub colour: [u8; 3],
}

/// One `height x width` probability map (`[y][x]`, values in `[0, 1]`) at
/// `scale` output pixels per map pixel, with `markers` on top.
pub fn render_probability_map(
    map: &[f32],
    height: usize,
    width: usize,
    scale: usize,
    markers: &[Marker],
) -> RgbImage {
    let scale = scale.max(1);
    let mut picture = RgbImage::new(width * scale, height * scale, [0, 0, 0]);
    let clip = picture.bounds();
    draw_map(&mut picture, map, height, width, scale, (0, 0));
    for marker in markers {
        draw_marker(&mut picture, marker, scale, clip);
    }
    picture
}

/// Up to 16 planar maps (`maps[p * height * width + y * width + x]`) in a
/// 4 x 4 grid, panel `p` labelled `labels[p]` and marked with
/// `markers_of(p)`.
pub fn render_map_grid(
    maps: &[f32],
    height: usize,
    width: usize,
    scale: usize,
    labels: &[String],
    markers_of: impl Fn(usize) -> Vec<Marker>,
) -> Result<RgbImage> {
    let scale = scale.max(1);
    let plane = height * width;
    let panels = maps
        .len()
        .checked_div(plane)
        .map_or(0, |n| n.min(GRID * GRID));
    let (panel_h, panel_w) = (height * scale, width * scale);
    let mut picture = grid_canvas(panel_w, panel_h);
    for p in 0..panels {
        let panel = panel_rect(p, panel_w, panel_h);
        draw_map(
            &mut picture,
            &maps[p * plane..(p + 1) * plane],
            height,
            width,
            scale,
            (panel.left, panel.top),
        );
        for marker in markers_of(p) {
            let shifted = Marker {
                y: marker.y + panel.top as f32 / scale as f32,
                x: marker.x + panel.left as f32 / scale as f32,
                ..marker
            };
            draw_marker(&mut picture, &shifted, scale, panel);
        }
        if let Some(label) = labels.get(p) {
            label_panel(&mut picture, label, panel)?;
        }
    }
    Ok(picture)
}

fn draw_map(
    picture: &mut RgbImage,
    map: &[f32],
    height: usize,
    width: usize,
    scale: usize,
    (left, top): (usize, usize),
) {
    for row in 0..height * scale {
        for col in 0..width * scale {
            let p = map[(row / scale) * width + col / scale];
            let level = (p.clamp(0.0, 1.0) * 255.0).round() as u8;
            picture.put((left + col) as isize, (top + row) as isize, [level; 3]);
        }
    }
}

fn draw_marker(picture: &mut RgbImage, marker: &Marker, scale: usize, clip: Rect) {
    // Map pixel (row, col) covers output rows [row * scale, (row + 1) * scale),
    // so its centre, integer `row` in map coordinates, is at (row + 0.5) * scale.
    let cx = (f64::from(marker.x) + 0.5) * scale as f64;
    let cy = (f64::from(marker.y) + 0.5) * scale as f64;
    match marker.shape {
        MarkerShape::Ring => {
            let radius = (1.5 * scale as f64).max(4.0);
            picture.ring(cx, cy, radius, marker.colour, clip);
        }
        MarkerShape::Cross(arm) => {
            // Two pixels thick from an arm of 3 up, so it shows on a bright
            // pixel at a glance.
            let thickness = if arm >= 3 { 2 } else { 1 };
            picture.cross((cx, cy), arm, thickness, marker.colour, clip);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::panels::{GAP, GAP_COLOUR};

    const RED: [u8; 3] = [230, 30, 30];

    #[test]
    fn map_is_grayscale_and_markers_land_on_their_pixel() {
        let (h, w, scale) = (5, 6, 8);
        let mut map = vec![0.0f32; h * w];
        map[2 * w + 3] = 1.0;
        let marker = Marker {
            y: 2.0,
            x: 3.0,
            shape: MarkerShape::Cross(2),
            colour: RED,
        };
        let picture = render_probability_map(&map, h, w, scale, &[marker]);
        assert_eq!((picture.width, picture.height), (w * scale, h * scale));
        // The cross sits at the centre of pixel (2, 3).
        let centre = (2 * scale + scale / 2) * picture.width + 3 * scale + scale / 2;
        assert_eq!(picture.pixels[centre], RED);
        // A corner of that pixel stays white, the rest of the map black.
        assert_eq!(
            picture.pixels[2 * scale * picture.width + 3 * scale],
            [255; 3]
        );
        assert_eq!(picture.pixels[0], [0; 3]);
    }

    #[test]
    fn grid_has_sixteen_panels_and_clips_markers() {
        let (h, w, scale) = (4, 4, 4);
        let maps = vec![0.5f32; 16 * h * w];
        let labels: Vec<String> = (0..16).map(|b| format!("b{b}")).collect();
        let picture = render_map_grid(&maps, h, w, scale, &labels, |p| {
            vec![Marker {
                y: 0.0,
                x: 0.0,
                shape: MarkerShape::Ring,
                colour: if p == 0 { RED } else { [0, 200, 0] },
            }]
        })
        .unwrap();
        let side = GRID * w * scale + (GRID + 1) * GAP;
        assert_eq!((picture.width, picture.height), (side, side));
        assert!(picture.pixels.contains(&RED));
        assert!(picture.pixels.contains(&[128; 3]));
        // A ring on panel 0's corner must not spill into the gap.
        assert_eq!(picture.pixels[0], GAP_COLOUR);
        // Empty input draws an empty grid without panicking.
        render_map_grid(&[], 0, 0, scale, &[], |_| Vec::new()).unwrap();
    }
}
