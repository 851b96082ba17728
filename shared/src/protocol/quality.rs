//! Accuracy without ground truth: what a FOV's calls say about themselves.
//!
//! Real data comes without truth, so MERFISH labs judge a run by its blank
//! controls and its calls: how many calls land on blank words, the
//! misidentification rate those imply
//! ([`misidentification_rate`]:
//! blank calls per blank word x coding words / coding calls), the mean
//! confidence of the calls and the share that needed error correction. The
//! device sends one [`Quality`] per FOV and sums them in
//! [`Report::quality`](super::Report::quality).

use serde::{Deserialize, Serialize};

use super::WireSpot;
use crate::post::decode::{misidentification_rate, DecodeCounts};

/// The calls of one FOV, or of a session, against one codebook.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallQuality {
    /// Exact, corrected, blank and unassigned spots.
    pub decoding: DecodeCounts,
    /// Sum of the calls' confidences as the spots carry them (0 ..= 255
    /// each), so sums of FOVs add up exactly.
    pub confidence_sum: u64,
    /// Blank words of the codebook the calls were made against.
    pub blank_words: u16,
    /// Coding (non-blank) words of that codebook.
    pub coding_words: u16,
}

impl CallQuality {
    /// No calls yet, against a codebook of `blank_words` blank and
    /// `coding_words` coding words (both 0 when nothing is decoded).
    pub const fn new(blank_words: u16, coding_words: u16) -> Self {
        CallQuality {
            decoding: DecodeCounts {
                exact: 0,
                corrected: 0,
                blank: 0,
                unassigned: 0,
            },
            confidence_sum: 0,
            blank_words,
            coding_words,
        }
    }

    /// Counts one reported spot whose call is to a blank word when `blank`.
    pub fn record(&mut self, spot: &WireSpot, blank: bool) {
        let counts = &mut self.decoding;
        if !spot.is_assigned() {
            counts.unassigned += 1;
            return;
        }
        if spot.distance == 0 {
            counts.exact += 1;
        } else {
            counts.corrected += 1;
        }
        if blank {
            counts.blank += 1;
        }
        self.confidence_sum += u64::from(spot.confidence);
    }

    /// Adds another FOV's calls. The codebook sizes stay when both agree;
    /// when they differ (the codebook changed mid-session) they become 0,
    /// and with them the pooled misidentification rate, which needs one
    /// codebook.
    pub fn accumulate(&mut self, other: &CallQuality) {
        self.decoding.merge(&other.decoding);
        self.confidence_sum = self.confidence_sum.saturating_add(other.confidence_sum);
        if (self.blank_words, self.coding_words) != (other.blank_words, other.coding_words) {
            (self.blank_words, self.coding_words) = (0, 0);
        }
    }

    /// Calls, blank or not.
    pub fn calls(&self) -> u64 {
        self.decoding.calls()
    }

    /// The blank misidentification rate of the calls
    /// ([`misidentification_rate`]); `None` when it cannot be measured.
    pub fn misidentification_rate(&self) -> Option<f64> {
        misidentification_rate(
            self.decoding.blank,
            self.decoding.coding_calls(),
            usize::from(self.blank_words),
            usize::from(self.coding_words),
        )
    }

    /// Mean confidence of the calls, 0 ..= 1; `None` without calls.
    pub fn mean_confidence(&self) -> Option<f64> {
        let calls = self.calls();
        (calls > 0).then(|| self.confidence_sum as f64 / calls as f64 / 255.0)
    }

    /// Share of the calls that were error-corrected; `None` without calls.
    pub fn corrected_share(&self) -> Option<f64> {
        let calls = self.calls();
        (calls > 0).then(|| self.decoding.corrected as f64 / calls as f64)
    }
}

/// How one FOV's spots decoded; sent for every FOV that succeeds, with or
/// without truth, just before its [`FrameTiming`](super::FrameTiming).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quality {
    /// The FOV.
    pub frame_id: u32,
    /// Its calls.
    pub calls: CallQuality,
}
