//! The device side of the protocol: one message in, zero or more out.
//!
//! A [`Device`] holds the loaded model, the FOV being received and the
//! session's statistics. Every FOV gets either its results (Spots chunks,
//! Metrics when truth came, FrameTiming last) or exactly one Error; a bad
//! message never ends the session.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use heapless::String as HString;
use robofish_shared::checksum::crc32;
use robofish_shared::codebook::is_blank_name;
use robofish_shared::engine::Network;
use robofish_shared::kernels::KernelPath;
use robofish_shared::model::{decode_model, model_hash, Model, OutputKind};
use robofish_shared::post::decode::Decoder;
use robofish_shared::post::metrics::{evaluate_spots, PredictedSpot};
use robofish_shared::post::peaks::find_spots_in_rows;
use robofish_shared::post::{MATCH_RADIUS, SPOT_THRESHOLD};
use robofish_shared::protocol::{
    check_version, DetectionCounts, DeviceMessage, ErrorKind, ErrorReport, FrameEnd, FrameStart,
    FrameTiming, FrameTracker, HelloAck, HostMessage, Metrics, ModelInfo, ProtocolError, Report,
    RowBand, Spots, TruthSpot, WireSpot, MAX_ROW_BAND_BYTES, PROTOCOL_VERSION, UNASSIGNED_GENE,
};

use crate::tiling::{OutputRow, StripRunner};

/// Largest model accepted over the wire.
pub const MAX_MODEL_BYTES: u32 = 256 << 20;

/// How the device runs.
#[derive(Clone, Debug)]
pub struct DeviceConfig {
    /// Worker threads (one column strip each).
    pub threads: usize,
    /// Rows gathered before they are pushed through the strips (fewer
    /// thread hand-offs; latency of one batch).
    pub batch_rows: usize,
    /// Where flashed models are stored (written atomically); `None` keeps
    /// them in memory only.
    pub model_store: Option<PathBuf>,
    /// Kernel path for the engine.
    pub kernels: KernelPath,
}

impl Default for DeviceConfig {
    fn default() -> Self {
        DeviceConfig {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            batch_rows: 16,
            model_store: None,
            kernels: KernelPath::detect(),
        }
    }
}

/// What the server loop should do after a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Keep serving this connection.
    Continue,
    /// The host asked to end the session.
    Shutdown,
}

struct LoadedModel {
    network: Arc<Network>,
    info: ModelInfo,
    codewords: Vec<u16>,
    blank: Vec<bool>,
}

struct Upload {
    expected_len: u32,
    hash: u64,
    bytes: Vec<u8>,
}

struct Frame {
    tracker: FrameTracker,
    started: Instant,
    /// Set after the first error: the rest of the FOV is ignored.
    failed: bool,
    runner: Option<StripRunner>,
    /// Received rows not yet pushed, row-interleaved u16.
    pending: Vec<u16>,
    /// The last few finished output rows, for 3x3 peak suppression.
    recent: VecDeque<OutputRow>,
    /// Next row whose peaks are still to be found.
    next_peak_row: usize,
    spots: Vec<WireSpot>,
    blank_flags: Vec<bool>,
    truth: Vec<TruthSpot>,
    compute_us: u64,
    decode_us: u64,
}

#[derive(Default)]
struct Stats {
    frames: u32,
    failed_frames: u32,
    spots: u64,
    pixels: u64,
    latencies_us: Vec<u32>,
    busy_us: u64,
    cumulative: Option<DetectionCounts>,
}

/// The device's state across one or more connections.
pub struct Device {
    config: DeviceConfig,
    /// The last FOV's runner (row rings), reused while sizes repeat.
    spare_runner: Option<StripRunner>,
    model: Option<LoadedModel>,
    upload: Option<Upload>,
    frame: Option<Frame>,
    stats: Stats,
}

