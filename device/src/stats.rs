//! The session's running statistics and the `Report` made of them.

use robofish_shared::protocol::{CallQuality, DetectionCounts, FrameStart, Report};

/// Counts over every FOV of the session (across connections).
#[derive(Debug, Default)]
pub(crate) struct Stats {
    frames: u32,
    failed_frames: u32,
    spots: u64,
    pixels: u64,
    latencies_us: Vec<u32>,
    busy_us: u64,
    cumulative: Option<DetectionCounts>,
    quality: Option<CallQuality>,
}

impl Stats {
    /// A FOV answered with an error.
    pub fn failed(&mut self) {
        self.failed_frames += 1;
    }

    /// A FOV answered with `spots` spots decoded as `quality`, `total_us`
    /// after its start.
    pub fn finished(
        &mut self,
        start: &FrameStart,
        spots: usize,
        quality: &CallQuality,
        total_us: u64,
    ) {
        match &mut self.quality {
            Some(sum) => sum.accumulate(quality),
            None => self.quality = Some(*quality),
        }
        self.frames += 1;
        self.spots += spots as u64;
        self.pixels += u64::from(start.width) * u64::from(start.height) * start.images() as u64;
        self.latencies_us.push(saturating_u32(total_us));
        self.busy_us += total_us;
    }

    /// A FOV's accuracy against its truth.
    pub fn metrics(&mut self, counts: &DetectionCounts) {
        self.cumulative
            .get_or_insert_with(DetectionCounts::default)
            .accumulate(counts);
    }

    /// The report of the session so far.
    pub fn report(&self) -> Report {
        let mut latencies = self.latencies_us.clone();
        latencies.sort_unstable();
        Report {
            frames: self.frames,
            failed_frames: self.failed_frames,
            spots: self.spots,
            pixels: self.pixels,
            latency_p50_us: Report::latency_percentile(&latencies, 0.5),
            latency_p99_us: Report::latency_percentile(&latencies, 0.99),
            throughput_pixels_per_s: if self.busy_us == 0 {
                0.0
            } else {
                self.pixels as f64 / (self.busy_us as f64 * 1e-6)
            },
            cumulative: self.cumulative,
            quality: self.quality,
        }
    }
}

/// Microseconds as the wire's `u32`, saturating (71 minutes).
pub(crate) fn saturating_u32(us: u64) -> u32 {
    us.min(u64::from(u32::MAX)) as u32
}
