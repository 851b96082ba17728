//! A small line plot (training curves) drawn into an [`RgbImage`]: white
//! background, axes from 0 to the largest value, tick labels in the panel
//! font, one coloured polyline per series. Which colour is which series is
//! written in the caller's log (the font has digits only).

use super::font::{text_pixels, text_width};
use super::tile_grid::RgbImage;

/// One curve: `(x, y)` points and a colour.
#[derive(Clone, Debug)]
pub struct Series {
    /// Points in drawing order.
    pub points: Vec<(f64, f64)>,
    /// Line colour.
    pub colour: [u8; 3],
}

const WIDTH: usize = 640;
const HEIGHT: usize = 400;
const LEFT: usize = 60;
const BOTTOM: usize = 30;
const TOP: usize = 12;
const RIGHT: usize = 16;
const AXIS: [u8; 3] = [40, 40, 40];
const GRID: [u8; 3] = [225, 225, 225];

fn label(picture: &mut RgbImage, text: &str, x: usize, y: usize) {
    for (dx, dy) in text_pixels(text, 2) {
        picture.put((x + dx) as isize, (y + dy) as isize, AXIS);
    }
}

fn line(picture: &mut RgbImage, (x0, y0): (f64, f64), (x1, y1): (f64, f64), colour: [u8; 3]) {
    let steps = ((x1 - x0).abs().max((y1 - y0).abs()) * 2.0).ceil().max(1.0) as usize;
    for s in 0..=steps {
        let t = s as f64 / steps as f64;
        let (x, y) = (x0 + (x1 - x0) * t, y0 + (y1 - y0) * t);
        for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
            picture.put(x.round() as isize + dx, y.round() as isize + dy, colour);
        }
    }
}

/// Draws the series on shared axes: x from the smallest to the largest x,
/// y from 0 to the largest finite y (non-finite points are skipped).
pub fn line_plot(series: &[Series]) -> RgbImage {
    let mut picture = RgbImage::new(WIDTH, HEIGHT, [255, 255, 255]);
    let finite = series
        .iter()
        .flat_map(|s| s.points.iter())
        .filter(|(x, y)| x.is_finite() && y.is_finite());
    let (mut x_min, mut x_max, mut y_max) = (f64::INFINITY, f64::NEG_INFINITY, 0f64);
    for &(x, y) in finite {
        x_min = x_min.min(x);
        x_max = x_max.max(x);
        y_max = y_max.max(y);
    }
    if !x_min.is_finite() {
        (x_min, x_max) = (0.0, 1.0);
    }
    if x_max <= x_min {
        x_max = x_min + 1.0;
    }
    if y_max <= 0.0 {
        y_max = 1.0;
    }
    let (pw, ph) = (
        (WIDTH - LEFT - RIGHT) as f64,
        (HEIGHT - TOP - BOTTOM) as f64,
    );
    let to_px = |x: f64, y: f64| {
        (
            LEFT as f64 + (x - x_min) / (x_max - x_min) * pw,
            TOP as f64 + (1.0 - y / y_max) * ph,
        )
    };
    for i in 0..=4 {
        let y = y_max * i as f64 / 4.0;
        let (_, py) = to_px(x_min, y);
        for px in LEFT..WIDTH - RIGHT {
            picture.put(px as isize, py.round() as isize, GRID);
        }
        let text = format!("{y:.3}");
        let tx = LEFT.saturating_sub(text_width(&text, 2) + 6);
        label(&mut picture, &text, tx, (py as usize).saturating_sub(5));
    }
    let ticks = ((x_max - x_min).round() as usize).clamp(1, 10);
    for i in 0..=ticks {
        let x = x_min + (x_max - x_min) * i as f64 / ticks as f64;
        let (px, _) = to_px(x, 0.0);
        let text = format!("{}", x.round() as i64);
        label(
            &mut picture,
            &text,
            (px as usize).saturating_sub(text_width(&text, 2) / 2),
            HEIGHT - BOTTOM + 8,
        );
    }
    for px in LEFT..WIDTH - RIGHT {
        picture.put(px as isize, (HEIGHT - BOTTOM) as isize, AXIS);
    }
    for py in TOP..=HEIGHT - BOTTOM {
        picture.put(LEFT as isize, py as isize, AXIS);
    }
    for s in series {
        let pts: Vec<(f64, f64)> = s
            .points
            .iter()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .map(|&(x, y)| to_px(x, y))
            .collect();
        for w in pts.windows(2) {
            line(&mut picture, w[0], w[1], s.colour);
        }
        if let [only] = pts.as_slice() {
            line(&mut picture, *only, *only, s.colour);
        }
    }
    picture
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_series_colours() {
        let red = [200, 0, 0];
        let pic = line_plot(&[Series {
            points: vec![(1.0, 2.0), (2.0, 1.0), (3.0, f64::NAN), (4.0, 0.5)],
            colour: red,
        }]);
        assert_eq!((pic.width, pic.height), (WIDTH, HEIGHT));
        assert!(pic.pixels.iter().filter(|&&p| p == red).count() > 100);
        let empty = line_plot(&[]);
        assert!(!empty.pixels.contains(&red));
    }
}
