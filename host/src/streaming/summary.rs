//! What a stream measured and how it is shown: live on the progress bar
//! and in the final table, with accuracy against the truth when it was
//! sent and, always, the calls' own quality (blank calls, the blank-based
//! misidentification rate, mean confidence, corrected share).

use std::io::{self, Write};

use robofish_device::client::FovResult;
use robofish_shared::post::MATCH_RADIUS;
use robofish_shared::protocol::{
    CallQuality, CodebookInfo, CodebookSource, DetectionCounts, Report,
};

/// What a stream measured.
#[derive(Debug, Default)]
pub struct StreamSummary {
    /// FOVs answered with results.
    pub fovs: usize,
    /// FOVs answered with an error.
    pub failed: usize,
    /// Spots reported.
    pub spots: usize,
    /// Device-side latency per FOV (microseconds).
    pub latencies_us: Vec<u32>,
    /// Pixels streamed (per image).
    pub pixels: u64,
    /// Host wall-clock seconds.
    pub seconds: f64,
    /// Accuracy, when truth was sent.
    pub counts: Option<DetectionCounts>,
    /// How the calls decoded, truth or not.
    pub quality: Option<CallQuality>,
    /// The codebook the device decoded with.
    pub codebook: Option<CodebookInfo>,
    /// Kernel path the device reported.
    pub kernels: String,
    /// Device threads.
    pub threads: u16,
}

impl StreamSummary {
    /// Adds a FOV the device answered with results.
    pub fn add(&mut self, result: &FovResult) {
        self.fovs += 1;
        self.spots += result.spots.len();
        if let Some(t) = result.timing {
            self.latencies_us.push(t.total_us);
        }
        if let Some(c) = result.metrics {
            self.counts
                .get_or_insert_with(DetectionCounts::default)
                .accumulate(&c);
        }
        if let Some(q) = result.quality {
            match &mut self.quality {
                Some(sum) => sum.accumulate(&q),
                None => self.quality = Some(q),
            }
        }
    }

    /// The progress bar's message `seconds` into the stream: spots,
    /// throughput, and the accuracy the calls show without truth.
    pub fn live(&self, seconds: f64) -> String {
        let mut text = format!(
            "{} spots, {:.1} Mpx/s",
            self.spots,
            self.pixels as f64 / seconds.max(1e-9) / 1e6
        );
        if let Some(q) = self.quality.filter(|q| q.calls() > 0) {
            text.push_str(&format!(
                ", misid {}, confidence {}, corrected {}",
                ratio(q.misidentification_rate(), 3),
                ratio(q.mean_confidence(), 2),
                percent(q.corrected_share())
            ));
        }
        if let Some(c) = &self.counts {
            text.push_str(&format!(", F1 {:.3}", c.detection.f1()));
        }
        text
    }
}

fn ratio(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "n/a".into(), |v| format!("{v:.decimals$}"))
}

fn percent(value: Option<f64>) -> String {
    value.map_or_else(|| "n/a".into(), |v| format!("{:.1} %", v * 100.0))
}

fn percentile(sorted: &[u32], q: f64) -> f64 {
    Report::latency_percentile(sorted, q) as f64 / 1000.0
}

