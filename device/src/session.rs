//! The device side of the protocol: one message in, zero or more out.
//!
//! A [`Device`] holds the loaded model, the experiment's codebook, the
//! uploads and the FOV in flight, and the session's statistics, and
//! dispatches each message to the module that does the work:
//! [`upload`](crate::upload) (flashing), [`codebook`](crate::codebook)
//! (the experiment's codebook), `frame` (one FOV), `stats` (the report)
//! and [`system`](crate::system) (`HelloAck`). Every FOV gets either its
//! results (Spots chunks, Metrics when truth came, Quality, FrameTiming
//! last) or exactly one Error, every codebook upload and every model upload
//! one answer; a bad message never ends the session (a wrong
//! authentication tag does).
//!
//! Authentication ([`crate::auth`]): each `Hello` draws a new challenge and
//! forgets an earlier session's authentication; what an unauthenticated
//! session may do is the [`Access`] the device was configured with.

use std::sync::Arc;

use robofish_shared::protocol::{
    check_version, verify_tag, Access, Authenticate, Challenge, CodebookChunk, CodebookInfo,
    DeviceMessage, FrameEnd, FrameStart, GroundTruth, HostMessage, ModelBegin, ModelChunk,
    ModelInfo, RowBand,
};

use crate::codebook::{ActiveCodebook, CodebookReceiver, Received, NO_CODEBOOK};
use crate::config::DeviceConfig;
use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::prepared::PreparedModel;
use crate::stats::Stats;
use crate::tiling::StripRunner;
use crate::upload::Upload;

/// Refusals, kept within the wire's 128-byte error messages.
const STREAMING_NEEDS_AUTH: &str =
    "this device streams for authenticated hosts only: run the host with --token-file";
const FLASHING_NEEDS_AUTH: &str =
    "flashing needs an authenticated session: run the host with --token-file";
const STOPPING_NEEDS_AUTH: &str =
    "stopping the device needs an authenticated session: run the host with --token-file";
const WRONG_TOKEN: &str =
    "wrong token: the host's --token-file is not the device's; session closed";

/// What the server loop should do after a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Keep serving this connection.
    Continue,
    /// The host asked to end the session, or failed to authenticate.
    Shutdown,
    /// An authenticated host asked the device to stop.
    Stop,
}

