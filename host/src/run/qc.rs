//! The run's quality control, from the parts alone (so `merge` gives the
//! same): calls per gene with the blanks ranked among them, the
//! blank-based misidentification estimate of the experiment's codebook
//! (the shared formula, through [`CallQuality`]), a confidence histogram,
//! a transcript-density grid per FOV, per-bit on-rates, the FOVs that
//! failed and, with ground truth, spot and gene F1.

use robofish_shared::post::metrics::SpotEvaluation;
use robofish_shared::post::DecodeCounts;
use robofish_shared::protocol::CallQuality;
use serde::Serialize;

use super::parts::{FovFailure, PartSet, RunIdentity};
use crate::sim::{Codebook, IMAGE_COUNT};

/// Confidence histogram bins over `[0, 1]`.
pub const CONFIDENCE_BINS: usize = 20;
/// Density cells per FOV side.
pub const DENSITY_CELLS: usize = 8;

/// `qc.json`.
#[derive(Clone, Debug, Serialize)]
pub struct Qc {
    /// What decoded the FOVs.
    pub identity: Option<RunIdentity>,
    /// Unit of the global coordinates: `µm` or `px`.
    pub global_units: String,
    /// FOVs in the tables.
    pub fovs: usize,
    /// FOVs that failed (read or decode errors), with why.
    pub failures: Vec<FovFailure>,
    /// Transcripts in the tables.
    pub transcripts: u64,
    /// Spots found in the owned regions that no word was called for.
    pub unassigned: u64,
    /// Spots left to the neighbouring FOV that owns them.
    pub dropped_in_overlap: u64,
    /// Every codebook word by calls, most first (ties: codebook order).
    pub calls_per_gene: Vec<GeneCalls>,
    /// The blank-based misidentification estimate.
    pub misidentification: Misidentification,
    /// Calls per confidence bin.
    pub confidence_histogram: Histogram,
    /// Transcripts per cell of each FOV.
    pub density: Vec<FovDensity>,
    /// Per barcode bit (1..=16 in order), the share of calls whose word has
    /// it on.
    pub bit_on_rates: Vec<f64>,
    /// Accuracy against the ground truth, when the FOVs had some.
    pub truth: Option<TruthScores>,
}

/// One word's calls.
#[derive(Clone, Debug, Serialize)]
pub struct GeneCalls {
    /// 1 = most calls.
    pub rank: usize,
    /// Index in the codebook.
    pub barcode_id: usize,
    /// Its name.
    pub gene: String,
    /// A blank control.
    pub blank: bool,
    /// Transcripts called to it.
    pub calls: u64,
}

/// The estimate and what it was made from.
#[derive(Clone, Debug, Serialize)]
pub struct Misidentification {
    /// `(B / b) * c / C`; `None` when the codebook has no blanks.
    pub rate: Option<f64>,
    /// Calls to blank words (`B`).
    pub blank_calls: u64,
    /// Calls to coding words (`C`).
    pub coding_calls: u64,
    /// Blank words of the experiment's codebook (`b`).
    pub blank_words: usize,
    /// Coding words (`c`).
    pub coding_words: usize,
    /// Mean confidence of the calls.
    pub mean_confidence: Option<f64>,
}

/// Counts per equal bin of `[0, 1]`.
#[derive(Clone, Debug, Serialize)]
pub struct Histogram {
    /// Bin edges, `bins + 1` of them.
    pub edges: Vec<f64>,
    /// Exact calls per bin.
    pub exact: Vec<u64>,
    /// Error-corrected calls per bin.
    pub corrected: Vec<u64>,
}

/// A FOV's transcript density.
#[derive(Clone, Debug, Serialize)]
pub struct FovDensity {
    /// The FOV.
    pub fov: u32,
    /// Stage position (µm), when known.
    pub origin_um: Option<(f64, f64)>,
    /// Rows by columns of cells, each `height / cells` x `width / cells`
    /// pixels: transcripts per cell.
    pub cells: Vec<Vec<u32>>,
}

/// Ground-truth accuracy over the FOVs (each FOV whole, before ownership).
#[derive(Clone, Debug, Serialize)]
pub struct TruthScores {
    /// Detection precision.
    pub precision: f64,
    /// Detection recall.
    pub recall: f64,
    /// Detection F1.
    pub spot_f1: f64,
    /// Gene-aware F1.
    pub gene_f1: f64,
    /// Truth emitters.
    pub truth_spots: u64,
}

