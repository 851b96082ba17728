//! One leased job on a board: its chunks, fed in order to the ordinary
//! serve loop as if they came over a socket.
//!
//! [`JobReader`] is the `Read` that [`serve`](crate::serve) consumes: it
//! hands over each chunk's bytes as the chunk arrives, so a board holds one
//! chunk (and the engine's row rings) rather than a whole FOV. A job that
//! cannot go on (a chunk missing, nothing for `--job-timeout`, a newer job,
//! a new host, a reconnection) is given up: the reader reports a reset connection, which
//! `serve` handles as a host that went away (the FOV in flight is dropped).

use std::io::{self, Read};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use robofish_shared::fleet::JobId;

/// What the MQTT thread hands the worker.
#[derive(Debug)]
pub enum Incoming {
    /// One chunk of a job (the payload copied out of the MQTT packet).
    Chunk {
        /// The lease.
        job: JobId,
        /// Its number within the job.
        index: u32,
        /// Whether it is the job's last.
        last: bool,
        /// Protocol frames.
        bytes: Vec<u8>,
    },
    /// The board (re)connected and subscribed: say it is ready if idle.
    Connected,
    /// A host started (its run number).
    HostHello(u64),
    /// The connection cannot recover (a refused login): stop.
    Fatal(String),
}

/// Why a job was given up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GaveUp {
    /// A chunk was missing (lost across a reconnection).
    Gap {
        /// The chunk expected.
        expected: u32,
        /// The chunk that came.
        got: u32,
    },
    /// No chunk came for the job timeout.
    TimedOut,
    /// A chunk of another job came: the host leased this board anew.
    Superseded,
    /// A new host run started: the one that leased this job is gone.
    HostRestarted,
    /// The board reconnected while waiting for a chunk: the broker kept
    /// no session, so what was published meanwhile is lost.
    Reconnected,
    /// The connection failed for good, or the MQTT thread ended.
    Disconnected,
}

impl std::fmt::Display for GaveUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GaveUp::Gap { expected, got } => {
                write!(f, "chunk {expected} is missing (chunk {got} came next)")
            }
            GaveUp::TimedOut => f.write_str("no chunk came within --job-timeout"),
            GaveUp::Superseded => f.write_str("the host sent another job"),
            GaveUp::HostRestarted => f.write_str("a new host started"),
            GaveUp::Reconnected => f.write_str("the board reconnected mid-job (chunks were lost)"),
            GaveUp::Disconnected => f.write_str("the broker connection ended"),
        }
    }
}

/// The board's progress, read by the heartbeat thread.
#[derive(Clone, Copy, Debug, Default)]
pub struct Progress {
    /// The job in hand.
    pub job: Option<JobId>,
    /// Its bytes consumed so far.
    pub consumed: u64,
    /// Jobs answered since the board started.
    pub answered: u32,
}

/// Shared between the worker and the heartbeat thread.
pub type SharedProgress = Arc<Mutex<Progress>>;

/// Updates the shared progress (a poisoned lock still holds plain data).
pub fn update(progress: &SharedProgress, change: impl FnOnce(&mut Progress)) {
    change(&mut progress.lock().unwrap_or_else(PoisonError::into_inner));
}

/// The job's bytes as a stream, from its first chunk on.
pub struct JobReader<'a> {
    incoming: &'a Receiver<Incoming>,
    job: JobId,
    next_index: u32,
    chunk: Vec<u8>,
    position: usize,
    ended: bool,
    timeout: Duration,
    progress: &'a SharedProgress,
    /// Why the job was given up, once it was.
    pub gave_up: Option<GaveUp>,
    /// A message that belongs after this job (the next job's first chunk,
    /// a fatal error), for the worker to handle next.
    pub carried: Option<Incoming>,
}

