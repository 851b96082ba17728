//! One FOV being streamed: its bands checked and pushed through the strips
//! as they arrive, spots found as soon as each row's 3x3 neighbourhood is
//! complete, and at `FrameEnd` the messages that answer it.
//!
//! A FOV keeps the model and the codebook it started with: a flash or a
//! new codebook mid-FOV changes neither.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use robofish_shared::input_stage::InputStage;

use robofish_shared::protocol::{
    CallQuality, DetectionCounts, DeviceMessage, FrameEnd, FrameStart, FrameTiming, FrameTracker,
    GroundTruth, Metrics, Quality, RowBand, Spots, TruthSpot, WireSpot,
};

use crate::codebook::ActiveCodebook;
use crate::config::DeviceConfig;
use crate::error::{Error, Result};
use crate::prepared::PreparedModel;
use crate::spots::{call_quality, detection_counts, FoundSpot};
use crate::stats::saturating_u32;
use crate::tiling::{OutputRow, StripRunner};

/// A FOV between its `FrameStart` and its `FrameEnd`.
pub(crate) struct Frame {
    tracker: FrameTracker,
    started: Instant,
    /// The model the FOV started with.
    model: Arc<PreparedModel>,
    /// The codebook its spots decode with; `None` when there is none or
    /// the model reads no barcodes.
    codebook: Option<Arc<ActiveCodebook>>,
    runner: StripRunner,
    /// Received rows not yet pushed, row-interleaved u16.
    pending: Vec<u16>,
    /// The last few finished output rows, for 3x3 peak suppression.
    recent: VecDeque<OutputRow>,
    /// Next row whose peaks are still to be found.
    next_peak_row: usize,
    found: Vec<FoundSpot>,
    truth: Vec<TruthSpot>,
    compute_us: u64,
    decode_us: u64,
}

/// What a FOV's messages are answered with.
pub(crate) struct Answer {
    /// Spots chunks, then Metrics when truth came, then Quality.
    pub messages: Vec<DeviceMessage>,
    /// The FOV's announcement.
    pub start: FrameStart,
    /// Spots found.
    pub spots: usize,
    /// The accuracy, when truth came.
    pub metrics: Option<DetectionCounts>,
    /// How the spots decoded.
    pub quality: CallQuality,
    /// The runner, free for the next FOV of this size.
    pub runner: StripRunner,
    started: Instant,
    receive_us: u64,
    compute_us: u64,
    decode_us: u64,
}

impl Answer {
    /// Microseconds since the FOV's `FrameStart` arrived.
    pub fn elapsed_us(&self) -> u64 {
        self.started.elapsed().as_micros() as u64
    }

    /// The FOV's timing, the last message about it, `total_us` after its
    /// start (taken once the other messages are sent, so it covers them).
    pub fn timing(&self, total_us: u64) -> FrameTiming {
        FrameTiming {
            frame_id: self.start.frame_id,
            receive_us: saturating_u32(self.receive_us),
            compute_us: saturating_u32(self.compute_us),
            decode_us: saturating_u32(self.decode_us),
            total_us: saturating_u32(total_us),
        }
    }
}

/// Bytes a FOV needs on the device beyond the model: the strips' row
/// rings, a batch of pending rows, one output row set per strip ahead of
/// peak finding, and the largest ground truth allowed. Spots found are
/// not counted (they are a small fraction of the pixels).
fn memory_needed(
    model: &PreparedModel,
    start: &FrameStart,
    threads: usize,
    batch_rows: usize,
) -> Result<u64> {
    let (height, width) = (start.height as usize, start.width as usize);
    let rings = StripRunner::planned_bytes(&model.network, height, width, threads)
        .map_err(|e| Error::Unstreamable(Box::new(e)))?;
    let row_values = start.images() * width;
    let pending = (batch_rows.max(1) + 1) * row_values * 2;
    let truth = if start.has_truth {
        robofish_shared::protocol::MAX_TRUTH_SPOTS_PER_FOV * std::mem::size_of::<TruthSpot>()
    } else {
        0
    };
    Ok((rings + pending + truth) as u64)
}

impl Frame {
    /// Opens the FOV `start` announces on `model`, decoding with
    /// `codebook` (the experiment's) or else the model's own, reusing
    /// `spare` when it fits the size.
    pub fn begin(
        start: FrameStart,
        model: Option<&Arc<PreparedModel>>,
        codebook: Option<&Arc<ActiveCodebook>>,
        spare: Option<StripRunner>,
        config: &DeviceConfig,
    ) -> Result<Frame> {
        let threads = config.threads;
        let started = Instant::now();
        let tracker = FrameTracker::begin(start)?;
        let start = tracker.start();
        let model = model.ok_or(Error::NoModel)?;
        if start.images() != model.images() {
            return Err(Error::ImageCount {
                images: start.images(),
                expected: model.images(),
            });
        }
        if start.stats.is_empty()
            && model.network.model().input_stage.kind() == InputStage::PerImage
        {
            return Err(Error::NoImageStats);
        }
        let (height, width) = (start.height as usize, start.width as usize);
        if let Some(limit) = config.max_memory {
            let needs = memory_needed(model, start, threads, config.batch_rows)?;
            if needs > limit {
                return Err(Error::FovTooLarge { needs, limit });
            }
        }
        let mut runner = match spare {
            Some(mut runner) if runner.fits(height, width) => {
                runner.reset();
                runner
            }
            _ => StripRunner::new(model.network.clone(), height, width, threads)
                .map_err(|e| Error::Unstreamable(Box::new(e)))?,
        };
        runner.set_stats(&start.stats);
        let codebook = codebook
            .or(model.codebook.as_ref())
            .filter(|_| model.spots.reads_barcodes())
            .cloned();
        Ok(Frame {
            tracker,
            started,
            model: model.clone(),
            codebook,
            runner,
            pending: Vec::new(),
            recent: VecDeque::new(),
            next_peak_row: 0,
            found: Vec::new(),
            truth: Vec::new(),
            compute_us: 0,
            decode_us: 0,
        })
    }

