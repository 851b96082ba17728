//! The picture every report draws into, its few raster primitives, and PNG
//! output. Markers are drawn here pixel by pixel (not through plotters) so
//! that a marker lands exactly on the centre of the map pixel it names.

use std::path::Path;

use anyhow::{anyhow, Context, Result};
use plotters::backend::BitMapBackend;
use plotters::coord::Shift;
use plotters::drawing::{DrawingArea, IntoDrawingArea};

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

/// A rectangle of output pixels, e.g. the panel a marker must stay in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rect {
    pub left: usize,
    pub top: usize,
    pub width: usize,
    pub height: usize,
}

impl Rect {
    fn contains(&self, x: isize, y: isize) -> bool {
        let inside =
            |v: isize, start: usize, len: usize| v >= start as isize && v < (start + len) as isize;
        inside(x, self.left, self.width) && inside(y, self.top, self.height)
    }
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

    /// The whole picture as a rectangle.
    pub(crate) fn bounds(&self) -> Rect {
        Rect {
            left: 0,
            top: 0,
            width: self.width,
            height: self.height,
        }
    }

    /// Sets one pixel; outside the picture does nothing.
    pub fn put(&mut self, x: isize, y: isize, colour: [u8; 3]) {
        self.put_within(x, y, colour, self.bounds());
    }

    /// Sets a pixel inside `clip` only, so markers of emitters on a panel's
    /// edge do not spill into the next panel.
    pub(crate) fn put_within(&mut self, x: isize, y: isize, colour: [u8; 3], clip: Rect) {
        if clip.contains(x, y) && self.bounds().contains(x, y) {
            self.pixels[y as usize * self.width + x as usize] = colour;
        }
    }

    /// Mixes `colour` into one pixel by `coverage` (0 keeps it, 1 replaces
    /// it): how glyph edges are drawn.
    pub(crate) fn blend(&mut self, x: isize, y: isize, colour: [u8; 3], coverage: f32) {
        if !self.bounds().contains(x, y) {
            return;
        }
        let alpha = coverage.clamp(0.0, 1.0);
        let pixel = &mut self.pixels[y as usize * self.width + x as usize];
        for (old, new) in pixel.iter_mut().zip(colour) {
            *old = (f32::from(*old) * (1.0 - alpha) + f32::from(new) * alpha).round() as u8;
        }
    }

    fn put_rounded(&mut self, x: f64, y: f64, colour: [u8; 3], clip: Rect) {
        self.put_within(x.round() as isize, y.round() as isize, colour, clip);
    }

    /// Fills `rect` (clipped to the picture).
    pub(crate) fn fill(&mut self, rect: Rect, colour: [u8; 3]) {
        for y in rect.top..rect.top + rect.height {
            for x in rect.left..rect.left + rect.width {
                self.put(x as isize, y as isize, colour);
            }
        }
    }

    /// Copies `other` with its top-left corner at `(left, top)`.
    pub(crate) fn blit(&mut self, other: &RgbImage, left: usize, top: usize) {
        for y in 0..other.height {
            for x in 0..other.width {
                let colour = other.pixels[y * other.width + x];
                self.put((left + x) as isize, (top + y) as isize, colour);
            }
        }
    }

    /// A one-pixel circle of `radius` around `(cx, cy)`.
    pub(crate) fn ring(&mut self, cx: f64, cy: f64, radius: f64, colour: [u8; 3], clip: Rect) {
        let steps = (radius * 8.0).ceil() as usize;
        for step in 0..steps {
            let angle = step as f64 / steps as f64 * std::f64::consts::TAU;
            self.put_rounded(
                cx + radius * angle.cos(),
                cy + radius * angle.sin(),
                colour,
                clip,
            );
        }
    }

    /// A diagonal cross with arms of `arm` pixels, `thickness` pixels wide.
    pub(crate) fn cross(
        &mut self,
        (cx, cy): (f64, f64),
        arm: usize,
        thickness: usize,
        colour: [u8; 3],
        clip: Rect,
    ) {
        for d in -(arm as isize)..=arm as isize {
            for t in 0..thickness.max(1) {
                let (d, t) = (d as f64, t as f64);
                self.put_rounded(cx + d + t, cy + d, colour, clip);
                self.put_rounded(cx + d + t, cy - d, colour, clip);
            }
        }
    }

    /// Runs `draw` on a plotters drawing area over this picture's pixels
    /// (text, charts), with the bundled font registered.
    pub(crate) fn draw<T, E: std::fmt::Display>(
        &mut self,
        draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<T, E>,
    ) -> Result<T> {
        super::font::register_font()?;
        let size = (self.width as u32, self.height as u32);
        let area =
            BitMapBackend::with_buffer(self.pixels.as_flattened_mut(), size).into_drawing_area();
        let value = draw(&area).map_err(|e| anyhow!("cannot draw the picture: {e}"))?;
        area.present()
            .map_err(|e| anyhow!("cannot draw the picture: {e}"))?;
        Ok(value)
    }
}

/// Writes `picture` as an 8-bit RGB PNG.
pub fn write_png(path: &Path, picture: &RgbImage) -> Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut encoder = png::Encoder::new(
        std::io::BufWriter::new(file),
        picture.width as u32,
        picture.height as u32,
    );
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder
        .write_header()
        .with_context(|| format!("writing {}", path.display()))?;
    writer
        .write_image_data(picture.pixels.as_flattened())
        .with_context(|| format!("writing {}", path.display()))?;
    writer
        .finish()
        .with_context(|| format!("writing {}", path.display()))
}
