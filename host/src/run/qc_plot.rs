//! `qc.png`: the QC as four figures stacked, each with a title, labelled
//! axes and a legend: calls per gene ranked (blanks apart, the top genes
//! named), the confidence histogram, per-bit on-rates, and the transcript
//! density of all FOVs in stage coordinates.

use anyhow::Result;

use super::qc::{Qc, DENSITY_CELLS};
use crate::report::{
    frame, line_plot, render_probability_map, Figure, LegendEntry, LinePlot, Marker, MarkerShape,
    RgbImage, Series, Symbol,
};

const BLUE: [u8; 3] = [31, 119, 180];
const ORANGE: [u8; 3] = [230, 120, 20];
const GRAY: [u8; 3] = [120, 120, 120];
const RED: [u8; 3] = [220, 40, 40];

/// The picture of `qc`.
pub fn qc_png(qc: &Qc) -> Result<RgbImage> {
    let panels = [
        line_plot(&calls_plot(qc))?,
        line_plot(&confidence_plot(qc))?,
        line_plot(&bits_plot(qc))?,
        density_figure(qc)?,
    ];
    let width = panels.iter().map(|p| p.width).max().unwrap_or(1);
    let height = panels.iter().map(|p| p.height).sum();
    let mut page = RgbImage::new(width, height, [255, 255, 255]);
    let mut top = 0;
    for panel in &panels {
        page.blit(panel, (width - panel.width) / 2, top);
        top += panel.height;
    }
    Ok(page)
}

fn calls_plot(qc: &Qc) -> LinePlot {
    let points = |blank: bool| {
        qc.calls_per_gene
            .iter()
            .filter(|g| g.blank == blank)
            .map(|g| (g.rank as f64, g.calls as f64))
            .collect::<Vec<_>>()
    };
    let top: Vec<String> = qc
        .calls_per_gene
        .iter()
        .filter(|g| !g.blank)
        .take(3)
        .map(|g| format!("{} {}", g.gene, g.calls))
        .collect();
    let best_blank = qc.calls_per_gene.iter().find(|g| g.blank);
    let blank_label = match best_blank {
        Some(g) => format!("blank controls (best: {} at rank {})", g.gene, g.rank),
        None => "blank controls (none in the codebook)".into(),
    };
    let rate = qc
        .misidentification
        .rate
        .map_or_else(|| "n/a".into(), |r| format!("{r:.3}"));
    LinePlot {
        title: format!("Calls per gene, ranked (misidentification estimate {rate})"),
        x_label: "rank (1 = most calls)".into(),
        y_label: "calls".into(),
        series: vec![
            Series {
                label: format!("genes (top: {})", top.join(", ")),
                points: points(false),
                colour: BLUE,
            },
            Series {
                label: blank_label,
                points: points(true),
                colour: RED,
            },
        ],
    }
}

fn confidence_plot(qc: &Qc) -> LinePlot {
    let h = &qc.confidence_histogram;
    let curve = |counts: &[u64]| {
        counts
            .iter()
            .enumerate()
            .map(|(i, &n)| ((h.edges[i] + h.edges[i + 1]) / 2.0, n as f64))
            .collect()
    };
    LinePlot {
        title: "Confidence of the calls".into(),
        x_label: "confidence (bin centre)".into(),
        y_label: "calls per bin".into(),
        series: vec![
            Series {
                label: "exact calls".into(),
                points: curve(&h.exact),
                colour: BLUE,
            },
            Series {
                label: "error-corrected calls".into(),
                points: curve(&h.corrected),
                colour: ORANGE,
            },
        ],
    }
}

