//! A board of a fleet: `robofish-device --fleet mqtt://HOST:PORT`.
//!
//! The board connects to the broker, announces itself (retained `status`,
//! with an `Offline` last will), beats its heart, and serves the jobs a
//! host leases it, one at a time, with the same [`serve`] loop and
//! [`Device`] a TCP host talks to: a job's bytes are protocol frames, its
//! result the device's answering frames. The topics and payloads are
//! [`robofish_shared::fleet`]'s; `docs/scaling-out.md` is the user's guide.
//!
//! Three threads: the MQTT connection (rumqttc's event loop, reconnecting
//! on its own), the heartbeat, and the worker (the caller's thread) that
//! runs jobs. A board that loses the broker keeps trying; when it is back
//! it subscribes, announces itself and says it is ready again, so the
//! host's queue resumes with it. Only a refused login ends the board.

pub mod broker;
pub mod job;

use std::sync::mpsc::{self, Receiver, Sender};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use robofish_shared::fleet::{
    self, Announce, BoardMessage, FleetMessage, Heartbeat, HostHello, JobChunk, JobId, Ready,
    ResultChunk, Status, Topic, MAX_CHUNK_BYTES, MAX_PAYLOAD_BYTES,
};
use rumqttc::{Client, Event, LastWill, Packet, QoS};

use self::broker::{BrokerUrl, Credentials};
use self::job::{update, GaveUp, Incoming, JobReader, SharedProgress};
use crate::{serve, Device};

/// How a board joins the fleet.
#[derive(Clone, Debug)]
pub struct BoardOptions {
    /// The broker.
    pub url: BrokerUrl,
    /// The board's id: its topics' level, and its MQTT client id.
    pub board: String,
    /// Broker login, if the broker wants one.
    pub credentials: Option<Credentials>,
    /// Seconds between heartbeats.
    pub heartbeat: Duration,
    /// A job whose next chunk does not come within this is given up.
    pub job_timeout: Duration,
}

/// Encodes a fleet payload.
fn payload<M: FleetMessage>(message: &M) -> Result<Vec<u8>> {
    let mut buffer = vec![0u8; MAX_PAYLOAD_BYTES];
    let len = fleet::encode(message, &mut buffer)
        .context("encoding a fleet message")?
        .len();
    buffer.truncate(len);
    Ok(buffer)
}

/// A topic of this board's.
fn topic(topic: Topic<'_>) -> Result<String> {
    Ok(topic.name().context("board id")?.to_string())
}

/// Runs the board until its login is refused (an error) or the process
/// is stopped.
pub fn run_board(mut device: Device, options: BoardOptions) -> Result<()> {
    fleet::check_board_id(&options.board)
        .with_context(|| format!("--board-id {:?}", options.board))?;
    let board = options.board.as_str();
    let status_topic = topic(Topic::Status(board))?;
    let out_topic = topic(Topic::Out(board))?;
    let job_topic = topic(Topic::Job(board))?;
    let heartbeat_topic = topic(Topic::Heartbeat(board))?;
    let model_hash = device.model_info().map(|m| m.hash);
    if model_hash.is_none() {
        bail!("a fleet board needs a model: give --model FILE (or a --model-store holding one)");
    }
    let announce = payload(&Status::Online(Announce {
        board: heapless::String::try_from(board)
            .map_err(|()| anyhow::anyhow!("board id {board:?} is too long"))?,
        device: device.describe(),
    }))?;
    // The broker publishes this, retained, when it loses the board.
    let offline = payload(&Status::Offline)?;
    let mut mqtt = broker::options(
        &format!("robofish-board-{board}"),
        &options.url,
        options.credentials.as_ref(),
        keep_alive(options.heartbeat),
    );
    mqtt.set_last_will(LastWill::new(
        &status_topic,
        offline,
        QoS::AtLeastOnce,
        true,
    ));
    let (client, connection) = Client::new(mqtt, 64);
    let (to_worker, incoming) = mpsc::channel();
    let url = options.url.clone();
    let subscriptions = [job_topic.clone(), fleet::HOST_TOPIC.to_string()];
    let announcer = client.clone();
    thread::Builder::new()
        .name("robofish-mqtt".into())
        .spawn(move || {
            pump(connection, &url, &to_worker, |log_refused| {
                for filter in &subscriptions {
                    log_refused(announcer.try_subscribe(filter, QoS::AtLeastOnce));
                }
                log_refused(announcer.try_publish(
                    &status_topic,
                    QoS::AtLeastOnce,
                    true,
                    announce.clone(),
                ));
            })
        })
        .context("starting the MQTT thread")?;
    let progress = SharedProgress::default();
    let beats = client.clone();
    let beat_progress = progress.clone();
    let interval = options.heartbeat;
    thread::Builder::new()
        .name("robofish-heartbeat".into())
        .spawn(move || loop {
            thread::sleep(interval);
            let now = *beat_progress
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let beat = Heartbeat {
                job: now.job,
                consumed: now.consumed,
                answered: now.answered,
            };
            // QoS 0 and never blocking: a full queue drops a beat, and the
            // next one says the same.
            if let Ok(bytes) = payload(&beat) {
                let _ = beats.try_publish(&heartbeat_topic, QoS::AtMostOnce, false, bytes);
            }
        })
        .context("starting the heartbeat thread")?;
    eprintln!(
        "robofish-device: board {board} joining the fleet at {}",
        options.url
    );
    let worker = Worker {
        client: &client,
        out_topic: &out_topic,
        model_hash: model_hash.unwrap_or_default(),
        progress: &progress,
        job_timeout: options.job_timeout,
        last_job: None,
    };
    worker.run(&mut device, &incoming)
}

