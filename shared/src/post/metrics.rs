//! Accuracy metrics: the original project's pixel metrics, spot-level
//! detection and gene metrics with one-to-one matching, and the blank
//! misidentification rate.
//!
//! Every ratio is an `f64` and never NaN: each documents what it returns
//! when its denominator is zero. Accumulators are plain `no_std` structs
//! that merge across tiles, bands and devices; only the spot matching
//! itself needs the `alloc` feature.
//!
//! # Pixel metrics (the original's tables)
//!
//! Per tile, with `P` = predicted pixels whose probability is above the
//! threshold and `T` = truth pixels:
//!
//! - **recall** `|P and T| / |T|`. The original called it "accuracy". A tile
//!   with no truth pixels has no recall and is left out of the mean (the
//!   original divided by zero there and its mean became NaN).
//! - **Jaccard** `|P and T| / |P or T|`. A tile where both are empty agrees
//!   perfectly and scores 1 (the original divided by zero here too).
//!
//! Both are averaged over tiles, as the original did; pooled counts over all
//! tiles are kept as well. The original's thresholds are 0.5 for the
//! position map ([`POSITION_PIXEL_THRESHOLD`]) and 0.9 for the 16 bit maps
//! taken together ([`BIT_PIXEL_THRESHOLD`]).
//!
//! # Spot metrics
//!
//! Predicted spots are matched one to one with truth spots at Euclidean
//! distance `<= radius` (see [`match_spots`] for the exact method). Matched
//! pairs are true positives, unmatched predictions false positives,
//! unmatched truths false negatives. [`SpotCounts`] gives precision,
//! recall, F1 and Jaccard (`TP / (TP + FP + FN)`), [`Localisation`] the
//! RMSE of matched positions. Gene-aware counts match a prediction to a
//! truth only when its gene call equals the truth's gene.
//!
//! [`TruthSpot`] and [`SpotCounts`] are also what the protocol carries
//! (`GroundTruth`, `Metrics`), so the host's `eval` and the device count
//! with the same types and the same rules.

use core::fmt;

use serde::{Deserialize, Serialize};

#[cfg(feature = "alloc")]
use alloc::vec::Vec;

pub use super::decode::misidentification_rate;

/// The original's threshold for the position map.
pub const POSITION_PIXEL_THRESHOLD: f32 = 0.5;

/// The original's threshold for the barcode bit maps.
pub const BIT_PIXEL_THRESHOLD: f32 = 0.9;

/// Why a metric could not be computed.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum MetricsError {
    /// Prediction and truth maps differ in length.
    LengthMismatch {
        /// Length of the prediction map.
        predicted: usize,
        /// Length of the truth map.
        truth: usize,
    },
    /// A probability threshold outside `[0, 1]` (or NaN).
    InvalidThreshold(f32),
    /// A matching radius that is negative, infinite or NaN.
    InvalidRadius(f32),
}

impl fmt::Display for MetricsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            MetricsError::LengthMismatch { predicted, truth } => write!(
                f,
                "prediction map has {predicted} pixels but truth map has {truth}"
            ),
            MetricsError::InvalidThreshold(t) => {
                write!(f, "pixel threshold {t} is not a probability in [0, 1]")
            }
            MetricsError::InvalidRadius(r) => write!(
                f,
                "matching radius {r} is not a finite, non-negative number of pixels"
            ),
        }
    }
}

impl core::error::Error for MetricsError {}

/// `numerator / denominator`, or `if_empty` when the denominator is 0.
fn ratio(numerator: u64, denominator: u64, if_empty: f64) -> f64 {
    if denominator == 0 {
        if_empty
    } else {
        numerator as f64 / denominator as f64
    }
}

/// The largest map value `k` such that `value > k` means
/// `value / 255 > threshold` exactly (for the f32 value of `threshold`).
pub fn value_cutoff(threshold: f32) -> Result<u8, MetricsError> {
    if !(0.0..=1.0).contains(&threshold) {
        return Err(MetricsError::InvalidThreshold(threshold));
    }
    // An f32 times 255 is exact in f64, so the floor is the exact cutoff.
    Ok((f64::from(threshold) * 255.0) as u8)
}

/// Pixel counts of one tile (or pooled over tiles).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PixelCounts {
    /// Pixels predicted above the threshold that are truth pixels.
    pub intersection: u64,
    /// Pixels predicted above the threshold.
    pub predicted: u64,
    /// Truth pixels.
    pub truth: u64,
}

impl PixelCounts {
    /// Counts a prediction map against a binary truth map of the same
    /// length (any layout; pass all 16 bit maps at once for the barcode
    /// metric). A prediction pixel counts when its probability is strictly
    /// above `threshold`, as in the original; a truth pixel is any non-zero
    /// value.
    pub fn count(predicted: &[u8], truth: &[u8], threshold: f32) -> Result<Self, MetricsError> {
        if predicted.len() != truth.len() {
            return Err(MetricsError::LengthMismatch {
                predicted: predicted.len(),
                truth: truth.len(),
            });
        }
        let cutoff = value_cutoff(threshold)?;
        let mut counts = PixelCounts::default();
        for (&p, &t) in predicted.iter().zip(truth) {
            let (p, t) = (p > cutoff, t != 0);
            counts.intersection += u64::from(p && t);
            counts.predicted += u64::from(p);
            counts.truth += u64::from(t);
        }
        Ok(counts)
    }

    /// Pixels predicted or truth.
    pub fn union(&self) -> u64 {
        (self.predicted + self.truth).saturating_sub(self.intersection)
    }

    /// `|P and T| / |T|`, or `None` when there are no truth pixels.
    pub fn recall(&self) -> Option<f64> {
        (self.truth > 0).then(|| ratio(self.intersection, self.truth, 0.0))
    }