fn hstring<const N: usize>(text: &str) -> HString<N> {
    let mut s = HString::new();
    for c in text.chars() {
        if s.push(c).is_err() {
            break;
        }
    }
    s
}

fn error(frame_id: Option<u32>, kind: ErrorKind, message: &str) -> DeviceMessage {
    DeviceMessage::Error(ErrorReport::new(frame_id, kind, message))
}

impl Device {
    /// A device with no model yet.
    pub fn new(config: DeviceConfig) -> Device {
        Device {
            config,
            spare_runner: None,
            model: None,
            upload: None,
            frame: None,
            stats: Stats::default(),
        }
    }

    /// Loads and prepares a model file's bytes.
    pub fn load_model(&mut self, bytes: &[u8]) -> Result<ModelInfo> {
        let model = decode_model(bytes)?;
        let loaded = prepare(model, bytes, self.config.kernels)?;
        let info = loaded.info.clone();
        self.model = Some(loaded);
        self.spare_runner = None;
        Ok(info)
    }

    /// The loaded model's identity.
    pub fn model_info(&self) -> Option<&ModelInfo> {
        self.model.as_ref().map(|m| &m.info)
    }

    /// Forgets a half-received FOV or upload (the connection dropped).
    pub fn connection_lost(&mut self) {
        if self.frame.take().is_some() {
            self.stats.failed_frames += 1;
        }
        self.upload = None;
    }

    /// Handles one message, sending replies through `send`.
    pub fn handle(
        &mut self,
        message: HostMessage<'_>,
        send: &mut dyn FnMut(DeviceMessage),
    ) -> Control {
        match message {
            HostMessage::Hello(hello) => {
                if let Err(e) = check_version(hello.version) {
                    send(DeviceMessage::Error(ErrorReport::from_error(&e)));
                } else {
                    send(DeviceMessage::HelloAck(self.hello_ack()));
                }
            }
            HostMessage::ModelBegin(begin) => {
                if begin.total_len == 0 || begin.total_len > MAX_MODEL_BYTES {
                    send(error(
                        None,
                        ErrorKind::Oversized,
                        "model size must be 1 byte .. 256 MiB",
                    ));
                } else {
                    self.upload = Some(Upload {
                        expected_len: begin.total_len,
                        hash: begin.hash,
                        bytes: Vec::with_capacity(begin.total_len as usize),
                    });
                }
            }
            HostMessage::ModelChunk(chunk) => {
                let Some(upload) = self.upload.as_mut() else {
                    send(error(
                        None,
                        ErrorKind::OutOfOrder,
                        "model chunk without ModelBegin",
                    ));
                    return Control::Continue;
                };
                if let Err(e) = chunk.validate() {
                    self.upload = None;
                    send(DeviceMessage::Error(ErrorReport::from_error(&e)));
                } else if chunk.offset as usize != upload.bytes.len()
                    || upload.bytes.len() + chunk.bytes.len() > upload.expected_len as usize
                {
                    self.upload = None;
                    send(error(
                        None,
                        ErrorKind::OutOfOrder,
                        "model chunk at the wrong offset or past the announced size",
                    ));
                } else {
                    upload.bytes.extend_from_slice(chunk.bytes);
                }
            }
            HostMessage::ModelEnd(end) => match self.upload.take() {
                None => send(error(
                    None,
                    ErrorKind::OutOfOrder,
                    "ModelEnd without ModelBegin",
                )),
                Some(upload) => send(self.finish_upload(upload, end.crc32)),
            },
            HostMessage::FrameStart(start) => {
                if let Some(old) = self.frame.take() {
                    self.stats.failed_frames += 1;
                    send(error(
                        Some(old.tracker.frame_id()),
                        ErrorKind::Truncated,
                        "a new FrameStart arrived before this frame's FrameEnd",
                    ));
                }
                self.begin_frame(start, send);
            }
            HostMessage::RowBand(band) => self.accept_band(band, send),
            HostMessage::GroundTruth(truth) => {
                if let Some(frame) = self.frame.as_mut().filter(|f| !f.failed) {
                    match frame.tracker.accept_truth(&truth) {
                        Ok(()) => frame.truth.extend_from_slice(&truth.spots),
                        Err(e) => fail(frame, &mut self.stats, &e, send),
                    }
                } else if self.frame.is_none() {
                    send(error(
                        Some(truth.frame_id),
                        ErrorKind::OutOfOrder,
                        "ground truth outside a frame",
                    ));
                }
            }
            HostMessage::FrameEnd(end) => self.end_frame(end, send),
            HostMessage::ReportRequest => send(DeviceMessage::Report(self.report())),
            HostMessage::Shutdown => {
                send(DeviceMessage::ShutdownAck);
                return Control::Shutdown;
            }
        }
        Control::Continue
    }

