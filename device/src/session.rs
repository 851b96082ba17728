//! The device side of the protocol: one message in, zero or more out.
//!
//! A [`Device`] holds the loaded model, the experiment's codebook, the
//! uploads and the FOV in flight, and the session's statistics, and
//! dispatches each message to the module that does the work:
//! [`upload`](crate::upload) (flashing), [`codebook`](crate::codebook)
//! (the experiment's codebook), `frame` (one FOV), `stats` (the report)
//! and [`system`](crate::system) (`HelloAck`). Every FOV gets either its
//! results (Spots chunks, Metrics when truth came, Quality, FrameTiming
//! last) or exactly one Error, every codebook upload one answer; a bad
//! message never ends the session.

use std::sync::Arc;

use robofish_shared::protocol::{
    check_version, CodebookChunk, CodebookInfo, DeviceMessage, FrameEnd, FrameStart, GroundTruth,
    HostMessage, ModelChunk, ModelInfo, RowBand,
};

use crate::codebook::{ActiveCodebook, CodebookReceiver, Received, NO_CODEBOOK};
use crate::config::DeviceConfig;
use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::prepared::PreparedModel;
use crate::stats::Stats;
use crate::tiling::StripRunner;
use crate::upload::Upload;

/// What the server loop should do after a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Keep serving this connection.
    Continue,
    /// The host asked to end the session.
    Shutdown,
}

/// The FOV in flight.
enum Fov {
    /// Being received (boxed: a frame's buffers are big, `Failed` is not).
    Open(Box<Frame>),
    /// Answered with its error already: the rest of its messages are
    /// dropped without another reply.
    Failed,
}

/// The device's state across one or more connections.
pub struct Device {
    config: DeviceConfig,
    /// The last FOV's runner (row rings), reused while sizes repeat.
    spare_runner: Option<StripRunner>,
    model: Option<Arc<PreparedModel>>,
    /// The experiment's codebook; `None` decodes with the model's.
    codebook: Option<Arc<ActiveCodebook>>,
    codebook_upload: CodebookReceiver,
    upload: Option<Upload>,
    fov: Option<Fov>,
    stats: Stats,
}

impl Device {
    /// A device with no model yet.
    pub fn new(config: DeviceConfig) -> Device {
        Device {
            config,
            spare_runner: None,
            model: None,
            codebook: None,
            codebook_upload: CodebookReceiver::default(),
            upload: None,
            fov: None,
            stats: Stats::default(),
        }
    }

    /// Loads and prepares a model file's bytes.
    pub fn load_model(&mut self, bytes: &[u8]) -> Result<ModelInfo> {
        let model = PreparedModel::load(bytes, self.config.kernels)?;
        Ok(self.install(model))
    }

    /// The loaded model's identity.
    pub fn model_info(&self) -> Option<&ModelInfo> {
        self.model.as_ref().map(|m| &m.info)
    }

    /// The codebook FOVs starting now decode with.
    pub fn codebook_info(&self) -> CodebookInfo {
        let model = self.model.as_ref().and_then(|m| m.codebook.as_ref());
        self.codebook
            .as_ref()
            .or(model)
            .map_or(NO_CODEBOOK, |c| c.info)
    }

    /// Forgets a half-received FOV or upload and the experiment's codebook
    /// (the connection dropped: the next host starts its own session).
    pub fn connection_lost(&mut self) {
        if let Some(Fov::Open(_)) = self.fov.take() {
            self.stats.failed();
        }
        self.upload = None;
        self.forget_codebook();
    }

    /// Back to the model's codebook, with no codebook upload in progress.
    fn forget_codebook(&mut self) {
        self.codebook = None;
        self.codebook_upload.reset();
    }

    /// Handles one message, sending replies through `send`.
    pub fn handle(
        &mut self,
        message: HostMessage<'_>,
        send: &mut dyn FnMut(DeviceMessage),
    ) -> Control {
        match message {
            HostMessage::Hello(hello) => send(match check_version(hello.version) {
                Ok(()) => {
                    // A new session starts from the model's codebook.
                    self.forget_codebook();
                    DeviceMessage::HelloAck(crate::system::hello_ack(
                        &self.config,
                        self.model_info(),
                    ))
                }
                Err(e) => Error::from(e).reply(None),
            }),
            HostMessage::ModelBegin(begin) => match Upload::begin(&begin) {
                Ok(upload) => self.upload = Some(upload),
                Err(e) => send(e.reply(None)),
            },
            HostMessage::ModelChunk(chunk) => self.accept_chunk(&chunk, send),
            HostMessage::ModelEnd(end) => {
                let result = match self.upload.take() {
                    None => Err(Error::EndWithoutBegin),
                    Some(upload) => upload.finish(
                        end.crc32,
                        self.config.kernels,
                        self.config.model_store.as_deref(),
                    ),
                };
                send(match result {
                    Ok(model) => DeviceMessage::ModelAccepted(self.install(model)),
                    Err(e) => e.reply(None),
                });
            }
            HostMessage::FrameStart(start) => self.begin_frame(start, send),
            HostMessage::RowBand(band) => self.accept_band(&band, send),
            HostMessage::GroundTruth(truth) => self.accept_truth(&truth, send),
            HostMessage::FrameEnd(end) => self.end_frame(&end, send),
            HostMessage::ReportRequest => send(DeviceMessage::Report(self.stats.report())),
            HostMessage::Shutdown => {
                send(DeviceMessage::ShutdownAck);
                return Control::Shutdown;
            }
            HostMessage::CodebookChunk(chunk) => self.accept_codebook(&chunk, send),
        }
        Control::Continue
    }