    /// `|P and T| / |P or T|`; 1 when both are empty.
    pub fn jaccard(&self) -> f64 {
        ratio(self.intersection, self.union(), 1.0)
    }

    /// Adds another tile's counts.
    pub fn merge(&mut self, other: &PixelCounts) {
        self.intersection += other.intersection;
        self.predicted += other.predicted;
        self.truth += other.truth;
    }
}

/// Per-tile pixel recall and Jaccard averaged over tiles, as the original
/// reported them, plus pooled counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PixelMetrics {
    recall_sum: f64,
    tiles_with_truth: u64,
    jaccard_sum: f64,
    tiles: u64,
    pooled: PixelCounts,
}

impl PixelMetrics {
    /// Counts one tile and adds it; returns the tile's counts.
    pub fn add_tile(
        &mut self,
        predicted: &[u8],
        truth: &[u8],
        threshold: f32,
    ) -> Result<PixelCounts, MetricsError> {
        let counts = PixelCounts::count(predicted, truth, threshold)?;
        self.add_counts(&counts);
        Ok(counts)
    }

    /// Adds one tile's counts.
    pub fn add_counts(&mut self, tile: &PixelCounts) {
        if let Some(recall) = tile.recall() {
            self.recall_sum += recall;
            self.tiles_with_truth += 1;
        }
        self.jaccard_sum += tile.jaccard();
        self.tiles += 1;
        self.pooled.merge(tile);
    }

    /// Adds the tiles of another accumulator.
    pub fn merge(&mut self, other: &PixelMetrics) {
        self.recall_sum += other.recall_sum;
        self.tiles_with_truth += other.tiles_with_truth;
        self.jaccard_sum += other.jaccard_sum;
        self.tiles += other.tiles;
        self.pooled.merge(&other.pooled);
    }

    /// Tiles added.
    pub fn tiles(&self) -> u64 {
        self.tiles
    }

    /// Tiles that had truth pixels, the ones [`PixelMetrics::recall`]
    /// averages.
    pub fn tiles_with_truth(&self) -> u64 {
        self.tiles_with_truth
    }

    /// Mean recall over tiles with truth pixels (the original's
    /// "accuracy"); 1 when no tile had any, since nothing was missed.
    pub fn recall(&self) -> f64 {
        if self.tiles_with_truth == 0 {
            1.0
        } else {
            self.recall_sum / self.tiles_with_truth as f64
        }
    }

    /// Mean Jaccard over all tiles; 1 when no tile was added.
    pub fn jaccard(&self) -> f64 {
        if self.tiles == 0 {
            1.0
        } else {
            self.jaccard_sum / self.tiles as f64
        }
    }

    /// Counts summed over all tiles, for pooled (micro-averaged) ratios.
    pub fn pooled(&self) -> PixelCounts {
        self.pooled
    }
}

/// Counts of matched spots, the one counts type of robofish: `eval`'s
/// tables and the device's `Metrics` both carry it. Merge tiles, bands or
/// FOVs with [`SpotCounts::merge`].
///
/// Empty-case rule, the same for every ratio: a ratio whose denominator is
/// zero is 1, since there was nothing to get wrong. So precision is 1 with
/// no predictions (no false claims were made), recall is 1 with no truth
/// (nothing was missed), F1 and Jaccard are 1 when both are empty; with
/// predictions but no truth (or the reverse) F1 and Jaccard are 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpotCounts {
    /// Matched pairs.
    pub true_positives: u64,
    /// Predictions left unmatched.
    pub false_positives: u64,
    /// Truth spots left unmatched.
    pub false_negatives: u64,
}

impl SpotCounts {
    /// `TP / (TP + FP)`; 1 with no predictions.
    pub fn precision(&self) -> f64 {
        ratio(
            self.true_positives,
            self.true_positives + self.false_positives,
            1.0,
        )
    }

    /// `TP / (TP + FN)`; 1 with no truth.
    pub fn recall(&self) -> f64 {
        ratio(
            self.true_positives,
            self.true_positives + self.false_negatives,
            1.0,
        )
    }

    /// `2 TP / (2 TP + FP + FN)`, the harmonic mean of precision and recall
    /// whenever both are defined; 1 when there are no spots at all.
    pub fn f1(&self) -> f64 {
        ratio(
            2 * self.true_positives,
            2 * self.true_positives + self.false_positives + self.false_negatives,
            1.0,
        )
    }

    /// `TP / (TP + FP + FN)`; 1 when there are no spots at all.
    pub fn jaccard(&self) -> f64 {
        ratio(
            self.true_positives,
            self.true_positives + self.false_positives + self.false_negatives,
            1.0,
        )
    }

    /// Adds another tile's counts (saturating: counts can come over the
    /// wire from a peer that is not trusted).
    pub fn merge(&mut self, other: &SpotCounts) {
        self.true_positives = self.true_positives.saturating_add(other.true_positives);
        self.false_positives = self.false_positives.saturating_add(other.false_positives);
        self.false_negatives = self.false_negatives.saturating_add(other.false_negatives);
    }
}

/// How far matched spots lie from their truth; merge tiles with
/// [`Localisation::merge`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Localisation {
    /// Matched pairs.
    pub pairs: u64,
    /// Sum of squared distances (pixels²) of the matched pairs.
    pub sum_squared_error: f64,
}

impl Localisation {
    /// The distances of `pairs`, summed in order.
    pub fn of(pairs: &[MatchedPair]) -> Self {
        Localisation {
            pairs: pairs.len() as u64,
            sum_squared_error: pairs.iter().map(|p| p.squared_distance).sum(),
        }
    }

    /// Root mean squared Euclidean distance of the matched pairs, in
    /// pixels; `None` with no matches (a mean over nothing is no distance).
    pub fn rmse(&self) -> Option<f64> {
        (self.pairs > 0).then(|| sqrt(self.sum_squared_error / self.pairs as f64))
    }

