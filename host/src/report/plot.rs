//! Line plots (training curves): a title, labelled axes over a light grid,
//! one coloured line per series and a legend that names each line.
//! plotters draws the chart (grid, axes, lines); the text is
//! [`super::text`]'s, at plotters' own tick positions.

use anyhow::Result;
use plotters::chart::ChartBuilder;
use plotters::coord::ranged1d::{BoldPoints, Ranged};
use plotters::coord::types::RangedCoordf64;
use plotters::series::LineSeries;
use plotters::style::{Color, RGBColor, ShapeStyle};

use super::image::{Rect, RgbImage};
use super::text::{draw_text, text_size, Anchor, INK, LEGEND_SIZE, TITLE_SIZE};

/// One curve: a name for the legend, `(x, y)` points and a colour.
#[derive(Clone, Debug)]
pub struct Series {
    /// What the legend calls it.
    pub label: String,
    /// Points in drawing order.
    pub points: Vec<(f64, f64)>,
    /// Line colour.
    pub colour: [u8; 3],
}

/// A line plot: what it shows and its curves.
#[derive(Clone, Debug)]
pub struct LinePlot {
    /// Title above the chart.
    pub title: String,
    /// Horizontal axis label.
    pub x_label: String,
    /// Vertical axis label.
    pub y_label: String,
    /// The curves, on shared axes.
    pub series: Vec<Series>,
}

const WIDTH: usize = 800;
const HEIGHT: usize = 500;
const AXIS_SIZE: f64 = 15.0;
const TICK_SIZE: f64 = 13.0;
const X_TICKS: usize = 10;
const Y_TICKS: usize = 6;
const GRID: [u8; 3] = [228, 228, 228];
const FRAME: [u8; 3] = [150, 150, 150];

fn rgb([r, g, b]: [u8; 3]) -> RGBColor {
    RGBColor(r, g, b)
}

/// The finite points of `series`.
fn finite(series: &Series) -> Vec<(f64, f64)> {
    series
        .points
        .iter()
        .copied()
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect()
}

/// x from the smallest to the largest finite x, y from 0 to a little above
/// the largest finite y.
fn axes(series: &[Series]) -> ((f64, f64), f64) {
    let (mut x_min, mut x_max, mut y_max) = (f64::INFINITY, f64::NEG_INFINITY, 0f64);
    for (x, y) in series.iter().flat_map(finite) {
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
    let y_max = if y_max > 0.0 { y_max * 1.05 } else { 1.0 };
    ((x_min, x_max), y_max)
}

/// A tick label: whole numbers without decimals, others with as few as
/// tell the ticks apart.
fn tick_label(value: f64, step: f64) -> String {
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10()).ceil().clamp(0.0, 6.0) as usize
    };
    format!("{value:.decimals$}")
}

/// Draws `plot` (non-finite points are skipped).
pub fn line_plot(plot: &LinePlot) -> Result<RgbImage> {
    let ((x_min, x_max), y_max) = axes(&plot.series);
    let mut picture = RgbImage::new(WIDTH, HEIGHT, [255, 255, 255]);
    let title_h = text_size(&plot.title, TITLE_SIZE)?.1;
    let top = 16 + title_h + 16;
    // Plotters lays the chart out; its tick values and pixel positions come
    // back for the labels.
    let (x_ticks, y_ticks, area) = picture.draw(|root| {
        let mut chart = ChartBuilder::on(root)
            .margin_top(top as u32)
            .margin_right(24)
            .margin_left(16)
            .x_label_area_size(56)
            .y_label_area_size(72)
            .build_cartesian_2d(x_min..x_max, 0.0..y_max)?;
        chart
            .configure_mesh()
            .x_labels(X_TICKS)
            .y_labels(Y_TICKS)
            .x_label_formatter(&|_| String::new())
            .y_label_formatter(&|_| String::new())
            .light_line_style(rgb([255, 255, 255]).mix(0.0))
            .bold_line_style(rgb(GRID))
            .axis_style(rgb(FRAME))
            .draw()?;
        for series in &plot.series {
            let style = ShapeStyle::from(&rgb(series.colour)).stroke_width(2);
            chart.draw_series(LineSeries::new(finite(series), style))?;
        }
        let ticks = |range: RangedCoordf64, n| range.key_points(BoldPoints(n));
        let x_ticks: Vec<(f64, (i32, i32))> = ticks((x_min..x_max).into(), X_TICKS)
            .into_iter()
            .map(|x| (x, chart.backend_coord(&(x, 0.0))))
            .collect();
        let y_ticks: Vec<(f64, (i32, i32))> = ticks((0.0..y_max).into(), Y_TICKS)
            .into_iter()
            .map(|y| (y, chart.backend_coord(&(x_min, y))))
            .collect();
        let (xs, ys) = chart.plotting_area().get_pixel_range();
        Ok::<_, plotters::drawing::DrawingAreaErrorKind<_>>((x_ticks, y_ticks, (xs, ys)))
    })?;
    let (xs, ys) = area;
    let px = |v: i32| v.max(0) as usize;

    draw_text(
        &mut picture,
        &plot.title,
        (WIDTH / 2, 16),
        TITLE_SIZE,
        INK,
        Anchor::TopCentre,
    )?;
    let step = |ticks: &[(f64, (i32, i32))]| match ticks {
        [a, b, ..] => (b.0 - a.0).abs(),
        _ => 1.0,
    };
    let x_step = step(&x_ticks);
    for &(x, (bx, _)) in &x_ticks {
        let label = tick_label(x, x_step);
        let at = (px(bx), px(ys.end) + 6);
        draw_text(&mut picture, &label, at, TICK_SIZE, INK, Anchor::TopCentre)?;
    }
    let y_step = step(&y_ticks);
    for &(y, (_, by)) in &y_ticks {
        let label = tick_label(y, y_step);
        let at = (px(xs.start) - 6, px(by));
        draw_text(
            &mut picture,
            &label,
            at,
            TICK_SIZE,
            INK,
            Anchor::CentreRight,
        )?;
    }
    let x_label_at = (px((xs.start + xs.end) / 2), px(ys.end) + 28);
    draw_text(
        &mut picture,
        &plot.x_label,
        x_label_at,
        AXIS_SIZE,
        INK,
        Anchor::TopCentre,
    )?;
    draw_vertical_text(
        &mut picture,
        &plot.y_label,
        (16, px((ys.start + ys.end) / 2)),
        AXIS_SIZE,
    )?;
    draw_legend(&mut picture, &plot.series, (px(xs.end), px(ys.start)))?;
    Ok(picture)
}

