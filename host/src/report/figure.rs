//! A picture made a figure: a title (and a note) above, a legend below
//! that says what each marker and colour means, on a white page.

use anyhow::Result;

use super::image::{Rect, RgbImage};
use super::text::{draw_text, fitting_size, text_size, Anchor, INK, LEGEND_SIZE, TITLE_SIZE};

/// What goes around a picture.
#[derive(Clone, Debug, Default)]
pub struct Figure {
    /// The title, above the picture.
    pub title: String,
    /// A smaller line under the title (e.g. how the picture is scaled).
    pub note: Option<String>,
    /// What the markers and colours mean, below the picture.
    pub legend: Vec<LegendEntry>,
}

/// One legend entry: a symbol and what it means.
#[derive(Clone, Debug, PartialEq)]
pub struct LegendEntry {
    /// The symbol, drawn as the picture draws it.
    pub symbol: Symbol,
    /// What it means.
    pub label: String,
}

/// Legend symbols.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Symbol {
    /// A circle of this colour.
    Ring([u8; 3]),
    /// A diagonal cross of this colour.
    Cross([u8; 3]),
    /// A gray ramp from black (0) to white (1): a probability map's scale.
    GrayRamp,
}

impl LegendEntry {
    /// An entry.
    pub fn new(symbol: Symbol, label: impl Into<String>) -> LegendEntry {
        LegendEntry {
            symbol,
            label: label.into(),
        }
    }
}

const PAGE: [u8; 3] = [255, 255, 255];
const NOTE: [u8; 3] = [95, 95, 95];
const MARGIN: usize = 16;
const MIN_WIDTH: usize = 420;
const NOTE_SIZE: f64 = 14.0;
const ROW_HEIGHT: usize = 24;
const SYMBOL_GAP: usize = 6;
const ENTRY_GAP: usize = 22;

impl Symbol {
    fn width(self) -> usize {
        match self {
            Symbol::Ring(_) | Symbol::Cross(_) => 16,
            Symbol::GrayRamp => 56,
        }
    }

    fn draw(self, picture: &mut RgbImage, left: usize, centre_y: usize) {
        let clip = picture.bounds();
        let (cx, cy) = ((left + self.width() / 2) as f64, centre_y as f64);
        match self {
            Symbol::Ring(colour) => picture.ring(cx, cy, 6.0, colour, clip),
            Symbol::Cross(colour) => picture.cross((cx - 0.5, cy), 5, 2, colour, clip),
            Symbol::GrayRamp => {
                let (width, height) = (self.width(), 12);
                let top = centre_y - height / 2;
                picture.fill(
                    Rect {
                        left,
                        top,
                        width,
                        height,
                    },
                    INK,
                );
                for x in 1..width - 1 {
                    let level = ((x - 1) as f64 / (width - 3) as f64 * 255.0).round() as u8;
                    picture.fill(
                        Rect {
                            left: left + x,
                            top: top + 1,
                            width: 1,
                            height: height - 2,
                        },
                        [level; 3],
                    );
                }
            }
        }
    }
}

/// `body` on a white page with `figure`'s title, note and legend. The
/// page is the body's width plus margins (at least 420 pixels); a title
/// too wide for it is set smaller, legend entries wrap onto more rows.
pub fn frame(body: &RgbImage, figure: &Figure) -> Result<RgbImage> {
    let width = (body.width + 2 * MARGIN).max(MIN_WIDTH);
    let inner = width - 2 * MARGIN;
    let title_size = fitting_size(&figure.title, TITLE_SIZE, 10.0, inner)?.unwrap_or(10.0);
    let title_h = text_size(&figure.title, title_size)?.1;
    let note_size = match &figure.note {
        Some(note) => fitting_size(note, NOTE_SIZE, 9.0, inner)?.unwrap_or(9.0),
        None => NOTE_SIZE,
    };
    let note_h = match &figure.note {
        Some(note) => text_size(note, note_size)?.1 + 4,
        None => 0,
    };
    let rows = legend_rows(&figure.legend, inner)?;
    let body_top = MARGIN + title_h + note_h + 10;
    let legend_top = body_top + body.height + 10;
    let height = legend_top + rows.len() * ROW_HEIGHT + MARGIN / 2;

    let mut page = RgbImage::new(width, height, PAGE);
    page.blit(body, (width - body.width) / 2, body_top);
    draw_text(
        &mut page,
        &figure.title,
        (width / 2, MARGIN),
        title_size,
        INK,
        Anchor::TopCentre,
    )?;
    if let Some(note) = &figure.note {
        let y = MARGIN + title_h + 4;
        draw_text(
            &mut page,
            note,
            (width / 2, y),
            note_size,
            NOTE,
            Anchor::TopCentre,
        )?;
    }
    for (row, entries) in rows.iter().enumerate() {
        let row_width: usize = entries.iter().map(|(_, w)| w).sum::<usize>()
            + ENTRY_GAP * entries.len().saturating_sub(1);
        let mut x = (width - row_width.min(width)) / 2;
        let centre_y = legend_top + row * ROW_HEIGHT + ROW_HEIGHT / 2;
        for (entry, entry_width) in entries {
            entry.symbol.draw(&mut page, x, centre_y);
            let text_x = x + entry.symbol.width() + SYMBOL_GAP;
            draw_text(
                &mut page,
                &entry.label,
                (text_x, centre_y),
                LEGEND_SIZE,
                INK,
                Anchor::CentreLeft,
            )?;
            x += entry_width + ENTRY_GAP;
        }
    }
    Ok(page)
}

/// Legend entries with their widths, packed greedily into rows of at most
/// `width` pixels.
fn legend_rows(entries: &[LegendEntry], width: usize) -> Result<Vec<Vec<(&LegendEntry, usize)>>> {
    let mut rows: Vec<Vec<(&LegendEntry, usize)>> = Vec::new();
    let mut used = 0;
    for entry in entries {
        let entry_width =
            entry.symbol.width() + SYMBOL_GAP + text_size(&entry.label, LEGEND_SIZE)?.0;
        match rows.last_mut() {
            Some(row) if used + ENTRY_GAP + entry_width <= width => {
                row.push((entry, entry_width));
                used += ENTRY_GAP + entry_width;
            }
            _ => {
                rows.push(vec![(entry, entry_width)]);
                used = entry_width;
            }
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_keeps_the_body_and_adds_title_and_legend() {
        let red = [230, 30, 30];
        let body = RgbImage::new(100, 50, [10, 20, 30]);
        let figure = Figure {
            title: "A title".into(),
            note: Some("a note".into()),
            legend: (0..6)
                .map(|i| LegendEntry::new(Symbol::Cross(red), format!("entry number {i}")))
                .collect(),
        };
        let page = frame(&body, &figure).unwrap();
        assert_eq!(page.width, MIN_WIDTH);
        assert!(page.height > body.height + 3 * ROW_HEIGHT);
        let body_pixels = page.pixels.iter().filter(|&&p| p == [10, 20, 30]).count();
        assert_eq!(body_pixels, 100 * 50);
        assert!(page.pixels.contains(&red));
        // Text is drawn: some pixels are neither page, body nor symbol.
        assert!(page
            .pixels
            .iter()
            .any(|&p| p != PAGE && p[0] == p[1] && p[1] == p[2]));
        // Six entries do not fit one row of a 420-pixel page.
        assert!(
            legend_rows(&figure.legend, MIN_WIDTH - 2 * MARGIN)
                .unwrap()
                .len()
                > 1
        );
    }
}