    /// Adds another tile's pairs.
    pub fn merge(&mut self, other: &Localisation) {
        self.pairs += other.pairs;
        self.sum_squared_error += other.sum_squared_error;
    }
}

/// Square root by Newton's method, since `core` has none; exact to the last
/// bit or one below it. Negative and NaN inputs give 0.
pub(crate) fn sqrt(value: f64) -> f64 {
    if value.is_nan() || value <= 0.0 {
        return 0.0;
    }
    if value == f64::INFINITY {
        return value;
    }
    // Halving the exponent bits guesses within a factor of two for normal
    // numbers; the first step then lands above the root (AM >= GM), and
    // from there Newton decreases monotonically until it stops improving.
    let mut root = f64::from_bits((value.to_bits() >> 1) + (0x3ff << 51));
    root = 0.5 * (root + value / root);
    loop {
        let next = 0.5 * (root + value / root);
        if next >= root {
            return root;
        }
        root = next;
    }
}

/// A ground-truth emitter: what `eval` scores against and what the
/// protocol's `GroundTruth` carries.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TruthSpot {
    /// Row position in pixels (pixel centres are integers).
    pub y: f32,
    /// Column position in pixels.
    pub x: f32,
    /// Index of its codeword in the codebook; `None` when unknown, which no
    /// gene call can match. Serialised as a `u16` with
    /// [`UNASSIGNED_GENE`](super::decode::UNASSIGNED_GENE) for `None`, the
    /// wire form of gene indices everywhere.
    #[serde(with = "gene_index")]
    pub gene: Option<u16>,
}

/// `Option<u16>` gene indices as the `u16` the wire carries.
mod gene_index {
    use super::super::decode::UNASSIGNED_GENE;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(gene: &Option<u16>, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u16(gene.unwrap_or(UNASSIGNED_GENE))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<u16>, D::Error> {
        let gene = u16::deserialize(deserializer)?;
        Ok((gene != UNASSIGNED_GENE).then_some(gene))
    }
}

/// A detected spot and its gene call.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PredictedSpot {
    /// Row position in pixels.
    pub y: f32,
    /// Column position in pixels.
    pub x: f32,
    /// Index of the called codeword; `None` when unassigned.
    pub gene: Option<u16>,
    /// Whether the called codeword is a blank.
    pub blank: bool,
}

/// Which predicted spots may match which truth spots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchRule {
    /// Any prediction within the radius: detection metrics.
    Position,
    /// Only predictions with a gene call, matched only to truths with the
    /// same gene: gene-aware metrics. Unassigned predictions are not gene
    /// calls and are left out entirely (neither TP nor FP); blank calls are
    /// reported molecules and count as false positives.
    SameGene,
}

#[cfg(feature = "alloc")]
impl MatchRule {
    fn considers(self, predicted: &PredictedSpot) -> bool {
        match self {
            MatchRule::Position => true,
            MatchRule::SameGene => predicted.gene.is_some(),
        }
    }

    fn allows(self, truth: &TruthSpot, predicted: &PredictedSpot) -> bool {
        match self {
            MatchRule::Position => true,
            MatchRule::SameGene => truth.gene.is_some() && truth.gene == predicted.gene,
        }
    }
}

/// One matched pair of spots.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MatchedPair {
    /// Index into the truth spots.
    pub truth: usize,
    /// Index into the predicted spots.
    pub predicted: usize,
    /// Squared distance in pixels², computed in f64.
    pub squared_distance: f64,
}

/// Detection and gene-aware counts of one tile.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SpotEvaluation {
    /// Counts under [`MatchRule::Position`].
    pub detection: SpotCounts,
    /// Counts under [`MatchRule::SameGene`].
    pub genes: SpotCounts,
    /// Distances of the pairs matched under [`MatchRule::Position`].
    pub localisation: Localisation,
}

impl SpotEvaluation {
    /// Adds another tile's counts.
    pub fn merge(&mut self, other: &SpotEvaluation) {
        self.detection.merge(&other.detection);
        self.genes.merge(&other.genes);
        self.localisation.merge(&other.localisation);
    }
}

#[cfg(feature = "alloc")]
fn check_radius(radius: f32) -> Result<f64, MetricsError> {
    if radius.is_finite() && radius >= 0.0 {
        Ok(f64::from(radius))
    } else {
        Err(MetricsError::InvalidRadius(radius))
    }
}

#[cfg(feature = "alloc")]
fn squared_distance(truth: &TruthSpot, predicted: &PredictedSpot) -> f64 {
    let dy = f64::from(truth.y) - f64::from(predicted.y);
    let dx = f64::from(truth.x) - f64::from(predicted.x);
    dy * dy + dx * dx
}