fn bits_plot(qc: &Qc) -> LinePlot {
    let bits = qc.bit_on_rates.len();
    LinePlot {
        title: "Per-bit on-rate of the called words".into(),
        x_label: "barcode bit".into(),
        y_label: "share of calls with the bit on".into(),
        series: vec![
            Series {
                label: "calls".into(),
                points: (0..bits)
                    .map(|b| ((b + 1) as f64, qc.bit_on_rates[b]))
                    .collect(),
                colour: BLUE,
            },
            Series {
                label: "weight-4 words, even use (4/16)".into(),
                points: vec![(1.0, 0.25), (bits.max(2) as f64, 0.25)],
                colour: GRAY,
            },
        ],
    }
}

/// Every FOV's density cells placed at its stage position (FOVs side by
/// side when there are none), white = the densest cell.
fn density_figure(qc: &Qc) -> Result<RgbImage> {
    let n = DENSITY_CELLS as f64;
    // Cell origins in cell units: a FOV's extent is unknown here, so stage
    // positions are taken relative to the smallest spacing between FOVs
    // along each axis when that is below a FOV (an overlapping grid).
    let placed: Option<Vec<(f64, f64)>> = qc.density.iter().map(|d| d.origin_um).collect();
    let origins: Vec<(f64, f64)> = match placed {
        Some(p) if !p.is_empty() => {
            let step = fov_step(&p);
            let (min_x, min_y) = p.iter().fold((f64::INFINITY, f64::INFINITY), |m, o| {
                (m.0.min(o.0), m.1.min(o.1))
            });
            p.iter()
                .map(|o| ((o.0 - min_x) / step * n, (o.1 - min_y) / step * n))
                .collect()
        }
        _ => (0..qc.density.len())
            .map(|i| ((i * (DENSITY_CELLS + 1)) as f64, 0.0))
            .collect(),
    };
    let extent = |axis: fn(&(f64, f64)) -> f64| {
        origins
            .iter()
            .map(|o| axis(o).round() as usize)
            .max()
            .unwrap_or(0)
            + DENSITY_CELLS
    };
    let (cols, rows) = (extent(|o| o.0), extent(|o| o.1));
    let mut map = vec![0f32; rows * cols];
    for (d, o) in qc.density.iter().zip(&origins) {
        for (r, line) in d.cells.iter().enumerate() {
            for (c, &count) in line.iter().enumerate() {
                let (y, x) = (o.1.round() as usize + r, o.0.round() as usize + c);
                map[y * cols + x] += count as f32;
            }
        }
    }
    let max = map.iter().copied().fold(0f32, f32::max);
    if max > 0.0 {
        map.iter_mut().for_each(|v| *v /= max);
    }
    let scale = (480 / cols.max(1)).clamp(4, 48);
    let markers: Vec<Marker> = origins
        .iter()
        .map(|o| Marker {
            y: (o.1 + n / 2.0 - 0.5) as f32,
            x: (o.0 + n / 2.0 - 0.5) as f32,
            shape: MarkerShape::Ring,
            colour: RED,
        })
        .collect();
    let body = render_probability_map(&map, rows, cols, scale, &markers);
    frame(
        &body,
        &Figure {
            title: "Transcript density per FOV".into(),
            note: Some(format!(
                "x: global_x, y: global_y (down), in stage coordinates; {DENSITY_CELLS} x {DENSITY_CELLS} cells per FOV"
            )),
            legend: vec![
                LegendEntry::new(Symbol::GrayRamp, format!("transcripts per cell, 0 .. {max}")),
                LegendEntry::new(Symbol::Ring(RED), "FOV centre"),
            ],
        },
    )
}

/// The FOV size in µm implied by the positions: the smallest non-zero
/// spacing along either axis (a grid's step); 1 for a single FOV.
fn fov_step(origins: &[(f64, f64)]) -> f64 {
    let mut step = f64::INFINITY;
    for a in origins {
        for b in origins {
            for d in [(a.0 - b.0).abs(), (a.1 - b.1).abs()] {
                if d > 1e-9 {
                    step = step.min(d);
                }
            }
        }
    }
    if step.is_finite() {
        step
    } else {
        1.0
    }
}
