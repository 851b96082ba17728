//! The 4 x 4 grid of 16 panels (a tile's images, a model's bit maps):
//! panel `p` at row `p / 4`, column `p % 4`, thin dark gaps between, a
//! label in the top left corner of each.

use anyhow::Result;

use super::image::{Rect, RgbImage};
use super::text::draw_label;

/// Panels per row and per column.
pub(crate) const GRID: usize = 4;
/// Pixels between panels and around them.
pub(crate) const GAP: usize = 4;
/// The gaps' colour.
pub(crate) const GAP_COLOUR: [u8; 3] = [40, 40, 48];
const LABEL_COLOUR: [u8; 3] = [255, 220, 60];

/// An empty grid of `panel_w x panel_h` panels.
pub(crate) fn grid_canvas(panel_w: usize, panel_h: usize) -> RgbImage {
    RgbImage::new(
        GRID * panel_w + (GRID + 1) * GAP,
        GRID * panel_h + (GRID + 1) * GAP,
        GAP_COLOUR,
    )
}

/// Where panel `p` lies.
pub(crate) fn panel_rect(p: usize, panel_w: usize, panel_h: usize) -> Rect {
    Rect {
        left: GAP + (p % GRID) * (panel_w + GAP),
        top: GAP + (p / GRID) * (panel_h + GAP),
        width: panel_w,
        height: panel_h,
    }
}

/// `text` in the panel's top left corner, yellow on black; smaller on
/// narrow panels, left out where even that does not fit.
pub(crate) fn label_panel(picture: &mut RgbImage, text: &str, panel: Rect) -> Result<()> {
    let size = if panel.width >= 200 {
        (14.0, 9.0)
    } else {
        (11.0, 8.0)
    };
    draw_label(
        picture,
        text,
        (panel.left + 2, panel.top + 2),
        size,
        panel.width.saturating_sub(4),
        LABEL_COLOUR,
    )
}