/// Matches predicted to truth spots one to one within `radius` pixels
/// (inclusive) under `rule`; pairs come sorted by truth index.
///
/// The matching has maximum cardinality: no other one-to-one matching
/// within the radius has more pairs. It starts from the greedy matching
/// (candidate pairs by ascending distance, ties by truth then prediction
/// index), which alone can miss pairs when a close pair blocks two
/// farther ones, and grows it with augmenting paths (Kuhn's algorithm,
/// shortest edges tried first) to the maximum. Augmenting never unmatches a
/// spot, so short greedy pairs mostly survive, but the total distance is not
/// guaranteed minimal. Spots with a non-finite coordinate match nothing.
/// Candidates are found by a sweep over predictions sorted by row, so the
/// cost is near linear for spots a few pixels apart.
#[cfg(feature = "alloc")]
pub fn match_spots(
    truth: &[TruthSpot],
    predicted: &[PredictedSpot],
    radius: f32,
    rule: MatchRule,
) -> Result<Vec<MatchedPair>, MetricsError> {
    let radius = check_radius(radius)?;
    let finite = |y: f32, x: f32| y.is_finite() && x.is_finite();

    let mut by_row: Vec<usize> = (0..predicted.len())
        .filter(|&j| rule.considers(&predicted[j]) && finite(predicted[j].y, predicted[j].x))
        .collect();
    by_row.sort_by(|&a, &b| predicted[a].y.total_cmp(&predicted[b].y).then(a.cmp(&b)));

    let mut candidates: Vec<MatchedPair> = Vec::new();
    for (i, t) in truth.iter().enumerate() {
        if !finite(t.y, t.x) {
            continue;
        }
        let (low, high) = (f64::from(t.y) - radius, f64::from(t.y) + radius);
        let first = by_row.partition_point(|&j| f64::from(predicted[j].y) < low);
        for &j in by_row[first..]
            .iter()
            .take_while(|&&j| f64::from(predicted[j].y) <= high)
        {
            let squared_distance = squared_distance(t, &predicted[j]);
            if squared_distance <= radius * radius && rule.allows(t, &predicted[j]) {
                candidates.push(MatchedPair {
                    truth: i,
                    predicted: j,
                    squared_distance,
                });
            }
        }
    }
    candidates.sort_by(|a, b| {
        a.squared_distance
            .total_cmp(&b.squared_distance)
            .then(a.truth.cmp(&b.truth))
            .then(a.predicted.cmp(&b.predicted))
    });

    let mut matching = Matching::new(truth.len(), predicted.len());
    for (edge, pair) in candidates.iter().enumerate() {
        if matching.truth_edge[pair.truth].is_none()
            && matching.predicted_truth[pair.predicted].is_none()
        {
            matching.link(pair.truth, pair.predicted, edge);
        }
    }
    matching.augment_to_maximum(&candidates);

    Ok(matching
        .truth_edge
        .iter()
        .filter_map(|edge| edge.map(|e| candidates[e]))
        .collect())
}

/// Detection or gene-aware counts of one tile under `rule`; see
/// [`match_spots`].
#[cfg(feature = "alloc")]
pub fn spot_counts(
    truth: &[TruthSpot],
    predicted: &[PredictedSpot],
    radius: f32,
    rule: MatchRule,
) -> Result<SpotCounts, MetricsError> {
    let pairs = match_spots(truth, predicted, radius, rule)?;
    Ok(counts_of(&pairs, truth, predicted, rule))
}

#[cfg(feature = "alloc")]
fn counts_of(
    pairs: &[MatchedPair],
    truth: &[TruthSpot],
    predicted: &[PredictedSpot],
    rule: MatchRule,
) -> SpotCounts {
    let considered = predicted.iter().filter(|p| rule.considers(p)).count();
    let matched = pairs.len();
    SpotCounts {
        true_positives: matched as u64,
        false_positives: (considered - matched) as u64,
        false_negatives: (truth.len() - matched) as u64,
    }
}

/// Detection and gene-aware counts of one tile, and the distances of its
/// detection matches.
#[cfg(feature = "alloc")]
pub fn evaluate_spots(
    truth: &[TruthSpot],
    predicted: &[PredictedSpot],
    radius: f32,
) -> Result<SpotEvaluation, MetricsError> {
    let pairs = match_spots(truth, predicted, radius, MatchRule::Position)?;
    Ok(SpotEvaluation {
        detection: counts_of(&pairs, truth, predicted, MatchRule::Position),
        genes: spot_counts(truth, predicted, radius, MatchRule::SameGene)?,
        localisation: Localisation::of(&pairs),
    })
}

/// A one-to-one matching under construction, as indices into a candidate
/// list.
#[cfg(feature = "alloc")]
struct Matching {
    /// The candidate edge each truth spot is matched by.
    truth_edge: Vec<Option<usize>>,
    /// The truth spot each prediction is matched to.
    predicted_truth: Vec<Option<usize>>,
}

#[cfg(feature = "alloc")]
impl Matching {
    fn new(truths: usize, predictions: usize) -> Self {
        Matching {
            truth_edge: alloc::vec![None; truths],
            predicted_truth: alloc::vec![None; predictions],
        }
    }

    fn link(&mut self, truth: usize, predicted: usize, edge: usize) {
        self.truth_edge[truth] = Some(edge);
        self.predicted_truth[predicted] = Some(truth);
    }