    fn hello_ack(&self) -> HelloAck {
        HelloAck {
            version: PROTOCOL_VERSION,
            kernel_path: hstring(self.config.kernels.name()),
            model: self.model_info().cloned(),
            threads: self.config.threads as u16,
            free_memory: free_memory(),
            max_row_band_bytes: MAX_ROW_BAND_BYTES as u32,
        }
    }

    fn finish_upload(&mut self, upload: Upload, crc: u32) -> DeviceMessage {
        if upload.bytes.len() != upload.expected_len as usize {
            return error(
                None,
                ErrorKind::Truncated,
                "model upload ended before all bytes arrived; old model kept",
            );
        }
        if crc32(&upload.bytes) != crc {
            return error(
                None,
                ErrorKind::BadChecksum,
                "model upload CRC-32 mismatch; old model kept",
            );
        }
        if model_hash(&upload.bytes) != upload.hash {
            return error(
                None,
                ErrorKind::ModelHashMismatch,
                "uploaded model's hash differs from the announced one; old model kept",
            );
        }
        let loaded = match decode_model(&upload.bytes)
            .map_err(anyhow::Error::from)
            .and_then(|m| prepare(m, &upload.bytes, self.config.kernels))
        {
            Ok(l) => l,
            Err(e) => {
                return error(
                    None,
                    ErrorKind::Malformed,
                    &format!("model refused, old model kept: {e:#}"),
                )
            }
        };
        if let Some(path) = &self.config.model_store {
            if let Err(e) = store_atomically(path, &upload.bytes) {
                return error(
                    None,
                    ErrorKind::Internal,
                    &format!("model not stored, old model kept: {e:#}"),
                );
            }
        }
        let info = loaded.info.clone();
        self.model = Some(loaded);
        self.spare_runner = None;
        DeviceMessage::ModelAccepted(info)
    }

    fn begin_frame(&mut self, start: FrameStart, send: &mut dyn FnMut(DeviceMessage)) {
        let tracker = match FrameTracker::begin(start) {
            Ok(t) => t,
            Err(e) => {
                self.stats.failed_frames += 1;
                send(DeviceMessage::Error(ErrorReport::from_error(&e)));
                return;
            }
        };
        let mut frame = Frame {
            tracker,
            started: Instant::now(),
            failed: false,
            runner: None,
            pending: Vec::new(),
            recent: VecDeque::new(),
            next_peak_row: 0,
            spots: Vec::new(),
            blank_flags: Vec::new(),
            truth: Vec::new(),
            compute_us: 0,
            decode_us: 0,
        };
        let setup = match &self.model {
            None => Err((
                ErrorKind::NoModel,
                "no model is loaded; flash one first".to_string(),
            )),
            Some(model)
                if start.images() != model.network.model().graph.input_channels as usize =>
            {
                Err((
                    ErrorKind::WrongDimensions,
                    format!(
                        "frame has {} images, the model expects {}",
                        start.images(),
                        model.network.model().graph.input_channels
                    ),
                ))
            }
            Some(model) => match self.spare_runner.take() {
                Some(mut runner) if runner.fits(start.height as usize, start.width as usize) => {
                    runner.reset();
                    Ok(runner)
                }
                _ => StripRunner::new(
                    model.network.clone(),
                    start.height as usize,
                    start.width as usize,
                    self.config.threads,
                )
                .map_err(|e| (ErrorKind::WrongDimensions, format!("{e:#}"))),
            },
        };
        match setup {
            Ok(runner) => frame.runner = Some(runner),
            Err((kind, message)) => {
                frame.failed = true;
                self.stats.failed_frames += 1;
                send(error(Some(start.frame_id), kind, &message));
            }
        }
        self.frame = Some(frame);
    }