/// The broker's keep-alive: the broker publishes the last will of a board
/// cut off without a FIN after one and a half of these. At least 10 s,
/// so that a board the host merely finds slow (no progress for
/// `--lease-timeout`) is not also declared gone.
fn keep_alive(heartbeat: Duration) -> Duration {
    (heartbeat * 5).max(Duration::from_secs(10))
}

/// Polls the connection for ever: on each connection `on_connect`
/// subscribes and announces (through a handler that logs refused
/// requests), chunks and host hellos go to the worker, and a refused
/// login ends the board.
fn pump(
    mut connection: rumqttc::Connection,
    url: &BrokerUrl,
    to_worker: &Sender<Incoming>,
    on_connect: impl Fn(&dyn Fn(std::result::Result<(), rumqttc::ClientError>)),
) {
    let log_refused = |result: std::result::Result<(), rumqttc::ClientError>| {
        if let Err(e) = result {
            eprintln!("robofish-device: warning: MQTT request not queued: {e}");
        }
    };
    let mut failures = 0u32;
    for event in connection.iter() {
        match event {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                failures = 0;
                on_connect(&log_refused);
                if to_worker.send(Incoming::Connected).is_err() {
                    return;
                }
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                let message = match Topic::parse(&publish.topic) {
                    Some(Topic::Job(_)) => match fleet::decode::<JobChunk>(&publish.payload) {
                        Ok(chunk) => Incoming::Chunk {
                            job: chunk.job,
                            index: chunk.index,
                            last: chunk.last,
                            bytes: chunk.bytes.to_vec(),
                        },
                        Err(e) => {
                            eprintln!("robofish-device: dropped a job message: {e}");
                            continue;
                        }
                    },
                    Some(Topic::Host) => match fleet::decode::<HostHello>(&publish.payload) {
                        Ok(hello) => Incoming::HostHello(hello.run),
                        Err(e) => {
                            eprintln!("robofish-device: dropped a host message: {e}");
                            continue;
                        }
                    },
                    _ => continue,
                };
                if to_worker.send(message).is_err() {
                    return;
                }
            }
            Ok(_) => {}
            Err(error) => {
                let (why, retry) = broker::explain(&error, url);
                if !retry {
                    let _ = to_worker.send(Incoming::Fatal(why));
                    return;
                }
                failures += 1;
                // Once per outage, then every 30th try: a broker down for
                // an hour must not fill the log.
                if failures == 1 || failures.is_multiple_of(30) {
                    eprintln!("robofish-device: {why}; retrying");
                }
                thread::sleep(
                    Duration::from_secs(1)
                        .min(Duration::from_millis(200 * u64::from(failures.min(5)))),
                );
            }
        }
    }
}

