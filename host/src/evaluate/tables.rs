//! Results of `robofish eval`: one row per model x engine, the original's
//! two tables (latency + size, accuracy) in Markdown, and the JSON list.

use serde::Serialize;

use super::accuracy::AccuracySummary;
use super::latency::{Latency, Timing};
use super::model::{EvalModel, Precision};
use super::spots::{MATCH_RADIUS, SPOT_THRESHOLD};
use crate::targets::PixelSummary;

/// Bytes per KB in the size column (the original's 19744 KB for 4.85 M fp32
/// parameters is 19.7 MB in units of 1000).
pub const BYTES_PER_KB: f64 = 1000.0;

/// The original's fp32 results (its README: Apple M1, PyTorch, mean of 5
/// runs without warm-up; state-dict bytes).
pub const ORIGINAL_FP32_LATENCY_MS: f64 = 99.6;
/// The original's fp32 size in KB.
pub const ORIGINAL_FP32_SIZE_KB: f64 = 19744.0;
/// The original's fp32 pixel metrics.
pub const ORIGINAL_FP32: PixelSummary = PixelSummary {
    position_recall: 0.923,
    position_jaccard: 0.898,
    barcode_recall: 0.877,
    barcode_jaccard: 0.731,
};

/// One model on one engine: the JSON object and a row of each table.
#[derive(Clone, Debug, Serialize)]
pub struct EvalRow {
    /// Model file name.
    pub name: String,
    /// Model path as given.
    pub path: String,
    /// `fp32`, `static`, `dynamic` or `qat`.
    pub mode: &'static str,
    /// `robofish`, `tract`, `tch` or `reference`.
    pub engine: &'static str,
    /// Model file bytes.
    pub size_bytes: u64,
    /// Weights and biases.
    pub parameters: usize,
    /// fp32 size / this size; see `reduction_vs`.
    pub reduction: f64,
    /// What `reduction` compares against.
    pub reduction_vs: String,
    /// Median latency on one thread, ms.
    pub median_ms: f64,
    /// Fastest run on one thread, ms.
    pub min_ms: f64,
    /// Median latency with all threads, ms.
    pub median_ms_all_threads: f64,
    /// Threads the engine used for `median_ms_all_threads` (1 when it
    /// cannot thread).
    pub threads: usize,
    /// Timed runs per latency.
    pub runs: usize,
    /// Untimed warm-up runs before them.
    pub warmup: usize,
    /// Position recall at 0.5 (the original's "accuracy").
    pub pos_recall: f64,
    /// Position Jaccard at 0.5.
    pub pos_jaccard: f64,
    /// Barcode recall at 0.9.
    pub bc_recall: f64,
    /// Barcode Jaccard at 0.9.
    pub bc_jaccard: f64,
    /// Spot precision.
    pub spot_precision: f64,
    /// Spot recall.
    pub spot_recall: f64,
    /// Spot F1.
    pub spot_f1: f64,
    /// RMSE of matched spots, px; null with no match.
    pub rmse: Option<f64>,
    /// Gene-aware F1; null without a codebook.
    pub gene_f1: Option<f64>,
    /// Blank misidentification rate; null when not measurable.
    pub misid_rate: Option<f64>,
    /// Tiles evaluated.
    pub tiles: usize,
    /// Ground-truth emitters.
    pub truth_spots: u64,
    /// Detected spots.
    pub detected_spots: u64,
    /// Detected spots called to a codeword (exact or one bit corrected).
    pub calls: u64,
    /// Calls to blank codewords.
    pub blank_calls: u64,
    /// The codebook the spots were decoded against.
    pub codebook: Option<String>,
    /// The int8 kernel path, for the robofish engine.
    pub kernel_path: Option<String>,
}

impl EvalRow {
    /// A row; reductions are filled in by [`set_reductions`] once every
    /// model is known.
    pub fn new(
        model: &EvalModel,
        engine: &'static str,
        timing: Timing,
        latencies: (Latency, Latency),
        accuracy: &AccuracySummary,
        codebook: Option<String>,
        kernel_path: Option<String>,
    ) -> EvalRow {
        EvalRow {
            name: model.name.clone(),
            path: model.path.display().to_string(),
            mode: model.precision().name(),
            size_bytes: model.file_bytes,
            parameters: model.parameters(),
            ..EvalRow::measured(engine, timing, latencies, accuracy, codebook, kernel_path)
        }
    }

