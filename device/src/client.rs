//! The host side of the protocol over any byte stream: handshake, model
//! flashing, the experiment's codebook, sending a FOV as row bands, and
//! collecting its results.

use std::io::{Read, Write};

use heapless::String as HString;
use robofish_shared::checksum::{crc32, Crc32};
use robofish_shared::codebook::Codebook;
use robofish_shared::image::{ImageStats, InputImage, Pixels};
use robofish_shared::image_stats::measure_all;
use robofish_shared::model::model_hash;
use robofish_shared::protocol::{
    auth_tag, codebook_checksum, encode_frame, Access, Authenticate, CallQuality, CodebookChunk,
    CodebookInfo, CodebookWord, DetectionCounts, DeviceMessage, ErrorReport, Feed, FrameDecoder,
    FrameEnd, FrameStart, FrameTiming, GroundTruth, Hello, HelloAck, HostMessage, ModelBegin,
    ModelChunk, ModelEnd, ModelInfo, PixelType, Report, RowBand, TruthSpot, WireSpot,
    MAX_CODEBOOK_WORDS, MAX_ENCODED_FRAME_BYTES, MAX_MODEL_CHUNK_BYTES, PROTOCOL_VERSION,
};

use crate::error::{Error, Result};

/// The error for a reply the conversation does not expect.
fn unexpected(context: impl Into<String>, reply: DeviceMessage) -> Error {
    match reply {
        DeviceMessage::Error(report) => Error::Device(Box::new(report)),
        reply => Error::Unexpected {
            context: context.into(),
            reply: Box::new(reply),
        },
    }
}

/// One field of view to stream: `images` planar `[16][height][width]`.
#[derive(Clone, Copy, Debug)]
pub struct Fov<'a> {
    /// Rows per image.
    pub height: usize,
    /// Columns per image.
    pub width: usize,
    /// Rounds (8).
    pub rounds: u8,
    /// Colours (2).
    pub colours: u8,
    /// Planar raw counts, image index = colour * rounds + round.
    pub images: &'a [u16],
    /// Ground truth to send along, if any.
    pub truth: Option<&'a [TruthSpot]>,
    /// Each image's statistics over the whole FOV; `None` measures them
    /// ([`robofish_shared::image_stats::measure_all`]), which every
    /// per-image model needs.
    pub stats: Option<&'a [ImageStats]>,
}

/// What the device answered for one FOV.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FovResult {
    /// Spots in device order.
    pub spots: Vec<WireSpot>,
    /// Accuracy, when truth was sent.
    pub metrics: Option<DetectionCounts>,
    /// How the spots decoded, truth or not (absent when the FOV failed).
    pub quality: Option<CallQuality>,
    /// Timing (absent when the FOV failed).
    pub timing: Option<FrameTiming>,
    /// The device's error, when the FOV failed.
    pub error: Option<ErrorReport>,
}

/// A protocol client over a reader and a writer.
pub struct Client<R: Read, W: Write> {
    reader: R,
    writer: W,
    decoder: Box<FrameDecoder>,
    out: Vec<u8>,
    input: Vec<u8>,
    start: usize,
    end: usize,
    max_band_bytes: usize,
}

impl<R: Read, W: Write> Client<R, W> {
    /// A client over `reader` (device -> host) and `writer` (host -> device).
    pub fn new(reader: R, writer: W) -> Self {
        Client {
            reader,
            writer,
            decoder: Box::new(FrameDecoder::new()),
            out: vec![0u8; MAX_ENCODED_FRAME_BYTES],
            input: vec![0u8; 64 * 1024],
            start: 0,
            end: 0,
            max_band_bytes: robofish_shared::protocol::MAX_ROW_BAND_BYTES,
        }
    }

    /// The reader and writer back.
    pub fn into_parts(self) -> (R, W) {
        (self.reader, self.writer)
    }

    /// Sends one message.
    pub fn send(&mut self, message: &HostMessage<'_>) -> Result<()> {
        let frame = encode_frame(message, &mut self.out).map_err(Error::Encode)?;
        self.writer
            .write_all(frame)
            .map_err(Error::io("sending to the device"))
    }

