//! Text in pictures: DejaVu Sans, compiled in (licence in
//! `host/assets/fonts/`), so every machine draws the same letters and
//! nothing is read from the system.
//!
//! Glyphs are laid out and rasterised here with ab_glyph (the rasteriser
//! plotters itself uses), not through plotters' text drawing: plotters
//! 0.3.7 drops each glyph's left side bearing, which spaces letters
//! unevenly ("wh ose"). plotters draws the charts; every letter comes from
//! [`draw_text`].

use ab_glyph::{point, Font, FontRef, PxScale, ScaleFont};
use anyhow::Result;

use super::font::face;
use super::image::{Rect, RgbImage};

/// Dark text on white.
pub(crate) const INK: [u8; 3] = [33, 33, 33];
/// Type sizes in pixels, the same in every picture.
pub(crate) const TITLE_SIZE: f64 = 20.0;
/// Legend entries.
pub(crate) const LEGEND_SIZE: f64 = 14.0;

/// Width and height in pixels of `text` at `size` pixels (ascent to
/// descent).
pub(crate) fn text_size(text: &str, size: f64) -> Result<(usize, usize)> {
    let font = face()?.as_scaled(PxScale::from(size as f32));
    Ok((
        advance(&font, text).ceil() as usize,
        font.height().ceil() as usize,
    ))
}

fn advance(font: &impl ScaleFont<&'static FontRef<'static>>, text: &str) -> f32 {
    let mut width = 0.0;
    let mut previous = None;
    for c in text.chars() {
        let id = font.glyph_id(c);
        if let Some(previous) = previous {
            width += font.kern(previous, id);
        }
        width += font.h_advance(id);
        previous = Some(id);
    }
    width
}

/// The largest whole size from `size` down to `min` at which `text` fits
/// in `width` pixels, or `None`.
pub(crate) fn fitting_size(text: &str, size: f64, min: f64, width: usize) -> Result<Option<f64>> {
    let mut size = size;
    while size >= min {
        if text_size(text, size)?.0 <= width {
            return Ok(Some(size));
        }
        size -= 1.0;
    }
    Ok(None)
}

/// Which point of the text's box `(x, y)` names.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Anchor {
    /// Top left corner.
    TopLeft,
    /// Middle of the top edge.
    TopCentre,
    /// Middle of the left edge.
    CentreLeft,
    /// Middle of the right edge.
    CentreRight,
}

/// Draws `text` at `size` pixels in `colour`, blended over the picture.
pub(crate) fn draw_text(
    picture: &mut RgbImage,
    text: &str,
    (x, y): (usize, usize),
    size: f64,
    colour: [u8; 3],
    anchor: Anchor,
) -> Result<()> {
    let scale = PxScale::from(size as f32);
    let font = face()?.as_scaled(scale);
    let (width, height) = (advance(&font, text), font.height());
    let (x, y) = (x as f32, y as f32);
    let (left, top) = match anchor {
        Anchor::TopLeft => (x, y),
        Anchor::TopCentre => (x - width / 2.0, y),
        Anchor::CentreLeft => (x, y - height / 2.0),
        Anchor::CentreRight => (x - width, y - height / 2.0),
    };
    // Whole pixels for the baseline and start keep stems sharp.
    let (left, baseline) = (left.round(), (top + font.ascent()).round());
    let mut caret = 0.0;
    let mut previous = None;
    for c in text.chars() {
        let id = font.glyph_id(c);
        if let Some(previous) = previous {
            caret += font.kern(previous, id);
        }
        previous = Some(id);
        let glyph = id.with_scale_and_position(scale, point(left + caret, baseline));
        caret += font.h_advance(id);
        let Some(outline) = font.outline_glyph(glyph) else {
            continue;
        };
        let bounds = outline.px_bounds();
        outline.draw(|gx, gy, coverage| {
            let px = bounds.min.x as isize + gx as isize;
            let py = bounds.min.y as isize + gy as isize;
            picture.blend(px, py, colour, coverage);
        });
    }
    Ok(())
}

/// A panel label: `text` in `colour` on a black box at `(left, top)`,
/// skipped when it does not fit in `max_width` pixels even at `min` size.
pub(crate) fn draw_label(
    picture: &mut RgbImage,
    text: &str,
    (left, top): (usize, usize),
    (size, min): (f64, f64),
    max_width: usize,
    colour: [u8; 3],
) -> Result<()> {
    const PAD: usize = 3;
    let Some(size) = fitting_size(text, size, min, max_width.saturating_sub(2 * PAD))? else {
        return Ok(());
    };
    let (w, h) = text_size(text, size)?;
    picture.fill(
        Rect {
            left,
            top,
            width: w + 2 * PAD,
            height: h + 2 * PAD,
        },
        [0, 0, 0],
    );
    draw_text(
        picture,
        text,
        (left + PAD, top + PAD),
        size,
        colour,
        Anchor::TopLeft,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_measured_and_drawn_inside_its_box() {
        let (w, h) = text_size("robofish", 20.0).unwrap();
        assert!((60..120).contains(&w) && (18..30).contains(&h), "{w}x{h}");
        let mut picture = RgbImage::new(200, 60, [255; 3]);
        draw_text(
            &mut picture,
            "robofish",
            (10, 10),
            20.0,
            [0; 3],
            Anchor::TopLeft,
        )
        .unwrap();
        let inked: Vec<(usize, usize)> = (0..picture.pixels.len())
            .filter(|&i| picture.pixels[i] != [255; 3])
            .map(|i| (i % 200, i / 200))
            .collect();
        assert!(!inked.is_empty());
        assert!(inked
            .iter()
            .all(|&(x, y)| (9..=10 + w).contains(&x) && (10..10 + h).contains(&y)));
        assert_eq!(fitting_size("robofish", 20.0, 8.0, 10).unwrap(), None);
    }
}