    /// A row of measurements with no model file behind it: name, path and
    /// mode empty, size and parameters 0, no reduction.
    pub fn measured(
        engine: &'static str,
        timing: Timing,
        (one_thread, all_threads): (Latency, Latency),
        accuracy: &AccuracySummary,
        codebook: Option<String>,
        kernel_path: Option<String>,
    ) -> EvalRow {
        EvalRow {
            name: String::new(),
            path: String::new(),
            mode: "",
            engine,
            size_bytes: 0,
            parameters: 0,
            reduction: f64::NAN,
            reduction_vs: String::new(),
            median_ms: one_thread.median_ms,
            min_ms: one_thread.min_ms,
            median_ms_all_threads: all_threads.median_ms,
            threads: all_threads.threads,
            runs: timing.runs,
            warmup: timing.warmup,
            pos_recall: accuracy.pixels.position_recall,
            pos_jaccard: accuracy.pixels.position_jaccard,
            bc_recall: accuracy.pixels.barcode_recall,
            bc_jaccard: accuracy.pixels.barcode_jaccard,
            spot_precision: accuracy.spot_precision,
            spot_recall: accuracy.spot_recall,
            spot_f1: accuracy.spot_f1,
            rmse: accuracy.rmse,
            gene_f1: accuracy.gene_f1,
            misid_rate: accuracy.misid_rate,
            tiles: accuracy.tiles,
            truth_spots: accuracy.truth_spots,
            detected_spots: accuracy.detected_spots,
            calls: accuracy.decoding.calls(),
            blank_calls: accuracy.decoding.blank,
            codebook,
            kernel_path,
        }
    }
}

/// Size reduction of every row against the first fp32 model evaluated, or,
/// with none, against the row's own fp32 estimate (4 bytes per parameter).
pub fn set_reductions(rows: &mut [EvalRow]) {
    let fp32 = rows
        .iter()
        .find(|r| r.mode == Precision::Fp32.name())
        .map(|r| (r.size_bytes, r.name.clone()));
    for row in rows {
        let size = row.size_bytes.max(1) as f64;
        match &fp32 {
            Some((bytes, name)) => {
                row.reduction = *bytes as f64 / size;
                row.reduction_vs = name.clone();
            }
            None => {
                row.reduction = 4.0 * row.parameters as f64 / size;
                row.reduction_vs = "fp32 estimate (4 bytes x parameters)".into();
            }
        }
    }
}

/// "CPU model, N logical cores" from /proc/cpuinfo and the OS.
pub fn machine_description() -> String {
    let cpu = crate::cpu::CpuIdentity::detect()
        .name
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!(
        "{cpu}, {cores} logical cores ({} {})",
        std::env::consts::ARCH,
        std::env::consts::OS
    )
}

/// A Markdown table with columns padded to equal width, so it reads as
/// plain text too.
pub fn markdown_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, &w)| format!("{c:<w$}"))
            .collect();
        format!("| {} |\n", padded.join(" | "))
    };
    let mut out = line(header.iter().map(|h| h.to_string()).collect());
    out += &line(widths.iter().map(|&w| "-".repeat(w.max(3))).collect());
    for row in rows {
        out += &line(row.clone());
    }
    out
}

fn fixed(value: f64, decimals: usize) -> String {
    if value.is_finite() {
        format!("{value:.decimals$}")
    } else {
        "-".into()
    }
}

fn optional(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "-".into(), |v| fixed(v, decimals))
}

/// Table 1: latency and size.
pub fn latency_table(rows: &[EvalRow]) -> String {
    let mut cells = vec![vec![
        "original fp32 (its README)".into(),
        "fp32".into(),
        "PyTorch, M1".into(),
        format!("{ORIGINAL_FP32_LATENCY_MS:.1} (mean of 5)"),
        "-".into(),
        "-".into(),
        format!("{ORIGINAL_FP32_SIZE_KB:.0}"),
        String::new(),
    ]];
    for r in rows {
        cells.push(vec![
            r.name.clone(),
            r.mode.into(),
            r.engine.into(),
            fixed(r.median_ms, 3),
            fixed(r.median_ms_all_threads, 3),
            r.threads.to_string(),
            fixed(r.size_bytes as f64 / BYTES_PER_KB, 1),
            format!("{}x", fixed(r.reduction, 2)),
        ]);
    }
    markdown_table(
        &[
            "Model",
            "Mode",
            "Engine",
            "Latency 1 thread (ms)",
            "Latency all threads (ms)",
            "Threads",
            "Size (KB)",
            "Reduction",
        ],
        &cells,
    )
}

