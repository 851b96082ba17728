//! `robofish fleet`: an experiment's FOVs decoded by a fleet of boards
//! through an MQTT broker, into the same parts and tables as `robofish
//! run`. The topics and payloads are [`robofish_shared::fleet`]'s, the
//! board is [`robofish_device::fleet`], and `docs/scaling-out.md` is the
//! user's guide.
//!
//! The host owns the queue ([`dispatch`]) and leases one FOV at a time to
//! each board that said it is idle; the job is the FOV's protocol frames
//! ([`payload`]) in chunks; each kept result becomes the FOV's part
//! through the same [`FovAssembly`] `run` uses, so the tables, resuming
//! and `robofish merge` work unchanged.

mod connection;
pub mod dispatch;
pub mod live;
pub mod payload;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use robofish_device::fleet::broker::{BrokerUrl, Credentials};
use robofish_shared::fleet::{
    self, Announce, BoardMessage, JobChunk, JobId, Ready, Status, Topic, MAX_PAYLOAD_BYTES,
};
use robofish_shared::protocol::PROTOCOL_VERSION;
use rumqttc::QoS;

use self::connection::HostEvent;
use self::dispatch::{BoardState, Dispatcher, Requeued, Verdict};
use self::live::{table, BoardStats, LiveTable};
use crate::run::{
    fingerprint, is_done, write_failure, write_part, Detection, FovAssembly, FovFailure, FovSource,
    Layout, RunIdentity,
};
use crate::sim::Codebook;

/// Most bytes of one result the host collects: a dense 2048 x 2048 FOV's
/// spots take about 1 MiB, so this bounds only a board gone wrong.
const MAX_RESULT_BYTES: usize = 256 << 20;

/// How the host runs the fleet.
#[derive(Clone, Debug)]
pub struct FleetOptions {
    /// The broker.
    pub url: BrokerUrl,
    /// Its login, if it wants one.
    pub credentials: Option<Credentials>,
    /// A lease without progress for this long is taken back.
    pub lease_timeout: Duration,
    /// Give up when no board can take work for this long.
    pub board_wait: Duration,
    /// The model every board must run (`None`: the first board's).
    pub model_hash: Option<u64>,
    /// Period of the plain progress lines when stdout is not a terminal.
    pub report_every: Duration,
}

/// What a fleet run did.
#[derive(Debug, Default)]
pub struct FleetOutcome {
    /// FOVs decoded now.
    pub decoded: Vec<u32>,
    /// FOVs already written with the same model and codebook.
    pub resumed: Vec<u32>,
    /// FOVs that failed now (their data, or lost too often).
    pub failed: Vec<FovFailure>,
    /// Leases taken back, with how long until their FOV was leased again
    /// (`None`: it was not, e.g. it had its result by then).
    pub requeued: Vec<(Requeued, Option<Duration>)>,
    /// Later results of FOVs that had one, dropped.
    pub duplicates: u32,
    /// Results of another host run or model, dropped.
    pub stale: u32,
    /// Per board.
    pub boards: BTreeMap<String, BoardStats>,
    /// The identity the parts were written with.
    pub identity: Option<RunIdentity>,
    /// Wall time of the whole run.
    pub seconds: f64,
}

/// What the FOVs are and where their parts go.
pub struct FleetData<'a> {
    /// The experiment.
    pub source: &'a dyn FovSource,
    /// FOVs to decode, in order.
    pub selected: &'a [u32],
    /// The codebook the calls index (sent with every job).
    pub codebook: &'a Codebook,
    /// The parts folder (`OUT/fovs`).
    pub parts: &'a Path,
}