impl<'a> JobReader<'a> {
    /// A reader starting with chunk 0 of `job`.
    pub fn new(
        incoming: &'a Receiver<Incoming>,
        job: JobId,
        first: Vec<u8>,
        last: bool,
        timeout: Duration,
        progress: &'a SharedProgress,
    ) -> JobReader<'a> {
        let len = first.len() as u64;
        update(progress, |p| {
            p.job = Some(job);
            p.consumed = len;
        });
        JobReader {
            incoming,
            job,
            next_index: 1,
            chunk: first,
            position: 0,
            ended: last,
            timeout,
            progress,
            gave_up: None,
            carried: None,
        }
    }

    fn give_up(&mut self, why: GaveUp) -> io::Error {
        self.gave_up = Some(why);
        self.chunk.clear();
        self.position = 0;
        io::Error::new(io::ErrorKind::ConnectionReset, why.to_string())
    }

    /// Waits for the job's next chunk.
    fn next_chunk(&mut self) -> io::Result<()> {
        loop {
            let message = match self.incoming.recv_timeout(self.timeout) {
                Ok(message) => message,
                Err(RecvTimeoutError::Timeout) => return Err(self.give_up(GaveUp::TimedOut)),
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(self.give_up(GaveUp::Disconnected))
                }
            };
            match message {
                Incoming::Chunk {
                    job,
                    index,
                    last,
                    bytes,
                } if job == self.job => {
                    if index < self.next_index {
                        // At-least-once delivery: a chunk seen already.
                        continue;
                    }
                    if index > self.next_index {
                        let expected = self.next_index;
                        return Err(self.give_up(GaveUp::Gap {
                            expected,
                            got: index,
                        }));
                    }
                    self.next_index += 1;
                    self.ended = last;
                    let len = bytes.len() as u64;
                    update(self.progress, |p| p.consumed += len);
                    self.chunk = bytes;
                    self.position = 0;
                    return Ok(());
                }
                other @ Incoming::Chunk { .. } => {
                    self.carried = Some(other);
                    return Err(self.give_up(GaveUp::Superseded));
                }
                Incoming::HostHello(run) if run != self.job.run => {
                    return Err(self.give_up(GaveUp::HostRestarted))
                }
                // Busy: the result (or a Ready) follows the job anyway.
                Incoming::HostHello(_) => {}
                // A clean session: chunks published while the board was
                // away never come, so waiting for them would only time out.
                Incoming::Connected => return Err(self.give_up(GaveUp::Reconnected)),
                fatal @ Incoming::Fatal(_) => {
                    self.carried = Some(fatal);
                    return Err(self.give_up(GaveUp::Disconnected));
                }
            }
        }
    }
}

impl Read for JobReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.gave_up.is_some() {
            return Err(io::Error::from(io::ErrorKind::ConnectionReset));
        }
        while self.position == self.chunk.len() {
            if self.ended {
                return Ok(0);
            }
            self.next_chunk()?;
        }
        let n = buf.len().min(self.chunk.len() - self.position);
        buf[..n].copy_from_slice(&self.chunk[self.position..self.position + n]);
        self.position += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    fn job(lease: u32) -> JobId {
        JobId {
            run: 1,
            lease,
            fov: 5,
        }
    }

    fn chunk(lease: u32, index: u32, last: bool, bytes: &[u8]) -> Incoming {
        Incoming::Chunk {
            job: job(lease),
            index,
            last,
            bytes: bytes.to_vec(),
        }
    }

    #[test]
    fn chunks_stream_in_order_and_repeats_are_dropped() {
        let (send, incoming) = mpsc::channel();
        let progress = SharedProgress::default();
        send.send(chunk(1, 0, false, b"xx")).unwrap();
        send.send(chunk(1, 1, false, b"cd")).unwrap();
        send.send(Incoming::HostHello(1)).unwrap();
        send.send(chunk(1, 1, false, b"cd")).unwrap();
        send.send(chunk(1, 2, true, b"e")).unwrap();
        let mut reader = JobReader::new(
            &incoming,
            job(1),
            b"ab".to_vec(),
            false,
            Duration::from_secs(5),
            &progress,
        );
        let mut all = Vec::new();
        reader.read_to_end(&mut all).unwrap();
        assert_eq!(all, b"abcde");
        assert_eq!(reader.gave_up, None);
        assert_eq!(progress.lock().unwrap().consumed, 5);
    }

    #[test]
    fn a_gap_a_new_job_a_new_host_a_reconnection_and_silence_give_the_job_up() {
        let progress = SharedProgress::default();
        let cases: [(Vec<Incoming>, GaveUp, bool); 5] = [
            (
                vec![chunk(1, 2, false, b"z")],
                GaveUp::Gap {
                    expected: 1,
                    got: 2,
                },
                false,
            ),
            (vec![chunk(2, 0, true, b"z")], GaveUp::Superseded, true),
            (vec![Incoming::HostHello(99)], GaveUp::HostRestarted, false),
            (vec![Incoming::Connected], GaveUp::Reconnected, false),
            (vec![], GaveUp::TimedOut, false),
        ];
        for (messages, why, carries) in cases {
            let (send, incoming) = mpsc::channel();
            for m in messages {
                send.send(m).unwrap();
            }
            let mut reader = JobReader::new(
                &incoming,
                job(1),
                b"ab".to_vec(),
                false,
                Duration::from_millis(50),
                &progress,
            );
            let mut all = Vec::new();
            let err = reader.read_to_end(&mut all).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
            assert_eq!(reader.gave_up, Some(why));
            assert_eq!(reader.carried.is_some(), carries, "{why}");
        }
    }
}