/// The model upload in progress.
#[derive(Default)]
enum UploadState {
    /// None.
    #[default]
    Idle,
    /// Receiving chunks.
    Receiving(Upload),
    /// Answered with its error already: its chunks are dropped without
    /// another reply until its `ModelEnd`.
    Refused,
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
    /// A refused codebook upload's remaining chunks are dropped quietly.
    codebook_refused: bool,
    upload: UploadState,
    fov: Option<Fov>,
    stats: Stats,
    /// The challenge of this session's `HelloAck` (`None` before `Hello`).
    challenge: Option<Challenge>,
    /// Whether this session proved it holds the token.
    authenticated: bool,
    /// Why there is no model although one was stored (see
    /// [`Device::set_model_fault`]).
    model_fault: Option<String>,
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
            codebook_refused: false,
            upload: UploadState::Idle,
            fov: None,
            stats: Stats::default(),
            challenge: None,
            authenticated: false,
            model_fault: None,
        }
    }

    /// Records why the device has no model although it should (its stored
    /// model would not load): `HelloAck` tells every host, FOVs are refused
    /// with it, and a successful flash clears it.
    pub fn set_model_fault(&mut self, fault: impl Into<String>) {
        self.model_fault = Some(fault.into());
    }

    /// What an unauthenticated host may do here.
    pub fn access(&self) -> Access {
        self.config.auth.access()
    }

    /// Whether this session may stream, send codebooks and ask for reports.
    fn may_stream(&self) -> bool {
        self.authenticated || self.access().anonymous_streaming()
    }

    /// Whether this session may flash.
    fn may_change(&self) -> bool {
        self.authenticated || self.access().anonymous_changes()
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

    /// What the device says about itself, as its `HelloAck` would (with
    /// no challenge): a fleet board's announcement.
    pub fn describe(&self) -> robofish_shared::protocol::HelloAck {
        crate::system::hello_ack(
            &self.config,
            self.model_info(),
            [0; robofish_shared::protocol::CHALLENGE_BYTES],
            self.model_fault.as_deref(),
        )
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
        self.upload = UploadState::Idle;
        self.forget_codebook();
        self.challenge = None;
        self.authenticated = false;
    }

    /// Back to the model's codebook, with no codebook upload in progress.
    fn forget_codebook(&mut self) {
        self.codebook = None;
        self.codebook_upload.reset();
        self.codebook_refused = false;
    }

    /// Handles one message, sending replies through `send`.
    pub fn handle(
        &mut self,
        message: HostMessage<'_>,
        send: &mut dyn FnMut(DeviceMessage),
    ) -> Control {
        match message {
            HostMessage::Hello(hello) => self.hello(hello.version, send),
            HostMessage::Authenticate(auth) => return self.authenticate(&auth, send),
            HostMessage::ModelBegin(begin) => self.begin_upload(&begin, send),
            HostMessage::ModelChunk(chunk) => self.accept_chunk(&chunk, send),
            HostMessage::ModelEnd(end) => {
                let result = match std::mem::take(&mut self.upload) {
                    UploadState::Idle => Err(Error::EndWithoutBegin),
                    UploadState::Refused => return Control::Continue,
                    UploadState::Receiving(upload) => upload.finish(
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
            HostMessage::ReportRequest => send(if self.may_stream() {
                DeviceMessage::Report(self.stats.report())
            } else {
                Error::Unauthorized(STREAMING_NEEDS_AUTH).reply(None)
            }),
            HostMessage::Shutdown => {
                send(DeviceMessage::ShutdownAck);
                return Control::Shutdown;
            }
            HostMessage::StopDevice => {
                if self.authenticated {
                    send(DeviceMessage::Stopping);
                    return Control::Stop;
                }
                let why = match self.access() {
                    Access::Open => Error::Unauthorized(
                        "this device has no --token-file, so nothing stops it over the wire; \
                         send it a signal",
                    ),
                    _ => Error::Unauthorized(STOPPING_NEEDS_AUTH),
                };
                send(why.reply(None));
            }
            HostMessage::CodebookChunk(chunk) => self.accept_codebook(&chunk, send),
        }
        Control::Continue
    }

    /// Opens a session: a new challenge, no authentication yet, the
    /// model's codebook.
    fn hello(&mut self, version: u16, send: &mut dyn FnMut(DeviceMessage)) {
        if let Err(e) = check_version(version) {
            send(Error::from(e).reply(None));
            return;
        }
        self.forget_codebook();
        self.authenticated = false;
        let challenge = match self.config.auth.token {
            None => Ok([0u8; robofish_shared::protocol::CHALLENGE_BYTES]),
            Some(_) => crate::auth::fresh_challenge(),
        };
        match challenge {
            Ok(challenge) => {
                self.challenge = Some(challenge);
                send(DeviceMessage::HelloAck(crate::system::hello_ack(
                    &self.config,
                    self.model_info(),
                    challenge,
                    self.model_fault.as_deref(),
                )));
            }
            Err(e) => {
                self.challenge = None;
                send(e.reply(None));
            }
        }
    }

    /// Checks a host's tag; a wrong one ends the session.
    fn authenticate(
        &mut self,
        auth: &Authenticate,
        send: &mut dyn FnMut(DeviceMessage),
    ) -> Control {
        let Some(token) = &self.config.auth.token else {
            send(Error::NothingToAuthenticate.reply(None));
            return Control::Continue;
        };
        let Some(challenge) = self.challenge else {
            send(Error::AuthenticateBeforeHello.reply(None));
            return Control::Continue;
        };
        if verify_tag(token.bytes(), &challenge, &auth.tag) {
            self.authenticated = true;
            send(DeviceMessage::Authenticated);
            Control::Continue
        } else {
            self.authenticated = false;
            // A challenge answers one attempt: the next needs a new Hello.
            self.challenge = None;
            send(Error::Unauthorized(WRONG_TOKEN).reply(None));
            Control::Shutdown
        }
    }

    fn begin_upload(&mut self, begin: &ModelBegin, send: &mut dyn FnMut(DeviceMessage)) {
        // A new ModelBegin abandons an upload in progress (its temporary
        // file goes with it).
        self.upload = UploadState::Idle;
        let started = if self.may_change() {
            Upload::begin(begin, self.config.model_store.as_deref())
        } else {
            Err(Error::Unauthorized(FLASHING_NEEDS_AUTH))
        };
        self.upload = match started {
            Ok(upload) => UploadState::Receiving(upload),
            Err(e) => {
                send(e.reply(None));
                UploadState::Refused
            }
        };
    }

    fn accept_codebook(&mut self, chunk: &CodebookChunk, send: &mut dyn FnMut(DeviceMessage)) {
        if self.codebook_refused || !self.may_stream() {
            if !self.codebook_refused {
                send(Error::Unauthorized(STREAMING_NEEDS_AUTH).reply(None));
            }
            // Quiet until the refused upload's last chunk.
            self.codebook_refused = !chunk.last;
            return;
        }
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
        self.model_fault = None;
        info
    }

    fn accept_chunk(&mut self, chunk: &ModelChunk<'_>, send: &mut dyn FnMut(DeviceMessage)) {
        let upload = match &mut self.upload {
            UploadState::Idle => {
                send(Error::ChunkWithoutBegin.reply(None));
                self.upload = UploadState::Refused;
                return;
            }
            UploadState::Refused => return,
            UploadState::Receiving(upload) => upload,
        };
        if let Err(e) = upload.accept(chunk) {
            self.upload = UploadState::Refused;
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
        let opened = if !self.may_stream() {
            Err(Error::Unauthorized(STREAMING_NEEDS_AUTH))
        } else if let (None, Some(fault)) = (&self.model, &self.model_fault) {
            Err(Error::StoredModelFault(fault.clone()))
        } else {
            Frame::begin(
                start,
                self.model.as_ref(),
                self.codebook.as_ref(),
                spare,
                &self.config,
            )
        };
        self.fov = Some(match opened {
            Ok(frame) => Fov::Open(Box::new(frame)),
            Err(e) => {
                self.fail(frame_id, &e, send);
                Fov::Failed
            }
        });
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