    fn accept_band(&mut self, band: RowBand<'_>, send: &mut dyn FnMut(DeviceMessage)) {
        let Some(frame) = self.frame.as_mut() else {
            send(error(
                Some(band.frame_id),
                ErrorKind::OutOfOrder,
                "row band outside a frame",
            ));
            return;
        };
        if frame.failed {
            return;
        }
        if let Err(e) = frame.tracker.accept_band(&band) {
            fail(frame, &mut self.stats, &e, send);
            return;
        }
        match frame.tracker.start().pixel.bytes_per_pixel() {
            1 => frame.pending.extend(band.data.iter().map(|&b| b as u16)),
            _ => frame.pending.extend(
                band.data
                    .chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]])),
            ),
        }
        let model = self.model.as_ref();
        if let Err(e) = process_rows(frame, model, self.config.batch_rows, false) {
            fail_message(
                frame,
                &mut self.stats,
                ErrorKind::Internal,
                &format!("inference failed: {e:#}"),
                send,
            );
        }
    }

    fn end_frame(&mut self, end: FrameEnd, send: &mut dyn FnMut(DeviceMessage)) {
        let Some(mut frame) = self.frame.take() else {
            send(error(
                Some(end.frame_id),
                ErrorKind::OutOfOrder,
                "FrameEnd without FrameStart",
            ));
            return;
        };
        if frame.failed {
            return;
        }
        if let Err(e) = frame.tracker.finish(&end) {
            fail(&mut frame, &mut self.stats, &e, send);
            return;
        }
        let receive_us = frame.started.elapsed().as_micros() as u64;
        let model = self.model.as_ref();
        if let Err(e) = process_rows(&mut frame, model, self.config.batch_rows, true) {
            fail_message(
                &mut frame,
                &mut self.stats,
                ErrorKind::Internal,
                &format!("inference failed: {e:#}"),
                send,
            );
            return;
        }
        self.spare_runner = frame.runner.take();
        let frame_id = end.frame_id;
        for chunk in Spots::chunked(frame_id, &frame.spots) {
            send(DeviceMessage::Spots(chunk));
        }
        if frame.tracker.start().has_truth {
            let counts = detection_counts(&frame);
            self.stats
                .cumulative
                .get_or_insert_with(DetectionCounts::default)
                .accumulate(&counts);
            send(DeviceMessage::Metrics(Metrics { frame_id, counts }));
        }
        let total_us = frame.started.elapsed().as_micros() as u64;
        let start = frame.tracker.start();
        self.stats.frames += 1;
        self.stats.spots += frame.spots.len() as u64;
        self.stats.pixels += start.width as u64 * start.height as u64 * start.images() as u64;
        self.stats
            .latencies_us
            .push(total_us.min(u32::MAX as u64) as u32);
        self.stats.busy_us += total_us;
        send(DeviceMessage::FrameTiming(FrameTiming {
            frame_id,
            receive_us: receive_us.min(u32::MAX as u64) as u32,
            compute_us: frame.compute_us.min(u32::MAX as u64) as u32,
            decode_us: frame.decode_us.min(u32::MAX as u64) as u32,
            total_us: total_us.min(u32::MAX as u64) as u32,
        }));
    }

    fn report(&self) -> Report {
        let mut latencies = self.stats.latencies_us.clone();
        latencies.sort_unstable();
        let pick = |q: f64| Report::latency_percentile(&latencies, q);
        Report {
            frames: self.stats.frames,
            failed_frames: self.stats.failed_frames,
            spots: self.stats.spots,
            pixels: self.stats.pixels,
            latency_p50_us: pick(0.5),
            latency_p99_us: pick(0.99),
            throughput_pixels_per_s: if self.stats.busy_us == 0 {
                0.0
            } else {
                self.stats.pixels as f64 / (self.stats.busy_us as f64 * 1e-6)
            },
            cumulative: self.stats.cumulative,
        }
    }
}