/// `text` turned a quarter left (read bottom to top), its left edge at
/// `x` and centred on `centre_y`; the background there must be white.
fn draw_vertical_text(
    picture: &mut RgbImage,
    text: &str,
    (x, centre_y): (usize, usize),
    size: f64,
) -> Result<()> {
    let (w, h) = text_size(text, size)?;
    let mut flat = RgbImage::new(w + 2, h, [255, 255, 255]);
    draw_text(&mut flat, text, (1, 0), size, INK, Anchor::TopLeft)?;
    let top = centre_y.saturating_sub(flat.width / 2);
    for ty in 0..flat.height {
        for tx in 0..flat.width {
            let colour = flat.pixels[ty * flat.width + tx];
            let (px, py) = (x + ty, top + flat.width - 1 - tx);
            picture.put(px as isize, py as isize, colour);
        }
    }
    Ok(())
}

/// A boxed legend in the plot's top right corner (`(right, top)` is the
/// plotting area's corner): a line sample and the name of each series.
fn draw_legend(
    picture: &mut RgbImage,
    series: &[Series],
    (right, top): (usize, usize),
) -> Result<()> {
    if series.is_empty() {
        return Ok(());
    }
    const PAD: usize = 10;
    const SAMPLE: usize = 28;
    const ROW: usize = 22;
    let mut text_w = 0;
    for s in series {
        text_w = text_w.max(text_size(&s.label, LEGEND_SIZE)?.0);
    }
    let (width, height) = (
        PAD + SAMPLE + 8 + text_w + PAD,
        2 * PAD + ROW * series.len() - 6,
    );
    let left = right.saturating_sub(width + 12);
    let top = top + 12;
    let border = Rect {
        left,
        top,
        width,
        height,
    };
    picture.fill(border, FRAME);
    picture.fill(
        Rect {
            left: left + 1,
            top: top + 1,
            width: width - 2,
            height: height - 2,
        },
        [255, 255, 255],
    );
    for (i, s) in series.iter().enumerate() {
        let y = top + PAD + i * ROW + (ROW - 6) / 2;
        picture.fill(
            Rect {
                left: left + PAD,
                top: y - 1,
                width: SAMPLE,
                height: 2,
            },
            s.colour,
        );
        let at = (left + PAD + SAMPLE + 8, y);
        draw_text(picture, &s.label, at, LEGEND_SIZE, INK, Anchor::CentreLeft)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_series_colours_and_labels() {
        let red = [200, 0, 0];
        let plot = |series| LinePlot {
            title: "Loss".into(),
            x_label: "epoch".into(),
            y_label: "loss".into(),
            series,
        };
        let pic = line_plot(&plot(vec![Series {
            label: "train".into(),
            points: vec![(1.0, 2.0), (2.0, 1.0), (3.0, f64::NAN), (4.0, 0.5)],
            colour: red,
        }]))
        .unwrap();
        assert_eq!((pic.width, pic.height), (WIDTH, HEIGHT));
        assert!(pic.pixels.iter().filter(|&&p| p == red).count() > 100);
        let empty = line_plot(&plot(Vec::new())).unwrap();
        assert!(!empty.pixels.contains(&red));
        // Title, tick labels and axis labels are drawn in the ink colour.
        assert!(empty.pixels.contains(&INK));
    }

    #[test]
    fn tick_labels_show_as_many_decimals_as_the_step_needs() {
        assert_eq!(tick_label(5.0, 5.0), "5");
        assert_eq!(tick_label(2.5, 0.5), "2.5");
        assert_eq!(tick_label(0.25, 0.05), "0.25");
    }
}