/// The worker: jobs in, results out.
struct Worker<'a> {
    client: &'a Client,
    out_topic: &'a str,
    model_hash: u64,
    progress: &'a SharedProgress,
    job_timeout: Duration,
    /// The last job this board saw, for [`Ready`].
    last_job: Option<JobId>,
}

impl Worker<'_> {
    fn run(mut self, device: &mut Device, incoming: &Receiver<Incoming>) -> Result<()> {
        let mut carried = None;
        loop {
            let message = match carried.take() {
                Some(message) => message,
                None => incoming
                    .recv()
                    .context("the MQTT thread ended unexpectedly")?,
            };
            match message {
                Incoming::Connected | Incoming::HostHello(_) => self.ready()?,
                Incoming::Fatal(why) => bail!("{why}"),
                Incoming::Chunk {
                    job,
                    index: 0,
                    last,
                    bytes,
                } => carried = self.job(device, incoming, job, bytes, last)?,
                Incoming::Chunk { job, index, .. } => {
                    // The middle of a job this board never started (it
                    // joined, or reconnected, mid-job): tell the host once.
                    if self.last_job != Some(job) {
                        eprintln!(
                            "robofish-device: job for FOV {} (lease {}) arrived from chunk \
                             {index} on; giving it back",
                            job.fov, job.lease
                        );
                        self.last_job = Some(job);
                        self.ready()?;
                    }
                }
            }
        }
    }

    /// Says the board is idle.
    fn ready(&self) -> Result<()> {
        let message = BoardMessage::Ready(Ready { job: self.last_job });
        self.client
            .publish(self.out_topic, QoS::AtLeastOnce, false, payload(&message)?)
            .context("publishing Ready")
    }

    /// Runs one job from its first chunk; returns a message that arrived
    /// for after it.
    fn job(
        &mut self,
        device: &mut Device,
        incoming: &Receiver<Incoming>,
        job: JobId,
        first: Vec<u8>,
        last: bool,
    ) -> Result<Option<Incoming>> {
        let started = Instant::now();
        self.last_job = Some(job);
        let mut reader =
            JobReader::new(incoming, job, first, last, self.job_timeout, self.progress);
        let mut answer = Vec::new();
        let served = serve(device, &mut reader, &mut answer);
        let (gave_up, carried) = (reader.gave_up, reader.carried.take());
        update(self.progress, |p| {
            p.job = None;
            p.consumed = 0;
        });
        if let Err(e) = served {
            // Writing to a Vec cannot fail and the reader only resets, so
            // this is the device's own fault: answer nothing, give it back.
            eprintln!("robofish-device: job for FOV {} failed: {e}", job.fov);
            self.ready()?;
            return Ok(carried);
        }
        if let Some(why) = gave_up {
            eprintln!(
                "robofish-device: gave up the job for FOV {} (lease {}): {why}",
                job.fov, job.lease
            );
            // A superseding job follows at once: no Ready in between.
            if why != GaveUp::Superseded && why != GaveUp::Disconnected {
                self.ready()?;
            }
            return Ok(carried);
        }
        self.publish_result(job, &answer, started.elapsed())?;
        update(self.progress, |p| p.answered += 1);
        Ok(carried)
    }

    /// The result's chunks; the last one tells the host the board is idle.
    fn publish_result(&self, job: JobId, answer: &[u8], elapsed: Duration) -> Result<()> {
        let elapsed_us = u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX);
        let count = answer.len().div_ceil(MAX_CHUNK_BYTES).max(1);
        for index in 0..count {
            let start = (index * MAX_CHUNK_BYTES).min(answer.len());
            let end = (start + MAX_CHUNK_BYTES).min(answer.len());
            let message = BoardMessage::Result(ResultChunk {
                job,
                model_hash: self.model_hash,
                elapsed_us,
                index: index as u32,
                last: index + 1 == count,
                bytes: &answer[start..end],
            });
            self.client
                .publish(self.out_topic, QoS::AtLeastOnce, false, payload(&message)?)
                .context("publishing a result")?;
        }
        Ok(())
    }
}