fn fail(
    frame: &mut Frame,
    stats: &mut Stats,
    e: &ProtocolError,
    send: &mut dyn FnMut(DeviceMessage),
) {
    frame.failed = true;
    stats.failed_frames += 1;
    let mut report = ErrorReport::from_error(e);
    report.frame_id.get_or_insert(frame.tracker.frame_id());
    send(DeviceMessage::Error(report));
}

fn fail_message(
    frame: &mut Frame,
    stats: &mut Stats,
    kind: ErrorKind,
    message: &str,
    send: &mut dyn FnMut(DeviceMessage),
) {
    frame.failed = true;
    stats.failed_frames += 1;
    send(error(Some(frame.tracker.frame_id()), kind, message));
}

/// Pushes pending rows through the strips once a batch has gathered (all of
/// them when `flush`), then finds and decodes the spots of every row whose
/// 3x3 neighbourhood is complete.
fn process_rows(
    frame: &mut Frame,
    model: Option<&LoadedModel>,
    batch_rows: usize,
    flush: bool,
) -> Result<()> {
    let (Some(runner), Some(model)) = (frame.runner.as_mut(), model) else {
        return Ok(());
    };
    let start = *frame.tracker.start();
    let row_len = start.images() * start.width as usize;
    let height = start.height as usize;
    if frame.pending.is_empty() || (!flush && frame.pending.len() < batch_rows.max(1) * row_len) {
        return Ok(());
    }
    let started = Instant::now();
    let rows = runner.push_rows(&frame.pending)?;
    frame.pending.clear();
    frame.compute_us += started.elapsed().as_micros() as u64;
    let started = Instant::now();
    for row in rows {
        let last = row.y + 1 == height;
        frame.recent.push_back(row);
        // Row p's peaks need rows p - 1 ..= p + 1 (clipped at the edges).
        while frame.next_peak_row < height
            && frame
                .recent
                .back()
                .is_some_and(|r| r.y > frame.next_peak_row || last)
        {
            let p = frame.next_peak_row;
            while frame.recent.front().is_some_and(|r| r.y + 1 < p) {
                frame.recent.pop_front();
            }
            collect_spots(frame, model, p, start.width as usize)?;
            frame.next_peak_row += 1;
        }
    }
    frame.decode_us += started.elapsed().as_micros() as u64;
    Ok(())
}