/// Table 2: accuracy.
pub fn accuracy_table(rows: &[EvalRow]) -> String {
    let o = ORIGINAL_FP32;
    let mut cells = vec![vec![
        "original fp32 (its README)".into(),
        "fp32".into(),
        "PyTorch".into(),
        fixed(o.position_recall, 3),
        fixed(o.position_jaccard, 3),
        fixed(o.barcode_recall, 3),
        fixed(o.barcode_jaccard, 3),
        "-".into(),
        "-".into(),
        "-".into(),
        "-".into(),
    ]];
    for r in rows {
        cells.push(vec![
            r.name.clone(),
            r.mode.into(),
            r.engine.into(),
            fixed(r.pos_recall, 3),
            fixed(r.pos_jaccard, 3),
            fixed(r.bc_recall, 3),
            fixed(r.bc_jaccard, 3),
            fixed(r.spot_f1, 3),
            optional(r.rmse, 3),
            optional(r.gene_f1, 3),
            optional(r.misid_rate, 3),
        ]);
    }
    markdown_table(
        &[
            "Model",
            "Mode",
            "Engine",
            "Pos recall (>0.5)",
            "Pos Jaccard (>0.5)",
            "Barcode recall (>0.9)",
            "Barcode Jaccard (>0.9)",
            "Spot F1",
            "RMSE (px)",
            "Gene F1",
            "Misid rate",
        ],
        &cells,
    )
}

/// What the tables' numbers mean, printed under them.
fn notes(rows: &[EvalRow]) -> String {
    let timing = rows.first().map_or_else(String::new, |r| {
        format!(
            "Latency: median of {} runs after {} warm-up runs on the split's first tile, \
             one thread, then all threads the engine can use (tract: always one, this \
             build has no tract threading; dynamic int8: one, its grids are measured \
             over whole tensors). ",
            r.runs, r.warmup
        )
    });
    let reduction = rows.first().map_or_else(String::new, |r| {
        format!("Reduction vs {}. ", r.reduction_vs)
    });
    let genes = if rows.iter().any(|r| r.codebook.is_some()) {
        "Genes: decoded with 1-bit correction as the device does, against the int8 \
         model's own codebook, else the data's (per row in the JSON); a detection counts \
         for gene F1 only when its call is the truth's gene. Misid rate: blank calls x \
         (coding / blank words) / all calls."
    } else {
        "Genes: not measured (no codebook in the models or the data)."
    };
    format!(
        "{timing}Size: model file bytes / {BYTES_PER_KB}. {reduction}\
         Pixel metrics: per-tile means, the original's definitions. Spots: peaks of \
         the position map >= {SPOT_THRESHOLD}/255 (the device's threshold; fp32 maps \
         rounded to the same u8 scale), 3x3 non-maximum suppression, matched one to one \
         within {MATCH_RADIUS} px; RMSE over matched spots. {genes}\n"
    )
}

/// Both tables with a header naming the machine and the data.
pub fn markdown_report(rows: &[EvalRow], machine: &str, data: &str) -> String {
    format!(
        "## robofish eval\n\nMachine: {machine}\n\nData: {data}\n\n### Latency and size\n\n{}\n\
         ### Accuracy\n\n{}\n{}",
        latency_table(rows),
        accuracy_table(rows),
        notes(rows)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_columns_line_up() {
        let table = markdown_table(
            &["a", "long header"],
            &[vec!["wide cell".into(), "x".into()]],
        );
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines.iter().all(|l| l.len() == lines[0].len()), "{table}");
        assert!(lines[1].starts_with("| ---------"), "{table}");
    }

    #[test]
    fn machine_line_names_cores() {
        assert!(machine_description().contains("logical cores"));
    }
}