    /// Kuhn's algorithm from the current matching: one augmenting-path
    /// search per unmatched truth reaches the maximum, because a vertex
    /// with no augmenting path never gains one as others augment. The depth-
    /// first search keeps an explicit stack so long chains cannot overflow
    /// the call stack.
    fn augment_to_maximum(&mut self, candidates: &[MatchedPair]) {
        // Edges grouped by truth, each group still by ascending distance.
        let mut by_truth: Vec<usize> = (0..candidates.len()).collect();
        by_truth.sort_by_key(|&e| candidates[e].truth);
        let mut group_start = alloc::vec![0usize; self.truth_edge.len() + 1];
        for &e in &by_truth {
            group_start[candidates[e].truth + 1] += 1;
        }
        for i in 1..group_start.len() {
            group_start[i] += group_start[i - 1];
        }

        let mut visited_in_search = alloc::vec![usize::MAX; self.predicted_truth.len()];
        // (truth, next position in its edge group) per level of the path.
        let mut stack: Vec<(usize, usize)> = Vec::new();
        // path_edges[k] is the edge leaving level k of the stack.
        let mut path_edges: Vec<usize> = Vec::new();

        for root in 0..self.truth_edge.len() {
            if self.truth_edge[root].is_some() || group_start[root] == group_start[root + 1] {
                continue;
            }
            stack.clear();
            path_edges.clear();
            stack.push((root, group_start[root]));
            while let Some(top) = stack.last_mut() {
                let (truth, cursor) = *top;
                if cursor == group_start[truth + 1] {
                    stack.pop();
                    path_edges.pop();
                    continue;
                }
                top.1 += 1;
                let edge = by_truth[cursor];
                let predicted = candidates[edge].predicted;
                if visited_in_search[predicted] == root {
                    continue;
                }
                visited_in_search[predicted] = root;
                path_edges.push(edge);
                match self.predicted_truth[predicted] {
                    Some(next_truth) => stack.push((next_truth, group_start[next_truth])),
                    None => {
                        for (&(truth, _), &edge) in stack.iter().zip(&path_edges) {
                            self.link(truth, candidates[edge].predicted, edge);
                        }
                        break;
                    }
                }
            }
        }
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use crate::codebook::BARCODE_BITS;
    use crate::post::decode::tests::{mhd4_codebook, values_of};
    use crate::post::decode::Decoder;
    use crate::post::peaks::find_spots;
    use proptest::prelude::*;
    use std::vec::Vec;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    // ---- pixel metrics ----

    #[test]
    fn pixel_counts_by_hand() {
        let predicted = [200, 100, 0, 255];
        let truth = [1, 1, 0, 0];
        let c = PixelCounts::count(&predicted, &truth, 0.5).unwrap();
        assert_eq!(
            c,
            PixelCounts {
                intersection: 1,
                predicted: 2,
                truth: 2
            }
        );
        assert_eq!(c.union(), 3);
        assert_eq!(c.recall(), Some(0.5));
        assert!(close(c.jaccard(), 1.0 / 3.0));
    }

    #[test]
    fn thresholds_are_strict_like_the_original() {
        // 127/255 < 0.5 < 128/255 and 229/255 < 0.9 < 230/255.
        assert_eq!(value_cutoff(0.5), Ok(127));
        assert_eq!(value_cutoff(0.9), Ok(229));
        assert_eq!(value_cutoff(1.0), Ok(255));
        assert_eq!(value_cutoff(0.0), Ok(0));
        let c = PixelCounts::count(&[229, 230], &[1, 1], BIT_PIXEL_THRESHOLD).unwrap();
        assert_eq!(c.intersection, 1);
        assert!(value_cutoff(f32::NAN).is_err());
        assert!(value_cutoff(1.5).is_err());
        assert!(value_cutoff(-0.1).is_err());
    }

    #[test]
    fn pixel_metrics_with_empty_truth_or_prediction() {
        let both_empty = PixelCounts::count(&[0, 0], &[0, 0], 0.5).unwrap();
        assert_eq!((both_empty.recall(), both_empty.jaccard()), (None, 1.0));
        let no_truth = PixelCounts::count(&[255, 0], &[0, 0], 0.5).unwrap();
        assert_eq!((no_truth.recall(), no_truth.jaccard()), (None, 0.0));
        let no_prediction = PixelCounts::count(&[0, 0], &[1, 0], 0.5).unwrap();
        assert_eq!(
            (no_prediction.recall(), no_prediction.jaccard()),
            (Some(0.0), 0.0)
        );
        let empty_tile = PixelCounts::count(&[], &[], 0.5).unwrap();
        assert_eq!((empty_tile.recall(), empty_tile.jaccard()), (None, 1.0));
    }

    #[test]
    fn pixel_metrics_average_over_tiles() {
        let mut m = PixelMetrics::default();
        assert_eq!((m.recall(), m.jaccard(), m.tiles()), (1.0, 1.0, 0));
        // Tile 1: recall 1/2, Jaccard 1/3.
        m.add_tile(&[200, 100, 0, 255], &[1, 1, 0, 0], 0.5).unwrap();
        // Tile 2: no truth, one false pixel: recall left out, Jaccard 0.
        m.add_tile(&[255, 0], &[0, 0], 0.5).unwrap();
        // Tile 3: perfect: recall 1, Jaccard 1.
        m.add_tile(&[255, 0], &[255, 0], 0.5).unwrap();
        assert_eq!((m.tiles(), m.tiles_with_truth()), (3, 2));
        assert!(close(m.recall(), (0.5 + 1.0) / 2.0));
        assert!(close(m.jaccard(), (1.0 / 3.0 + 0.0 + 1.0) / 3.0));
        assert_eq!(
            m.pooled(),
            PixelCounts {
                intersection: 2,
                predicted: 4,
                truth: 3
            }
        );

        let mut split = PixelMetrics::default();
        split
            .add_tile(&[200, 100, 0, 255], &[1, 1, 0, 0], 0.5)
            .unwrap();
        let mut rest = PixelMetrics::default();
        rest.add_tile(&[255, 0], &[0, 0], 0.5).unwrap();
        rest.add_tile(&[255, 0], &[255, 0], 0.5).unwrap();
        split.merge(&rest);
        assert_eq!(split.pooled(), m.pooled());
        assert!(close(split.recall(), m.recall()) && close(split.jaccard(), m.jaccard()));

        assert!(m.add_tile(&[0], &[0, 0], 0.5).is_err());
        assert_eq!(m.tiles(), 3);
    }

    // ---- spot counts ----

    #[test]
    fn spot_ratios_by_hand() {
        let c = SpotCounts {
            true_positives: 3,
            false_positives: 1,
            false_negatives: 2,
        };
        assert!(close(c.precision(), 0.75));
        assert!(close(c.recall(), 0.6));
        assert!(close(c.f1(), 6.0 / 9.0));
        assert!(close(c.f1(), 2.0 * 0.75 * 0.6 / (0.75 + 0.6)));
        assert!(close(c.jaccard(), 0.5));
        let l = Localisation {
            pairs: 3,
            sum_squared_error: 0.75,
        };
        assert!(close(l.rmse().unwrap(), 0.5));
    }

    #[test]
    fn spot_ratios_of_empty_sets_are_never_nan() {
        let nothing = SpotCounts::default();
        assert_eq!(
            (
                nothing.precision(),
                nothing.recall(),
                nothing.f1(),
                nothing.jaccard(),
                Localisation::default().rmse()
            ),
            (1.0, 1.0, 1.0, 1.0, None)
        );
        let only_truth = SpotCounts {
            false_negatives: 4,
            ..SpotCounts::default()
        };
        assert_eq!(
            (
                only_truth.precision(),
                only_truth.recall(),
                only_truth.f1(),
                only_truth.jaccard()
            ),
            (1.0, 0.0, 0.0, 0.0)
        );
        let only_predictions = SpotCounts {
            false_positives: 4,
            ..SpotCounts::default()
        };
        assert_eq!(
            (
                only_predictions.precision(),
                only_predictions.recall(),
                only_predictions.f1()
            ),
            (0.0, 1.0, 0.0)
        );
    }

    #[test]
    fn newton_sqrt_matches_std() {
        for &v in &[0.0, 1e-300, 5e-324, 0.25, 2.0, 1.325, 9.0, 1e300, f64::MAX] {
            let (ours, std) = (sqrt(v), v.sqrt());
            assert!((ours - std).abs() <= std * 2.3e-16, "{v}: {ours} vs {std}");
        }
        assert_eq!(sqrt(-1.0), 0.0);
        assert_eq!(sqrt(f64::NAN), 0.0);
        assert_eq!(sqrt(f64::INFINITY), f64::INFINITY);
    }

    // ---- matching ----

    fn truth_at(points: &[(f32, f32, u16)]) -> Vec<TruthSpot> {
        points
            .iter()
            .map(|&(y, x, g)| TruthSpot {
                y,
                x,
                gene: Some(g),
            })
            .collect()
    }

    fn predicted_at(points: &[(f32, f32, Option<u16>)]) -> Vec<PredictedSpot> {
        points
            .iter()
            .map(|&(y, x, gene)| PredictedSpot {
                y,
                x,
                gene,
                blank: false,
            })
            .collect()
    }

    #[test]
    fn matching_beats_greedy_where_a_close_pair_blocks_two() {
        // Greedy takes T0-P0 (0.9) and leaves T1 and P1 unmatched; the
        // maximum matching pairs T0-P1 (1.2) and T1-P0 (1.1).
        let truth = truth_at(&[(0.0, 0.0, 1), (0.0, 2.0, 2)]);
        let predicted = predicted_at(&[(0.0, 0.9, Some(2)), (0.0, -1.2, Some(1))]);
        let pairs = match_spots(&truth, &predicted, 1.5, MatchRule::Position).unwrap();
        let links: Vec<(usize, usize)> = pairs.iter().map(|p| (p.truth, p.predicted)).collect();
        assert_eq!(links, [(0, 1), (1, 0)]);

        let counts = spot_counts(&truth, &predicted, 1.5, MatchRule::Position).unwrap();
        assert_eq!(
            (
                counts.true_positives,
                counts.false_positives,
                counts.false_negatives
            ),
            (2, 0, 0)
        );
        let expected_rmse = ((1.2f64 * 1.2 + 1.1 * 1.1) / 2.0).sqrt();
        let rmse = Localisation::of(&pairs).rmse().unwrap();
        assert!((rmse - expected_rmse).abs() < 1e-6);
        let e = evaluate_spots(&truth, &predicted, 1.5).unwrap();
        assert_eq!(e.localisation, Localisation::of(&pairs));
    }

    #[test]
    fn radius_is_inclusive_and_checked() {
        let truth = truth_at(&[(0.0, 0.0, 0)]);
        let predicted = predicted_at(&[(0.0, 1.5, None)]);
        assert_eq!(
            match_spots(&truth, &predicted, 1.5, MatchRule::Position)
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            match_spots(&truth, &predicted, 1.49, MatchRule::Position)
                .unwrap()
                .len(),
            0
        );
        for bad in [-1.0, f32::NAN, f32::INFINITY] {
            assert!(match_spots(&truth, &predicted, bad, MatchRule::Position).is_err());
        }
    }

    #[test]
    fn empty_sides_give_only_misses_or_false_alarms() {
        let truth = truth_at(&[(1.0, 1.0, 0), (5.0, 5.0, 1)]);
        let predicted = predicted_at(&[(1.0, 1.0, Some(0))]);
        let misses = spot_counts(&truth, &[], 1.5, MatchRule::Position).unwrap();
        assert_eq!(
            (
                misses.true_positives,
                misses.false_positives,
                misses.false_negatives
            ),
            (0, 0, 2)
        );
        assert_eq!(
            (misses.precision(), misses.recall(), misses.f1()),
            (1.0, 0.0, 0.0)
        );
        let alarms = spot_counts(&[], &predicted, 1.5, MatchRule::Position).unwrap();
        assert_eq!(
            (
                alarms.true_positives,
                alarms.false_positives,
                alarms.false_negatives
            ),
            (0, 1, 0)
        );
        let nothing = evaluate_spots(&[], &[], 1.5).unwrap();
        assert_eq!(nothing.detection.f1(), 1.0);
        assert_eq!(nothing.genes.jaccard(), 1.0);
    }

    #[test]
    fn gene_aware_matching_counts_only_equal_genes() {
        let truth = truth_at(&[(0.0, 0.0, 1), (10.0, 10.0, 2), (20.0, 20.0, 3)]);
        let predicted = [
            // Right gene, 0.5 px off.
            PredictedSpot {
                y: 0.0,
                x: 0.5,
                gene: Some(1),
                blank: false,
            },
            // Right place, wrong gene.
            PredictedSpot {
                y: 10.0,
                x: 10.0,
                gene: Some(7),
                blank: false,
            },
            // Right place, unassigned: no gene claim.
            PredictedSpot {
                y: 20.0,
                x: 20.0,
                gene: None,
                blank: false,
            },
            // A blank call far from everything.
            PredictedSpot {
                y: 30.0,
                x: 30.0,
                gene: Some(139),
                blank: true,
            },
        ];
        let e = evaluate_spots(&truth, &predicted, 1.5).unwrap();
        let d = e.detection;
        assert_eq!(
            (d.true_positives, d.false_positives, d.false_negatives),
            (3, 1, 0)
        );
        let g = e.genes;
        assert_eq!(
            (g.true_positives, g.false_positives, g.false_negatives),
            (1, 2, 2)
        );
        assert!(close(g.f1(), 2.0 / 6.0));
        let gene_pairs = match_spots(&truth, &predicted, 1.5, MatchRule::SameGene).unwrap();
        assert!(close(Localisation::of(&gene_pairs).rmse().unwrap(), 0.5));

        // A wrong-gene prediction must not block a right-gene one nearby.
        let truth = truth_at(&[(0.0, 0.0, 4)]);
        let predicted = predicted_at(&[(0.0, 0.1, Some(5)), (0.0, 1.0, Some(4))]);
        let g = spot_counts(&truth, &predicted, 1.5, MatchRule::SameGene).unwrap();
        assert_eq!((g.true_positives, g.false_positives), (1, 1));

        // Unknown truth genes never match.
        let unknown = [TruthSpot {
            y: 0.0,
            x: 0.0,
            gene: None,
        }];
        let g = spot_counts(&unknown, &predicted, 1.5, MatchRule::SameGene).unwrap();
        assert_eq!(g.true_positives, 0);
    }

    #[test]
    fn non_finite_spots_match_nothing_but_still_count() {
        let truth = [
            TruthSpot {
                y: f32::NAN,
                x: 0.0,
                gene: Some(0),
            },
            TruthSpot {
                y: 0.0,
                x: 0.0,
                gene: Some(0),
            },
        ];
        let predicted = predicted_at(&[
            (f32::INFINITY, 0.0, Some(0)),
            (0.0, 0.0, Some(0)),
            (-0.0, f32::NAN, None),
        ]);
        let c = spot_counts(&truth, &predicted, 1.0, MatchRule::Position).unwrap();
        assert_eq!(
            (c.true_positives, c.false_positives, c.false_negatives),
            (1, 2, 1)
        );
        assert!(!c.f1().is_nan());
    }

    /// Largest one-to-one matching by trying every subset of predictions
    /// for each truth (tiny inputs only).
    fn brute_force_maximum(truth: &[TruthSpot], predicted: &[PredictedSpot], radius: f32) -> usize {
        fn best(
            i: usize,
            used: u32,
            truth: &[TruthSpot],
            predicted: &[PredictedSpot],
            r2: f64,
        ) -> usize {
            if i == truth.len() {
                return 0;
            }
            let mut result = best(i + 1, used, truth, predicted, r2);
            for (j, p) in predicted.iter().enumerate() {
                if used & (1 << j) == 0 && squared_distance(&truth[i], p) <= r2 {
                    result = result.max(1 + best(i + 1, used | (1 << j), truth, predicted, r2));
                }
            }
            result
        }
        best(
            0,
            0,
            truth,
            predicted,
            f64::from(radius) * f64::from(radius),
        )
    }

    fn spots_strategy(max: usize) -> impl Strategy<Value = Vec<(f32, f32)>> {
        proptest::collection::vec((0.0f32..6.0, 0.0f32..6.0), 0..=max)
    }

    proptest! {
        #[test]
        fn matching_is_maximum_one_to_one_symmetric_and_bounded(
            t in spots_strategy(7),
            p in spots_strategy(7),
            radius in 0.0f32..3.0,
        ) {
            let truth: Vec<TruthSpot> = t.iter().map(|&(y, x)| TruthSpot { y, x, gene: Some(0) }).collect();
            let predicted: Vec<PredictedSpot> = p.iter().map(|&(y, x)| PredictedSpot { y, x, gene: Some(0), blank: false }).collect();
            let pairs = match_spots(&truth, &predicted, radius, MatchRule::Position).unwrap();

            let mut seen_truth = std::collections::BTreeSet::new();
            let mut seen_predicted = std::collections::BTreeSet::new();
            for pair in &pairs {
                prop_assert!(seen_truth.insert(pair.truth));
                prop_assert!(seen_predicted.insert(pair.predicted));
                prop_assert!(pair.squared_distance <= f64::from(radius) * f64::from(radius));
            }
            prop_assert_eq!(pairs.len(), brute_force_maximum(&truth, &predicted, radius));

            // Swapping the roles of truth and prediction swaps FP and FN.
            let swapped_truth: Vec<TruthSpot> = p.iter().map(|&(y, x)| TruthSpot { y, x, gene: Some(0) }).collect();
            let swapped_predicted: Vec<PredictedSpot> = t.iter().map(|&(y, x)| PredictedSpot { y, x, gene: Some(0), blank: false }).collect();
            let forward = spot_counts(&truth, &predicted, radius, MatchRule::Position).unwrap();
            let backward = spot_counts(&swapped_truth, &swapped_predicted, radius, MatchRule::Position).unwrap();
            prop_assert_eq!(forward.true_positives, backward.true_positives);
            prop_assert_eq!(forward.false_positives, backward.false_negatives);
            prop_assert_eq!(forward.false_negatives, backward.false_positives);
            prop_assert!(close(forward.f1(), backward.f1()));
            prop_assert!(close(forward.jaccard(), backward.jaccard()));

            for value in [forward.precision(), forward.recall(), forward.f1(), forward.jaccard()] {
                prop_assert!((0.0..=1.0).contains(&value));
            }
            prop_assert!(forward.jaccard() <= forward.f1());
            if let Some(rmse) = Localisation::of(&pairs).rmse() {
                prop_assert!(rmse <= f64::from(radius) + 1e-9);
            }
        }

        #[test]
        fn pixel_metrics_are_bounded(
            tile in proptest::collection::vec((any::<u8>(), 0u8..2), 0..64),
            threshold in 0.0f32..=1.0,
        ) {
            let (predicted, truth): (Vec<u8>, Vec<u8>) = tile.into_iter().unzip();
            let c = PixelCounts::count(&predicted, &truth, threshold).unwrap();
            prop_assert!(c.intersection <= c.predicted.min(c.truth));
            prop_assert!((0.0..=1.0).contains(&c.jaccard()));
            if let Some(recall) = c.recall() {
                prop_assert!((0.0..=1.0).contains(&recall));
                prop_assert!(c.jaccard() <= recall);
            }
        }
    }

    // ---- end to end: oracle maps -> peaks -> decode -> metrics ----

    /// splitmix64: a small deterministic generator for test scenes.
    struct SplitMix(u64);

    impl SplitMix {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn unit(&mut self) -> f32 {
            (self.next() >> 40) as f32 / (1u64 << 24) as f32
        }
    }

    struct Scene {
        height: usize,
        width: usize,
        position: Vec<u8>,
        bits: Vec<u8>,
        truth: Vec<TruthSpot>,
    }

    /// Renders spots at random sub-pixel positions, at least 4 px apart,
    /// with random coding codewords: a Gaussian blob in the position map
    /// and each bit's value (230 on, 20 off) over the 3 x 3 pixels around
    /// the spot. With `flip_one_bit`, one random bit per spot is inverted.
    fn render_scene(rng: &mut SplitMix, book: &[u16], coding: usize, flip_one_bit: bool) -> Scene {
        let (height, width) = (64usize, 64usize);
        let plane = height * width;
        let mut position = std::vec![0u8; plane];
        let mut bits = std::vec![20u8; BARCODE_BITS * plane];
        let mut truth: Vec<TruthSpot> = Vec::new();
        for _ in 0..2000 {
            if truth.len() == 120 {
                break;
            }
            let y = 2.0 + rng.unit() * (height as f32 - 5.0);
            let x = 2.0 + rng.unit() * (width as f32 - 5.0);
            if truth
                .iter()
                .any(|t| (t.y - y).powi(2) + (t.x - x).powi(2) < 16.0)
            {
                continue;
            }
            let gene = rng.below(coding);
            truth.push(TruthSpot {
                y,
                x,
                gene: Some(gene as u16),
            });

            let mut word = book[gene];
            if flip_one_bit {
                word ^= 1 << rng.below(BARCODE_BITS);
            }
            let (row, col) = (y.round() as usize, x.round() as usize);
            for r in row - 1..=row + 1 {
                for c in col - 1..=col + 1 {
                    let (dy, dx) = (r as f32 - y, c as f32 - x);
                    let blob = 255.0 * (-(dy * dy + dx * dx) / (2.0 * 0.6 * 0.6)).exp();
                    let cell = &mut position[r * width + c];
                    *cell = (*cell).max(blob.round() as u8);
                    let values = values_of(word, 230, 20);
                    for (b, &v) in values.iter().enumerate() {
                        bits[b * plane + r * width + c] = v;
                    }
                }
            }
        }
        Scene {
            height,
            width,
            position,
            bits,
            truth,
        }
    }

    fn detect_and_decode(scene: &Scene, decoder: &Decoder<'_>) -> Vec<PredictedSpot> {
        let mut predicted = Vec::new();
        find_spots(&scene.position, scene.height, scene.width, 128, |peak| {
            let decoded = decoder
                .decode_at(
                    &scene.bits,
                    scene.height,
                    scene.width,
                    peak.row.into(),
                    peak.col.into(),
                )
                .unwrap();
            predicted.push(PredictedSpot {
                y: peak.y(),
                x: peak.x(),
                gene: decoded.call.map(|c| c.codeword),
                blank: decoded.call.is_some_and(|c| c.blank),
            });
        })
        .unwrap();
        predicted
    }

    fn recovered_genes(flip_one_bit: bool) -> SpotEvaluation {
        let book = mhd4_codebook();
        let coding = 130;
        let blank: Vec<bool> = (0..book.len()).map(|i| i >= coding).collect();
        let decoder = Decoder::new(&book, &blank).unwrap();
        let mut rng = SplitMix(if flip_one_bit { 7 } else { 42 });
        let mut total = SpotEvaluation::default();
        for _ in 0..10 {
            let scene = render_scene(&mut rng, &book, coding, flip_one_bit);
            let predicted = detect_and_decode(&scene, &decoder);
            total.merge(&evaluate_spots(&scene.truth, &predicted, 1.5).unwrap());
        }
        total
    }

    #[test]
    fn oracle_maps_decode_to_the_rendered_genes() {
        let e = recovered_genes(false);
        assert!(e.detection.true_positives > 1000);
        assert!(e.genes.recall() >= 0.99, "{:?}", e);
        assert!(e.genes.precision() >= 0.99, "{:?}", e);
        assert!(e.localisation.rmse().unwrap() < 0.35, "{:?}", e);
    }

    #[test]
    fn oracle_maps_with_one_flipped_bit_per_spot_are_corrected() {
        let e = recovered_genes(true);
        assert!(e.genes.recall() >= 0.99, "{:?}", e);
        assert!(e.genes.precision() >= 0.99, "{:?}", e);
    }
}