/// Finds and decodes the spots of row `p` from the rows held in `recent`.
fn collect_spots(frame: &mut Frame, model: &LoadedModel, p: usize, width: usize) -> Result<()> {
    let graph = &model.network.model().graph;
    let position = graph
        .outputs
        .iter()
        .position(|o| o.kind == OutputKind::Position)
        .context("model has no position output")?;
    let barcode = graph
        .outputs
        .iter()
        .position(|o| o.kind == OutputKind::Barcode);
    let rows: Vec<&OutputRow> = frame
        .recent
        .iter()
        .filter(|r| r.y + 1 >= p && r.y <= p + 1)
        .collect();
    let first = rows.first().map_or(p, |r| r.y);
    let n = rows.len();
    let mut pos = Vec::with_capacity(n * width);
    for r in &rows {
        pos.extend_from_slice(&r.maps[position]);
    }
    let bits: Vec<u8> = match barcode {
        Some(b) => {
            let channels = rows.first().map_or(0, |r| r.maps[b].len() / width);
            let mut bits = vec![0u8; channels * n * width];
            for (i, r) in rows.iter().enumerate() {
                for c in 0..channels {
                    bits[c * n * width + i * width..][..width]
                        .copy_from_slice(&r.maps[b][c * width..][..width]);
                }
            }
            bits
        }
        None => Vec::new(),
    };
    let decoder = if model.codewords.is_empty() || barcode.is_none() {
        None
    } else {
        Some(Decoder::new(&model.codewords, &model.blank)?)
    };
    let mut peaks = Vec::new();
    find_spots_in_rows(
        &pos,
        n,
        width,
        SPOT_THRESHOLD,
        p - first..p - first + 1,
        |peak| peaks.push(peak),
    )?;
    for peak in peaks {
        let (gene, confidence, blank) = match &decoder {
            Some(decoder) => {
                let decoded =
                    decoder.decode_at(&bits, n, width, peak.row as usize, peak.col as usize)?;
                match decoded.call {
                    Some(call) => (
                        call.codeword,
                        (call.confidence * 255.0).round() as u8,
                        call.blank,
                    ),
                    None => (UNASSIGNED_GENE, 0, false),
                }
            }
            None => (UNASSIGNED_GENE, peak.score, false),
        };
        frame.spots.push(WireSpot {
            row: peak.row + first as u16,
            col: peak.col,
            dy: peak.row_offset,
            dx: peak.col_offset,
            gene,
            confidence,
        });
        frame.blank_flags.push(blank);
    }
    Ok(())
}

fn detection_counts(frame: &Frame) -> DetectionCounts {
    let predicted: Vec<PredictedSpot> = frame
        .spots
        .iter()
        .zip(&frame.blank_flags)
        .map(|(s, &blank)| PredictedSpot {
            y: s.y(),
            x: s.x(),
            gene: s.is_assigned().then_some(s.gene),
            blank,
        })
        .collect();
    let eval = evaluate_spots(&frame.truth, &predicted, MATCH_RADIUS).unwrap_or_default();
    let blank_calls = frame.blank_flags.iter().filter(|&&b| b).count() as u64;
    DetectionCounts::new(&eval, blank_calls)
}

fn prepare(model: Model, bytes: &[u8], kernels: KernelPath) -> Result<LoadedModel> {
    if model.metadata.mode == robofish_shared::model::QuantMode::Dynamic {
        // Its grids are measured over whole tensors, so no row of output
        // exists before the whole FOV has run: it cannot stream in bands.
        // (Short: error messages on the wire hold 128 bytes.)
        anyhow::bail!(
            "dynamic models cannot stream (grids span whole images); flash static or qat"
        );
    }
    let codebook = model.metadata.codebook.clone().unwrap_or_default();
    let name = model.metadata.name.clone();
    let network = Network::new(model, kernels)?;
    let arena = network.plan(256, 256).map(|p| p.arena_bytes()).unwrap_or(0);
    Ok(LoadedModel {
        info: ModelInfo {
            hash: model_hash(bytes),
            name: hstring(&name),
            arena_bytes: arena.min(u32::MAX as usize) as u32,
        },
        network: Arc::new(network),
        codewords: codebook.iter().map(|e| e.word).collect(),
        blank: codebook.iter().map(|e| is_blank_name(&e.name)).collect(),
    })
}

/// Writes `bytes` to `path` via a temporary file and a rename, so a crash
/// or a full disk never leaves a half-written model behind.
pub fn store_atomically(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("rfm.tmp");
    let mut file =
        std::fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))?;
    Ok(())
}

/// Available memory from /proc/meminfo (0 when unknown).
pub fn free_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("MemAvailable:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}