/// Decodes `data.selected` on the fleet at `options.url`.
pub fn run_fleet(data: &FleetData<'_>, options: &FleetOptions) -> Result<FleetOutcome> {
    std::fs::create_dir_all(data.parts)
        .with_context(|| format!("cannot create {}", data.parts.display()))?;
    let started = Instant::now();
    let run = fresh_run()?;
    let (client, events) = connection::connect(
        &options.url,
        options.credentials.as_ref(),
        run,
        options.board_wait.min(Duration::from_secs(30)),
    )?;
    // Without --model the first board's model names the parts, so wait
    // for it before telling what is done already.
    let mut backlog = Vec::new();
    let mut model_hash = options.model_hash;
    while model_hash.is_none() {
        let event = match events.recv_timeout(options.board_wait) {
            Ok(event) => event,
            Err(_) => bail!(
                "no board with a model announced itself on {} within {} s (--board-wait); \
                 start boards with `robofish-device --fleet {} --model FILE`",
                options.url,
                options.board_wait.as_secs_f64(),
                options.url
            ),
        };
        match &event {
            HostEvent::Fatal(why) => bail!("{why}"),
            HostEvent::Status(_, status) => {
                if let Status::Online(announce) = &**status {
                    model_hash = announce.device.model.as_ref().map(|m| m.hash);
                }
            }
            _ => {}
        }
        backlog.push(event);
    }
    let model_hash = model_hash.unwrap_or_default();
    let identity = RunIdentity {
        method: "network".into(),
        model: format!("{model_hash:016x}"),
        codebook: fingerprint(data.codebook.to_csv().as_bytes()),
    };
    let (resumed, todo): (Vec<u32>, Vec<u32>) = data
        .selected
        .iter()
        .partition(|&&fov| is_done(data.parts, fov, &identity));
    let layout = Layout::new(data.source.placements());
    let mut host = Host {
        run,
        client: &client,
        data,
        identity: &identity,
        layout: &layout,
        dispatcher: Dispatcher::new(run, &todo, Some(model_hash), options.lease_timeout),
        collecting: HashMap::new(),
        lease_started: HashMap::new(),
        taken_back: HashMap::new(),
        codebook_checksum: None,
        live: LiveTable::stdout(options.report_every),
        outcome: FleetOutcome {
            resumed,
            ..FleetOutcome::default()
        },
        total: todo.len(),
    };
    for event in backlog {
        host.handle(event, Instant::now())?;
    }
    let mut usable_since = Instant::now();
    while !host.dispatcher.finished() {
        let now = Instant::now();
        match events.recv_timeout(Duration::from_millis(50)) {
            Ok(event) => host.handle(event, now)?,
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => bail!("the broker connection thread ended"),
        }
        while let Ok(event) = events.try_recv() {
            host.handle(event, Instant::now())?;
        }
        let now = Instant::now();
        for lost in host.dispatcher.expire(now) {
            host.record_loss(lost, now);
        }
        while let Some((board, job)) = host.dispatcher.next_lease(now) {
            host.send_job(&board, job, now)?;
        }
        if host.any_usable_board() {
            usable_since = now;
        } else if now.duration_since(usable_since) > options.board_wait {
            bail!(
                "{} FOVs left but no board could take work for {} s (--board-wait): {}",
                host.total - host.dispatcher.settled(),
                options.board_wait.as_secs_f64(),
                host.board_summary()
            );
        }
        let lines = host.table(started);
        host.live.tick(&lines, now);
    }
    let lines = host.table(started);
    host.live.draw(&lines);
    let _ = client.disconnect();
    let mut outcome = host.outcome;
    outcome.duplicates = host.dispatcher.duplicates;
    outcome.stale = host.dispatcher.stale;
    outcome.identity = Some(identity.clone());
    outcome.seconds = started.elapsed().as_secs_f64();
    Ok(outcome)
}

/// A random host run number.
fn fresh_run() -> Result<u64> {
    let mut bytes = [0u8; 8];
    getrandom_fill(&mut bytes)?;
    Ok(u64::from_le_bytes(bytes))
}

/// The OS's random bytes (through the device crate's source).
fn getrandom_fill(bytes: &mut [u8; 8]) -> Result<()> {
    let challenge = robofish_device::auth::fresh_challenge()?;
    bytes.copy_from_slice(&challenge[..8]);
    Ok(())
}

/// A result being collected.
struct Collecting {
    next_index: u32,
    bytes: Vec<u8>,
}

/// The host's loop state.
struct Host<'a> {
    run: u64,
    client: &'a rumqttc::Client,
    data: &'a FleetData<'a>,
    identity: &'a RunIdentity,
    layout: &'a Layout,
    dispatcher: Dispatcher,
    collecting: HashMap<JobId, Collecting>,
    lease_started: HashMap<JobId, Instant>,
    /// FOVs taken back and not leased again yet: when, and from which lease.
    taken_back: HashMap<u32, (Instant, usize)>,
    codebook_checksum: Option<u32>,
    live: LiveTable,
    outcome: FleetOutcome,
    total: usize,
}

