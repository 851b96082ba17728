//! A 3 x 5 pixel font for panel labels: digits, `.`, `R`, `b`, `n`, `m` and space
//! are all the labels need, and a font crate for that would be overkill.

/// Glyph rows, top to bottom; bit 2 is the left column.
fn glyph(c: char) -> [u8; 5] {
    match c {
        '0' => [0b111, 0b101, 0b101, 0b101, 0b111],
        '1' => [0b010, 0b110, 0b010, 0b010, 0b111],
        '2' => [0b111, 0b001, 0b111, 0b100, 0b111],
        '3' => [0b111, 0b001, 0b111, 0b001, 0b111],
        '4' => [0b101, 0b101, 0b111, 0b001, 0b001],
        '5' => [0b111, 0b100, 0b111, 0b001, 0b111],
        '6' => [0b111, 0b100, 0b111, 0b101, 0b111],
        '7' => [0b111, 0b001, 0b010, 0b010, 0b010],
        '8' => [0b111, 0b101, 0b111, 0b101, 0b111],
        '9' => [0b111, 0b101, 0b111, 0b001, 0b111],
        'R' => [0b110, 0b101, 0b110, 0b101, 0b101],
        'b' => [0b100, 0b100, 0b110, 0b101, 0b110],
        'n' => [0b000, 0b000, 0b110, 0b101, 0b101],
        'm' => [0b000, 0b000, 0b111, 0b111, 0b101],
        '.' => [0b000, 0b000, 0b000, 0b000, 0b010],
        _ => [0; 5],
    }
}

/// Pixels `(dx, dy)` lit by `text` drawn at `scale` pixels per font pixel,
/// with one blank column between characters.
pub fn text_pixels(text: &str, scale: usize) -> Vec<(usize, usize)> {
    let mut pixels = Vec::new();
    for (index, c) in text.chars().enumerate() {
        for (row, bits) in glyph(c).iter().enumerate() {
            for col in 0..3 {
                if bits & (0b100 >> col) != 0 {
                    let x0 = (index * 4 + col) * scale;
                    for dy in 0..scale {
                        for dx in 0..scale {
                            pixels.push((x0 + dx, row * scale + dy));
                        }
                    }
                }
            }
        }
    }
    pixels
}

/// Width in pixels of `text` at `scale`.
pub fn text_width(text: &str, scale: usize) -> usize {
    (text.chars().count() * 4).saturating_sub(1) * scale
}
