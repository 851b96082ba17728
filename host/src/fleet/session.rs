//! One fleet run's state on the host: what the broker delivers goes in
//! ([`Host::handle`]), leases go out ([`Host::send_job`]), kept results
//! become parts, and everything is logged and counted for the live table
//! and the outcome.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use robofish_shared::fleet::{
    self, Announce, BoardMessage, JobChunk, JobId, Ready, ResultChunk, Status, Topic,
    MAX_PAYLOAD_BYTES,
};
use robofish_shared::protocol::PROTOCOL_VERSION;
use rumqttc::QoS;

use super::connection::HostEvent;
use super::dispatch::{BoardState, Dispatcher, Requeued, Verdict};
use super::live::{table, BoardStats, LiveTable};
use super::payload;
use super::{FleetData, FleetOutcome};
use crate::run::{
    write_failure, write_part, Detection, FovAssembly, FovFailure, Layout, RunIdentity,
};

/// Most bytes of one result the host collects: a dense 2048 x 2048 FOV's
/// spots take about 1 MiB a z plane, so this bounds only a board gone
/// wrong.
const MAX_RESULT_BYTES: usize = 64 << 20;

/// A result being collected.
pub(super) struct Collecting {
    pub(super) job: JobId,
    pub(super) next_index: u32,
    pub(super) bytes: Vec<u8>,
}

/// The host's loop state.
pub(super) struct Host<'a> {
    pub(super) run: u64,
    pub(super) client: &'a rumqttc::Client,
    pub(super) data: &'a FleetData<'a>,
    pub(super) identity: &'a RunIdentity,
    pub(super) layout: &'a Layout,
    pub(super) dispatcher: Dispatcher,
    /// Per board, the result it is sending.
    pub(super) collecting: HashMap<String, Collecting>,
    pub(super) lease_started: HashMap<JobId, Instant>,
    /// FOVs taken back and not leased again yet: when, and from which lease.
    pub(super) taken_back: HashMap<u32, (Instant, usize)>,
    pub(super) codebook_checksum: Option<u32>,
    pub(super) live: LiveTable,
    pub(super) outcome: FleetOutcome,
    pub(super) total: usize,
}

impl Host<'_> {
    /// A log line (stderr), kept clear of the live table on a terminal.
    fn say(&mut self, line: String) {
        self.live.say(&line);
    }

    fn stats(&mut self, board: &str) -> &mut BoardStats {
        self.outcome.boards.entry(board.to_string()).or_default()
    }

    pub(super) fn handle(&mut self, event: HostEvent, now: Instant) -> Result<()> {
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
                Ok(BoardMessage::Result(chunk)) => self.result_chunk(&board, &chunk, now)?,
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

    /// One chunk of a board's result: collected (one result per board at
    /// a time, at most [`MAX_RESULT_BYTES`]), and the result handled when
    /// its last chunk came. Another run's results are not collected.
    fn result_chunk(&mut self, board: &str, chunk: &ResultChunk<'_>, now: Instant) -> Result<()> {
        let job = chunk.job;
        if job.run != self.run {
            if chunk.last {
                self.finish(board, job, chunk.model_hash, Vec::new(), now)?;
            }
            return Ok(());
        }
        self.dispatcher.progress(&job, now);
        let collecting = self
            .collecting
            .entry(board.to_string())
            .or_insert_with(|| Collecting {
                job,
                next_index: 0,
                bytes: Vec::new(),
            });
        if collecting.job != job {
            // A new result replaces one that never ended.
            *collecting = Collecting {
                job,
                next_index: 0,
                bytes: Vec::new(),
            };
        }
        if chunk.index < collecting.next_index {
            return Ok(()); // delivered again
        }
        if chunk.index > collecting.next_index
            || collecting.bytes.len() + chunk.bytes.len() > MAX_RESULT_BYTES
        {
            self.collecting.remove(board);
            self.say(format!(
                "fleet: board {board}'s result of FOV {} is incomplete or too large; \
                 the FOV goes back in the queue",
                job.fov
            ));
            let gave_up = Ready { job: Some(job) };
            if let Some(lost) = self.dispatcher.ready(board, &gave_up) {
                self.record_loss(lost, now);
            }
            return Ok(());
        }
        collecting.next_index += 1;
        collecting.bytes.extend_from_slice(chunk.bytes);
        if chunk.last {
            let bytes = self
                .collecting
                .remove(board)
                .map(|c| c.bytes)
                .unwrap_or_default();
            self.finish(board, job, chunk.model_hash, bytes, now)?;
        }
        Ok(())
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
    pub(super) fn send_job(&mut self, board: &str, job: JobId, now: Instant) -> Result<()> {
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
    pub(super) fn record_loss(&mut self, lost: Requeued, now: Instant) {
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
        if self
            .collecting
            .get(&lost.board)
            .is_some_and(|c| c.job == lost.job)
        {
            self.collecting.remove(&lost.board);
        }
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

    pub(super) fn any_usable_board(&self) -> bool {
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

    pub(super) fn board_summary(&self) -> String {
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

    pub(super) fn table(&self, started: Instant) -> Vec<String> {
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