    /// The FOV's id.
    pub fn frame_id(&self) -> u32 {
        self.tracker.frame_id()
    }

    /// Takes a band and processes every batch of rows it completes.
    pub fn accept_band(&mut self, band: &RowBand<'_>, batch_rows: usize) -> Result<()> {
        self.tracker.accept_band(band)?;
        match self.tracker.start().pixel.bytes_per_pixel() {
            1 => self.pending.extend(band.data.iter().map(|&b| b as u16)),
            _ => self.pending.extend(
                band.data
                    .chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]])),
            ),
        }
        self.process_rows(batch_rows, false)
            .map_err(|e| Error::Inference(Box::new(e)))
    }

    /// Takes a chunk of the FOV's ground truth.
    pub fn accept_truth(&mut self, truth: &GroundTruth) -> Result<()> {
        self.tracker.accept_truth(truth)?;
        self.truth.extend_from_slice(&truth.spots);
        Ok(())
    }

    /// Checks that the FOV is complete, processes its last rows and gives
    /// its answer.
    pub fn finish(mut self, end: &FrameEnd, batch_rows: usize) -> Result<Answer> {
        self.tracker.finish(end)?;
        let receive_us = self.started.elapsed().as_micros() as u64;
        self.process_rows(batch_rows, true)
            .map_err(|e| Error::Inference(Box::new(e)))?;
        let start = self.tracker.start().clone();
        let spots: Vec<WireSpot> = self.found.iter().map(|f| f.spot).collect();
        let mut messages: Vec<DeviceMessage> = Spots::chunked(start.frame_id, &spots)
            .map(DeviceMessage::Spots)
            .collect();
        let metrics = start
            .has_truth
            .then(|| detection_counts(&self.found, &self.truth));
        if let Some(counts) = metrics {
            messages.push(DeviceMessage::Metrics(Metrics {
                frame_id: start.frame_id,
                counts,
            }));
        }
        let empty = self
            .codebook
            .as_ref()
            .map_or(CallQuality::new(0, 0), |c| c.quality());
        let quality = call_quality(&self.found, empty);
        messages.push(DeviceMessage::Quality(Quality {
            frame_id: start.frame_id,
            calls: quality,
        }));
        Ok(Answer {
            messages,
            start,
            spots: spots.len(),
            metrics,
            quality,
            runner: self.runner,
            started: self.started,
            receive_us,
            compute_us: self.compute_us,
            decode_us: self.decode_us,
        })
    }

    /// Pushes pending rows through the strips once a batch has gathered
    /// (all of them when `flush`), then finds and decodes the spots of
    /// every row whose 3x3 neighbourhood is complete.
    fn process_rows(&mut self, batch_rows: usize, flush: bool) -> Result<()> {
        let start = self.tracker.start();
        let row_len = start.images() * start.width as usize;
        let (height, width) = (start.height as usize, start.width as usize);
        if self.pending.is_empty() || (!flush && self.pending.len() < batch_rows.max(1) * row_len) {
            return Ok(());
        }
        let started = Instant::now();
        let rows = self.runner.push_rows(&self.pending)?;
        self.pending.clear();
        self.compute_us += started.elapsed().as_micros() as u64;
        let started = Instant::now();
        for row in rows {
            let last = row.y + 1 == height;
            self.recent.push_back(row);
            // Row p's peaks need rows p - 1 ..= p + 1 (clipped at the edges).
            while self.next_peak_row < height
                && self
                    .recent
                    .back()
                    .is_some_and(|r| r.y > self.next_peak_row || last)
            {
                let p = self.next_peak_row;
                while self.recent.front().is_some_and(|r| r.y + 1 < p) {
                    self.recent.pop_front();
                }
                let around: Vec<&OutputRow> = self
                    .recent
                    .iter()
                    .filter(|r| r.y + 1 >= p && r.y <= p + 1)
                    .collect();
                let found = &mut self.found;
                let codebook = self.codebook.as_ref().map(|c| &c.table);
                self.model
                    .spots
                    .row_spots(codebook, &around, p, width, |spot| found.push(spot))?;
                self.next_peak_row += 1;
            }
        }
        self.decode_us += started.elapsed().as_micros() as u64;
        Ok(())
    }
}