impl Host<'_> {
    /// A log line (stderr), kept clear of the live table on a terminal.
    fn say(&mut self, line: String) {
        self.live.say(&line);
    }

    fn stats(&mut self, board: &str) -> &mut BoardStats {
        self.outcome.boards.entry(board.to_string()).or_default()
    }

    fn handle(&mut self, event: HostEvent, now: Instant) -> Result<()> {
        match event {
            HostEvent::Connected => self.say(format!(
                "fleet: connected to the broker (run {:016x})",
                self.run
            )),
            HostEvent::Fatal(why) => bail!("{why}"),
            HostEvent::Status(board, status) => match *status {
                Status::Online(announce) => self.online(&board, &announce, now),
                Status::Offline => {
                    self.say(format!("fleet: board {board} offline"));
                    if let Some(lost) = self.dispatcher.offline(&board) {
                        self.record_loss(lost, now);
                    }
                }
            },
            HostEvent::Heartbeat(board, beat) => self.dispatcher.heartbeat(&board, &beat, now),
            HostEvent::Out(board, payload) => match fleet::decode::<BoardMessage>(&payload) {
                Ok(BoardMessage::Ready(ready)) => {
                    if let Some(lost) = self.dispatcher.ready(&board, &ready) {
                        self.record_loss(lost, now);
                    }
                }
                Ok(BoardMessage::Result(chunk)) => {
                    self.dispatcher.progress(&chunk.job, now);
                    let collecting = self.collecting.entry(chunk.job).or_insert(Collecting {
                        next_index: 0,
                        bytes: Vec::new(),
                    });
                    if chunk.index < collecting.next_index {
                        return Ok(()); // delivered again
                    }
                    if chunk.index > collecting.next_index
                        || collecting.bytes.len() + chunk.bytes.len() > MAX_RESULT_BYTES
                    {
                        self.say(format!(
                            "fleet: board {board}'s result of FOV {} is incomplete or too large; \
                             the FOV goes back in the queue",
                            chunk.job.fov
                        ));
                        self.collecting.remove(&chunk.job);
                        let gave_up = Ready {
                            job: Some(chunk.job),
                        };
                        if let Some(lost) = self.dispatcher.ready(&board, &gave_up) {
                            self.record_loss(lost, now);
                        }
                        return Ok(());
                    }
                    collecting.next_index += 1;
                    collecting.bytes.extend_from_slice(chunk.bytes);
                    if chunk.last {
                        let bytes = self
                            .collecting
                            .remove(&chunk.job)
                            .map(|c| c.bytes)
                            .unwrap_or_default();
                        self.finish(&board, chunk.job, chunk.model_hash, bytes, now)?;
                    }
                }
                Err(e) => self.say(format!("fleet: dropped a message from board {board}: {e}")),
            },
        }
        Ok(())
    }

    /// A board's announcement: used, or refused with the reason.
    fn online(&mut self, board: &str, announce: &Announce, now: Instant) {
        let device = &announce.device;
        self.stats(board).describe = format!("{} x{}", device.kernel_path, device.threads);
        let refusal = if device.version == PROTOCOL_VERSION {
            self.dispatcher
                .online(board, device.model.as_ref().map(|m| m.hash))
        } else {
            let why = format!(
                "it speaks protocol version {}, this host {PROTOCOL_VERSION}",
                device.version
            );
            if let Some(lost) = self.dispatcher.refuse(board, why.clone()) {
                self.record_loss(lost, now);
            }
            Some(why)
        };
        match refusal {
            Some(why) => self.say(format!("fleet: board {board} is not used: {why}")),
            None => self.say(format!(
                "fleet: board {board} online: {} kernels, {} threads, model {}",
                device.kernel_path,
                device.threads,
                device
                    .model
                    .as_ref()
                    .map_or_else(|| "none".into(), |m| format!("{:016x}", m.hash))
            )),
        }
    }

    /// A complete result: kept (the FOV's part written), or dropped.
    fn finish(
        &mut self,
        board: &str,
        job: JobId,
        model_hash: u64,
        bytes: Vec<u8>,
        now: Instant,
    ) -> Result<()> {
        let verdict = self.dispatcher.result(board, &job, model_hash);
        if verdict != Verdict::Accept {
            self.stats(board).dropped += 1;
            let why = match verdict {
                Verdict::Duplicate => "a duplicate (the FOV has its result)",
                Verdict::Stale => "from another host run",
                _ => "from another model",
            };
            self.say(format!(
                "fleet: dropped board {board}'s result of FOV {} (lease {}): {why}",
                job.fov, job.lease
            ));
            return Ok(());
        }
        let latency = self
            .lease_started
            .get(&job)
            .map_or(Duration::ZERO, |t| now.duration_since(*t));
        match self.assemble(job.fov, bytes, latency) {
            Ok(Assembled::Part {
                transcripts,
                device_us,
                truth,
            }) => {
                self.say(format!(
                    "fleet: FOV {} decoded on board {board} (lease {}): {transcripts} transcripts",
                    job.fov, job.lease
                ));
                self.outcome.decoded.push(job.fov);
                self.stats(board)
                    .kept(latency, device_us, truth.as_ref(), now);
            }
            Ok(Assembled::Failed(failure)) => {
                self.say(format!(
                    "fleet: FOV {} failed on board {board}: {}",
                    job.fov, failure.error
                ));
                write_failure(self.data.parts, &failure)?;
                self.outcome.failed.push(failure);
            }
            Err(e) => {
                self.say(format!(
                    "fleet: board {board}'s result of FOV {} is unreadable: {e:#}",
                    job.fov
                ));
                let lost = self.dispatcher.garbled(board, &job);
                self.record_loss(lost, now);
            }
        }
        Ok(())
    }

    /// The FOV's part from a board's answer, written; a device error on a
    /// plane fails the FOV (its data would fail on any board).
    fn assemble(&mut self, fov: u32, bytes: Vec<u8>, latency: Duration) -> Result<Assembled> {
        let data = self.data;
        let mut assembly =
            FovAssembly::new(data.source, self.identity, data.codebook, self.layout, fov)?;
        let planes = assembly.planes();
        let checksum = self.codebook_checksum.context("a result before any job")?;
        let results = payload::read_result(bytes, checksum, planes.len())?;
        let mut device_us = 0u64;
        for (plane, result) in planes.iter().zip(&results) {
            if let Some(error) = &result.error {
                return Ok(Assembled::Failed(FovFailure {
                    fov,
                    error: format!("z plane {}: {error}", plane.index),
                }));
            }
            device_us += result.timing.map_or(0, |t| u64::from(t.total_us));
            let tile = self
                .data
                .source
                .read(fov, plane.index)
                .with_context(|| format!("cannot read z plane {} of FOV {fov}", plane.index))?;
            let detections: Vec<Detection> =
                result.spots.iter().map(Detection::from_wire).collect();
            assembly.add_plane(*plane, &tile, &detections)?;
        }
        let (part, transcripts) = assembly.finish(latency.as_secs_f64())?;
        write_part(self.data.parts, &part, &transcripts)?;
        Ok(Assembled::Part {
            transcripts: transcripts.len(),
            device_us,
            truth: part.truth,
        })
    }

    /// Sends lease `job` to `board`.
    fn send_job(&mut self, board: &str, job: JobId, now: Instant) -> Result<()> {
        let placement = self
            .data
            .source
            .placements()
            .iter()
            .find(|p| p.fov == job.fov)
            .cloned();
        let tiles = placement
            .with_context(|| format!("the data has no FOV {}", job.fov))
            .and_then(|p| {
                p.planes
                    .iter()
                    .map(|plane| {
                        self.data
                            .source
                            .read(job.fov, plane.index)
                            .with_context(|| {
                                format!("cannot read z plane {} of the FOV", plane.index)
                            })
                    })
                    .collect::<Result<Vec<_>>>()
            });
        let encoded = tiles.and_then(|tiles| payload::job_bytes(self.data.codebook, &tiles));
        let encoded = match encoded {
            Ok(encoded) => encoded,
            Err(e) => {
                let failure = FovFailure {
                    fov: job.fov,
                    error: format!("{e:#}"),
                };
                self.say(format!(
                    "fleet: FOV {} failed, skipped: {}",
                    job.fov, failure.error
                ));
                write_failure(self.data.parts, &failure)?;
                self.outcome.failed.push(failure);
                self.dispatcher.cancel(board, job);
                return Ok(());
            }
        };
        self.codebook_checksum = Some(encoded.codebook_checksum);
        match self.taken_back.remove(&job.fov) {
            Some((when, index)) => {
                let after = now.duration_since(when);
                self.say(format!(
                    "fleet: lease {}: FOV {} to board {board} again, {:.3} s after it was taken back",
                    job.lease,
                    job.fov,
                    after.as_secs_f64()
                ));
                if let Some(entry) = self.outcome.requeued.get_mut(index) {
                    entry.1 = Some(after);
                }
            }
            None => self.say(format!(
                "fleet: lease {}: FOV {} to board {board}",
                job.lease, job.fov
            )),
        }
        self.lease_started.insert(job, now);
        self.stats(board).first_lease.get_or_insert(now);
        let topic = Topic::Job(board).name().context("board id")?;
        let chunks: Vec<&[u8]> = payload::chunks(&encoded.bytes).collect();
        let mut buffer = vec![0u8; MAX_PAYLOAD_BYTES];
        for (index, bytes) in chunks.iter().enumerate() {
            let chunk = JobChunk {
                job,
                index: index as u32,
                last: index + 1 == chunks.len(),
                bytes,
            };
            let len = fleet::encode(&chunk, &mut buffer)
                .context("encoding a job chunk")?
                .len();
            if let Err(e) =
                self.client
                    .publish(topic.as_str(), QoS::AtLeastOnce, false, &buffer[..len])
            {
                self.dispatcher.unsent(board, job);
                bail!("cannot publish to the broker: {e}");
            }
        }
        Ok(())
    }

    /// A lease taken back: logged and counted.
    fn record_loss(&mut self, lost: Requeued, now: Instant) {
        self.say(format!(
            "fleet: FOV {} taken back from board {} (lease {}): {}{}",
            lost.job.fov,
            lost.board,
            lost.job.lease,
            lost.loss.describe(),
            if lost.abandoned {
                format!("; lost {} times, given up", lost.losses)
            } else {
                "; back in the queue".into()
            }
        ));
        self.stats(&lost.board.clone()).lost += 1;
        self.collecting.remove(&lost.job);
        if lost.abandoned {
            let failure = FovFailure {
                fov: lost.job.fov,
                error: format!(
                    "lost on boards {} times ({})",
                    lost.losses,
                    lost.loss.describe()
                ),
            };
            if let Err(e) = write_failure(self.data.parts, &failure) {
                self.say(format!(
                    "fleet: cannot record FOV {}'s failure: {e:#}",
                    failure.fov
                ));
            }
            self.outcome.failed.push(failure);
        } else {
            self.taken_back
                .insert(lost.job.fov, (now, self.outcome.requeued.len()));
        }
        self.outcome.requeued.push((lost, None));
    }

    fn any_usable_board(&self) -> bool {
        self.dispatcher.boards().values().any(|state| {
            matches!(
                state,
                BoardState::Idle
                    | BoardState::Leased(_)
                    | BoardState::Unknown
                    | BoardState::Unresponsive
            )
        })
    }

    fn board_summary(&self) -> String {
        let boards = self.dispatcher.boards();
        if boards.is_empty() {
            return "no board announced itself".into();
        }
        boards
            .iter()
            .map(|(id, state)| match state {
                BoardState::Refused(why) => format!("{id} refused ({why})"),
                other => format!("{id} {other:?}"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn table(&self, started: Instant) -> Vec<String> {
        table(
            &self.outcome.boards,
            self.dispatcher.boards(),
            self.dispatcher.settled(),
            self.total,
            started.elapsed(),
        )
    }
}

/// A kept result, assembled.
enum Assembled {
    /// The part was written.
    Part {
        transcripts: usize,
        device_us: u64,
        truth: Option<robofish_shared::post::metrics::SpotEvaluation>,
    },
    /// The board's device refused the FOV.
    Failed(FovFailure),
}