/// Writes the final table to `out`.
pub fn print_summary(out: &mut impl Write, device: &str, s: &StreamSummary) -> io::Result<()> {
    let mut lat = s.latencies_us.clone();
    lat.sort_unstable();
    writeln!(
        out,
        "device        {device} (kernels {}, {} threads)",
        s.kernels, s.threads
    )?;
    writeln!(out, "FOVs          {} ok, {} failed", s.fovs, s.failed)?;
    writeln!(out, "spots         {}", s.spots)?;
    if lat.is_empty() {
        writeln!(out, "latency       n/a (no FOV succeeded)")?;
    } else {
        writeln!(
            out,
            "latency       p50 {:.2} ms, p99 {:.2} ms per FOV (device)",
            percentile(&lat, 0.5),
            percentile(&lat, 0.99)
        )?;
    }
    if s.fovs == 0 {
        writeln!(
            out,
            "throughput    n/a (no FOV succeeded; {:.2} s)",
            s.seconds
        )?;
    } else {
        // Over the FOVs that succeeded; the wall clock includes the failed.
        writeln!(
            out,
            "throughput    {:.2} Mpixel/s ({} images x pixels), {:.1} FOVs/min (host wall clock, {:.2} s)",
            s.pixels as f64 / s.seconds.max(1e-9) / 1e6,
            16,
            s.fovs as f64 / s.seconds.max(1e-9) * 60.0,
            s.seconds
        )?;
    }
    if let Some(info) = &s.codebook {
        writeln!(out, "codebook      {}", describe_codebook(info))?;
    }
    if let Some(q) = s
        .quality
        .filter(|_| s.codebook.is_some_and(|c| c.words > 0))
    {
        let d = q.decoding;
        writeln!(
            out,
            "decoding      {} of {} spots called ({} exact, {} corrected = {}), {} blank calls; \
             misidentification {} (blank-based), mean confidence {}",
            q.calls(),
            d.spots(),
            d.exact,
            d.corrected,
            percent(q.corrected_share()),
            d.blank,
            ratio(q.misidentification_rate(), 3),
            ratio(q.mean_confidence(), 3)
        )?;
    }
    if let Some(c) = &s.counts {
        let f = |v: f64| format!("{v:.3}");
        writeln!(
            out,
            "accuracy      precision {}, recall {}, F1 {}, gene accuracy of matches {} (r = {MATCH_RADIUS} px; {} truth, {} called, {} blank calls)",
            f(c.detection.precision()),
            f(c.detection.recall()),
            f(c.detection.f1()),
            f(c.gene_accuracy()),
            c.truth_spots,
            c.called_spots,
            c.blank_calls
        )?;
    }
    Ok(())
}

/// One line about the codebook the device decoded with.
fn describe_codebook(info: &CodebookInfo) -> String {
    let source = match info.source {
        CodebookSource::None => return "none (spots not decoded)".into(),
        CodebookSource::Model => "the model's",
        CodebookSource::Experiment => "the experiment's",
    };
    let distance = info
        .min_distance
        .map_or_else(|| "-".into(), |d| d.to_string());
    let correction = if info.corrects { "on" } else { "off" };
    format!(
        "{source}: {} words, {} blank; minimum distance {distance}, one-bit correction {correction}",
        info.words, info.blank_words
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use robofish_shared::post::DecodeCounts;

    fn quality() -> CallQuality {
        CallQuality {
            decoding: DecodeCounts {
                exact: 75,
                corrected: 25,
                blank: 2,
                unassigned: 20,
            },
            confidence_sum: 100 * 204,
            blank_words: 10,
            coding_words: 130,
        }
    }

    fn summary() -> StreamSummary {
        let mut s = StreamSummary {
            codebook: Some(CodebookInfo {
                source: CodebookSource::Experiment,
                words: 140,
                blank_words: 10,
                min_distance: Some(4),
                corrects: true,
                checksum: 1,
            }),
            seconds: 1.0,
            ..StreamSummary::default()
        };
        for _ in 0..2 {
            s.add(&FovResult {
                spots: Vec::new(),
                quality: Some(quality()),
                ..FovResult::default()
            });
        }
        s
    }

    #[test]
    fn quality_is_shown_live_and_in_the_table_without_truth() {
        let s = summary();
        assert_eq!(s.fovs, 2);
        let live = s.live(1.0);
        // 4 blank calls / 10 blank words x 130 coding words / 196 coding calls.
        assert!(live.contains("misid 0.265"), "{live}");
        assert!(live.contains("confidence 0.80, corrected 25.0 %"), "{live}");
        assert!(!live.contains("F1"), "{live}");
        let mut out = Vec::new();
        print_summary(&mut out, "local", &s).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("codebook      the experiment's: 140 words, 10 blank; minimum distance 4, one-bit correction on"),
            "{text}"
        );
        assert!(
            text.contains("decoding      200 of 240 spots called (150 exact, 50 corrected = 25.0 %), 4 blank calls; misidentification 0.265 (blank-based), mean confidence 0.800"),
            "{text}"
        );
        assert!(!text.contains("accuracy"), "{text}");
    }

    #[test]
    fn nothing_to_estimate_says_so() {
        let mut s = summary();
        s.quality = Some(CallQuality::new(0, 140));
        assert!(!s.live(1.0).contains("misid"), "no calls: nothing to show");
        s.quality = Some(CallQuality {
            blank_words: 0,
            coding_words: 140,
            ..quality()
        });
        assert!(s.live(1.0).contains("misid n/a"));
        s.codebook = Some(robofish_device::codebook::NO_CODEBOOK);
        let mut out = Vec::new();
        print_summary(&mut out, "local", &s).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("codebook      none (spots not decoded)"),
            "{text}"
        );
        assert!(!text.contains("decoding "), "{text}");
    }
}