    fn accept_codebook(&mut self, chunk: &CodebookChunk, send: &mut dyn FnMut(DeviceMessage)) {
        match self.codebook_upload.accept(chunk) {
            None => {}
            Some(Err(e)) => send(e.reply(None)),
            Some(Ok(received)) => {
                self.codebook = match received {
                    Received::Experiment(codebook) => Some(Arc::new(codebook)),
                    Received::ModelDefault => None,
                };
                send(DeviceMessage::CodebookAccepted(self.codebook_info()));
            }
        }
    }

    fn install(&mut self, model: PreparedModel) -> ModelInfo {
        let info = model.info.clone();
        self.model = Some(Arc::new(model));
        self.spare_runner = None;
        info
    }

    fn accept_chunk(&mut self, chunk: &ModelChunk<'_>, send: &mut dyn FnMut(DeviceMessage)) {
        let Some(upload) = self.upload.as_mut() else {
            send(Error::ChunkWithoutBegin.reply(None));
            return;
        };
        if let Err(e) = upload.accept(chunk) {
            self.upload = None;
            send(e.reply(None));
        }
    }

    /// The one error reply of FOV `frame_id`, counted as a failed FOV.
    fn fail(&mut self, frame_id: u32, error: &Error, send: &mut dyn FnMut(DeviceMessage)) {
        self.stats.failed();
        send(error.reply(Some(frame_id)));
    }

    fn begin_frame(&mut self, start: FrameStart, send: &mut dyn FnMut(DeviceMessage)) {
        if let Some(Fov::Open(old)) = self.fov.take() {
            self.fail(old.frame_id(), &Error::FrameInterrupted, send);
        }
        let spare = self.spare_runner.take();
        let frame_id = start.frame_id;
        self.fov = Some(
            match Frame::begin(
                start,
                self.model.as_ref(),
                self.codebook.as_ref(),
                spare,
                self.config.threads,
            ) {
                Ok(frame) => Fov::Open(Box::new(frame)),
                Err(e) => {
                    self.fail(frame_id, &e, send);
                    Fov::Failed
                }
            },
        );
    }

    fn accept_band(&mut self, band: &RowBand<'_>, send: &mut dyn FnMut(DeviceMessage)) {
        let batch_rows = self.config.batch_rows;
        self.step_frame(band.frame_id, Error::BandOutsideFrame, send, |frame| {
            frame.accept_band(band, batch_rows)
        });
    }

    fn accept_truth(&mut self, truth: &GroundTruth, send: &mut dyn FnMut(DeviceMessage)) {
        self.step_frame(truth.frame_id, Error::TruthOutsideFrame, send, |frame| {
            frame.accept_truth(truth)
        });
    }

    /// Gives a message of FOV `frame_id` to the open FOV: outside a FOV it
    /// is answered with `outside`, a failed FOV drops it, and an error
    /// fails the FOV.
    fn step_frame(
        &mut self,
        frame_id: u32,
        outside: Error,
        send: &mut dyn FnMut(DeviceMessage),
        step: impl FnOnce(&mut Frame) -> Result<()>,
    ) {
        let result = match self.fov.as_mut() {
            None => {
                send(outside.reply(Some(frame_id)));
                return;
            }
            Some(Fov::Failed) => return,
            Some(Fov::Open(frame)) => step(frame).map_err(|e| (frame.frame_id(), e)),
        };
        if let Err((open_id, e)) = result {
            self.fov = Some(Fov::Failed);
            self.fail(open_id, &e, send);
        }
    }

    fn end_frame(&mut self, end: &FrameEnd, send: &mut dyn FnMut(DeviceMessage)) {
        let frame = match self.fov.take() {
            None => {
                send(Error::EndWithoutStart.reply(Some(end.frame_id)));
                return;
            }
            Some(Fov::Failed) => return,
            Some(Fov::Open(frame)) => frame,
        };
        let frame_id = frame.frame_id();
        let mut answer = match frame.finish(end, self.config.batch_rows) {
            Ok(answer) => answer,
            Err(e) => {
                self.fail(frame_id, &e, send);
                return;
            }
        };
        if let Some(counts) = &answer.metrics {
            self.stats.metrics(counts);
        }
        for message in std::mem::take(&mut answer.messages) {
            send(message);
        }
        let total_us = answer.elapsed_us();
        self.stats
            .finished(&answer.start, answer.spots, &answer.quality, total_us);
        send(DeviceMessage::FrameTiming(answer.timing(total_us)));
        self.spare_runner = Some(answer.runner);
    }
}