    /// Flushes buffered output.
    pub fn flush(&mut self) -> Result<()> {
        self.writer
            .flush()
            .map_err(Error::io("sending to the device"))
    }

    /// Receives the next message (blocking, up to the transport's read
    /// timeout, if it has one).
    pub fn recv(&mut self) -> Result<DeviceMessage> {
        self.recv_for(|| "a message".into())
    }

    /// [`Client::recv`], naming what was awaited when the read times out.
    fn recv_for(&mut self, waiting_for: impl FnOnce() -> String) -> Result<DeviceMessage> {
        loop {
            if self.start < self.end {
                match self
                    .decoder
                    .feed::<DeviceMessage>(&self.input[self.start..self.end])
                {
                    Feed::Pending => self.start = self.end,
                    Feed::Message { message, remaining } => {
                        self.start = self.end - remaining.len();
                        return Ok(message);
                    }
                    Feed::Error { error, remaining } => {
                        self.start = self.end - remaining.len();
                        return Err(Error::Garbled(error));
                    }
                }
            }
            let n = match self.reader.read(&mut self.input) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
                    ) =>
                {
                    return Err(Error::TimedOut {
                        waiting_for: waiting_for(),
                    })
                }
                Err(e) => return Err(Error::io("reading from the device")(e)),
            };
            if n == 0 {
                return Err(Error::Closed);
            }
            self.start = 0;
            self.end = n;
        }
    }

    /// Handshake; refuses another protocol version with both versions named.
    pub fn hello(&mut self) -> Result<HelloAck> {
        let mut client = HString::new();
        let _ = client.push_str(concat!("robofish ", env!("CARGO_PKG_VERSION")));
        self.send(&HostMessage::Hello(Hello {
            version: PROTOCOL_VERSION,
            client,
        }))?;
        self.flush()?;
        match self.recv_for(|| "the device's answer to Hello".into())? {
            DeviceMessage::HelloAck(ack) => {
                if ack.version != PROTOCOL_VERSION {
                    return Err(Error::VersionMismatch {
                        device: ack.version,
                        host: PROTOCOL_VERSION,
                    });
                }
                self.max_band_bytes =
                    (ack.max_row_band_bytes as usize).clamp(1, self.max_band_bytes);
                Ok(ack)
            }
            other => Err(unexpected("in reply to Hello", other)),
        }
    }

    /// Uploads a model file; the device verifies, stores and loads it.
    pub fn flash(&mut self, bytes: &[u8]) -> Result<ModelInfo> {
        self.send(&HostMessage::ModelBegin(ModelBegin {
            total_len: u32::try_from(bytes.len())
                .map_err(|_| Error::TooLarge("model larger than 4 GiB"))?,
            hash: model_hash(bytes),
        }))?;
        for (i, chunk) in bytes.chunks(MAX_MODEL_CHUNK_BYTES).enumerate() {
            self.send(&HostMessage::ModelChunk(ModelChunk {
                offset: (i * MAX_MODEL_CHUNK_BYTES) as u32,
                bytes: chunk,
                crc32: crc32(chunk),
            }))?;
        }
        self.send(&HostMessage::ModelEnd(ModelEnd {
            crc32: crc32(bytes),
        }))?;
        self.flush()?;
        match self.recv_for(|| "the device's answer to the model upload".into())? {
            DeviceMessage::ModelAccepted(info) => Ok(info),
            other => Err(unexpected("in reply to a model upload", other)),
        }
    }

    /// Sends the experiment's codebook; later FOVs decode with it, and
    /// their gene indices index `codebook` in its order. Checks that the
    /// device holds exactly what was sent, and returns what it reports
    /// (blanks, minimum distance, whether it corrects errors).
    pub fn send_codebook(&mut self, codebook: &Codebook) -> Result<CodebookInfo> {
        let sent = self.write_codebook(codebook)?;
        self.flush()?;
        let info = self.codebook_answer()?;
        if info.checksum != sent {
            return Err(Error::CodebookChecksum {
                sent,
                device: info.checksum,
            });
        }
        Ok(info)
    }

    /// Writes the codebook's chunks without waiting for the answer (a
    /// fleet job carries them ahead of its FOV) and returns the checksum
    /// the device's `CodebookAccepted` must report.
    pub fn write_codebook(&mut self, codebook: &Codebook) -> Result<u32> {
        if codebook.len() > MAX_CODEBOOK_WORDS {
            return Err(Error::CodebookTooLarge {
                words: codebook.len(),
            });
        }
        let words = codebook
            .entries()
            .iter()
            .map(|entry| {
                let name =
                    HString::try_from(entry.name.as_str()).map_err(|_| Error::GeneNameTooLong {
                        name: entry.name.clone(),
                    })?;
                Ok(CodebookWord {
                    name,
                    word: entry.word,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        for chunk in CodebookChunk::chunked(&words) {
            self.send(&HostMessage::CodebookChunk(chunk))?;
        }
        Ok(codebook_checksum(
            words.iter().map(|w| (w.name.as_str(), w.word)),
        ))
    }

    /// Reads the device's answer to a codebook upload.
    pub fn codebook_answer(&mut self) -> Result<CodebookInfo> {
        match self.recv_for(|| "the device's answer to the codebook".into())? {
            DeviceMessage::CodebookAccepted(info) => Ok(info),
            other => Err(unexpected("in reply to a codebook", other)),
        }
    }

    /// Returns the device to its model's codebook.
    pub fn reset_codebook(&mut self) -> Result<CodebookInfo> {
        self.upload_codebook(&[])
    }

    fn upload_codebook(&mut self, words: &[CodebookWord]) -> Result<CodebookInfo> {
        for chunk in CodebookChunk::chunked(words) {
            self.send(&HostMessage::CodebookChunk(chunk))?;
        }
        self.flush()?;
        self.codebook_answer()
    }

    /// Sends one FOV: FrameStart, row bands, truth, FrameEnd.
    pub fn send_fov(&mut self, frame_id: u32, fov: &Fov<'_>) -> Result<()> {
        let images = fov.rounds as usize * fov.colours as usize;
        if fov.images.len() != images * fov.height * fov.width {
            return Err(Error::FovBuffer {
                len: fov.images.len(),
                images,
                height: fov.height,
                width: fov.width,
            });
        }
        let measured;
        let stats = match fov.stats {
            Some(stats) => stats,
            None => {
                let view =
                    InputImage::planar(Pixels::U16(fov.images), images, fov.height, fov.width)?;
                measured = measure_all(&view);
                &measured
            }
        };
        let stats = heapless::Vec::from_slice(stats)
            .map_err(|_| Error::TooLarge("more than 64 images per FOV"))?;
        let start = FrameStart {
            frame_id,
            width: u16::try_from(fov.width).map_err(|_| Error::TooLarge("FOV wider than 65535"))?,
            height: u16::try_from(fov.height)
                .map_err(|_| Error::TooLarge("FOV taller than 65535"))?,
            rounds: fov.rounds,
            colours: fov.colours,
            pixel: PixelType::U16,
            has_truth: fov.truth.is_some(),
            stats,
        };
        self.send(&HostMessage::FrameStart(start.clone()))?;
        let rows_per_band = start.rows_per_band(self.max_band_bytes).max(1) as usize;
        let mut crc = Crc32::new();
        let mut data = Vec::with_capacity(rows_per_band * start.row_bytes());
        let plane = fov.height * fov.width;
        for first in (0..fov.height).step_by(rows_per_band) {
            let count = rows_per_band.min(fov.height - first);
            data.clear();
            for y in first..first + count {
                for image in 0..images {
                    let row = &fov.images[image * plane + y * fov.width..][..fov.width];
                    for &p in row {
                        data.extend_from_slice(&p.to_le_bytes());
                    }
                }
            }
            crc.update(&data);
            self.send(&HostMessage::RowBand(RowBand {
                frame_id,
                first_row: first as u16,
                row_count: count as u16,
                data: &data,
            }))?;
        }
        if let Some(truth) = fov.truth {
            for chunk in GroundTruth::chunked(frame_id, truth) {
                self.send(&HostMessage::GroundTruth(chunk))?;
            }
        }
        self.send(&HostMessage::FrameEnd(FrameEnd {
            frame_id,
            checksum: crc.finalize(),
        }))?;
        self.flush()
    }

    /// Collects the device's answer for `frame_id`: Spots chunks, Metrics,
    /// Quality and FrameTiming, or an Error.
    pub fn collect(&mut self, frame_id: u32) -> Result<FovResult> {
        let mut result = FovResult::default();
        loop {
            match self.recv_for(|| format!("frame {frame_id}'s results"))? {
                DeviceMessage::Spots(s) if s.frame_id == frame_id => {
                    result.spots.extend(s.spots.iter().copied())
                }
                DeviceMessage::Metrics(m) if m.frame_id == frame_id => {
                    result.metrics = Some(m.counts)
                }
                DeviceMessage::Quality(q) if q.frame_id == frame_id => {
                    result.quality = Some(q.calls)
                }
                DeviceMessage::FrameTiming(t) if t.frame_id == frame_id => {
                    result.timing = Some(t);
                    return Ok(result);
                }
                DeviceMessage::Error(e) if e.frame_id == Some(frame_id) || e.frame_id.is_none() => {
                    result.error = Some(e);
                    return Ok(result);
                }
                other => {
                    return Err(unexpected(
                        format!("while waiting for frame {frame_id}"),
                        other,
                    ))
                }
            }
        }
    }

    /// Asks for the session report.
    pub fn report(&mut self) -> Result<Report> {
        self.send(&HostMessage::ReportRequest)?;
        self.flush()?;
        match self.recv_for(|| "the session report".into())? {
            DeviceMessage::Report(r) => Ok(r),
            other => Err(unexpected("in reply to ReportRequest", other)),
        }
    }

    /// Ends the session.
    pub fn shutdown(&mut self) -> Result<()> {
        self.send(&HostMessage::Shutdown)?;
        self.flush()?;
        match self.recv_for(|| "the device's answer to Shutdown".into())? {
            DeviceMessage::ShutdownAck => Ok(()),
            other => Err(unexpected("in reply to Shutdown", other)),
        }
    }

    /// Proves this host holds `token`, answering the challenge of `ack`
    /// (from [`Client::hello`]). A device without a token needs none: that
    /// returns at once. A device that demands a token when none is given
    /// is [`Error::NeedsToken`]; a wrong token is the device's
    /// `Unauthorized` error (and the device ends the session).
    pub fn authenticate(&mut self, ack: &HelloAck, token: Option<&[u8]>) -> Result<()> {
        match (ack.access, token) {
            (Access::Open, _) | (Access::StreamOpen, None) => Ok(()),
            (Access::Closed, None) => Err(Error::NeedsToken),
            (_, Some(token)) => {
                self.send(&HostMessage::Authenticate(Authenticate {
                    tag: auth_tag(token, &ack.challenge),
                }))?;
                self.flush()?;
                match self.recv_for(|| "the device's answer to Authenticate".into())? {
                    DeviceMessage::Authenticated => Ok(()),
                    other => Err(unexpected("in reply to Authenticate", other)),
                }
            }
        }
    }

    /// Stops the device process (needs an authenticated session).
    pub fn stop_device(&mut self) -> Result<()> {
        self.send(&HostMessage::StopDevice)?;
        self.flush()?;
        match self.recv_for(|| "the device's answer to StopDevice".into())? {
            DeviceMessage::Stopping => Ok(()),
            other => Err(unexpected("in reply to StopDevice", other)),
        }
    }
}

/// The host end of an in-process device and the thread serving it.
pub type LocalDevice = (
    Client<std::io::PipeReader, std::io::PipeWriter>,
    std::thread::JoinHandle<Result<crate::ServeOutcome>>,
);

/// A device served in-process on a thread, connected by OS pipes: the
/// `local` device of `robofish stream`, and the transport of the tests.
pub fn spawn_local(mut device: crate::Device) -> Result<LocalDevice> {
    let (host_reader, device_writer) =
        std::io::pipe().map_err(Error::io("cannot make a pipe to the local device"))?;
    let (device_reader, host_writer) =
        std::io::pipe().map_err(Error::io("cannot make a pipe to the local device"))?;
    let handle = std::thread::spawn(move || {
        let mut reader = device_reader;
        let mut writer = std::io::BufWriter::new(device_writer);
        crate::serve(&mut device, &mut reader, &mut writer)
    });
    Ok((Client::new(host_reader, host_writer), handle))
}