impl Qc {
    /// The QC of `set`, whose calls index `codebook`.
    pub fn of(set: &PartSet, codebook: &Codebook, global_units: &str) -> Qc {
        let transcripts = || set.parts.iter().flat_map(|(_, t)| t);
        let mut calls = vec![0u64; codebook.len()];
        let mut counts = DecodeCounts::default();
        let mut confidence_sum = 0.0;
        let mut bits = [0u64; IMAGE_COUNT];
        let edges: Vec<f64> = (0..=CONFIDENCE_BINS)
            .map(|i| i as f64 / CONFIDENCE_BINS as f64)
            .collect();
        let mut histogram = Histogram {
            exact: vec![0; CONFIDENCE_BINS],
            corrected: vec![0; CONFIDENCE_BINS],
            edges,
        };
        for t in transcripts() {
            let id = t.barcode_id as usize;
            if let Some(c) = calls.get_mut(id) {
                *c += 1;
            }
            let blank = codebook.is_blank(id);
            let word = codebook.word(id).unwrap_or(0);
            for (bit, n) in bits.iter_mut().enumerate() {
                *n += u64::from(word >> bit & 1);
            }
            let bin = ((f64::from(t.confidence) * CONFIDENCE_BINS as f64) as usize)
                .min(CONFIDENCE_BINS - 1);
            if t.hamming_distance == 0 {
                counts.exact += 1;
                histogram.exact[bin] += 1;
            } else {
                counts.corrected += 1;
                histogram.corrected[bin] += 1;
            }
            counts.blank += u64::from(blank);
            confidence_sum += f64::from(t.confidence);
        }
        counts.unassigned = set.parts.iter().map(|(p, _)| p.unassigned).sum();
        let blank_words = codebook.blank_flags().iter().filter(|&&b| b).count();
        let coding_words = codebook.len() - blank_words;
        let quality = CallQuality {
            decoding: counts,
            confidence_sum: 0,
            blank_words: u16::try_from(blank_words).unwrap_or(u16::MAX),
            coding_words: u16::try_from(coding_words).unwrap_or(u16::MAX),
        };
        let total = counts.calls();
        Qc {
            identity: set.identity().cloned(),
            global_units: global_units.into(),
            fovs: set.parts.len(),
            failures: set.failures.clone(),
            transcripts: total,
            unassigned: counts.unassigned,
            dropped_in_overlap: set.parts.iter().map(|(p, _)| p.dropped_in_overlap).sum(),
            calls_per_gene: ranked(&calls, codebook),
            misidentification: Misidentification {
                rate: quality.misidentification_rate(),
                blank_calls: counts.blank,
                coding_calls: counts.coding_calls(),
                blank_words,
                coding_words,
                mean_confidence: (total > 0).then(|| confidence_sum / total as f64),
            },
            confidence_histogram: histogram,
            density: density(set),
            bit_on_rates: bits
                .iter()
                .map(|&n| {
                    if total == 0 {
                        0.0
                    } else {
                        n as f64 / total as f64
                    }
                })
                .collect(),
            truth: truth(set),
        }
    }
}

fn ranked(calls: &[u64], codebook: &Codebook) -> Vec<GeneCalls> {
    let mut order: Vec<usize> = (0..calls.len()).collect();
    order.sort_by(|&a, &b| calls[b].cmp(&calls[a]).then(a.cmp(&b)));
    order
        .into_iter()
        .enumerate()
        .map(|(i, id)| GeneCalls {
            rank: i + 1,
            barcode_id: id,
            gene: codebook.name(id).unwrap_or_default().to_string(),
            blank: codebook.is_blank(id),
            calls: calls[id],
        })
        .collect()
}

fn density(set: &PartSet) -> Vec<FovDensity> {
    set.parts
        .iter()
        .map(|(part, transcripts)| {
            let mut cells = vec![vec![0u32; DENSITY_CELLS]; DENSITY_CELLS];
            let cell = |v: f64, len: usize| {
                ((v / len.max(1) as f64 * DENSITY_CELLS as f64).max(0.0) as usize)
                    .min(DENSITY_CELLS - 1)
            };
            for t in transcripts {
                cells[cell(t.y, part.height)][cell(t.x, part.width)] += 1;
            }
            FovDensity {
                fov: part.fov,
                origin_um: part.placement.origin_um,
                cells,
            }
        })
        .collect()
}

fn truth(set: &PartSet) -> Option<TruthScores> {
    let mut sum: Option<SpotEvaluation> = None;
    for e in set.parts.iter().filter_map(|(p, _)| p.truth.as_ref()) {
        match &mut sum {
            Some(s) => s.merge(e),
            None => sum = Some(*e),
        }
    }
    let s = sum?;
    Some(TruthScores {
        precision: s.detection.precision(),
        recall: s.detection.recall(),
        spot_f1: s.detection.f1(),
        gene_f1: s.genes.f1(),
        truth_spots: s.detection.true_positives + s.detection.false_negatives,
    })
}
